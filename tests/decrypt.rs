//! SOPS decryption against files the real sops writes: `age-keygen` makes the keys and
//! `sops --encrypt --age` the fixtures at test time (both built by scripts/cluster.sh into the
//! tool cache), then ordo's own code decrypts them. Tampering, another recipient and a missing
//! key file must fail naming the file; `ordo plan` must plan an encrypted Secret without ever
//! printing its cleartext. No cluster.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ordo::decrypt::{self, DecryptError, Identities};
use ordo::render::{RenderOptions, SourceKind};
use ordo::source::SourceFile;
use serde_json::{Value, json};

use support::k8s_bin;

const PASSWORD: &str = "s3cr3t-hunter2-value";
const TOKEN: &str = "tok-6a1f0c2e-cleartext";

/// A Secret as people write it, with a value of each kind sops types.
fn secret_yaml() -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  labels:
    app: shop
type: Opaque
stringData:
  password: {PASSWORD}
  token: {TOKEN}
  port: \"5432\"
data:
  blob: aGVsbG8=
"
    )
}

/// An age key pair made by age-keygen in `dir`: the key file and its recipient.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new(k8s_bin("age-keygen"))
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_owned();
    (path, recipient)
}

/// `sops --encrypt` of `plain` (named `name` inside `dir`, which sops reads the format from).
fn sops_encrypt(dir: &Path, name: &str, plain: &str, recipient: &str, extra: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::write(&path, plain).unwrap();
    let out = Command::new(k8s_bin("sops"))
        .args(["--encrypt", "--age", recipient])
        .args(extra)
        .arg(&path)
        .env_remove(decrypt::KEY_FILE_ENV)
        .current_dir(dir)
        .output()
        .expect("sops runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&path).unwrap();
    out.stdout
}

fn file(path: &str, data: Vec<u8>) -> SourceFile {
    SourceFile {
        path: path.to_owned(),
        data,
    }
}

/// The documents of a decrypted file, read as the manifest loader reads its path (JSON text
/// under a YAML path is YAML).
fn documents(file: &SourceFile) -> Vec<Value> {
    let text = std::str::from_utf8(&file.data).unwrap();
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, ordo::manifest::yaml_options()).unwrap();
    let objects = ordo::manifest::parse_file(file).unwrap();
    assert_eq!(objects.len(), docs.len());
    docs
}

fn cleartext_of(text: &str) -> Value {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, ordo::manifest::yaml_options()).unwrap();
    docs.into_iter().next().unwrap()
}

#[test]
fn encrypted_regex_secret_decrypts_to_the_cleartext() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let sealed = sops_encrypt(
        dir.path(),
        "secret.yaml",
        &secret_yaml(),
        &recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let text = String::from_utf8(sealed.clone()).unwrap();
    assert!(
        !text.contains(PASSWORD) && text.contains("ENC[AES256_GCM,"),
        "{text}"
    );
    assert!(
        text.contains("name: db-credentials"),
        "metadata stays clear: {text}"
    );

    let identities = Identities::load(&keys).unwrap();
    let clear = decrypt::decrypt_file(&file("apps/secret.yaml", sealed), &identities).unwrap();
    assert_eq!(clear.path, "apps/secret.yaml");
    assert_eq!(documents(&clear), vec![cleartext_of(&secret_yaml())]);
}

#[test]
fn unencrypted_suffix_json_and_types_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let plain = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"password": PASSWORD, "mode_unencrypted": "debug"},
        "replicas": 3,
        "ratio": 0.25,
        "enabled": true,
        "hosts": ["a.example.org", "b.example.org"],
        "empty": null
    });
    let sealed = sops_encrypt(
        dir.path(),
        "settings.json",
        &serde_json::to_string_pretty(&plain).unwrap(),
        &recipient,
        &["--unencrypted-suffix", "_unencrypted"],
    );
    let text = String::from_utf8(sealed.clone()).unwrap();
    assert!(text.contains("\"mode_unencrypted\": \"debug\""), "{text}");
    assert!(
        text.contains("type:int") && text.contains("type:bool"),
        "{text}"
    );
    let identities = Identities::load(&keys).unwrap();
    let clear = decrypt::decrypt_file(&file("settings.json", sealed), &identities).unwrap();
    let got: Value = serde_json::from_slice(&clear.data).unwrap();
    assert_eq!(got, plain);
    let keys_in_order: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(
        keys_in_order[..3],
        ["apiVersion", "kind", "metadata"],
        "key order is kept"
    );
}

