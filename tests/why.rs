//! "Why is it Degraded?" on the local control plane. kwok's stages from `scripts/cluster.sh`
//! make pods labelled `kwok.ordo.dev/behaviour` misbehave as a kubelet would report it
//! (ErrImagePull, CrashLoopBackOff with restarts, a failed container) and serve container logs,
//! current and previous, through the API server. ordo must quote the decisive fact in
//! `ordo sync`'s output and the API, and show children, events and logs.

#[allow(dead_code)] // shared by every test binary; this one needs only some of it
mod common;
use common::{bare_repo, commit_and_push, served_address, spawn_agent, unique};

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "why-test-token";

/// A Deployment whose pods misbehave as `behaviour` says, giving up after 5 s without progress.
fn deployment(ns: &str, name: &str, behaviour: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: 1
  progressDeadlineSeconds: 5
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}, kwok.ordo.dev/behaviour: {behaviour}}}}}
    spec:
      containers: [{{name: api, image: \"backend:1.5.0\"}}]
"
    )
}

fn namespace(ns: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
}

fn ordo_sync(dir: &Path, ns: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["sync", dir.to_str().expect("UTF-8 path"), "--namespace", ns])
        .args(["--timeout", "60s"])
        .env("KUBECONFIG", common::kubeconfig())
        .output()
        .expect("ordo sync runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn delete_namespace(ns: &str) {
    let _ = Command::new("kubectl")
        .args(["delete", "namespace", ns, "--wait=false"])
        .env("KUBECONFIG", common::kubeconfig())
        .output();
}

#[test]
fn a_bad_image_ends_degraded_with_the_pull_error_quoted_in_sync_output() {
    let ns = unique("why-pull");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ns.yaml"), namespace(&ns)).expect("written");
    std::fs::write(
        dir.path().join("backend.yaml"),
        deployment(&ns, "backend", "image-pull-error"),
    )
    .expect("written");
    let (code, output) = ordo_sync(dir.path(), &ns);
    delete_namespace(&ns);
    assert_eq!(code, 1, "a Degraded Deployment fails the sync:\n{output}");
    let line = output
        .lines()
        .find(|l| l.contains("degraded") && l.contains("Deployment/"))
        .unwrap_or_else(|| panic!("no degraded line:\n{output}"));
    assert!(line.contains("progress deadline exceeded"), "{line}");
    assert!(
        line.contains("ErrImagePull")
            && line.contains("failed to pull and unpack image \"backend:1.5.0\""),
        "the pod's pull error is quoted: {line}"
    );
}

#[test]
fn a_failing_job_shows_its_pods_failure() {
    let ns = unique("why-job");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ns.yaml"), namespace(&ns)).expect("written");
    std::fs::write(
        dir.path().join("migrate.yaml"),
        format!(
            "apiVersion: batch/v1
kind: Job
metadata: {{name: migrate, namespace: {ns}}}
spec:
  backoffLimit: 0
  template:
    metadata: {{labels: {{kwok.ordo.dev/behaviour: fail}}}}
    spec:
      restartPolicy: Never
      containers: [{{name: migrate, image: \"backend:1.5.0\"}}]
"
        ),
    )
    .expect("written");
    let (code, output) = ordo_sync(dir.path(), &ns);
    delete_namespace(&ns);
    assert_eq!(code, 1, "a failed Job fails the sync:\n{output}");
    let line = output
        .lines()
        .find(|l| l.contains("Job/") && l.contains("failed:"))
        .unwrap_or_else(|| panic!("no failed Job line:\n{output}"));
    assert!(
        line.contains("container migrate exited with code 1 (Error): migration failed"),
        "the pod's failure is quoted: {line}"
    );
}

/// `ordo run` with `readAuth: token` following a repository of misbehaving Deployments.
struct Agent {
    _dir: tempfile::TempDir,
    app: String,
    log: PathBuf,
    child: Child,
    base: String,
}

impl Agent {
    fn start(app: &str, files: &[(&str, String)]) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        let (bare, work) = bare_repo(dir.path());
        for (name, body) in files {
            std::fs::write(work.join(name), body).expect("manifest written");
        }
        commit_and_push(&work, "misbehaving workloads");
        let token = dir.path().join("token");
        std::fs::write(&token, format!("{TOKEN}\n")).expect("token file");
        let config = dir.path().join("ordo.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\ncacheDir: {cache}\napiTokenFile: {token}\nreadAuth: token\napps:\n  - name: {app}\n    repo: {repo}\n    ref: main\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1h\n    timeout: 60s\n",
                cache = dir.path().join("cache").display(),
                token = token.display(),
                repo = bare.display(),
            ),
        )
        .expect("config file");
        let log = dir.path().join("agent.log");
        let child = spawn_agent(&config, &[], &log);
        let started = Instant::now();
        let base = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(address) = served_address(&text) {
                break format!("http://{address}");
            }
            assert!(started.elapsed() < WAIT, "agent did not serve:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Agent {
            _dir: dir,
            app: app.to_owned(),
            log,
            child,
            base,
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let client: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut request = client.get(&format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The lines of a streamed answer, as they arrive, on a channel.
    fn stream_lines(&self, path: &str, token: &str) -> std::sync::mpsc::Receiver<String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        std::thread::spawn(move || {
            use std::io::BufRead;
            let Ok(mut response) = ureq::get(&url).header("Authorization", &auth).call() else {
                return;
            };
            let reader = std::io::BufReader::new(response.body_mut().as_reader());
            for line in reader.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn wait(&self, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (_, doc) = self.get(path, Some(TOKEN));
            if done(&doc) {
                return doc;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what}: {doc}\nagent log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        delete_namespace(&self.app);
    }
}

/// Every Pod in a resource document's children, depth first.
fn pods(children: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for c in children.as_array().into_iter().flatten() {
        if c["kind"] == "Pod" {
            out.push(c.clone());
        }
        out.extend(pods(&c["children"]));
    }
    out
}

#[test]
fn the_api_says_why_and_shows_children_events_and_the_previous_log_behind_the_token() {
    let app = unique("why-api");
    let agent = Agent::start(
        &app,
        &[
            ("ns.yaml", namespace(&app)),
            (
                "backend.yaml",
                deployment(&app, "backend", "image-pull-error"),
            ),
            ("worker.yaml", deployment(&app, "worker", "crash-loop")),
        ],
    );
    let app_path = format!("/api/v1/apps/{app}");

    // readAuth: token: reads need the token; probes and metrics do not.
    assert_eq!(agent.get(&app_path, None).0, 401);
    assert_eq!(agent.get("/api/v1/apps", Some("wrong")).0, 401);
    assert_eq!(agent.get("/healthz", None).0, 200);
    assert_eq!(agent.get("/metrics", None).0, 200);

    // The sync fails, and the API quotes the pull error on the object and in the history.
    let state = agent.wait("the sync to fail", &app_path, |s| {
        s["history"][0]["result"] == "Failed"
    });
    let backend = state["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "backend"))
        .unwrap_or_else(|| panic!("no backend in {state}"));
    assert_eq!(backend["health"], "Degraded", "{backend}");
    let message = backend["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ErrImagePull") && message.contains("backend:1.5.0"),
        "the pull error is quoted: {message}"
    );
    assert!(
        state["history"][0].to_string().contains("ErrImagePull"),
        "and in the history: {}",
        state["history"][0]
    );
    // And in the metrics, as a bounded reason.
    let (_, metrics) = agent.get("/metrics", None);
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains(&format!(
            "ordo_resources_degraded{{app=\"{app}\",reason=\"ImagePull\"}} 1"
        )),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("degraded"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The crash-looping worker: its pod with restarts, the BackOff event, the previous log.
    let resource = format!("/api/v1/apps/{app}/resource?id=Deployment/{app}/worker");
    let doc = agent.wait("the worker's crash-looping pod", &resource, |d| {
        pods(&d["children"]).iter().any(|p| p["restarts"] == 4)
    });
    assert_eq!(doc["children"][0]["kind"], "ReplicaSet", "{doc}");
    let pod = pods(&doc["children"]).remove(0);
    assert_eq!(pod["ready"], "0/1");
    assert!(
        pod["node"]
            .as_str()
            .is_some_and(|n| n.starts_with("kwok-node-"))
    );
    assert!(
        pod["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CrashLoopBackOff"),
        "{pod}"
    );
    let doc = agent.wait("the BackOff event", &resource, |d| {
        d["events"].as_array().into_iter().flatten().any(|e| {
            e["reason"] == "BackOff"
                && e["type"] == "Warning"
                && e["object"].as_str().is_some_and(|o| o.starts_with("Pod/"))
        })
    });
    assert!(
        doc["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["reason"] == "ScalingReplicaSet"),
        "the Deployment's own events too: {}",
        doc["events"]
    );
    let pod_name = pod["name"].as_str().expect("pod name");
    let logs = format!("/api/v1/apps/{app}/logs?pod={pod_name}&container=api&previous=true");
    assert_eq!(agent.get(&logs, None).0, 401, "logs need the token");
    let (status, log) = agent.get(&logs, Some(TOKEN));
    assert_eq!(status, 200, "{log}");
    assert!(
        log["text"]
            .as_str()
            .unwrap_or_default()
            .contains("panic: cannot reach the database"),
        "the previous instance's log: {log}"
    );
    let (status, log) = agent.get(
        &logs.replace("previous=true", "previous=false"),
        Some(TOKEN),
    );
    assert_eq!(status, 200, "{log}");
    assert!(
        log["text"]
            .as_str()
            .unwrap_or_default()
            .contains("ready to serve requests")
    );
    // Only pods the app runs: not any pod of the cluster.
    let other = format!("/api/v1/apps/{app}/logs?pod=kube-apiserver&container=api");
    assert_eq!(agent.get(&other, Some(TOKEN)).0, 404);

    // Followed: the last lines, then a line the container writes while the reader holds on.
    let follow = format!("/api/v1/apps/{app}/logs/follow?pod={pod_name}&container=api");
    assert_eq!(
        agent.get(&follow, None).0,
        401,
        "followed logs need the token"
    );
    let lines = agent.stream_lines(&follow, TOKEN);
    let first = lines
        .recv_timeout(WAIT)
        .expect("the log's last lines arrive");
    assert!(first.contains("starting on :8080"), "{first}");
    let written = format!("a line written while followed {}", unique("log"));
    kwok_log_append(&written);
    let started = Instant::now();
    loop {
        let line = lines
            .recv_timeout(WAIT.saturating_sub(started.elapsed()))
            .expect("the new line arrives while the log is followed");
        if line.contains(&written) {
            break;
        }
    }
}

/// Appends a line to the log kwok serves for every container (see `scripts/cluster.sh`).
fn kwok_log_append(text: &str) {
    use std::io::Write;
    let dir = std::env::var("ORDO_CLUSTER_DIR")
        .unwrap_or_else(|_| format!("{}/target/cluster", env!("CARGO_MANIFEST_DIR")));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("{dir}/kwok-logs/current.log"))
        .expect("kwok's log file");
    writeln!(file, "2025-01-01T00:00:02.000000000Z stdout F {text}").unwrap();
}
