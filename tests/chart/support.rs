//! What the chart's tests share: finding and running helm, kubectl and promtool; rendering
//! the chart and picking objects out of the render; the server-side dry run; guards that
//! delete namespaces, CRDs and releases when a test ends; the real agent as a child process.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::kubeconfig;

pub const WAIT: Duration = Duration::from_secs(120);
/// The control plane version scripts/cluster.sh builds; its binaries live under it.
const K8S_VERSION: &str = "v1.34.4";

/// A binary of the local control plane's cache (`ORDO_K8S_CACHE`, else
/// `${XDG_CACHE_HOME:-~/.cache}/ordo/k8s-v1.34.4`), as scripts/cluster.sh lays it out.
pub fn k8s_bin(name: &str) -> PathBuf {
    let non_empty = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    let cache = non_empty("ORDO_K8S_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let base = non_empty("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .expect("neither XDG_CACHE_HOME nor HOME is set");
            base.join("ordo").join(format!("k8s-{K8S_VERSION}"))
        });
    let path = cache.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `scripts/cluster.sh build {name}` (`make test` does)",
        path.display()
    );
    path
}

pub fn helm() -> Command {
    Command::new(k8s_bin("helm"))
}

/// kubectl against the local cluster as its admin.
pub fn kubectl() -> Command {
    let mut cmd = Command::new(k8s_bin("kubectl"));
    cmd.env("KUBECONFIG", kubeconfig());
    cmd
}

pub fn promtool() -> Command {
    let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect(
            "promtool is missing: install the `prometheus` package (scripts/install-deps.sh does)",
        );
    Command::new(path)
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `cmd`, which must succeed; its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/ordo")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/chart")
        .join(name)
}

/// Polls `check` until it holds, for at most [`WAIT`].
pub fn eventually(what: &str, check: impl FnMut() -> bool) {
    eventually_or(what, check, String::new);
}

/// [`eventually`], with `context` (a log, a state) in the failure message.
pub fn eventually_or(what: &str, mut check: impl FnMut() -> bool, context: impl Fn() -> String) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < WAIT,
            "timed out waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ----------------------------------------------------------------------------------------
// values and renders

/// A values file in its own temporary directory (JSON is YAML to helm).
pub struct ValuesFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn values_file(values: &Value) -> ValuesFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("values.json");
    std::fs::write(&path, serde_json::to_vec_pretty(values).unwrap()).unwrap();
    ValuesFile { _dir: dir, path }
}

/// The least a release needs: one app (the config requires one).
pub fn one_app(namespace: &str) -> Value {
    json!({"name": "shop", "repo": "/srv/git/deploy.git", "namespace": namespace})
}

pub fn with_apps(apps: Vec<Value>) -> Value {
    json!({"config": {"apps": apps}})
}

/// What `helm template` printed, as objects.
pub struct Render {
    text: String,
    objects: Vec<Value>,
}

impl Render {
    /// Every object of `kind`.
    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    /// The one object of `kind` named `name` (in any namespace).
    pub fn one(&self, kind: &str, name: &str) -> &Value {
        let found: Vec<&Value> = self
            .all(kind)
            .into_iter()
            .filter(|o| o["metadata"]["name"] == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {kind}/{name}; the render has {:?}",
            self.ids()
        );
        found[0]
    }

    /// `Kind/namespace/name` of every object.
    pub fn ids(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap_or("?"),
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// The agent's config file, from the chart's ConfigMap.
    pub fn config(&self, release: &str) -> Value {
        let cm = self.one("ConfigMap", &format!("{release}-config"));
        let file = cm["data"]["ordo.yaml"].as_str().expect("data ordo.yaml");
        serde_saphyr::from_str(file).expect("the rendered config is YAML")
    }

    pub fn deployment(&self, release: &str) -> &Value {
        self.one("Deployment", release)
    }
}

pub fn helm_template(release: &str, namespace: &str, values: &Value) -> Output {
    let file = values_file(values);
    output(helm().args(["template", release]).arg(chart_dir()).args([
        "--namespace",
        namespace,
        "-f",
        file.path.to_str().unwrap(),
    ]))
}

/// `helm lint --strict` and `helm template` with `values`; both must succeed.
pub fn render(release: &str, namespace: &str, values: &Value) -> Render {
    let file = values_file(values);
    let lint = ok(helm().args(["lint", "--strict"]).arg(chart_dir()).args([
        "--namespace",
        namespace,
        "-f",
        file.path.to_str().unwrap(),
    ]));
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let out = helm_template(release, namespace, values);
    assert!(
        out.status.success(),
        "helm template failed with {values}:\n{}",
        text(&out.stderr)
    );
    let text = text(&out.stdout);
    let objects: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("helm template printed invalid YAML: {e}\n{text}"));
    let objects = objects.into_iter().filter(|o| !o.is_null()).collect();
    Render { text, objects }
}