#[test]
fn multi_document_yaml_decrypts_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let second = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  key: second-cleartext\n";
    let plain = format!("{}---\n{second}", secret_yaml());
    let sealed = sops_encrypt(
        dir.path(),
        "both.yaml",
        &plain,
        &recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let identities = Identities::load(&keys).unwrap();
    let clear = decrypt::decrypt_file(&file("both.yaml", sealed), &identities).unwrap();
    assert_eq!(
        documents(&clear),
        vec![cleartext_of(&secret_yaml()), cleartext_of(second)]
    );
}

#[test]
fn mac_only_encrypted_and_encrypted_suffix_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let plain = "name: shop\npassword_secret: hunter2\nport: 80\n";
    let sealed = sops_encrypt(
        dir.path(),
        "values.yaml",
        plain,
        &recipient,
        &["--encrypted-suffix", "_secret", "--mac-only-encrypted"],
    );
    let identities = Identities::load(&keys).unwrap();
    let clear = decrypt::decrypt_file(&file("values.yaml", sealed), &identities).unwrap();
    let got: Value = serde_json::from_slice(&clear.data).unwrap();
    assert_eq!(
        got,
        json!({"name": "shop", "password_secret": "hunter2", "port": 80})
    );
}

/// Flips one byte of the first `data:` of an `ENC[…]` value.
fn tamper(sealed: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(sealed.to_vec()).unwrap();
    let at = text.find("ENC[AES256_GCM,data:").unwrap() + "ENC[AES256_GCM,data:".len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    bytes
}

#[test]
fn a_tampered_value_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let sealed = sops_encrypt(dir.path(), "secret.yaml", &secret_yaml(), &recipient, &[]);
    let identities = Identities::load(&keys).unwrap();
    let err =
        decrypt::decrypt_file(&file("apps/secret.yaml", tamper(&sealed)), &identities).unwrap_err();
    assert!(matches!(err, DecryptError::Value { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("apps/secret.yaml: "), "{message}");
    assert!(message.contains(&recipient), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");

    // A value left clear by the selectors but edited: only the MAC can tell.
    let sealed = sops_encrypt(
        dir.path(),
        "secret.yaml",
        &secret_yaml(),
        &recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    let edited = String::from_utf8(sealed)
        .unwrap()
        .replace("app: shop", "app: evil");
    let err = decrypt::decrypt_file(&file("apps/secret.yaml", edited.into_bytes()), &identities)
        .unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("apps/secret.yaml: MAC mismatch"),
        "{err}"
    );
}

#[test]
fn a_file_for_another_recipient_names_that_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, _) = keygen(dir.path(), "keys.txt");
    let (_, other) = keygen(dir.path(), "other.txt");
    let sealed = sops_encrypt(dir.path(), "secret.yaml", &secret_yaml(), &other, &[]);
    let identities = Identities::load(&keys).unwrap();
    let err = decrypt::decrypt_file(&file("apps/secret.yaml", sealed), &identities).unwrap_err();
    assert!(matches!(err, DecryptError::NoMatchingKey { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with("apps/secret.yaml: "), "{message}");
    assert!(message.contains(&other), "{message}");
}

#[test]
fn a_missing_key_file_or_none_at_all_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, recipient) = keygen(dir.path(), "keys.txt");
    let sealed = sops_encrypt(dir.path(), "secret.yaml", &secret_yaml(), &recipient, &[]);
    let files = [file("secret.yaml", sealed)];
    let options = RenderOptions {
        kind: SourceKind::Directory,
        ..RenderOptions::default()
    };
    let missing = dir.path().join("nope.txt");
    let err = decrypt::for_render(&files, "", &options, Some(&missing))
        .err()
        .unwrap();
    assert!(matches!(err, DecryptError::KeyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.txt"), "{err}");
    let err = decrypt::for_render(&files, "", &options, None)
        .err()
        .unwrap();
    assert!(matches!(err, DecryptError::NoKey { .. }), "{err:?}");
    assert!(err.to_string().contains(&recipient), "{err}");

    // A Helm or Kustomize render would write the cleartext to its temporary directory.
    let helm = RenderOptions {
        kind: SourceKind::Helm,
        ..RenderOptions::default()
    };
    let err = decrypt::for_render(&files, "", &helm, None).err().unwrap();
    assert!(matches!(err, DecryptError::Rendered { .. }), "{err:?}");
}

fn ordo_plan(dir: &Path, keys: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .arg("plan")
        .arg(dir)
        .args(extra)
        .env(decrypt::KEY_FILE_ENV, keys)
        .output()
        .expect("ordo runs")
}

#[test]
fn ordo_plan_plans_an_encrypted_secret_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let sealed = sops_encrypt(
        &app,
        "secret.yaml",
        &secret_yaml(),
        &recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    std::fs::write(app.join("secret.yaml"), &sealed).unwrap();
    std::fs::write(
        app.join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  selector:\n    matchLabels: {app: shop}\n  template:\n    metadata:\n      labels: {app: shop}\n    spec:\n      containers:\n      - name: shop\n        image: shop:1\n        envFrom:\n        - secretRef: {name: db-credentials}\n",
    )
    .unwrap();
    for extra in [&[][..], &["-o", "json"][..]] {
        let out = ordo_plan(&app, &keys, extra);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("db-credentials"), "{stdout}");
        for secret in [PASSWORD, TOKEN] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{stdout}\n{stderr}"
            );
        }
    }
    // The files on disk are untouched: still encrypted.
    assert_eq!(std::fs::read(app.join("secret.yaml")).unwrap(), sealed);

    // Another recipient's key: a bad input (exit 2) naming the file and the recipient.
    let (other_keys, _) = keygen(dir.path(), "other.txt");
    let out = ordo_plan(&app, &other_keys, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("secret.yaml") && stderr.contains(&recipient),
        "{stderr}"
    );
}

