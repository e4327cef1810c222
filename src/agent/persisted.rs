//! [`Persisted`]'s rules: its history recorded newest first, held to a byte budget before it
//! is written, checked when it is read back, since the ConfigMap is outside git and anyone
//! with write access to the namespace can edit it, and merged with what someone else stored
//! meanwhile. Pure: values in, values out.

use super::state::{Ended, HISTORY_LEN, HistoryEntry, Persisted, Pin};

/// What the stored state may take, well under the 1 MiB a ConfigMap holds (etcd's request
/// limit), leaving room for metadata and the managed-fields record of every apply.
pub const STATE_BUDGET: usize = 512 * 1024;

/// What was cut to fit the budget, for a warning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// History entries that lost their per-object timings.
    pub timings: usize,
    /// History entries dropped, oldest first.
    pub entries: usize,
}

/// `state` as JSON of at most `budget` bytes. Per-object timings go first, from the oldest
/// entry on, then the oldest entries; the pin, the last healthy and the failed revision are
/// never cut, nor is the history entry of a pinned revision (the pin is only believed on read
/// when its revision is in the history). Err with the size when even that is too large.
pub fn encode(state: &Persisted, budget: usize) -> Result<(String, Trimmed), usize> {
    let mut trimmed = Trimmed::default();
    let mut kept = state.clone();
    // Entries stored by an older ordo (or edited in the ConfigMap) may be unbounded.
    kept.history = std::mem::take(&mut kept.history)
        .into_iter()
        .map(HistoryEntry::bounded)
        .collect();
    // Sizes are worked out per part rather than by serializing the whole state after each
    // cut: 20 entries of a large app are megabytes.
    let mut size = to_json(&kept).len();
    for entry in kept.history.iter_mut().rev() {
        if size <= budget {
            break;
        }
        if !entry.objects.is_empty() {
            size -= to_json(&entry.objects).len() - "[]".len();
            entry.objects = Vec::new();
            trimmed.timings += 1;
        }
    }
    let pinned = kept.pin.as_ref().map(|p| p.revision.clone());
    let mut i = kept.history.len();
    while size > budget && i > 0 {
        i -= 1;
        if pinned.as_deref() == Some(kept.history[i].revision.as_str()) {
            continue;
        }
        let separator = usize::from(kept.history.len() > 1);
        size -= to_json(&kept.history.remove(i)).len() + separator;
        trimmed.entries += 1;
    }
    let text = to_json(&kept);
    if text.len() > budget {
        return Err(text.len());
    }
    Ok((text, trimmed))
}

fn to_json(value: &impl serde::Serialize) -> String {
    // Serializing plain structs of strings and numbers cannot fail; an empty string would be
    // caught by the read check rather than stored silently.
    serde_json::to_string(value).unwrap_or_default()
}

/// Why stored state cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// Reads stored state. Unparseable text is an error (never an empty state: that would forget
/// a pin and the history). A pin that is not a full commit SHA of the stored history is
/// dropped, and a warning names it.
pub fn decode(text: &str) -> Result<(Persisted, Vec<String>), Unreadable> {
    let mut state: Persisted = serde_json::from_str(text).map_err(|e| Unreadable(e.to_string()))?;
    let mut warnings = Vec::new();
    if let Some(pin) = &state.pin {
        let problem = if !is_full_sha(&pin.revision) {
            Some("not a full 40-hex commit SHA")
        } else if !state.history.iter().any(|h| h.revision == pin.revision) {
            Some("not a revision of the stored history")
        } else {
            None
        };
        if let Some(problem) = problem {
            warnings.push(format!(
                "stored pin {} ignored: {problem}; the app follows its ref",
                shown(&pin.revision)
            ));
            state.pin = None;
        }
    }
    Ok((state, warnings))
}

