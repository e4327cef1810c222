//! A Helm app whose values file is SOPS-encrypted (`sops --encrypt --age`, made at test time)
//! renders with the decrypted value, which reaches helm only on its standard input: a probe
//! standing in for helm (tests/sops/helm_probe.c, compiled with gcc at test time, the real
//! helm inside it) runs under the same Landlock confinement as helm, checks helm's arguments
//! and every file of the render's sandbox before and after helm runs, reports in comments of
//! the render and fails it if it finds the cleartext; neither the temporary directory of
//! `ordo plan`, the repository nor its output hold the cleartext afterwards. The render cache
//! re-renders when the encrypted file changes. No cluster.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "sops/support.rs"]
mod sops;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ordo::decrypt;
use ordo::render::{HelmOptions, RenderOptions, RenderRequest, Renderer, SourceKind, Tools};
use ordo::source::SourceFile;

use support::k8s_bin;

const PASSWORD: &str = "helm-values-s3cr3t-91b2";
const ROTATED: &str = "helm-values-rotated-5d0e";

const CHART: &[(&str, &str)] = &[
    (
        "charts/vault-app/Chart.yaml",
        "apiVersion: v2\nname: vault-app\nversion: 0.1.0\n",
    ),
    (
        "charts/vault-app/values.yaml",
        "db:\n  host: localhost\n  password: changeme\nreplicas: 1\n",
    ),
    (
        "charts/vault-app/templates/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n\
         stringData:\n  password: {{ .Values.db.password | quote }}\n  host: {{ .Values.db.host | quote }}\n",
    ),
    (
        "charts/vault-app/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n\
         data:\n  host: {{ .Values.db.host | quote }}\n  replicas: {{ .Values.replicas | quote }}\n",
    ),
    (
        "envs/common.yaml",
        "db:\n  host: db.shop.svc\nreplicas: 2\n",
    ),
];

/// The repository as files on disk under `root`, with `envs/values-secret.yaml` encrypted
/// for `recipient` holding `password`.
fn write_repo(root: &Path, recipient: &str, password: &str) {
    for (path, text) in CHART {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let plain = format!("db:\n  password: {password}\n");
    let sealed =
        sops::sops_encrypt_age(&root.join("envs"), "values-secret.yaml", &plain, recipient);
    std::fs::write(root.join("envs/values-secret.yaml"), sealed).unwrap();
}

fn tree(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    for (path, _) in CHART.iter().chain(&[("envs/values-secret.yaml", "")]) {
        files.push(SourceFile {
            path: (*path).to_owned(),
            data: std::fs::read(root.join(path)).unwrap(),
        });
    }
    files
}

/// The helm probe (`tests/sops/helm_probe.c`), compiled by gcc into `dir` with the real helm
/// appended to it: confined, a render tool reads nothing outside its sandbox but its own
/// program file and the system libraries, so the probe carries helm inside it and checks
/// from within the confinement what helm is given and what the sandbox holds. It fails the
/// render (exit 3, its reason on stderr) if `helm template` gets no `-f -`, an argument
/// containing `forbidden` or one of `cleartexts`, if any file of the sandbox contains one of
/// `cleartexts` before or after helm runs, or if none contains the sops ciphertext; and it
/// appends its findings to helm's output as `# helm-probe …` comments.
fn helm_probe(dir: &Path, cleartexts: &[&str], forbidden: &str) -> PathBuf {
    use std::io::Write;
    let literal = |s: &str| {
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        );
        format!("\"{s}\"")
    };
    let probe = dir.join("helm-probe");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sops/helm_probe.c");
    let cleartexts: Vec<String> = cleartexts.iter().map(|c| literal(c)).collect();
    sops::run(
        Command::new("gcc")
            .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-o"])
            .arg(&probe)
            .arg(&source)
            .arg(format!("-DPROBE_CLEARTEXTS={}", cleartexts.join(",")))
            .arg(format!("-DPROBE_FORBIDDEN={}", literal(forbidden)))
            .arg(format!("-DPROBE_CIPHERTEXT={}", literal("ENC[AES256_GCM"))),
    );
    let helm = std::fs::read(k8s_bin("helm")).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&probe)
        .unwrap();
    file.write_all(&helm).unwrap();
    file.write_all(&(helm.len() as u64).to_le_bytes()).unwrap();
    probe
}