#[test]
fn a_kustomize_base_holding_a_sops_file_is_refused_not_applied_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let repo = dir.path().join("repo");
    for sub in ["base", "overlay"] {
        std::fs::create_dir_all(repo.join(sub)).unwrap();
    }
    let sealed = sops_encrypt(
        &repo.join("base"),
        "secret.yaml",
        &secret_yaml(),
        &recipient,
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    std::fs::write(repo.join("base/secret.yaml"), sealed).unwrap();
    std::fs::write(
        repo.join("base/kustomization.yaml"),
        "resources: [secret.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("overlay/kustomization.yaml"),
        "resources: [../base]\n",
    )
    .unwrap();
    // `ordo plan` of one path of the repository: its exit code and stderr.
    let plan = |path: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .arg("plan")
            .arg(&repo)
            .args(["--path", path])
            .env(decrypt::KEY_FILE_ENV, &keys)
            .env("ORDO_KUSTOMIZE", k8s_bin("kustomize"))
            .output()
            .expect("ordo runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let (code, stderr) = plan("overlay");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds SOPS-encrypted values"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    // Under the app path itself, the file is refused before the render runs.
    let (code, stderr) = plan("base");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("base/secret.yaml: SOPS-encrypted files are only"),
        "{stderr}"
    );
}

#[test]
fn a_manifest_error_quoting_a_decrypted_value_shows_it_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    // The name is encrypted too, and another file defines an object of the same name: the
    // loader's message names the object, hence the decrypted name.
    let sealed = sops_encrypt(
        &app,
        "secret.yaml",
        &secret_yaml(),
        &recipient,
        &["--encrypted-regex", "^(name|data|stringData)$"],
    );
    std::fs::write(app.join("secret.yaml"), &sealed).unwrap();
    std::fs::write(
        app.join("again.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\n",
    )
    .unwrap();
    let out = ordo_plan(&app, &keys, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("<redacted> is defined twice"), "{stderr}");
    assert!(!stderr.contains("db-credentials"), "{stderr}");
}

/// `ordo diff` cuts a decrypted value out of its output whatever kind holds it, as the agent
/// does: a ConfigMap that does not exist yet shows its whole desired state, value redacted.
#[test]
fn ordo_diff_shows_a_decrypted_config_map_value_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, recipient) = keygen(dir.path(), "keys.txt");
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    // A namespace every cluster has; the ConfigMap is never created (a diff writes nothing).
    let ns = "default";
    let plain = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sopsdiff-{}\n  namespace: {ns}\ndata:\n  token: cm-value-only-sops-knows-91\n",
        std::process::id()
    );
    let sealed = sops_encrypt(
        &repo,
        "settings.yaml",
        &plain,
        &recipient,
        &["--encrypted-regex", "^data$"],
    );
    std::fs::write(repo.join("settings.yaml"), sealed).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .arg("diff")
        .arg(&repo)
        .args(["--namespace", ns])
        .env(decrypt::KEY_FILE_ENV, &keys)
        .env("KUBECONFIG", common::kubeconfig())
        .output()
        .expect("ordo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "differs: {stdout}{stderr}");
    assert!(
        stdout.contains("ConfigMap") && stdout.contains("token: <redacted>"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("cm-value-only-sops-knows-91")
            && !stderr.contains("cm-value-only-sops-knows-91")
    );
}
