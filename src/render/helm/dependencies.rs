//! `helm dependency build` of a chart whose dependencies are not vendored, in the render's
//! sandbox like every helm run.
//!
//! What a tenant's chart may make helm fetch (issue #23): the chart the app's config names,
//! and dependencies from that same place (the app's `helm.repoURL`) only. A dependency
//! repository written in `Chart.yaml` is the commit's choice, not the operator's, so any other
//! is refused before helm runs; vendored dependencies (`charts/`) and `file://` paths that stay
//! inside the repository (or the pulled chart) need no network and are fine.

use std::path::{Component, Path};

use serde::Deserialize;

use super::command;
use crate::manifest::yaml_options;
use crate::render::RenderLimits;
use crate::render::error::{RenderError, Tool};
use crate::render::remote::{RemoteChart, RepoKind};
use crate::render::sandbox::{Sandbox, run};

/// The part of `Chart.yaml` that says what the chart depends on.
#[derive(Deserialize)]
struct ChartFile {
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    #[serde(default)]
    repository: String,
}

/// Where a chart came from, for what its dependencies may be fetched from and how its
/// `Chart.yaml` is named in an error.
pub(super) struct ChartOrigin<'a> {
    /// The chart repository or registry the app's config names (`helm.repoURL`); `None` for
    /// a chart in git.
    pub remote: Option<&'a RemoteChart>,
    /// What a `file://` dependency must stay inside: the repository, or the pulled chart.
    pub root: &'a Path,
    /// `apps/web/Chart.yaml`, or `Chart.yaml of chart shop 1.2.3`.
    pub chart_yaml: String,
}

