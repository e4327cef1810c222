//! Where manifests come from: a git commit (read straight from its tree) or a plain directory.
//!
//! Contract used by `manifest`: a [`Snapshot`] is the commit (when there is one) and the
//! selected manifest files, repo-relative, '/'-separated, already checked against the limits.

mod cache_gc;
mod credentials;
mod dir;
mod error;
mod fetch_size;
mod git;
mod git_tree;
mod heads;
mod history;
mod known_hosts;
mod refs;
mod remote_url;
mod select;
mod timeout;
mod walk;

pub use cache_gc::{GIT_CACHE_GC_INTERVAL, collect_garbage, collect_garbage_until};
pub use credentials::{Credentials, Secret};
pub use dir::read_dir;
pub use error::SourceError;
pub use fetch_size::{
    DEFAULT_GIT_MAX_FETCH_BYTES, GIT_MAX_FETCH_BYTES_ENV, git_max_fetch_bytes,
    git_max_fetch_bytes_from_env, parse_git_max_fetch_bytes,
};
pub use git::{RepoSpec, cache_path, fetch, fetch_async, remote_head, remote_head_async};
pub use heads::remote_head_since;
pub use history::{Ancestry, ancestry, ancestry_async, non_fast_forward_refusal};
pub use remote_url::{has_password, repo_key, without_user_info};
pub use select::{Limits, Selection};
pub use timeout::{
    DEFAULT_GIT_TIMEOUT, GIT_TIMEOUT_ENV, git_timeout, git_timeout_from_env, init_network_timeouts,
    parse_git_timeout,
};

/// The commit a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitInfo {
    pub sha: String,
    pub message: String,
    pub author: String,
    /// Commit time, seconds since the Unix epoch.
    pub time: i64,
}

/// One manifest file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the repository (or directory) root, '/'-separated.
    pub path: String,
    pub data: Vec<u8>,
}

/// The selected files of one revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub commit: Option<CommitInfo>,
    pub files: Vec<SourceFile>,
    /// The commit's signature (its `gpgsig` header), when it is signed.
    pub signature: Option<CommitSignature>,
}

/// A commit's signature and the commit text it signs, as git verifies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSignature {
    pub signature: Vec<u8>,
    pub signed_data: Vec<u8>,
}
