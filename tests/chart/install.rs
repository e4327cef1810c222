//! The chart really installed (kwok plays the pods), and namespaced RBAC really limiting the
//! agent: the real binary, authenticated with the chart's ServiceAccount token.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::unique;
use crate::support::*;

#[test]
fn the_installed_chart_runs_ready_pods_and_a_config_change_rolls_them() {
    let ns = unique("ordo-chart-install");
    let release = unique("inst");
    let app_ns = unique("ordo-chart-app");
    let _ns = Namespaces::create(&[&ns]);
    let mut values = with_apps(vec![one_app(&app_ns)]);
    let mut installed = Release::install(&release, &ns, &values);
    let name = format!("{release}-ordo");

    let forward = format!("kubectl -n {ns} port-forward svc/{name} 8080:8080");
    assert!(
        installed.notes.contains(&forward),
        "NOTES tell how to reach the status page:\n{}",
        installed.notes
    );

    let deployment = get_json(&["get", "deployment", &name, "-n", &ns]);
    assert_eq!(
        deployment["status"]["readyReplicas"], 2,
        "{}",
        deployment["status"]
    );
    for (kind, namespace) in [
        ("serviceaccount", ns.as_str()),
        ("service", ns.as_str()),
        ("configmap", ns.as_str()),
        ("role", ns.as_str()),
        ("rolebinding", ns.as_str()),
        ("poddisruptionbudget", ns.as_str()),
    ] {
        let object = if kind.starts_with("role") {
            format!("{name}-leader-election")
        } else if kind == "configmap" {
            format!("{name}-config")
        } else {
            name.clone()
        };
        assert!(
            exists(kind, &object, namespace),
            "{kind}/{object} in {namespace}"
        );
    }
    let cluster_name = format!("{ns}-{name}");
    for kind in ["clusterrole", "clusterrolebinding"] {
        get_json(&["get", kind, &cluster_name]);
    }
    // What the grants amount to: anything anywhere, and its own Lease.
    assert!(can_i(
        &name,
        &ns,
        "create",
        "deployments.apps",
        "kube-public"
    ));
    assert!(can_i(&name, &ns, "delete", "secrets", &app_ns));
    assert!(can_i(
        &name,
        &ns,
        "update",
        &format!("leases.coordination.k8s.io/{name}"),
        &ns
    ));
    let selector = format!("app.kubernetes.io/instance={release}");
    let ready_pods = |checksum: &str| {
        let pods = get_json(&["get", "pods", "-n", &ns, "-l", &selector]);
        let pods = pods["items"].as_array().cloned().unwrap_or_default();
        pods.len() == 2
            && pods.iter().all(|p| {
                p["metadata"]["annotations"]["checksum/config"] == checksum
                    && p["metadata"]["deletionTimestamp"].is_null()
                    && p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    let template_checksum = |d: &Value| {
        d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = template_checksum(&deployment);
    eventually("two Ready pods", || ready_pods(&before));

    // A config change: new checksum, new pods, Ready again.
    values["config"]["apps"][0]["interval"] = json!("45s");
    installed.upgrade(&values);
    let after = template_checksum(&get_json(&["get", "deployment", &name, "-n", &ns]));
    assert_ne!(before, after, "the changed config changes the pod template");
    eventually("two Ready pods of the new config", || ready_pods(&after));
    let config = get_json(&["get", "configmap", &format!("{name}-config"), "-n", &ns]);
    assert!(
        config["data"]["ordo.yaml"]
            .as_str()
            .unwrap()
            .contains("interval: 45s"),
        "{config}"
    );

    installed.uninstall();
    assert!(
        !output(kubectl().args(["get", "clusterrole", &cluster_name]))
            .status
            .success(),
        "uninstall removes the ClusterRole"
    );
    assert!(!exists("deployment", &name, &ns));
}

#[test]
fn namespaced_rbac_keeps_the_real_agent_out_of_namespaces_it_was_not_granted() {
    let ns = unique("ordo-chart-rbac");
    let (granted, other) = (unique("ordo-chart-yes"), unique("ordo-chart-no"));
    let _ns = Namespaces::create(&[&ns, &granted, &other]);
    let release = unique("rbac");
    let name = format!("{release}-ordo");
    let values = json!({
        "rbac": {"scope": "namespaced", "namespaces": [granted]},
        "config": {"apps": [one_app(&granted)]},
    });
    let mut installed = Release::install(&release, &ns, &values);
    assert!(can_i(&name, &ns, "create", "configmaps", &granted));
    assert!(!can_i(&name, &ns, "create", "configmaps", &other));
    assert!(!can_i(&name, &ns, "create", "namespaces", "default"));

    // The real agent, authenticated as the chart's ServiceAccount, electing itself on the
    // chart's Lease: one app in the granted namespace, one outside it.
    let token = ok(kubectl().args([
        "create",
        "token",
        &name,
        "--namespace",
        &ns,
        "--duration",
        "1h",
    ]));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig_file = token_kubeconfig(dir.path(), token.trim());
    let repo = git_repo(
        dir.path(),
        &[
            ("a/settings.yaml", SETTINGS),
            ("a/extra.yaml", EXTRA),
            ("b/settings.yaml", SETTINGS),
        ],
    );
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {cache}\napps:\n  - {{name: inside, repo: {repo}, ref: main, path: a, namespace: {granted}, interval: 1s, prune: true}}\n  - {{name: outside, repo: {repo}, ref: main, path: b, namespace: {other}, interval: 1s}}\n",
            cache = dir.path().join("cache").display(),
            repo = repo.display(),
        ),
    )
    .unwrap();
    let identity = "chart-test-replica";
    let agent = Agent::start(
        &config,
        &kubeconfig_file,
        &[
            "--leader-elect",
            "--lease-name",
            &name,
            "--lease-namespace",
            &ns,
            "--identity",
            identity,
        ],
        dir.path().join("agent.log"),
    );

    eventually_or(
        "the app in the granted namespace to sync",
        || last_result(&status(&config, &ns), "inside").as_deref() == Some("Succeeded"),
        || {
            format!(
                "status: {}\nagent log:\n{}",
                status(&config, &ns),
                agent.log()
            )
        },
    );
    assert!(exists("configmap", "settings", &granted));
    assert!(exists("configmap", "extra", &granted));

    // Prune works with the namespaced grants: no cluster-wide list is needed.
    ok(Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(["rm", "-q", "a/extra.yaml"])
        .current_dir(&repo));
    ok(Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(["commit", "-q", "-m", "extra leaves"])
        .current_dir(&repo));
    eventually_or(
        "the object that left git to be pruned under namespaced RBAC",
        || !exists("configmap", "extra", &granted),
        || {
            format!(
                "status: {}\nagent log:\n{}",
                status(&config, &ns),
                agent.log()
            )
        },
    );
    assert!(exists("configmap", "settings", &granted));
    let lease = get_json(&["get", "lease", &name, "-n", &ns]);
    assert_eq!(
        lease["spec"]["holderIdentity"], identity,
        "the chart's Lease grant suffices"
    );

    // The other app is refused by the API server, and the agent says so.
    let mut refusal = None;
    eventually_or(
        "the agent to report the refused namespace",
        || {
            refusal = agent.lines().into_iter().find(|l| {
                let fields = l["fields"].to_string();
                l["fields"]["app"] == "outside"
                    && fields.contains("forbidden")
                    && fields.contains(other.as_str())
            });
            refusal.is_some()
        },
        || format!("agent log:\n{}", agent.log()),
    );
    let refusal = refusal.unwrap();
    assert!(
        matches!(refusal["level"].as_str(), Some("WARN" | "ERROR")),
        "{refusal}"
    );
    assert!(!exists("configmap", "settings", &other));
    assert!(!exists("configmap", "ordo-outside-state", &other));
    // Its state lives in ordo's namespace, so the refusal is on record there.
    let outside = &status(&config, &ns)["outside"]["history"][0];
    assert_eq!(outside["result"], "Failed", "{outside}");
    assert!(
        outside["error"]
            .as_str()
            .is_some_and(|e| e.contains("not allowed to read or write")),
        "{outside}"
    );
    drop(agent);
    installed.uninstall();
}
