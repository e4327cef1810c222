//! The reconcile's decisions, case by case.

use super::*;
use crate::pass::{Cancelled, Fault, PassError, Stage, ended, not_applied};
use crate::sync::{SyncError, SyncReport};

fn pin(manual: bool, head_at_pin: &str) -> Pin {
    Pin {
        revision: "good".into(),
        reason: String::new(),
        head_at_pin: head_at_pin.into(),
        manual,
    }
}

#[test]
fn the_target_is_the_pin_while_it_holds_and_the_head_otherwise() {
    let cases = [
        (None, "h1", "h1", false, false),
        (Some(pin(true, "h0")), "h1", "good", true, false),
        (Some(pin(false, "h1")), "h1", "good", true, false),
        (Some(pin(false, "h0")), "h1", "h1", false, true),
    ];
    for (pin, head, revision, pinned, drop_pin) in cases {
        let t = target(pin.as_ref(), head);
        assert_eq!(
            (t.revision.as_str(), t.pinned, t.drop_pin),
            (revision, pinned, drop_pin),
            "{pin:?} at {head}"
        );
    }
}

#[test]
fn routine_triggers_skip_synced_and_failed_revisions_people_do_not() {
    use Trigger::*;
    let cases = [
        (Interval, None, None, true),
        (Interval, None, Some("t"), false),
        (Webhook, None, Some("t"), false),
        (Interval, Some("t"), None, false),
        (Drift, Some("t"), None, false),
        (Manual, Some("t"), Some("t"), true),
        (Rollback, Some("t"), None, true),
        (Drift, None, Some("t"), true),
        (Start, None, Some("t"), true),
        (Interval, Some("other"), Some("other"), true),
    ];
    for (trigger, failed, synced, expected) in cases {
        assert_eq!(
            should_sync(trigger, "t", failed, synced),
            expected,
            "{trigger:?} failed={failed:?} synced={synced:?}"
        );
    }
}

#[test]
fn routine_passes_share_a_listing_from_the_last_interval_and_people_get_a_new_one() {
    let now = Instant::now() + Duration::from_secs(600);
    let minute = Duration::from_secs(60);
    let pushed = now - Duration::from_secs(2);
    let cases = [
        (Trigger::Start, None, now - minute),
        (Trigger::Interval, None, now - minute),
        (Trigger::Drift, None, now - minute),
        (Trigger::Webhook, Some(pushed), pushed),
        (Trigger::Webhook, None, now),
        (Trigger::Manual, Some(pushed), now),
        (Trigger::Rollback, None, now),
    ];
    for (trigger, announced, expected) in cases {
        assert_eq!(
            fresh_since(trigger, minute, announced, now),
            expected,
            "{trigger:?} announced={announced:?}"
        );
    }
}

fn entry(revision: &str) -> HistoryEntry {
    HistoryEntry {
        revision: revision.into(),
        message: String::new(),
        author: String::new(),
        trigger: Trigger::Manual,
        started: 0.0,
        finished: 0.0,
        result: Ended::Succeeded,
        error: None,
        objects: Vec::new(),
    }
}

#[test]
fn revisions_are_found_by_a_unique_prefix_of_seven_or_more() {
    let mut p = Persisted::default();
    for r in ["abcdef0111", "abcdef0222", "1234567aaa", "1234567aaa"] {
        p.history.push(entry(r));
    }
    assert_eq!(
        p.find_revision("1234567").map(|e| e.revision.as_str()),
        Ok("1234567aaa"),
        "a revision synced twice is one revision"
    );
    assert_eq!(
        p.find_revision(" ABCDEF0 ").err(),
        Some(RevisionLookup::Ambiguous(2))
    );
    assert_eq!(
        p.find_revision("abcdef02").map(|e| e.revision.as_str()),
        Ok("abcdef0222")
    );
    assert_eq!(
        p.find_revision("123456").err(),
        Some(RevisionLookup::NotFound)
    );
    assert_eq!(
        p.find_revision("fffffff").err(),
        Some(RevisionLookup::NotFound)
    );
}

#[test]
fn pins_follow_the_rules_people_and_the_agent_share() {
    let mut p = Persisted {
        failed_revision: Some("bad".into()),
        ..Persisted::default()
    };
    p.pin_automatic("good", "bad", "h1");
    p.request_sync();
    assert_eq!((p.pin.clone(), p.failed_revision.clone()), (None, None));

    p.pin_rollback("abcdef0123".into(), "h1".into());
    let held = p.pin.clone();
    p.request_sync();
    assert_eq!(p.pin, held, "a manual pin outlives a sync request");
    assert_eq!(
        held.map(|h| h.reason),
        Some("rollback to abcdef0 requested".to_owned())
    );

    p.failed_revision = Some("bad".into());
    p.unpin();
    assert_eq!((p.pin, p.failed_revision), (None, None));
}

