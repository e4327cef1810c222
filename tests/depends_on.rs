//! `dependsOn` between apps (issue #14), with `ordo run` against the local control plane: an
//! app waits, and says so, until the app it depends on is Healthy and Synced, then syncs.

mod common;
use common::{
    agent_address, bare_repo, commit_and_push, eventually, get_json, spawn_agent, unique,
};

fn controller(ns: &str, node_selector: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: controller\n  namespace: {ns}\nspec:\n  \
         selector: {{matchLabels: {{app: controller}}}}\n  template:\n    metadata: {{labels: {{app: controller}}}}\n    \
         spec:\n      nodeSelector: {node_selector}\n      containers: [{{name: c, image: controller:1}}]\n"
    )
}

#[test]
fn an_app_waits_for_the_app_it_depends_on_and_then_syncs() {
    let base = unique("deps");
    let (first, second) = (format!("{base}-ingress"), format!("{base}-shop"));
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::create_dir_all(work.join("ingress")).unwrap();
    std::fs::create_dir_all(work.join("shop")).unwrap();
    // The ingress controller cannot be scheduled yet.
    std::fs::write(
        work.join("ingress/app.yaml"),
        controller(&first, "{nowhere: \"true\"}"),
    )
    .unwrap();
    std::fs::write(
        work.join("shop/app.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {second}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {second}\n"
        ),
    )
    .unwrap();
    commit_and_push(&work, "ingress and shop");
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {cache}\napps:\n\
             \x20 - {{name: {first}, repo: {repo}, path: ingress, namespace: {first}, allow: {{clusterKinds: [Namespace]}}, interval: 1s, timeout: 10s}}\n\
             \x20 - {{name: {second}, repo: {repo}, path: shop, namespace: {second}, allow: {{clusterKinds: [Namespace]}}, interval: 10m, dependsOn: [{first}]}}\n",
            cache = dir.path().join("cache").display(),
            repo = bare.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = spawn_agent(&config, &[], &log);
    let address = agent_address(&log);
    let first_url = format!("http://{address}/api/v1/apps/{first}");
    let second_url = format!("http://{address}/api/v1/apps/{second}");

    // The first app's sync times out; the second waits and says why.
    eventually(
        "the first app's sync to time out",
        || (get_json(&first_url)?["history"][0]["result"] == "TimedOut").then_some(()),
        &log,
    );
    let waiting = eventually(
        "the second app to say what it waits for",
        || {
            let doc = get_json(&second_url)?;
            let step = doc["currentStep"].as_str()?.to_owned();
            step.contains(&format!("waiting for app {first} (dependsOn)"))
                .then_some(doc)
        },
        &log,
    );
    assert!(
        waiting["history"].as_array().is_none_or(Vec::is_empty),
        "nothing synced while it waits: {waiting}"
    );

    // The controller can run now: the first app converges, then the second syncs at once
    // (its interval is ten minutes: the dependency turning Healthy is what wakes it).
    std::fs::write(work.join("ingress/app.yaml"), controller(&first, "{}")).unwrap();
    commit_and_push(&work, "schedulable controller");
    eventually(
        "the second app to sync once the first is Healthy, well before its interval",
        || (get_json(&second_url)?["history"][0]["result"] == "Succeeded").then_some(()),
        &log,
    );
    let first_done = get_json(&first_url).unwrap();
    assert_eq!(first_done["health"], "Healthy", "{first_done}");
    let _ = agent.kill();
    let _ = agent.wait();
}
