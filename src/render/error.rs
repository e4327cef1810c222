//! What can go wrong while rendering, with the tool, the app path and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// The rendering tools ordo runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    Kustomize,
    Helm,
}

impl Tool {
    /// The command name, and the name `scripts/cluster.sh build` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kustomize => "kustomize",
            Tool::Helm => "helm",
        }
    }

    /// The environment variable naming the binary (else it is looked up on PATH).
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Kustomize => "ORDO_KUSTOMIZE",
            Tool::Helm => "ORDO_HELM",
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One error enum for the render layer. `app` is the app's path inside the repository ("." for
/// the root), so a message points at the directory to look at.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{file}: line {line}: {message} (postBuild.substitute); nothing was applied")]
    Substitution {
        file: String,
        line: usize,
        message: String,
    },
    #[error(
        "{tool} is needed to render {app} but was not found ({looked}); build it with \
         `scripts/cluster.sh build {tool}` and put it on PATH, or set {env} to its path",
        env = tool.env_var()
    )]
    ToolNotFound {
        tool: Tool,
        app: String,
        looked: String,
    },
    #[error(
        "{tool} rendering {app} did not finish within {}s and was stopped; look for a loop \
         that never ends, or raise the render timeout",
        after.as_secs_f64()
    )]
    Timeout {
        tool: Tool,
        app: String,
        after: Duration,
    },
    #[error(
        "{tool} rendering {app} printed more than {limit} bytes and was stopped; a render that \
         large is usually a runaway template, or raise the output budget"
    )]
    OutputTooLarge { tool: Tool, app: String, limit: u64 },
    #[error("{tool} failed rendering {app} ({}): {stderr}", exit(*code))]
    ToolFailed {
        tool: Tool,
        app: String,
        code: Option<i32>,
        /// Trimmed and bounded to a few KiB.
        stderr: String,
    },
    #[error(
        "{file}: entry {entry:?} reaches outside the repository; a kustomization may only \
         refer to directories inside it"
    )]
    PathOutside { file: String, entry: String },
    #[error(
        "{file}: remote base {entry:?} refused; vendor it into the repository, or set \
         kustomize.allowRemoteBases: true for this app"
    )]
    RemoteBase { file: String, entry: String },
    #[error(
        "{file}: {field} entry {entry:?} is a URL; kustomize would fetch it, which ordo never \
         lets a commit do: put the file in the repository"
    )]
    RemoteFile {
        file: String,
        field: &'static str,
        entry: String,
    },
    #[error(
        "{file}: remote base {entry:?} refused: remote bases are fetched only over https or \
         ssh from a named host (never file://, http or a local path)"
    )]
    RemoteTransport { file: String, entry: String },
    #[error("{file}: {field} entry {entry:?} is neither a file nor a directory in the repository")]
    Missing {
        file: String,
        field: &'static str,
        entry: String,
    },
    /// No room in the render scratch space (see `scratch.rs`): `busy` when other renders held
    /// it (retried), else the render is larger than the whole space.
    #[error("{app}: {message}")]
    NoRoom {
        app: String,
        message: String,
        busy: bool,
    },
    #[error("{file}: cannot read it as a kustomization: {message}")]
    Kustomization { file: String, message: String },
    #[error("{app}: {message}")]
    Input { app: String, message: String },
    /// `helm pull` or `helm dependency build` failed. `message` names the chart, its version
    /// and where it was looked for; a password never appears in it.
    #[error("{app}: {tool}: {message}")]
    Fetch {
        tool: Tool,
        app: String,
        message: String,
    },
    #[error("cannot prepare the {tool} render of {app} ({path}): {source}")]
    Io {
        tool: Tool,
        app: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn exit(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

impl RenderError {
    /// Not the commit's fault, and may pass without a new commit: a full disk, the tool's
    /// deadline, a chart repository that is down or answers 5xx, a missing tool binary
    /// (ordo's setup). The agent retries such a revision with a growing delay and never
    /// records it as failed or rolls back from it. What the tool said about the repository's
    /// own files (a template's `fail`, a bad kustomization, output too large) is the commit's.
    pub fn is_transient(&self) -> bool {
        match self {
            RenderError::Timeout { .. } | RenderError::ToolNotFound { .. } => true,
            RenderError::Io { source, .. } => io_is_transient(source),
            // Only the OS's own words: a template cannot make its commit look transient by
            // failing with a status code.
            RenderError::ToolFailed { stderr, .. } => {
                let lower = stderr.to_ascii_lowercase();
                DISK_FULL.iter().any(|w| lower.contains(w))
            }
            RenderError::Fetch { message, .. } => fetch_is_transient(message),
            RenderError::NoRoom { busy, .. } => *busy,
            _ => false,
        }
    }
}

/// How an OS reports a disk that is full, in an error message.
const DISK_FULL: &[&str] = &["no space left on device", "disk quota exceeded"];

/// A local failure that may pass: a full disk or quota, no memory, a deadline, a busy
/// resource. A missing file or a permission is not going to change by itself.
pub(crate) fn io_is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        StorageFull
            | QuotaExceeded
            | OutOfMemory
            | TimedOut
            | WouldBlock
            | Interrupted
            | ResourceBusy
            | ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | HostUnreachable
            | NetworkUnreachable
            | BrokenPipe
    )
}

