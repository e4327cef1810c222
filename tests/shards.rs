//! `ordo run --shards 3` with three replica processes on the local control plane: the apps are
//! spread over the replicas, every replica shows every app, and when the replica holding a
//! shard is killed with SIGKILL in the middle of a sync, its apps finish elsewhere with no
//! object written by two replicas (read from the API server's audit log).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Instant;

use common::{
    agent_address, bare_repo, commit_and_push, eventually, get_json, kubeconfig, spawn_agent,
    unique,
};
use serde_json::Value;

const REPLICAS: usize = 3;
const APPS: usize = 6;
/// ConfigMaps the commit adds to one app: at the configured request rate its sync takes
/// several seconds, long enough to kill its replica in the middle.
const ADDED: usize = 240;

fn kubectl(args: &[&str]) -> String {
    let kubectl = std::env::var("ORDO_KUBECTL").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/ordo/k8s-v1.34.4/bin/kubectl")
    });
    let out = std::process::Command::new(kubectl)
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lease_holder(namespace: &str, name: &str) -> Option<String> {
    let out = std::process::Command::new(std::env::var("ORDO_KUBECTL").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/ordo/k8s-v1.34.4/bin/kubectl")
    }))
    .args([
        "get",
        "lease",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ])
    .env("KUBECONFIG", kubeconfig())
    .output()
    .ok()?;
    let holder = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !holder.is_empty()).then_some(holder)
}

fn deployment(app: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers: [{{name: web, image: \"{image}\"}}]\n"
    )
}

fn configmap(app: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {app}\ndata:\n  greeting: hello\n"
    )
}

/// Every app of the API answer at `address`, by name: (revision synced, sync, health).
fn apps_at(address: &str) -> Option<BTreeMap<String, (String, String, String)>> {
    let answer = get_json(&format!("http://{address}/api/v1/apps"))?;
    let list = answer.as_array().or_else(|| answer["apps"].as_array())?;
    Some(
        list.iter()
            .map(|a| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    text(&a["name"]),
                    (
                        text(&a["revision"]["sha"]),
                        text(&a["syncStatus"]),
                        text(&a["health"]),
                    ),
                )
            })
            .collect(),
    )
}

fn all_at(address: &str, names: &[String], revision: &str) -> bool {
    apps_at(address).is_some_and(|apps| {
        names.iter().all(|n| {
            apps.get(n).is_some_and(|(rev, sync, health)| {
                rev == revision && sync == "Synced" && health == "Healthy"
            })
        })
    })
}

/// Non-dry-run writes in the audit log by ordo replicas (User-Agent `ordo/… (<identity>)`) to
/// objects in `namespaces`: object → writers in the order the API server received them.
fn writers(namespaces: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let log = Path::new(&kubeconfig())
        .parent()
        .expect("cluster dir")
        .join("logs/audit.log");
    let text = std::fs::read_to_string(log).expect("the cluster's audit log");
    let mut events: Vec<(String, String, String)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete")
            ) && !e["requestURI"].as_str().unwrap_or("").contains("dryRun")
                && e["stage"] == "ResponseComplete"
                && e["objectRef"]["namespace"]
                    .as_str()
                    .is_some_and(|ns| namespaces.contains(ns))
        })
        .filter_map(|e| {
            let agent = e["userAgent"].as_str()?;
            let who = agent
                .strip_prefix("ordo/")?
                .split_once(" (")?
                .1
                .strip_suffix(')')?;
            let object = format!(
                "{}/{}/{}",
                e["objectRef"]["resource"].as_str()?,
                e["objectRef"]["namespace"].as_str()?,
                e["objectRef"]["name"].as_str()?
            );
            let at = e["requestReceivedTimestamp"].as_str()?.to_owned();
            Some((at, object, who.to_owned()))
        })
        .collect();
    events.sort();
    let mut by_object: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, object, who) in events {
        by_object.entry(object).or_default().push(who);
    }
    by_object
}

struct Replicas(Vec<Option<Child>>);

