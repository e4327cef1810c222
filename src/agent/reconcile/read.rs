//! Reading one revision for a sync: fetched (by commit, see source/heads.rs), rendered and
//! planned off the async threads, unless its inputs are those the cluster already holds.

use super::App;
use crate::agent::decide::NoPlan;
use crate::agent::hash_key::KeyError;
use crate::agent::revision;
use crate::plan::Plan;
use crate::source::{self, CommitInfo};

/// A revision as read: its commit, its plan or why it cannot be applied (None when its
/// inputs equal those given as unchanged), and the digest of its inputs.
pub(super) struct Read {
    pub commit: CommitInfo,
    pub plan: Option<Result<Plan, NoPlan>>,
    pub inputs: revision::Inputs,
    /// What the revision's SOPS files decrypted to (see `SyncOptions::redact`).
    pub secrets: std::sync::Arc<crate::render::Secrets>,
}

impl App {
    /// Fetches, renders and plans one revision: its commit, and its plan or why it cannot be
    /// applied. `Err` when git or the config-hash key could not be read: never the commit's
    /// fault, and marked transient when it may pass by itself.
    pub(super) async fn read_revision(
        &mut self,
        target: &str,
        unchanged: Option<revision::Inputs>,
    ) -> Result<Read, NoPlan> {
        // No key, no sync: see hash_key.rs for why there is no fallback.
        let key = self
            .hash_keys
            .get(&self.cluster, &self.config.namespace)
            .await
            .map_err(|e| NoPlan {
                message: e.to_string(),
                transient: matches!(&e, KeyError::Cluster { source, .. } if source.is_transient()),
            })?;
        // By commit: the other apps of the repository fetched it already, or the shared
        // listing names the ref to fetch it by (see source/heads.rs).
        let mut spec = self.config.repo_spec();
        spec.reference = target.to_owned();
        let asked = std::time::Instant::now();
        let capabilities = self
            .capabilities
            .get(&self.cluster, &self.config.name)
            .await;
        let config = self.config.clone();
        let renderer = self.renderer.clone();
        let cache_dir = self.cache_dir.clone();
        let own = self.hash_keys.namespace_for(&self.config.namespace);
        let secret = revision::age_secret(&self.config, &self.cluster, own);
        let inputs = (capabilities, key, secret);
        let revision = revision::load(spec, cache_dir, config, renderer, inputs, unchanged).await;
        let seconds = asked.elapsed().as_secs_f64();
        self.metrics
            .git_fetch(&self.config.name, revision.is_ok(), seconds);
        let mut revision = revision.map_err(|e| NoPlan {
            message: format!("source: {e}"),
            transient: e.is_transient(),
        })?;
        if let Some(refused) = self.refuse_non_fast_forward(&revision.snapshot).await {
            revision.plan = Some(Err(refused));
        }
        let commit = revision
            .snapshot
            .commit
            .clone()
            .unwrap_or_else(|| CommitInfo {
                sha: target.to_owned(),
                message: String::new(),
                author: String::new(),
                time: 0,
            });
        let kind = revision.kind.to_string();
        let signature = revision.signature.clone();
        self.update(|s| (s.source_kind, s.signature) = (Some(kind), signature));
        Ok(Read {
            commit,
            plan: revision.plan,
            inputs: revision.inputs,
            secrets: revision.secrets,
        })
    }

    /// With `verify` on, a head that does not descend from the revision last applied is
    /// refused (a replayed old signed commit, a rewritten history) unless
    /// `verify.allowNonFastForward` (issue #23). A pinned revision (a rollback) is not the
    /// head: the operator or the rollback chose it.
    async fn refuse_non_fast_forward(&self, snapshot: &source::Snapshot) -> Option<NoPlan> {
        self.config
            .verify
            .as_ref()
            .filter(|v| !v.allow_non_fast_forward)?;
        let to = snapshot.commit.as_ref()?.sha.clone();
        let from = {
            let s = self.state.borrow();
            if s.head.as_deref() != Some(to.as_str()) {
                return None;
            }
            let applied = self.applied.as_ref().map(|c| c.sha.clone());
            applied.or_else(|| s.persisted.last_healthy.clone())?
        };
        let (spec, cache) = (self.config.repo_spec(), self.cache_dir.clone());
        match source::ancestry_async(spec, cache, from.clone(), to.clone()).await {
            Ok(source::Ancestry::FastForward) => None,
            Ok(source::Ancestry::Diverged) => Some(NoPlan::bad_commit(
                source::non_fast_forward_refusal(&self.config.name, &from, &to),
            )),
            Err(e) => Some(NoPlan {
                message: format!("source: cannot tell whether {to} descends from {from}: {e}"),
                transient: e.is_transient(),
            }),
        }
    }
}
