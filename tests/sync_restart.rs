//! `ordo sync` rides out a restart of the API server: the local control plane's
//! kube-apiserver (`scripts/cluster.sh restart-apiserver`) goes away in the middle of a sync
//! and comes back. Every test that restarts the API server lives in this file: test binaries
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
use common::{client, kubeconfig, unique};

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
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

#[test]
fn sync_survives_an_api_server_restart() {
    let ns = unique("restart");
    let dir = tempfile::tempdir().unwrap();
    write_manifests(dir.path(), &ns);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(rt.block_on(client()), &ns);

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
        .args(["restart-apiserver", "5"])
        .stdin(Stdio::null())
        .output()
        .expect("scripts/cluster.sh runs");
    assert!(
        restart.status.success(),
        "{} restart-apiserver 5 failed ({}); it targets the cluster of the ORDO_CLUSTER_* \
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
}
