//! A SOPS file built here the way sops builds one (age-armored data key, sealed values, an
//! encrypted MAC), so the flow is tested without the sops binary; `tests/decrypt.rs` checks
//! the same code against files the real sops writes.

use std::io::Write;
use std::str::FromStr;

use serde_json::json;
use sha2::{Digest, Sha512};

use super::value::testing::seal;
use super::*;
use zeroize::Zeroizing;

// Throwaway keys made by age-keygen for these tests only.
const KEY: &str = "AGE-SECRET-KEY-1HAWJ6K8K4A2DT37SQFZT56PZAC0JFV9506M53EGYJ9ZGYK2DED3QCSQV9M";
const RECIPIENT: &str = "age1p6x3lrvl7c2qf0mjtkzyecncd7m3f4m6d02wjft5f34ptychh5wq72ycc3";
const LAST_MODIFIED: &str = "2026-11-29T16:09:56Z";

fn identities() -> Identities {
    Identities::parse(KEY, "keys.txt").unwrap()
}

fn armored_data_key(key: &[u8; 32]) -> String {
    let recipient = age::x25519::Recipient::from_str(RECIPIENT).unwrap();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let armor =
        age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor).unwrap();
    let mut writer = encryptor.wrap_output(armor).unwrap();
    writer.write_all(key).unwrap();
    String::from_utf8(writer.finish().unwrap().finish().unwrap()).unwrap()
}

/// A Secret whose `stringData` values are sealed (`encrypted_regex`), with its MAC over
/// every value in order; `mac_over` replaces the cleartext the MAC is computed from.
fn sops_secret(mac_over: Option<&[&str]>) -> SourceFile {
    let key = Zeroizing::new([9u8; 32]);
    let password = seal("hunter2", "str", &key, "stringData:password:", [3; 32]);
    let port = seal("5432", "int", &key, "stringData:port:", [4; 32]);
    let values = ["v1", "Secret", "db", "hunter2", "5432"];
    let hash = Sha512::digest(mac_over.unwrap_or(&values).concat().as_bytes());
    let mac = seal(&format!("{hash:X}"), "str", &key, LAST_MODIFIED, [5; 32]);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": password, "port": port},
        "sops": {
            "age": [{"recipient": RECIPIENT, "enc": armored_data_key(&key)}],
            "lastmodified": LAST_MODIFIED,
            "mac": mac,
            "encrypted_regex": "^(data|stringData)$",
            "version": "3.13.3"
        }
    });
    SourceFile {
        path: "apps/db.yaml".into(),
        data: serde_json::to_vec(&doc).unwrap(),
    }
}

#[test]
fn a_sops_file_decrypts_with_its_mac_verified() {
    let file = sops_secret(None);
    assert!(is_encrypted(&file));
    let clear = decrypt_file(&file, &identities()).unwrap();
    let got: Value = serde_json::from_slice(&clear.data).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
               "stringData": {"password": "hunter2", "port": 5432}})
    );
}

#[test]
fn a_wrong_mac_is_a_mismatch_naming_the_file_and_recipient() {
    let file = sops_secret(Some(&["v1", "Secret", "db", "other", "5432"]));
    let err = decrypt_file(&file, &identities()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "apps/db.yaml: MAC mismatch (data key of {RECIPIENT}): the file was changed after \
             it was encrypted"
        )
    );
}

#[test]
fn plain_manifests_pass_through_untouched() {
    let files = [SourceFile {
        path: "cm.yaml".into(),
        data: b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sops}\ndata: {mac: x}\n".to_vec(),
    }];
    assert!(!is_encrypted(&files[0]));
    let out = for_render(&files, "", &RenderOptions::default(), None).unwrap();
    assert_eq!(out.count(), 0);
    assert!(matches!(out.files, Cow::Borrowed(_)));
}

#[test]
fn for_render_decrypts_directories_and_refuses_what_a_render_reads() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("# test\n{KEY}\n")).unwrap();
    let files = [sops_secret(None)];
    let out = for_render(&files, "apps", &RenderOptions::default(), Some(&keys)).unwrap();
    assert_eq!(out.count(), 1);
    assert!(!String::from_utf8_lossy(&out[0].data).contains("ENC["));

    let kustomize = RenderOptions {
        kind: SourceKind::Kustomize,
        ..RenderOptions::default()
    };
    let err = for_render(&files, "apps", &kustomize, Some(&keys))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("apps/db.yaml: SOPS-encrypted files are only"),
        "{err}"
    );
    // Outside the app path a render never reads it: left encrypted, not refused.
    let out = for_render(&files, "other", &kustomize, Some(&keys)).unwrap();
    assert_eq!(out.count(), 0);
}

