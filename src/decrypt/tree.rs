//! Walking a decrypted document the way sops' `Tree.Decrypt` does: mappings key by key,
//! sequence items under their parent's path, nulls skipped; each value decrypted when the
//! selectors say it was encrypted, and hashed (SHA-512, in walk order) into the MAC.

use serde_json::{Number, Value};
use sha2::{Digest, Sha512};

use super::DecryptError;
use super::metadata::Metadata;
use super::value::{self, Clear, DataKey, ValueError};
use crate::render::Secrets;

/// sops' `MACOnlyEncryptedInitialization` (sha256 of "sops"): seeds the hash when only
/// encrypted values count, so such a MAC never equals a full one.
const MAC_ONLY_ENCRYPTED_SEED: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// One file's decryption: its metadata, data key and running MAC.
pub(super) struct Walk<'a> {
    pub file: &'a str,
    pub recipient: &'a str,
    pub meta: &'a Metadata,
    pub key: &'a DataKey,
    hash: Sha512,
    /// Every value decrypted so far, to keep out of messages (see `render::Secrets`).
    pub secrets: Secrets,
}

impl<'a> Walk<'a> {
    pub fn new(file: &'a str, recipient: &'a str, meta: &'a Metadata, key: &'a DataKey) -> Self {
        let mut hash = Sha512::new();
        if meta.mac_only_encrypted {
            hash.update(MAC_ONLY_ENCRYPTED_SEED);
        }
        Walk {
            file,
            recipient,
            meta,
            key,
            hash,
            secrets: Secrets::default(),
        }
    }

    /// Decrypts one document (a mapping, its `sops` key already removed) in place.
    pub fn document(&mut self, doc: &mut Value) -> Result<(), DecryptError> {
        if !doc.is_object() {
            return Err(DecryptError::malformed(
                self.file,
                "document",
                "not a mapping",
            ));
        }
        self.value(doc, &mut Vec::new())
    }

    /// Checks the MAC over everything walked: decrypted with the data key, `lastmodified` as
    /// additional data, compared with the uppercase hex SHA-512 sops writes.
    pub fn verify_mac(self) -> Result<(), DecryptError> {
        let computed = format!("{:X}", self.hash.finalize());
        let mismatch = || DecryptError::MacMismatch {
            file: self.file.to_owned(),
            recipient: self.recipient.to_owned(),
        };
        let aad = rfc3339(&self.meta.lastmodified);
        match value::open(&self.meta.mac, self.key, &aad) {
            Ok(Clear::Str(stored)) if stored.as_bytes() == computed.as_bytes() => Ok(()),
            Ok(_) | Err(ValueError::Open) => Err(mismatch()),
            Err(ValueError::Format(reason)) => {
                Err(DecryptError::malformed(self.file, "sops.mac", reason))
            }
            Err(ValueError::Type(reason)) => {
                Err(DecryptError::malformed(self.file, "sops.mac", reason))
            }
        }
    }

    fn value(&mut self, value: &mut Value, path: &mut Vec<String>) -> Result<(), DecryptError> {
        match value {
            Value::Null => Ok(()),
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    path.push(key.clone());
                    self.value(item, path)?;
                    path.pop();
                }
                map.retain(|_, item| !is_comment(item));
                Ok(())
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    self.value(item, path)?;
                }
                // An encrypted comment in a sequence (JSON has none) is not an item.
                items.retain(|item| !is_comment(item));
                Ok(())
            }
            leaf => self.leaf(leaf, path),
        }
    }

    fn leaf(&mut self, leaf: &mut Value, path: &[String]) -> Result<(), DecryptError> {
        let encrypted = self.meta.selectors.encrypted(path);
        if !encrypted {
            if !self.meta.mac_only_encrypted {
                self.hash.update(mac_bytes(leaf));
            }
            return Ok(());
        }
        let Value::String(text) = leaf else {
            return Err(DecryptError::malformed(
                self.file,
                &path.join("."),
                "expected an encrypted value (ENC[…]), found cleartext",
            ));
        };
        // sops leaves empty strings as they are, and hashes them as nothing.
        if text.is_empty() {
            return Ok(());
        }
        let aad = format!("{}:", path.join(":"));
        let clear = value::open(text, self.key, &aad).map_err(|e| match e {
            ValueError::Open => DecryptError::Value {
                file: self.file.to_owned(),
                path: path.join("."),
                recipient: self.recipient.to_owned(),
            },
            ValueError::Format(reason) => {
                DecryptError::malformed(self.file, &path.join("."), reason)
            }
            ValueError::Type(reason) => DecryptError::malformed(self.file, &path.join("."), reason),
        })?;
        *leaf = self.cleartext(clear, path)?;
        if is_comment(leaf) {
            return Ok(());
        }
        match leaf {
            Value::String(text) => self.secrets.add(text),
            // A number may be a PIN; a boolean is one of two words, nothing to hide.
            Value::Number(n) => self.secrets.add(&n.to_string()),
            _ => {}
        }
        self.hash.update(mac_bytes(leaf));
        Ok(())
    }

    fn cleartext(&self, clear: Clear, path: &[String]) -> Result<Value, DecryptError> {
        Ok(match clear {
            Clear::Str(s) | Clear::Text(s) => Value::String(s.as_str().to_owned()),
            Clear::Int(i) => Value::from(i),
            Clear::Float(f) => Number::from_f64(f).map(Value::Number).ok_or_else(|| {
                DecryptError::malformed(self.file, &path.join("."), "a float that JSON cannot hold")
            })?,
            Clear::Bool(b) => Value::Bool(b),
            Clear::Comment => Value::String(COMMENT.to_owned()),
        })
    }
}

/// Marks a decrypted comment until its sequence drops it: a string sops never writes as a
/// value (NUL bytes).
const COMMENT: &str = "\0sops-comment\0";

fn is_comment(value: &Value) -> bool {
    matches!(value, Value::String(s) if s == COMMENT)
}

/// sops' `ToBytes`: strings as they are, ints in decimal, floats as Go prints them, booleans
/// as `True`/`False` (the Python sops' spelling).
fn mac_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string().into_bytes(),
            None => value::go_float(n.as_f64().unwrap_or(f64::NAN)).into_bytes(),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => Vec::new(),
    }
}

/// `lastmodified` as sops re-formats it (`time.RFC3339`) before using it as additional data:
/// fractional seconds dropped.
fn rfc3339(text: &str) -> String {
    match text.split_once('.') {
        Some((head, rest)) => {
            let zone = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{head}{zone}")
        }
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_loses_fractional_seconds_like_go() {
        assert_eq!(rfc3339("2026-11-29T16:09:56Z"), "2026-11-29T16:09:56Z");
        assert_eq!(rfc3339("2026-11-29T16:09:56.123Z"), "2026-11-29T16:09:56Z");
        assert_eq!(
            rfc3339("2026-11-29T16:09:56.5+02:00"),
            "2026-11-29T16:09:56+02:00"
        );
    }

    #[test]
    fn mac_bytes_match_sops_to_bytes() {
        assert_eq!(mac_bytes(&Value::Bool(true)), b"True");
        assert_eq!(mac_bytes(&serde_json::json!(3)), b"3");
        assert_eq!(mac_bytes(&serde_json::json!(2.0)), b"2");
        assert_eq!(mac_bytes(&serde_json::json!(2.5)), b"2.5");
        assert_eq!(mac_bytes(&serde_json::json!("x")), b"x");
    }
}
