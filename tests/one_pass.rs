//! `ordo diff --config F --app A` and the agent (`ordo run --config F`) read an app through
//! the same pass (issue #24): over the same revisions they reach the same verdict with the
//! same message. One repository holds an app per case: a good directory, a bad commit (a
//! document without a name), an unsigned commit under `verify.signers`, a SOPS-encrypted
//! Secret (`sops --encrypt --age`, made at test time), a Helm chart, a chart whose template
//! fails, and a chart from a chart repository that refuses connections (a failure that is
//! not the commit's). The agent syncs or refuses each; then the CLI reads each as a diff
//! against what the agent left: a good app is in sync (the CLI planned exactly what the
//! agent applied), a refused one fails with the message the agent shows.
//!
//! helm, sops and age-keygen come from the cache scripts/cluster.sh builds them into.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "sops/support.rs"]
mod sops;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{bare_repo, commit_and_push, eventually, get_json, kubeconfig, unique};
use serde_json::Value;
use support::k8s_bin;

/// How each app should end, in both readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Synced,
    /// The commit's fault: recorded as a failed sync of that revision.
    BadCommit,
    /// Not the commit's fault: retried, never recorded as failed.
    Retry,
}

struct Case {
    app: &'static str,
    /// The app's entry in the config, after name, repo, ref, namespace.
    extra: String,
    verdict: Verdict,
    /// What the message must say (beside being the same in both).
    says: &'static str,
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"1\"}}\n")
}

