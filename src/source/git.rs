//! Git remotes: the cheap "has the ref moved?" check and fetching a commit into a local cache.
//!
//! Each remote gets one bare repository under `<cache>/repos/<sha256 of url>`. We fetch only the
//! ref asked for, shallow where the transport allows, into `refs/ordo/…` so nothing we fetch
//! can clash with anything else, and `+` refspecs so a force-pushed branch is simply followed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use git2::{
    AutotagOption, Direction, ErrorCode, FetchOptions, FetchPrune, Oid, Remote, Repository,
};
use sha2::{Digest, Sha256};

use super::credentials::{Auth, Credentials};
use super::fetch_size::{GIT_MAX_FETCH_BYTES_ENV, git_max_fetch_bytes, shown};
use super::git_tree::snapshot;
use super::refs::{Advertised, Resolved, Unresolved, resolve_ref};
use super::remote_url::{RemoteUrl, Transport};
use super::timeout::{Activity, Watch, git_timeout, init_network_timeouts, seconds};
use super::{Selection, Snapshot, SourceError};

/// libgit2's GIT_FETCH_DEPTH_UNSHALLOW: fetch the history a shallow cache is missing.
const DEPTH_UNSHALLOW: i32 = i32::MAX;
/// libgit2's GIT_ENOTSUPPORTED, which git2's `ErrorCode` folds into `GenericError`.
const GIT_ENOTSUPPORTED: i32 = -39;

/// Which revision of which repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// `https://`, `http://`, `ssh://`, `[user@]host:path`, `file://` or a local path.
    pub url: String,
    /// A branch, a tag, a full ref (`refs/...`), a full 40-hex commit SHA, or "" / "HEAD" for
    /// the remote's default branch.
    pub reference: String,
    pub credentials: Credentials,
    /// How long the server may stay silent (and another fetch may hold the cache) before the
    /// operation fails: `ORDO_GIT_TIMEOUT`, else 30 s.
    pub timeout: Duration,
    /// How many bytes one fetch may download before it is stopped:
    /// `ORDO_GIT_MAX_FETCH_BYTES`, else 1 GiB.
    pub max_fetch_bytes: u64,
}

impl RepoSpec {
    pub fn new(url: impl Into<String>, reference: impl Into<String>) -> Self {
        RepoSpec {
            url: url.into(),
            reference: reference.into(),
            credentials: Credentials::default(),
            timeout: git_timeout(),
            max_fetch_bytes: git_max_fetch_bytes(),
        }
    }
}

/// The commit `spec.reference` points to on the remote, in one round trip and without fetching
/// (like `git ls-remote`). A full SHA is returned as is: it cannot move.
pub fn remote_head(spec: &RepoSpec) -> Result<String, SourceError> {
    let url = RemoteUrl::parse(&spec.url)?;
    if let Some(sha) = full_sha(&spec.reference) {
        return Ok(sha.to_string());
    }
    init_network_timeouts(spec.timeout);
    let auth = Auth::new(&url, &spec.credentials)?;
    let found = resolve_ref(&list_remote(&url, &auth)?, &spec.reference)
        .map_err(|why| unresolved(&url, spec, why))?;
    Ok(found.commit.to_string())
}

/// Every ref the remote of `spec` advertises (one round trip; blocking).
pub(super) fn list_remote_blocking(spec: &RepoSpec) -> Result<Vec<Advertised>, SourceError> {
    let url = RemoteUrl::parse(&spec.url)?;
    init_network_timeouts(spec.timeout);
    let auth = Auth::new(&url, &spec.credentials)?;
    list_remote(&url, &auth)
}

/// The commit `spec.reference` points to in a listing of its remote.
pub(super) fn resolve_advertised(
    spec: &RepoSpec,
    heads: &[Advertised],
) -> Result<String, SourceError> {
    let url = RemoteUrl::parse(&spec.url)?;
    resolve_ref(heads, &spec.reference)
        .map(|found| found.commit.to_string())
        .map_err(|why| unresolved(&url, spec, why))
}

/// Fetches `spec` into the cache under `cache_dir` and reads the files `sel` selects from the
/// commit's tree.
pub fn fetch(spec: &RepoSpec, cache_dir: &Path, sel: &Selection) -> Result<Snapshot, SourceError> {
    fetch_watched(spec, cache_dir, sel, &Activity::new())
}

