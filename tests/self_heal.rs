//! Self-heal that does not fight (issue #13), with `ordo run` against the local control plane:
//! another writer that keeps putting its value back (what an HPA does to `spec.replicas`) is
//! answered ever less often, and the page, the API and the metrics name it.

mod common;
use common::{agent_address, bare_repo, client, commit_and_push, eventually, spawn_agent, unique};

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn get(url: &str) -> Option<String> {
    ureq::get(url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
}

#[test]
fn a_writer_that_fights_self_heal_is_answered_ever_less_often_and_named() {
    let app = unique("fight");
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::write(
        work.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scale\n  namespace: {app}\ndata:\n  replicas: \"2\"\n"
        ),
    )
    .unwrap();
    commit_and_push(&work, "app");
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {}\napps:\n  - name: {app}\n    repo: {}\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    selfHeal: true\n",
            dir.path().join("cache").display(),
            bare.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = spawn_agent(&config, &[], &log);
    let address = agent_address(&log);
    let api = format!("http://{address}/api/v1/apps/{app}");
    eventually(
        "the first sync",
        || {
            let doc: Value = serde_json::from_str(&get(&api)?).ok()?;
            (doc["syncStatus"] == "Synced" && doc["health"] == "Healthy").then_some(())
        },
        &log,
    );

    // The fighter: whenever the field is not its value, it writes it back, as a controller
    // does; it counts how often it found ordo's value there (each time, ordo healed).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let heals = rt.block_on(async {
        let cms: Api<ConfigMap> = Api::namespaced(client().await, &app);
        let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "scale"}, "data": {"replicas": "5"}});
        let params = PatchParams::apply("fighter").force();
        let mut heals = 0;
        let until = Instant::now() + Duration::from_secs(12);
        while Instant::now() < until {
            let cm = cms.get("scale").await.unwrap();
            let value = cm.data.unwrap_or_default().get("replicas").cloned();
            if value.as_deref() != Some("5") {
                heals += 1;
                cms.patch("scale", &params, &Patch::Apply(&theirs))
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        heals
    });
    // Without a backoff ordo heals within a fraction of a second each time: over 12 s that is
    // dozens of rounds. With waits of 1, 2, 4, 8 s it is a handful.
    assert!(
        (2..=7).contains(&heals),
        "ordo healed {heals} times in 12 s of fighting\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let resource = eventually(
        "the page's data to name the other writer",
        || {
            let doc: Value = serde_json::from_str(&get(&api)?).ok()?;
            let r = doc["resources"]
                .as_array()?
                .iter()
                .find(|r| r["id"] == format!("ConfigMap/{app}/scale"))?
                .clone();
            r["message"]
                .as_str()?
                .contains("data.replicas is also managed by fighter")
                .then_some(r)
        },
        &log,
    );
    assert!(
        resource["message"]
            .as_str()
            .unwrap()
            .contains("self-heal waits")
            || resource["message"]
                .as_str()
                .unwrap()
                .starts_with("drift healed"),
        "{resource}"
    );
    let metrics = get(&format!("http://{address}/metrics")).unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with(&format!(
            "ordo_app_drift_contested_total{{app=\"{app}\",manager=\"fighter\"}}"
        ))),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("drift"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let _ = agent.kill();
    let _ = agent.wait();
}
