//! `ordo run` against the local control plane and real git repositories: pushes are followed,
//! drift is healed, bad commits are kept out, failed syncs roll back, history survives a
//! restart (and moves from where an older ordo kept it). Observed the way a user would:
//! `ordo status`, the agent's log, and the cluster.

mod common;
use common::{
    bare_repo, client, commit_and_push, git, kubeconfig, served_address, spawn_agent, unique,
};

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// A bare repository with a work clone to push from, and an agent following it.
struct Setup {
    _dir: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
    config: PathBuf,
    log: PathBuf,
    agent: Option<Child>,
}

impl Setup {
    fn new(app: &str, on_failure: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (bare, work) = bare_repo(dir.path());
        let config = dir.path().join("ordo.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\ncacheDir: {cache}\napps:\n  - name: {app}\n    repo: {repo}\n    ref: main\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    timeout: 40s\n    prune: true\n    selfHeal: true\n    onFailure: {on_failure}\n",
                cache = dir.path().join("cache").display(),
                repo = bare.display(),
            ),
        )
        .unwrap();
        let log = dir.path().join("agent.log");
        Setup {
            bare,
            work,
            config,
            log,
            agent: None,
            _dir: dir,
        }
    }

    /// Commits `files` (path, content) and pushes; returns the commit SHA.
    fn push(&self, message: &str, files: &[(&str, String)]) -> String {
        for (path, body) in files {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        commit_and_push(&self.work, message)
    }

    fn start(&mut self) {
        self.agent = Some(self.spawn(&[], &self.log));
    }

    /// Another `ordo run` on the same config, with extra arguments and its own log.
    fn spawn(&self, extra: &[&str], log: &Path) -> Child {
        spawn_agent(&self.config, extra, log)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The app's namespace (the config names the app and its namespace alike).
    fn config_namespace(&self) -> String {
        let text = std::fs::read_to_string(&self.config).unwrap();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("namespace: "))
            .unwrap()
            .to_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The persisted state, as `ordo status -o json` prints it.
    fn status(&self) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args([
                "status",
                "--config",
                self.config.to_str().unwrap(),
                "-o",
                "json",
            ])
            .env("KUBECONFIG", kubeconfig())
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        doc[0]["state"].clone()
    }

    /// Polls `ordo status` until `done` holds.
    fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let status = self.status();
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what}; status {status}\nagent log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.kill();
    }
}

fn last(status: &Value) -> (&str, &str) {
    let h = &status["history"][0];
    (
        h["revision"].as_str().unwrap_or(""),
        h["result"].as_str().unwrap_or(""),
    )
}

fn app_files(
    app: &str,
    image: &str,
    extra_spec: &str,
    setting: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "namespace.yaml",
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app}}}\n"),
        ),
        (
            "config.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {app}}}\ndata: {{setting: \"{setting}\"}}\n"
            ),
        ),
        (
            "api.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: {app}}}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 3\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n{extra_spec}      containers: [{{name: c, image: \"{image}\", envFrom: [{{configMapRef: {{name: settings}}}}]}}]\n"
            ),
        ),
    ]
}

