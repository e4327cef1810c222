//! `ordo sync` and `ordo run` ride out an API server outage: the local control plane's
//! kube-apiserver (`scripts/cluster.sh restart-apiserver 30`) goes away for 30 s in the middle
//! of a sync, while an agent follows a repository, and comes back. Every test that restarts the API server lives in this file: test binaries
//! run one after another, so the restart cannot disturb the tests of other files.
//! Without KUBECONFIG the tests fail, never skip.
//!
//! Restarts less than ~2 minutes apart hurt the cluster, not ordo: the client-go reflectors
//! of kube-controller-manager and kwok keep their backoff (up to 30 s plus jitter) until they
//! have been quiet for 2 minutes, so a second restart can leave their caches stale for a
//! minute; Deployments then take that long to become Available, and past the
//! controller-manager's node-monitor grace period (50 s) it marks the kwok nodes unhealthy
//! and their pods NotReady, which kwok never undoes.

mod common;
use common::{bare_repo, client, commit_and_push, kubeconfig, spawn_agent, unique};

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A Namespace; Deployment `slow`, which takes ~15 s to become Available
/// (`minReadySeconds`); and a ConfigMap and Deployment `after` that wait for it (the
/// ConfigMap moves to the backend tier: the config tier comes before `slow`'s).
fn write_manifests(dir: &Path, ns: &str) {
    let deployment = |name: &str, extra_meta: &str, extra_spec: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
{extra_meta}spec:
  replicas: 1
{extra_spec}  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: c
        image: ordo-restart/{name}:fake
"
        )
    };
    let depends = "  annotations:\n    ordo.dev/depends-on: Deployment/slow\n";
    let files = [
        (
            "namespace.yaml",
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        ),
        (
            "slow.yaml",
            deployment("slow", "", "  minReadySeconds: 15\n"),
        ),
        (
            "after-config.yaml",
            format!(
                "apiVersion: v1
kind: ConfigMap
metadata:
  name: after-config
  namespace: {ns}
{depends}    ordo.dev/tier: backend
data:
  MODE: after
"
            ),
        ),
        ("after.yaml", deployment("after", depends, "")),
    ];
    for (file, body) in files {
        std::fs::write(dir.join(file), body).unwrap();
    }
}

/// Reads a child's pipe to the end on a thread, so the child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Kills the sync if the test fails before it exits.
struct Sync {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Sync {
    fn spawn(dir: &Path, ns: &str) -> Sync {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args([
                "sync",
                dir.to_str().unwrap(),
                "--namespace",
                ns,
                "--app",
                ns,
                "--timeout",
                "3m",
                "-o",
                "json",
            ])
            .env("KUBECONFIG", kubeconfig())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ordo starts");
        let stdout = Some(drain(child.stdout.take().unwrap()));
        let stderr = Some(drain(child.stderr.take().unwrap()));
        Sync {
            child,
            stdout,
            stderr,
        }
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits up to `limit` for the exit; returns (exit code, stdout, stderr).
    fn wait(&mut self, limit: Duration) -> (i32, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (_, out, err) = self.output(-1);
                panic!("ordo sync did not exit within {limit:?}\nstdout:\n{out}\nstderr:\n{err}");
            }
            thread::sleep(Duration::from_millis(200));
        };
        self.output(status.code().unwrap_or(-1))
    }

    fn output(&mut self, code: i32) -> (i32, String, String) {
        let out = self
            .stdout
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        (code, text(&out), text(&err))
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An agent (`ordo run`, interval 1s, selfHeal) following a git repository of two
/// ConfigMaps `a` and `b` (no controllers involved, so only ordo's own recovery is tested).
struct Agent {
    _dir: tempfile::TempDir,
    work: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Child,
}

impl Agent {
    fn start(ns: &str) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let (bare, work) = bare_repo(dir.path());
        let config = dir.path().join("ordo.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\ncacheDir: {cache}\napps:\n  - name: {ns}\n    repo: {repo}\n    ref: main\n    namespace: {ns}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    timeout: 1m\n    prune: true\n    selfHeal: true\n",
                cache = dir.path().join("cache").display(),
                repo = bare.display(),
            ),
        )
        .unwrap();
        let log = config.with_file_name("agent.log");
        Self::push_to(&work, ns, "1");
        let child = spawn_agent(&config, &[], &log);
        Agent {
            work,
            log,
            child,
            _dir: dir,
        }
    }

