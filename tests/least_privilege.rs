//! Least privilege per app (issue #13) against the local control plane: an app that acts as a
//! ServiceAccount can do only what that account may, and an app's allow list refuses a commit
//! that reaches outside it, whole, naming the object and the rule. Without KUBECONFIG these
//! fail, never skip.

mod common;
use common::{bare_repo, client, commit_and_push, kubeconfig, unique};

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
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

fn cluster_role_binding(name: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\n\
         subjects:\n  - kind: ServiceAccount\n    name: default\n    namespace: kube-system\n"
    )
}

/// Applies `objects` as the test's admin (server-side apply).
async fn apply(objects: &[serde_json::Value]) {
    let client = client().await;
    for o in objects {
        let api_version = o["apiVersion"].as_str().unwrap();
        let kind = o["kind"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_ascii_lowercase()),
        };
        let name = o["metadata"]["name"].as_str().unwrap();
        let api: Api<DynamicObject> = match o["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        api.patch(name, &PatchParams::apply("test").force(), &Patch::Apply(o))
            .await
            .unwrap();
    }
}

/// Namespace `ns` with a ServiceAccount `deployer` that may manage ConfigMaps and Secrets (the
/// ApplySet parent is a Secret) there, and nothing else.
async fn namespace_with_deployer(ns: &str) {
    apply(&[
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "deployer", "namespace": ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "deployer", "namespace": ns},
               "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                          "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "deployer", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
               "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}),
    ])
    .await;
}

async fn exists(ns: &str, name: &str) -> bool {
    let api: Api<ConfigMap> = Api::namespaced(client().await, ns);
    api.get_opt(name).await.unwrap().is_some()
}

#[test]
fn an_app_acting_as_its_service_account_cannot_reach_beyond_its_rights() {
    let ns = unique("least");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(namespace_with_deployer(&ns));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), config_map(&ns, "a")).unwrap();
    let as_deployer = format!("system:serviceaccount:{ns}:deployer");
    let sync = |dir: &Path| {
        ordo(&[
            "sync",
            dir.to_str().unwrap(),
            "--namespace",
            &ns,
            "--app",
            &ns,
            "--as",
            &as_deployer,
        ])
    };
    let (code, out) = sync(dir.path());
    assert_eq!(code, 0, "within its rights: {out}");
    assert!(rt.block_on(exists(&ns, "a")));

    // The same commit adds a ConfigMap and a ClusterRoleBinding granting cluster-admin.
    let binding = unique("escalate");
    std::fs::write(dir.path().join("b.yaml"), config_map(&ns, "b")).unwrap();
    std::fs::write(dir.path().join("crb.yaml"), cluster_role_binding(&binding)).unwrap();
    let (code, out) = sync(dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("nothing was applied")
            && out.contains(&format!("ClusterRoleBinding/{binding}")),
        "{out}"
    );
    assert!(
        !rt.block_on(exists(&ns, "b")),
        "refused whole: the ConfigMap of the same commit is not applied"
    );
}

#[test]
fn an_allow_list_refuses_a_commit_that_reaches_outside_it_whole() {
    let ns = unique("allow");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(namespace_with_deployer(&ns));
    let tmp = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(tmp.path());
    std::fs::write(work.join("a.yaml"), config_map(&ns, "a")).unwrap();
    std::fs::write(work.join("elsewhere.yaml"), config_map("default", &ns)).unwrap();
    std::fs::write(
        work.join("crb.yaml"),
        cluster_role_binding(&unique("escalate")),
    )
    .unwrap();
    commit_and_push(&work, "reach outside");
    let config = tmp.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "apps:\n  - name: {ns}\n    repo: {}\n    namespace: {ns}\n    allow:\n      namespaces: [\"{ns}\"]\n      clusterKinds: []\n",
            bare.display()
        ),
    )
    .unwrap();
    let (code, out) = ordo(&["sync", "--config", config.to_str().unwrap(), "--app", &ns]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("outside what this app may write"), "{out}");
    assert!(
        out.contains(&format!(
            "ConfigMap/default/{ns}: namespace default is not in the app's allow.namespaces"
        )),
        "{out}"
    );
    assert!(
        out.contains("ClusterRoleBinding.rbac.authorization.k8s.io is not in the app's allow.clusterKinds (none)"),
        "{out}"
    );
    assert!(!rt.block_on(exists(&ns, "a")), "nothing was applied");
}