/// Polls until `check` holds (bounded).
fn eventually(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pushes_are_followed_and_drift_is_healed() {
    let app = unique("follow");
    let mut s = Setup::new(&app, "halt");
    let first = s.push("v1", &app_files(&app, "api:1", "", "a"));
    s.start();
    s.wait_status("the first sync", |st| {
        last(st) == (first.as_str(), "Succeeded")
    });
    let second = s.push("v2", &app_files(&app, "api:2", "", "b"));
    let status = s.wait_status("the pushed commit", |st| {
        last(st) == (second.as_str(), "Succeeded")
    });
    assert_eq!(status["history"][0]["message"], "v2");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let kube = rt.block_on(client());
    let deployments: Api<Deployment> = Api::namespaced(kube, &app);
    let image = rt
        .block_on(deployments.get("api"))
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("api:2"));
    // Someone scales it by hand: self-heal puts it back.
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 4}});
    rt.block_on(deployments.patch(
        "api",
        &PatchParams::apply("kubectl-edit").force(),
        &Patch::Apply(scale),
    ))
    .unwrap();
    let started = Instant::now();
    while rt
        .block_on(deployments.get("api"))
        .unwrap()
        .spec
        .unwrap()
        .replicas
        != Some(1)
    {
        assert!(
            started.elapsed() < WAIT,
            "no self-heal of the scaled Deployment; agent log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The correction is logged just after it lands.
    eventually("the correction in the log", || {
        s.log().contains("drift corrected")
    });

    // `ordo diff --config --app` sees what the agent sees: in sync (exit 0).
    let diff = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args([
            "diff",
            "--config",
            s.config.to_str().unwrap(),
            "--app",
            &app,
        ])
        .env("KUBECONFIG", kubeconfig())
        .output()
        .unwrap();
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
}

#[test]
fn a_bad_commit_keeps_the_good_revision_and_a_failed_sync_rolls_back() {
    let app = unique("rollback");
    let mut s = Setup::new(&app, "rollback");
    let good = s.push("good", &app_files(&app, "api:1", "", "good"));
    s.start();
    s.wait_status("the good commit", |st| {
        last(st) == (good.as_str(), "Succeeded")
    });

    // Invalid YAML: nothing is applied, the error and the bad SHA are recorded.
    let bad = s.push(
        "broken yaml",
        &[(
            "config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings\n".into(),
        )],
    );
    let status = s.wait_status("the bad commit", |st| last(st) == (bad.as_str(), "Failed"));
    assert_eq!(status["failedRevision"], bad.as_str());
    assert!(
        status["history"][0]["error"]
            .as_str()
            .unwrap()
            .contains("config.yaml"),
        "{status}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kube = rt.block_on(client());
    let settings: Api<ConfigMap> = Api::namespaced(kube.clone(), &app);
    assert_eq!(
        rt.block_on(settings.get("settings")).unwrap().data.unwrap()["setting"],
        "good"
    );

    // A commit whose Deployment never becomes available: Degraded, then rolled back.
    let degraded = s.push(
        "unschedulable",
        &app_files(
            &app,
            "api:9",
            "      nodeSelector: {no-such-node: \"true\"}\n",
            "degraded",
        ),
    );
    let status = s.wait_status("the rollback", |st| {
        st["pin"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rolled back from"))
            && last(st).1 == "Succeeded"
    });
    assert_eq!(status["pin"]["revision"], good.as_str());
    assert!(
        status["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["revision"] == degraded.as_str() && h["result"] != "Succeeded")
    );
    let deployments: Api<Deployment> = Api::namespaced(kube, &app);
    let spec = rt
        .block_on(deployments.get("api"))
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some("api:1"),
        "back on the good revision"
    );
    assert!(spec.node_selector.is_none());

    // The failed commit is not retried; a new commit is synced and lifts the pin.
    let fixed = s.push("fixed", &app_files(&app, "api:3", "", "fixed"));
    let status = s.wait_status("the fixed commit", |st| {
        last(st) == (fixed.as_str(), "Succeeded")
    });
    assert!(status["pin"].is_null(), "{status}");
}

#[test]
fn history_survives_a_killed_agent_and_an_unreachable_remote_changes_nothing() {
    let app = unique("restart");
    let mut s = Setup::new(&app, "halt");
    let first = s.push("v1", &app_files(&app, "api:1", "", "one"));
    s.start();
    s.wait_status("the first sync", |st| {
        last(st) == (first.as_str(), "Succeeded")
    });
    s.kill(); // SIGKILL
    // The state moves to where an older ordo kept it, the app's namespace: the agent reads
    // it there once and stores it in its own namespace from then on.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state_name = format!("ordo-{app}-state");
    let own: Api<ConfigMap> = Api::namespaced(rt.block_on(client()), "default");
    let legacy: Api<ConfigMap> = Api::namespaced(rt.block_on(client()), &app);
    let stored = rt.block_on(own.get(&state_name)).unwrap();
    let moved_state = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(state_name.clone()),
            labels: stored.metadata.labels.clone(),
            ..Default::default()
        },
        data: stored.data.clone(),
        ..Default::default()
    };
    rt.block_on(legacy.create(&Default::default(), &moved_state))
        .unwrap();
    rt.block_on(own.delete(&state_name, &Default::default()))
        .unwrap();
    let second = s.push("v2", &app_files(&app, "api:2", "", "two"));
    s.start();
    let status = s.wait_status("the sync after the restart", |st| {
        last(st) == (second.as_str(), "Succeeded")
    });
    let kept = rt.block_on(own.get(&state_name)).unwrap().data.unwrap();
    assert!(
        kept["state.json"].contains(&first),
        "the older location's history is stored in ordo's namespace: {kept:?}"
    );
    let revisions: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["revision"].as_str().unwrap())
        .collect();
    assert!(
        revisions.contains(&first.as_str()),
        "history kept across the restart: {revisions:?}"
    );

    // The remote disappears: the agent says so, keeps the cluster as it is, prunes nothing.
    let moved = s.bare.with_extension("moved");
    std::fs::rename(&s.bare, &moved).unwrap();
    eventually("the source error in the log", || {
        s.log().contains("source unreachable")
    });
    let settings: Api<ConfigMap> = Api::namespaced(rt.block_on(client()), &app);
    assert_eq!(
        rt.block_on(settings.get("settings")).unwrap().data.unwrap()["setting"],
        "two"
    );
    std::fs::rename(&moved, &s.bare).unwrap();
}