/// Runs `helm dependency build` when `Chart.yaml` lists a dependency with a repository that
/// is not under `charts/` (as a directory or a `.tgz`); a vendored `charts/` is used as it
/// is, with no network. Every such dependency is checked first (see the module's comment);
/// helm gets the network only when one of them is remote. A Chart.yaml that cannot be read
/// is left for `helm template` to report, in its own words.
pub(super) fn build_dependencies(
    sandbox: &Sandbox,
    program: &Path,
    chart: &Path,
    origin: &ChartOrigin,
    app: &str,
    limits: &RenderLimits,
) -> Result<(), RenderError> {
    let Ok(text) = std::fs::read_to_string(chart.join("Chart.yaml")) else {
        return Ok(());
    };
    let Ok(meta) = serde_saphyr::from_str_with_options::<ChartFile>(&text, yaml_options()) else {
        return Ok(());
    };
    let missing: Vec<&Dependency> = meta
        .dependencies
        .iter()
        .filter(|d| !d.repository.is_empty() && !vendored(chart, &d.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let fetch =
        check_dependencies(&missing, chart, origin).map_err(|message| RenderError::Input {
            app: app.to_owned(),
            message,
        })?;
    let mut command = command(sandbox, program);
    if fetch == Fetch::Network {
        command.allow_network();
    }
    command.args(["dependency", "build"]).arg(chart);
    let names: Vec<&str> = missing.iter().map(|d| d.name.as_str()).collect();
    run(command, Tool::Helm, app, limits)
        .map(drop)
        .map_err(|e| match e {
            RenderError::ToolFailed { stderr, .. } => RenderError::Fetch {
                tool: Tool::Helm,
                app: app.to_owned(),
                message: format!(
                    "cannot fetch the dependencies {} of {} (not vendored under charts/, so \
                     `helm dependency build` fetched them; vendor them or check their \
                     repositories): {stderr}",
                    names.join(", "),
                    origin.chart_yaml,
                ),
            },
            e => e,
        })
}

/// What `helm dependency build` needs.
#[derive(Debug, PartialEq, Eq)]
enum Fetch {
    /// Only `file://` dependencies: packaged from the sandbox, no network.
    Local,
    /// A dependency from the app's own chart repository or registry.
    Network,
}

/// Checks each dependency helm would fetch: a `file://` path must stay inside
/// `origin.root`; any other repository (a URL, a `@name` or `alias:` of a repository list)
/// must be the app's own `helm.repoURL` (for a registry, the path holding its charts too).
fn check_dependencies(
    missing: &[&Dependency],
    chart: &Path,
    origin: &ChartOrigin,
) -> Result<Fetch, String> {
    let allowed = allowed_repositories(origin.remote);
    let mut fetch = Fetch::Local;
    for dependency in missing {
        let repository = dependency.repository.trim();
        if let Some(path) = repository.strip_prefix("file://") {
            if !stays_inside(origin.root, chart, path) {
                return Err(format!(
                    "{}: dependency {} at {repository} lies outside the {}; a file:// \
                     dependency must be a directory inside it (or vendor the chart under \
                     charts/)",
                    origin.chart_yaml,
                    dependency.name,
                    if origin.remote.is_some() {
                        "pulled chart"
                    } else {
                        "repository"
                    }
                ));
            }
            continue;
        }
        if !allowed
            .iter()
            .any(|a| a == repository.trim_end_matches('/'))
        {
            let own = match origin.remote {
                Some(remote) => format!("only this app's helm.repoURL ({}) is", remote.repo_url),
                None => "this chart is in git, so no chart repository is".to_owned(),
            };
            return Err(format!(
                "{}: dependency {} comes from {repository}, which this app's config does not \
                 allow ({own} fetched from); vendor it: run `helm dependency update` and \
                 commit the chart under charts/",
                origin.chart_yaml, dependency.name
            ));
        }
        fetch = Fetch::Network;
    }
    Ok(fetch)
}

/// The repositories dependencies may come from: the app's own, as `Chart.yaml` would name it.
fn allowed_repositories(remote: Option<&RemoteChart>) -> Vec<String> {
    let Some(remote) = remote else {
        return Vec::new();
    };
    let mut allowed = vec![remote.repo_url.trim_end_matches('/').to_owned()];
    if remote.kind() == RepoKind::Oci {
        // A registry's dependencies are named by the path holding them (`oci://r/charts`),
        // the chart's reference without its own name.
        let reference = remote.pull_reference();
        if let Some((parent, _)) = reference.rsplit_once('/')
            && parent.len() > "oci://".len()
        {
            allowed.push(parent.to_owned());
        }
    }
    allowed
}

/// Whether `chart/rel` (as written after `file://`) stays inside `root`, by its path alone:
/// helm resolves it the same way, and the sandbox holds no links (files are written, not
/// linked).
fn stays_inside(root: &Path, chart: &Path, rel: &str) -> bool {
    if rel.is_empty() || Path::new(rel).is_absolute() {
        return false;
    }
    let Ok(start) = chart.strip_prefix(root) else {
        return false;
    };
    let mut depth: Vec<Component> = start.components().collect();
    for part in Path::new(rel).components() {
        match part {
            Component::Normal(_) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Whether `charts/` holds the dependency, unpacked or packaged.
fn vendored(chart: &Path, name: &str) -> bool {
    let charts = chart.join("charts");
    if charts.join(name).join("Chart.yaml").is_file() {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(&charts) else {
        return false;
    };
    let prefix = format!("{name}-");
    entries.flatten().any(|entry| {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        file.starts_with(&prefix) && file.ends_with(".tgz")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_vendored_as_a_directory_or_a_package() {
        let dir = tempfile::tempdir().unwrap();
        let charts = dir.path().join("charts");
        std::fs::create_dir_all(charts.join("cache")).unwrap();
        std::fs::write(charts.join("cache/Chart.yaml"), "name: cache\n").unwrap();
        std::fs::write(charts.join("redis-1.2.3.tgz"), "").unwrap();
        assert!(vendored(dir.path(), "cache"));
        assert!(vendored(dir.path(), "redis"));
        assert!(!vendored(dir.path(), "postgres"));
    }

    fn dependency(name: &str, repository: &str) -> Dependency {
        Dependency {
            name: name.into(),
            repository: repository.into(),
        }
    }

    fn check(
        deps: &[Dependency],
        remote: Option<&RemoteChart>,
        chart: &str,
    ) -> Result<Fetch, String> {
        let refs: Vec<&Dependency> = deps.iter().collect();
        let origin = ChartOrigin {
            remote,
            root: Path::new("/sandbox/repo"),
            chart_yaml: format!("{chart}/Chart.yaml"),
        };
        check_dependencies(&refs, &Path::new("/sandbox/repo").join(chart), &origin)
    }

    #[test]
    fn a_chart_in_git_fetches_no_dependency_from_a_repository() {
        // Before issue #23 `helm dependency build` fetched whatever Chart.yaml named.
        for repository in [
            "https://charts.example/stable",
            "http://127.0.0.1:8080/internal",
            "oci://registry.example/charts",
            "@stable",
            "alias:stable",
        ] {
            let err = check(&[dependency("redis", repository)], None, "apps/web").unwrap_err();
            assert!(
                err.starts_with("apps/web/Chart.yaml: dependency redis comes from"),
                "{err}"
            );
            assert!(err.contains(repository), "{err}");
            assert!(
                err.contains("helm dependency update") && err.contains("charts/"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_pulled_chart_fetches_dependencies_from_the_apps_own_repository_only() {
        let http =
            RemoteChart::new("https://charts.example/stable/", Some("shop"), "1.0.0").unwrap();
        let ok = check(
            &[dependency("redis", "https://charts.example/stable")],
            Some(&http),
            "pulled/shop",
        );
        assert_eq!(ok, Ok(Fetch::Network));
        let err = check(
            &[dependency("redis", "https://charts.example/other")],
            Some(&http),
            "pulled/shop",
        )
        .unwrap_err();
        assert!(
            err.contains("only this app's helm.repoURL (https://charts.example/stable)"),
            "{err}"
        );
        let oci = RemoteChart::new("oci://registry.example/charts/shop", None, "1.0.0").unwrap();
        for (repository, allowed) in [
            ("oci://registry.example/charts", true),
            ("oci://registry.example/charts/shop", true),
            ("oci://registry.example/other", false),
            ("oci://registry.example", false),
        ] {
            let got = check(
                &[dependency("redis", repository)],
                Some(&oci),
                "pulled/shop",
            );
            assert_eq!(got.is_ok(), allowed, "{repository}: {got:?}");
        }
    }

    #[test]
    fn file_dependencies_stay_inside_the_repository_and_need_no_network() {
        let inside = [
            dependency("common", "file://../common"),
            dependency("lib", "file://./charts-src/lib"),
        ];
        assert_eq!(check(&inside, None, "apps/web"), Ok(Fetch::Local));
        for outside in ["file://../../../etc", "file:///etc/ordo", "file://"] {
            let err = check(&[dependency("x", outside)], None, "apps/web").unwrap_err();
            assert!(
                err.contains("lies outside the repository"),
                "{outside}: {err}"
            );
        }
    }
}
