//! The steps of a Helm render that need the network: `helm pull` of a chart from a chart
//! repository or an OCI registry, and `helm dependency build` of a chart whose dependencies
//! are not vendored. Both run in the render's sandbox (scrubbed environment, helm's homes
//! inside it, the render's timeout and output budget); only the network is open to them.
//!
//! What a tenant's chart may make helm fetch (issue #23): the chart the app's config names,
//! and dependencies from that same place (the app's `helm.repoURL`) only. A dependency
//! repository written in `Chart.yaml` is the commit's choice, not the operator's, so any other
//! is refused before helm runs; vendored dependencies (`charts/`) and `file://` paths that stay
//! inside the repository (or the pulled chart) need no network and are fine.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::command;
use crate::render::RenderLimits;
use crate::render::confine::Confined;
use crate::render::error::{RenderError, Tool};
use crate::render::remote::{RemoteChart, RepoKind};
use crate::render::sandbox::{Sandbox, run, run_with_stdin};

/// The name a chart repository is added under in the sandbox's own `repositories.yaml`.
const REPO_NAME: &str = "ordo-chart";

/// Pulls `remote` into the sandbox (outside `repo/`, so it cannot clash with repository
/// files) and returns the untarred chart's directory. Credentials are refused over plain
/// HTTP, and reach helm on stdin only (a command line is readable by every process on the
/// node through `/proc/<pid>/cmdline`).
pub(super) fn pull(
    sandbox: &Sandbox,
    program: &Path,
    remote: &RemoteChart,
    app: &str,
    limits: &RenderLimits,
) -> Result<PathBuf, RenderError> {
    remote
        .check_credentials_transport()
        .map_err(|message| RenderError::Input {
            app: app.to_owned(),
            message,
        })?;
    let into = sandbox.dir("pulled")?;
    let login = Login::read(remote, app)?;
    let ca_file = match &remote.ca_file {
        Some(file) => Some(copy_ca_file(sandbox, file, app)?),
        None => None,
    };
    let steps = pull_steps(
        || command(sandbox, program),
        remote,
        login.as_ref(),
        &into,
        ca_file.as_deref(),
    );
    for step in steps {
        run_with_stdin(step.command, Tool::Helm, app, limits, step.stdin)
            .map_err(|e| pull_failed(e, remote, login.as_ref(), app))?;
    }
    chart_dir(&into, remote, app)
}

/// One helm run of a pull, with what it reads on stdin.
struct Step {
    command: Confined,
    stdin: Option<Zeroizing<Vec<u8>>>,
}

/// The helm runs that pull `remote` into `into`. With a login, helm is first given the
/// password on stdin (`helm repo add --password-stdin`, `helm registry login
/// --password-stdin`), which keeps it in the sandbox's own helm config; the pull then reads
/// it from there. `helm pull` takes a password on its command line only.
fn pull_steps(
    mut command: impl FnMut() -> Confined,
    remote: &RemoteChart,
    login: Option<&Login>,
    into: &Path,
    ca_file: Option<&Path>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut reference = remote.pull_reference();
    if let Some(login) = login {
        let mut first = command();
        first.allow_network();
        match remote.kind() {
            RepoKind::Http => {
                first.args(["repo", "add", REPO_NAME, &remote.repo_url]);
                reference = format!("{REPO_NAME}/{}", remote.chart);
            }
            RepoKind::Oci => {
                first
                    .args(["registry", "login"])
                    .arg(remote.registry_host().unwrap_or_default());
            }
        }
        first.args(["--username", &login.username, "--password-stdin"]);
        if let Some(ca) = ca_file {
            first.arg("--ca-file").arg(ca);
        }
        steps.push(Step {
            command: first,
            stdin: Some(Zeroizing::new(login.password.as_bytes().to_vec())),
        });
    }
    let mut pull = command();
    pull.allow_network();
    pull.arg("pull").arg(&reference);
    if remote.kind() == RepoKind::Http && login.is_none() {
        pull.args(["--repo", &remote.repo_url]);
    }
    pull.args(["--version", &remote.version, "--untar", "--untardir"])
        .arg(into);
    if remote.plain_http {
        pull.arg("--plain-http");
    }
    if let Some(ca) = ca_file {
        pull.arg("--ca-file").arg(ca);
    }
    steps.push(Step {
        command: pull,
        stdin: None,
    });
    steps
}

