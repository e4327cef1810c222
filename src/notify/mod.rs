//! Notifications (issue #15): commit statuses on GitHub, GitLab and Gitea, messages to Slack,
//! Discord, Teams, a signed webhook or email, when a sync starts and ends, fails, rolls back,
//! drifts, or its source cannot be read.
//!
//! The agent hands each [`Event`] to [`Notifier::publish`], which never waits: it drops
//! repeats (one message per app, revision and event until the app's next sync starts), and
//! puts what each receiver wants on that receiver's bounded queue. One task per receiver
//! ([`worker`]) sends with retries and a per-minute cap, counts the result
//! (`ordo_notifications_total{receiver,result}`), and keeps its last error on the
//! [`Deliveries`] board the status page shows. A slow or failing receiver therefore costs the
//! agent nothing but its queue's memory, and never another receiver.

mod email;
mod event;
mod payload;
mod rate;
mod receiver;
mod retry;
mod send;
mod status;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::warn;

pub use event::{Event, EventKind};

/// A commit message or reason cut to what a message carries.
pub fn clip_text(text: &str) -> String {
    event::clip(text, event::MAX_TEXT)
}
pub use receiver::{DEFAULT_MAX_PER_MINUTE, Notifications, Receiver, ReceiverKind, SecretSource};
pub use status::{Api as GitHostApi, GITHUB_API};

use crate::metrics::Metrics;
use receiver::Filter;

/// Messages a receiver may have waiting; past this, new ones are dropped (and counted):
/// a receiver that is down must not make the agent hold an ever-growing backlog.
pub const QUEUE: usize = 100;

/// The agent's handle: cheap to clone, never blocks. With no receivers it does nothing.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
    deliveries: Deliveries,
}

struct Inner {
    queues: Vec<Queue>,
    seen: Mutex<Seen>,
    metrics: Arc<Metrics>,
}

struct Queue {
    name: String,
    filter: Filter,
    tx: mpsc::Sender<Arc<Event>>,
    /// Set while messages are being dropped, so the drop is logged once, not per message.
    dropping: AtomicBool,
}

