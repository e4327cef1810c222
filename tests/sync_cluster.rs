//! `ordo sync` and `ordo diff` against the local control plane (`scripts/cluster.sh up`), run
//! as a user runs them. Each test works in namespaces of its own. Without KUBECONFIG they
//! fail, never skip.

mod common;
use common::{client, kubeconfig, report_objects, unique};

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

fn ordo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("ordo runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `ordo sync DIR -o json` with extra args; returns (exit code, report, stderr).
fn sync(dir: &Path, ns: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "sync",
        dir.to_str().unwrap(),
        "--namespace",
        ns,
        "-o",
        "json",
    ];
    if !extra.contains(&"--app") {
        args.extend(["--app", ns]);
    }
    args.extend_from_slice(extra);
    let out = ordo(&args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, text(&out.stderr))
}

/// The travel-app example with its namespace replaced by `ns`.
fn travel_app(ns: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy(Path::new("examples/travel-app"), dir.path(), ns);
    dir
}

fn copy(from: &Path, to: &Path, ns: &str) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target, ns);
        } else {
            let body = std::fs::read_to_string(entry.path()).unwrap();
            let body = body.replace("namespace: travel", &format!("namespace: {ns}"));
            let body = body.replace("name: travel\n", &format!("name: {ns}\n"));
            std::fs::write(target, body).unwrap();
        }
    }
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let body = std::fs::read_to_string(&path).unwrap();
    assert!(body.contains(from), "{file} has no {from:?}");
    std::fs::write(path, body.replace(from, to)).unwrap();
}

fn changed(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> = report_objects(report)
        .into_iter()
        .filter(|(_, o)| o["action"] != "unchanged")
        .map(|(id, o)| format!("{id} {}", o["action"].as_str().unwrap()))
        .collect();
    ids.sort();
    ids
}

async fn get(
    client: &Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

#[test]
fn travel_app_syncs_in_plan_order_and_resyncs_with_zero_writes() {
    let ns = unique("travel");
    let dir = travel_app(&ns);
    let (code, report, stderr) = sync(dir.path(), &ns, &["--timeout", "3m"]);
    assert_eq!(code, 0, "{stderr}\n{report}");
    let by_id = report_objects(&report);
    assert_eq!(by_id.len(), 17);
    assert!(
        by_id.values().all(|o| o["outcome"] == "Healthy"),
        "{report}"
    );

    // Every object was applied after everything it depends on was Healthy: its explicit and
    // inferred edges, and with tier ordering every object of every earlier tier.
    let plan_out = ordo(&["plan", dir.path().to_str().unwrap(), "-o", "json"]);
    let plan: Value = serde_json::from_slice(&plan_out.stdout).unwrap();
    let tier_rank = |t: &str| {
        ["config", "database", "backend", "frontend", "monitoring"]
            .iter()
            .position(|x| *x == t)
            .unwrap()
    };
    let steps = plan["steps"].as_array().unwrap();
    for step in steps {
        let id = step["id"].as_str().unwrap();
        let Some(applied) = by_id[id]["appliedAt"].as_f64() else {
            continue; // created before the walk (the app's own Namespace)
        };
        let mut needs: Vec<&str> = step["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        let rank = tier_rank(step["tier"].as_str().unwrap());
        needs.extend(
            steps
                .iter()
                .filter(|s| tier_rank(s["tier"].as_str().unwrap()) < rank)
                .map(|s| s["id"].as_str().unwrap()),
        );
        for need in needs {
            let healthy = by_id[need]["healthyAt"].as_f64().unwrap();
            assert!(
                applied >= healthy,
                "{id} applied at {applied} before {need} was healthy at {healthy}"
            );
        }
    }

    let (code, again, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        again["writes"], 0,
        "a second sync of an unchanged repo writes nothing: {again}"
    );
    let diff = ordo(&[
        "diff",
        dir.path().to_str().unwrap(),
        "--namespace",
        &ns,
        "--app",
        &ns,
    ]);
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff.stdout));
}

