//! The one error type of the `source` layer. Every variant carries what a user needs to act:
//! the URL (password already stripped), the ref, the path, and what to change.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("path '{path}' does not exist in {at}")]
    PathNotFound { path: String, at: String },

    #[error("path '{path}' in {at} is not a directory: `path` must name a directory")]
    NotADirectory { path: String, at: String },

    #[error("invalid path '{path}': {reason}")]
    InvalidPath { path: String, reason: &'static str },

    #[error("invalid glob '{glob}': {source}")]
    InvalidGlob {
        glob: String,
        #[source]
        source: globset::Error,
    },

    #[error(
        "file '{path}' is {size} bytes, over the limit of {limit} bytes per file: \
         move it out of the selected path or add it to `exclude`"
    )]
    FileTooLarge { path: String, size: u64, limit: u64 },

    #[error(
        "selected files exceed {limit} bytes in total (reached at '{path}'): \
         narrow `path` or add `exclude` globs"
    )]
    TotalTooLarge { path: String, limit: u64 },

    #[error(
        "directories are nested deeper than {limit} levels at '{path}': refused (git's own \
         core.maxTreeDepth); flatten the tree or point `path` below it"
    )]
    TooDeep { path: String, limit: usize },

    #[error("symlink '{path}' points to '{target}', outside the repository: refused")]
    SymlinkOutside { path: String, target: String },

    #[error("symlink '{path}' points to '{target}', which does not exist")]
    SymlinkBroken { path: String, target: String },

    #[error("symlink '{path}' is part of a loop or a chain longer than 40 links")]
    SymlinkLoop { path: String },

    #[error("invalid repository URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("ref '{reference}' not found in {url}: it is neither a branch, a tag nor a commit")]
    RefNotFound { url: String, reference: String },

    #[error(
        "ref '{reference}' is both a branch and a tag in {url}: refused, since whoever may push \
         a branch could take over the tag; write `ref: refs/tags/{reference}` or \
         `ref: refs/heads/{reference}`"
    )]
    AmbiguousRef { url: String, reference: String },

    #[error(
        "commit {sha} not found in {url}: no branch or tag of the remote contains it \
         (was it force-pushed away?)"
    )]
    CommitNotFound { url: String, sha: String },

    #[error("authentication failed for {url}: {hint}")]
    Auth { url: String, hint: String },

    #[error("host key check failed for {host}: {hint}")]
    HostKey { host: String, hint: String },

    #[error("cannot read {what}: {reason}")]
    Secret { what: String, reason: String },

    #[error("git {action} of {url} failed: {source}")]
    Git {
        url: String,
        action: &'static str,
        #[source]
        source: git2::Error,
    },

    #[error(
        "fetch of {url} stopped after {limit}: the repository sends more than one fetch may \
         download ({env}); move large files out of the repository, or raise {env} if it is \
         only big"
    )]
    FetchTooLarge {
        url: String,
        limit: String,
        env: &'static str,
    },

    #[error("git cache at '{}' failed: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error(
        "git server did not answer within {after} ({action} of {url}): check that the server \
         is reachable from here, or raise ORDO_GIT_TIMEOUT if it is only slow"
    )]
    Timeout {
        url: String,
        action: &'static str,
        after: String,
    },

    #[error(
        "another fetch of {url} has held its cache for {after}: gave up waiting; the next \
         reconcile tries again"
    )]
    CacheBusy { url: String, after: String },

    /// The answer another app of the same repository got (see `heads.rs`).
    #[error(transparent)]
    Shared(std::sync::Arc<SourceError>),

    #[error("source task failed: {0}")]
    Task(String),
}

impl SourceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SourceError::Io {
            path: path.into(),
            source,
        }
    }

    /// Not the commit's fault, and may pass by itself: the git server timed out, refused or
    /// dropped the connection or answered 5xx, the cache's disk is full or busy, a
    /// credentials Secret could not be read. The agent retries these with a growing delay
    /// and never rolls back from them. A missing path, a file too large, a ref or commit
    /// that is gone, refused credentials or host key are not going to pass by themselves.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Timeout { .. }
            | SourceError::CacheBusy { .. }
            | SourceError::Task(_)
            | SourceError::Secret { .. } => true,
            SourceError::Io { source, .. } => io_is_transient(source),
            SourceError::Git { source, .. } | SourceError::Cache { source, .. } => {
                git_is_transient(source)
            }
            SourceError::Shared(inner) => inner.is_transient(),
            _ => false,
        }
    }
}

