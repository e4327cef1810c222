//! What every cluster test needs: the local cluster's kubeconfig, a client, unique names.
//! A missing KUBECONFIG fails the test with what to do; it is never a skip.

use std::time::{SystemTime, UNIX_EPOCH};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub fn kubeconfig() -> String {
    std::env::var("KUBECONFIG").unwrap_or_else(|_| {
        panic!("KUBECONFIG is not set: start the local cluster with `scripts/cluster.sh up` (make test does)")
    })
}

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