#[test]
fn a_failed_sync_marks_the_revision_and_degrades_a_healthy_app() {
    let commit = CommitInfo {
        sha: "c1".into(),
        message: String::new(),
        author: String::new(),
        time: 0,
    };
    let mut app = AppState::new("a", "/r", "main", "", "ns");
    app.health = HealthStatus::Healthy;
    let mut failed = entry("c1");
    failed.result = Ended::Failed;
    failed.error = Some("Deployment/ns/api: Degraded".into());
    app.record_sync(failed, &commit);
    assert_eq!(app.persisted.failed_revision.as_deref(), Some("c1"));
    assert_eq!(app.health, HealthStatus::Degraded);
    assert_eq!(app.sync_status, SyncStatus::OutOfSync);
    assert_eq!(
        app.last_error.as_deref(),
        Some("Deployment/ns/api: Degraded")
    );

    app.record_sync(entry("c1"), &commit);
    assert_eq!(app.persisted.failed_revision, None);
    assert_eq!(app.sync_status, SyncStatus::Synced);
    assert_eq!(app.last_error, None);
}

#[test]
fn a_confirmation_names_the_held_prune_or_nothing() {
    let held = PruneHeld {
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        objects: vec!["ConfigMap/shop/a".into()],
    };
    let full = Some(held.revision.clone());
    for (asked, want) in [
        ("", full.clone()),
        ("0123456", full.clone()),
        (" 0123456789ABCDEF ", full.clone()),
        ("012345", None), // too short to name anything
        ("fedcba9", None),
    ] {
        assert_eq!(confirmable(Some(&held), asked), want, "{asked:?}");
    }
    assert_eq!(confirmable(None, ""), None);
}

#[test]
fn a_partly_applied_revision_is_retried_ever_later_by_routine_triggers_only() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut b = RetryBackoff::default();
    b.after(Ended::Interrupted, "c1", at(0));
    assert!(b.holds(Trigger::Interval, "c1", at(1)));
    assert!(
        !b.holds(Trigger::Manual, "c1", at(1)),
        "a person is not held"
    );
    assert!(
        !b.holds(Trigger::Interval, "c2", at(1)),
        "a newer revision is not held"
    );
    assert!(!b.holds(Trigger::Interval, "c1", at(2)));
    b.after(Ended::Interrupted, "c1", at(2));
    assert!(b.holds(Trigger::Webhook, "c1", at(5)));
    assert!(
        !b.holds(Trigger::Webhook, "c1", at(6)),
        "4 s after the second"
    );
    for _ in 0..12 {
        b.after(Ended::Interrupted, "c1", at(6));
    }
    assert!(b.holds(Trigger::Interval, "c1", at(305)));
    assert!(
        !b.holds(Trigger::Interval, "c1", at(306)),
        "capped at 5 min"
    );
    b.after(Ended::Succeeded, "c1", at(400));
    assert!(!b.holds(Trigger::Interval, "c1", at(400)));
}

#[test]
fn a_failure_that_is_not_the_commits_is_retried_and_never_rolled_back_from() {
    use Ended::*;
    let fail = |stage, fault| PassError::new(stage, fault, "x");
    // (what happened, how it ended)
    let cases = [
        (
            "a chart repository's 503 while planning",
            not_applied(&fail(Stage::Render, Fault::Transient)),
            Transient,
        ),
        (
            "a template's fail",
            not_applied(&fail(Stage::Render, Fault::Commit)),
            Rejected,
        ),
        (
            "a git server's 503 while reading",
            not_applied(&fail(Stage::Fetch, Fault::Transient)),
            Transient,
        ),
        (
            "a path the commit removed",
            not_applied(&fail(Stage::Fetch, Fault::Lasting)),
            Retry,
        ),
        (
            "an untrusted commit",
            not_applied(&fail(Stage::Signature, Fault::Commit)),
            Rejected,
        ),
    ];
    for (name, ended, expected) in cases {
        assert_eq!(ended, expected, "{name}");
    }
    // (how it ended, onFailure, pinned, rolls back)
    let rollbacks = [
        (Failed, OnFailure::Rollback, false, true),
        (Failed, OnFailure::Rollback, true, false),
        (Failed, OnFailure::Halt, false, false),
        (Transient, OnFailure::Rollback, false, false),
        (Retry, OnFailure::Rollback, false, false),
        (Rejected, OnFailure::Rollback, false, false),
        (Interrupted, OnFailure::Rollback, false, false),
        (Superseded, OnFailure::Rollback, false, false),
    ];
    for (ended, on_failure, pinned, expected) in rollbacks {
        assert_eq!(
            rolls_back(ended, on_failure, pinned),
            expected,
            "{ended:?} {on_failure:?} pinned={pinned}"
        );
    }
    // Retried by routine triggers 2 s later, then 4 s, ...; a success lets go.
    let t0 = Instant::now();
    let mut b = RetryBackoff::default();
    b.after(Transient, "c1", t0);
    assert!(b.holds(Trigger::Interval, "c1", t0 + Duration::from_secs(1)));
    assert!(!b.holds(Trigger::Interval, "c1", t0 + Duration::from_secs(2)));
    b.after(Transient, "c1", t0 + Duration::from_secs(2));
    assert!(b.holds(Trigger::Webhook, "c1", t0 + Duration::from_secs(5)));
    assert!(!b.holds(Trigger::Manual, "c1", t0 + Duration::from_secs(5)));
    b.after(Succeeded, "c1", t0 + Duration::from_secs(6));
    assert!(!b.holds(Trigger::Interval, "c1", t0 + Duration::from_secs(6)));
    // And never marked failed: a routine trigger still syncs it.
    assert!(should_sync(Trigger::Interval, "c1", None, None));
}