/// A local or network failure that may pass: a full disk or quota, no memory, a deadline, a
/// connection refused, reset or unreachable.
fn io_is_transient(e: &std::io::Error) -> bool {
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
            | UnexpectedEof
    )
}

/// libgit2's network and OS failures (a refused connection, a failed resolve, a dropped
/// pack, a full disk), its timeouts, and an HTTP answer of 5xx or 429. A 404 or a TLS
/// certificate that does not verify is not transient.
fn git_is_transient(e: &git2::Error) -> bool {
    use git2::ErrorClass;
    let message = e.message().to_ascii_lowercase();
    let status = |code: &str| {
        message
            .split(|c: char| !c.is_ascii_digit())
            .any(|number| number == code)
    };
    e.code() == git2::ErrorCode::Timeout
        || matches!(e.class(), ErrorClass::Net | ErrorClass::Os)
        || (e.class() == ErrorClass::Http
            && ["429", "500", "502", "503", "504"].into_iter().any(status))
        || [
            "early eof",
            "no space left on device",
            "disk quota exceeded",
        ]
        .iter()
        .any(|w| message.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{ErrorClass, ErrorCode};

    fn git(class: ErrorClass, code: ErrorCode, message: &str) -> SourceError {
        SourceError::Git {
            url: "https://git.example/shop.git".into(),
            action: "fetch",
            source: git2::Error::new(code, class, message),
        }
    }

    #[test]
    fn only_failures_that_are_not_the_commits_are_transient() {
        use ErrorClass::{Http, Net, Os, Ssl};
        use ErrorCode::GenericError as G;
        let io = |errno| SourceError::io("/cache/x", std::io::Error::from_raw_os_error(errno));
        let cases = [
            (
                "a 503 from the git server",
                git(Http, G, "unexpected http status code: 503"),
                true,
            ),
            (
                "a 502",
                git(Http, G, "unexpected HTTP status code: 502"),
                true,
            ),
            (
                "a 404 (repository gone)",
                git(Http, G, "unexpected http status code: 404"),
                false,
            ),
            (
                "a refused connection",
                git(Net, G, "failed to connect to 127.0.0.1: Connection refused"),
                true,
            ),
            ("a dropped pack", git(ErrorClass::Odb, G, "early EOF"), true),
            ("a socket error", git(Os, G, "failed to send request"), true),
            (
                "libgit2's timeout",
                git(Net, ErrorCode::Timeout, "timed out"),
                true,
            ),
            (
                "a certificate that does not verify",
                git(
                    Ssl,
                    ErrorCode::Certificate,
                    "the SSL certificate is invalid",
                ),
                false,
            ),
            ("the cache's disk is full", io(28), true),
            ("a file the cache lost", io(2), false),
            (
                "the watchdog's timeout",
                SourceError::Timeout {
                    url: "u".into(),
                    action: "fetch",
                    after: "30s".into(),
                },
                true,
            ),
            (
                "an unreadable credentials Secret",
                SourceError::Secret {
                    what: "Secret ordo/git".into(),
                    reason: "503".into(),
                },
                true,
            ),
            (
                "another app's answer: a timeout",
                SourceError::Shared(std::sync::Arc::new(SourceError::CacheBusy {
                    url: "u".into(),
                    after: "60s".into(),
                })),
                true,
            ),
            (
                "a path the commit removed",
                SourceError::PathNotFound {
                    path: "apps/web".into(),
                    at: "abc".into(),
                },
                false,
            ),
            (
                "a file too large",
                SourceError::FileTooLarge {
                    path: "big".into(),
                    size: 9,
                    limit: 1,
                },
                false,
            ),
            (
                "refused credentials",
                SourceError::Auth {
                    url: "u".into(),
                    hint: "check the token".into(),
                },
                false,
            ),
            (
                "a ref that is gone",
                SourceError::RefNotFound {
                    url: "u".into(),
                    reference: "main".into(),
                },
                false,
            ),
        ];
        for (name, error, transient) in cases {
            assert_eq!(error.is_transient(), transient, "{name}: {error}");
        }
    }
}
