//! A tenant's commit on the chart's defaults (issue #23, items 2–4), against the local control
//! plane: an app with no `allow` writes only into its own namespace; ordo's own namespace is
//! closed to it whatever its globs; a refused commit publishes nothing a reader could then
//! look up; no delete (hook, replace) skips the prune guard or deletes what the app does not
//! own. Without KUBECONFIG these fail, never skip.

mod common;
use common::{
    agent_address, bare_repo, client, commit_and_push, eventually, get_json, kubeconfig,
    spawn_agent, unique,
};

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::json;

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

fn config_map(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  k: v\n"
    )
}

async fn create_namespace(name: &str) {
    let namespaces: Api<Namespace> = Api::all(client().await);
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

async fn config_map_in(ns: &str, name: &str) -> Option<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(client().await, ns);
    api.get_opt(name).await.unwrap()
}

/// A repository holding `files`, and a config with one app `name` in namespace `name`.
fn app_repo(dir: &Path, name: &str, files: &[(&str, String)], extra: &str) -> std::path::PathBuf {
    let (bare, work) = bare_repo(dir);
    for (path, text) in files {
        std::fs::write(work.join(path), text).unwrap();
    }
    commit_and_push(&work, "tenant commit");
    let config = dir.join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {}\napps:\n  - name: {name}\n    repo: {}\n    ref: main\n    namespace: {name}\n    interval: 1s\n    timeout: 30s\n{extra}",
            dir.join("cache").display(),
            bare.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn an_app_without_allow_writes_only_into_its_own_namespace() {
    let ns = unique("tenant");
    let other = unique("neighbour");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        create_namespace(&ns).await;
        create_namespace(&other).await;
    });
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        ("mine.yaml", config_map(&ns, "mine")),
        ("theirs.yaml", config_map(&other, "planted")),
    ];
    let config = app_repo(tmp.path(), &ns, &files, "");
    let (code, out) = ordo(&["sync", "--config", config.to_str().unwrap(), "--app", &ns]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "ConfigMap/{other}/planted: namespace {other} is not in the app's allow.namespaces ({ns})"
        )),
        "{out}"
    );
    assert!(
        rt.block_on(config_map_in(&ns, "mine")).is_none(),
        "refused whole"
    );
    assert!(rt.block_on(config_map_in(&other, "planted")).is_none());
}

#[test]
fn ordos_namespace_is_closed_to_an_app_whatever_its_globs() {
    let ns = unique("wide");
    let ordo_ns = unique("ordo-system");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        create_namespace(&ns).await;
        create_namespace(&ordo_ns).await;
    });
    let tmp = tempfile::tempdir().unwrap();
    let role = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: steal\n  namespace: {ordo_ns}\n\
         rules:\n  - apiGroups: [\"\"]\n    resources: [secrets]\n    verbs: [get, list]\n"
    );
    let files = [("role.yaml", role)];
    let wide = "    allow:\n      namespaces: [\"*\"]\n      clusterKinds: [\"*\"]\n";
    let config = app_repo(tmp.path(), &ns, &files, wide);
    let args = ["sync", "--config", config.to_str().unwrap(), "--app", &ns];
    let (code, out) = ordo(&[&args[..], &["--key-namespace", &ordo_ns]].concat());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "Role/{ordo_ns}/steal: namespace {ordo_ns} is ordo's own; only an app marked platform: true may write there"
        )),
        "{out}"
    );
    // The platform's own app may.
    let platform = format!("{wide}    platform: true\n");
    let dir = tmp.path().join("platform");
    std::fs::create_dir(&dir).unwrap();
    let config = app_repo(&dir, &ns, &files, &platform);
    let args = ["sync", "--config", config.to_str().unwrap(), "--app", &ns];
    let (code, out) = ordo(&[&args[..], &["--key-namespace", &ordo_ns]].concat());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_refused_commit_publishes_nothing_a_reader_could_look_up() {
    let ns = unique("refused");
    let other = unique("private");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        create_namespace(&ns).await;
        create_namespace(&other).await;
        let api: Api<ConfigMap> = Api::namespaced(client().await, &other);
        let secret: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": "x"}, "data": {"password": "hunter2-private"}}),
        )
        .unwrap();
        api.create(&PostParams::default(), &secret).await.unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let files = [
        ("mine.yaml", config_map(&ns, "mine")),
        ("peek.yaml", config_map(&other, "x")),
    ];
    let config = app_repo(tmp.path(), &ns, &files, "");
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&config, &[], &log);
    let address = agent_address(&log);
    let app = format!("http://{address}/api/v1/apps/{ns}");
    let state = eventually(
        "the refused commit to be reported",
        || {
            get_json(&app).filter(|s| {
                s["lastError"]
                    .as_str()
                    .is_some_and(|e| e.contains("allow.namespaces"))
            })
        },
        &log,
    );
    assert_eq!(state["resources"], json!([]), "{state}");
    let peek = format!("{app}/resource?id=ConfigMap/{other}/x");
    let answer = ureq::get(&peek).call();
    let shown = match answer {
        Ok(mut r) => r.body_mut().read_to_string().unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(!shown.contains("hunter2-private"), "{shown}");
    assert!(
        get_json(&peek).is_none(),
        "no object view for a refused object: {shown}"
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
}

#[test]
fn a_pvc_cannot_be_a_hook_without_an_opt_in() {
    let ns = unique("hookpvc");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(create_namespace(&ns));
    let tmp = tempfile::tempdir().unwrap();
    let pvc = format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: {ns}\n  annotations:\n    helm.sh/hook: pre-install\n\
         spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n"
    );
    let files = [("pvc.yaml", pvc)];
    let config = app_repo(tmp.path(), &ns, &files, "");
    let (code, out) = ordo(&["sync", "--config", config.to_str().unwrap(), "--app", &ns]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "PersistentVolumeClaim/{ns}/data: a PersistentVolumeClaim cannot be a hook"
        )),
        "{out}"
    );
}

