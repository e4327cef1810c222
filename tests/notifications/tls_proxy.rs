//! nginx terminating TLS in front of the real Gitea, so ordo reaches Gitea's API over
//! `https://` (a git-host receiver refuses plain HTTP for its token), while git and Gitea's
//! webhooks stay on Gitea's own HTTP port. Its access log tells which requests came through.

use std::net::TcpListener;
use std::path::Path;
use std::process::Child;

use crate::tls::TestTls;

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
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let servers = format!(
            r#"    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ proxy_pass {upstream}; }}
    }}"#,
            cert = tls.cert.display(),
            key = tls.key.display(),
        );
        let nginx = crate::common::nginx::start(d, port, &servers);
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
