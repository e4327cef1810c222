//! `ordo run` following a repository that is not plain YAML: a Kustomize overlay (base,
//! component, hash-suffixed generated ConfigMap) and a Helm chart (values files, a vendored
//! dependency, a pre-install hook), rendered by the real kustomize and helm and synced to the
//! local control plane (`scripts/cluster.sh up`). Without KUBECONFIG it fails, never skips.

#[allow(dead_code)] // shared by every test binary; this one needs only some of it
mod common;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use common::{bare_repo, client, commit_and_push, kubeconfig, served_address, unique};
use support::k8s_bin;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

/// Copies the render fixtures into `to`, with the staging overlay's namespace set to `ns`.
fn copy(from: &Path, to: &Path, ns: &str) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("fixtures") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy(&entry.path(), &target, ns);
        } else {
            let body = std::fs::read_to_string(entry.path()).expect("fixture");
            let body = body.replace("namespace: staging", &format!("namespace: {ns}"));
            std::fs::write(target, body).expect("copied");
        }
    }
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(config: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["status", "--config", config.to_str().unwrap_or_default()])
        .args(["-o", "json"])
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("ordo status runs");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// The last result of each app, by name, once every app has one.
fn wait_for_results(config: &Path, log: &Path, apps: usize) -> Vec<(String, Value)> {
    let started = Instant::now();
    loop {
        let doc = status(config);
        let results: Vec<(String, Value)> = doc
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let entry = a["state"]["history"].get(0)?.clone();
                Some((a["name"].as_str()?.to_owned(), entry))
            })
            .collect();
        if results.len() == apps {
            return results;
        }
        assert!(
            started.elapsed() < WAIT,
            "timed out; status {doc}\nagent log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_agent_syncs_a_kustomize_overlay_and_a_helm_chart_from_git() {
    let id = unique("render");
    let (overlay_ns, chart_ns) = (format!("{id}-k"), format!("{id}-h"));
    let dir = tempfile::tempdir().expect("temp dir");
    let (bare, work) = bare_repo(dir.path());
    copy(
        Path::new("tests/fixtures/render/kustomize"),
        &work.join("kustomize"),
        &overlay_ns,
    );
    copy(
        Path::new("tests/fixtures/render/charts"),
        &work.join("charts"),
        &overlay_ns,
    );
    copy(
        Path::new("tests/fixtures/render/envs"),
        &work.join("envs"),
        &overlay_ns,
    );
    commit_and_push(&work, "a kustomize overlay and a helm chart");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(client());
    for ns in [&overlay_ns, &chart_ns] {
        let api: Api<Namespace> = Api::all(client.clone());
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("ns");
        rt.block_on(api.create(&PostParams::default(), &namespace))
            .expect("namespace created");
    }
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0
cacheDir: {cache}
apps:
  - name: {overlay_ns}
    repo: {repo}
    ref: main
    path: kustomize/overlays/staging
    namespace: {overlay_ns}
    interval: 1s
    timeout: 60s
  - name: {chart_ns}
    repo: {repo}
    ref: main
    path: charts/shop
    namespace: {chart_ns}
    interval: 1s
    timeout: 60s
    helm:
      releaseName: shop
      valueFiles: [envs/shop-common.yaml]
      values: {{greeting: from-config}}
",
            cache = dir.path().join("cache").display(),
            repo = bare.display(),
        ),
    )
    .expect("config written");
    let log = dir.path().join("agent.log");
    let _agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["run", "--config", config.to_str().unwrap_or_default()])
            .env("KUBECONFIG", kubeconfig())
            .env("ORDO_KUSTOMIZE", k8s_bin("kustomize"))
            .env("ORDO_HELM", k8s_bin("helm"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("the agent starts"),
    );

    for (app, entry) in wait_for_results(&config, &log, 2) {
        assert_eq!(entry["result"], "Succeeded", "{app}: {entry}");
    }

    // Kustomize: prefix, namespace, image tag, and the generated ConfigMap's hashed name
    // followed by the Deployment and by the config hash on its pod template.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &overlay_ns);
    let web = rt
        .block_on(deployments.get("staging-web"))
        .expect("the overlay's Deployment is live");
    let template = web.spec.as_ref().map(|s| &s.template);
    let container = template
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.first())
        .expect("a container");
    assert!(
        container
            .image
            .as_deref()
            .is_some_and(|i| i.ends_with(":1.1-rc.1")),
        "{:?}",
        container.image
    );
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &overlay_ns);
    let generated: Vec<String> = rt
        .block_on(maps.list(&ListParams::default()))
        .expect("list")
        .items
        .into_iter()
        .filter_map(|m| m.metadata.name)
        .filter(|n| n.starts_with("staging-web-config-"))
        .collect();
    assert_eq!(generated.len(), 1, "{generated:?}");
    let annotations = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert!(
        annotations.contains_key("ordo.dev/config-hash"),
        "the config hash follows the generated name: {annotations:?}"
    );

    // Helm: release name, values files then inline values, the vendored dependency, and the
    // pre-install hook run as a PreSync hook before the rest.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &chart_ns);
    let shop = rt
        .block_on(deployments.get("shop-web"))
        .expect("the chart's Deployment is live");
    assert_eq!(shop.spec.as_ref().and_then(|s| s.replicas), Some(3));
    rt.block_on(deployments.get("shop-cache"))
        .expect("the vendored dependency's Deployment is live");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &chart_ns);
    let config_map = rt
        .block_on(maps.get("shop-config"))
        .expect("the chart's ConfigMap");
    let data = config_map.data.unwrap_or_default();
    assert!(
        data.values().any(|v| v.contains("from-config")),
        "inline values win: {data:?}"
    );
    assert_eq!(
        data.get("KUBE_VERSION").map(String::as_str),
        Some("v1.34.4"),
        ".Capabilities come from the target cluster, not Helm's defaults"
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &chart_ns);
    let migrate = rt
        .block_on(jobs.get("shop-migrate"))
        .expect("the pre-install hook ran");
    let labels = migrate.metadata.labels.unwrap_or_default();
    assert!(labels.contains_key("ordo.dev/hook-of"), "{labels:?}");

    // The API says how each app was rendered and where each object came from.
    let address = served_address(&std::fs::read_to_string(&log).unwrap_or_default())
        .expect("the agent logs its address");
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    for (app, kind, file) in [
        (&chart_ns, "helm", "shop/templates/deployment.yaml (helm)"),
        (
            &overlay_ns,
            "kustomize",
            "kustomize/overlays/staging (kustomize)",
        ),
    ] {
        let text = http
            .get(&format!("http://{address}/api/v1/apps/{app}"))
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("GET app {app}: {e}"));
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(doc["sourceKind"], kind, "{doc}");
        let sources: Vec<&str> = doc["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["source"].as_str())
            .collect();
        assert!(
            sources.iter().any(|s| s.starts_with(file)),
            "{file} in {sources:?}"
        );
    }
}
