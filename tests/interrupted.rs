//! Honest results (issue #13): a write the API server refuses after the dry run accepted the
//! whole revision leaves the cluster partly on the new revision. The agent records that as
//! Interrupted, does not mark the commit bad, and tries again with a growing delay until it
//! goes through. The refusal is real: a ValidatingAdmissionPolicy that lets dry runs pass and
//! refuses the real write, removed once the sync was seen interrupted.

mod common;
use common::{bare_repo, client, commit_and_push, kubeconfig, spawn_agent, unique};

use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

fn status(config: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["status", "--config", config.to_str().unwrap(), "-o", "json"])
        .env("KUBECONFIG", kubeconfig())
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    doc[0]["state"].clone()
}

fn wait_status(
    config: &std::path::Path,
    log: &std::path::Path,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let s = status(config);
        if done(&s) {
            return s;
        }
        assert!(
            started.elapsed() < WAIT,
            "timed out waiting for {what}; status {s}\nagent log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// A policy refusing the real (not dry-run) write of ConfigMaps named `refused` in namespaces
/// labelled `ordo-test/interrupt=<id>`.
async fn refuse_real_writes(id: &str) {
    let client = client().await;
    let policies: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
        ),
    );
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": id},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}]},
            "validations": [{
                "expression": "request.dryRun == true || object.metadata.name != 'refused'",
                "message": "refused by the test's admission policy"}]
        }
    });
    policies
        .patch(
            id,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&policy),
        )
        .await
        .unwrap();
    let bindings: Api<DynamicObject> = Api::all_with(
        client,
        &resource(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
        ),
    );
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": id},
        "spec": {"policyName": id, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {"ordo-test/interrupt": id}}}}
    });
    bindings
        .patch(
            id,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
}

/// Waits until the policy refuses a real write (policies take a moment to come into force).
async fn until_in_force(id: &str) {
    let client = client().await;
    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&()),
    );
    let probe = format!("{id}-probe");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": probe, "labels": {"ordo-test/interrupt": id}}});
    namespaces
        .patch(
            &probe,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&ns),
        )
        .await
        .unwrap();
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, &probe);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "refused"}});
    let started = Instant::now();
    loop {
        match maps
            .patch(
                "refused",
                &PatchParams::apply("test").force(),
                &Patch::Apply(&cm),
            )
            .await
        {
            Err(kube::Error::Api(e)) if e.message.contains("refused by the test") => return,
            Ok(_) => {
                let _ = maps.delete("refused", &DeleteParams::default()).await;
            }
            Err(e) => panic!("probing the policy: {e}"),
        }
        assert!(
            started.elapsed() < WAIT,
            "the admission policy never came into force"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn allow_again(id: &str) {
    let client = client().await;
    for (kind, plural) in [
        (
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
        ),
        ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"),
    ] {
        let api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &resource("admissionregistration.k8s.io", kind, plural),
        );
        let _ = api.delete(id, &DeleteParams::default()).await;
    }
}

#[test]
fn a_write_refused_after_the_dry_run_is_interrupted_not_a_bad_commit_and_is_retried() {
    let app = unique("interrupt");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(refuse_real_writes(&app));
    rt.block_on(until_in_force(&app));
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::write(
        work.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n  labels: {{ordo-test/interrupt: {app}}}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: accepted\n  namespace: {app}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: refused\n  namespace: {app}\n"
        ),
    )
    .unwrap();
    let revision = commit_and_push(&work, "two config maps");
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {}\napps:\n  - name: {app}\n    repo: {}\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    onFailure: rollback\n",
            dir.path().join("cache").display(),
            bare.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = spawn_agent(&config, &[], &log);

    let interrupted = wait_status(&config, &log, "the sync to be interrupted", |s| {
        s["history"][0]["result"] == "Interrupted"
    });
    assert_eq!(interrupted["history"][0]["revision"], revision.as_str());
    let error = interrupted["history"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.starts_with(&format!("partly applied: ConfigMap/{app}/refused"))
            && error.contains("refused by the test's admission policy"),
        "{error}"
    );
    assert!(
        interrupted["failedRevision"].is_null(),
        "not a bad commit: {interrupted}"
    );
    assert!(
        interrupted["pin"].is_null(),
        "not rolled back from: {interrupted}"
    );

    // The environment recovers; the agent goes on by itself.
    rt.block_on(allow_again(&app));
    let done = wait_status(&config, &log, "the retried sync to succeed", |s| {
        s["history"][0]["result"] == "Succeeded"
    });
    assert_eq!(done["history"][0]["revision"], revision.as_str());
    assert!(
        done["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["result"] != "Failed"),
        "{done}"
    );
    let _ = agent.kill();
    let _ = agent.wait();
}