#[test]
fn a_force_push_is_followed_and_an_empty_commit_prunes_nothing() {
    let app = unique("force");
    let mut s = Setup::new(&app, "halt");
    let first = s.push("v1", &app_files(&app, "api:1", "", "one"));
    s.start();
    s.wait_status("the first sync", |st| {
        last(st) == (first.as_str(), "Succeeded")
    });

    // History rewritten: the branch now points at a commit that does not descend from v1.
    git(&s.work, &["checkout", "-q", "--orphan", "rewritten"]);
    let rewritten = s.push("rewritten", &app_files(&app, "api:7", "", "rewritten"));
    git(&s.work, &["push", "-q", "--force", "origin", "HEAD:main"]);
    s.wait_status("the force-pushed head", |st| {
        last(st) == (rewritten.as_str(), "Succeeded")
    });

    // A commit that deletes every manifest: nothing is pruned (no allowEmpty), and it says why.
    git(&s.work, &["rm", "-q", "-r", "."]);
    git(&s.work, &["commit", "-q", "-m", "delete everything"]);
    git(&s.work, &["push", "-q", "origin", "HEAD:main"]);
    let empty = git(&s.work, &["rev-parse", "HEAD"]);
    let status = s.wait_status("the empty commit", |st| last(st).0 == empty);
    assert_eq!(last(&status).1, "Failed", "{status}");
    assert!(
        status["history"][0]["error"]
            .as_str()
            .unwrap()
            .contains("empty"),
        "{status}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings: Api<ConfigMap> = Api::namespaced(rt.block_on(client()), &app);
    assert_eq!(
        rt.block_on(settings.get("settings")).unwrap().data.unwrap()["setting"],
        "rewritten"
    );
}

#[test]
fn a_newer_commit_cancels_a_health_wait_and_wins() {
    let app = unique("newer");
    let mut s = Setup::new(&app, "halt");
    let first = s.push("v1", &app_files(&app, "api:1", "", "one"));
    s.start();
    s.wait_status("the first sync", |st| {
        last(st) == (first.as_str(), "Succeeded")
    });
    // Unschedulable, without a progress deadline: it would wait until the 40 s timeout.
    let mut stuck = app_files(
        &app,
        "api:2",
        "      nodeSelector: {no-such-node: \"true\"}\n",
        "stuck",
    );
    stuck[2].1 = stuck[2].1.replace("  progressDeadlineSeconds: 3\n", "");
    let waiting = s.push("stuck", &stuck);
    let started = Instant::now();
    eventually("the agent to apply the stuck commit", || stuck_applied(&s));
    let fixed = s.push("fixed", &app_files(&app, "api:3", "", "fixed"));
    let status = s.wait_status("the newer commit", |st| {
        last(st) == (fixed.as_str(), "Succeeded")
    });
    assert!(
        started.elapsed() < Duration::from_secs(35),
        "the stuck wait was cancelled, not timed out: {:?}",
        started.elapsed()
    );
    assert!(
        status["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["revision"] == waiting.as_str() && h["result"] == "Superseded"),
        "{status}"
    );
}

/// The Deployment carries the stuck commit's image once its sync applied it.
fn stuck_applied(s: &Setup) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ns = s.config_namespace();
    let deployments: Api<Deployment> = Api::namespaced(rt.block_on(client()), &ns);
    rt.block_on(deployments.get_opt("api"))
        .ok()
        .flatten()
        .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone())
        .as_deref()
        == Some("api:2")
}

