//! Does a new head descend from the commit last applied? With signature verification on, a
//! head that moves backwards or sideways would let whoever may push replay an old signed
//! commit (one with a known hole) or a signed commit of another branch (issue #23): the agent
//! asks here before it applies a head, and refuses one that is not a fast-forward.
//!
//! The cache is shallow (a fetch takes only the tip), so a "no" from a shallow cache is not
//! trusted: the ref's history is fetched in full once and the question asked again.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::credentials::Auth;
use super::git::{
    Depth, Fetch, cache_lock, cache_path, full_sha, list_remote, local_ref, open_cache, unresolved,
};
use super::refs::resolve_ref;
use super::remote_url::RemoteUrl;
use super::timeout::{Activity, Watch, init_network_timeouts, seconds};
use super::{RepoSpec, SourceError};

/// How `to` relates to `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancestry {
    /// `to` is `from` or a descendant of it: the head moved forward.
    FastForward,
    /// `to` is an ancestor of `from` (the head moved back), or on another line of history
    /// (rewritten, or another branch's commit).
    Diverged,
}

/// Whether `to` descends from `from` in `spec`'s repository. `spec.reference` names the ref
/// `to` came from (a branch or tag): its full history is fetched into the cache when the
/// shallow cache cannot tell. Both commits must be full SHAs. Blocking.
pub fn ancestry(
    spec: &RepoSpec,
    cache_dir: &Path,
    from: &str,
    to: &str,
) -> Result<Ancestry, SourceError> {
    ancestry_watched(spec, cache_dir, from, to, &Activity::new())
}

/// [`ancestry`] on tokio's blocking pool, given up after `spec.timeout` of silence.
pub async fn ancestry_async(
    spec: RepoSpec,
    cache_dir: PathBuf,
    from: String,
    to: String,
) -> Result<Ancestry, SourceError> {
    let watch = Watch::new(&spec, "fetch");
    watch
        .run(Activity::new(), move |activity| {
            ancestry_watched(&spec, &cache_dir, &from, &to, &activity)
        })
        .await
}

fn ancestry_watched(
    spec: &RepoSpec,
    cache_dir: &Path,
    from: &str,
    to: &str,
    activity: &Activity,
) -> Result<Ancestry, SourceError> {
    if from == to {
        return Ok(Ancestry::FastForward);
    }
    let url = RemoteUrl::parse(&spec.url)?;
    let commit_id = |sha: &str| {
        full_sha(sha)
            .and_then(|s| Oid::from_str(s).ok())
            .ok_or_else(|| SourceError::RefNotFound {
                url: url.redacted.clone(),
                reference: sha.to_string(),
            })
    };
    let (from, to) = (commit_id(from)?, commit_id(to)?);
    let dir = cache_path(cache_dir, &spec.url);
    let lock = cache_lock(&dir);
    let _held = lock
        .acquire(spec.timeout)
        .ok_or_else(|| SourceError::CacheBusy {
            url: url.redacted.clone(),
            after: seconds(spec.timeout),
        })?;
    let repo = open_cache(&dir)?;
    if let Some(known) = known(&repo, from, to) {
        return Ok(known);
    }
    // A shallow cache (or one that never held `from`) cannot tell: fetch the ref's history.
    init_network_timeouts(spec.timeout);
    let auth = Auth::new(&url, &spec.credentials)?;
    let found = resolve_ref(&list_remote(&url, &auth)?, &spec.reference)
        .map_err(|why| unresolved(&url, spec, why))?;
    activity.touch();
    let fetch = Fetch {
        repo: &repo,
        url: &url,
        spec,
        activity,
    };
    let refspec = format!("+{}:{}", found.name, local_ref(&found.name));
    fetch.download(&auth, &[refspec], Depth::Full)?;
    Ok(known(&repo, from, to).unwrap_or(Ancestry::Diverged))
}

/// What the cache can tell for sure: a fast-forward when `from` is reachable from `to`;
/// diverged only when the cache holds the whole history of `to` (not shallow) and `from` is
/// not in it. `None`: ask the remote for more history.
fn known(repo: &Repository, from: Oid, to: Oid) -> Option<Ancestry> {
    let both = repo.find_commit(from).is_ok() && repo.find_commit(to).is_ok();
    if both && repo.graph_descendant_of(to, from).unwrap_or(false) {
        return Some(Ancestry::FastForward);
    }
    (!repo.is_shallow() && repo.find_commit(to).is_ok()).then_some(Ancestry::Diverged)
}

/// Why a head that does not descend from the applied revision is refused, and what to do:
/// the message an app's status and history show.
pub fn non_fast_forward_refusal(app: &str, applied: &str, head: &str) -> String {
    format!(
        "app '{app}': the head moved from {applied} (applied) to {head}, which does not \
         descend from it: history was rewritten, or an older or another branch's commit was \
         pushed; refused because the app verifies signatures and a signed old commit must not \
         be replayed. Push a commit on top of {applied}, or set `verify.allowNonFastForward: \
         true` for this app if the rewrite is intended"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_rewrite_names_the_app_both_commits_and_the_way_out() {
        let text = non_fast_forward_refusal("shop", &"a".repeat(40), &"b".repeat(40));
        assert!(text.starts_with("app 'shop': "), "{text}");
        assert!(
            text.contains(&format!(
                "from {} (applied) to {}",
                "a".repeat(40),
                "b".repeat(40)
            )),
            "{text}"
        );
        assert!(
            text.contains("Push a commit on top of")
                && text.contains("verify.allowNonFastForward: true"),
            "{text}"
        );
    }
}
