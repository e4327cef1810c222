//! Argo CD and Helm hooks in their phases, with `ordo sync` against the local control plane
//! (`scripts/cluster.sh up`; kwok completes Jobs' pods). Each test works in a namespace of its
//! own. Without KUBECONFIG they fail, never skip.

#[allow(dead_code)] // shared by every test binary; this one needs only some of it
mod common;
use common::{client, kubeconfig, report_objects, unique};

use std::path::Path;
use std::process::Command;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use serde_json::Value;

fn sync(dir: &Path, ns: &str, timeout: &str) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["sync", dir.to_str().unwrap_or_default(), "--namespace", ns])
        .args(["--app", ns, "--timeout", timeout, "-o", "json"])
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("ordo runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), report, stderr)
}

async fn list(client: &Client, api_version: &str, kind: &str, ns: &str) -> Vec<Value> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_ascii_lowercase()),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    api.list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect()
}

fn names(items: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|o| o.pointer("/metadata/name")?.as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn job(name_line: &str, annotations: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  {name_line}
  annotations:
{annotations}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: run
          image: busybox:1.36
          envFrom: [{{configMapRef: {{name: app-config}}}}]
"
    )
}

fn write(dir: &Path, file: &str, body: &str) {
    std::fs::write(dir.join(file), body).expect("fixture written");
}

/// An app with a PreSync migration (generateName), a PostSync smoke test deleted when it
/// succeeds (Helm's annotations), a SyncFail notice and a Skip object.
fn app(dir: &Path, ns: &str, image: &str) {
    write(
        dir,
        "app.yaml",
        &format!(
            "apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: app-config}}
data: {{mode: live}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
        - name: api
          image: {image}
          envFrom: [{{configMapRef: {{name: app-config}}}}]
"
        ),
    );
    write(
        dir,
        "migrate.yaml",
        &job(
            "generateName: migrate-",
            "    argocd.argoproj.io/hook: PreSync",
        ),
    );
    write(
        dir,
        "smoke.yaml",
        &job(
            "name: smoke",
            "    helm.sh/hook: post-install,post-upgrade\n    helm.sh/hook-delete-policy: hook-succeeded",
        ),
    );
    write(
        dir,
        "notices.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: sync-failed
  annotations: {argocd.argoproj.io/hook: SyncFail}
data: {note: the last sync failed}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: never
  annotations: {argocd.argoproj.io/hook: Skip}
data: {note: never applied}
",
    );
}

#[test]
fn hooks_run_in_their_phases_and_a_failed_pre_sync_hook_applies_nothing() {
    let ns = unique("hooks");
    let dir = tempfile::tempdir().expect("temp dir");
    app(dir.path(), &ns, "api:1.0");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(client());

    let (code, report, stderr) = sync(dir.path(), &ns, "2m");
    assert_eq!(code, 0, "{stderr}\n{report}");
    let by_id = report_objects(&report);
    let outcome = |id: &str| by_id[id]["outcome"].as_str().unwrap_or_default().to_owned();
    let migrate = format!("Job/{ns}/migrate-");
    assert_eq!(outcome(&migrate), "Healthy");
    assert_eq!(outcome(&format!("Job/{ns}/smoke")), "Healthy");
    assert_eq!(outcome(&format!("ConfigMap/{ns}/sync-failed")), "NotRun");
    assert_eq!(outcome(&format!("ConfigMap/{ns}/never")), "NotRun");
    let at = |id: &str, field: &str| by_id[id][field].as_f64();
    let migration_started = at(&migrate, "appliedAt").expect("the migration ran");
    let migrated = at(&migrate, "healthyAt").expect("the migration completed");
    let config_ready = at(&format!("ConfigMap/{ns}/app-config"), "healthyAt").expect("applied");
    let api_applied = at(&format!("Deployment/{ns}/api"), "appliedAt").expect("applied");
    assert!(
        config_ready <= migration_started,
        "what the PreSync hook reads comes first: {config_ready} vs {migration_started}"
    );
    assert!(
        migrated <= api_applied,
        "the rest waits for PreSync: {migrated} vs {api_applied}"
    );

    let jobs = rt.block_on(list(&client, "batch/v1", "Job", &ns));
    let job_names = names(&jobs);
    assert_eq!(
        job_names.len(),
        1,
        "smoke was deleted on success: {job_names:?}"
    );
    assert!(job_names[0].starts_with("migrate-") && job_names[0].len() == "migrate-".len() + 5);
    let labels = &jobs[0]["metadata"]["labels"];
    assert!(labels.get("ordo.dev/hook-of").is_some(), "{labels}");
    assert!(
        labels.get("applyset.kubernetes.io/part-of").is_none(),
        "a hook is not an ApplySet member: prune never sees it"
    );
    let maps = names(&rt.block_on(list(&client, "v1", "ConfigMap", &ns)));
    assert!(maps.contains(&"app-config".to_owned()), "{maps:?}");
    assert!(!maps.contains(&"never".to_owned()), "Skip is never applied");
    assert!(
        !maps.contains(&"sync-failed".to_owned()),
        "SyncFail only on failure"
    );

    // A second PreSync hook that never completes (no node matches): nothing else is applied,
    // and the SyncFail hook runs.
    write(
        dir.path(),
        "blocker.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: blocker
  annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/sync-wave: \"1\"}
spec:
  replicas: 1
  selector: {matchLabels: {app: blocker}}
  template:
    metadata: {labels: {app: blocker}}
    spec:
      nodeSelector: {no-such-node: \"true\"}
      containers: [{name: b, image: busybox:1.36}]
",
    );
    app(dir.path(), &ns, "api:2.0");
    let (code, report, stderr) = sync(dir.path(), &ns, "10s");
    assert_eq!(code, 1, "{stderr}\n{report}");
    let by_id = report_objects(&report);
    let api = &by_id[&format!("Deployment/{ns}/api")];
    assert_eq!(api["outcome"], "Blocked", "{api}");
    assert!(
        api["message"]
            .as_str()
            .unwrap_or_default()
            .contains("PreSync hook"),
        "{api}"
    );
    let deployments = rt.block_on(list(&client, "apps/v1", "Deployment", &ns));
    let live_api = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "api")
        .expect("api still there");
    assert_eq!(
        live_api
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str),
        Some("api:1.0"),
        "nothing of the new revision was applied"
    );
    let maps = names(&rt.block_on(list(&client, "v1", "ConfigMap", &ns)));
    assert!(
        maps.contains(&"sync-failed".to_owned()),
        "SyncFail ran: {maps:?}"
    );
    assert_eq!(
        by_id[&format!("ConfigMap/{ns}/sync-failed")]["outcome"],
        "Healthy"
    );
}
