//! The `sops` mapping at the top of an encrypted file (sops' `stores.Metadata`): who can open
//! the data key, which values are encrypted, and the encrypted MAC.

use regex::Regex;
use serde_json::{Map, Value};

use super::DecryptError;

/// One age recipient and the data key encrypted to it (an armored age file).
#[derive(Debug, Clone)]
pub(super) struct AgeStanza {
    pub recipient: String,
    pub enc: String,
}

/// One OpenPGP recipient (`fp`, as given to `sops --pgp`) and the data key encrypted to it
/// (an armored OpenPGP message).
#[derive(Debug, Clone)]
pub(super) struct PgpStanza {
    pub fp: String,
    pub enc: String,
}

/// What ordo reads of the `sops` mapping.
#[derive(Debug)]
pub(super) struct Metadata {
    /// As written (RFC 3339): the additional data of the encrypted MAC.
    pub lastmodified: String,
    /// `ENC[…]` holding the uppercase hex SHA-512 of the cleartext values.
    pub mac: String,
    pub age: Vec<AgeStanza>,
    pub pgp: Vec<PgpStanza>,
    /// Recipients ordo cannot use (`kms:ARN`, `hc_vault:…`), named in errors.
    pub other_recipients: Vec<String>,
    pub selectors: Selectors,
    pub mac_only_encrypted: bool,
}

/// Which values sops encrypted, by the keys on their path (sops' `shouldBeEncrypted`).
#[derive(Debug, Default)]
pub(super) struct Selectors {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<Regex>,
    pub encrypted_regex: Option<Regex>,
}

impl Selectors {
    /// In sops' order: each later selector that is set overrides the earlier ones. Regexes
    /// match anywhere in a key, as Go's `regexp.Match` does.
    pub fn encrypted(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix
            && path.iter().any(|k| k.ends_with(suffix.as_str()))
        {
            encrypted = false;
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|k| k.ends_with(suffix.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|k| re.is_match(k))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|k| re.is_match(k));
        }
        encrypted
    }
}

/// The key types sops supports besides age and OpenPGP; ordo names them in errors only.
const CLOUD_KEYS: [(&str, &str); 5] = [
    ("kms", "arn"),
    ("gcp_kms", "resource_id"),
    ("azure_kv", "vault_url"),
    ("hc_vault", "vault_address"),
    ("hckms", "key_id"),
];