impl Notifier {
    /// Starts one task per receiver. `repos` gives each app's repository URL (commit statuses
    /// are posted where the commit lives). Must run inside the tokio runtime.
    pub fn start(
        config: &Notifications,
        repos: HashMap<String, String>,
        metrics: Arc<Metrics>,
    ) -> Notifier {
        let deliveries = Deliveries::new(&config.receivers);
        if config.receivers.is_empty() {
            return Notifier {
                inner: None,
                deliveries,
            };
        }
        let http = match send::HttpClient::new() {
            Ok(c) => c,
            Err(e) => {
                // Said once at start, and on the page; the agent still syncs, only silently.
                warn!(error = %e, "notifications disabled");
                let why = format!("notifications disabled: {e}");
                for r in &config.receivers {
                    deliveries.failed(&r.name, &why, worker::unix_now());
                }
                return Notifier {
                    inner: None,
                    deliveries,
                };
            }
        };
        let shared = Arc::new(worker::Shared {
            repos,
            external_url: config.external_url.clone(),
            http,
            metrics: metrics.clone(),
            deliveries: deliveries.clone(),
        });
        let queues = config
            .receivers
            .iter()
            .map(|r| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(worker::run(r.clone(), rx, shared.clone()));
                Queue {
                    name: r.name.clone(),
                    filter: Filter::new(r),
                    tx,
                    dropping: AtomicBool::new(false),
                }
            })
            .collect();
        Notifier {
            inner: Some(Arc::new(Inner {
                queues,
                seen: Mutex::default(),
                metrics,
            })),
            deliveries,
        }
    }

    /// Queues `event` for every receiver that wants it, unless it was already sent.
    pub fn publish(&self, event: Event) {
        let Some(inner) = &self.inner else {
            return;
        };
        let first = inner
            .seen
            .lock()
            .map(|mut s| s.first(&event))
            .unwrap_or(true);
        if !first {
            return;
        }
        let event = Arc::new(event);
        for q in &inner.queues {
            if !q.filter.wants(&event) {
                continue;
            }
            match q.tx.try_send(event.clone()) {
                Ok(()) => q.dropping.store(false, Ordering::Relaxed),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    inner.metrics.notification(&q.name, "dropped");
                    self.deliveries.count(&q.name, Count::Dropped);
                    if !q.dropping.swap(true, Ordering::Relaxed) {
                        warn!(receiver = %q.name, queue = QUEUE, "notification queue full: dropping new messages until it drains");
                    }
                }
                // The worker is gone only when the runtime shuts down.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// What the status page shows.
    pub fn deliveries(&self) -> Deliveries {
        self.deliveries.clone()
    }
}

/// One message per (app, revision, event) until the app's next sync starts: a revision that
/// keeps drifting, or a source that stays unreachable, is said once, not every interval.
#[derive(Default)]
struct Seen(HashMap<String, HashSet<(String, EventKind)>>);

impl Seen {
    fn first(&mut self, event: &Event) -> bool {
        let sent = self.0.entry(event.app.clone()).or_default();
        if event.kind == EventKind::SyncStarted {
            sent.clear();
        }
        sent.insert((event.revision.clone(), event.kind))
    }
}

/// Each receiver's counts and last error, for the status page. Written by the workers,
/// read by the page as a snapshot (readers never lock the writers).
#[derive(Clone)]
pub struct Deliveries(Arc<watch::Sender<Arc<Board>>>);

impl Default for Deliveries {
    fn default() -> Self {
        Deliveries::new(&[])
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Board {
    /// Moves with every change: the page's render cache keys on it.
    pub version: u64,
    pub receivers: Vec<ReceiverStatus>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    pub name: String,
    pub kind: String,
    pub delivered: u64,
    pub failed: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Held back by the per-minute cap (summed up in one message).
    pub held_back: u64,
    /// The last failure (never a URL or a credential), and when (Unix seconds).
    pub last_error: Option<String>,
    pub last_error_at: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
enum Count {
    Delivered,
    Dropped,
    HeldBack,
}

impl Deliveries {
    fn new(receivers: &[Receiver]) -> Deliveries {
        let board = Board {
            version: 0,
            receivers: receivers
                .iter()
                .map(|r| ReceiverStatus {
                    name: r.name.clone(),
                    kind: r.kind.to_string(),
                    ..ReceiverStatus::default()
                })
                .collect(),
        };
        Deliveries(Arc::new(watch::Sender::new(Arc::new(board))))
    }

    pub fn snapshot(&self) -> Arc<Board> {
        self.0.borrow().clone()
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut ReceiverStatus)) {
        self.0.send_modify(|board| {
            let board = Arc::make_mut(board);
            board.version += 1;
            if let Some(r) = board.receivers.iter_mut().find(|r| r.name == name) {
                change(r);
            }
        });
    }

    fn count(&self, name: &str, what: Count) {
        self.update(name, |r| match what {
            Count::Delivered => r.delivered += 1,
            Count::Dropped => r.dropped += 1,
            Count::HeldBack => r.held_back += 1,
        });
    }

    fn failed(&self, name: &str, error: &str, at: f64) {
        self.update(name, |r| {
            r.failed += 1;
            r.last_error = Some(error.to_owned());
            r.last_error_at = Some(at);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_per_app_revision_and_event_until_the_next_sync() {
        use EventKind::*;
        let mut seen = Seen::default();
        // (app, revision, kind, sent?)
        let cases = [
            ("a", "r1", SyncStarted, true),
            ("a", "r1", SyncFailed, true),
            ("a", "r1", SyncFailed, false),
            ("b", "r1", SyncFailed, true),
            ("a", "r1", DriftDetected, true),
            ("a", "r1", DriftDetected, false),
            ("a", "", SourceError, true),
            ("a", "", SourceError, false),
            // A new sync (a retry, a rollback) may say everything again.
            ("a", "r1", SyncStarted, true),
            ("a", "r1", SyncFailed, true),
            ("a", "", SourceError, true),
            ("a", "r2", SyncStarted, true),
            // Every sync start is announced (a manual re-sync of the same revision too).
            ("a", "r2", SyncStarted, true),
            ("a", "r2", SyncSucceeded, true),
            ("a", "r2", SyncSucceeded, false),
        ];
        for (i, (app, rev, kind, want)) in cases.into_iter().enumerate() {
            let e = Event::new(kind, app, rev, 0.0);
            assert_eq!(seen.first(&e), want, "step {i}: {app} {rev} {kind}");
        }
    }

    #[test]
    fn board_counts_and_keeps_the_last_error() {
        let receivers = [Receiver {
            name: "ops".into(),
            kind: ReceiverKind::Slack,
            ..Receiver::default()
        }];
        let d = Deliveries::new(&receivers);
        d.count("ops", Count::Delivered);
        d.count("ops", Count::Dropped);
        d.count("ops", Count::HeldBack);
        d.failed("ops", "HTTP 500", 12.0);
        d.count("nobody", Count::Delivered);
        let b = d.snapshot();
        assert_eq!(b.version, 5);
        let r = &b.receivers[0];
        assert_eq!(
            (r.delivered, r.failed, r.dropped, r.held_back),
            (1, 1, 1, 1)
        );
        assert_eq!(r.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(r.kind, "slack");
    }
}
