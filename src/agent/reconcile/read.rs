//! Reading one revision for a sync, through the pass every `ordo sync` runs too: fetched (by
//! commit, see source/heads.rs), rendered and planned, unless its inputs are those the
//! cluster already holds.

use super::App;
use crate::pass::{self, PassError, Planned};
use crate::source::{self, CommitInfo};

/// A revision as read: its commit, its plan or why it cannot be applied
/// ([`Planned::Unchanged`] when its inputs equal those given as unchanged), and the digest
/// of its inputs.
pub(super) struct Read {
    pub commit: CommitInfo,
    pub planned: Result<Planned, PassError>,
    pub inputs: pass::Inputs,
}

impl App {
    /// Fetches, renders and plans one revision: its commit, and its plan or why it cannot be
    /// applied. `Err` when git could not be read: never the commit's fault.
    pub(super) async fn read_revision(
        &mut self,
        target: &str,
        unchanged: Option<pass::Inputs>,
    ) -> Result<Read, PassError> {
        // By commit: the other apps of the repository fetched it already, or the shared
        // listing names the ref to fetch it by (see source/heads.rs).
        let asked = std::time::Instant::now();
        let revision = self
            .ctx
            .reader
            .read(&self.spec, Some(target), unchanged)
            .await;
        let seconds = asked.elapsed().as_secs_f64();
        self.ctx
            .metrics
            .git_fetch(&self.config.name, revision.is_ok(), seconds);
        let mut revision = revision?;
        if let Some(refused) = self.refuse_non_fast_forward(revision.commit.as_ref()).await {
            revision.planned = Err(refused);
        }
        let commit = revision.commit.clone().unwrap_or_else(|| CommitInfo {
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
            planned: revision.planned,
            inputs: revision.inputs,
        })
    }

    /// With `verify` on, a head that does not descend from the revision last applied is
    /// refused (a replayed old signed commit, a rewritten history) unless
    /// `verify.allowNonFastForward` (issue #23). A pinned revision (a rollback) is not the
    /// head: the operator or the rollback chose it.
    async fn refuse_non_fast_forward(&self, commit: Option<&CommitInfo>) -> Option<PassError> {
        self.config
            .verify
            .as_ref()
            .filter(|v| !v.allow_non_fast_forward)?;
        let to = commit?.sha.clone();
        let from = {
            let s = self.state.borrow();
            if s.head.as_deref() != Some(to.as_str()) {
                return None;
            }
            let applied = self.applied.as_ref().map(|c| c.sha.clone());
            applied.or_else(|| s.persisted.last_healthy.clone())?
        };
        let (spec, cache) = (self.config.repo_spec(), self.ctx.cache_dir.clone());
        match source::ancestry_async(spec, cache, from.clone(), to.clone()).await {
            Ok(source::Ancestry::FastForward) => None,
            Ok(source::Ancestry::Diverged) => Some(PassError::commit(
                pass::Stage::Signature,
                source::non_fast_forward_refusal(&self.config.name, &from, &to),
            )),
            Err(e) => Some(PassError::new(
                pass::Stage::Fetch,
                pass::transient_or_lasting(e.is_transient()),
                format!("source: cannot tell whether {to} descends from {from}: {e}"),
            )),
        }
    }
}