/// The `# helm-probe KEY: VALUE` lines of a render, as (KEY, VALUE) in order.
fn probe_report(rendered: &[SourceFile]) -> Vec<(String, String)> {
    rendered
        .iter()
        .flat_map(|f| {
            String::from_utf8_lossy(&f.data)
                .lines()
                .filter_map(|l| l.strip_prefix("# helm-probe "))
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every value of `key` in a probe report.
fn probed<'a>(report: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    report
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// What one `helm template` run reported: its run id, after checking that the values came on
/// stdin, no argument names the encrypted file, no file of the sandbox held the cleartext
/// before or after helm ran, and some file held the ciphertext.
fn assert_clean_run(report: &[(String, String)]) -> String {
    let runs = probed(report, "run");
    assert_eq!(runs.len(), 1, "one helm template run reported: {report:?}");
    assert_eq!(probed(report, "stdin-values"), ["yes"], "{report:?}");
    let args = probed(report, "arg");
    assert!(args.windows(2).any(|w| w == ["-f", "-"]), "{args:?}");
    assert!(args.contains(&"template"), "{args:?}");
    assert!(
        !args.iter().any(|a| a.contains("values-secret")),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a.ends_with("envs/common.yaml") && a.contains("/repo/")),
        "the plain values file is passed by its path in the sandbox: {args:?}"
    );
    assert_eq!(probed(report, "forbidden-args"), ["0"], "{report:?}");
    assert_eq!(
        probed(report, "cleartext-files"),
        ["0 before, 0 after"],
        "{report:?}"
    );
    let ciphertext = probed(report, "ciphertext-files");
    assert!(
        ciphertext.len() == 1 && !ciphertext[0].starts_with("0 ") && !ciphertext[0].ends_with(" 0"),
        "the sandbox holds the ciphertext: {report:?}"
    );
    assert_eq!(probed(report, "unreadable"), ["0"], "{report:?}");
    runs[0].to_owned()
}

fn options() -> RenderOptions {
    RenderOptions {
        kind: SourceKind::Helm,
        helm: HelmOptions {
            release_name: "shop".into(),
            value_files: vec![
                "envs/common.yaml".into(),
                "./envs/values-secret.yaml".into(),
            ],
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    }
}

fn render(renderer: &Renderer, files: &[SourceFile], keys: &Path) -> Vec<SourceFile> {
    let options = options();
    let decrypted = decrypt::for_render(files, "charts/vault-app", &options, Some(keys)).unwrap();
    assert_eq!(decrypted.count(), 1);
    renderer
        .render(&RenderRequest {
            files: &decrypted,
            app_path: "charts/vault-app",
            namespace: "shop",
            options: &options,
            secret_values: decrypted.secret_values(),
        })
        .unwrap()
}

#[test]
fn an_encrypted_values_file_renders_its_value_without_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    let renderer = Renderer::new(Tools {
        helm: Some(helm_probe(
            dir.path(),
            &[PASSWORD, ROTATED],
            "values-secret",
        )),
        kustomize: None,
    });

    let files = tree(&repo);
    let rendered = render(&renderer, &files, &keys);
    let objects = ordo::manifest::load(&rendered, "shop").unwrap();
    let secret = objects.iter().find(|o| o.id.kind == "Secret").unwrap();
    let data = &secret.manifest["stringData"];
    assert_eq!(data["password"], PASSWORD, "the decrypted value wins");
    assert_eq!(
        data["host"], "db.shop.svc",
        "the plain file before it still counts"
    );
    let settings = objects.iter().find(|o| o.id.kind == "ConfigMap").unwrap();
    assert_eq!(settings.manifest["data"]["replicas"], "2");

    // helm read the values on stdin: `-f -`; neither its arguments nor any file of the
    // render's sandbox (the repository files, helm's home), before or after helm ran, carry
    // the cleartext; the encrypted file is there as ciphertext.
    let first_run = assert_clean_run(&probe_report(&rendered));

    // Same commit again: from the cache (helm did not run: the same run's report). The
    // encrypted file changed: rendered anew, as cleanly.
    let again = render(&renderer, &files, &keys);
    assert_eq!(assert_clean_run(&probe_report(&again)), first_run);
    write_repo(&repo, &recipient, ROTATED);
    let rendered = render(&renderer, &tree(&repo), &keys);
    let second_run = assert_clean_run(&probe_report(&rendered));
    assert_ne!(second_run, first_run, "helm ran again");
    let objects = ordo::manifest::load(&rendered, "shop").unwrap();
    let secret = objects.iter().find(|o| o.id.kind == "Secret").unwrap();
    assert_eq!(secret.manifest["stringData"]["password"], ROTATED);
    assert_eq!(renderer.cached(), 2);
}

/// `ordo plan` of the repository at `repo` with the SOPS key file `keys`, helm being `helm`
/// and temporary files under `tmp`.
fn plan(repo: &Path, keys: &Path, helm: &Path, tmp: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["plan", "-o", "json"])
        .arg(repo)
        .args(["--path", "charts/vault-app", "--release-name", "shop"])
        .args(["--values", "envs/common.yaml"])
        .args(["--values", "envs/values-secret.yaml", "-n", "shop"])
        .env(decrypt::KEY_FILE_ENV, keys)
        .env("ORDO_HELM", helm)
        .env("TMPDIR", tmp)
        .env("RUST_LOG", "debug")
        .output()
        .expect("ordo runs")
}

#[test]
fn ordo_plan_renders_the_chart_and_leaves_no_cleartext_behind() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    // The probe fails the plan if helm is given the values file's path or any file of the
    // sandbox holds the cleartext (the_helm_probe_fails_a_render_that_leaks shows it can).
    let helm = helm_probe(dir.path(), &[PASSWORD], "values-secret");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = plan(&repo, &keys, &helm, &tmp);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("shop-db"), "{stdout}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stdout}\n{stderr}"
    );
    for place in [&tmp, &repo] {
        assert_eq!(
            sops::files_containing(place, PASSWORD),
            Vec::<PathBuf>::new()
        );
    }
    assert!(
        !sops::files_containing(&repo, "ENC[AES256_GCM").is_empty(),
        "the repository keeps the ciphertext"
    );

    // Another recipient's key: exit 2, naming the values file and its recipient.
    let other = dir.path().join("other.txt");
    sops::age_keygen(&other);
    let out = plan(&repo, &other, &helm, &tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("envs/values-secret.yaml") && stderr.contains(&recipient),
        "{stderr}"
    );
}

