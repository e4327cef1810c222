//! The two kinds of place a Helm chart is pulled from, started for one test and stopped on
//! drop: a chart repository (nginx serving `index.yaml` and `.tgz` files, `/private/` behind
//! basic auth, `/open/` without) and an OCI registry (distribution's `registry`, built by
//! `scripts/cluster.sh build registry`). Both on a free loopback port, in a temp dir, no root.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::http_server::{apr1_hash, free_port};
use crate::support::k8s_bin;
use crate::tls::TestTls;

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// helm with every home in `home`, so tests never read or write the user's helm config.
pub fn helm(home: &Path) -> Command {
    let mut command = Command::new(k8s_bin("helm"));
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    command
}

/// Runs `command`, failing the test with its stderr.
pub fn run_ok(command: &mut Command) -> String {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A chart repository: `/private/` (user and password) and `/open/` (anyone) are
/// directories of packaged charts with their `index.yaml`; HTTPS when started with a
/// certificate.
pub struct ChartRepository {
    nginx: Child,
    port: u16,
    dir: TempDir,
    https: bool,
}

impl ChartRepository {
    /// Plain HTTP.
    pub fn start(user: &str, password: &str) -> Self {
        Self::serve(user, password, None)
    }

    /// HTTPS with `tls`'s server certificate.
    pub fn start_https(user: &str, password: &str, tls: &TestTls) -> Self {
        Self::serve(user, password, Some(tls))
    }

    fn serve(user: &str, password: &str, tls: Option<&TestTls>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["srv/private", "srv/open"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(
            d.join("htpasswd"),
            format!("{user}:{}\n", apr1_hash(password)),
        )
        .unwrap();
        let port = free_port();
        let nginx = crate::common::nginx::start(d, port, &server_block(d, port, tls));
        ChartRepository {
            nginx,
            port,
            dir,
            https: tls.is_some(),
        }
    }

    /// `private` or `open`.
    pub fn url(&self, area: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{area}", self.port)
    }

    /// The requests served so far, one access-log line each: what a refused render must
    /// not have made.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Copies the packages into the area and indexes it, as `helm repo index` does for a
    /// real repository.
    pub fn publish(&self, area: &str, packages: &[PathBuf], helm_home: &Path) {
        let dest = self.dir.path().join("srv").join(area);
        for package in packages {
            std::fs::copy(package, dest.join(package.file_name().unwrap())).unwrap();
        }
        run_ok(helm(helm_home).args(["repo", "index"]).arg(&dest));
    }
}

impl Drop for ChartRepository {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

/// The chart repository's `server` block (the rest of nginx's config is `common::nginx`'s).
fn server_block(d: &Path, port: u16, tls: Option<&TestTls>) -> String {
    let listen = match tls {
        Some(tls) => format!(
            "listen 127.0.0.1:{port} ssl;\n        ssl_certificate {};\n        \
             ssl_certificate_key {};",
            tls.cert.display(),
            tls.key.display()
        ),
        None => format!("listen 127.0.0.1:{port};"),
    };
    let d = d.display();
    format!(
        r#"    types {{ application/x-yaml yaml; application/gzip tgz; }}
    server {{
        {listen}
        root {d}/srv;
        location /private/ {{
            auth_basic "charts";
            auth_basic_user_file {d}/htpasswd;
        }}
        location /open/ {{ }}
    }}"#
    )
}

/// distribution's registry with its storage in a temp dir, behind basic auth (htpasswd),
/// serving HTTPS with a test certificate.
pub struct OciRegistry {
    registry: Child,
    port: u16,
    ca: PathBuf,
    _dir: TempDir,
}

impl OciRegistry {
    /// `bcrypt` is the password's bcrypt hash: distribution's htpasswd takes no other, and
    /// nothing on the machine is sure to make one, so the test carries it.
    pub fn start(user: &str, bcrypt: &str, tls: &TestTls) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        std::fs::write(d.join("htpasswd"), format!("{user}:{bcrypt}\n")).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n\
             auth:\n  htpasswd:\n    realm: charts\n    path: {}\n",
            d.join("storage").display(),
            tls.cert.display(),
            tls.key.display(),
            d.join("htpasswd").display()
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(d.join("registry.log")).unwrap();
        let mut registry = Command::new(k8s_bin("registry"))
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the registry starts");
        wait_for_port(&mut registry, port, "registry", &d.join("registry.log"));
        OciRegistry {
            registry,
            port,
            ca: tls.ca.clone(),
            _dir: dir,
        }
    }

    /// `oci://127.0.0.1:PORT/charts`, where `push` puts charts.
    pub fn url(&self) -> String {
        format!("oci://127.0.0.1:{}/charts", self.port)
    }

    pub fn push(&self, package: &Path, helm_home: &Path, user: &str, password: &str) {
        run_ok(
            helm(helm_home)
                .arg("push")
                .arg(package)
                .arg(self.url())
                .arg("--ca-file")
                .arg(&self.ca)
                .args(["--username", user, "--password", password]),
        );
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.registry.kill();
        let _ = self.registry.wait();
    }
}

/// Polls until the server accepts connections (bounded), failing with its log if it exits.
fn wait_for_port(child: &mut Child, port: u16, name: &str, log: &Path) {
    let deadline = Instant::now() + READY_TIMEOUT;
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited ({status}) before serving: {}", log());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not serving on port {port} after {READY_TIMEOUT:?}: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