/// The operator's CA file, copied into the sandbox: the confined helm reads nothing else.
fn copy_ca_file(sandbox: &Sandbox, file: &Path, app: &str) -> Result<PathBuf, RenderError> {
    let data = std::fs::read(file).map_err(|e| RenderError::Input {
        app: app.to_owned(),
        message: format!("cannot read helm.caFile {}: {e}", file.display()),
    })?;
    sandbox.write("tls/ca.pem", &data)
}

/// A user name and password read from their files at render time.
struct Login {
    username: String,
    password: String,
}

impl Login {
    fn read(remote: &RemoteChart, app: &str) -> Result<Option<Login>, RenderError> {
        let username = match (&remote.username, &remote.username_file) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(file)) => Some(read_secret(file, "usernameFile", app)?),
            (None, None) => None,
        };
        let password = match &remote.password_file {
            Some(file) => Some(read_secret(file, "passwordFile", app)?),
            None => None,
        };
        match (username, password) {
            (Some(username), Some(password)) => Ok(Some(Login { username, password })),
            (None, None) => Ok(None),
            (Some(_), None) | (None, Some(_)) => Err(RenderError::Input {
                app: app.to_owned(),
                message: format!(
                    "chart {} from {}: a user name and a password go together; give both \
                     helm.usernameFile and helm.passwordFile (or neither)",
                    remote.chart, remote.repo_url
                ),
            }),
        }
    }
}

/// The file's first line; a trailing newline is how editors save a one-line file.
fn read_secret(file: &Path, key: &str, app: &str) -> Result<String, RenderError> {
    let text = std::fs::read_to_string(file).map_err(|e| RenderError::Input {
        app: app.to_owned(),
        message: format!("cannot read helm.{key} {}: {e}", file.display()),
    })?;
    let value = text.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        return Err(RenderError::Input {
            app: app.to_owned(),
            message: format!("helm.{key} {} is empty", file.display()),
        });
    }
    Ok(value)
}

/// Whether `text` names HTTP status `code` as a word of its own: not inside a port
/// (`127.0.0.1:34013`), an address or a longer number.
fn names_status(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '.')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// A failed pull, said in the chart's terms: which chart, which version, where; helm's own
/// words follow with the password blanked out, in case a server echoes it.
fn pull_failed(
    error: RenderError,
    remote: &RemoteChart,
    login: Option<&Login>,
    app: &str,
) -> RenderError {
    let RenderError::ToolFailed { stderr, .. } = error else {
        return error;
    };
    let stderr = match login {
        Some(login) => stderr.replace(&login.password, "***"),
        None => stderr,
    };
    let lower = stderr.to_ascii_lowercase();
    let (chart, version, location) = (&remote.chart, &remote.version, remote.location());
    let what = if names_status(&lower, "401") || lower.contains("unauthorized") {
        format!(
            "{location} refused the credentials for chart {chart} {version}; check \
             helm.usernameFile and helm.passwordFile"
        )
    } else if names_status(&lower, "403") || lower.contains("forbidden") {
        format!("{location} does not let these credentials read chart {chart} {version}")
    } else if lower.contains("not found") {
        format!(
            "chart {chart} {version} not found in {location}; check helm.chart and \
             helm.version (an exact version the repository lists)"
        )
    } else {
        format!("cannot pull chart {chart} {version} from {location}")
    };
    RenderError::Fetch {
        tool: Tool::Helm,
        app: app.to_owned(),
        message: format!("{what} ({stderr})"),
    }
}

