//! A smart-HTTP git server for tests: `git http-backend` behind nginx + fcgiwrap with basic
//! auth, all in a temp dir, on a free loopback port, stopped on drop. Needs no root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use crate::common::nginx::find_program;
use crate::common::nginx::start as start_nginx;

const INSTALL_HINT: &str = "run scripts/install-deps.sh (it installs nginx and fcgiwrap)";
const READY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct GitHttpServer {
    nginx: Child,
    fcgiwrap: Child,
    port: u16,
    dir: TempDir,
}

impl GitHttpServer {
    /// Serves the bare repositories under `project_root()` to `user`:`password` only.
    pub fn start(user: &str, password: &str) -> Self {
        let fcgiwrap_bin = find_program("fcgiwrap");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("srv")).unwrap();
        std::fs::write(
            d.join("htpasswd"),
            format!("{user}:{}\n", apr1_hash(password)),
        )
        .unwrap();

        let socket = d.join("fcgi.sock");
        // No `-c N`: preforked children would outlive the parent we kill on drop.
        let fcgiwrap = Command::new(&fcgiwrap_bin)
            .arg("-s")
            .arg(format!("unix:{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start fcgiwrap: {e}; {INSTALL_HINT}"));

        let port = free_port();
        let nginx = start_nginx(d, port, &server_block(d, port, &http_backend()));
        let mut server = GitHttpServer {
            nginx,
            fcgiwrap,
            port,
            dir,
        };
        server.wait_ready(&socket);
        server
    }

    /// Where bare repositories are served from: `<root>/x.git` is `url("x.git")`.
    pub fn project_root(&self) -> PathBuf {
        self.dir.path().join("srv")
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }

    /// Polls until fcgiwrap's socket exists (nginx already listens), or fails loudly.
    fn wait_ready(&mut self, socket: &Path) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.fcgiwrap.try_wait() {
                panic!("fcgiwrap exited ({status}) before serving");
            }
            if let Ok(Some(status)) = self.nginx.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            if socket.exists() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "git HTTP server not ready after {READY_TIMEOUT:?}: {}",
                    self.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        for child in [&mut self.nginx, &mut self.fcgiwrap] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `server` block: git's http-backend behind basic auth (the rest of nginx's config is
/// `common::nginx`'s).
fn server_block(d: &Path, port: u16, backend: &Path) -> String {
    let d = d.display();
    let backend = backend.display();
    format!(
        r#"    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_basic "git";
            auth_basic_user_file {d}/htpasswd;
            fastcgi_pass unix:{d}/fcgi.sock;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {d}/srv;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param REMOTE_ADDR $remote_addr;
            fastcgi_param HTTP_GIT_PROTOCOL $http_git_protocol;
        }}
    }}"#
    )
}

fn http_backend() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git is installed");
    let backend =
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend");
    assert!(backend.is_file(), "{} is missing", backend.display());
    backend
}

pub fn apr1_hash(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-apr1", password])
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}; {INSTALL_HINT}"));
    assert!(out.status.success(), "openssl passwd failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A port the kernel just handed out; the server binds it right after we release it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