impl Drop for Replicas {
    fn drop(&mut self) {
        for child in self.0.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn three_replicas_share_the_apps_and_a_killed_ones_shard_moves_with_no_object_written_twice() {
    let id = unique("shards");
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    kubectl(&["create", "namespace", &id]);
    let names: Vec<String> = (0..APPS).map(|i| format!("{id}-{i}")).collect();
    for app in &names {
        kubectl(&["create", "namespace", app]);
        let path = work.join(app);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("web.yaml"), deployment(app, "web:1")).unwrap();
        std::fs::write(path.join("settings.yaml"), configmap(app, "settings")).unwrap();
    }
    let first = commit_and_push(&work, "six apps");
    let token = dir.path().join("token");
    std::fs::write(&token, "shards-test-token\n").unwrap();
    let mut config = format!(
        "listen: 127.0.0.1:0\ncacheDir: {cache}\napiTokenFile: {token}\n\
         kubeClient: {{qps: 40, burst: 5}}\napps:\n",
        cache = dir.path().join("cache").display(),
        token = token.display(),
    );
    for app in &names {
        config.push_str(&format!(
            "  - name: {app}\n    repo: {repo}\n    ref: main\n    path: {app}\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 2s\n    timeout: 2m\n    prune: true\n",
            repo = bare.display()
        ));
    }
    let config_file = dir.path().join("ordo.yaml");
    std::fs::write(&config_file, config).unwrap();

    let logs: Vec<PathBuf> = (0..REPLICAS)
        .map(|r| dir.path().join(format!("r{r}.log")))
        .collect();
    let identity = |r: usize| format!("{id}-r{r}");
    let mut replicas = Replicas(
        (0..REPLICAS)
            .map(|r| {
                let args = [
                    "--leader-elect",
                    "--lease-namespace",
                    &id,
                    "--lease-name",
                    &id,
                    "--identity",
                    &identity(r),
                    "--shards",
                    "3",
                ];
                Some(spawn_agent(&config_file, &args, &logs[r]))
            })
            .collect(),
    );
    let addresses: Vec<String> = logs.iter().map(|l| agent_address(l)).collect();

    // Every replica shows every app converged, whichever replica synced it.
    for (r, address) in addresses.iter().enumerate() {
        eventually(
            &format!("replica {r} to show all {APPS} apps Synced and Healthy"),
            || all_at(address, &names, &first).then_some(()),
            &logs[r],
        );
    }
    // Three replicas, three shards: one each.
    let holders: Vec<String> = (0..3)
        .map(|s| {
            eventually(
                &format!("shard {s} to be held"),
                || lease_holder(&id, &format!("{id}-shard-{s}")),
                &logs[0],
            )
        })
        .collect();
    let distinct: BTreeSet<&String> = holders.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "each replica holds one shard: {holders:?}"
    );

    // A commit adds many objects to one app; its replica is killed mid-sync.
    let big = &names[0];
    for i in 0..ADDED {
        std::fs::write(
            work.join(big).join(format!("extra-{i}.yaml")),
            configmap(big, &format!("extra-{i}")),
        )
        .unwrap();
    }
    let second = commit_and_push(&work, "many more objects in one app");
    let namespaces: BTreeSet<String> = names.iter().cloned().collect();
    let created_in_big = || {
        writers(&namespaces)
            .keys()
            .filter(|o| o.starts_with(&format!("configmaps/{big}/extra-")))
            .count()
    };
    eventually(
        "the big sync to be under way",
        || (created_in_big() >= ADDED / 6).then_some(()),
        &logs[0],
    );
    let owner = lease_holder(&id, &shard_lease_of(&id, big)).expect("big app's shard held");
    let victim = (0..REPLICAS)
        .find(|r| identity(*r) == owner)
        .expect("the owner is one of ours");
    let done_before_kill = created_in_big();
    assert!(
        done_before_kill < ADDED,
        "the sync was still running when its replica was killed ({done_before_kill} of {ADDED} written)"
    );
    if let Some(mut child) = replicas.0[victim].take() {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let killed = Instant::now();
    let survivor = (0..REPLICAS).find(|r| *r != victim).unwrap();
    eventually(
        "every app to converge on the new commit after the kill",
        || all_at(&addresses[survivor], &names, &second).then_some(()),
        &logs[survivor],
    );
    println!(
        "apps converged {:.1} s after the owner of their shard was killed ({done_before_kill} of {ADDED} objects were written before)",
        killed.elapsed().as_secs_f64()
    );
    let moved_to = lease_holder(&id, &shard_lease_of(&id, big)).unwrap();
    assert_ne!(moved_to, owner, "the killed replica's shard moved");

    // The audit log: every object was written by one replica only.
    let written = writers(&namespaces);
    assert_eq!(
        written
            .keys()
            .filter(|o| o.starts_with(&format!("configmaps/{big}/extra-")))
            .count(),
        ADDED,
        "every added object was written"
    );
    let twice: Vec<String> = written
        .iter()
        .filter_map(|(object, who)| {
            let distinct: BTreeSet<&String> = who.iter().collect();
            (distinct.len() > 1).then(|| format!("{object}: {who:?}"))
        })
        .collect();
    assert!(
        twice.is_empty(),
        "written by two replicas:\n{}",
        twice.join("\n")
    );
    let by_victim = written.values().filter(|who| who.contains(&owner)).count();
    let by_successor = written
        .values()
        .filter(|who| who.contains(&moved_to))
        .count();
    assert!(
        by_victim > 0 && by_successor > 0,
        "both took part: {by_victim} and {by_successor} objects"
    );
    kubectl(&["delete", "namespace", &id, "--wait=false"]);
    for app in &names {
        kubectl(&["delete", "namespace", app, "--wait=false"]);
    }
}

/// The Lease of the shard `app` belongs to.
fn shard_lease_of(id: &str, app: &str) -> String {
    let shard = ordo::agent::shards::shard_of(app, 3);
    format!("{id}-shard-{shard}")
}
