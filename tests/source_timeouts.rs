//! A git server that accepts connections and never answers: ordo gives up on it within the
//! configured bound, and it holds up nothing else (other repositories, the CLI, shutdown).

// Shared with tests/source_git.rs, which uses the rest of it.
#[allow(dead_code)]
#[path = "source_git/upstream.rs"]
mod upstream;

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ordo::source::{
    RepoSpec, Selection, SourceError, fetch_async, init_network_timeouts, remote_head_async,
};
use upstream::Upstream;

/// The bound the in-process tests run with: long enough that a local fetch on a busy machine
/// finishes well inside it, short enough for the suite.
const TIMEOUT: Duration = Duration::from_secs(3);
/// How long a test waits before calling a hang a hang.
const HANG: Duration = Duration::from_secs(30);

/// Accepts every connection and keeps it open without sending a byte.
struct SilentServer {
    port: u16,
    accepted: mpsc::Receiver<()>,
}

impl SilentServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, accepted) = mpsc::channel();
        thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
                let _ = tx.send(());
            }
        });
        SilentServer { port, accepted }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/repo.git", self.port)
    }

    /// Waits until `n` more connections have been accepted.
    fn wait_for_connections(&self, n: usize) {
        for _ in 0..n {
            self.accepted
                .recv_timeout(HANG)
                .expect("ordo never connected to the silent server");
        }
    }
}

fn is_timeout(result: &Result<impl std::fmt::Debug, SourceError>) -> bool {
    matches!(result, Err(SourceError::Timeout { .. }))
}

#[test]
fn plan_of_a_silent_git_server_exits_2_naming_the_timeout() {
    let server = SilentServer::start();
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["plan", &server.url(), "--cache-dir"])
        .arg(cache.path())
        .env("ORDO_GIT_TIMEOUT", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(output) = rx.recv_timeout(HANG) else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("ordo plan still hangs on a silent git server after {HANG:?}");
    };
    let output = output.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("did not answer within 1 s") && stderr.contains("ORDO_GIT_TIMEOUT"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_git_timeout_is_refused_at_startup() {
    let output = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["plan", "."])
        .env("ORDO_GIT_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ORDO_GIT_TIMEOUT=\"soon\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out_without_holding_up_another_repository() {
    init_network_timeouts(TIMEOUT);
    let server = SilentServer::start();
    let cache = tempfile::tempdir().unwrap();
    let hung = RepoSpec {
        timeout: TIMEOUT,
        ..RepoSpec::new(server.url(), "main")
    };
    let started = Instant::now();
    // Two fetches of the same silent repository (the second used to wait on the first's cache
    // lock for ever) and one head check.
    let first = tokio::spawn(fetch_async(
        hung.clone(),
        cache.path().to_path_buf(),
        Selection::default(),
    ));
    let second = tokio::spawn(fetch_async(
        hung.clone(),
        cache.path().to_path_buf(),
        Selection::default(),
    ));
    let head = tokio::spawn(remote_head_async(hung));
    server.wait_for_connections(3);

    let up = Upstream::new();
    up.write("a.yaml", b"a: 1\n");
    up.commit("first");
    let healthy = RepoSpec {
        timeout: TIMEOUT,
        ..RepoSpec::new(format!("file://{}", up.path().display()), "main")
    };
    let snapshot = tokio::time::timeout(
        HANG,
        fetch_async(healthy, cache.path().to_path_buf(), Selection::default()),
    )
    .await
    .expect("a healthy repository waited on the silent one")
    .unwrap();
    assert_eq!(snapshot.files.len(), 1);
    assert!(
        !first.is_finished() || started.elapsed() >= TIMEOUT,
        "the silent fetch ended before its timeout"
    );

    for task in [first, second] {
        let result = tokio::time::timeout(HANG, task)
            .await
            .expect("a fetch of a silent server hangs")
            .unwrap();
        assert!(is_timeout(&result), "{result:?}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("did not answer within 3 s"), "{message}");
    }
    let result = tokio::time::timeout(HANG, head).await.unwrap().unwrap();
    assert!(is_timeout(&result), "{result:?}");
    assert!(started.elapsed() < TIMEOUT * 4, "{:?}", started.elapsed());
}