fn chart(root: &Path, dir: &str, template: &str) {
    write(
        root,
        &format!("{dir}/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    );
    write(root, &format!("{dir}/templates/cm.yaml"), template);
}

struct Agent {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_cli_and_the_agent_reach_the_same_verdict_with_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    let (bare, work) = bare_repo(dir.path());
    let keys = dir.path().join("age.txt");
    let recipient = sops::age_keygen(&keys);
    let signers = dir.path().join("allowed_signers");
    let key = dir.path().join("signer");
    sops::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    std::fs::write(&signers, format!("dev@example.org {public}")).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // bound, then dropped: nothing listens there

    write(&work, "good/cm.yaml", &config_map("good"));
    write(
        &work,
        "bad/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n",
    );
    write(&work, "signed/cm.yaml", &config_map("signed"));
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2-in-git}\n";
    let encrypted = sops::sops_encrypt_age(&work.join("good"), "tmp.yaml", secret, &recipient);
    write(
        &work,
        "sops/secret.yaml",
        &String::from_utf8(encrypted).unwrap(),
    );
    chart(
        &work,
        "chart",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {kube: \"{{ .Capabilities.KubeVersion.Minor }}\"}\n",
    );
    chart(&work, "failing", "{{ fail \"the chart says no\" }}\n");
    write(&work, "remote/values.yaml", "greeting: hi\n");
    let head = commit_and_push(&work, "every case");

    let cases = [
        Case {
            app: "good",
            extra: "path: good\n".into(),
            verdict: Verdict::Synced,
            says: "",
        },
        Case {
            app: "bad",
            extra: "path: bad\n".into(),
            verdict: Verdict::BadCommit,
            says: "metadata.name",
        },
        Case {
            app: "signed",
            extra: format!(
                "path: signed\n    verify: {{signers: {}}}\n",
                signers.display()
            ),
            verdict: Verdict::BadCommit,
            says: "untrusted commit",
        },
        Case {
            app: "sops",
            extra: format!(
                "path: sops\n    decryption: {{provider: sops, keyFile: {}}}\n",
                keys.display()
            ),
            verdict: Verdict::Synced,
            says: "",
        },
        Case {
            app: "chart",
            extra: "path: chart\n".into(),
            verdict: Verdict::Synced,
            says: "",
        },
        Case {
            app: "failing",
            extra: "path: failing\n".into(),
            verdict: Verdict::BadCommit,
            says: "the chart says no",
        },
        Case {
            app: "remote",
            extra: format!(
                "path: remote\n    helm: {{repoURL: \"http://127.0.0.1:{closed}/charts\", chart: web, version: 1.0.0, valueFiles: [values.yaml]}}\n"
            ),
            verdict: Verdict::Retry,
            says: "connection refused",
        },
    ];
    let run_id = unique("pass");
    let namespace = |app: &str| format!("{run_id}-{app}");
    let mut config = format!(
        "listen: 127.0.0.1:0\ncacheDir: {}\napps:\n",
        dir.path().join("cache").display()
    );
    for case in &cases {
        config.push_str(&format!(
            "  - name: {app}\n    repo: {repo}\n    ref: main\n    namespace: {ns}\n    createNamespace: true\n    interval: 2s\n    timeout: 60s\n    {extra}",
            app = case.app,
            repo = bare.display(),
            ns = namespace(case.app),
            extra = case.extra,
        ));
    }
    let config_path = dir.path().join("ordo.yaml");
    std::fs::write(&config_path, &config).unwrap();

    let log = dir.path().join("agent.log");
    let agent = Agent {
        child: Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["run", "--config", config_path.to_str().unwrap()])
            .env("KUBECONFIG", kubeconfig())
            .env("ORDO_HELM", k8s_bin("helm"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    };
    let address = common::agent_address(&agent.log);

    for case in &cases {
        // What the agent made of the head.
        let url = format!("http://{address}/api/v1/apps/{}", case.app);
        let shown = eventually(
            &format!("app {} to reach {:?}", case.app, case.verdict),
            || {
                let app: Value = get_json(&url)?;
                let error = app["lastError"].as_str().unwrap_or_default().to_owned();
                let failed = app["failedRevision"] == head.as_str();
                let done = match case.verdict {
                    Verdict::Synced => {
                        app["revision"]["sha"] == head.as_str() && app["syncStatus"] == "Synced"
                    }
                    Verdict::BadCommit => failed,
                    Verdict::Retry => error.contains("will retry"),
                };
                done.then_some((app, error, failed))
            },
            &agent.log,
        );
        let (app, agent_error, failed) = shown;
        // What the CLI makes of the same app, against what the agent left.
        let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["diff", "--config", config_path.to_str().unwrap()])
            .args(["--app", case.app])
            .env("KUBECONFIG", kubeconfig())
            .env("ORDO_HELM", k8s_bin("helm"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code();
        match case.verdict {
            Verdict::Synced => {
                assert_eq!(app["lastError"], Value::Null, "{}: {app}", case.app);
                assert_eq!(
                    code,
                    Some(0),
                    "{}: the CLI's plan differs from what the agent applied: {}{stderr}",
                    case.app,
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            Verdict::BadCommit | Verdict::Retry => {
                assert_eq!(code, Some(2), "{}: {stderr}", case.app);
                // The message may span lines (a tool's own words): all of it, to the end.
                let cli_message = stderr
                    .split_once("error: ")
                    .map(|(_, m)| m.trim_end())
                    .unwrap_or_else(|| panic!("{}: no error line in {stderr:?}", case.app));
                let short = &head[..7];
                let agent_message = if case.verdict == Verdict::BadCommit {
                    assert!(failed, "{}", case.app);
                    agent_error
                        .strip_prefix(&format!("revision {short} cannot be applied: "))
                        .map(str::to_owned)
                } else {
                    assert!(
                        !failed,
                        "{}: a retryable failure is never recorded as failed",
                        case.app
                    );
                    agent_error
                        .strip_prefix(&format!("revision {short} not read: "))
                        .and_then(|m| m.strip_suffix("; will retry"))
                        .map(str::to_owned)
                };
                let agent_message = agent_message
                    .unwrap_or_else(|| panic!("{}: the agent says {agent_error:?}", case.app));
                assert_eq!(agent_message, cli_message, "{}", case.app);
                assert!(
                    cli_message.contains(case.says),
                    "{}: {cli_message}",
                    case.app
                );
                assert!(!cli_message.contains("hunter2"), "{cli_message}");
            }
        }
    }
    let log = std::fs::read_to_string(&agent.log).unwrap_or_default();
    assert!(
        !log.contains("hunter2-in-git"),
        "a decrypted value in the log"
    );
}
