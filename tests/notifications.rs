//! Notifications against real receivers: a real Gitea (built from its Go module by
//! `scripts/gitea.sh`) that the repository is pushed to over HTTP, that ordo clones from with
//! a token, that sends the signed push webhook, and where ordo's commit statuses are read
//! back; a real SMTP server (Mailpit); and a local receiver checking the payload shape each
//! chat provider documents, and playing the faulty receivers.

mod common;
#[path = "notifications/gitea.rs"]
mod gitea;
#[path = "notifications/receiver.rs"]
mod receiver;
#[path = "render_remote/tls.rs"]
mod tls;
#[path = "notifications/tls_proxy.rs"]
mod tls_proxy;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{git, kubeconfig, served_address, unique};
use gitea::{Gitea, client};
use hmac::{Hmac, Mac};
use receiver::LocalReceiver;
use serde_json::Value;
use sha2::Sha256;
use tls::TestTls;
use tls_proxy::TlsProxy;

const WAIT: Duration = Duration::from_secs(90);

/// Whether a body has a provider's documented shape.
type Shape = fn(&Value) -> bool;

/// Polls until `check` gives a value (bounded).
fn eventually<T>(what: &str, within: Duration, check: impl Fn() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A work tree pushing to a Gitea repository.
struct Work {
    dir: PathBuf,
    push_url: String,
}

impl Work {
    fn new(root: &Path, push_url: String) -> Work {
        let dir = root.join("work");
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        Work { dir, push_url }
    }

    fn push(&self, message: &str, files: &[(&str, String)]) -> String {
        for (path, body) in files {
            std::fs::write(self.dir.join(path), body).unwrap();
        }
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "-m", message]);
        git(&self.dir, &["push", "-q", &self.push_url, "HEAD:main"]);
        git(&self.dir, &["rev-parse", "HEAD"])
    }
}

fn config_map(namespace: Option<&str>, setting: &str) -> String {
    let ns = namespace.map_or(String::new(), |n| format!(", namespace: {n}"));
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings{ns}}}\ndata: {{setting: \"{setting}\"}}\n"
    )
}