#[test]
fn image_change_rolls_only_that_workload_and_config_change_rolls_its_readers() {
    let ns = unique("roll");
    let dir = travel_app(&ns);
    let (code, _, stderr) = sync(dir.path(), &ns, &["--timeout", "3m"]);
    assert_eq!(code, 0, "{stderr}");

    edit(
        dir.path(),
        "backend/backend.yaml",
        "travel-app/backend:1.4.2",
        "travel-app/backend:1.5.0",
    );
    let diff = ordo(&[
        "diff",
        dir.path().to_str().unwrap(),
        "--namespace",
        &ns,
        "--app",
        &ns,
    ]);
    assert_eq!(diff.status.code(), Some(1));
    let shown = text(&diff.stdout);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with('+') && l.ends_with("image: travel-app/backend:1.5.0")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with('-') && l.ends_with("image: travel-app/backend:1.4.2")),
        "{shown}"
    );
    let (code, report, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        changed(&report),
        [format!("Deployment/{ns}/backend configured")]
    );
    assert_eq!(report["writes"], 1, "{report}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client());
    let hash = |client: &Client| {
        rt.block_on(get(
            client,
            "apps/v1",
            "Deployment",
            "deployments",
            &ns,
            "backend",
        ))
        .unwrap()["spec"]["template"]["metadata"]["annotations"]["ordo.dev/config-hash"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = hash(&client);
    edit(
        dir.path(),
        "config/app-config.yaml",
        "DB_PORT: \"5432\"",
        "DB_PORT: \"6432\"",
    );
    let (code, report, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        changed(&report),
        [
            format!("ConfigMap/{ns}/backend-config configured"),
            format!("Deployment/{ns}/backend configured"),
            format!("StatefulSet/{ns}/postgres configured"),
        ]
    );
    assert_ne!(
        hash(&client),
        before,
        "the pod template's config hash changed, so it rolls"
    );
}

#[test]
fn deleting_a_file_prunes_its_objects_and_keeps_what_is_marked() {
    let ns = unique("prune");
    let dir = travel_app(&ns);
    edit(
        dir.path(),
        "monitoring/prometheus.yaml",
        "metadata:\n  name: prometheus-config\n",
        "metadata:\n  name: prometheus-config\n  annotations: {ordo.dev/prune: \"false\"}\n",
    );
    let (code, _, stderr) = sync(dir.path(), &ns, &["--timeout", "3m"]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_file(dir.path().join("monitoring/grafana.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("monitoring/prometheus.yaml")).unwrap();
    let (code, report, _) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0);
    assert!(
        report["pruned"].as_array().unwrap().is_empty(),
        "no --prune, nothing deleted"
    );
    let (code, report, stderr) = sync(dir.path(), &ns, &["--prune"]);
    assert_eq!(code, 0, "{stderr}");
    let mut pruned: Vec<&str> = report["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    pruned.sort();
    let want: Vec<String> = [
        "ConfigMap/{ns}/grafana-datasources",
        "Deployment/{ns}/grafana",
        "Deployment/{ns}/prometheus",
        "Service/{ns}/grafana",
        "Service/{ns}/prometheus",
    ]
    .iter()
    .map(|s| s.replace("{ns}", &ns))
    .collect();
    assert_eq!(pruned, want);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client());
    assert!(
        rt.block_on(get(
            &client,
            "v1",
            "ConfigMap",
            "configmaps",
            &ns,
            "prometheus-config"
        ))
        .is_some(),
        "ordo.dev/prune: false keeps it"
    );
    // Monitoring went before config: the Deployment was deleted before its ConfigMap.
    let pos = |id: &str| pruned_order(&report, id);
    assert!(
        pos(&format!("Deployment/{ns}/grafana"))
            < pos(&format!("ConfigMap/{ns}/grafana-datasources"))
    );
}

fn pruned_order(report: &Value, id: &str) -> usize {
    report["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .position(|v| v == id)
        .unwrap()
}

#[test]
fn an_invalid_object_means_nothing_is_applied() {
    let ns = unique("invalid");
    let dir = travel_app(&ns);
    edit(
        dir.path(),
        "backend/backend.yaml",
        "  replicas: 2\n",
        "  replicas: 2\n  replicaz: 3\n",
    );
    let (code, _, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("nothing was applied")
            && stderr.contains(&format!("Deployment/{ns}/backend"))
            && stderr.contains("replicaz"),
        "{stderr}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    assert!(
        rt.block_on(namespaces.get_opt(&ns)).unwrap().is_none(),
        "not even the Namespace was created"
    );
}

#[test]
fn a_degraded_workload_blocks_its_dependents_and_fails_within_the_timeout() {
    let ns = unique("degraded");
    let dir = tempfile::tempdir().unwrap();
    // No node matches the selector, so its pods never run and the rollout misses its deadline.
    let broken = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: broken, namespace: {ns}}}\nspec:\n  progressDeadlineSeconds: 3\n  selector: {{matchLabels: {{app: broken}}}}\n  template:\n    metadata: {{labels: {{app: broken}}}}\n    spec:\n      nodeSelector: {{no-such-node: \"true\"}}\n      containers: [{{name: c, image: api:1}}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: after\n  namespace: {ns}\n  annotations: {{ordo.dev/depends-on: Deployment/broken}}\nspec:\n  selector: {{matchLabels: {{app: after}}}}\n  template:\n    metadata: {{labels: {{app: after}}}}\n    spec: {{containers: [{{name: c, image: api:1}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: unrelated, namespace: {ns}, annotations: {{ordo.dev/tier: backend}}}}\n"
    );
    std::fs::write(dir.path().join("app.yaml"), broken).unwrap();
    let started = Instant::now();
    let (code, report, stderr) = sync(
        dir.path(),
        &ns,
        &["--timeout", "60s", "--ordering", "graph"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "fails fast on Degraded, before the timeout"
    );
    let by_id = report_objects(&report);
    assert_eq!(
        by_id[&format!("Deployment/{ns}/broken")]["outcome"],
        "Degraded",
        "{report}"
    );
    assert_eq!(
        by_id[&format!("Deployment/{ns}/after")]["outcome"],
        "Blocked"
    );
    assert_eq!(
        by_id[&format!("Deployment/{ns}/after")]["action"],
        "skipped",
        "never applied"
    );
    assert_eq!(
        by_id[&format!("ConfigMap/{ns}/unrelated")]["outcome"],
        "Healthy",
        "unrelated branches go on"
    );
}

#[test]
fn a_health_wait_never_outlives_the_timeout() {
    let ns = unique("timeout");
    let dir = tempfile::tempdir().unwrap();
    let stuck = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: stuck, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: stuck}}}}\n  template:\n    metadata: {{labels: {{app: stuck}}}}\n    spec:\n      nodeSelector: {{no-such-node: \"true\"}}\n      containers: [{{name: c, image: api:1}}]\n"
    );
    std::fs::write(dir.path().join("app.yaml"), stuck).unwrap();
    let started = Instant::now();
    let (code, report, stderr) = sync(dir.path(), &ns, &["--timeout", "5s"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        report_objects(&report)[&format!("Deployment/{ns}/stuck")]["outcome"],
        "TimedOut"
    );
}

#[test]
fn objects_of_another_owner_are_not_taken_without_adopt() {
    let ns = unique("owned");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client());
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "default");
    let name = unique("foreign");
    rt.block_on(cms.patch(&name, &PatchParams::apply("someone-else"), &Patch::Apply(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"owner": "them"}
    }))))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cm.yaml"), format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata: {{owner: us}}\n")).unwrap();
    let (code, _, stderr) = sync(dir.path(), "default", &["--app", &ns]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not managed by this app")
            && stderr.contains(&name)
            && stderr.contains("--adopt"),
        "{stderr}"
    );
    assert_eq!(
        rt.block_on(cms.get(&name)).unwrap().data.unwrap()["owner"],
        "them"
    );
    let (code, _, stderr) = sync(dir.path(), "default", &["--app", &ns, "--adopt"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        rt.block_on(cms.get(&name)).unwrap().data.unwrap()["owner"],
        "us"
    );
}

