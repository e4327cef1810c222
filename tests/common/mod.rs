//! What every cluster test needs: the local cluster's kubeconfig, a client, unique names.
//! A missing KUBECONFIG fails the test with what to do; it is never a skip.

use std::time::{SystemTime, UNIX_EPOCH};

#[allow(dead_code)] // only the tests that need an HTTP server start one
pub mod nginx;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub fn kubeconfig() -> String {
    std::env::var("KUBECONFIG").unwrap_or_else(|_| {
        panic!("KUBECONFIG is not set: start the local cluster with `scripts/cluster.sh up` (make test does)")
    })
}

#[allow(dead_code)] // not every test binary talks to the cluster directly
pub async fn client() -> Client {
    let file = Kubeconfig::read_from(kubeconfig()).expect("readable KUBECONFIG");
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .expect("usable KUBECONFIG");
    Client::try_from(config).expect("client")
}

/// A name no other test run uses (namespaces, apps).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{:x}", nanos ^ std::process::id())
}

/// Runs git in `dir` as a test user; panics with git's stderr on failure. Returns stdout.
#[allow(dead_code)] // not every test binary uses git
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository `dir/repo.git` (branch main) and a clone of it, `dir/work`, to push from.
#[allow(dead_code)] // not every test binary uses git
pub fn bare_repo(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let bare = dir.join("repo.git");
    let work = dir.join("work");
    let path = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_owned();
    git(dir, &["init", "-q", "--bare", "-b", "main", &path(&bare)]);
    git(dir, &["clone", "-q", &path(&bare), &path(&work)]);
    (bare, work)
}

/// Commits everything in `work` and pushes it to main (forced, so rewritten history goes too);
/// returns the commit's SHA.
#[allow(dead_code)]
pub fn commit_and_push(work: &std::path::Path, message: &str) -> String {
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", message]);
    git(work, &["push", "-q", "--force", "origin", "HEAD:main"]);
    git(work, &["rev-parse", "HEAD"])
}

/// `ordo run --config <config> <extra…>` against the local cluster, its log in `log`.
#[allow(dead_code)]
pub fn spawn_agent(
    config: &std::path::Path,
    extra: &[&str],
    log: &std::path::Path,
) -> std::process::Child {
    let log = std::fs::File::create(log).expect("log file");
    std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["run", "--config", config.to_str().expect("UTF-8 path")])
        .args(extra)
        .env("KUBECONFIG", kubeconfig())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the agent starts")
}

/// The address of the agent's `serving HTTP address=…` log line, once it is written.
#[allow(dead_code)]
pub fn served_address(log: &str) -> Option<String> {
    log.lines()
        .filter(|l| l.contains("serving HTTP"))
        .find_map(|l| l.split("address=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// The objects of an `ordo sync -o json` report, by id.
#[allow(dead_code)]
pub fn report_objects(
    report: &serde_json::Value,
) -> std::collections::HashMap<String, serde_json::Value> {
    report["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {report}"))
        .iter()
        .map(|o| (o["id"].as_str().unwrap_or_default().to_owned(), o.clone()))
        .collect()
}

/// Copies a directory tree (fixtures into a test's own directory).
#[allow(dead_code)]
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("directory created");
    for entry in std::fs::read_dir(from).expect("directory read") {
        let entry = entry.expect("entry read");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("file copied");
        }
    }
}

/// How long a test waits for an agent to get somewhere before it fails, naming what it waited
/// for.
#[allow(dead_code)]
pub const AGENT_WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// Polls `check` until it gives a value; fails after [`AGENT_WAIT`] with `what` and the agent's
/// log.
#[allow(dead_code)]
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>, log: &std::path::Path) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            started.elapsed() < AGENT_WAIT,
            "timed out waiting for {what}; agent log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The JSON an agent's HTTP API answers at `url`, when it answers.
#[allow(dead_code)]
pub fn get_json(url: &str) -> Option<serde_json::Value> {
    let text = ureq::get(url)
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// The address an agent logging to `log` serves HTTP on, once it says so.
#[allow(dead_code)]
pub fn agent_address(log: &std::path::Path) -> String {
    eventually(
        "the agent to serve HTTP",
        || served_address(&std::fs::read_to_string(log).unwrap_or_default()),
        log,
    )
}
