//! Self-heal that does not fight (issue #13): per object, a heal is followed by a wait that
//! doubles each time the object drifts again (1 s up to 5 min) and starts over once the object
//! stayed put for twice its wait. When the same fields come back after a heal, someone else is
//! writing them: the drift report names that field manager. Pure: times are passed in.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

pub const FIRST_WAIT: Duration = Duration::from_secs(1);
pub const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// What to do with a drift seen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Apply the desired object now.
    Heal,
    /// Healed too recently: look again at this time.
    WaitUntil(Instant),
}

#[derive(Debug, Default)]
pub struct HealBackoff {
    objects: HashMap<String, ObjectHeal>,
}

#[derive(Debug)]
struct ObjectHeal {
    wait: Duration,
    not_before: Instant,
    paths: Vec<String>,
    /// The same fields drifted again after a heal: someone else writes them.
    contested: bool,
}

impl HealBackoff {
    /// Drift of `paths` on `id` at `now`.
    pub fn on_drift(&mut self, id: &str, paths: &[String], now: Instant) -> Verdict {
        let Some(h) = self.objects.get_mut(id) else {
            self.objects
                .insert(id.to_owned(), ObjectHeal::first(paths, now));
            return Verdict::Heal;
        };
        if now < h.not_before {
            return Verdict::WaitUntil(h.not_before);
        }
        if now >= h.not_before + h.wait * 2 {
            // Quiet for long enough: this is a new drift, not the same fight.
            *h = ObjectHeal::first(paths, now);
            return Verdict::Heal;
        }
        h.contested = h.paths == paths;
        h.wait = (h.wait * 2).min(LONGEST_WAIT);
        h.not_before = now + h.wait;
        h.paths = paths.to_vec();
        Verdict::Heal
    }

    /// Whether the same fields of `id` came back after a heal.
    pub fn contested(&self, id: &str) -> bool {
        self.objects.get(id).is_some_and(|h| h.contested)
    }

    /// The wait after the last heal of `id`.
    #[cfg(test)]
    pub fn wait(&self, id: &str) -> Option<Duration> {
        self.objects.get(id).map(|h| h.wait)
    }
}

impl ObjectHeal {
    fn first(paths: &[String], now: Instant) -> Self {
        ObjectHeal {
            wait: FIRST_WAIT,
            not_before: now + FIRST_WAIT,
            paths: paths.to_vec(),
            contested: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_that_keeps_coming_back_is_healed_ever_less_often_and_named_contested() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let replicas = vec!["spec.replicas".to_owned()];
        let image = vec!["spec.template.spec.containers[0].image".to_owned()];
        let mut b = HealBackoff::default();
        // (seconds, paths, verdict, wait after, contested)
        let steps: [(u64, &Vec<String>, Verdict, u64, bool); 8] = [
            (0, &replicas, Verdict::Heal, 1, false),
            (0, &replicas, Verdict::WaitUntil(at(1)), 1, false),
            (1, &replicas, Verdict::Heal, 2, true),
            (2, &replicas, Verdict::WaitUntil(at(3)), 2, true),
            (3, &replicas, Verdict::Heal, 4, true),
            (7, &image, Verdict::Heal, 8, false), // other fields: not the same fight
            (15, &image, Verdict::Heal, 16, true),
            (31 + 32, &replicas, Verdict::Heal, 1, false), // quiet for twice the wait
        ];
        for (s, paths, verdict, wait, contested) in steps {
            assert_eq!(b.on_drift("api", paths, at(s)), verdict, "at {s}s");
            assert_eq!(b.wait("api"), Some(Duration::from_secs(wait)), "at {s}s");
            assert_eq!(b.contested("api"), contested, "at {s}s");
        }
        let mut long = HealBackoff::default();
        let mut now = t0;
        for _ in 0..20 {
            if let Verdict::WaitUntil(t) = long.on_drift("hpa", &replicas, now) {
                now = t;
            }
        }
        assert_eq!(
            long.wait("hpa"),
            Some(LONGEST_WAIT),
            "capped at five minutes"
        );
        assert_eq!(b.wait("other"), None);
    }
}
