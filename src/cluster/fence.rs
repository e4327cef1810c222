//! The write fence: apply and delete refuse before sending while this client may not write
//! (another replica may lead, or hold this client's shard), and the writes that passed are
//! counted until answered, so a shard is handed over only once they have landed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use super::{Cluster, ClusterError};

/// The write fence: open while this client may write, and the writes on their way.
#[derive(Debug)]
pub(super) struct Fence {
    open: AtomicBool,
    in_flight: std::sync::atomic::AtomicUsize,
    landed: tokio::sync::Notify,
}

impl Fence {
    pub(super) fn open() -> Fence {
        Fence {
            open: AtomicBool::new(true),
            in_flight: Default::default(),
            landed: tokio::sync::Notify::new(),
        }
    }

    pub(super) fn closed() -> Fence {
        let fence = Fence::open();
        fence.open.store(false, AtomicOrdering::SeqCst);
        fence
    }
}

/// One write past the fence (or refused by it), until its answer came.
pub(super) struct WritePass(Arc<Fence>);

impl Drop for WritePass {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, AtomicOrdering::SeqCst);
        self.0.landed.notify_waiters();
    }
}

impl Cluster {
    /// Opens or closes the write fence (leader election); shared by every clone.
    pub fn allow_writes(&self, allowed: bool) {
        self.writes.open.store(allowed, AtomicOrdering::SeqCst);
    }

    /// The same connection behind a write fence of its own, closed until opened: the
    /// client of one shard of apps, which writes only while this replica holds the shard.
    pub fn fenced_apart(&self) -> Cluster {
        let mut apart = self.clone();
        apart.writes = Arc::new(Fence::closed());
        apart
    }

    /// Waits (at most `within`) until no write that passed the fence is still on its way:
    /// after closing the fence, what this client wrote is in the API server. False when
    /// writes were still in flight at the end.
    pub async fn writes_drained(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the check, so a write landing in between still wakes us.
            let landed = self.writes.landed.notified();
            tokio::pin!(landed);
            landed.as_mut().enable();
            if self.writes.in_flight.load(AtomicOrdering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, landed).await.is_err() {
                return self.writes.in_flight.load(AtomicOrdering::SeqCst) == 0;
            }
        }
    }

    /// Passes the fence, or refuses before anything is sent. Hold the pass until the request
    /// has an answer: [`Cluster::writes_drained`] waits for it.
    pub(super) fn fence(
        &self,
        verb: &'static str,
        object: impl FnOnce() -> String,
    ) -> Result<WritePass, ClusterError> {
        // Counted before the check: a fence closed in between waits for this write too.
        self.writes.in_flight.fetch_add(1, AtomicOrdering::SeqCst);
        let pass = WritePass(self.writes.clone());
        if self.writes.open.load(AtomicOrdering::SeqCst) {
            Ok(pass)
        } else {
            Err(ClusterError::Fenced {
                verb,
                object: object(),
            })
        }
    }
}
