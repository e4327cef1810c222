//! A PostSync hook Job that its TTL deleted is not run again (issue #13): hooks are not the
//! app's resources, so neither self-heal nor the next routine reconcile re-creates them (the
//! smoke test would run twice). kwok completes the Job's pod; the TTL controller of the local
//! control plane deletes the Job.

mod common;
use common::{
    agent_address, bare_repo, client, commit_and_push, eventually, get_json, spawn_agent, unique,
};

use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;

#[test]
fn a_hook_job_deleted_by_its_ttl_is_not_run_again() {
    let app = unique("ttl");
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::write(
        work.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {app}\n---\n\
             apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: smoke\n  namespace: {app}\n  \
             annotations: {{argocd.argoproj.io/hook: PostSync}}\nspec:\n  ttlSecondsAfterFinished: 1\n  \
             backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      \
             containers: [{{name: run, image: smoke:1}}]\n"
        ),
    )
    .unwrap();
    commit_and_push(&work, "app with a smoke test");
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {}\napps:\n  - name: {app}\n    repo: {}\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    selfHeal: true\n    prune: true\n",
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
        "the sync with its PostSync hook to succeed",
        || {
            let doc = get_json(&url)?;
            (doc["history"][0]["result"] == "Succeeded").then_some(())
        },
        &log,
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let jobs: Api<Job> = rt.block_on(async { Api::namespaced(client().await, &app) });
    let count = || {
        rt.block_on(jobs.list(&Default::default()))
            .unwrap()
            .items
            .len()
    };
    eventually(
        "the TTL controller to delete the finished hook Job",
        || (count() == 0).then_some(()),
        &log,
    );

    // Three more reconciles of the agent, each with the drift watch running.
    let seen = get_json(&url).unwrap()["reconciledAt"]
        .as_f64()
        .unwrap_or(0.0);
    let mut passes = 0;
    let mut last = seen;
    eventually(
        "three more reconciles",
        || {
            let now = get_json(&url)?["reconciledAt"].as_f64()?;
            if now > last {
                passes += 1;
                last = now;
            }
            (passes >= 3).then_some(())
        },
        &log,
    );
    assert_eq!(count(), 0, "the hook Job was not re-created");
    let history = get_json(&url).unwrap()["history"].as_array().unwrap().len();
    assert_eq!(history, 1, "no further sync ran the hook again");
    let _ = agent.kill();
    let _ = agent.wait();
}
