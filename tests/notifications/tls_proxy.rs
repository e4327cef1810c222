//! nginx terminating TLS in front of the real Gitea, so ordo reaches Gitea's API over
//! `https://` (a git-host receiver refuses plain HTTP for its token), while git and Gitea's
//! webhooks stay on Gitea's own HTTP port. Its access log tells which requests came through.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tls::TestTls;

const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct TlsProxy {
    nginx: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl TlsProxy {
    /// Proxies `https://127.0.0.1:<port>/` (certificate for 127.0.0.1 and localhost) to
    /// `upstream` (`http://127.0.0.1:<gitea port>`).
    pub fn start(upstream: &str, tls: &TestTls) -> TlsProxy {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ proxy_pass {upstream}; }}
    }}
}}
"#,
            d = d.display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
        );
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let mut nginx = Command::new(nginx_program())
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .arg("-e")
            .arg(d.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (scripts/install-deps.sh installs it)");
        let deadline = Instant::now() + READY_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.try_wait() {
                panic!("nginx exited ({status}): {}", log(&d.join("error.log")));
            }
            assert!(Instant::now() < deadline, "nginx not serving on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        TlsProxy { nginx, dir, port }
    }

    /// `https://<host>:<port>`: `127.0.0.1` or `localhost`, both in the certificate.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    /// The requests that came through, one access-log line each.
    pub fn requests(&self) -> Vec<String> {
        log(&self.dir.path().join("access.log"))
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

fn log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn nginx_program() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
        .expect("nginx is installed (scripts/install-deps.sh)")
}
