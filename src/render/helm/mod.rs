//! `helm template` of a chart, its output split per template. The chart is a directory of
//! the repository, or pulled from a chart repository or an OCI registry into the render's
//! sandbox first (see `pull`); either way it is then rendered the same way.

mod capabilities;
mod dependencies;
mod pull;

use std::path::{Path, PathBuf};

use super::confine::Confined;
use super::error::{RenderError, Tool};
use super::sandbox::{Sandbox, run_with_stdin};
use super::values::{self, ValuesArg};
use super::{RenderRequest, app_dir, app_label};
use crate::source::SourceFile;

pub(super) fn render(
    request: &RenderRequest,
    program: &Path,
) -> Result<Vec<SourceFile>, RenderError> {
    let app = app_label(request.app_path);
    let dir = app_dir(request.app_path);
    let options = &request.options.helm;
    let input = |message: String| RenderError::Input {
        app: app.clone(),
        message,
    };
    if options.remote.is_none() {
        let chart_file = if dir.is_empty() {
            "Chart.yaml".to_owned()
        } else {
            format!("{dir}/Chart.yaml")
        };
        if !request.files.iter().any(|f| f.path == chart_file) {
            return Err(input(format!(
                "no {chart_file} in the repository; a Helm app's path must be a chart \
                 directory, or set helm.repoURL for a chart from a repository"
            )));
        }
    }
    let named_after = options.remote.as_ref().map_or(dir.as_str(), |r| &r.chart);
    let release = release_name(&options.release_name, named_after).map_err(input)?;
    let mut sandbox = Sandbox::new(Tool::Helm, &app)?;
    sandbox.extract(request.files)?;
    let limits = &request.options.limits;
    let chart: PathBuf = match &options.remote {
        Some(remote) => pull::pull(&sandbox, program, remote, &app, limits)?,
        None => sandbox.repo().join(&dir),
    };
    let repo_root = sandbox.repo();
    let origin = match &options.remote {
        Some(remote) => dependencies::ChartOrigin {
            remote: Some(remote),
            root: &chart,
            chart_yaml: format!("Chart.yaml of chart {} {}", remote.chart, remote.version),
        },
        None => dependencies::ChartOrigin {
            remote: None,
            root: &repo_root,
            chart_yaml: if dir.is_empty() {
                "Chart.yaml".to_owned()
            } else {
                format!("{dir}/Chart.yaml")
            },
        },
    };
    dependencies::build_dependencies(&sandbox, program, &chart, &origin, &app, limits)?;
    let mut command = command(&sandbox, program);
    command.arg("template").arg(&release).arg(&chart).args([
        "--namespace",
        request.namespace,
        "--include-crds",
    ]);
    let named = options
        .value_files
        .iter()
        .map(|file| values_file(file, request.files))
        .collect::<Result<Vec<&str>, String>>()
        .map_err(input)?;
    let (args, stdin) = values::arguments(&named, request.secret_values).map_err(input)?;
    for arg in args {
        match arg {
            ValuesArg::File(rel) => command.arg("-f").arg(sandbox.repo().join(rel)),
            // The decrypted values: on stdin, never in a file or an argument.
            ValuesArg::Stdin => command.args(["-f", "-"]),
        };
    }
    if let Some(values) = &options.values {
        // JSON is YAML; written outside repo/ so no repository file can be overwritten.
        let data = serde_json::to_vec(values).map_err(|e| input(e.to_string()))?;
        let path = sandbox.write("values/inline.yaml", &data)?;
        command.arg("-f").arg(path);
    }
    let version = options
        .kube_version
        .as_deref()
        .unwrap_or(super::KUBE_VERSION);
    command.args(["--kube-version", version]);
    // The cluster's API versions (none offline) and those the chart's own CRDs serve.
    let own = capabilities::crd_api_versions(request.files);
    for api in options.api_versions.iter().chain(&own) {
        command.args(["--api-versions", api]);
    }
    let out = run_with_stdin(command, Tool::Helm, &app, limits, stdin)?;
    Ok(split_output(&String::from_utf8_lossy(&out), &app))
}

/// helm in the sandbox, with every directory it reads or writes inside it: no repository
/// list, registry login or cache of the host (or of another app's render) is ever seen.
fn command(sandbox: &Sandbox, program: &Path) -> Confined {
    let helm = sandbox.home().join("helm");
    let mut command = sandbox.command(program);
    command
        .env("HELM_CACHE_HOME", helm.join("cache"))
        .env("HELM_CONFIG_HOME", helm.join("config"))
        .env("HELM_DATA_HOME", helm.join("data"))
        .env("HELM_REGISTRY_CONFIG", helm.join("config/registry.json"))
        .env(
            "HELM_REPOSITORY_CONFIG",
            helm.join("config/repositories.yaml"),
        )
        .env("HELM_REPOSITORY_CACHE", helm.join("cache/repository"));
    command
}