#[test]
fn an_app_waits_for_those_it_depends_on_until_they_are_healthy_and_synced() {
    let state = |health, sync| {
        let mut s = AppState::new("x", "/r", "main", "", "ns");
        s.health = health;
        s.sync_status = sync;
        std::sync::Arc::new(s)
    };
    let (ingress_tx, ingress) =
        tokio::sync::watch::channel(state(HealthStatus::Progressing, SyncStatus::OutOfSync));
    let (_crds_tx, crds) =
        tokio::sync::watch::channel(state(HealthStatus::Healthy, SyncStatus::Synced));
    let peers: super::super::PeerStates =
        [("ingress".to_owned(), ingress), ("crds".to_owned(), crds)].into();
    let deps = vec!["crds".to_owned(), "ingress".to_owned()];
    assert_eq!(
        waiting_for(&deps, Some(&peers)).as_deref(),
        Some("waiting for app ingress (dependsOn): it is Progressing and OutOfSync")
    );
    ingress_tx.send_replace(state(HealthStatus::Healthy, SyncStatus::Synced));
    assert_eq!(waiting_for(&deps, Some(&peers)), None);
    assert_eq!(waiting_for(&[], Some(&peers)), None);
}

#[test]
fn one_end_per_sync_for_the_decisions_the_history_and_the_metric() {
    use crate::sync::{Action, ObjectReport, Outcome};
    let report = |outcomes: &[Outcome], interrupted: bool| SyncReport {
        objects: outcomes
            .iter()
            .enumerate()
            .map(|(i, outcome)| ObjectReport {
                id: format!("ConfigMap/c{i}"),
                tier: crate::plan::Tier::Config,
                sync: SyncStatus::Synced,
                action: Action::Configured,
                outcome: *outcome,
                health: None,
                applied_at: None,
                healthy_at: None,
                message: None,
            })
            .collect(),
        pruned: Vec::new(),
        prune_withheld: Vec::new(),
        prune_awaiting_confirmation: Vec::new(),
        interrupted: interrupted.then(|| "a write failed".to_owned()),
        health: HealthStatus::Healthy,
        duration_seconds: 0.0,
        writes: 0,
        requests: Default::default(),
        live: Default::default(),
        fingerprints: Default::default(),
    };
    use Outcome::*;
    let refused = || Err(SyncError::Invalid(vec!["ConfigMap/c0: invalid".into()]));
    // (stopping, superseded, what the sync reported, how it ended, what history records,
    //  rolls back under onFailure: rollback)
    let cases = [
        (
            false,
            false,
            Ok(report(&[Healthy, NotRun], false)),
            Ended::Succeeded,
            Ended::Succeeded,
            false,
        ),
        (
            true,
            true,
            Ok(report(&[Healthy], false)),
            Ended::Succeeded,
            Ended::Succeeded,
            false,
        ),
        (
            false,
            false,
            Ok(report(&[Healthy, Degraded, Blocked], false)),
            Ended::Failed,
            Ended::Failed,
            true,
        ),
        (
            false,
            false,
            Ok(report(&[Healthy, TimedOut], false)),
            Ended::TimedOut,
            Ended::TimedOut,
            true,
        ),
        (
            false,
            false,
            Ok(report(&[Healthy], true)),
            Ended::Interrupted,
            Ended::Interrupted,
            false,
        ),
        (
            false,
            true,
            Ok(report(&[Healthy, Pending], false)),
            Ended::Superseded,
            Ended::Superseded,
            false,
        ),
        (
            true,
            false,
            Ok(report(&[Healthy, Pending], false)),
            Ended::Stopped,
            Ended::Superseded,
            false,
        ),
        (
            false,
            false,
            refused(),
            Ended::Rejected,
            Ended::Failed,
            false,
        ),
    ];
    for (stopping, superseded, reported, expected, recorded, rollback) in cases {
        let cancelled = match (stopping, superseded) {
            (true, _) => Some(Cancelled::Stopping),
            (false, true) => Some(Cancelled::Superseded),
            (false, false) => None,
        };
        let got = ended(&reported, cancelled);
        assert_eq!(got, expected, "{reported:?}");
        assert_eq!(got.recorded(), recorded, "{expected:?}");
        assert_eq!(
            rolls_back(got, OnFailure::Rollback, false),
            rollback,
            "{expected:?}"
        );
    }
}