/// [`fetch`], telling `activity` whenever the server sends something.
///
/// The ref is resolved (one network round trip) before the cache lock is taken; the lock is
/// held only while writing into the cache, and waited for at most `spec.timeout`, so a silent
/// server delays other apps of the same repository by at most that, and those of other
/// repositories not at all.
fn fetch_watched(
    spec: &RepoSpec,
    cache_dir: &Path,
    sel: &Selection,
    activity: &Activity,
) -> Result<Snapshot, SourceError> {
    let url = RemoteUrl::parse(&spec.url)?;
    init_network_timeouts(spec.timeout);
    let dir = cache_path(cache_dir, &spec.url);
    let wanted = match full_sha(&spec.reference) {
        Some(sha) => Wanted::Commit(sha),
        None => {
            let auth = Auth::new(&url, &spec.credentials)?;
            let found = resolve_ref(&list_remote(&url, &auth)?, &spec.reference)
                .map_err(|why| unresolved(&url, spec, why))?;
            activity.touch();
            Wanted::Ref(found)
        }
    };
    let lock = cache_lock(&dir);
    let _held = lock
        .acquire(spec.timeout)
        .ok_or_else(|| SourceError::CacheBusy {
            url: url.redacted.clone(),
            after: seconds(spec.timeout),
        })?;
    activity.touch();
    let repo = open_cache(&dir)?;
    let fetch = Fetch {
        repo: &repo,
        url: &url,
        spec,
        activity,
    };
    let oid = match wanted {
        Wanted::Commit(sha) => fetch.commit(sha)?,
        Wanted::Ref(found) => fetch.resolved(found)?,
    };
    let commit = repo.find_commit(oid).map_err(|source| SourceError::Cache {
        path: dir.clone(),
        source,
    })?;
    snapshot(&repo, &commit, sel)
}

/// What to fetch: a commit by id, or a ref already resolved on the remote.
enum Wanted<'a> {
    Commit(&'a str),
    Ref(Resolved),
}

/// [`remote_head`] on tokio's blocking pool (libgit2 blocks on the network), given up after
/// `spec.timeout` without an answer.
pub async fn remote_head_async(spec: RepoSpec) -> Result<String, SourceError> {
    let watch = Watch::new(&spec, "ls-remote");
    watch
        .run(Activity::new(), move |_| remote_head(&spec))
        .await
}

/// [`fetch`] on tokio's blocking pool, given up after `spec.timeout` in which the server sent
/// nothing (a large repository that keeps sending is not cut short).
pub async fn fetch_async(
    spec: RepoSpec,
    cache_dir: PathBuf,
    sel: Selection,
) -> Result<Snapshot, SourceError> {
    let watch = Watch::new(&spec, "fetch");
    watch
        .run(Activity::new(), move |activity| {
            fetch_watched(&spec, &cache_dir, &sel, &activity)
        })
        .await
}

/// Where the cache of `url` lives. Keyed by the URL without its password, so rotating a
/// password keeps the cache.
pub fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    let key = RemoteUrl::parse(url)
        .map(|u| u.redacted)
        .unwrap_or_else(|_| url.to_string());
    let digest = Sha256::digest(key.trim().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    cache_dir.join("repos").join(hex)
}

/// One lock per cache repository in this process: two apps on the same repo must not write
/// into it at once (libgit2 would fail on the ref lock files). Waiting for it is bounded, so a
/// writer stuck on a silent server makes the others fail instead of hang.
pub(super) fn cache_lock(dir: &Path) -> Arc<CacheLock> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<CacheLock>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(dir.to_path_buf()).or_default().clone()
}

#[derive(Debug, Default)]
pub(super) struct CacheLock {
    busy: Mutex<bool>,
    freed: Condvar,
}

impl CacheLock {
    /// The lock, or None when another writer still holds it after `within`.
    pub(super) fn acquire(&self, within: Duration) -> Option<CacheGuard<'_>> {
        // A poisoned lock only means another fetch panicked; the repository is still valid.
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let (mut busy, _) = self
            .freed
            .wait_timeout_while(busy, within, |busy| *busy)
            .unwrap_or_else(|p| p.into_inner());
        if *busy {
            return None;
        }
        *busy = true;
        Some(CacheGuard(self))
    }
}

pub(super) struct CacheGuard<'a>(&'a CacheLock);

impl Drop for CacheGuard<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.freed.notify_one();
    }
}

/// Opens the cache, creating it on first use. The cache holds nothing that cannot be fetched
/// again, so a damaged one is replaced rather than reported.
pub(super) fn open_cache(dir: &Path) -> Result<Repository, SourceError> {
    let cache_err = |source| SourceError::Cache {
        path: dir.to_path_buf(),
        source,
    };
    if dir.exists() {
        if let Ok(repo) = Repository::open_bare(dir) {
            return Ok(repo);
        }
        std::fs::remove_dir_all(dir).map_err(|e| SourceError::io(dir, e))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SourceError::io(parent, e))?;
    }
    Repository::init_bare(dir).map_err(cache_err)
}