/// The one directory `helm pull --untar` made (named after the chart in its Chart.yaml,
/// which may differ from the name it was pulled by).
fn chart_dir(into: &Path, remote: &RemoteChart, app: &str) -> Result<PathBuf, RenderError> {
    let io = |source| RenderError::Io {
        tool: Tool::Helm,
        app: app.to_owned(),
        path: into.to_path_buf(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(into).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    match <[PathBuf; 1]>::try_from(dirs) {
        Ok([dir]) => Ok(dir),
        Err(found) => Err(RenderError::Fetch {
            tool: Tool::Helm,
            app: app.to_owned(),
            message: format!(
                "chart {} {} from {} unpacked into {} directories, not one; is it a chart?",
                remote.chart,
                remote.version,
                remote.location(),
                found.len()
            ),
        }),
    }
}

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
    let Ok(meta) = serde_saphyr::from_str::<ChartFile>(&text) else {
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

    #[test]
    fn the_pull_password_goes_to_helm_on_stdin_never_on_its_command_line() {
        let login = Login {
            username: "ci".into(),
            password: "s3cret-on-cmdline".into(),
        };
        let into = Path::new("/sandbox/pulled");
        let mut https =
            RemoteChart::new("https://charts.test/private", Some("shop"), "1.0.0").unwrap();
        https.username = Some("ci".into());
        let oci = RemoteChart::new("oci://127.0.0.1:5000/charts/shop", None, "1.0.0").unwrap();
        for remote in [&https, &oci] {
            let new = || {
                Confined::new(
                    std::process::Command::new("helm"),
                    Path::new("/helm"),
                    Path::new("/sandbox"),
                )
            };
            let steps = pull_steps(
                new,
                remote,
                Some(&login),
                into,
                Some(Path::new("/sandbox/tls/ca.pem")),
            );
            let args: Vec<Vec<String>> = steps
                .iter()
                .map(|s| {
                    s.command
                        .get_args()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect()
                })
                .collect();
            assert_eq!(steps.len(), 2, "{args:?}");
            assert!(
                args.iter()
                    .flatten()
                    .all(|a| !a.contains("s3cret") && a != "--password"),
                "{args:?}"
            );
            assert!(args[0].contains(&"--password-stdin".to_owned()), "{args:?}");
            assert_eq!(
                steps[0].stdin.as_deref().map(Vec::as_slice),
                Some(&b"s3cret-on-cmdline"[..])
            );
            assert!(steps[1].stdin.is_none());
            assert_eq!(args[1][0], "pull");
            assert!(
                args.iter().all(|a| a.contains(&"--ca-file".to_owned())),
                "{args:?}"
            );
        }
        // Without a login: one pull, nothing on stdin.
        let open = RemoteChart::new("https://charts.test/open", Some("shop"), "1.0.0").unwrap();
        let new = || {
            Confined::new(
                std::process::Command::new("helm"),
                Path::new("/helm"),
                Path::new("/sandbox"),
            )
        };
        let steps = pull_steps(new, &open, None, into, None);
        assert_eq!(steps.len(), 1);
        assert!(steps[0].stdin.is_none());
    }

    #[test]
    fn a_failed_pull_names_chart_version_and_place_and_hides_the_password() {
        let mut remote =
            RemoteChart::new("http://127.0.0.1:9/charts", Some("shop"), "9.9.9").unwrap();
        remote.password_file = Some("/secret/file".into());
        let login = Login {
            username: "ci".into(),
            password: "s3cret".into(),
        };
        let failed = |stderr: &str| {
            let error = RenderError::ToolFailed {
                tool: Tool::Helm,
                app: "shop".into(),
                code: Some(1),
                stderr: stderr.into(),
            };
            pull_failed(error, &remote, Some(&login), "shop").to_string()
        };
        let missing = failed("Error: chart \"shop\" version \"9.9.9\" not found");
        assert!(
            missing.contains("chart shop 9.9.9 not found in http://127.0.0.1:9/charts/index.yaml"),
            "{missing}"
        );
        // A port that holds the digits of a status is not that status.
        let behind_port = failed(
            "Error: chart \"shop\" version \"9.9.9\" not found in http://127.0.0.1:34013/private repository",
        );
        assert!(
            behind_port.contains("chart shop 9.9.9 not found"),
            "{behind_port}"
        );
        let forbidden = failed("failed to fetch https://charts.example/index.yaml : 403 Forbidden");
        assert!(
            forbidden.contains("does not let these credentials"),
            "{forbidden}"
        );
        let refused = failed("Error: 401 Unauthorized (tried s3cret)");
        assert!(refused.contains("refused the credentials"), "{refused}");
        assert!(!refused.contains("s3cret"), "{refused}");
    }
}
