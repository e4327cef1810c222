//! Forwarding only to a verified leader (issues #13, #23): a Lease whose holder and address were
//! forged by someone who may edit Leases collects no token. The standby challenges the address
//! first; it cannot answer with the proof, so nothing is forwarded there. Relaying the
//! challenge to the real leader does not help: the leader proves only its own address.

mod common;
use common::{agent_address, bare_repo, client, commit_and_push, eventually, spawn_agent, unique};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const TOKEN: &str = "forged-lease-test-token";

/// Holds the Lease as "attacker", its annotation pointing at `url`, renewed every second.
async fn hold_forged_lease(name: &str, url: &str) {
    hold_lease_as(name, "attacker", url).await;
}

/// Holds the Lease naming `holder` and `url`, as someone who may edit Leases can.
async fn hold_lease_as(name: &str, holder: &str, url: &str) {
    let leases: Api<Lease> = Api::namespaced(client().await, "default");
    let now = chrono_like_now();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "annotations": {"ordo.dev/leader-url": url}},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "acquireTime": now, "renewTime": now}
    });
    leases
        .patch(
            name,
            &PatchParams::apply("attacker").force(),
            &Patch::Apply(&lease),
        )
        .await
        .unwrap();
}

/// RFC 3339 with microseconds, as Lease times are written.
fn chrono_like_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%6NZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_forged_lease_address_receives_no_token() {
    let app = unique("forge");
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::write(
        work.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {app}\n"
        ),
    )
    .unwrap();
    commit_and_push(&work, "app");

    // The attacker's server: records every request, answers every one with a made-up proof.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(String::new()));
    let seen = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            seen.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
            let body = r#"{"identity":"attacker","proof":"00"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(hold_forged_lease(&app, &url));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewing = {
        let (stop, app, url) = (stop.clone(), app.clone(), url.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                rt.block_on(hold_forged_lease(&app, &url));
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };

    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\napiTokenFile: {}\ncacheDir: {}\napps:\n  - name: {app}\n    repo: {}\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n",
            token.display(),
            dir.path().join("cache").display(),
            bare.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = spawn_agent(
        &config,
        &[
            "--leader-elect",
            "--lease-namespace",
            "default",
            "--lease-name",
            &app,
            "--identity",
            "honest-replica",
        ],
        &log,
    );
    let address = agent_address(&log);
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    eventually(
        "the replica to stand by behind the forged holder",
        || {
            let mut r = http
                .get(&format!("http://{address}/api/v1/apps/{app}"))
                .call()
                .ok()?;
            let doc: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            (doc["phase"] == "Standby").then_some(())
        },
        &log,
    );

    let mut reply = http
        .post(&format!("http://{address}/api/v1/apps/{app}/sync"))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .send_empty()
        .unwrap();
    let status = reply.status().as_u16();
    let body = reply.body_mut().read_to_string().unwrap_or_default();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    renewing.join().unwrap();
    let _ = agent.kill();
    let _ = agent.wait();

    assert_eq!(status, 503, "{body}");
    assert!(body.contains("did not prove"), "{body}");
    let received = received.lock().unwrap().clone();
    assert!(
        received.contains("POST /api/v1/leader/proof"),
        "the address was challenged: {received}"
    );
    assert!(
        !received.contains(TOKEN) && !received.to_ascii_lowercase().contains("authorization"),
        "no credential reached the forged address: {received}"
    );
    assert!(
        !received.contains("/sync"),
        "nothing was forwarded: {received}"
    );
}