/// `helm template` with `values` must fail, naming every one of `expected` on stderr.
pub fn refused(values: &Value, expected: &[&str]) {
    let out = helm_template("bad", "ordo-system", values);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "helm template accepted {values}; printed:\n{}",
        text(&out.stdout)
    );
    for needle in expected {
        assert!(
            stderr.contains(needle),
            "the error for {values} does not name {needle:?}:\n{stderr}"
        );
    }
}

/// The API server accepts every object of the render (server-side dry run, strict field
/// validation: a misspelt field is an error, not a warning).
pub fn server_dry_run(render: &Render) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("render.yaml");
    std::fs::write(&file, &render.text).unwrap();
    let out = ok(kubectl().args([
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        file.to_str().unwrap(),
    ]));
    // kubectl prints `<kind>[.<group>]/<name> created (server dry run)` per object.
    for id in render.ids() {
        let (kind, _, name) = split_id(&id);
        let kind = kind.to_lowercase();
        let reported = out.lines().any(|line| {
            line.split_once('/').is_some_and(|(resource, rest)| {
                (resource == kind || resource.starts_with(&format!("{kind}.")))
                    && rest.starts_with(&format!("{name} "))
            })
        });
        assert!(reported, "the dry run did not report {id}:\n{out}");
    }
}

pub fn split_id(id: &str) -> (&str, &str, &str) {
    let mut parts = id.splitn(3, '/');
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

/// Namespaces created for a test and deleted when it ends, passed or not.
pub struct Namespaces(Vec<String>);

impl Namespaces {
    pub fn create(names: &[&str]) -> Namespaces {
        let made = Namespaces(names.iter().map(|n| n.to_string()).collect());
        for name in names {
            ok(kubectl().args(["create", "namespace", name]));
        }
        made
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = kubectl()
                .args([
                    "delete",
                    "namespace",
                    name,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .output();
        }
    }
}

/// The agent accepts `config` (the rendered ConfigMap's file): `ordo status` validates the
/// file with the agent's own parser before reading anything from the cluster.
pub fn assert_ordo_accepts(config: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ordo.yaml");
    std::fs::write(&file, serde_json::to_string(config).unwrap()).unwrap();
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["status", "-o", "json", "--config", file.to_str().unwrap()])
            .env("KUBECONFIG", kubeconfig()),
    );
    assert!(
        out.status.success(),
        "ordo refuses the rendered config {config}:\n{}",
        text(&out.stderr)
    );
}

pub fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

pub fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub fn env_field_ref<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["valueFrom"]["fieldRef"]["fieldPath"]
        .as_str()
}

pub fn mount<'a>(container: &'a Value, path: &str) -> &'a Value {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap_or_else(|| {
            panic!(
                "nothing is mounted at {path}: {}",
                container["volumeMounts"]
            )
        })
}

pub fn volume<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// tests/chart/monitoring-crds.yaml installed for one test, removed after it.
pub struct MonitoringCrds;

impl MonitoringCrds {
    pub fn install() -> MonitoringCrds {
        let file = fixture("monitoring-crds.yaml");
        // A previous run's CRDs may still be going away.
        ok(kubectl()
            .args(["wait", "--for=delete", "--timeout=60s", "-f"])
            .arg(&file));
        ok(kubectl().args(["apply", "-f", file.to_str().unwrap()]));
        ok(kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/servicemonitors.monitoring.coreos.com",
            "crd/prometheusrules.monitoring.coreos.com",
        ]));
        MonitoringCrds
    }
}

impl Drop for MonitoringCrds {
    fn drop(&mut self) {
        let file = fixture("monitoring-crds.yaml");
        let _ = kubectl()
            .args(["delete", "--ignore-not-found", "--wait=false", "-f"])
            .arg(file)
            .output();
    }
}

/// A git repository (non-bare, branch main) with `files` committed.
pub fn git_repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        ok(Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
            .args(args)
            .current_dir(&repo))
    };
    git(&["init", "-q", "-b", "main"]);
    for (path, body) in files {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "manifests"]);
    repo
}

pub const EXTRA: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {greeting: hi}\n";

pub const SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello}\n";