/// `ordo run` with extra environment, its log in `log`; killed on drop.
struct Agent {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Agent {
    fn start(config: &Path, log: PathBuf, env: &[(&str, String)]) -> Agent {
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ordo"));
        command
            .args(["run", "--config", config.to_str().unwrap()])
            .env("KUBECONFIG", kubeconfig())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("the agent starts");
        let address = eventually("the agent's address", WAIT, || {
            served_address(&std::fs::read_to_string(&log).unwrap_or_default())
        });
        Agent {
            child,
            log,
            base: format!("http://{address}"),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get_text(&self, path: &str) -> String {
        let mut r = client()
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        r.body_mut().read_to_string().unwrap_or_default()
    }

    fn app(&self, name: &str) -> Value {
        serde_json::from_str(&self.get_text(&format!("/api/v1/apps/{name}"))).unwrap_or(Value::Null)
    }

    /// The sync history of `app`: (revision, result, seconds), newest first.
    fn history(&self, app: &str) -> Vec<(String, String, f64)> {
        let doc = self.app(app);
        doc["history"]
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|e| {
                        (
                            e["revision"].as_str().unwrap_or("").to_owned(),
                            e["result"].as_str().unwrap_or("").to_owned(),
                            e["finished"].as_f64().unwrap_or(0.0)
                                - e["started"].as_f64().unwrap_or(0.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wait_synced(&self, app: &str, sha: &str) {
        eventually(&format!("{app} synced at {sha}"), WAIT, || {
            let h = self.history(app);
            (h.first()
                .is_some_and(|(r, res, _)| r == sha && res == "Succeeded"))
            .then_some(())
        });
    }

    /// The value of one sample of `/metrics`, 0 when absent.
    fn metric(&self, sample: &str) -> f64 {
        self.get_text("/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `ordo/<app>` statuses of `sha` in Gitea, oldest first.
fn gitea_states(gitea: &Gitea, repo: &str, sha: &str, app: &str) -> Vec<(String, Value)> {
    let mut states: Vec<(String, Value)> = gitea
        .statuses(repo, sha)
        .into_iter()
        .filter(|s| s["context"] == format!("ordo/{app}"))
        .map(|s| (s["status"].as_str().unwrap_or("").to_owned(), s))
        .collect();
    states.sort_by_key(|(_, s)| s["id"].as_u64().unwrap_or(0));
    states
}

#[test]
fn a_push_to_gitea_is_synced_by_its_webhook_and_reported_to_every_receiver() {
    let gitea = Gitea::start();
    // Gitea's API over HTTPS (a git host's token never goes over plain HTTP); a second
    // proxy stands for another git host, which must get nothing for this app.
    let tls = TestTls::issue();
    let gitea_api = TlsProxy::start(&gitea.url, &tls);
    let other_host = TlsProxy::start(&gitea.url, &tls);
    let local = LocalReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let app = unique("ntf");
    let clone_url = gitea.create_repo("travel");
    let work = Work::new(dir.path(), gitea.push_url(&clone_url));
    let ns = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app}}}\n");
    let first = work.push(
        "First version",
        &[
            ("namespace.yaml", ns),
            ("config.yaml", config_map(Some(&app), "one")),
        ],
    );

    // Chat webhook URLs are credentials: from a file and from the environment.
    let slack_secret = "T0001/B0001/slacksecretpart";
    std::fs::write(
        dir.path().join("slack-url"),
        local.url(&format!("/ok/slack/{slack_secret}")),
    )
    .unwrap();
    std::fs::write(dir.path().join("teams-url"), local.url("/ok/teams")).unwrap();
    std::fs::write(dir.path().join("hook-secret"), "hook-key\n").unwrap();
    std::fs::write(dir.path().join("webhook-secret"), "gitea-push-secret\n").unwrap();
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            r#"listen: 127.0.0.1:0
cacheDir: {d}/cache
webhookSecretFile: {d}/webhook-secret
notifications:
  externalURL: https://ordo.example.com/
  receivers:
    - name: gitea
      type: gitea
      url: {gitea_api}/api/v1
      tokenFile: {token}
    # Pinned to another host than the app's repository: no status, and no token, for it.
    - name: elsewhere
      type: gitea
      url: {other_host}/api/v1
      tokenFile: {token}
    - name: slack
      type: slack
      urlFile: {d}/slack-url
    - name: discord
      type: discord
      urlEnv: ORDO_TEST_DISCORD_URL
    - name: teams
      type: msteams
      urlFile: {d}/teams-url
    - name: hook
      type: webhook
      url: {hook}
      secretFile: {d}/hook-secret
      apps: ["ntf-*"]
    - name: mail
      type: smtp
      url: smtp://{smtp}
      from: ordo <ordo@example.org>
      to: [ops@example.org]
      events: [SyncSucceeded]
apps:
  - name: {app}
    repo: {clone_url}
    ref: main
    namespace: {app}
    allow: {{clusterKinds: [Namespace]}}
    # Only Gitea's push webhook makes the second commit sync.
    interval: 1h
    credentials:
      username: {user}
      passwordFile: {token}
"#,
            d = dir.path().display(),
            token = gitea.token_file.display(),
            hook = local.url("/ok/hook"),
            smtp = gitea.smtp,
            user = gitea.user,
            gitea_api = gitea_api.url("127.0.0.1"),
            other_host = other_host.url("localhost"),
        ),
    )
    .unwrap();
    let agent = Agent::start(
        &config,
        dir.path().join("agent.log"),
        &[
            ("ORDO_TEST_DISCORD_URL", local.url("/ok/discord")),
            // ordo's HTTP client trusts the test CA (rustls-native-certs reads it).
            ("SSL_CERT_FILE", tls.ca.display().to_string()),
        ],
    );
    agent.wait_synced(&app, &first);
    gitea.add_webhook(
        "travel",
        &format!("{}/api/v1/webhook", agent.base),
        "gitea-push-secret",
    );

    let second = work.push(
        "Second version",
        &[("config.yaml", config_map(Some(&app), "two"))],
    );
    agent.wait_synced(&app, &second);
    assert!(
        agent.metric(r#"ordo_webhook_requests_total{provider="gitea",result="triggered"} "#) >= 1.0,
        "Gitea's webhook did not trigger the sync"
    );

    // Commit statuses, read back through Gitea's API: pending, then success, with the link.
    for sha in [&first, &second] {
        let states = eventually("both commit statuses", WAIT, || {
            let s = gitea_states(&gitea, "travel", sha, &app);
            (s.len() >= 2).then_some(s)
        });
        let names: Vec<&str> = states.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["pending", "success"], "{sha}");
        let last = &states[1].1;
        assert_eq!(
            last["target_url"],
            format!("https://ordo.example.com/apps/{app}")
        );
        assert!(
            last["description"]
                .as_str()
                .unwrap()
                .starts_with("SyncSucceeded in "),
            "{last}"
        );
    }

    // Each chat provider's documented shape, for the start and end of both syncs.
    let slack_path = format!("/ok/slack/{slack_secret}");
    let checks: [(&str, Shape); 3] = [
        (slack_path.as_str(), |b| {
            b["text"].as_str().is_some_and(|t| !t.is_empty()) && b["blocks"][0]["type"] == "section"
        }),
        ("/ok/discord", |b| {
            b["content"].as_str().is_some_and(|c| c.len() <= 2000)
                && b["embeds"]
                    .as_array()
                    .is_some_and(|e| e.len() <= 10 && e[0]["title"].is_string())
        }),
        ("/ok/teams", |b| {
            b["type"] == "message"
                && b["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
                && b["attachments"][0]["content"]["type"] == "AdaptiveCard"
        }),
    ];
    for (path, shaped) in checks {
        let got = eventually(&format!("4 messages at {path}"), WAIT, || {
            let r = local.at(path);
            (r.len() >= 4).then_some(r)
        });
        for r in &got {
            assert!(shaped(&r.json()), "{path}: {}", r.json());
        }
        let titles: Vec<String> = got.iter().map(|r| r.json().to_string()).collect();
        assert!(
            titles
                .iter()
                .any(|t| t.contains(&format!("{app}: SyncStarted"))),
            "{titles:?}"
        );
        assert!(
            titles
                .iter()
                .any(|t| t.contains(&format!("{app}: SyncSucceeded"))),
            "{titles:?}"
        );
    }

    // The signed webhook: HMAC-SHA256 of the exact body, and the event in full.
    let hooks = eventually("4 webhook posts", WAIT, || {
        let r = local.at("/ok/hook");
        (r.len() >= 4).then_some(r)
    });
    for h in &hooks {
        let want = format!("sha256={}", hmac_hex(b"hook-key", &h.body));
        assert_eq!(h.headers.get("x-ordo-signature"), Some(&want));
        assert_eq!(
            h.headers.get("x-ordo-event").map(String::as_str),
            h.json()["kind"].as_str()
        );
    }
    let end = hooks
        .iter()
        .map(|h| h.json())
        .find(|b| b["kind"] == "SyncSucceeded" && b["revision"] == second.as_str())
        .expect("the second sync's end");
    assert_eq!(end["app"], app.as_str());
    assert_eq!(end["message"], "Second version");
    assert!(end["author"].as_str().unwrap().contains("Test"), "{end}");
    assert_eq!(end["result"], "Succeeded");
    assert!(end["durationSeconds"].as_f64().unwrap() > 0.0);
    assert_eq!(end["url"], format!("https://ordo.example.com/apps/{app}"));

    // Email through a real SMTP server: one per succeeded sync.
    let mails = eventually("2 emails", WAIT, || {
        let m = gitea.emails();
        (m.len() >= 2).then_some(m)
    });
    let mail = mails
        .iter()
        .find(|m| m["Subject"] == format!("{app}: SyncSucceeded"))
        .expect("a SyncSucceeded email");
    assert_eq!(mail["To"][0]["Address"], "ops@example.org");
    let text = gitea.email_text(mail["ID"].as_str().unwrap());
    assert!(text.contains("Result: Succeeded"), "{text}");
    assert!(
        text.contains(&format!("https://ordo.example.com/apps/{app}")),
        "{text}"
    );

    assert!(
        agent.metric(r#"ordo_notifications_total{receiver="gitea",result="delivered"} "#) >= 4.0
    );
    // The receiver pinned to another host: every status skipped, none sent, said once.
    assert!(
        agent.metric(r#"ordo_notifications_total{receiver="elsewhere",result="skipped"} "#) >= 4.0
    );
    assert_eq!(other_host.requests(), Vec::<String>::new());
    assert!(!gitea_api.requests().is_empty());
    let log = agent.log();
    let skipped = log
        .lines()
        .filter(|l| l.contains("commit status not sent") && l.contains("receiver=elsewhere"))
        .count();
    assert_eq!(skipped, 1, "{log}");
    assert!(!log.contains(&gitea.token), "the token is in the log");
    assert!(
        !log.contains("slacksecretpart"),
        "the Slack URL is in the log"
    );
    assert!(!log.contains("notification not delivered"), "{log}");
    assert!(
        agent.get_text("/").contains("no commit status sent"),
        "the skip is not on the page"
    );
}

/// Two apps on the same repository, one with every faulty receiver (500, no answer, 429 with
/// Retry-After, a wrong token) and one with none: the faulty ones cost the syncs nothing,
/// their retries stay bounded, each failure shows on the page and in the metrics and is
/// logged once, and no credential reaches the log.
#[test]
fn failing_receivers_leave_syncs_alone_and_fail_visibly_once() {
    let gitea = Gitea::start();
    let tls = TestTls::issue();
    let gitea_api = TlsProxy::start(&gitea.url, &tls);
    let local = LocalReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let calm = unique("calm");
    let noisy = unique("noisy");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = common::client().await;
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
        for name in [&calm, &noisy] {
            let ns =
                serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
            api.create(&Default::default(), &ns).await.unwrap();
        }
    });
    let clone_url = gitea.create_repo("shop");
    let work = Work::new(dir.path(), gitea.push_url(&clone_url));
    let mut revisions = vec![work.push("v0", &[("config.yaml", config_map(None, "0"))])];
    let wrong_token = "0123456789abcdef0123456789abcdef01234567";
    std::fs::write(dir.path().join("wrong-token"), format!("{wrong_token}\n")).unwrap();
    let config = dir.path().join("ordo.yaml");
    let app = |name: &str| {
        format!(
            "  - name: {name}\n    repo: {clone_url}\n    ref: main\n    namespace: {name}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    credentials:\n      username: {user}\n      passwordFile: {token}\n",
            user = gitea.user,
            token = gitea.token_file.display(),
        )
    };
    std::fs::write(
        &config,
        format!(
            r#"listen: 127.0.0.1:0
cacheDir: {d}/cache
notifications:
  externalURL: https://ordo.example.com
  receivers:
    - {{name: fail500, type: webhook, url: "{fail}", apps: ["noisy-*"]}}
    - {{name: silent, type: webhook, url: "{hang}", apps: ["noisy-*"]}}
    - {{name: limited, type: webhook, url: "{limited}", apps: ["noisy-*"]}}
    - {{name: wrongtoken, type: gitea, url: "{gitea_api}/api/v1", tokenFile: "{d}/wrong-token", apps: ["noisy-*"]}}
    - {{name: capped, type: webhook, url: "{capped}", apps: ["noisy-*"], maxPerMinute: 1}}
apps:
{calm_app}{noisy_app}"#,
            d = dir.path().display(),
            fail = local.url("/fail/x"),
            hang = local.url("/hang/x"),
            limited = local.url("/limited/x"),
            capped = local.url("/ok/capped"),
            gitea_api = gitea_api.url("127.0.0.1"),
            calm_app = app(&calm),
            noisy_app = app(&noisy),
        ),
    )
    .unwrap();
    let agent = Agent::start(
        &config,
        dir.path().join("agent.log"),
        &[("SSL_CERT_FILE", tls.ca.display().to_string())],
    );
    for (i, sha) in revisions.clone().iter().enumerate() {
        agent.wait_synced(&calm, sha);
        agent.wait_synced(&noisy, sha);
        if i == 0 {
            for n in 1..=3 {
                revisions.push(work.push(
                    &format!("v{n}"),
                    &[("config.yaml", config_map(None, &n.to_string()))],
                ));
                agent.wait_synced(&calm, revisions.last().unwrap());
                agent.wait_synced(&noisy, revisions.last().unwrap());
            }
        }
    }
    // Sync durations with and without the faulty receivers.
    let seconds =
        |app: &str| -> Vec<f64> { agent.history(app).iter().map(|(_, _, s)| *s).collect() };
    let (quiet, loud) = (seconds(&calm), seconds(&noisy));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "sync seconds without receivers {quiet:?} (mean {:.3}, max {:.3}); with the faulty ones {loud:?} (mean {:.3}, max {:.3})",
        mean(&quiet),
        max(&quiet),
        mean(&loud),
        max(&loud)
    );
    assert_eq!(loud.len(), 4, "{loud:?}");
    // A receiver on the sync's path would add its 10 s timeout at least.
    assert!(max(&loud) < 5.0, "{loud:?}");
    assert!(mean(&loud) < mean(&quiet) + 1.0, "{loud:?} vs {quiet:?}");

    // 500: retried with backoff, given up after 5 attempts, once per message.
    eventually("fail500 to give up", WAIT, || {
        (agent.metric(r#"ordo_notifications_total{receiver="fail500",result="failed"} "#) >= 1.0)
            .then_some(())
    });
    // 429 with Retry-After: 2 is honoured (backoff alone would wait 1 s), then delivered.
    eventually("limited to deliver", WAIT, || {
        (agent.metric(r#"ordo_notifications_total{receiver="limited",result="delivered"} "#) >= 1.0)
            .then_some(())
    });
    let limited = local.at("/limited/x");
    let gap = limited[1].at.duration_since(limited[0].at);
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After not honoured: {gap:?}"
    );
    // A wrong token: refused by the real Gitea, not retried.
    eventually("wrongtoken to fail", WAIT, || {
        (agent.metric(r#"ordo_notifications_total{receiver="wrongtoken",result="failed"} "#) >= 1.0)
            .then_some(())
    });
    // No answer: each attempt times out after 10 s; given up after 5.
    eventually("silent to give up", Duration::from_secs(120), || {
        (agent.metric(r#"ordo_notifications_total{receiver="silent",result="failed"} "#) >= 1.0)
            .then_some(())
    });

    // Over the per-minute cap: one message, then one summary of the rest when the minute ends.
    let capped = eventually("the cap's summary", Duration::from_secs(120), || {
        let r = local.at("/ok/capped");
        r.iter()
            .any(|m| m.json()["kind"] == "Suppressed")
            .then_some(r)
    });
    assert_eq!(
        capped.len(),
        2,
        "{:?}",
        capped.iter().map(|m| m.json()).collect::<Vec<_>>()
    );
    // Four syncs send at least eight messages (started, succeeded); a busy machine may add one
    // (a fetch that timed out is a SourceError). All but the first are held back, and the
    // summary counts exactly what the metric counts.
    let held_back =
        agent.metric(r#"ordo_notifications_total{receiver="capped",result="held_back"} "#);
    assert!(held_back >= 7.0, "{held_back} held back");
    assert_eq!(capped[1].json()["count"].as_f64(), Some(held_back));

    let failed_500 =
        agent.metric(r#"ordo_notifications_total{receiver="fail500",result="failed"} "#);
    let attempts_500 = local.at("/fail/x").len() as f64;
    assert!(
        attempts_500 <= 5.0 * (failed_500 + 1.0),
        "{attempts_500} attempts for {failed_500} failures"
    );

    let page = agent.get_text("/");
    for want in [
        "Notifications",
        "fail500",
        "HTTP 500",
        "wrongtoken",
        "HTTP 401",
        "silent",
        "no answer within 10 s",
    ] {
        assert!(page.contains(want), "{want:?} not on the page");
    }

    let log = agent.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("notification not delivered"))
        .collect();
    println!("{}", lines.join("\n"));
    // A receiver failing the same way is logged once, however many messages fail.
    for receiver in ["fail500", "silent", "wrongtoken"] {
        let n = lines
            .iter()
            .filter(|l| l.contains(&format!("receiver={receiver} ")))
            .count();
        assert_eq!(n, 1, "{receiver} logged {n} times:\n{log}");
    }
    assert!(
        agent.metric(r#"ordo_notifications_total{receiver="wrongtoken",result="failed"} "#) >= 2.0
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("receiver=fail500 "))
            .all(|l| l.contains("gave up after 5 attempts"))
    );
    assert!(
        !lines.iter().any(|l| l.contains("receiver=limited ")),
        "{log}"
    );
    assert!(!log.contains(wrong_token), "the token is in the log");
    assert!(!log.contains(&gitea.token), "the token is in the log");
}
