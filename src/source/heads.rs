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

use super::git::{Advertised, list_remote_blocking, resolve_advertised};
use super::timeout::{Activity, Watch};
use super::{RepoSpec, SourceError};

/// What one listing of a remote said, and when it was asked.
struct Answer {
    asked: Instant,
    refs: Result<Arc<Vec<Advertised>>, Arc<SourceError>>,
}

/// The latest answer per repository (and credentials), behind a lock held by the one asker
/// that is at the network.
type Slot = Arc<tokio::sync::Mutex<Option<Answer>>>;

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
    let mut answer = slot.lock().await;
    let fresh = answer.as_ref().is_some_and(|a| a.asked >= since);
    if !fresh {
        let asked = Instant::now();
        let listing = spec.clone();
        let refs = Watch::new(&spec, "ls-remote")
            .run(Activity::new(), move |_| list_remote_blocking(&listing))
            .await
            .map(Arc::new)
            .map_err(Arc::new);
        *answer = Some(Answer { asked, refs });
    }
    let Some(answer) = answer.as_ref() else {
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
    let answer = slot.try_lock().ok()?;
    answer.as_ref()?.refs.as_ref().ok().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Credentials;

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
