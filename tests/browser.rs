//! The status page in a real browser: `ordo run` follows a git repository holding the
//! travel-app example, and Debian's Chromium, driven by playwright-core
//! (tests/browser/status-page.mjs), watches it deploy, opens a resource, and sees a pushed
//! commit arrive without a reload. Screenshots land in target/artifacts/browser.

mod common;
use common::{bare_repo, client, commit_and_push, served_address, spawn_agent, unique};

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};

/// The script's own timeouts are shorter; this only stops a hung browser.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(420);
const AGENT_START: Duration = Duration::from_secs(60);
const TOKEN: &str = "browser-test-token";

/// Copies the example into `to`, moved to namespace `ns` so parallel runs do not collide.
fn copy_example(from: &Path, to: &Path, ns: &str) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_example(&entry.path(), &target, ns);
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let is_namespace = text.contains("kind: Namespace");
        let moved: Vec<String> = text
            .lines()
            .map(|line| {
                if line.trim() == "namespace: travel" || (is_namespace && line == "  name: travel")
                {
                    line.replace("travel", ns)
                } else {
                    line.to_owned()
                }
            })
            .collect();
        std::fs::write(target, moved.join("\n") + "\n").unwrap();
    }
}

/// The agent process: killed when the test ends, however it ends.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(config: &Path, log: PathBuf) -> Agent {
        let child = spawn_agent(config, &[], &log);
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address from the `serving HTTP address=…` line.
    fn address(&mut self) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(address) = served_address(&log) {
                return address;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the agent exited ({status}) before serving HTTP:\n{log}");
            }
            assert!(
                started.elapsed() < AGENT_START,
                "no `serving HTTP` line within {AGENT_START:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deletes the test's namespace when the test ends, passed or failed. The client is made up
/// front: a panic inside a destructor during unwinding would abort the test binary.
struct NamespaceGuard {
    name: String,
    namespaces: Api<Namespace>,
    rt: tokio::runtime::Runtime,
}

impl NamespaceGuard {
    fn new(name: &str) -> NamespaceGuard {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let namespaces = Api::all(rt.block_on(client()));
        NamespaceGuard {
            name: name.to_owned(),
            namespaces,
            rt,
        }
    }
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        let _ = self
            .rt
            .block_on(self.namespaces.delete(&self.name, &DeleteParams::default()));
    }
}

#[test]
fn the_status_page_follows_a_deploy_and_a_push_without_reloading() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_dir = root.join("tests/browser");
    assert!(
        script_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/install-deps.sh (npm ci in tests/browser)"
    );
    let ns = unique("browser");
    let _cleanup = NamespaceGuard::new(&ns);
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    copy_example(&root.join("examples/travel-app"), &work, &ns);
    commit_and_push(&work, "Travel app: first deploy");

    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\napiTokenFile: {token}\ncacheDir: {cache}\napps:\n  - name: {ns}\n    repo: {repo}\n    ref: main\n    namespace: {ns}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    timeout: 90s\n    prune: true\n",
            token = token.display(),
            cache = dir.path().join("cache").display(),
            repo = bare.display(),
        ),
    )
    .unwrap();
    let mut agent = Agent::start(&config, dir.path().join("agent.log"));
    let address = agent.address();

    run_script(
        "status-page.mjs",
        &[
            ("BASE_URL", format!("http://{address}")),
            ("APP", ns.clone()),
            ("WORKDIR", work.display().to_string()),
            ("TOKEN", TOKEN.to_owned()),
        ],
        &agent,
    );
}

/// Runs `tests/browser/<script>` with node and `env` (plus ARTIFACTS), and fails the test with
/// its output and the agent's log when it fails or outlives [`SCRIPT_DEADLINE`].
fn run_script(script: &str, env: &[(&str, String)], agent: &Agent) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_dir = root.join("tests/browser");
    let artifacts = root.join("target/artifacts/browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("script.log");
    let out = std::fs::File::create(&output).unwrap();
    let started = Instant::now();
    let mut script = Command::new("node")
        .arg(script_dir.join(script))
        .current_dir(&script_dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("ARTIFACTS", &artifacts)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("node runs (install it with scripts/install-deps.sh)");
    let status = loop {
        if let Some(status) = script.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > SCRIPT_DEADLINE {
            let _ = script.kill();
            break script.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let printed = std::fs::read_to_string(&output).unwrap_or_default();
    println!("{printed}");
    assert!(
        status.success(),
        "the browser script failed ({status}) after {:?}:\n{printed}\n--- agent log ---\n{}",
        started.elapsed(),
        agent.log()
    );
}

/// A Deployment whose pods crash-loop (kwok's stage), giving up after 5 s without progress.
fn crash_looping(ns: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: backend, namespace: {ns}}}
spec:
  replicas: 1
  progressDeadlineSeconds: 5
  selector: {{matchLabels: {{app: backend}}}}
  template:
    metadata: {{labels: {{app: backend, kwok.ordo.dev/behaviour: crash-loop}}}}
    spec:
      containers: [{{name: api, image: \"backend:1.5.0\"}}]
"
    )
}

#[test]
fn the_page_says_why_a_node_is_degraded_with_events_logs_and_a_live_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is not installed: run scripts/install-deps.sh (npm ci in tests/browser)"
    );
    let ns = unique("browser-why");
    let _cleanup = NamespaceGuard::new(&ns);
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::write(work.join("app.yaml"), crash_looping(&ns)).unwrap();
    commit_and_push(&work, "A backend that crash-loops");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\napiTokenFile: {token}\nreadAuth: token\ncacheDir: {cache}\napps:\n  - name: {ns}\n    repo: {repo}\n    ref: main\n    namespace: {ns}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1h\n    timeout: 60s\n",
            token = token.display(),
            cache = dir.path().join("cache").display(),
            repo = bare.display(),
        ),
    )
    .unwrap();
    let mut agent = Agent::start(&config, dir.path().join("agent.log"));
    let address = agent.address();
    run_script(
        "why.mjs",
        &[
            ("BASE_URL", format!("http://{address}")),
            ("APP", ns.clone()),
            ("TOKEN", TOKEN.to_owned()),
            ("KUBECONFIG", common::kubeconfig()),
        ],
        &agent,
    );
}