#[test]
fn a_replace_never_deletes_an_object_the_app_does_not_own() {
    let ns = unique("replace");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = rt.block_on(async {
        create_namespace(&ns).await;
        let api: Api<ConfigMap> = Api::namespaced(client().await, &ns);
        let frozen: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": "frozen"}, "immutable": true, "data": {"k": "theirs"}}),
        )
        .unwrap();
        api.create(&PostParams::default(), &frozen).await.unwrap()
    });
    let tmp = tempfile::tempdir().unwrap();
    let mine = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  namespace: {ns}\n  annotations:\n    ordo.dev/recreate: \"true\"\n\
         immutable: true\ndata:\n  k: mine\n"
    );
    let config = app_repo(tmp.path(), &ns, &[("frozen.yaml", mine)], "");
    // Adopting takes the object over by applying to it; re-creating it would delete it first.
    let (code, out) = ordo(&[
        "sync",
        "--config",
        config.to_str().unwrap(),
        "--app",
        &ns,
        "--adopt",
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not re-created"), "{out}");
    let after = rt
        .block_on(config_map_in(&ns, "frozen"))
        .expect("still there");
    assert_eq!(
        after.metadata.uid, before.metadata.uid,
        "the same object: never deleted"
    );
    assert_eq!(after.data.unwrap()["k"], "theirs");
}

#[test]
fn a_replace_never_deletes_a_protected_kind_without_an_opt_in() {
    let ns = unique("replacepvc");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(create_namespace(&ns));
    let pvc = |mode: &str| {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  namespace: {ns}\n  annotations:\n    \
             argocd.argoproj.io/sync-options: Replace=true\n    ordo.dev/ignore-health: \"true\"\n\
             spec:\n  accessModes: [{mode}]\n  resources:\n    requests:\n      storage: 1Gi\n"
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = app_repo(tmp.path(), &ns, &[("pvc.yaml", pvc("ReadWriteOnce"))], "");
    let sync = || ordo(&["sync", "--config", config.to_str().unwrap(), "--app", &ns]);
    let (code, out) = sync();
    assert_eq!(code, 0, "{out}");
    let claims: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(rt.block_on(client()), &ns);
    let before = rt.block_on(claims.get("data")).unwrap();
    // An immutable field changes: Replace=true would delete the claim (and its volume's data).
    let work = tmp.path().join("work");
    std::fs::write(work.join("pvc.yaml"), pvc("ReadWriteMany")).unwrap();
    commit_and_push(&work, "replace the claim");
    let (code, out) = sync();
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("not re-created: a PersistentVolumeClaim is never pruned unless"),
        "{out}"
    );
    let after = rt.block_on(claims.get("data")).unwrap();
    assert_eq!(
        after.metadata.uid, before.metadata.uid,
        "the claim was never deleted"
    );
}

/// Live children, events and logs are watched with ordo's account, shared by every viewer; for
/// an app acting as its ServiceAccount a reader sees only what that account may read: here it
/// may deploy but not list pods, so the page shows no children, no events and no log.
#[test]
fn a_reader_sees_live_children_and_logs_only_where_the_apps_account_may() {
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::discovery::ApiResource;
    let ns = unique("looks");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client().await;
        let objects = [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "deployer", "namespace": ns}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "deployer", "namespace": ns},
                   "rules": [
                       {"apiGroups": [""], "resources": ["configmaps", "secrets"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                       {"apiGroups": ["apps"], "resources": ["deployments"],
                        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "deployer", "namespace": ns},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
                   "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}),
        ];
        for o in objects {
            let api_version = o["apiVersion"].as_str().unwrap();
            let kind = o["kind"].as_str().unwrap();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let plural = match kind {
                "Namespace" => "namespaces",
                "ServiceAccount" => "serviceaccounts",
                "Role" => "roles",
                _ => "rolebindings",
            };
            let ar = ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.into(),
                kind: kind.into(),
                plural: plural.into(),
            };
            let name = o["metadata"]["name"].as_str().unwrap();
            let api: Api<DynamicObject> = match o["metadata"]["namespace"].as_str() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            api.patch(name, &PatchParams::apply("test").force(), &Patch::Apply(&o))
                .await
                .unwrap();
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 1\n  \
         selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    \
         spec:\n      containers:\n        - {{name: app, image: example/web:1}}\n"
    );
    let config = app_repo(
        tmp.path(),
        &ns,
        &[("web.yaml", deployment)],
        "    serviceAccountName: deployer\n",
    );
    // Logs are read with the API token (they are never open, whatever readAuth says).
    let token = tmp.path().join("token");
    std::fs::write(&token, "looks-token\n").unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("apiTokenFile: {}\n{text}", token.display()),
    )
    .unwrap();
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&config, &[], &log);
    let address = agent_address(&log);
    let app = format!("http://{address}/api/v1/apps/{ns}");
    eventually(
        "the app to be Healthy",
        || get_json(&app).filter(|s| s["health"] == "Healthy"),
        &log,
    );
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(rt.block_on(client()), &ns);
    let running = rt.block_on(pods.list(&Default::default())).unwrap();
    let pod = running.items.first().expect("the Deployment runs a pod");
    let pod = pod.metadata.name.clone().unwrap();

    let resource = get_json(&format!("{app}/resource?id=Deployment/{ns}/web")).expect("answered");
    assert_eq!(resource["children"], json!([]), "{resource}");
    assert_eq!(resource["events"], json!([]), "{resource}");
    assert!(
        resource["liveError"]
            .as_str()
            .is_some_and(|e| e.contains("serviceAccountName may not list pods")),
        "{resource}"
    );
    let logs = ureq::get(&format!("{app}/logs?pod={pod}&container=app"))
        .header("Authorization", "Bearer looks-token")
        .call();
    assert!(
        matches!(logs, Err(ureq::Error::StatusCode(404))),
        "no log through ordo: {logs:?}"
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
}

