//! The steps of a Helm render that need the network: `helm pull` of a chart from a chart
//! repository or an OCI registry, and `helm dependency build` of a chart whose dependencies
//! are not vendored. Both run in the render's sandbox (scrubbed environment, helm's homes
//! inside it, the render's timeout and output budget); only the network is open to them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::command;
use crate::render::RenderLimits;
use crate::render::error::{RenderError, Tool};
use crate::render::remote::{RemoteChart, RepoKind};
use crate::render::sandbox::{Sandbox, run};

/// Pulls `remote` into the sandbox (outside `repo/`, so it cannot clash with repository
/// files) and returns the untarred chart's directory.
pub(super) fn pull(
    sandbox: &Sandbox,
    program: &Path,
    remote: &RemoteChart,
    app: &str,
    limits: &RenderLimits,
) -> Result<PathBuf, RenderError> {
    let into = sandbox.dir("pulled")?;
    let login = Login::read(remote, app)?;
    let mut command = command(sandbox, program);
    command.arg("pull").arg(remote.pull_reference());
    if remote.kind() == RepoKind::Http {
        command.args(["--repo", &remote.repo_url]);
    }
    command
        .args(["--version", &remote.version, "--untar", "--untardir"])
        .arg(&into);
    if remote.plain_http {
        command.arg("--plain-http");
    }
    if let Some(login) = &login {
        // On the command line because `helm pull` reads credentials nowhere else; the
        // sandbox's process is short-lived and the value never reaches a log or an error.
        command
            .args(["--username", &login.username])
            .args(["--password", &login.password]);
    }
    run(command, Tool::Helm, app, limits)
        .map_err(|e| pull_failed(e, remote, login.as_ref(), app))?;
    chart_dir(&into, remote, app)
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

/// Runs `helm dependency build` when `Chart.yaml` lists a dependency with a repository that
/// is not under `charts/` (as a directory or a `.tgz`); a vendored `charts/` is used as it
/// is, with no network. A Chart.yaml that cannot be read is left for `helm template` to
/// report, in its own words.
pub(super) fn build_dependencies(
    sandbox: &Sandbox,
    program: &Path,
    chart: &Path,
    app: &str,
    limits: &RenderLimits,
) -> Result<(), RenderError> {
    let Ok(text) = std::fs::read_to_string(chart.join("Chart.yaml")) else {
        return Ok(());
    };
    let Ok(meta) = serde_saphyr::from_str::<ChartFile>(&text) else {
        return Ok(());
    };
    let missing: Vec<&str> = meta
        .dependencies
        .iter()
        .filter(|d| !d.repository.is_empty() && !vendored(chart, &d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut command = command(sandbox, program);
    command.args(["dependency", "build"]).arg(chart);
    run(command, Tool::Helm, app, limits)
        .map(drop)
        .map_err(|e| match e {
            RenderError::ToolFailed { stderr, .. } => RenderError::Fetch {
                tool: Tool::Helm,
                app: app.to_owned(),
                message: format!(
                    "cannot fetch the dependencies {} of chart {} (not vendored under charts/, so \
                 `helm dependency build` fetched them from their repositories; vendor them \
                 or check the repositories in Chart.yaml): {stderr}",
                    missing.join(", "),
                    chart.file_name().map_or_else(
                        || chart.display().to_string(),
                        |n| n.to_string_lossy().into_owned()
                    ),
                ),
            },
            e => e,
        })
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
