//! `maxConcurrentSyncs` (issue #14), with `ordo run` against the local control plane: with one
//! slot, two apps whose syncs wait on health never sync at the same time, and the one waiting
//! in line says so.

mod common;
use common::{
    agent_address, bare_repo, commit_and_push, eventually, get_json, spawn_agent, unique,
};

/// A Deployment whose pods never become ready (kwok's `not-ready` behaviour): its sync holds
/// its slot until the timeout.
fn stuck(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  \
         selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web, kwok.ordo.dev/behaviour: not-ready}}}}\n    \
         spec:\n      containers: [{{name: c, image: web:1}}]\n"
    )
}

#[test]
fn with_one_slot_two_apps_sync_one_after_the_other_and_the_second_says_it_waits() {
    let base = unique("slots");
    let names = [format!("{base}-a"), format!("{base}-b")];
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    for name in &names {
        std::fs::create_dir_all(work.join(name)).unwrap();
        std::fs::write(work.join(name).join("app.yaml"), stuck(name)).unwrap();
    }
    commit_and_push(&work, "two apps that wait");
    let mut config = format!(
        "listen: 127.0.0.1:0\ncacheDir: {}\nmaxConcurrentSyncs: 1\napps:\n",
        dir.path().join("cache").display()
    );
    for name in &names {
        config.push_str(&format!(
            "  - {{name: {name}, repo: {repo}, path: {name}, namespace: {name}, allow: {{clusterKinds: [Namespace]}}, interval: 1s, timeout: 8s}}\n",
            repo = bare.display()
        ));
    }
    let file = dir.path().join("ordo.yaml");
    std::fs::write(&file, config).unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = spawn_agent(&file, &[], &log);
    let address = agent_address(&log);
    let states = || -> Option<Vec<serde_json::Value>> {
        names
            .iter()
            .map(|n| get_json(&format!("http://{address}/api/v1/apps/{n}")))
            .collect()
    };

    let mut queued_seen = false;
    let mut both_syncing = Vec::new();
    eventually(
        "both apps to have ended a sync, one after the other",
        || {
            let apps = states()?;
            let syncing = apps.iter().filter(|a| a["phase"] == "Syncing").count();
            if syncing > 1 {
                both_syncing.push(format!("{apps:?}"));
            }
            queued_seen |= apps.iter().any(|a| {
                a["currentStep"]
                    .as_str()
                    .is_some_and(|s| s.contains("maxConcurrentSyncs"))
            }) && syncing == 1;
            apps.iter()
                .all(|a| a["history"][0]["result"] == "TimedOut")
                .then_some(())
        },
        &log,
    );
    let apps = states().expect("the agent answers");
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        both_syncing.is_empty(),
        "two syncs ran at once: {both_syncing:?}"
    );
    assert!(
        queued_seen,
        "the app waiting for the slot said so while the other synced"
    );
    // The second started after the first ended.
    let (a, b) = (&apps[0]["history"][0], &apps[1]["history"][0]);
    let (first, second) = if a["started"].as_f64() < b["started"].as_f64() {
        (a, b)
    } else {
        (b, a)
    };
    assert!(
        second["started"].as_f64().unwrap() >= first["finished"].as_f64().unwrap() - 0.001,
        "the second sync started before the first ended: {first} {second}"
    );
}