impl Metadata {
    /// Reads the `sops` mapping of `file`.
    pub fn read(file: &str, sops: &Map<String, Value>) -> Result<Self, DecryptError> {
        let text = |field: &str| -> Result<Option<String>, DecryptError> {
            match sops.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(DecryptError::malformed(
                    file,
                    &format!("sops.{field}"),
                    "not a string",
                )),
            }
        };
        let required = |field: &str| {
            text(field)?
                .ok_or_else(|| DecryptError::malformed(file, &format!("sops.{field}"), "missing"))
        };
        for field in ["encrypted_comment_regex", "unencrypted_comment_regex"] {
            if text(field)?.is_some() {
                return Err(DecryptError::unsupported(file, format!("sops.{field}")));
            }
        }
        let regex = |field: &str| -> Result<Option<Regex>, DecryptError> {
            text(field)?
                .map(|r| Regex::new(&r))
                .transpose()
                .map_err(|e| DecryptError::malformed(file, &format!("sops.{field}"), e.to_string()))
        };
        let selectors = Selectors {
            unencrypted_suffix: text("unencrypted_suffix")?,
            encrypted_suffix: text("encrypted_suffix")?,
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
        };
        let Recipients { age, pgp, others } = recipients(file, sops)?;
        Ok(Metadata {
            lastmodified: required("lastmodified")?,
            mac: required("mac")?,
            age,
            pgp,
            other_recipients: others,
            selectors,
            mac_only_encrypted: matches!(sops.get("mac_only_encrypted"), Some(Value::Bool(true))),
        })
    }

    /// Every recipient, age first, then OpenPGP (`pgp:FINGERPRINT`), for messages.
    pub fn all_recipients(&self) -> String {
        let names: Vec<String> = self
            .age
            .iter()
            .map(|s| s.recipient.clone())
            .chain(self.pgp.iter().map(|s| format!("pgp:{}", s.fp)))
            .chain(self.other_recipients.iter().cloned())
            .collect();
        if names.is_empty() {
            "no recipient".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// The key entries of a file, by kind.
#[derive(Default)]
struct Recipients {
    age: Vec<AgeStanza>,
    pgp: Vec<PgpStanza>,
    others: Vec<String>,
}

/// The key entries: at the top (`age:`, `pgp:`…) or in a single key group. Several key
/// groups split the data key with Shamir's scheme, which ordo does not implement.
fn recipients(file: &str, sops: &Map<String, Value>) -> Result<Recipients, DecryptError> {
    let mut groups = vec![sops];
    if let Some(Value::Array(list)) = sops.get("key_groups") {
        if list.len() > 1 {
            return Err(DecryptError::unsupported(
                file,
                "several key_groups (Shamir secret sharing)",
            ));
        }
        groups.extend(list.iter().filter_map(Value::as_object));
    }
    let mut found = Recipients::default();
    for group in groups {
        for entry in entries(group, "age") {
            let field = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
            match (field("recipient"), field("enc")) {
                (Some(recipient), Some(enc)) => found.age.push(AgeStanza { recipient, enc }),
                _ => {
                    return Err(DecryptError::malformed(
                        file,
                        "sops.age",
                        "an entry lacks recipient or enc",
                    ));
                }
            }
        }
        for entry in entries(group, "pgp") {
            let field = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
            match (field("fp"), field("enc")) {
                (Some(fp), Some(enc)) => found.pgp.push(PgpStanza { fp, enc }),
                _ => {
                    return Err(DecryptError::malformed(
                        file,
                        "sops.pgp",
                        "an entry lacks fp or enc",
                    ));
                }
            }
        }
        for (kind, id) in CLOUD_KEYS {
            for entry in entries(group, kind) {
                let name = entry.get(id).and_then(Value::as_str).unwrap_or("?");
                found.others.push(format!("{kind}:{name}"));
            }
        }
    }
    Ok(found)
}

fn entries<'a>(
    group: &'a Map<String, Value>,
    kind: &str,
) -> impl Iterator<Item = &'a Map<String, Value>> {
    group
        .get(kind)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn selectors_follow_sops_order() {
        let suffix = Selectors {
            unencrypted_suffix: Some("_unencrypted".into()),
            ..Selectors::default()
        };
        assert!(suffix.encrypted(&path(&["data", "password"])));
        assert!(!suffix.encrypted(&path(&["note_unencrypted", "x"])));
        let regex = Selectors {
            encrypted_regex: Some(Regex::new("^(data|stringData)$").unwrap()),
            ..Selectors::default()
        };
        assert!(regex.encrypted(&path(&["stringData", "password"])));
        assert!(!regex.encrypted(&path(&["metadata", "name"])));
        let encrypted_suffix = Selectors {
            encrypted_suffix: Some("_secret".into()),
            ..Selectors::default()
        };
        assert!(!encrypted_suffix.encrypted(&path(&["user"])));
        assert!(encrypted_suffix.encrypted(&path(&["db_secret", "password"])));
        let unencrypted = Selectors {
            unencrypted_regex: Some(Regex::new("^meta").unwrap()),
            ..Selectors::default()
        };
        assert!(!unencrypted.encrypted(&path(&["metadata", "name"])));
    }

    fn sops(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn missing_fields_and_shamir_are_named() {
        let err = Metadata::read(
            "s.yaml",
            &sops(r#"{"lastmodified": "2026-01-01T00:00:00Z"}"#),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.yaml: malformed SOPS file: sops.mac: missing"
        );
        let err = Metadata::read(
            "s.yaml",
            &sops(r#"{"mac": "x", "lastmodified": "y", "key_groups": [{}, {}]}"#),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Shamir"), "{err}");
        let err = Metadata::read(
            "s.yaml",
            &sops(r#"{"mac": "x", "lastmodified": "y", "encrypted_comment_regex": "k"}"#),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("sops.encrypted_comment_regex is not supported"),
            "{err}"
        );
    }

    #[test]
    fn recipients_of_every_kind_are_named() {
        let meta = Metadata::read(
            "s.yaml",
            &sops(
                r#"{"mac": "x", "lastmodified": "y",
                    "age": [{"recipient": "age1abc", "enc": "E"}],
                    "pgp": [{"fp": "FFFF", "enc": "E"}],
                    "key_groups": [{"kms": [{"arn": "arn:k"}]}]}"#,
            ),
        )
        .unwrap();
        assert_eq!(meta.all_recipients(), "age1abc, pgp:FFFF, kms:arn:k");
    }
}
