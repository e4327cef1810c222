//! `helm pull` of a chart from a chart repository or an OCI registry, in the render's sandbox
//! (scrubbed environment, helm's homes inside it, the render's timeout and output budget);
//! only the network is open to it. Credentials go over TLS only and reach helm on stdin.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::command;
use crate::render::RenderLimits;
use crate::render::confine::Confined;
use crate::render::error::{RenderError, Tool};
use crate::render::remote::{RemoteChart, RepoKind};
use crate::render::sandbox::{Sandbox, run_with_stdin};

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

#[cfg(test)]
mod tests {
    use super::*;

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