/// The release name: the one given, else the chart directory's (or remote chart's) name. Checked to start with a
/// letter or digit so it can never be read as a flag.
fn release_name(given: &str, dir: &str) -> Result<String, String> {
    let name = if given.is_empty() {
        match dir.rsplit('/').next() {
            Some(last) if !last.is_empty() => last.to_ascii_lowercase(),
            _ => "release".to_owned(),
        }
    } else {
        given.to_owned()
    };
    let valid = name.len() <= 53
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "release name {name:?} is not valid (at most 53 lowercase letters, digits, '-' and \
             '.', starting with a letter or digit); set helm.releaseName"
        ))
    }
}

/// A values file named relative to the repository root, which must be in it.
fn values_file<'a>(file: &'a str, files: &[SourceFile]) -> Result<&'a str, String> {
    let inside = !file.starts_with('/') && !file.split('/').any(|p| p == "..");
    if !inside {
        return Err(format!(
            "values file {file:?} must be a path inside the repository, relative to its root"
        ));
    }
    let rel = file.trim_start_matches("./");
    if !files.iter().any(|f| f.path == rel) {
        return Err(format!("values file {file:?} is not in the repository"));
    }
    Ok(rel)
}

/// Splits `helm template` output into one file per template (`# Source: chart/templates/x`),
/// documents of one template kept together in their order. Documents with no `# Source:`
/// line are attributed to the app; documents holding nothing but comments are dropped.
pub fn split_output(out: &str, app: &str) -> Vec<SourceFile> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for document in documents(out) {
        let has_content = document.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        });
        if !has_content {
            continue;
        }
        let source = document
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map_or_else(|| app.to_owned(), |s| s.trim().to_owned());
        match groups.iter_mut().find(|(s, _)| *s == source) {
            Some((_, text)) => {
                text.push_str("---\n");
                text.push_str(&document);
            }
            None => groups.push((source, document)),
        }
    }
    groups
        .into_iter()
        .map(|(source, text)| SourceFile {
            path: format!("{source} (helm)"),
            data: text.into_bytes(),
        })
        .collect()
}

/// The YAML documents of a stream, split at `---` lines.
fn documents(out: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    for line in out.lines() {
        if line.trim_end() == "---" {
            documents.push(String::new());
            continue;
        }
        if let Some(current) = documents.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop
---
# Source: shop/charts/redis/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-headless
---
# Source: shop/templates/empty.yaml
# nothing rendered here
";

    fn paths(files: &[SourceFile]) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn output_is_split_per_template_with_provenance() {
        let files = split_output(OUTPUT, "shop");
        assert_eq!(
            paths(&files),
            [
                "shop/templates/service.yaml (helm)",
                "shop/charts/redis/templates/deployment.yaml (helm)",
            ]
        );
        let service = String::from_utf8_lossy(&files[0].data);
        assert!(service.contains("name: shop\n"), "{service}");
        assert!(service.contains("---\n# Source: shop/templates/service.yaml\napiVersion"));
        assert!(service.contains("name: shop-headless"), "{service}");
    }

    #[test]
    fn split_files_parse_as_manifests() {
        let files = split_output(OUTPUT, "shop");
        let objects = crate::manifest::load(&files, "default").unwrap();
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[1].origin.file, "shop/templates/service.yaml (helm)");
        assert_eq!(objects[1].origin.document, 1);
    }

    #[test]
    fn documents_without_a_source_belong_to_the_app() {
        let files = split_output("kind: ConfigMap\nmetadata: {name: a}\n", "charts/x");
        assert_eq!(paths(&files), ["charts/x (helm)"]);
    }

    #[test]
    fn release_name_defaults_to_the_chart_directory_and_is_checked() {
        assert_eq!(release_name("", "charts/Shop").unwrap(), "shop");
        assert_eq!(release_name("", "").unwrap(), "release");
        assert_eq!(release_name("web-1", "x").unwrap(), "web-1");
        assert!(release_name("--set=x", "x").is_err());
        assert!(release_name("Web", "x").is_err());
    }

    #[test]
    fn values_files_must_be_in_the_repository() {
        let files = [SourceFile {
            path: "env/prod.yaml".into(),
            data: Vec::new(),
        }];
        assert_eq!(
            values_file("./env/prod.yaml", &files).unwrap(),
            "env/prod.yaml"
        );
        assert!(
            values_file("../secrets.yaml", &files)
                .unwrap_err()
                .contains("inside")
        );
        assert!(values_file("/etc/x.yaml", &files).is_err());
        assert!(
            values_file("env/dev.yaml", &files)
                .unwrap_err()
                .contains("not in")
        );
    }
}
