//! `decryption: {provider: sops, keyFile: PATH | secretRef: {name, namespace, key}}` of an app.

use super::{ConfigError, Fields};
use crate::config::{
    DEFAULT_SECRET_KEY, Decryption, DecryptionKeys, DecryptionProvider, SecretRef,
};

const DECRYPTION_KEYS: &[&str] = &["provider", "keyFile", "secretRef"];
/// Keys people write an age key under, inline.
const DECRYPTION_INLINE: &[(&str, &str)] = &[
    ("key", "keyFile or secretRef"),
    ("ageKey", "keyFile or secretRef"),
];
const SECRET_REF_KEYS: &[&str] = &["name", "namespace", "key"];

pub(super) fn read(app: &Fields) -> Result<Option<Decryption>, ConfigError> {
    let Some(field) = app.get("decryption") else {
        return Ok(None);
    };
    let f = Fields::open(
        app.file,
        field.node,
        field.path.clone(),
        DECRYPTION_KEYS,
        DECRYPTION_INLINE,
    )?;
    let provider = f.required("provider")?.one_of(&DecryptionProvider::ALL)?;
    let keys = match (f.get("keyFile"), f.get("secretRef")) {
        (Some(file), None) => DecryptionKeys::File(file.path_buf()?),
        (None, Some(secret)) => DecryptionKeys::Secret(secret_ref(app.file, &secret)?),
        (Some(_), Some(_)) => {
            return Err(field.fail(
                "sets both keyFile and secretRef; keep one: the age keys come from a file or \
                 from a Secret",
            ));
        }
        (None, None) => {
            return Err(field.fail(
                "needs keyFile (a key file: age and/or OpenPGP keys) or secretRef ({name, namespace, key} of a \
                 Secret holding one)",
            ));
        }
    };
    Ok(Some(Decryption { provider, keys }))
}

fn secret_ref(file: &str, field: &super::Field<'_>) -> Result<SecretRef, ConfigError> {
    let f = Fields::open(file, field.node, field.path.clone(), SECRET_REF_KEYS, &[])?;
    let name = f.required("name")?;
    let checked = |field: super::Field<'_>| -> Result<String, ConfigError> {
        let s = field.string()?;
        if is_subdomain(&s) {
            Ok(s)
        } else {
            Err(field.fail(format!(
                "{s:?} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')"
            )))
        }
    };
    let key = match f.get("key") {
        Some(k) => {
            let s = k.string()?;
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            {
                return Err(k.fail(format!("{s:?} is not a Secret data key")));
            }
            s
        }
        None => DEFAULT_SECRET_KEY.to_owned(),
    };
    Ok(SecretRef {
        name: checked(name)?,
        namespace: f.get("namespace").map(|n| n.dns_label()).transpose()?,
        key,
    })
}

/// A DNS-1123 subdomain, what Secret names are.
fn is_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}
