//! The per-receiver cap: at most N messages a minute; what goes over is counted and summed up
//! in one message when the minute ends. Pure: the caller passes the clock.

use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct RateCap {
    cap: u32,
    window_start: Instant,
    sent: u32,
    held_back: u64,
}

impl RateCap {
    pub fn new(cap: u32, now: Instant) -> RateCap {
        RateCap {
            cap,
            window_start: now,
            sent: 0,
            held_back: 0,
        }
    }

    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Whether a message may go now; one that may not is counted as held back.
    pub fn admit(&mut self, now: Instant) -> bool {
        // A window that ended with messages held back waits for `roll` to sum them up.
        if now >= self.window_end() && self.held_back == 0 {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < self.cap {
            self.sent += 1;
            true
        } else {
            self.held_back += 1;
            false
        }
    }

    /// When the current window ends.
    pub fn window_end(&self) -> Instant {
        self.window_start + WINDOW
    }

    /// Whether a summary is owed (messages were held back in a window that has ended).
    pub fn summary_due(&self, now: Instant) -> bool {
        self.held_back > 0 && now >= self.window_end()
    }

    /// Starts a new window and returns how many messages the ended one held back; the summary
    /// message itself counts in the new window.
    pub fn roll(&mut self, now: Instant) -> u64 {
        let held = std::mem::take(&mut self.held_back);
        self.window_start = now;
        self.sent = u32::from(held > 0);
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_holds_back_and_sums_up() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut cap = RateCap::new(2, t0);
        // (offset, action, expected)
        #[derive(Debug)]
        enum Step {
            Admit(bool),
            Due(bool),
            Roll(u64),
        }
        let steps = [
            (0, Step::Admit(true)),
            (1, Step::Admit(true)),
            (2, Step::Admit(false)),
            (3, Step::Admit(false)),
            (59, Step::Due(false)),
            (60, Step::Due(true)),
            // Still held back until the summary is sent.
            (61, Step::Admit(false)),
            (61, Step::Roll(3)),
            (61, Step::Due(false)),
            // The summary took one slot of the new window.
            (62, Step::Admit(true)),
            (63, Step::Admit(false)),
            (121, Step::Roll(1)),
            // A quiet window: the next one starts fresh.
            (300, Step::Admit(true)),
            (300, Step::Admit(true)),
            (300, Step::Admit(false)),
        ];
        for (i, (at, step)) in steps.iter().enumerate() {
            let now = t0 + s(*at);
            match step {
                Step::Admit(want) => assert_eq!(cap.admit(now), *want, "step {i}"),
                Step::Due(want) => assert_eq!(cap.summary_due(now), *want, "step {i}"),
                Step::Roll(want) => assert_eq!(cap.roll(now), *want, "step {i}"),
            }
        }
        assert_eq!(cap.cap(), 2);
    }
}
