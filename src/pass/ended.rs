//! How a pass ended, in one vocabulary: the end of a sync (`ordo sync` and the agent run the
//! same [`sync`]), of a read that stopped before anything was applied ([`not_applied`]),
//! and what the agent's history, metrics and notifications record of either.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::error::{Fault, PassError};
use crate::cluster::Cluster;
use crate::plan::Plan;
use crate::sync::{self, Fingerprints, Outcome, Reporter, SyncError, SyncOptions, SyncReport};

/// How a pass ended: the one vocabulary of the CLI's exit code, the agent's decisions (retry, roll back, mark the
/// revision failed), its history, the `result` label of `ordo_app_sync_total` and the
/// notifications' `result`. The history and the metric record [`Ended::recorded`]: the five
/// values ordo has always stored and counted, which every version reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ended {
    Succeeded,
    /// Something ended Degraded, Blocked or refused after the first write.
    Failed,
    /// An object did not turn Healthy within the app's timeout.
    TimedOut,
    /// A newer revision arrived while it ran: its own sync says how it went.
    Superseded,
    /// A write failed after the dry run accepted everything (or an error came after the first
    /// write): partly applied, not the commit's fault, tried again with a growing delay.
    Interrupted,
    /// Refused before any write (a bad commit, an invalid object): nothing to roll back.
    /// Recorded as `Failed`.
    Rejected,
    /// ordo is shutting down. Recorded as `Superseded`.
    Stopped,
    /// The cluster or git could not be reached, for a reason that is not going to pass by
    /// itself: tried at the next interval. Not recorded.
    Retry,
    /// Not read or not planned for a reason that is not the commit's and may pass (a full
    /// disk, a tool's timeout, a chart repository's or git server's 5xx, an unreadable key
    /// Secret): nothing was written; tried again with a growing delay, not marked failed,
    /// not rolled back from. Not recorded.
    Transient,
}

impl Ended {
    /// The label value of metrics and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Succeeded => "Succeeded",
            Ended::Failed => "Failed",
            Ended::TimedOut => "TimedOut",
            Ended::Superseded => "Superseded",
            Ended::Interrupted => "Interrupted",
            Ended::Rejected => "Rejected",
            Ended::Stopped => "Stopped",
            Ended::Retry => "Retry",
            Ended::Transient => "Transient",
        }
    }

    /// What the history and `ordo_app_sync_total` say of it (see the variants).
    pub fn recorded(self) -> Ended {
        match self {
            Ended::Rejected => Ended::Failed,
            Ended::Stopped => Ended::Superseded,
            other => other,
        }
    }

    /// Held against its revision: the app is marked failed, and may roll back.
    pub fn is_failure(self) -> bool {
        matches!(self, Ended::Failed | Ended::TimedOut)
    }

    /// Every value the history and the metric hold.
    pub const RECORDED: [Ended; 5] = [
        Ended::Succeeded,
        Ended::Failed,
        Ended::TimedOut,
        Ended::Superseded,
        Ended::Interrupted,
    ];
}

/// Why a running sync was cut short: in-flight requests finish, nothing new starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// ordo is shutting down.
    Stopping,
    /// A newer revision, a rollback or an unpin took over.
    Superseded,
}

/// What one app's syncs remember between them: the objects as the last sync left them, so the
/// next one skips the dry runs of those whose desired and live state have not moved. Only
/// [`sync`] reads and writes it; its holder can only [`forget`](SyncMemory::forget) it.
#[derive(Default)]
pub struct SyncMemory {
    known: Option<Arc<Fingerprints>>,
}

impl SyncMemory {
    /// Starts again from nothing (another replica may have synced meanwhile).
    pub fn forget(&mut self) {
        self.known = None;
    }
}

/// Runs one sync of `plan`; setting `cancel` to a reason cuts it short. One end for both
/// callers: `ordo sync` (which never cancels and has no memory) and the agent.
pub async fn sync(
    cluster: &Cluster,
    plan: &Plan,
    mut options: SyncOptions,
    reporter: Reporter,
    (mut cancel, memory): (watch::Receiver<Option<Cancelled>>, &mut SyncMemory),
) -> (Ended, Result<SyncReport, SyncError>) {
    let (stop, stopped) = watch::channel(false);
    options.cancel = Some(stopped);
    options.known = memory.known.clone();
    let run = sync::sync(cluster, plan, &options, reporter);
    tokio::pin!(run);
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            // A dropped sender cancels nothing: this branch then stays off.
            Ok(()) = cancel.changed() => {
                if cancel.borrow().is_some() {
                    let _ = stop.send(true);
                }
            }
        }
    };
    let cancelled = *cancel.borrow();
    // A sync that ended with an error left the objects in a state no report describes.
    memory.known = result
        .as_ref()
        .ok()
        .map(|r| Arc::new(r.fingerprints.clone()));
    (ended(&result, cancelled), result)
}

/// The end of a sync that ran. One that applied everything succeeded, whatever came after;
/// else a cancellation outranks what it reported.
pub fn ended(report: &Result<SyncReport, SyncError>, cancelled: Option<Cancelled>) -> Ended {
    match report {
        Ok(r) if r.succeeded() => Ended::Succeeded,
        _ if cancelled == Some(Cancelled::Stopping) => Ended::Stopped,
        _ if cancelled == Some(Cancelled::Superseded) => Ended::Superseded,
        Ok(r) if r.interrupted.is_some() => Ended::Interrupted,
        Ok(r) if r.objects.iter().any(|o| o.outcome == Outcome::TimedOut) => Ended::TimedOut,
        Ok(_) => Ended::Failed,
        Err(SyncError::Cluster(e)) if e.is_transient() => Ended::Retry,
        Err(_) => Ended::Rejected,
    }
}

/// How a pass ended that stopped before anything was applied: a bad commit is recorded as
/// failed and left until the head moves or someone asks; a failure that is not the commit's
/// is retried with a growing delay when it may pass by itself, else at the next interval.
/// Never `Failed`: nothing was written, and a rollback would read from the same place.
pub fn not_applied(why: &PassError) -> Ended {
    match why.fault {
        Fault::Commit => Ended::Rejected,
        Fault::Transient => Ended::Transient,
        Fault::Lasting => Ended::Retry,
    }
}
