//! Stored state without lost updates (issue #13): `ordo rollback` while the agent is in the
//! middle of a sync is not undone when that sync records its result. `ordo unpin` goes through
//! the same conditional write (see `agent::persisted::merge_stored` for both cases).

mod common;
use common::{
    agent_address, bare_repo, commit_and_push, eventually, get_json, kubeconfig, spawn_agent,
    unique,
};

use std::process::Command;

use serde_json::Value;

fn ordo(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("ordo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_rollback_asked_for_during_a_sync_survives_the_syncs_record() {
    let app = unique("race");
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    let config_map = |v: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {app}\ndata:\n  v: \"{v}\"\n"
        )
    };
    std::fs::write(work.join("app.yaml"), config_map("1")).unwrap();
    let good = commit_and_push(&work, "good");
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {}\napps:\n  - name: {app}\n    repo: {}\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    timeout: 15s\n",
            dir.path().join("cache").display(),
            bare.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = spawn_agent(&config, &[], &log);
    let address = agent_address(&log);
    let url = format!("http://{address}/api/v1/apps/{app}");
    eventually(
        "the good revision to sync",
        || {
            let doc = get_json(&url)?;
            (doc["revision"]["sha"] == good.as_str() && doc["syncStatus"] == "Synced").then_some(())
        },
        &log,
    );

    // The state lives in ordo's namespace (`default` for an agent outside a pod), out of reach
    // of whoever may edit ConfigMaps in the app's namespace.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (in_ordo, in_app) = rt.block_on(async {
        let client = common::client().await;
        let state = format!("ordo-{app}-state");
        let ordo_ns: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), "default");
        let app_ns: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, &app);
        (
            ordo_ns.get_opt(&state).await.unwrap().is_some(),
            app_ns.get_opt(&state).await.unwrap().is_some(),
        )
    });
    assert!(in_ordo && !in_app, "state in ordo's namespace only");

    // A revision whose Deployment can never be scheduled: its sync waits out its 15 s.
    std::fs::write(
        work.join("slow.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow\n  namespace: {app}\nspec:\n  \
             selector: {{matchLabels: {{app: slow}}}}\n  template:\n    metadata: {{labels: {{app: slow}}}}\n    \
             spec:\n      nodeSelector: {{nowhere: \"true\"}}\n      containers: [{{name: c, image: slow:1}}]\n"
        ),
    )
    .unwrap();
    std::fs::write(work.join("app.yaml"), config_map("2")).unwrap();
    let slow = commit_and_push(&work, "slow");
    eventually(
        "the slow revision's sync to start",
        || {
            let doc = get_json(&url)?;
            (doc["phase"] == "Syncing" && doc["head"] == slow.as_str()).then_some(())
        },
        &log,
    );

    let (code, out) = ordo(&[
        "rollback",
        "--config",
        config.to_str().unwrap(),
        "--app",
        &app,
        "--revision",
        &good[..7],
    ]);
    assert_eq!(code, 0, "{out}");
    let (_, status) = ordo(&["status", "--config", config.to_str().unwrap(), "-o", "json"]);
    let doc: Value = serde_json::from_str(&status).unwrap_or(Value::Null);
    assert_eq!(
        doc[0]["state"]["history"][0]["revision"],
        good.as_str(),
        "the rollback was asked for while the slow sync still ran: {status}"
    );

    // The slow sync ends and records its result; the pin asked for meanwhile stays.
    let stored = eventually(
        "the slow sync to be recorded",
        || {
            let (_, status) = ordo(&["status", "--config", config.to_str().unwrap(), "-o", "json"]);
            let doc: Value = serde_json::from_str(&status).ok()?;
            let state = doc[0]["state"].clone();
            (state["history"][0]["revision"] == slow.as_str()).then_some(state)
        },
        &log,
    );
    assert_eq!(stored["pin"]["revision"], good.as_str(), "{stored}");
    assert_eq!(stored["pin"]["manual"], true, "{stored}");
    // And the agent follows it: the good revision again.
    eventually(
        "the agent to apply the pinned revision",
        || {
            let doc = get_json(&url)?;
            (doc["revision"]["sha"] == good.as_str() && doc["syncStatus"] == "Synced").then_some(())
        },
        &log,
    );
    let _ = agent.kill();
    let _ = agent.wait();
}