fn is_full_sha(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An untrusted value for a log line: quoted and escaped, at most 60 characters.
fn shown(value: &str) -> String {
    let short: String = value.chars().take(60).collect();
    let ellipsis = if short.len() < value.len() { "…" } else { "" };
    format!("{short:?}{ellipsis}")
}

impl Persisted {
    pub fn record(&mut self, entry: HistoryEntry) {
        if entry.result == Ended::Succeeded {
            self.last_healthy = Some(entry.revision.clone());
        }
        self.history.insert(0, entry);
        self.history.truncate(HISTORY_LEN);
    }

    /// Adds the syncs `theirs` recorded and this state lacks: another replica's last ones,
    /// written a moment before this one took the app over and read a watch that had not seen
    /// them yet. Newest first; the last healthy revision is the newest healthy sync's.
    pub fn absorb_history(&mut self, theirs: &Persisted) {
        // Within a millisecond: a start time edited or re-encoded by hand is still the same
        // sync, and one revision never starts twice in a millisecond.
        let same = |a: &HistoryEntry, b: &HistoryEntry| {
            a.revision == b.revision && (a.started - b.started).abs() < 1e-3
        };
        let missing: Vec<HistoryEntry> = theirs
            .history
            .iter()
            .filter(|t| !self.history.iter().any(|o| same(o, t)))
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        self.history.extend(missing);
        // Stable: entries that started together keep their order.
        self.history.sort_by(|a, b| b.started.total_cmp(&a.started));
        self.history.truncate(HISTORY_LEN);
        let newest_healthy = self
            .history
            .iter()
            .find(|e| e.result == Ended::Succeeded)
            .map(|e| e.revision.clone());
        self.last_healthy = newest_healthy
            .or_else(|| self.last_healthy.take())
            .or_else(|| theirs.last_healthy.clone());
    }
}

/// What the agent stores after a sync when the stored state moved since it last read it: its
/// own record (history, last healthy, failed revision) with any syncs only theirs has, and the
/// pin as someone else left it if they changed it (`ordo rollback`/`unpin` while the sync
/// ran), so their change is not lost.
/// `base_pin` is the pin as the agent last read or wrote it.
pub fn merge_stored(ours: &Persisted, theirs: &Persisted, base_pin: Option<&Pin>) -> Persisted {
    let mut merged = ours.clone();
    merged.absorb_history(theirs);
    if theirs.pin.as_ref() != base_pin {
        merged.pin = theirs.pin.clone();
        if theirs.pin.is_none() {
            // An unpin also lets a failed revision be tried again.
            merged.failed_revision = theirs.failed_revision.clone();
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::state::{Action, Ended, HistoryEntry, ObjectTiming, Outcome, Pin, Trigger};

    fn sha(n: usize) -> String {
        format!("{n:040x}")
    }

    fn entry(n: usize, objects: usize) -> HistoryEntry {
        HistoryEntry {
            revision: sha(n),
            message: format!("commit {n}"),
            author: "dev".into(),
            trigger: Trigger::Interval,
            started: 1.0,
            finished: 2.0,
            result: Ended::Succeeded,
            error: None,
            objects: (0..objects)
                .map(|i| ObjectTiming {
                    id: format!("apps/Deployment/shop/web-{i:04}"),
                    action: Action::Configured,
                    outcome: Outcome::Healthy,
                    applied_at: Some(1.5),
                    healthy_at: Some(1.75),
                })
                .collect(),
        }
    }

    /// 20 syncs of a 1,000-object app, newest first, pinned to the oldest.
    fn large() -> Persisted {
        Persisted {
            history: (0..20).rev().map(|n| entry(n, 1000)).collect(),
            last_healthy: Some(sha(19)),
            pin: Some(Pin {
                revision: sha(0),
                reason: "rolled back".into(),
                head_at_pin: sha(19),
                manual: false,
            }),
            failed_revision: Some(sha(18)),
        }
    }

    #[test]
    fn small_state_is_stored_as_is() {
        let state = Persisted {
            history: vec![entry(1, 3)],
            ..Persisted::default()
        };
        let (text, trimmed) = encode(&state, STATE_BUDGET).unwrap();
        assert_eq!(trimmed, Trimmed::default());
        assert_eq!(decode(&text).unwrap().0, state);
    }

    #[test]
    fn over_budget_the_oldest_timings_go_first() {
        let state = large();
        assert!(to_json(&state).len() > 1024 * 1024, "the case must be real");
        let (text, trimmed) = encode(&state, STATE_BUDGET).unwrap();
        assert!(text.len() <= STATE_BUDGET);
        assert_eq!(trimmed.entries, 0);
        let (stored, _) = decode(&text).unwrap();
        assert_eq!(stored.history.len(), 20);
        // The newest entries keep their timings, the oldest lost theirs.
        assert_eq!(stored.history[0].objects.len(), 1000);
        assert!(stored.history[19].objects.is_empty());
        assert_eq!(
            (stored.pin, stored.last_healthy, stored.failed_revision),
            (state.pin, state.last_healthy, state.failed_revision)
        );
    }

    #[test]
    fn then_the_oldest_entries_go_but_never_the_pinned_one() {
        let mut state = large();
        for h in &mut state.history {
            h.message = "x".repeat(10_000);
        }
        // Each message is cut to MESSAGE_MAX first; 20 such entries still exceed 8 KB.
        let (text, trimmed) = encode(&state, 8_000).unwrap();
        assert!(text.len() <= 8_000);
        assert_eq!(trimmed.timings, 20);
        assert!(trimmed.entries > 0);
        let (stored, warnings) = decode(&text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(stored.pin, state.pin);
        assert_eq!(stored.history[0].revision, sha(19), "the newest stays");
        assert!(stored.history.iter().any(|h| h.revision == sha(0)));
        assert_eq!(stored.failed_revision, Some(sha(18)));
    }

    #[test]
    fn what_cannot_fit_is_an_error_with_its_size() {
        let mut state = large();
        state.pin.as_mut().unwrap().reason = "y".repeat(5_000);
        assert!(encode(&state, 1_000).unwrap_err() > 5_000);
    }

    #[test]
    fn unparseable_state_is_an_error_not_an_empty_state() {
        assert!(decode("{\"history\": [").is_err());
        assert!(decode("42").is_err());
        assert!(decode("{\"pin\": \"main\"}").is_err());
        assert_eq!(decode("{}").unwrap().0, Persisted::default());
    }

    #[test]
    fn a_pin_must_be_a_full_sha_of_the_stored_history() {
        let pinned = |revision: &str| {
            let mut state = large();
            state.pin.as_mut().unwrap().revision = revision.into();
            decode(&to_json(&state)).unwrap()
        };
        let (kept, warnings) = pinned(&sha(3));
        assert_eq!(kept.pin.unwrap().revision, sha(3));
        assert!(warnings.is_empty());
        for (revision, why) in [
            ("main", "not a full 40-hex commit SHA"),
            (&sha(3)[..12], "not a full 40-hex commit SHA"),
            (&"f".repeat(40), "not a revision of the stored history"),
        ] {
            let (state, warnings) = pinned(revision);
            assert_eq!(state.pin, None, "{revision}");
            assert!(warnings[0].contains(why), "{warnings:?}");
            assert!(
                warnings[0].contains(&format!("{revision:?}")),
                "{warnings:?}"
            );
        }
    }

    #[test]
    fn a_pin_changed_by_someone_else_while_syncing_survives_the_agents_save() {
        let pin = |rev: &str| Pin {
            revision: rev.into(),
            reason: "rollback requested".into(),
            head_at_pin: String::new(),
            manual: true,
        };
        let with = |pin: Option<Pin>, failed: Option<&str>, history: usize| Persisted {
            history: (0..history).map(|i| entry(i, 0)).collect(),
            last_healthy: None,
            pin,
            failed_revision: failed.map(str::to_owned),
        };
        // (base pin, ours, theirs, want)
        let cases = [
            // Nobody else wrote the pin: ours goes, history and all.
            (
                Some(pin("a")),
                with(Some(pin("a")), None, 2),
                with(Some(pin("a")), None, 1),
                with(Some(pin("a")), None, 2),
            ),
            // `ordo unpin` ran during the sync: the unpin stays, with its cleared failed revision.
            (
                Some(pin("a")),
                with(Some(pin("a")), Some("c9"), 2),
                with(None, None, 1),
                with(None, None, 2),
            ),
            // `ordo rollback` ran during the sync: its pin stays.
            (
                None,
                with(None, None, 2),
                with(Some(pin("b")), None, 1),
                with(Some(pin("b")), None, 2),
            ),
            // The agent pinned (automatic rollback) and nobody else touched it.
            (
                None,
                with(Some(pin("c")), None, 2),
                with(None, None, 1),
                with(Some(pin("c")), None, 2),
            ),
        ];
        for (i, (base, ours, theirs, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                merge_stored(&ours, &theirs, base.as_ref()),
                want,
                "case {i}"
            );
        }
    }

    /// Sync start times (Unix seconds with a fraction) read back exactly as written: the
    /// history merge tells entries apart by revision and start, so a start one bit off would
    /// show a sync twice.
    #[test]
    fn start_times_read_back_exactly() {
        let history: Vec<HistoryEntry> = (0..20_000u32)
            .map(|i| HistoryEntry {
                revision: format!("{i:040x}"),
                message: String::new(),
                author: String::new(),
                trigger: Trigger::Interval,
                started: 1_764_467_000.0 + f64::from(i) * 0.000_123_457_1,
                finished: 1_764_467_001.0 + f64::from(i) * 0.000_987_654_3,
                result: Ended::Succeeded,
                error: None,
                objects: Vec::new(),
            })
            .collect();
        let state = Persisted {
            history,
            ..Persisted::default()
        };
        let (text, _) = encode(&state, usize::MAX).unwrap();
        let (read, _) = decode(&text).unwrap();
        let off = state
            .history
            .iter()
            .zip(&read.history)
            .filter(|(a, b)| a.started.to_bits() != b.started.to_bits())
            .count();
        assert_eq!(off, 0, "start times read back differently");
    }

    #[test]
    fn a_huge_commit_message_on_the_pinned_revision_cannot_make_the_state_unsavable() {
        let huge = "x".repeat(2 * 1024 * 1024);
        let state = Persisted {
            history: vec![HistoryEntry {
                revision: "pinned".into(),
                message: huge.clone(),
                author: "é".repeat(10_000),
                error: Some(huge),
                ..entry(0, 0)
            }],
            pin: Some(Pin {
                revision: "pinned".into(),
                reason: "rollback requested".into(),
                head_at_pin: "head".into(),
                manual: true,
            }),
            ..Persisted::default()
        };
        let (text, _) = encode(&state, STATE_BUDGET).expect("saved within the budget");
        let (read, _) = decode(&text).unwrap();
        let kept = &read.history[0];
        assert_eq!(kept.revision, "pinned");
        assert!(
            kept.message.len() <= crate::agent::state::MESSAGE_MAX && kept.message.ends_with('…')
        );
        assert!(kept.author.len() <= crate::agent::state::AUTHOR_MAX);
        assert!(kept.error.as_ref().unwrap().len() <= crate::agent::state::ERROR_MAX);
    }

    #[test]
    fn history_keeps_the_newest_twenty_and_the_last_healthy_revision() {
        let mut p = Persisted::default();
        for i in 0..25 {
            p.record(HistoryEntry {
                revision: format!("r{i}"),
                ..entry(0, 0)
            });
        }
        p.record(HistoryEntry {
            revision: "bad".into(),
            result: Ended::Failed,
            ..entry(0, 0)
        });
        assert_eq!(p.history.len(), HISTORY_LEN);
        assert_eq!(p.history[0].revision, "bad");
        assert_eq!(p.last_healthy.as_deref(), Some("r24"));
    }

    #[test]
    fn a_state_read_late_absorbs_the_syncs_another_replica_stored_meanwhile() {
        let at = |rev: &str, started: f64, result| HistoryEntry {
            started,
            ..HistoryEntry {
                revision: rev.into(),
                result,
                ..entry(0, 0)
            }
        };
        let stored = |history: Vec<HistoryEntry>, healthy: Option<&str>| Persisted {
            history,
            last_healthy: healthy.map(str::to_owned),
            ..Persisted::default()
        };
        // (ours, theirs, want history, want last healthy)
        let cases = [
            // Ours was read from the stored one: nothing to add.
            (
                stored(
                    vec![
                        at("b", 2.0, Ended::Succeeded),
                        at("a", 1.0, Ended::Succeeded),
                    ],
                    Some("b"),
                ),
                stored(vec![at("a", 1.0, Ended::Succeeded)], Some("a")),
                vec!["b", "a"],
                Some("b"),
            ),
            // Ours missed their sync of "b" (healthy); our own sync of "c" failed.
            (
                stored(
                    vec![at("c", 3.0, Ended::Failed), at("a", 1.0, Ended::Succeeded)],
                    Some("a"),
                ),
                stored(
                    vec![
                        at("b", 2.0, Ended::Succeeded),
                        at("a", 1.0, Ended::Succeeded),
                    ],
                    Some("b"),
                ),
                vec!["c", "b", "a"],
                Some("b"),
            ),
            // Ours started empty (their state was created a moment before); the same revision
            // synced twice is two entries.
            (
                stored(vec![at("a", 5.0, Ended::Failed)], None),
                stored(vec![at("a", 4.0, Ended::Failed)], Some("z")),
                vec!["a", "a"],
                Some("z"),
            ),
            // The same sync with its start one bit off (read back through another encoder).
            (
                stored(vec![at("a", 1_764_467_000.123_456_7, Ended::Failed)], None),
                stored(
                    vec![at(
                        "a",
                        f64::from_bits(1_764_467_000.123_456_7_f64.to_bits() + 1),
                        Ended::Failed,
                    )],
                    None,
                ),
                vec!["a"],
                None,
            ),
        ];
        for (i, (mut ours, theirs, history, healthy)) in cases.into_iter().enumerate() {
            ours.absorb_history(&theirs);
            let revisions: Vec<&str> = ours.history.iter().map(|e| e.revision.as_str()).collect();
            assert_eq!(revisions, history, "case {i}");
            assert_eq!(ours.last_healthy.as_deref(), healthy, "case {i}");
        }
        let mut long = stored(
            (0..HISTORY_LEN)
                .map(|i| at("n", 100.0 + i as f64, Ended::Succeeded))
                .collect(),
            None,
        );
        long.absorb_history(&stored(vec![at("old", 1.0, Ended::Succeeded)], None));
        assert_eq!(long.history.len(), HISTORY_LEN);
        assert!(
            long.history.iter().all(|e| e.revision == "n"),
            "older than all kept: dropped"
        );
    }
}
