//! One `ls-remote` per repository however many apps follow it. Every app asks "where is my
//! ref now?" at its own interval; the answer (all refs the remote advertises) is shared by
//! every app of the same repository and credentials while it is fresh enough for the asker,
//! and only one asker goes to the network at a time: a thousand apps on one repository cost
//! one round trip per interval, and a repository that never answers costs its apps one
//! timeout, not one each. Fetches look here first, so a new commit is fetched by its branch
//! (shallow) without listing the remote again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::git::{list_remote_blocking, resolve_advertised};
use super::refs::Advertised;
use super::timeout::{Activity, Watch};
use super::{RepoSpec, SourceError};

/// What one listing of a remote said, and when it was asked.
struct Answer {
    asked: Instant,
    refs: Result<Arc<Vec<Advertised>>, Arc<SourceError>>,
}

/// The latest answer per repository (and credentials), behind a lock held by the one asker
/// that is at the network; and how many times the network was asked.
type Slot = Arc<tokio::sync::Mutex<Latest>>;

#[derive(Default)]
struct Latest {
    answer: Option<Answer>,
    asked: u64,
}

fn slots() -> &'static Mutex<HashMap<[u8; 32], Slot>> {
    static SLOTS: OnceLock<Mutex<HashMap<[u8; 32], Slot>>> = OnceLock::new();
    SLOTS.get_or_init(Mutex::default)
}

/// Apps share an answer only when they would have asked the same server the same way: same
/// URL (password aside) and same credentials. Hashed so no credential text is kept.
fn key(spec: &RepoSpec) -> [u8; 32] {
    let url = super::without_user_info(&spec.url);
    let seen = format!("{url}\n{:?}", spec.credentials);
    Sha256::digest(seen.as_bytes()).into()
}

fn slot(spec: &RepoSpec) -> Slot {
    let mut slots = slots().lock().unwrap_or_else(|p| p.into_inner());
    slots.entry(key(spec)).or_default().clone()
}

/// The commit `spec.reference` points to, from an answer asked at or after `since` (one is
/// asked when there is none; askers arriving meanwhile wait for it). A full SHA is returned as
/// is. Errors are shared like answers: a silent server is waited on once per `since`.
pub async fn remote_head_since(spec: RepoSpec, since: Instant) -> Result<String, SourceError> {
    if let Some(sha) = super::git::full_sha(&spec.reference) {
        return Ok(sha.to_owned());
    }
    let slot = slot(&spec);
    let mut latest = slot.lock().await;
    let fresh = latest.answer.as_ref().is_some_and(|a| a.asked >= since);
    if !fresh {
        latest.asked += 1;
        let asked = Instant::now();
        let listing = spec.clone();
        let refs = Watch::new(&spec, "ls-remote")
            .run(Activity::new(), move |_| list_remote_blocking(&listing))
            .await
            .map(Arc::new)
            .map_err(Arc::new);
        latest.answer = Some(Answer { asked, refs });
    }
    let Some(answer) = latest.answer.as_ref() else {
        return Err(SourceError::Task("no ls-remote answer".into()));
    };
    match &answer.refs {
        Ok(refs) => resolve_advertised(&spec, refs),
        Err(e) => Err(SourceError::Shared(e.clone())),
    }
}

/// The refs last listed for `spec`'s repository, if an answer is there and nobody is asking
/// again right now (never waits: callers are on blocking threads).
pub(super) fn latest(spec: &RepoSpec) -> Option<Arc<Vec<Advertised>>> {
    let slot = slot(spec);
    let latest = slot.try_lock().ok()?;
    latest.answer.as_ref()?.refs.as_ref().ok().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Credentials;

    /// A repository with one commit on main, in a directory of its own.
    fn repository(dir: &std::path::Path) -> String {
        let repo = git2::Repository::init(dir).unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let who = git2::Signature::now("t", "t@example.com").unwrap();
        let commit = repo
            .commit(Some("refs/heads/main"), &who, &who, "one", &tree, &[])
            .unwrap();
        commit.to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_apps_asking_at_once_cost_one_listing_and_a_later_pass_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let head = repository(dir.path());
        let spec = RepoSpec::new(dir.path().display().to_string(), "main");
        let since = Instant::now();
        let asks = (0..20).map(|_| remote_head_since(spec.clone(), since));
        for answer in futures::future::join_all(asks).await {
            assert_eq!(answer.unwrap(), head);
        }
        let asked = || async { slot(&spec).lock().await.asked };
        assert_eq!(asked().await, 1, "twenty askers, one ls-remote");
        // Fresh enough for a routine pass: no new listing.
        remote_head_since(spec.clone(), since).await.unwrap();
        assert_eq!(asked().await, 1);
        // Someone wants an answer from after now (a webhook, "Sync now"): one more.
        remote_head_since(spec.clone(), Instant::now())
            .await
            .unwrap();
        assert_eq!(asked().await, 2);
        // Another ref of the same repository reads the same answer.
        let other = RepoSpec::new(dir.path().display().to_string(), "nope");
        let missing = remote_head_since(other, since).await.unwrap_err();
        assert!(
            missing.to_string().contains("'nope' not found"),
            "{missing}"
        );
        assert_eq!(asked().await, 2);
    }

    #[test]
    fn apps_share_an_answer_only_with_the_same_url_and_credentials() {
        let a = RepoSpec::new("https://user:one@git.example/shop.git", "main");
        let mut b = RepoSpec::new("https://user:two@git.example/shop.git", "prod");
        assert_eq!(
            key(&a),
            key(&b),
            "the password in the URL and the ref do not matter"
        );
        b.credentials = Credentials {
            username: Some("deploy".into()),
            ..Credentials::default()
        };
        assert_ne!(key(&a), key(&b));
        let c = RepoSpec::new("https://git.example/other.git", "main");
        assert_ne!(key(&a), key(&c));
    }
}