/// The lease's holder, if any.
fn lease_holder(namespace: &str, name: &str) -> Option<String> {
    use k8s_openapi::api::coordination::v1::Lease;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let leases: Api<Lease> = Api::namespaced(rt.block_on(client()), namespace);
    rt.block_on(leases.get_opt(name))
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Writes in the API server's audit log made with `ordo/… (who)` as User-Agent, other than
/// to the election's Lease.
fn audited_writes_by(who: &str, lease: &str) -> Vec<String> {
    let dir = Path::new(&kubeconfig()).parent().unwrap().to_path_buf();
    let text =
        std::fs::read_to_string(dir.join("logs/audit.log")).expect("the cluster's audit log");
    let agent = format!("({who})");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("ordo/") && a.ends_with(&agent))
        })
        .filter(|e| e["objectRef"]["name"] != lease)
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}

#[test]
fn two_replicas_elect_one_writer_and_the_other_takes_over_when_it_dies() {
    let app = unique("leader");
    let s = Setup::new(&app, "halt");
    let first = s.push("v1", &app_files(&app, "api:1", "", "one"));
    let dir = s.log.parent().unwrap().to_path_buf();
    let elect = |who: &str| {
        vec![
            "--leader-elect".to_owned(),
            "--lease-namespace".to_owned(),
            "default".to_owned(),
            "--lease-name".to_owned(),
            app.clone(),
            "--identity".to_owned(),
            format!("{app}-{who}"),
        ]
    };
    // A token, so "Sync now" can be sent to the standby replica.
    let token = dir.join("token");
    std::fs::write(&token, "leader-test-token\n").unwrap();
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!("apiTokenFile: {}\n{config}", token.display()),
    )
    .unwrap();
    let args_a = elect("a");
    let args_b = elect("b");
    let a_args: Vec<&str> = args_a.iter().map(String::as_str).collect();
    let b_args: Vec<&str> = args_b.iter().map(String::as_str).collect();
    let mut a = s.spawn(&a_args, &dir.join("a.log"));
    let mut b = s.spawn(&b_args, &dir.join("b.log"));
    s.wait_status("the first sync by the leader", |st| {
        last(st) == (first.as_str(), "Succeeded")
    });
    let leader = lease_holder("default", &app).expect("a leader holds the lease");
    let (leader_id, follower_id) = if leader.ends_with("-a") {
        (format!("{app}-a"), format!("{app}-b"))
    } else {
        (format!("{app}-b"), format!("{app}-a"))
    };
    assert!(
        !audited_writes_by(&leader_id, &app).is_empty(),
        "the leader's writes are in the audit log"
    );
    assert_eq!(
        audited_writes_by(&follower_id, &app),
        Vec::<String>::new(),
        "the follower wrote nothing"
    );

    // "Sync now" sent to the standby replica is forwarded to the leader, which syncs.
    let follower_log = dir.join(if follower_id.ends_with("-a") {
        "a.log"
    } else {
        "b.log"
    });
    let address = served_address(&std::fs::read_to_string(&follower_log).unwrap())
        .expect("the follower logs its HTTP address");
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let answer = std::cell::RefCell::new(String::new());
    eventually(
        "the standby replica to forward a sync to the leader",
        || {
            let reply = http
                .post(&format!("http://{address}/api/v1/apps/{app}/sync"))
                .header("authorization", "Bearer leader-test-token")
                .send_empty();
            match reply {
                Ok(mut r) => {
                    *answer.borrow_mut() = format!(
                        "{} {}",
                        r.status(),
                        r.body_mut().read_to_string().unwrap_or_default()
                    );
                    r.status() == 202
                }
                Err(_) => false,
            }
        },
    );
    s.wait_status("the forwarded manual sync", |st| {
        st["history"][0]["trigger"] == "manual"
    });
    assert_eq!(
        audited_writes_by(&follower_id, &app),
        Vec::<String>::new(),
        "the follower still wrote nothing ({})",
        answer.borrow()
    );

    // The leader dies without releasing the lease; a new commit waits for the other replica.
    let (dead, survivor) = if leader_id.ends_with("-a") {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let _ = dead.kill();
    let _ = dead.wait();
    let killed = Instant::now();
    let second = s.push("v2", &app_files(&app, "api:2", "", "two"));
    eventually("the other replica to take the lease", || {
        lease_holder("default", &app).as_deref() == Some(follower_id.as_str())
    });
    println!(
        "leadership moved {:.1} s after the leader was killed",
        killed.elapsed().as_secs_f64()
    );
    s.wait_status("the new leader syncs the new commit", |st| {
        last(st) == (second.as_str(), "Succeeded")
    });
    let status = s.status();
    let revisions: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["revision"].as_str())
        .collect();
    assert!(
        revisions.contains(&first.as_str()),
        "history carried over: {revisions:?}"
    );

    // A graceful stop gives the lease up, so a successor need not wait for it to expire.
    let term = Command::new("kill")
        .args(["-TERM", &survivor.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = survivor.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    assert_eq!(
        lease_holder("default", &app),
        None,
        "the lease was released"
    );
}

#[test]
fn an_agent_killed_mid_sync_converges_to_the_head_after_a_restart() {
    let app = unique("killed");
    let mut s = Setup::new(&app, "halt");
    let cm = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {app}}}\ndata: {{k: v}}\n"
        )
    };
    let mut v1 = app_files(&app, "api:1", "", "one");
    v1.push(("old.yaml", cm("old")));
    let first = s.push("v1", &v1);
    s.start();
    s.wait_status("the first sync", |st| {
        last(st) == (first.as_str(), "Succeeded")
    });

    // v2 drops `old`, adds `extra`, and has a Deployment that cannot become healthy: the sync
    // writes, then waits. It is killed there.
    let mut v2 = app_files(
        &app,
        "api:2",
        "      nodeSelector: {no-such-node: \"true\"}\n",
        "two",
    );
    v2[2].1 = v2[2].1.replace("  progressDeadlineSeconds: 3\n", "");
    v2.push(("extra.yaml", cm("extra")));
    std::fs::remove_file(s.work.join("old.yaml")).unwrap();
    s.push("v2 stuck", &v2);
    eventually("the agent to be waiting on the stuck Deployment", || {
        stuck_applied(&s)
    });
    s.kill(); // SIGKILL mid-sync

    let mut v3 = app_files(&app, "api:3", "", "three");
    v3.push(("extra.yaml", cm("extra")));
    let third = s.push("v3", &v3);
    s.start();
    let status = s.wait_status("the head after the restart", |st| {
        last(st) == (third.as_str(), "Succeeded")
    });
    let revisions: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["revision"].as_str())
        .collect();
    assert!(
        revisions.contains(&first.as_str()),
        "history intact: {revisions:?}"
    );

    // Exactly git's objects, each once: `old` (left git in the killed sync) was pruned.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kube = rt.block_on(client());
    let members = kube::api::ListParams::default().labels(&format!(
        "applyset.kubernetes.io/part-of={}",
        applyset_id(&rt, &app)
    ));
    let configmaps: Api<ConfigMap> = Api::namespaced(kube.clone(), &app);
    let mut names: Vec<String> = rt
        .block_on(configmaps.list(&members))
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, ["extra", "settings"]);
    let deployments: Api<Deployment> = Api::namespaced(kube, &app);
    let deployments = rt.block_on(deployments.list(&members)).unwrap().items;
    assert_eq!(deployments.len(), 1);
    let image = deployments[0]
        .spec
        .as_ref()
        .and_then(|d| d.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    assert_eq!(image.as_deref(), Some("api:3"));
}

/// The ApplySet id (`applyset-…-v1`) on the app's parent Secret.
fn applyset_id(rt: &tokio::runtime::Runtime, app: &str) -> String {
    use k8s_openapi::api::core::v1::Secret;
    let secrets: Api<Secret> = Api::namespaced(rt.block_on(client()), app);
    let parent = rt
        .block_on(secrets.get(&format!("ordo-{app}")))
        .expect("the ApplySet parent");
    parent.metadata.labels.unwrap()["applyset.kubernetes.io/id"].clone()
}