#[test]
fn an_immutable_field_change_is_refused_unless_recreate_is_allowed() {
    let ns = unique("immutable");
    let dir = tempfile::tempdir().unwrap();
    let deployment = |labels: &str, recreate: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {ns}\n{recreate}spec:\n  selector: {{matchLabels: {labels}}}\n  template:\n    metadata: {{labels: {labels}}}\n    spec: {{containers: [{{name: c, image: api:1}}]}}\n"
        )
    };
    std::fs::write(dir.path().join("app.yaml"), deployment("{app: api}", "")).unwrap();
    let (code, _, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::write(
        dir.path().join("app.yaml"),
        deployment("{app: api, v: \"2\"}", ""),
    )
    .unwrap();
    let (code, _, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("spec.selector")
            && stderr.contains("immutable")
            && stderr.contains("ordo.dev/recreate"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("app.yaml"),
        deployment(
            "{app: api, v: \"2\"}",
            "  annotations: {ordo.dev/recreate: \"true\"}\n",
        ),
    )
    .unwrap();
    let (code, report, stderr) = sync(dir.path(), &ns, &["--timeout", "2m"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report_objects(&report)[&format!("Deployment/{ns}/api")]["action"],
        "recreated"
    );
}

#[test]
fn post_sync_hooks_run_last_once_per_revision() {
    let ns = unique("hooks");
    let dir = tempfile::tempdir().unwrap();
    let app = |image: &str| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec: {{containers: [{{name: c, image: \"{image}\"}}]}}\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\n  namespace: {ns}\n  annotations: {{ordo.dev/hook: post-sync}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: curl:8, args: [\"http://api:80/healthz\"]}}]\n"
        )
    };
    std::fs::write(dir.path().join("app.yaml"), app("api:1")).unwrap();
    let (code, report, stderr) = sync(dir.path(), &ns, &["--timeout", "2m"]);
    assert_eq!(code, 0, "{stderr}\n{report}");
    let by_id = report_objects(&report);
    let hook = &by_id[&format!("Job/{ns}/smoke")];
    assert_eq!(hook["outcome"], "Healthy", "{report}");
    let hook_applied = hook["appliedAt"].as_f64().unwrap();
    let api_healthy = by_id[&format!("Deployment/{ns}/api")]["healthyAt"]
        .as_f64()
        .unwrap();
    assert!(
        hook_applied >= api_healthy,
        "the hook runs after everything else is Healthy"
    );

    let (code, again, _) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        again["writes"], 0,
        "same revision: the hook does not run again: {again}"
    );

    std::fs::write(dir.path().join("app.yaml"), app("api:2")).unwrap();
    let (code, third, stderr) = sync(dir.path(), &ns, &["--timeout", "2m"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report_objects(&third)[&format!("Job/{ns}/smoke")]["action"],
        "recreated",
        "a new revision runs the hook again"
    );
}

#[test]
fn fields_owned_by_another_manager_are_taken_over_only_when_forced() {
    let ns = unique("conflict");
    let dir = tempfile::tempdir().unwrap();
    let manifest = |replicas: u32| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec: {{containers: [{{name: c, image: api:1}}]}}\n"
        )
    };
    std::fs::write(dir.path().join("app.yaml"), manifest(1)).unwrap();
    let (code, _, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0, "{stderr}");
    // Someone scales it with their own field manager (an HPA or a person with kubectl).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client());
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, &ns);
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 3}});
    rt.block_on(deployments.patch(
        "api",
        &PatchParams::apply("kubectl-edit").force(),
        &Patch::Apply(scale),
    ))
    .unwrap();
    std::fs::write(dir.path().join("app.yaml"), manifest(2)).unwrap();
    let (code, _, stderr) = sync(dir.path(), &ns, &["--no-force-conflicts"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("conflict") && stderr.contains(".spec.replicas"),
        "{stderr}"
    );
    let (code, _, stderr) = sync(dir.path(), &ns, &[]);
    assert_eq!(code, 0, "{stderr}");
    let live = rt.block_on(deployments.get("api")).unwrap();
    assert_eq!(live.spec.unwrap().replicas, Some(2));
}