/// `ordo run` as a child process, with JSON logs in a file; killed when dropped.
pub struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    pub fn start(config: &Path, kubeconfig: &Path, extra: &[&str], log: PathBuf) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(config)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(extra)
            // Only the kubeconfig given: never the admin's.
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ordo run starts");
        Agent { child, log }
    }

    /// The log lines, parsed.
    pub fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address it listens on, from its "serving HTTP" line.
    pub fn address(&self) -> String {
        let mut address = None;
        eventually("the agent's HTTP address", || {
            address = self
                .lines()
                .iter()
                .find_map(|l| l["fields"]["address"].as_str().map(str::to_owned));
            address.is_some()
        });
        address.unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET; the body.
pub fn http_get(address: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}

/// `ordo status -o json` as the cluster admin: each app's persisted state by name.
/// `ordo status` of the agent whose namespace (where it stores the apps' state) is `ordo_ns`.
pub fn status(config: &Path, ordo_ns: &str) -> Value {
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args([
                "status",
                "-o",
                "json",
                "--ordo-namespace",
                ordo_ns,
                "--config",
            ])
            .arg(config)
            .env("KUBECONFIG", kubeconfig()),
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut by_name = serde_json::Map::new();
    for app in doc.as_array().into_iter().flatten() {
        by_name.insert(
            app["name"].as_str().unwrap().to_owned(),
            app["state"].clone(),
        );
    }
    Value::Object(by_name)
}

pub fn last_result(status: &Value, app: &str) -> Option<String> {
    status[app]["history"][0]["result"]
        .as_str()
        .map(str::to_owned)
}

pub fn exists(kind: &str, name: &str, namespace: &str) -> bool {
    output(kubectl().args(["get", kind, name, "-n", namespace, "-o", "name"]))
        .status
        .success()
}

/// A kubeconfig for the local cluster's server and CA, authenticated by `token`.
pub fn token_kubeconfig(dir: &Path, token: &str) -> PathBuf {
    let field = |path: &str| {
        ok(kubectl().args([
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            &format!("jsonpath={{.clusters[0].cluster.{path}}}"),
        ]))
    };
    let file = dir.join("token.kubeconfig");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": field("server"),
            "certificate-authority-data": field("certificate-authority-data"),
        }}],
        "users": [{"name": "ordo", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "ordo"}}],
        "current-context": "local",
    });
    std::fs::write(&file, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    file
}

/// A helm release uninstalled when dropped (when the test did not get to it).
pub struct Release {
    name: String,
    namespace: String,
    installed: bool,
    /// What `helm install` printed: NOTES.txt rendered.
    pub notes: String,
}

impl Release {
    pub fn install(name: &str, namespace: &str, values: &Value) -> Release {
        let file = values_file(values);
        let printed = ok(helm()
            .env("KUBECONFIG", kubeconfig())
            .args(["install", name])
            .arg(chart_dir())
            .args([
                "--namespace",
                namespace,
                "--wait",
                "--timeout",
                "120s",
                "-f",
            ])
            .arg(&file.path));
        Release {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            installed: true,
            notes: printed,
        }
    }

    pub fn upgrade(&self, values: &Value) {
        let file = values_file(values);
        ok(helm()
            .env("KUBECONFIG", kubeconfig())
            .args(["upgrade", &self.name])
            .arg(chart_dir())
            .args([
                "--namespace",
                &self.namespace,
                "--wait",
                "--timeout",
                "120s",
                "-f",
            ])
            .arg(&file.path));
    }

    pub fn uninstall(&mut self) {
        self.installed = false;
        ok(helm().env("KUBECONFIG", kubeconfig()).args([
            "uninstall",
            &self.name,
            "--namespace",
            &self.namespace,
            "--wait",
            "--timeout",
            "120s",
        ]));
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if self.installed {
            let _ = helm()
                .env("KUBECONFIG", kubeconfig())
                .args(["uninstall", &self.name, "--namespace", &self.namespace])
                .output();
        }
    }
}

/// `kubectl auth can-i VERB RESOURCE -n NS` as a ServiceAccount.
pub fn can_i(sa: &str, namespace_of_sa: &str, verb: &str, resource: &str, namespace: &str) -> bool {
    let out = output(kubectl().args([
        "auth",
        "can-i",
        verb,
        resource,
        "--namespace",
        namespace,
        "--as",
        &format!("system:serviceaccount:{namespace_of_sa}:{sa}"),
    ]));
    text(&out.stdout).trim() == "yes"
}

pub fn get_json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(kubectl().args(args).args(["-o", "json"]))).unwrap()
}

/// charts/ordo/dashboards/ordo.json, parsed.
pub fn dashboard_json() -> Value {
    let file = chart_dir().join("dashboards/ordo.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).expect("the dashboard is JSON")
}
