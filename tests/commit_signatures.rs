//! `ordo run` with `verify.signers` against the local control plane, with commits signed at
//! test time by the real tools: `ssh-keygen` keys (`gpg.format ssh`) and `gpg` keys made in a
//! temporary GNUPGHOME, `git commit -S`. A head signed by a trusted key is applied; one signed
//! by an unknown key, and an unsigned one after signed ones, are not, and the API and page
//! show them as untrusted with the signer found. And a SOPS-encrypted Secret whose age key is
//! in a Secret (`decryption.secretRef`) is live and decrypted after an agent sync, its value
//! in no log line or API answer.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use common::{bare_repo, client, git, kubeconfig, served_address, unique};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// Runs a tool; panics with its stderr when it fails. Returns stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository, a work clone, a signers file and an agent following the repository.
struct Setup {
    _dir: tempfile::TempDir,
    app: String,
    bare: PathBuf,
    work: PathBuf,
    config: PathBuf,
    log: PathBuf,
    agent: Option<Child>,
    http: ureq::Agent,
}

impl Setup {
    /// `app_extra` is appended to the app's entry (verify, decryption).
    fn new(app: &str, app_extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (bare, work) = bare_repo(dir.path());
        let config = dir.path().join("ordo.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:0\ncacheDir: {cache}\napps:\n  - name: {app}\n    repo: {repo}\n    ref: main\n    namespace: {app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n    timeout: 40s\n{app_extra}",
                cache = dir.path().join("cache").display(),
                repo = bare.display(),
            ),
        )
        .unwrap();
        Setup {
            log: dir.path().join("agent.log"),
            app: app.to_owned(),
            bare,
            work,
            config,
            agent: None,
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
            _dir: dir,
        }
    }

    /// Writes the app's Namespace and a ConfigMap holding `value`, commits (signed with `-S`
    /// when `sign` gives git the signing config, in `env`'s environment), pushes; returns
    /// the commit SHA.
    fn push(&self, value: &str, sign: &[&str], env: &[(&str, &Path)]) -> String {
        let app = &self.app;
        std::fs::write(
            self.work.join("app.yaml"),
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {app}}}\ndata: {{value: \"{value}\"}}\n"
            ),
        )
        .unwrap();
        git(&self.work, &["add", "-A"]);
        let mut commit = Command::new("git");
        commit
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
            .args(sign)
            .args(["commit", "-q", "-m", value])
            .args(if sign.is_empty() { None } else { Some("-S") })
            .current_dir(&self.work);
        for (k, v) in env {
            commit.env(k, v);
        }
        run(&mut commit);
        git(
            &self.work,
            &["push", "-q", "--force", "origin", "HEAD:main"],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn start(&mut self, env: &[(&str, &str)]) {
        let log = std::fs::File::create(&self.log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ordo"));
        cmd.args(["run", "--config", self.config.to_str().unwrap()])
            .env("KUBECONFIG", kubeconfig())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.agent = Some(cmd.spawn().expect("the agent starts"));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` of the agent's HTTP server: status and body.
    fn get(&self, path: &str) -> (u16, String) {
        let Some(address) = served_address(&self.log()) else {
            return (0, String::new());
        };
        match self.http.get(&format!("http://{address}{path}")).call() {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(_) => (0, String::new()),
        }
    }

    /// `/api/v1/apps/{app}`, polled until `done` holds.
    fn wait_app(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(&format!("/api/v1/apps/{}", self.app));
            let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if status == 200 && done(&doc) {
                return doc;
            }
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what}; app {doc}\nagent log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The live ConfigMap's value.
    fn live_value(&self) -> Option<String> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let maps: Api<ConfigMap> = Api::namespaced(rt.block_on(client()), &self.app);
        rt.block_on(maps.get_opt("settings"))
            .ok()
            .flatten()
            .and_then(|m| m.data)
            .and_then(|d| d.get("value").cloned())
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn synced(doc: &Value, sha: &str) -> bool {
    doc["history"][0]["revision"] == sha && doc["history"][0]["result"] == "Succeeded"
}

/// The agent has read `sha` and refused it as untrusted.
fn refused(doc: &Value, sha: &str) -> bool {
    doc["signature"]["revision"] == sha
        && doc["signature"]["trusted"] == false
        && doc["history"][0]["revision"] == sha
        && doc["history"][0]["result"] == "Failed"
}

/// After a trusted head, a head signed by `unknown` and then an unsigned one are refused,
/// shown as untrusted in the API and on the page, and the live object keeps the trusted value.
fn check_untrusted_heads_are_kept_out(
    s: &Setup,
    unknown: &[&str],
    env: &[(&str, &Path)],
    unknown_signer: impl Fn(&str) -> bool,
) {
    let bad = s.push("v2", unknown, env);
    let doc = s.wait_app("the head signed by an unknown key", |d| refused(d, &bad));
    let signer = doc["signature"]["signer"].as_str().unwrap_or_default();
    assert!(unknown_signer(signer), "{doc}");
    let error = doc["history"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("untrusted commit") && error.contains(&bad),
        "{error}"
    );
    assert!(error.contains("not in signers file"), "{error}");
    assert_eq!(s.live_value().as_deref(), Some("v1"));

    let unsigned = s.push("v3", &[], &[]);
    let doc = s.wait_app("the unsigned head", |d| refused(d, &unsigned));
    assert_eq!(doc["signature"]["signer"], "unsigned", "{doc}");
    assert_eq!(doc["signature"]["kind"], Value::Null);
    assert_eq!(s.live_value().as_deref(), Some("v1"));
    let (status, page) = s.get(&format!("/apps/{}", s.app));
    assert_eq!(status, 200);
    assert!(page.contains("untrusted: unsigned"), "{page}");
}

#[test]
fn ssh_signed_heads_are_applied_and_unknown_or_unsigned_heads_are_not() {
    let app = unique("sigssh");
    let dir = tempfile::tempdir().unwrap();
    let keygen = |name: &str| {
        let key = dir.path().join(name);
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key));
        key
    };
    let trusted = keygen("trusted");
    let unknown = keygen("unknown");
    let public = std::fs::read_to_string(trusted.with_extension("pub")).unwrap();
    let signers = dir.path().join("allowed_signers");
    std::fs::write(
        &signers,
        format!("# who may deploy\nops@example.com namespaces=\"git\" {public}"),
    )
    .unwrap();
    let mut s = Setup::new(
        &app,
        &format!(
            "    verify:\n      signers: {}\n      mode: head\n",
            signers.display()
        ),
    );
    let sign_with = |key: &Path| {
        vec![
            "-c".to_owned(),
            "gpg.format=ssh".to_owned(),
            "-c".to_owned(),
            format!("user.signingkey={}", key.display()),
        ]
    };
    let trusted_args = sign_with(&trusted);
    let unknown_args = sign_with(&unknown);

    let good = s.push("v1", &as_strs(&trusted_args), &[]);
    s.start(&[]);
    let doc = s.wait_app("the signed head", |d| synced(d, &good));
    assert_eq!(doc["signature"]["trusted"], true, "{doc}");
    assert_eq!(doc["signature"]["signer"], "ops@example.com");
    assert_eq!(doc["signature"]["kind"], "ssh");
    assert!(
        doc["signature"]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("SHA256:"))
    );
    assert_eq!(s.live_value().as_deref(), Some("v1"));
    let (_, page) = s.get(&format!("/apps/{app}"));
    assert!(page.contains("signed by ops@example.com"), "{page}");

    check_untrusted_heads_are_kept_out(&s, &as_strs(&unknown_args), &[], |signer| {
        signer.starts_with("SHA256:")
    });

    // `ordo plan --verify-signers` plans the signed commit and refuses the unsigned head.
    let plan = |reference: &str| {
        Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["plan", s.bare.to_str().unwrap(), "--ref", reference])
            .arg("--verify-signers")
            .arg(&signers)
            .output()
            .unwrap()
    };
    let out = plan(&good);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = plan("main");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("untrusted commit") && stderr.contains("unsigned"),
        "{stderr}"
    );
}

/// A gpg home of its own, with a key for `email`; the agent is killed with the home.
struct Gpg {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Gpg {
    fn new(email: &str) -> Gpg {
        // A short path: gpg-agent's socket path is limited to ~100 bytes.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = || {
            let mut c = Command::new("gpg");
            c.env("GNUPGHOME", home.path()).args(["--batch", "--quiet"]);
            c
        };
        run(gpg()
            .args(["--passphrase", "", "--quick-gen-key"])
            .arg(format!("Test <{email}>"))
            .args(["ed25519", "sign", "never"]));
        let listing = run(gpg().args(["--with-colons", "--list-keys", email]));
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("gpg lists the fingerprint")
            .to_owned();
        Gpg { home, fingerprint }
    }

    fn export(&self) -> String {
        run(Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--armor", "--export", &self.fingerprint]))
    }

    fn sign_args(&self) -> Vec<String> {
        vec![
            "-c".to_owned(),
            "gpg.format=openpgp".to_owned(),
            "-c".to_owned(),
            format!("user.signingkey={}", self.fingerprint),
        ]
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

#[test]
fn openpgp_signed_heads_are_applied_and_unknown_or_unsigned_heads_are_not() {
    let app = unique("sigpgp");
    let trusted = Gpg::new("ops@example.com");
    let unknown = Gpg::new("intruder@example.com");
    let dir = tempfile::tempdir().unwrap();
    let signers = dir.path().join("signers");
    // One file, both kinds: an SSH line nobody signs with, and the trusted OpenPGP key.
    let ssh = dir.path().join("unused");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&ssh));
    let ssh_public = std::fs::read_to_string(ssh.with_extension("pub")).unwrap();
    std::fs::write(
        &signers,
        format!("nobody@example.com {ssh_public}\n{}", trusted.export()),
    )
    .unwrap();
    let mut s = Setup::new(
        &app,
        &format!("    verify:\n      signers: {}\n", signers.display()),
    );
    let trusted_args = trusted.sign_args();
    let good = s.push(
        "v1",
        &as_strs(&trusted_args),
        &[("GNUPGHOME", trusted.home.path())],
    );
    s.start(&[]);
    let doc = s.wait_app("the signed head", |d| synced(d, &good));
    assert_eq!(doc["signature"]["trusted"], true, "{doc}");
    assert_eq!(doc["signature"]["signer"], "Test <ops@example.com>");
    assert_eq!(doc["signature"]["kind"], "openpgp");
    assert_eq!(
        doc["signature"]["fingerprint"].as_str(),
        Some(trusted.fingerprint.as_str())
    );
    assert_eq!(s.live_value().as_deref(), Some("v1"));

    let unknown_args = unknown.sign_args();
    let intruder = unknown.fingerprint.clone();
    check_untrusted_heads_are_kept_out(
        &s,
        &as_strs(&unknown_args),
        &[("GNUPGHOME", unknown.home.path())],
        |signer| signer == intruder,
    );
}

const PASSWORD: &str = "p4ss-from-a-secret-0c2e9b";
const CM_VALUE: &str = "cm-token-from-sops-5d1a7f";

#[test]
fn a_sops_secret_is_decrypted_with_the_age_key_of_a_secret_and_never_shown() {
    let app = unique("sopsref");
    let own = unique("age-keys");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    run(Command::new(support::k8s_bin("age-keygen"))
        .arg("-o")
        .arg(&keys));
    let key_text = std::fs::read_to_string(&keys).unwrap();
    let recipient = key_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_owned();

    // ordo's own namespace holds the key Secret: secretRef names no namespace, and outside a
    // pod (no --lease-namespace, no POD_NAMESPACE) that is `default`.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let kube = rt.block_on(client());
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), "default");
    let key_secret = json!({
        "metadata": {"name": own},
        "stringData": {"age.agekey": key_text},
    });
    rt.block_on(secrets.create(
        &PostParams::default(),
        &serde_json::from_value(key_secret).unwrap(),
    ))
    .unwrap();

    let mut s = Setup::new(
        &app,
        &format!(
            "    decryption:\n      provider: sops\n      secretRef: {{name: {own}, key: age.agekey}}\n"
        ),
    );
    let plain = s.work.join("db.yaml");
    std::fs::write(
        &plain,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {app}\ntype: Opaque\nstringData:\n  password: {PASSWORD}\n"
        ),
    )
    .unwrap();
    let sealed = run(Command::new(support::k8s_bin("sops"))
        .args([
            "--encrypt",
            "--age",
            &recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
        ])
        .arg(&plain)
        .env_remove("SOPS_AGE_KEY_FILE")
        .current_dir(&s.work));
    assert!(!sealed.contains(PASSWORD));
    std::fs::write(&plain, sealed).unwrap();
    // A value SOPS encrypts in a ConfigMap (any kind, not only a Secret) is cut out of diffs
    // and live views just the same.
    let settings = s.work.join("settings.yaml");
    std::fs::write(
        &settings,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {app}\ndata:\n  token: {CM_VALUE}\n"
        ),
    )
    .unwrap();
    let sealed = run(Command::new(support::k8s_bin("sops"))
        .args([
            "--encrypt",
            "--age",
            &recipient,
            "--encrypted-regex",
            "^data$",
        ])
        .arg(&settings)
        .env_remove("SOPS_AGE_KEY_FILE")
        .current_dir(&s.work));
    std::fs::write(&settings, sealed).unwrap();
    std::fs::write(
        s.work.join("namespace.yaml"),
        format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app}}}\n"),
    )
    .unwrap();
    let sha = common::commit_and_push(&s.work, "encrypted db secret");
    s.start(&[]);
    s.wait_app("the sync of the encrypted Secret", |d| synced(d, &sha));

    // Someone edits the ConfigMap by hand: its diff now holds the decrypted value as desired.
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(kube.clone(), &app);
    let tampered = json!({"data": {"token": "tampered-by-hand"}});
    rt.block_on(maps.patch(
        "settings",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&tampered),
    ))
    .unwrap();
    let diff = format!("/api/v1/apps/{app}/diff?object=ConfigMap/{app}/settings");
    let shown = (0..300)
        .find_map(|_| {
            let (status, body) = s.get(&diff);
            if status == 200 && body.contains("tampered-by-hand") {
                return Some(body);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            None
        })
        .expect("the diff shows the hand edit");
    assert!(!shown.contains(CM_VALUE), "{shown}");
    assert!(
        shown.contains("<redacted>"),
        "the desired value is there, redacted: {shown}"
    );
    rt.block_on(maps.patch(
        "settings",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&json!({"data": {"token": CM_VALUE}})),
    ))
    .unwrap();
    let (_, view) = s.get(&format!(
        "/api/v1/apps/{app}/resource?id=ConfigMap/{app}/settings"
    ));
    assert!(
        view.contains("settings") && !view.contains(CM_VALUE),
        "{view}"
    );

    let live: Api<Secret> = Api::namespaced(kube, &app);
    let secret = rt.block_on(live.get("db")).unwrap();
    let password = secret.data.unwrap_or_default().remove("password");
    assert_eq!(
        password.map(|b| String::from_utf8(b.0).unwrap()).as_deref(),
        Some(PASSWORD)
    );

    // Every answer the agent gives, and its log, are free of the cleartext and the age key.
    let secret_key = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_owned();
    let answers = [
        format!("/api/v1/apps/{app}"),
        "/api/v1/apps".to_owned(),
        format!("/api/v1/apps/{app}/diff"),
        format!("/api/v1/apps/{app}/diff?object=Secret/{app}/db"),
        format!("/apps/{app}"),
        "/".to_owned(),
        "/metrics".to_owned(),
    ];
    for path in answers {
        let (status, body) = s.get(&path);
        assert!(status < 500, "{path}: {status} {body}");
        for secret in [PASSWORD, CM_VALUE, secret_key.as_str()] {
            assert!(!body.contains(secret), "{path} shows a secret: {body}");
        }
    }
    let log = s.log();
    assert!(
        !log.contains(PASSWORD) && !log.contains(CM_VALUE) && !log.contains(&secret_key),
        "{log}"
    );
}

#[test]
fn a_head_moved_back_to_an_older_signed_commit_is_refused_unless_the_app_allows_it() {
    let app = unique("sigff");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("trusted");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "trusted", "-f"])
        .arg(&key));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let signers = dir.path().join("allowed_signers");
    std::fs::write(&signers, format!("ops@example.com {public}")).unwrap();
    let verify = format!(
        "    verify:\n      signers: {}\n      mode: head\n",
        signers.display()
    );
    let mut s = Setup::new(&app, &verify);
    let sign = [
        "-c".to_owned(),
        "gpg.format=ssh".to_owned(),
        "-c".to_owned(),
        format!("user.signingkey={}", key.display()),
    ];
    let v1 = s.push("v1", &as_strs(&sign), &[]);
    s.start(&[]);
    s.wait_app("the first signed head", |d| synced(d, &v1));
    let v2 = s.push("v2", &as_strs(&sign), &[]);
    s.wait_app("the second signed head", |d| synced(d, &v2));

    // Whoever may push replays the older (signed, trusted) commit.
    git(
        &s.work,
        &[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("{v1}:refs/heads/main"),
        ],
    );
    let doc = s.wait_app("the replayed head", |d| {
        d["history"][0]["revision"] == v1.as_str() && d["history"][0]["result"] == "Failed"
    });
    let error = doc["history"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("app '{app}'"))
            && error.contains(&v1)
            && error.contains(&v2)
            && error.contains("verify.allowNonFastForward"),
        "{error}"
    );
    assert_eq!(s.live_value().as_deref(), Some("v2"));

    // An operator who means it allows it; a new commit on the rewritten line is applied.
    if let Some(mut agent) = s.agent.take() {
        agent.kill().unwrap();
        agent.wait().unwrap();
    }
    let config = std::fs::read_to_string(&s.config).unwrap();
    let allowed = format!("{verify}      allowNonFastForward: true\n");
    std::fs::write(&s.config, config.replace(&verify, &allowed)).unwrap();
    git(&s.work, &["reset", "-q", "--hard", &v1]);
    let v3 = s.push("v3", &as_strs(&sign), &[]);
    s.start(&[]);
    s.wait_app("the allowed rewrite", |d| synced(d, &v3));
    assert_eq!(s.live_value().as_deref(), Some("v3"));
}