/// `createNamespace: true` makes the app's Namespace, with the operator's labels, even though
/// the app may own no cluster-scoped kind; a commit that brings its own Namespace of that name
/// (to set its own labels) is refused whole.
#[test]
fn create_namespace_makes_the_apps_namespace_and_git_cannot_write_it() {
    let ns = unique("created");
    let tmp = tempfile::tempdir().unwrap();
    let extra =
        "    createNamespace: true\n    managedNamespaceMetadata:\n      labels: {team: shop}\n";
    let config = app_repo(
        tmp.path(),
        &ns,
        &[("cm.yaml", config_map(&ns, "settings"))],
        extra,
    );
    let sync = || ordo(&["sync", "--config", config.to_str().unwrap(), "--app", &ns]);
    let (code, out) = sync();
    assert_eq!(code, 0, "{out}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let namespaces: Api<Namespace> = Api::all(rt.block_on(client()));
    let made = rt.block_on(namespaces.get(&ns)).unwrap();
    assert_eq!(made.metadata.labels.unwrap()["team"], "shop");
    assert!(rt.block_on(config_map_in(&ns, "settings")).is_some());

    let work = tmp.path().join("work");
    std::fs::write(
        work.join("ns.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n"
        ),
    )
    .unwrap();
    commit_and_push(&work, "own the namespace");
    let (code, out) = sync();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("is made by the app's createNamespace: true"),
        "{out}"
    );
    let after = rt.block_on(namespaces.get(&ns)).unwrap();
    let labels = after.metadata.labels.unwrap_or_default();
    assert!(
        !labels.contains_key("pod-security.kubernetes.io/enforce"),
        "{labels:?}"
    );
}