    fn push_to(work: &Path, ns: &str, value: &str) -> String {
        let cm = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{value: \"{value}\"}}\n"
            )
        };
        std::fs::write(
            work.join("all.yaml"),
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n{}---\n{}",
                cm("a"),
                cm("b")
            ),
        )
        .unwrap();
        commit_and_push(work, &format!("value {value}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ConfigMap `name`'s `value`, or None (absent, or the API server unreachable).
fn value(rt: &tokio::runtime::Runtime, configmaps: &Api<ConfigMap>, name: &str) -> Option<String> {
    rt.block_on(configmaps.get_opt(name))
        .ok()
        .flatten()
        .and_then(|c| c.data?.get("value").cloned())
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
fn wait_for(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}\n{}",
            context()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sync_and_agent_survive_an_api_server_outage() {
    let ns = unique("restart");
    let dir = tempfile::tempdir().unwrap();
    write_manifests(dir.path(), &ns);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(rt.block_on(client()), &ns);

    let agent_ns = unique("outage");
    let mut agent = Agent::start(&agent_ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(rt.block_on(client()), &agent_ns);
    wait_for(
        "the agent's first sync",
        Duration::from_secs(90),
        || value(&rt, &configmaps, "a").as_deref() == Some("1"),
        || agent.log(),
    );

    let mut sync = Sync::spawn(dir.path(), &ns);

    // Restart while ordo waits for `slow` (~15 s): as soon as it has been created.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if rt
            .block_on(deployments.get_opt("slow"))
            .expect("GET Deployment slow")
            .is_some()
        {
            break;
        }
        if sync.exited() {
            let (code, out, err) = sync.wait(Duration::ZERO);
            panic!(
                "ordo sync exited ({code}) before Deployment slow existed\nstdout:\n{out}\nstderr:\n{err}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "Deployment {ns}/slow was not created within 90s"
        );
        thread::sleep(Duration::from_millis(100));
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
    let restart = Command::new(&script)
        .args(["restart-apiserver", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/cluster.sh runs");
    // A commit pushed while the API server is down: the agent must apply it once it is back.
    wait_for(
        "the API server to go down",
        Duration::from_secs(30),
        || rt.block_on(configmaps.get_opt("a")).is_err(),
        String::new,
    );
    let second = Agent::push_to(&agent.work, &agent_ns, "2");
    let restart = restart
        .wait_with_output()
        .expect("restart-apiserver finishes");
    assert!(
        restart.status.success(),
        "{} restart-apiserver 30 failed ({}); it targets the cluster of the ORDO_CLUSTER_* \
         variables, which must match KUBECONFIG\nstdout:\n{}\nstderr:\n{}",
        script.display(),
        restart.status,
        text(&restart.stdout),
        text(&restart.stderr)
    );
    assert!(
        !sync.exited(),
        "ordo sync finished before the API server was back; the restart did not hit the sync"
    );

    let (code, out, err) = sync.wait(Duration::from_secs(240));
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!("no JSON report ({e}); exit {code}\nstdout:\n{out}\nstderr:\n{err}")
    });
    assert_eq!(code, 0, "exit code\nreport: {report}\nstderr:\n{err}");

    let objects = report["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no objects in the report: {report}"));
    assert_eq!(objects.len(), 4, "{report}");
    for o in objects {
        assert_eq!(o["outcome"], "Healthy", "{}\nreport: {report}", o["id"]);
    }
    for id in [
        format!("ConfigMap/{ns}/after-config"),
        format!("Deployment/{ns}/after"),
        format!("Deployment/{ns}/slow"),
    ] {
        let o = objects
            .iter()
            .find(|o| o["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} is not in the report: {report}"));
        assert_eq!(o["action"], "created", "{id}\nreport: {report}");
    }

    // Proof that the outage hit the sync: some request got no answer (code 0) or a 5xx.
    let requests = report["requests"]
        .as_object()
        .unwrap_or_else(|| panic!("no requests in the report: {report}"));
    let failed: Vec<String> = requests
        .iter()
        .filter(|(key, n)| {
            let code = key.rsplit(' ').next().unwrap_or("");
            (code == "0" || code.starts_with('5')) && n.as_u64().unwrap_or(0) > 0
        })
        .map(|(key, n)| format!("{key}: {n}"))
        .collect();
    assert!(
        !failed.is_empty(),
        "no request failed, so the restart did not hit the sync: {requests:?}\nstderr:\n{err}"
    );
    eprintln!("requests that failed during the restart: {failed:?}");

    // The agent lived through it, applied the commit pushed during the outage, and its
    // drift watch is back: an edit is healed.
    wait_for(
        "the agent to apply the commit pushed during the outage",
        Duration::from_secs(120),
        || value(&rt, &configmaps, "a").as_deref() == Some("2"),
        || agent.log(),
    );
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent exited\n{}",
        agent.log()
    );
    let edit = serde_json::json!({"data": {"value": "edited"}});
    rt.block_on(configmaps.patch("b", &PatchParams::default(), &Patch::Merge(&edit)))
        .expect("edit ConfigMap b");
    wait_for(
        "the edit to be healed by the resumed watch",
        Duration::from_secs(60),
        || value(&rt, &configmaps, "b").as_deref() == Some("2"),
        || agent.log(),
    );
    eprintln!("agent converged to {second} after the outage");
    wait_for_the_controllers_to_catch_up(&rt);
}

/// Leaves the cluster whole for the test binaries after this one. kube-controller-manager's
/// reflectors may lag a restart by a minute or more (their back-off): until its
/// service-account controller has caught up, a new namespace gets no `default`
/// ServiceAccount and no pod can be created in it (a Deployment of the next test then times
/// out progressing for no fault of ordo's). A fresh namespace getting its ServiceAccount
/// shows it has.
fn wait_for_the_controllers_to_catch_up(rt: &tokio::runtime::Runtime) {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    let probe = unique("settled");
    let client = rt.block_on(client());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": probe}}))
        .expect("a Namespace");
    rt.block_on(namespaces.create(&Default::default(), &namespace))
        .expect("create the probe namespace");
    let accounts: Api<ServiceAccount> = Api::namespaced(client, &probe);
    wait_for(
        "the service-account controller to give a new namespace its default ServiceAccount",
        Duration::from_secs(180),
        || matches!(rt.block_on(accounts.get_opt("default")), Ok(Some(_))),
        String::new,
    );
    let _ = rt.block_on(namespaces.delete(&probe, &Default::default()));
}