#[test]
fn rbac_forbidding_a_kind_is_a_clear_error_and_nothing_is_applied() {
    let ns = unique("rbac");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin = rt.block_on(client());
    let apply = |api_version: &str, kind: &str, plural: &str, namespaced: bool, body: Value| {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(admin.clone(), &ns, &ar)
        } else {
            Api::all_with(admin.clone(), &ar)
        };
        let name = body["metadata"]["name"].as_str().unwrap().to_owned();
        let obj: DynamicObject = serde_json::from_value(body).unwrap();
        rt.block_on(api.patch(
            &name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&obj),
        ))
        .unwrap();
    };
    apply(
        "v1",
        "Namespace",
        "namespaces",
        false,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    );
    apply(
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": ns}}),
    );
    apply(
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
        true,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "configmaps-only", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]}),
    );
    apply(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "deployer", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps-only"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}),
    );
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(admin.clone(), &ns);
    let request: k8s_openapi::api::authentication::v1::TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token = rt
        .block_on(accounts.create_token_request("deployer", &Default::default(), &request))
        .unwrap()
        .status
        .unwrap()
        .token;
    let admin_config: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(kubeconfig()).unwrap()).unwrap();
    let cluster = &admin_config["clusters"][0]["cluster"];
    let limited = json!({"apiVersion": "v1", "kind": "Config", "current-context": "deployer",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "deployer", "user": {"token": token}}],
        "contexts": [{"name": "deployer", "context": {"cluster": "local", "user": "deployer", "namespace": ns}}]});
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("kubeconfig");
    std::fs::write(&config_path, serde_json::to_string(&limited).unwrap()).unwrap();
    let manifests = dir.path().join("app");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(manifests.join("app.yaml"), format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {ns}}}\ndata: {{a: b}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: {ns}}}\nstringData: {{p: q}}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args([
            "sync",
            manifests.to_str().unwrap(),
            "--namespace",
            &ns,
            "--kubeconfig",
            config_path.to_str().unwrap(),
            "--prune",
        ])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing was applied")
            && stderr.contains(&format!("Secret/{ns}/creds"))
            && stderr.contains("forbidden"),
        "{stderr}"
    );
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(admin, &ns);
    assert!(
        rt.block_on(cms.get_opt("settings")).unwrap().is_none(),
        "the allowed ConfigMap was not applied either"
    );
}
