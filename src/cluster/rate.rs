//! The agent's request rate towards the API server: a token bucket (client-go's `QPS` and
//! `Burst`, Flux's `--kube-api-qps`/`--kube-api-burst`) in the client's tower stack, so a
//! thousand apps starting at once queue here instead of flooding the server. Off until set
//! (the one-shot CLI commands send a handful of requests). Hand-written rather than a crate:
//! it must follow tokio's clock (paused in tests) and be changed after the client is built.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RateLimit {
    bucket: Mutex<Option<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    qps: f64,
    burst: f64,
    /// May go below zero: requests waiting for their turn have reserved it already.
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    /// `burst` requests at once, then `qps` a second.
    pub fn set(&self, qps: u32, burst: u32) {
        let burst = f64::from(burst.max(1));
        *self.bucket.lock().unwrap_or_else(|p| p.into_inner()) = Some(Bucket {
            qps: f64::from(qps.max(1)),
            burst,
            tokens: burst,
            at: Instant::now(),
        });
    }

    /// Reserves the next request's turn: how long it waits from `now`.
    fn reserve(&self, now: Instant) -> Duration {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = bucket.as_mut() else {
            return Duration::ZERO;
        };
        let refill = now.saturating_duration_since(b.at).as_secs_f64() * b.qps;
        b.tokens = (b.tokens + refill).min(b.burst) - 1.0;
        b.at = now;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / b.qps)
        }
    }

    /// Waits for the next request's turn (in the order requests asked).
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        let rate = RateLimit::default();
        let start = Instant::now();
        assert_eq!(rate.reserve(start), Duration::ZERO, "unset: no limit");
        rate.set(10, 3);
        let waits: Vec<u128> = (0..6).map(|_| rate.reserve(start).as_millis()).collect();
        assert_eq!(waits, [0, 0, 0, 100, 200, 300]);
        // A second later the queue has drained and ten tokens came back, capped at the burst.
        let later = start + Duration::from_secs(2);
        let waits: Vec<u128> = (0..4).map(|_| rate.reserve(later).as_millis()).collect();
        assert_eq!(waits, [0, 0, 0, 100]);
    }
}
