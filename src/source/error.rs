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
}