#[test]
fn helm_values_files_are_decrypted_aside_and_chart_files_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap();
    let mut values = sops_secret(None);
    values.path = "envs/secret.yaml".into();
    let chart = SourceFile {
        path: "apps/Chart.yaml".into(),
        data: b"name: apps\n".to_vec(),
    };
    let files = [chart, values];
    let helm = |value_files: &[&str]| RenderOptions {
        kind: SourceKind::Helm,
        helm: crate::render::HelmOptions {
            value_files: value_files.iter().map(|f| (*f).to_owned()).collect(),
            ..Default::default()
        },
        ..RenderOptions::default()
    };
    let out = for_render(&files, "apps", &helm(&["./envs/secret.yaml"]), Some(&keys)).unwrap();
    assert_eq!(out.count(), 1);
    // The tree keeps the file encrypted; the cleartext is only in the secret values.
    assert_eq!(out[1].data, files[1].data);
    let values = out.secret_values().unwrap();
    assert_eq!(format!("{values:?}"), "[\"envs/secret.yaml\"]");

    // Not named as a values file and outside the chart: never read, left alone.
    let out = for_render(&files, "apps", &helm(&[]), None).unwrap();
    assert!(out.secret_values().is_none());
    // Inside the chart, not a values file: helm would read it from disk.
    let mut inside = files.clone();
    inside[1].path = "apps/secret.yaml".into();
    let err = for_render(&inside, "apps", &helm(&[]), Some(&keys))
        .err()
        .unwrap();
    assert!(matches!(err, DecryptError::Rendered { .. }), "{err}");
}

#[test]
fn rendered_output_holding_ciphertext_is_refused() {
    let kustomize = RenderOptions {
        kind: SourceKind::Kustomize,
        ..RenderOptions::default()
    };
    let rendered = [SourceFile {
        path: "overlays/prod (kustomize)".into(),
        data: sops_secret(None).data,
    }];
    let err = refuse_ciphertext(&rendered, &kustomize).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("overlays/prod (kustomize): the kustomize render"),
        "{err}"
    );
    // A plain directory's files were all decrypted before; nothing to look at.
    assert!(refuse_ciphertext(&rendered, &RenderOptions::default()).is_ok());
}

#[test]
fn the_values_that_were_encrypted_are_kept_out_of_messages_and_no_other() {
    let files = [sops_secret(None)];
    let out = for_render(&files, "apps", &RenderOptions::default(), None);
    assert!(out.is_err(), "no key given");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, KEY).unwrap();
    let out = for_render(&files, "apps", &RenderOptions::default(), Some(&keys)).unwrap();
    let message = "stringData.password: invalid value \"hunter2\", port 5432, name db, kind Secret";
    assert_eq!(
        out.secrets().scrub(message),
        "stringData.password: invalid value \"<redacted>\", port <redacted>, name db, kind Secret",
        "the password and the (encrypted) port are scrubbed; what sops left in clear is not"
    );
}

#[test]
fn only_a_failure_to_read_the_keys_is_transient() {
    let cases = [
        (
            DecryptError::KeySecret {
                secret: "ordo/age".into(),
                reason: "the API server did not answer".into(),
            },
            true,
        ),
        (
            DecryptError::KeyFile {
                path: "/keys/age.txt".into(),
                reason: "cannot read it: No such file or directory".into(),
            },
            true,
        ),
        (
            DecryptError::MacMismatch {
                file: "a.yaml".into(),
                recipient: RECIPIENT.into(),
            },
            false,
        ),
        (
            DecryptError::NoMatchingKey {
                file: "a.yaml".into(),
                key_file: "k".into(),
                recipients: RECIPIENT.into(),
            },
            false,
        ),
        (DecryptError::malformed("a.yaml", "sops", "x"), false),
        (
            DecryptError::Rendered {
                file: "a.yaml".into(),
                kind: "kustomize".into(),
            },
            false,
        ),
    ];
    for (error, transient) in cases {
        assert_eq!(error.is_transient(), transient, "{error}");
    }
}
