//! Prune that cannot surprise (issue #13), with `ordo sync --prune` against the local control
//! plane: a labelled copy outside the app's namespaces, an object its controller owns, a
//! Namespace that left git, and a prune of most of the app. Each test works in namespaces of
//! its own. Without KUBECONFIG they fail, never skip.

mod common;
use common::{client, kubeconfig, unique};

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// Runs `ordo sync DIR --prune -o json` for app `app`; returns (exit code, report, stdout+stderr).
fn sync(dir: &Path, app: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "sync",
        dir.to_str().unwrap(),
        "--namespace",
        app,
        "--app",
        app,
        "--prune",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(&args)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("ordo runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), report, text)
}

fn write(dir: &Path, file: &str, body: &str) {
    std::fs::write(dir.join(file), body).unwrap();
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn config_map(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  k: v\n"
    )
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn exists(ns: &str, name: &str) -> bool {
    let api: Api<ConfigMap> = Api::namespaced(client().await, ns);
    api.get_opt(name).await.unwrap().is_some()
}

/// The app's ApplySet id, read from the parent Secret's label.
async fn applyset_id(app: &str) -> String {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client().await, app);
    let parent = api.get(&format!("ordo-{app}")).await.unwrap();
    parent.metadata.labels.unwrap()["applyset.kubernetes.io/id"].clone()
}

async fn create_config_map(ns: &str, name: &str, part_of: &str, owner: Option<Value>) {
    let mut cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"applyset.kubernetes.io/part-of": part_of}},
        "data": {"planted": "yes"}
    });
    if let Some(owner) = owner {
        cm["metadata"]["ownerReferences"] = json!([owner]);
    }
    let api: Api<ConfigMap> = Api::namespaced(client().await, ns);
    api.create(&PostParams::default(), &serde_json::from_value(cm).unwrap())
        .await
        .unwrap();
}

#[test]
fn labelled_copies_elsewhere_and_controlled_objects_are_never_pruned() {
    let app = unique("guard");
    let other = unique("guard-other");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ns.yaml", &namespace(&app));
    write(dir.path(), "a.yaml", &config_map(&app, "a"));
    let (code, _, out) = sync(dir.path(), &app, &[]);
    assert_eq!(code, 0, "{out}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let id = applyset_id(&app).await;
        // Anyone can compute the label's value: a copy in a namespace the app never used…
        let namespaces: Api<Namespace> = Api::all(client().await);
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": other}})).unwrap(),
            )
            .await
            .unwrap();
        create_config_map(&other, "copy", &id, None).await;
        // …and, in the app's own namespace, an object its controller owns.
        let cms: Api<ConfigMap> = Api::namespaced(client().await, &app);
        let owner = cms.get("a").await.unwrap();
        let owner_ref = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "a",
                               "uid": owner.metadata.uid.unwrap(), "controller": true});
        create_config_map(&app, "controlled", &id, Some(owner_ref)).await;
    });

    let (code, report, out) = sync(dir.path(), &app, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings(&report["pruned"]), Vec::<String>::new(), "{out}");
    let withheld: Vec<String> = report["pruneWithheld"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|w| format!("{} {}", w["id"], w["reason"]))
        .collect();
    assert_eq!(withheld.len(), 1, "{withheld:?}");
    assert!(
        withheld[0].contains(&format!("ConfigMap/{app}/controlled"))
            && withheld[0].contains("controlled by ConfigMap/a"),
        "{withheld:?}"
    );
    rt.block_on(async {
        assert!(
            exists(&other, "copy").await,
            "outside the recorded namespaces"
        );
        assert!(exists(&app, "controlled").await, "its controller owns it");
    });
}

#[test]
fn a_namespace_that_left_git_stays_unless_its_kind_is_allowed() {
    let app = unique("guard-ns");
    let extra = unique("guard-extra");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ns.yaml", &namespace(&app));
    write(dir.path(), "extra-ns.yaml", &namespace(&extra));
    write(dir.path(), "a.yaml", &config_map(&app, "a"));
    write(dir.path(), "b.yaml", &config_map(&extra, "b"));
    let (code, _, out) = sync(dir.path(), &app, &[]);
    assert_eq!(code, 0, "{out}");

    // The namespace and what was in it leave git.
    std::fs::remove_file(dir.path().join("extra-ns.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    let (code, report, out) = sync(dir.path(), &app, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        strings(&report["pruned"]),
        [format!("ConfigMap/{extra}/b")],
        "what was inside goes: the namespace is still recorded on the parent"
    );
    let withheld = &report["pruneWithheld"][0];
    assert_eq!(withheld["id"], format!("Namespace/{extra}"));
    assert!(
        withheld["reason"]
            .as_str()
            .unwrap()
            .contains("pruneGuard.allowKinds"),
        "{withheld}"
    );

    let (code, report, out) = sync(dir.path(), &app, &["--prune-allow-kind", "Namespace"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings(&report["pruned"]), [format!("Namespace/{extra}")]);
}

#[test]
fn a_prune_of_most_of_the_app_waits_for_confirmation() {
    let app = unique("guard-big");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ns.yaml", &namespace(&app));
    for i in 0..12 {
        write(
            dir.path(),
            &format!("cm-{i}.yaml"),
            &config_map(&app, &format!("cm-{i}")),
        );
    }
    let (code, _, out) = sync(dir.path(), &app, &[]);
    assert_eq!(code, 0, "{out}");

    // A path typo or a deleted directory: 11 of 13 objects would go.
    for i in 1..12 {
        std::fs::remove_file(dir.path().join(format!("cm-{i}.yaml"))).unwrap();
    }
    let (code, report, out) = sync(dir.path(), &app, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(strings(&report["pruned"]), Vec::<String>::new());
    assert_eq!(
        report["pruneAwaitingConfirmation"]
            .as_array()
            .unwrap()
            .len(),
        11,
        "{report}"
    );
    assert!(out.contains("--confirm-prune"), "{out}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(exists(&app, "cm-5")), "held, not deleted");

    let (code, report, out) = sync(dir.path(), &app, &["--confirm-prune"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["pruned"].as_array().unwrap().len(), 11, "{report}");
    assert!(!rt.block_on(exists(&app, "cm-5")));
    assert!(rt.block_on(exists(&app, "cm-0")));
}