/// The probe is no rubber stamp: run confined like helm, it finds a value that is in a file
/// of the sandbox (the plain `db.shop.svc` of envs/common.yaml) and an argument naming a
/// values file (`-f …/envs/common.yaml`), and its exit fails the plan with its reasons.
#[test]
fn the_helm_probe_fails_a_render_that_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    let helm = helm_probe(dir.path(), &["db.shop.svc"], "common.yaml");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = plan(&repo, &keys, &helm, &tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("helm-probe: cleartext in the sandbox: ../repo/envs/common.yaml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("helm-probe: 1 argument(s) name the encrypted file or a cleartext"),
        "{stderr}"
    );
}

#[test]
fn an_encrypted_file_the_chart_reads_from_disk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    std::fs::rename(
        repo.join("envs/values-secret.yaml"),
        repo.join("charts/vault-app/secret-values.yaml"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .arg("plan")
        .arg(&repo)
        .args(["--path", "charts/vault-app"])
        .env(decrypt::KEY_FILE_ENV, &keys)
        .env("ORDO_HELM", k8s_bin("helm"))
        .output()
        .expect("ordo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("charts/vault-app/secret-values.yaml: SOPS-encrypted files are only"),
        "{stderr}"
    );
}

/// What `{{ fail }}` printed, in every form a message could carry it, must not be found.
fn assert_no_trace(text: &str, value: &str) {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    assert!(!text.contains(value), "the value itself: {text}");
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(value);
        assert!(!text.contains(&encoded), "its base64 {encoded}: {text}");
    }
}

#[test]
fn a_template_failing_with_a_decrypted_value_shows_neither_it_nor_its_base64() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    // The chart prints the password, and its base64, as the reason it fails.
    std::fs::write(
        repo.join("charts/vault-app/templates/fail.yaml"),
        "{{ fail (printf \"db password %s (%s) rejected\" .Values.db.password \
         (.Values.db.password | b64enc)) }}\n",
    )
    .unwrap();
    let mut files = tree(&repo);
    files.push(SourceFile {
        path: "charts/vault-app/templates/fail.yaml".into(),
        data: std::fs::read(repo.join("charts/vault-app/templates/fail.yaml")).unwrap(),
    });
    let renderer = Renderer::new(Tools {
        helm: Some(k8s_bin("helm")),
        kustomize: None,
    });
    let options = options();
    let decrypted = decrypt::for_render(&files, "charts/vault-app", &options, Some(&keys)).unwrap();
    let err = renderer
        .render(&RenderRequest {
            files: &decrypted,
            app_path: "charts/vault-app",
            namespace: "shop",
            options: &options,
            secret_values: decrypted.secret_values(),
        })
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("db password <redacted> (<redacted>) rejected"),
        "helm's own words stay, the values go: {shown}"
    );
    assert_no_trace(&shown, PASSWORD);
    assert_no_trace(&format!("{err:?}"), PASSWORD);
    assert!(
        !err.is_transient(),
        "a template's fail is the commit's fault"
    );

    // The same through `ordo plan`: neither its output nor its log holds the value.
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["plan", "-o", "json"])
        .arg(&repo)
        .args(["--path", "charts/vault-app", "--release-name", "shop"])
        .args(["--values", "envs/common.yaml"])
        .args(["--values", "envs/values-secret.yaml", "-n", "shop"])
        .env(decrypt::KEY_FILE_ENV, &keys)
        .env("ORDO_HELM", k8s_bin("helm"))
        .env("RUST_LOG", "debug")
        .output()
        .expect("ordo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("<redacted>"), "{stderr}");
    assert_no_trace(&stderr, PASSWORD);
    assert_no_trace(&String::from_utf8_lossy(&out.stdout), PASSWORD);
}
