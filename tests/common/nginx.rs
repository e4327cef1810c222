//! One nginx process (no master, no daemon: it never switches user and dies with kill) with
//! its pid, logs and temporary files in a test's directory, for the tests that need a real
//! HTTP server in front of something (a chart repository, a TLS proxy).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts nginx serving `servers` (`server { … }` blocks) with everything else of it under
/// `dir`, and returns once it listens on `port` (failing with its error log if it exits).
pub fn start(dir: &Path, port: u16, servers: &str) -> Child {
    std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp dir");
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    fastcgi_temp_path {d}/tmp/fastcgi;
    proxy_temp_path {d}/tmp/proxy;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
{servers}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf written");
    let mut nginx = Command::new(find_program("nginx"))
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts (scripts/install-deps.sh installs it)");
    let deadline = Instant::now() + READY_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = nginx.try_wait() {
            panic!(
                "nginx exited ({status}): {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nginx not serving on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    nginx
}

/// A program on PATH or in the sbin directories Debian installs nginx and fcgiwrap to, which
/// are not on every user's PATH.
pub fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: run scripts/install-deps.sh"))
}