/// Reads one HTTP/1.1 request (head and `content-length` body) as text.
fn read_request(stream: &mut std::net::TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return text;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// The body of a request read by [`read_request`].
fn body_of(request: &str) -> &str {
    request.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[test]
fn a_forged_lease_address_relaying_the_challenge_to_the_real_leader_gets_no_proof_and_no_token() {
    let app = unique("relay");
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    std::fs::write(
        work.join("app.yaml"),
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n"),
    )
    .unwrap();
    commit_and_push(&work, "app");
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = |name: &str, cache: &str| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "listen: 127.0.0.1:0\napiTokenFile: {}\ncacheDir: {}\napps:\n  - name: {name}\n    repo: {}\n    namespace: {app}\n    interval: 1h\n",
                token.display(),
                dir.path().join(cache).display(),
                bare.display()
            ),
        )
        .unwrap();
        path
    };

    // The real leader: it holds its own Lease and shares the token with the standby.
    let leader_log = dir.path().join("leader.log");
    let leader_lease = format!("{app}-real");
    let mut leader = spawn_agent(
        &config(&format!("{app}-l"), "cache-l"),
        &[
            "--leader-elect",
            "--lease-namespace",
            "default",
            "--lease-name",
            &leader_lease,
            "--identity",
            "honest-leader",
        ],
        &leader_log,
    );
    let leader_url = format!("http://{}", agent_address(&leader_log));

    // The forged address: relays every challenge to the real leader, the first as it came,
    // then claiming it dialled the leader's own address; records everything it receives.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(String::new()));
    let seen = received.clone();
    let relay_to = leader_url.clone();
    std::thread::spawn(move || {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut challenges = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = read_request(&mut stream);
            seen.lock().unwrap().push_str(&request);
            let (status, answer) = if request.starts_with("POST /api/v1/leader/proof") {
                let mut challenge: Value =
                    serde_json::from_str(body_of(&request)).unwrap_or_default();
                if challenges % 2 == 1 {
                    challenge["url"] = json!(relay_to);
                }
                challenges += 1;
                match http
                    .post(&format!("{relay_to}/api/v1/leader/proof"))
                    .header("content-type", "application/json")
                    .send(challenge.to_string())
                {
                    Ok(mut r) => (
                        r.status().as_u16(),
                        r.body_mut().read_to_string().unwrap_or_default(),
                    ),
                    Err(e) => (502, e.to_string()),
                }
            } else {
                (202, "{}".to_owned())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });

    // The standby's Lease, forged: the real leader's identity at the relay's address.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(hold_lease_as(&app, "honest-leader", &url));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewing = {
        let (stop, app, url) = (stop.clone(), app.clone(), url.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                rt.block_on(hold_lease_as(&app, "honest-leader", &url));
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let log = dir.path().join("standby.log");
    let mut standby = spawn_agent(
        &config(&app, "cache-s"),
        &[
            "--leader-elect",
            "--lease-namespace",
            "default",
            "--lease-name",
            &app,
            "--identity",
            "honest-standby",
        ],
        &log,
    );
    let address = agent_address(&log);
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    eventually(
        "the replica to stand by behind the forged holder",
        || {
            let mut r = http
                .get(&format!("http://{address}/api/v1/apps/{app}"))
                .call()
                .ok()?;
            let doc: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            (doc["phase"] == "Standby").then_some(())
        },
        &log,
    );

    // The real leader leads, so it would answer a challenge relayed to it.
    eventually(
        "the real leader to lead",
        || {
            let mut r = http.get(&format!("{leader_url}/metrics")).call().ok()?;
            let text = r.body_mut().read_to_string().ok()?;
            text.lines().any(|l| l == "ordo_leader 1").then_some(())
        },
        &leader_log,
    );

    // Two commands: one challenge relayed as it came, one claiming the leader's address.
    let mut answers = Vec::new();
    for _ in 0..2 {
        let mut reply = http
            .post(&format!("http://{address}/api/v1/apps/{app}/sync"))
            .header("authorization", &format!("Bearer {TOKEN}"))
            .send_empty()
            .unwrap();
        let status = reply.status().as_u16();
        answers.push((
            status,
            reply.body_mut().read_to_string().unwrap_or_default(),
        ));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    renewing.join().unwrap();
    for agent in [&mut standby, &mut leader] {
        let _ = agent.kill();
        let _ = agent.wait();
    }

    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert!(body.contains("did not prove"), "{body}");
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(
        received.matches("POST /api/v1/leader/proof").count(),
        2,
        "each command challenged the address: {received}"
    );
    assert!(
        !received.contains(TOKEN) && !received.to_ascii_lowercase().contains("authorization"),
        "no credential reached the forged address: {received}"
    );
    assert!(
        !received.contains("/sync"),
        "nothing was forwarded: {received}"
    );
}
