//! A Helm app whose values file is SOPS-encrypted (`sops --encrypt --age`, made at test time)
//! renders with the decrypted value, which reaches helm only on its standard input: a helm
//! wrapper snapshots the render's temporary directory and logs helm's arguments, and neither
//! they, the temporary directory of `ordo plan`, nor its output hold the cleartext. The render
//! cache re-renders when the encrypted file changes. No cluster.

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

/// A helm that logs its arguments and copies the render's whole temporary directory (its
/// working directory is `repo/` inside it) after each run, into `snapshots`.
fn snapshotting_helm(dir: &Path, snapshots: &Path) -> PathBuf {
    std::fs::create_dir_all(snapshots).unwrap();
    let script = dir.join("helm-snapshot");
    let text = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> {snap}/args\n{helm} \"$@\"\nstatus=$?\n\
         /bin/mkdir -p {snap}/$$\n/bin/cp -r .. {snap}/$$/\nexit $status\n",
        snap = snapshots.display(),
        helm = k8s_bin("helm").display(),
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
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

fn templates_run(snapshots: &Path) -> usize {
    std::fs::read_to_string(snapshots.join("args"))
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == "template")
        .count()
}

#[test]
fn an_encrypted_values_file_renders_its_value_without_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    let snapshots = dir.path().join("snapshots");
    let renderer = Renderer::new(Tools {
        helm: Some(snapshotting_helm(dir.path(), &snapshots)),
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

    // helm read the values on stdin: `-f -`, and neither its arguments nor anything the
    // render's temporary directory held (the files, helm's home) carry the cleartext.
    let args = std::fs::read_to_string(snapshots.join("args")).unwrap();
    assert!(args.contains("\n-f\n-\n"), "{args}");
    assert!(!args.contains("values-secret"), "{args}");
    assert_eq!(
        sops::files_containing(&snapshots, PASSWORD),
        Vec::<PathBuf>::new()
    );
    assert!(
        !sops::files_containing(&snapshots, "ENC[AES256_GCM").is_empty(),
        "the snapshot holds the ciphertext only"
    );

    // Same commit again: from the cache. The encrypted file changed: rendered anew.
    assert_eq!(templates_run(&snapshots), 1);
    render(&renderer, &files, &keys);
    assert_eq!(templates_run(&snapshots), 1);
    write_repo(&repo, &recipient, ROTATED);
    let rendered = render(&renderer, &tree(&repo), &keys);
    assert_eq!(templates_run(&snapshots), 2);
    let objects = ordo::manifest::load(&rendered, "shop").unwrap();
    let secret = objects.iter().find(|o| o.id.kind == "Secret").unwrap();
    assert_eq!(secret.manifest["stringData"]["password"], ROTATED);
    assert_eq!(renderer.cached(), 2);
    for cleartext in [PASSWORD, ROTATED] {
        assert_eq!(
            sops::files_containing(&snapshots, cleartext),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn ordo_plan_renders_the_chart_and_leaves_no_cleartext_behind() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    let recipient = sops::age_keygen(&keys);
    let repo = dir.path().join("repo");
    write_repo(&repo, &recipient, PASSWORD);
    let snapshots = dir.path().join("snapshots");
    let helm = snapshotting_helm(dir.path(), &snapshots);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let plan = |keys: &Path| {
        Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["plan", "-o", "json"])
            .arg(&repo)
            .args(["--path", "charts/vault-app", "--release-name", "shop"])
            .args(["--values", "envs/common.yaml"])
            .args(["--values", "envs/values-secret.yaml", "-n", "shop"])
            .env(decrypt::KEY_FILE_ENV, keys)
            .env("ORDO_HELM", &helm)
            .env("TMPDIR", &tmp)
            .env("RUST_LOG", "debug")
            .output()
            .expect("ordo runs")
    };
    let out = plan(&keys);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("shop-db"), "{stdout}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stdout}\n{stderr}"
    );
    assert_eq!(templates_run(&snapshots), 1);
    for place in [&snapshots, &tmp, &repo] {
        assert_eq!(
            sops::files_containing(place, PASSWORD),
            Vec::<PathBuf>::new()
        );
    }

    // Another recipient's key: exit 2, naming the values file and its recipient.
    let other = dir.path().join("other.txt");
    sops::age_keygen(&other);
    let out = plan(&other);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("envs/values-secret.yaml") && stderr.contains(&recipient),
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
