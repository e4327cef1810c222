//! The HTTP surface of `ordo run`, over real sockets, against the local control plane and real
//! git repositories: signed webhooks trigger syncs (and unsigned ones nothing), a real
//! Prometheus scrapes `/metrics`, and the JSON API and its event stream show what the agent
//! does.

#[allow(dead_code)] // shared by every test binary; this one needs only some of it
mod common;
use common::{bare_repo, commit_and_push, served_address, spawn_agent, unique};

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "http-test-token";
const SECRET: &str = "http-test-webhook-secret";

/// A bare repository with a work clone to push from, and `ordo run` following it over HTTP.
struct Agent {
    _dir: tempfile::TempDir,
    app: String,
    bare: PathBuf,
    work: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:<port>` once started.
    base: String,
}

impl Agent {
    fn new(prefix: &str, interval: &str) -> Agent {
        let app = unique(prefix);
        let dir = tempfile::tempdir().expect("temp dir");
        let (bare, work) = bare_repo(dir.path());
        let token = dir.path().join("token");
        let secret = dir.path().join("webhook-secret");
        std::fs::write(&token, format!("{TOKEN}\n")).expect("token file");
        std::fs::write(&secret, SECRET).expect("secret file");
        let config = dir.path().join("ordo.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\ncacheDir: {cache}\napiTokenFile: {token}\nwebhookSecretFile: {secret}\napps:\n  - name: {app}\n    repo: {repo}\n    ref: main\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: {interval}\n    timeout: 60s\n    prune: true\n",
                cache = dir.path().join("cache").display(),
                token = token.display(),
                secret = secret.display(),
                repo = bare.display(),
            ),
        )
        .expect("config file");
        let log = dir.path().join("agent.log");
        Agent {
            app,
            bare,
            work,
            config,
            log,
            child: None,
            base: String::new(),
            _dir: dir,
        }
    }

    /// Commits the app's manifests with `setting` in its ConfigMap and pushes; returns the SHA.
    fn push(&self, message: &str, setting: &str) -> String {
        for (name, body) in manifests(&self.app, setting) {
            std::fs::write(self.work.join(name), body).expect("manifest written");
        }
        commit_and_push(&self.work, message)
    }

    /// Starts the agent and reads the address it serves on from its log.
    fn start(&mut self) {
        self.child = Some(spawn_agent(&self.config, &[], &self.log));
        let started = Instant::now();
        loop {
            if let Some(address) = served_address(&self.log_text()) {
                self.base = format!("http://{address}");
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "no `serving HTTP` line; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let mut response = client()
            .get(&self.url(path))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let mut request = client().post(&self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request
            .send(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn state(&self) -> Value {
        self.get(&format!("/api/v1/apps/{}", self.app)).1
    }

    /// Polls the app's JSON until `done` holds.
    fn wait(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let state = self.state();
            if done(&state) {
                return state;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what}; state {state}\nagent log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_synced(&self, revision: &str) -> Value {
        self.wait(&format!("revision {revision} synced"), |s| {
            s["history"][0]["revision"] == revision && s["history"][0]["result"] == "Succeeded"
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn manifests(app: &str, setting: &str) -> Vec<(&'static str, String)> {
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
            "secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds, namespace: {app}}}\nstringData: {{password: hunter2}}\n"
            ),
        ),
        (
            "api.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: {app}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n      containers: [{{name: c, image: \"api:1\", envFrom: [{{configMapRef: {{name: settings}}}}, {{secretRef: {{name: creds}}}}]}}]\n"
            ),
        ),
    ]
}

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn github_push(repo: &str, reference: &str) -> Vec<u8> {
    json!({
        "ref": reference,
        "before": "0000000000000000000000000000000000000000",
        "repository": {"clone_url": repo, "default_branch": "main"},
        "pusher": {"name": "test"},
    })
    .to_string()
    .into_bytes()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// The first `name{labels} value` sample line of `family` with these labels in `/metrics`.
fn metric(agent: &Agent, line_start: &str) -> Option<String> {
    let (_, text) = agent.get("/metrics");
    let text = text.as_str().unwrap_or_default().to_owned();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_owned)
}

#[test]
fn signed_webhooks_trigger_a_sync_and_anything_else_triggers_nothing() {
    let mut agent = Agent::new("hook", "1h");
    let first = agent.push("v1", "one");
    agent.start();
    agent.wait_synced(&first);

    // Only a webhook can make the agent look again within the hour.
    let second = agent.push("v2", "two");
    let repo = agent.bare.to_str().expect("UTF-8 path").to_owned();
    let push = github_push(&repo, "refs/heads/main");
    let github = |signature: Option<&str>, body: &[u8]| {
        let mut headers = vec![
            ("x-github-event", "push"),
            ("content-type", "application/json"),
        ];
        if let Some(s) = signature {
            headers.push(("x-hub-signature-256", s));
        }
        agent.post("/api/v1/webhook", &headers, body)
    };

    let (status, body) = github(Some(&sign(&push, "not-the-secret")), &push);
    assert_eq!(status, 401, "wrong signature: {body}");
    let (status, body) = github(None, &push);
    assert_eq!(status, 401, "no signature: {body}");
    let elsewhere = github_push("/srv/git/another.git", "refs/heads/main");
    let (status, body) = github(Some(&sign(&elsewhere, SECRET)), &elsewhere);
    assert_eq!(
        (status, body),
        (202, json!({"triggered": []})),
        "another repository"
    );
    let branch = github_push(&repo, "refs/heads/feature");
    let (status, body) = github(Some(&sign(&branch, SECRET)), &branch);
    assert_eq!(
        (status, body),
        (202, json!({"triggered": []})),
        "another branch"
    );
    let mut huge = github_push(&repo, "refs/heads/main");
    huge.truncate(huge.len() - 1);
    huge.extend(format!(", \"pad\": \"{}\"}}", "x".repeat(1024 * 1024)).bytes());
    let (status, body) = github(Some(&sign(&huge, SECRET)), &huge);
    assert_eq!(status, 413, "over 1 MiB: {body}");
    // None of them made the agent fetch: it still knows only the first head.
    let state = agent.state();
    assert_eq!(state["head"], first.as_str(), "{state}");
    assert_eq!(
        state["history"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
    for (result, n) in [("unauthorized", 2), ("ignored", 2), ("too_large", 1)] {
        let line = metric(
            &agent,
            &format!("ordo_webhook_requests_total{{provider=\"github\",result=\"{result}\"}}"),
        );
        assert_eq!(
            line.as_deref().and_then(|l| l.rsplit(' ').next()),
            Some(n.to_string().as_str()),
            "{result}: {line:?}"
        );
    }

    // The real one.
    let posted = unix_now();
    let clock = Instant::now();
    let (status, body) = github(Some(&sign(&push, SECRET)), &push);
    let answered = clock.elapsed();
    assert_eq!(
        (status, body),
        (202, json!({"triggered": [agent.app.clone()]}))
    );
    let state = agent.wait_synced(&second);
    let seen = clock.elapsed();
    let entry = &state["history"][0];
    assert_eq!(entry["trigger"], "webhook", "{state}");
    let started = entry["started"].as_f64().unwrap_or_default() - posted;
    let finished = entry["finished"].as_f64().unwrap_or_default() - posted;
    println!(
        "webhook latency: POST answered in {:.1} ms; sync started {:.0} ms and finished {:.0} ms after the POST (seen by polling after {:.0} ms)",
        answered.as_secs_f64() * 1e3,
        started * 1e3,
        finished * 1e3,
        seen.as_secs_f64() * 1e3
    );
    assert!(
        (0.0..5.0).contains(&started),
        "the sync starts right after the webhook, not at the interval: {started:.3} s"
    );
    assert!(
        metric(
            &agent,
            "ordo_webhook_requests_total{provider=\"github\",result=\"triggered\"} 1"
        )
        .is_some()
    );
}

/// A Prometheus server scraping the agent, with its own storage in a temp dir.
struct Prometheus {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: ordo\n    static_configs: [{{targets: [\"{target}\"]}}]\n"
            ),
        )
        .expect("prometheus config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("/usr/bin/prometheus starts (Debian package prometheus; scripts/install-deps)");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The instant vector of `query`, or None while Prometheus is not answering.
    fn query(&self, query: &str) -> Option<Vec<Value>> {
        let mut response = client()
            .get(&format!("{}/api/v1/query", self.base))
            .query("query", query)
            .call()
            .ok()?;
        let doc: Value = serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
        doc["data"]["result"].as_array().cloned()
    }

    fn wait_for(&self, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            if let Some(result) = self.query(query)
                && done(&result)
            {
                return result;
            }
            assert!(
                started.elapsed() < WAIT,
                "Prometheus never answered {query} as expected; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn a_real_prometheus_scrapes_the_metrics() {
    let mut agent = Agent::new("prom", "1h");
    let first = agent.push("v1", "one");
    agent.start();
    agent.wait_synced(&first);
    let prometheus = Prometheus::start(&agent.address());

    let up = prometheus.wait_for("up{job=\"ordo\"}", |r| {
        r.first().is_some_and(|s| s["value"][1] == "1")
    });
    assert_eq!(up.len(), 1, "{up:?}");
    let query = format!("ordo_app_health_status{{app=\"{}\"}}", agent.app);
    let series = prometheus.wait_for(&query, |r| r.len() == 6);
    let current: Vec<&str> = series
        .iter()
        .filter(|s| s["value"][1] == "1")
        .filter_map(|s| s["metric"]["status"].as_str())
        .collect();
    assert_eq!(current, ["Healthy"], "{series:?}");
    let info = prometheus.wait_for(&format!("ordo_app_info{{app=\"{}\"}}", agent.app), |r| {
        !r.is_empty()
    });
    assert_eq!(info[0]["metric"]["revision"], first.as_str());
    assert_eq!(info[0]["metric"]["ref"], "main");
    for family in [
        "ordo_kube_requests_total",
        "ordo_build_info",
        "process_resident_memory_bytes",
        format!("ordo_resources{{app=\"{}\"}}", agent.app).as_str(),
        format!(
            "ordo_app_sync_total{{app=\"{}\",result=\"Succeeded\"}}",
            agent.app
        )
        .as_str(),
    ] {
        prometheus.wait_for(family, |r| !r.is_empty());
    }
}

/// Reads SSE lines until an `event: app` frame; returns its JSON.
fn next_app_event(reader: &mut impl BufRead) -> Value {
    let mut event = None;
    let mut data = String::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("the event stream failed: {e}"));
        assert!(n > 0, "the event stream ended");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if event.as_deref() == Some("app") {
                return serde_json::from_str(&data).unwrap_or(Value::Null);
            }
            event = None;
            data.clear();
        } else if let Some(name) = line.strip_prefix("event: ") {
            event = Some(name.to_owned());
        } else if let Some(chunk) = line.strip_prefix("data: ") {
            data.push_str(chunk);
        }
    }
}

#[test]
fn the_json_api_shows_the_app_streams_changes_and_takes_commands_with_the_token() {
    let mut agent = Agent::new("api", "1s");
    let first = agent.push("v1", "one");
    agent.start();
    agent.wait_synced(&first);
    let app = agent.app.clone();
    let ns = app.clone();

    let (status, list) = agent.get("/api/v1/apps");
    assert_eq!(status, 200);
    assert_eq!(list["apps"][0]["name"], app.as_str());
    assert_eq!(list["apps"][0]["lastSync"]["revision"], first.as_str());
    let (status, one) = agent.get(&format!("/api/v1/apps/{app}"));
    assert_eq!(status, 200);
    let ids: Vec<&str> = one["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    for id in [
        format!("Namespace/{ns}"),
        format!("ConfigMap/{ns}/settings"),
        format!("Secret/{ns}/creds"),
        format!("Deployment/{ns}/api"),
    ] {
        assert!(ids.contains(&id.as_str()), "{id} in {ids:?}");
    }
    assert_eq!(agent.get("/api/v1/apps/no-such-app").0, 404);

    // Diff: everything synced at the first revision.
    let (status, diff) = agent.get(&format!("/api/v1/apps/{app}/diff"));
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["revision"], first.as_str());
    let objects = diff["objects"].as_array().cloned().unwrap_or_default();
    assert_eq!(objects.len(), 4, "{diff}");
    assert!(
        objects
            .iter()
            .all(|o| o["status"] == "Synced" && o["diff"] == ""),
        "{diff}"
    );
    let (_, one_diff) = agent.get(&format!(
        "/api/v1/apps/{app}/diff?object=ConfigMap/{ns}/settings"
    ));
    assert_eq!(
        one_diff["objects"].as_array().map(Vec::len),
        Some(1),
        "{one_diff}"
    );

    // A resource: live YAML without managedFields, Secret values redacted, edges both ways.
    let (status, secret) = agent.get(&format!("/api/v1/apps/{app}/resource?id=Secret/{ns}/creds"));
    assert_eq!(status, 200, "{secret}");
    let live = secret["live"].as_str().unwrap_or_default();
    assert!(live.contains("password: <redacted>"), "{live}");
    assert!(
        !live.contains("aHVudGVyMg") && !live.contains("hunter2"),
        "{live}"
    );
    assert!(!live.contains("managedFields"), "{live}");
    assert_eq!(secret["diffStatus"], "Synced");
    let deployment = format!("Deployment/{ns}/api");
    assert!(
        secret["dependents"]
            .as_array()
            .is_some_and(|d| d.iter().any(|e| e["id"] == deployment.as_str())),
        "{secret}"
    );
    let (_, api) = agent.get(&format!("/api/v1/apps/{app}/resource?id={deployment}"));
    assert!(
        api["dependsOn"].as_array().is_some_and(|d| d
            .iter()
            .any(|e| e["id"] == format!("ConfigMap/{ns}/settings"))),
        "{api}"
    );
    assert_eq!(
        agent
            .get(&format!(
                "/api/v1/apps/{app}/resource?id=ConfigMap/{ns}/nope"
            ))
            .0,
        404
    );
    assert_eq!(agent.get("/readyz").0, 200);
    assert_eq!(agent.get("/healthz").0, 200);

    // Events: clients that never read stay connected while a push is followed; a reading
    // client sees the new revision.
    let idle: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(agent.address()).expect("connects");
            s.write_all(
                b"GET /api/v1/events HTTP/1.1\r\nHost: ordo\r\nAccept: text/event-stream\r\n\r\n",
            )
            .expect("request sent");
            s
        })
        .collect();
    let stream = ureq::Agent::config_builder()
        .timeout_recv_body(Some(WAIT))
        .build()
        .new_agent()
        .get(&agent.url(&format!("/api/v1/events?app={app}")))
        .call()
        .expect("event stream opens");
    let mut events = BufReader::new(stream.into_body().into_reader());
    assert_eq!(
        next_app_event(&mut events)["history"][0]["revision"],
        first.as_str()
    );
    let second = agent.push("v2", "two");
    let started = Instant::now();
    loop {
        let event = next_app_event(&mut events);
        if event["history"][0]["revision"] == second.as_str() {
            break;
        }
        assert!(started.elapsed() < WAIT, "no event with {second}");
    }
    drop(idle);

    // Commands: refused without the token, queued with it.
    let sync = format!("/api/v1/apps/{app}/sync");
    let (status, body) = agent.post(&sync, &[], b"");
    assert_eq!(status, 401, "{body}");
    let (status, _) = agent.post(&sync, &[("authorization", "Bearer wrong")], b"");
    assert_eq!(status, 401);
    let syncs_before = agent.state()["history"].as_array().map_or(0, Vec::len);
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = agent.post(&sync, &[("authorization", &bearer)], b"");
    assert_eq!(
        (status, body),
        (202, json!({"app": app, "action": "sync", "accepted": true}))
    );
    agent.wait("the manual sync", |s| {
        s["history"][0]["trigger"] == "manual"
            && s["history"].as_array().map_or(0, Vec::len) > syncs_before
    });

    let rollback = format!("/api/v1/apps/{app}/rollback");
    let (status, body) = agent.post(
        &rollback,
        &[("authorization", &bearer)],
        b"{\"revision\": \"0000000\"}",
    );
    assert_eq!(status, 400, "{body}");
    let short = &first[..8];
    let (status, _) = agent.post(
        &rollback,
        &[("authorization", &bearer)],
        format!("{{\"revision\": \"{short}\"}}").as_bytes(),
    );
    assert_eq!(status, 202);
    let state = agent.wait("the rollback", |s| {
        s["pin"]["revision"] == first.as_str() && s["history"][0]["revision"] == first.as_str()
    });
    assert_eq!(state["history"][0]["trigger"], "rollback", "{state}");
    let (status, _) = agent.post(
        &format!("/api/v1/apps/{app}/unpin"),
        &[("authorization", &bearer)],
        b"",
    );
    assert_eq!(status, 202);
    agent.wait("the unpin", |s| s["pin"].is_null());

    // SIGTERM with a stream open: the stream ends and the agent exits (a graceful shutdown
    // would otherwise wait for the stream forever).
    let stream = ureq::Agent::config_builder()
        .timeout_recv_body(Some(WAIT))
        .build()
        .new_agent()
        .get(&agent.url("/api/v1/events"))
        .call()
        .expect("event stream opens");
    let mut events = BufReader::new(stream.into_body().into_reader());
    assert_eq!(next_app_event(&mut events)["name"], app.as_str());
    let child = agent.child.as_mut().expect("agent running");
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(terminated.success());
    let mut rest = String::new();
    let ended = std::io::Read::read_to_string(&mut events, &mut rest);
    assert!(ended.is_ok(), "the stream ends cleanly: {ended:?}");
    let stopping = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            stopping.elapsed() < WAIT,
            "the agent did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens `GET /api/v1/events` on a socket of its own; the status code of the answer, and the
/// socket (held open to keep the stream).
fn open_event_stream(address: &str) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(address).expect("connects");
    s.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: ordo\r\nAccept: text/event-stream\r\n\r\n")
        .expect("request sent");
    s.set_read_timeout(Some(WAIT)).expect("timeout set");
    let mut status = String::new();
    BufReader::new(s.try_clone().expect("clone"))
        .read_line(&mut status)
        .expect("a status line");
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, s)
}

/// Issue #23: one address holds at most 16 event streams (600 were all accepted before); the
/// 17th gets 429 with Retry-After, and a stream that ends gives its slot back.
#[test]
fn event_streams_from_one_address_beyond_its_cap_get_429_until_one_closes() {
    let mut agent = Agent::new("sse-cap", "1h");
    agent.push("first", "a");
    agent.start();
    let address = agent.address();
    let mut open: Vec<TcpStream> = (0..16)
        .map(|i| {
            let (code, s) = open_event_stream(&address);
            assert_eq!(code, 200, "stream {i}");
            s
        })
        .collect();
    let (code, _) = open_event_stream(&address);
    assert_eq!(code, 429, "the 17th stream from one address");

    // Closing one frees its slot once the server sees the connection gone.
    let closed = open.pop().expect("a stream");
    closed.shutdown(std::net::Shutdown::Both).expect("closes");
    let started = Instant::now();
    loop {
        let (code, s) = open_event_stream(&address);
        if code == 200 {
            open.push(s);
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the closed stream's slot never came back; log:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
