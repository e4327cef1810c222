//! Garbage collection of the git cache: a repository no configured app uses any more (an app
//! removed, its `repo` changed) is deleted from `<cache>/repos`, at start and every hour.
//! Without it the cache only grows, and an old repository (with whatever it held) stays on
//! disk for good (issue #23).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::SourceError;
use super::git::{cache_lock, cache_path};

/// How often a running agent collects.
pub const GIT_CACHE_GC_INTERVAL: Duration = Duration::from_secs(3600);

/// Removes every repository under `<cache_dir>/repos` that none of `urls` maps to
/// ([`cache_path`]); returns what was removed. Only entries named like a cache key (64 hex
/// digits) are touched, and one being fetched right now (its lock held) is left for the next
/// round.
pub fn collect_garbage(cache_dir: &Path, urls: &[String]) -> Result<Vec<PathBuf>, SourceError> {
    let repos = cache_dir.join("repos");
    let entries = match std::fs::read_dir(&repos) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SourceError::io(&repos, e)),
    };
    let used: HashSet<PathBuf> = urls.iter().map(|u| cache_path(cache_dir, u)).collect();
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| SourceError::io(&repos, e))?.path();
        let is_key = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        if !is_key || used.contains(&path) {
            continue;
        }
        let lock = cache_lock(&path);
        let Some(_held) = lock.acquire(Duration::ZERO) else {
            continue;
        };
        std::fs::remove_dir_all(&path).map_err(|e| SourceError::io(&path, e))?;
        removed.push(path);
    }
    Ok(removed)
}

/// [`collect_garbage`] now and every [`GIT_CACHE_GC_INTERVAL`] until `stop` turns true, off
/// the async threads; what it removes and why it could not are logged.
pub async fn collect_garbage_until(
    cache_dir: PathBuf,
    urls: Vec<String>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (dir, keep) = (cache_dir.clone(), urls.clone());
        match tokio::task::spawn_blocking(move || collect_garbage(&dir, &keep)).await {
            Ok(Ok(removed)) => {
                for path in removed {
                    tracing::info!(path = %path.display(), "git cache: removed a repository no app uses");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "git cache: garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "git cache: garbage collection did not finish"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(GIT_CACHE_GC_INTERVAL) => {}
        }
    }
}
