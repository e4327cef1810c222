//! SOPS files encrypted for OpenPGP keys (`sops --encrypt --pgp FP`, gpg-made keys) decrypted
//! natively by ordo with the armored secret key (`gpg --armor --export-secret-keys`) in the
//! key file, beside age identities or alone. Another key's file and a tampered file are
//! refused naming the file and the fingerprint. No cluster, no gpg at decryption time.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "sops/support.rs"]
mod sops;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use std::process::Command;

use ordo::decrypt::{self, DecryptError, Identities};
use ordo::source::SourceFile;
use serde_json::{Value, json};

use sops::GnupgHome;

const PASSWORD: &str = "pgp-s3cr3t-7c41e0";

fn secret_yaml() -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels:\n    app: shop\n\
         stringData:\n  password: {PASSWORD}\n  port: \"5432\"\n"
    )
}

fn file(path: &str, data: Vec<u8>) -> SourceFile {
    SourceFile {
        path: path.to_owned(),
        data,
    }
}

#[test]
fn a_secret_for_a_pgp_key_decrypts_with_its_exported_secret_key() {
    let gnupg = GnupgHome::new();
    let fp = gnupg.generate("ordo test <ops@example.com>");
    let dir = tempfile::tempdir().unwrap();
    let sealed = gnupg.sops_encrypt(dir.path(), "secret.yaml", &secret_yaml(), &fp);
    let text = String::from_utf8(sealed.clone()).unwrap();
    assert!(text.contains(&format!("fp: {fp}")), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    // The key file holds an age identity and the armored OpenPGP key, with comments.
    let age_key = dir.path().join("age.txt");
    sops::age_keygen(&age_key);
    let keys = format!(
        "{}\n# ops@example.com, exported with gpg --armor --export-secret-keys\n{}",
        std::fs::read_to_string(&age_key).unwrap(),
        gnupg.export_secret(&fp)
    );
    let identities = Identities::parse(&keys, "keys.txt").unwrap();
    assert_eq!(identities.pgp_fingerprints(), vec![fp.clone()]);
    assert!(!format!("{identities:?}").contains("PRIVATE"));

    let clear = decrypt::decrypt_file(&file("apps/db.yaml", sealed), &identities).unwrap();
    let got: Value = serde_json::from_slice(&clear.data).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "db", "labels": {"app": "shop"}},
               "stringData": {"password": PASSWORD, "port": "5432"}})
    );
}

#[test]
fn a_file_for_another_pgp_key_or_tampered_is_refused_naming_it() {
    let gnupg = GnupgHome::new();
    let ours = gnupg.generate("ours <ours@example.com>");
    let theirs = gnupg.generate("theirs <theirs@example.com>");
    let dir = tempfile::tempdir().unwrap();
    let identities = Identities::parse(&gnupg.export_secret(&ours), "keys.asc").unwrap();

    let for_them = gnupg.sops_encrypt(dir.path(), "secret.yaml", &secret_yaml(), &theirs);
    let err = decrypt::decrypt_file(&file("apps/db.yaml", for_them), &identities).unwrap_err();
    assert!(matches!(err, DecryptError::NoMatchingKey { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("apps/db.yaml: no identity in keys.asc opens its data key")
            && message.contains(&format!("pgp:{theirs}")),
        "{message}"
    );

    let ours_sealed = gnupg.sops_encrypt(dir.path(), "secret.yaml", &secret_yaml(), &ours);
    let edited = String::from_utf8(ours_sealed.clone())
        .unwrap()
        .replace("app: shop", "app: evil");
    let err =
        decrypt::decrypt_file(&file("apps/db.yaml", edited.into_bytes()), &identities).unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("apps/db.yaml: MAC mismatch")
            && message.contains(&format!("pgp:{ours}")),
        "{message}"
    );

    // The data key's message changed (in its session key, then in its encrypted data):
    // refused as malformed, naming the fingerprint.
    let text = String::from_utf8(ours_sealed).unwrap();
    let begin = text.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = text.find("-----END PGP MESSAGE-----").unwrap();
    // A base64 character of the message, at or before `at`.
    let letter = |mut at: usize| {
        while !text.as_bytes()[at].is_ascii_alphanumeric() {
            at -= 1;
        }
        at
    };
    for at in [letter(begin + 120), letter(end - 60)] {
        let mut bytes = text.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let err = decrypt::decrypt_file(&file("apps/db.yaml", bytes), &identities).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("apps/db.yaml: malformed SOPS file: sops.pgp.enc")
                && message.contains(&ours),
            "{message}"
        );
        assert!(!message.contains(PASSWORD), "{message}");
    }
}

#[test]
fn a_passphrase_protected_key_is_refused_naming_its_fingerprint() {
    let gnupg = GnupgHome::new();
    let locked = |args: &[&str]| -> String {
        sops::run(
            Command::new("gpg")
                .env("GNUPGHOME", gnupg.path())
                .args(["--batch", "--pinentry-mode", "loopback"])
                .args(["--passphrase", "correct horse"])
                .args(args),
        )
    };
    locked(&[
        "--quick-gen-key",
        "locked <locked@example.com>",
        "default",
        "default",
        "never",
    ]);
    let listing = locked(&["--with-colons", "--list-secret-keys"]);
    let fp = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| f.len() == 40))
        .unwrap()
        .to_owned();
    let exported = locked(&["--armor", "--export-secret-keys", &fp]);
    let err = Identities::parse(&exported, "keys.asc").unwrap_err();
    assert!(
        err.to_string().contains(&fp) && err.to_string().contains("passphrase"),
        "{err}"
    );
}

#[test]
fn ordo_plan_decrypts_a_pgp_secret_from_the_key_file() {
    let gnupg = GnupgHome::new();
    let fp = gnupg.generate("ordo plan <plan@example.com>");
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let sealed = gnupg.sops_encrypt(&app, "secret.yaml", &secret_yaml(), &fp);
    std::fs::write(app.join("secret.yaml"), &sealed).unwrap();
    let keys = dir.path().join("keys.asc");
    std::fs::write(&keys, gnupg.export_secret(&fp)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["plan", "-o", "json"])
        .arg(&app)
        .env(decrypt::KEY_FILE_ENV, &keys)
        // No GnuPG at all at decryption time.
        .env("GNUPGHOME", dir.path().join("no-gnupg"))
        .output()
        .expect("ordo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("\"db\""), "{stdout}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stdout}\n{stderr}"
    );
}