pub(super) fn list_remote(url: &RemoteUrl, auth: &Auth) -> Result<Vec<Advertised>, SourceError> {
    let git_err = |source| SourceError::Git {
        url: url.redacted.clone(),
        action: "ls-remote",
        source,
    };
    let mut remote = Remote::create_detached(url.raw.as_str()).map_err(git_err)?;
    let conn = remote
        .connect_auth(Direction::Fetch, Some(auth.callbacks()), None)
        .map_err(|e| network_error(url, auth, e, "ls-remote"))?;
    let heads = conn.list().map_err(git_err)?;
    Ok(heads
        .iter()
        .map(|h| Advertised {
            name: h.name().to_string(),
            oid: h.oid(),
            symref: h.symref_target().map(str::to_string),
        })
        .collect())
}

/// A libgit2 socket timeout becomes the timeout error (it names the bound and what to do);
/// anything else is explained by what the credential callbacks saw.
fn network_error(
    url: &RemoteUrl,
    auth: &Auth,
    err: git2::Error,
    action: &'static str,
) -> SourceError {
    if err.code() == ErrorCode::Timeout {
        return SourceError::Timeout {
            url: url.redacted.clone(),
            action,
            after: seconds(init_network_timeouts(git_timeout())),
        };
    }
    auth.explain(err, action)
}

/// `refs/heads/main` → `refs/ordo/heads/main`: our own namespace in the cache.
pub(super) fn local_ref(remote_ref: &str) -> String {
    format!(
        "refs/ordo/{}",
        remote_ref.strip_prefix("refs/").unwrap_or(remote_ref)
    )
}

/// One fetch into the cache, with the cache lock held.
pub(super) struct Fetch<'a> {
    pub repo: &'a Repository,
    pub url: &'a RemoteUrl,
    pub spec: &'a RepoSpec,
    pub activity: &'a Activity,
}

impl Fetch<'_> {
    /// The commit a ref resolved to, downloaded unless the cache has it already.
    fn resolved(&self, found: Resolved) -> Result<Oid, SourceError> {
        let (repo, url) = (self.repo, self.url);
        let local = local_ref(&found.name);
        if repo.find_commit(found.commit).is_ok() {
            // Already fetched (a revert, or another branch at the same commit): no download.
            pin(repo, &local, found.commit)?;
            return Ok(found.commit);
        }
        let auth = Auth::new(url, &self.spec.credentials)?;
        self.download(&auth, &[format!("+{}:{local}", found.name)], Depth::Shallow)?;
        repo.find_reference(&local)
            .and_then(|r| r.peel_to_commit())
            .map(|c| c.id())
            // The ref vanished between the listing and the fetch.
            .map_err(|_| ref_not_found(url, self.spec))
    }

    fn commit(&self, sha: &str) -> Result<Oid, SourceError> {
        let (repo, url) = (self.repo, self.url);
        let oid = Oid::from_str(sha).map_err(|_| ref_not_found(url, self.spec))?;
        let pinned = format!("refs/ordo/commits/{sha}");
        if repo.find_commit(oid).is_ok() {
            pin(repo, &pinned, oid)?;
            return Ok(oid);
        }
        let auth = Auth::new(url, &self.spec.credentials)?;
        // A ref the last shared listing saw at this commit (the agent asks for the head it just
        // listed): fetched by name, shallow, which every server allows.
        if let Some(name) = super::heads::latest(self.spec)
            .and_then(|refs| refs.iter().find(|r| r.oid == oid).map(|r| r.name.clone()))
            .filter(|name| name.starts_with("refs/"))
        {
            let local = local_ref(&name);
            self.download(&auth, &[format!("+{name}:{local}")], Depth::Shallow)?;
            if repo.find_commit(oid).is_ok() {
                pin(repo, &pinned, oid)?;
                return Ok(oid);
            }
        }
        // Servers that allow fetching a reachable commit by id (GitHub, GitLab) send just that
        // one.
        if url.transport != Transport::Local {
            match self.download(&auth, &[format!("+{sha}:{pinned}")], Depth::Shallow) {
                Ok(()) if repo.find_commit(oid).is_ok() => return Ok(oid),
                Err(e)
                    if Auth::is_fatal(&e)
                        || matches!(
                            e,
                            SourceError::Timeout { .. } | SourceError::FetchTooLarge { .. }
                        ) =>
                {
                    return Err(e);
                }
                _ => {}
            }
        }
        // Others (plain `git http-backend`, the local transport) only serve advertised refs:
        // take every branch and tag with full history and look for the commit there.
        let all = [
            "+refs/heads/*:refs/ordo/heads/*",
            "+refs/tags/*:refs/ordo/tags/*",
        ]
        .map(String::from);
        self.download(&auth, &all, Depth::Full)?;
        if repo.find_commit(oid).is_err() {
            return Err(SourceError::CommitNotFound {
                url: url.redacted.clone(),
                sha: sha.to_string(),
            });
        }
        pin(repo, &pinned, oid)?;
        Ok(oid)
    }

    pub(super) fn download(
        &self,
        auth: &Auth,
        refspecs: &[String],
        depth: Depth,
    ) -> Result<(), SourceError> {
        let depth = match depth {
            // libgit2's local transport refuses any depth; a local clone is cheap anyway.
            Depth::Shallow if self.url.transport == Transport::Local => 0,
            Depth::Shallow => 1,
            Depth::Full if self.repo.is_shallow() => DEPTH_UNSHALLOW,
            Depth::Full => 0,
        };
        let result = self.download_once(auth, refspecs, depth);
        match result {
            // A server or transport without shallow support: fall back to a full fetch.
            Err(SourceError::Git { ref source, .. })
                if depth == 1 && source.raw_code() == GIT_ENOTSUPPORTED =>
            {
                self.download_once(auth, refspecs, 0)
            }
            other => other,
        }
    }

    fn download_once(
        &self,
        auth: &Auth,
        refspecs: &[String],
        depth: i32,
    ) -> Result<(), SourceError> {
        let url = self.url;
        let mut remote = self
            .repo
            .remote_anonymous(url.raw.as_str())
            .map_err(|source| SourceError::Git {
                url: url.redacted.clone(),
                action: "fetch",
                source,
            })?;
        let mut callbacks = auth.callbacks();
        let limit = self.spec.max_fetch_bytes;
        let over = std::cell::Cell::new(false);
        // Every packet the server sends tells the watchdog it is alive; one past the bound
        // stops the download (libgit2 aborts when the callback says no).
        callbacks.transfer_progress(|stats| {
            self.activity.touch();
            over.set(stats.received_bytes() as u64 > limit);
            !over.get()
        });
        callbacks.sideband_progress(|_| {
            self.activity.touch();
            true
        });
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks)
            .download_tags(AutotagOption::None)
            .prune(FetchPrune::Off)
            .update_fetchhead(false)
            .depth(depth);
        let fetched = remote.fetch(refspecs, Some(&mut opts), Some("ordo: fetch"));
        if over.get() {
            return Err(SourceError::FetchTooLarge {
                url: url.redacted.clone(),
                limit: shown(limit),
                env: GIT_MAX_FETCH_BYTES_ENV,
            });
        }
        fetched.map_err(|e| network_error(url, auth, e, "fetch"))
    }
}