/// Whether a failed `helm pull` or `helm dependency build` (helm's words in `message`) was
/// the server's or the network's doing: a 5xx or 429, a refused or reset connection, a
/// timeout, a failing resolver, a full disk. A 404 or a 401 is not.
fn fetch_is_transient(message: &str) -> bool {
    const WORDS: &[&str] = &[
        "i/o timeout",
        "handshake timeout",
        "deadline exceeded",
        "timed out",
        "connection refused",
        "connection reset",
        "broken pipe",
        "unexpected eof",
        "temporary failure in name resolution",
        "server misbehaving",
        "too many requests",
    ];
    let lower = message.to_ascii_lowercase();
    WORDS.iter().chain(DISK_FULL).any(|w| lower.contains(w))
        || ["429", "500", "502", "503", "504"]
            .iter()
            .any(|code| names_status(&lower, code))
}

/// Whether `text` names HTTP status `code` as a word of its own: not inside a port
/// (`127.0.0.1:5003`), an address, a version or a longer number.
fn names_status(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let mut after = text[i + code.len()..].chars();
        let next = after.next();
        // `503.` ends a sentence; `503.1` is a version.
        let version = next == Some('.') && after.next().is_some_and(|d| d.is_ascii_digit());
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '.')
            && !next.is_some_and(|c| c.is_ascii_alphanumeric())
            && !version
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stderr: &str) -> RenderError {
        RenderError::ToolFailed {
            tool: Tool::Helm,
            app: "a".into(),
            code: Some(1),
            stderr: stderr.into(),
        }
    }

    fn fetch(message: &str) -> RenderError {
        RenderError::Fetch {
            tool: Tool::Helm,
            app: "a".into(),
            message: message.into(),
        }
    }

    fn io(errno: i32) -> RenderError {
        RenderError::Io {
            tool: Tool::Helm,
            app: "a".into(),
            path: "/tmp/ordo-render-x".into(),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn only_failures_that_are_not_the_commits_are_transient() {
        let cases = [
            ("disk full (ENOSPC)", io(28), true),
            ("quota exceeded (EDQUOT)", io(122), true),
            ("no memory to spawn the tool (ENOMEM)", io(12), true),
            ("permission denied", io(13), false),
            ("no such file", io(2), false),
            (
                "the tool's deadline",
                RenderError::Timeout {
                    tool: Tool::Helm,
                    app: "a".into(),
                    after: Duration::from_secs(60),
                },
                true,
            ),
            (
                "a missing tool binary (ordo's setup)",
                RenderError::ToolNotFound {
                    tool: Tool::Helm,
                    app: "a".into(),
                    looked: "PATH".into(),
                },
                true,
            ),
            (
                "a template's fail",
                failed("Error: execution error at (a/t.yaml:1:1): boom"),
                false,
            ),
            (
                "a template failing with a status code",
                failed("Error: execution error at (a/t.yaml:1:1): 503 Service Unavailable"),
                false,
            ),
            (
                "helm out of disk",
                failed("Error: write /tmp/x: no space left on device"),
                true,
            ),
            (
                "a chart repository's 503",
                fetch(
                    "cannot pull chart web 1.0.0 from http://127.0.0.1:40123/ (Error: failed \
                     to fetch http://127.0.0.1:40123/index.yaml : 503 Service Unavailable)",
                ),
                true,
            ),
            (
                "a registry's 502",
                fetch("cannot pull chart web 1.0.0 from oci://r/x (unexpected status: 502.)"),
                true,
            ),
            (
                "a repository that is down",
                fetch(
                    "cannot pull chart web 1.0.0 from http://127.0.0.1:5003/ \
                     (dial tcp 127.0.0.1:5003: connect: connection refused)",
                ),
                true,
            ),
            (
                "a timeout",
                fetch(
                    "cannot pull chart web 1.0.0 \
                     (Get \"https://c/index.yaml\": net/http: TLS handshake timeout)",
                ),
                true,
            ),
            (
                "a version that does not exist",
                fetch("chart web 9.9.9 not found in http://127.0.0.1:5003/ (404 Not Found)"),
                false,
            ),
            (
                "refused credentials",
                fetch("http://c/ refused the credentials for chart web 1.0.0 (401 Unauthorized)"),
                false,
            ),
            (
                "a 5xx-looking port or version is not a status",
                fetch("chart web 5.0.3 not found in http://127.0.0.1:503/ (web-500.1 missing)"),
                false,
            ),
            (
                "output too large",
                RenderError::OutputTooLarge {
                    tool: Tool::Helm,
                    app: "a".into(),
                    limit: 1,
                },
                false,
            ),
            (
                "a bad kustomization",
                RenderError::Kustomization {
                    file: "k.yaml".into(),
                    message: "timed out".into(),
                },
                false,
            ),
        ];
        for (name, error, transient) in cases {
            assert_eq!(error.is_transient(), transient, "{name}: {error}");
        }
    }
}