/// Points our ref at `oid`, so the commit a snapshot came from stays reachable in the cache.
fn pin(repo: &Repository, name: &str, oid: Oid) -> Result<(), SourceError> {
    repo.reference(name, oid, true, "ordo: pin")
        .map(|_| ())
        .map_err(|source| SourceError::Cache {
            path: repo.path().to_path_buf(),
            source,
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Depth {
    /// Only the tip commit: manifests need no history.
    Shallow,
    /// Everything reachable, unshallowing the cache if needed.
    Full,
}

/// A full commit id (abbreviations are ambiguous and cannot be fetched by id).
pub(super) fn full_sha(reference: &str) -> Option<&str> {
    let r = reference.trim();
    (r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit())).then_some(r)
}

pub(super) fn unresolved(url: &RemoteUrl, spec: &RepoSpec, why: Unresolved) -> SourceError {
    match why {
        Unresolved::NotFound => ref_not_found(url, spec),
        Unresolved::Ambiguous => SourceError::AmbiguousRef {
            url: url.redacted.clone(),
            reference: spec.reference.trim().to_string(),
        },
    }
}

fn ref_not_found(url: &RemoteUrl, spec: &RepoSpec) -> SourceError {
    SourceError::RefNotFound {
        url: url.redacted.clone(),
        reference: spec.reference.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sha_needs_forty_hex_digits() {
        assert!(full_sha(&"a".repeat(40)).is_some());
        assert!(full_sha("abc1234").is_none());
        assert!(full_sha(&"g".repeat(40)).is_none());
    }

    #[test]
    fn cache_path_ignores_the_password() {
        let dir = Path::new("/cache");
        assert_eq!(
            cache_path(dir, "https://u:one@h/r.git"),
            cache_path(dir, "https://u:two@h/r.git")
        );
        assert_ne!(
            cache_path(dir, "https://h/a.git"),
            cache_path(dir, "https://h/b.git")
        );
    }

    #[test]
    fn local_refs_live_under_our_namespace() {
        assert_eq!(local_ref("refs/heads/main"), "refs/ordo/heads/main");
        assert_eq!(local_ref("HEAD"), "refs/ordo/HEAD");
    }
}
