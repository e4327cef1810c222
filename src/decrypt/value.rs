//! One encrypted value, `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, as sops' `aes/cipher.go`
//! writes it: AES-256-GCM with a 32-byte IV (sops' `nonceSize`), the ciphertext and the
//! 16-byte tag base64'd apart, and the value's path (`a:b:c:`) as additional data, so a value
//! moved to another key no longer opens.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// AES-256-GCM with sops' 32-byte IV (GCM derives the counter block from it by GHASH).
type SopsGcm = AesGcm<Aes256, U32>;

/// The data key every value of a file is encrypted with; wiped when dropped.
pub(super) type DataKey = Zeroizing<[u8; 32]>;

/// What a value decrypts to, by the `type:` sops recorded when it encrypted it.
#[derive(Debug, PartialEq)]
pub(super) enum Clear {
    Str(Zeroizing<String>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `bytes` and `time`: kept as the text they were encrypted from.
    Text(Zeroizing<String>),
    /// A YAML comment sops encrypted: not part of the document, nor of the MAC.
    Comment,
}

/// Why a value could not be opened; never carries the value.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ValueError {
    /// Not `ENC[AES256_GCM,…]`, bad base64, or an IV or tag of the wrong size.
    Format(&'static str),
    /// The tag does not verify: another data key, another path, or an edited value.
    Open,
    /// Opened, but not the `type:` it claims.
    Type(String),
}

/// Decrypts `text` (an `ENC[…]` string) with `key`, bound to `path` (`a:b:c:`).
pub(super) fn open(text: &str, key: &DataKey, path: &str) -> Result<Clear, ValueError> {
    let sealed = parse(text)?;
    let cipher = SopsGcm::new_from_slice(key.as_slice()).map_err(|_| ValueError::Open)?;
    let mut message = sealed.data;
    message.extend_from_slice(&sealed.tag);
    let clear = cipher
        .decrypt(
            Nonce::<U32>::from_slice(&sealed.iv),
            Payload {
                msg: &message,
                aad: path.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| ValueError::Open)?;
    typed(&clear, &sealed.kind)
}

struct Sealed {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

/// Reads the fields in sops' fixed order (its regex is
/// `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`).
fn parse(text: &str) -> Result<Sealed, ValueError> {
    let inner = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or(ValueError::Format("not an ENC[AES256_GCM,…] value"))?;
    let rest = inner
        .strip_prefix("data:")
        .ok_or(ValueError::Format("no data"))?;
    let (data, rest) = rest.split_once(",iv:").ok_or(ValueError::Format("no iv"))?;
    let (iv, rest) = rest
        .split_once(",tag:")
        .ok_or(ValueError::Format("no tag"))?;
    let (tag, kind) = rest
        .split_once(",type:")
        .ok_or(ValueError::Format("no type"))?;
    let decode = |field: &str, what| STANDARD.decode(field).map_err(|_| ValueError::Format(what));
    let sealed = Sealed {
        data: decode(data, "data is not base64")?,
        iv: decode(iv, "iv is not base64")?,
        tag: decode(tag, "tag is not base64")?,
        kind: kind.to_owned(),
    };
    if sealed.iv.len() != 32 {
        return Err(ValueError::Format("iv is not 32 bytes"));
    }
    if sealed.tag.len() != 16 {
        return Err(ValueError::Format("tag is not 16 bytes"));
    }
    Ok(sealed)
}

/// Converts the opened bytes the way sops' `Cipher.Decrypt` does for each `type:`.
fn typed(clear: &[u8], kind: &str) -> Result<Clear, ValueError> {
    let text = || {
        std::str::from_utf8(clear)
            .map(|s| Zeroizing::new(s.to_owned()))
            .map_err(|_| ValueError::Type(format!("{kind} that is not UTF-8")))
    };
    let wrong = || ValueError::Type(format!("not a valid {kind}"));
    Ok(match kind {
        "str" => Clear::Str(text()?),
        "int" => Clear::Int(text()?.parse().map_err(|_| wrong())?),
        "float" => Clear::Float(text()?.parse().map_err(|_| wrong())?),
        "bool" => Clear::Bool(go_bool(&text()?).ok_or_else(wrong)?),
        "bytes" | "time" => Clear::Text(text()?),
        "comment" => Clear::Comment,
        other => return Err(ValueError::Type(format!("unknown type {other:?}"))),
    })
}

/// Go's `strconv.ParseBool`, which sops uses (it writes `True`/`False`).
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`, which sops hashes floats with: the shortest
/// digits that read back, never an exponent (Rust's `Display` for `f64` does the same).
pub(super) fn go_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    format!("{f}")
}

#[cfg(test)]
pub(super) mod testing {
    //! Seals values the way sops does, for unit tests that need no sops binary.
    use super::*;

    pub fn seal(clear: &str, kind: &str, key: &DataKey, path: &str, iv: [u8; 32]) -> String {
        let cipher = SopsGcm::new_from_slice(key.as_slice()).unwrap();
        let out = cipher
            .encrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: clear.as_bytes(),
                    aad: path.as_bytes(),
                },
            )
            .unwrap();
        let (data, tag) = out.split_at(out.len() - 16);
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            STANDARD.encode(data),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::seal;
    use super::*;

    fn key() -> DataKey {
        Zeroizing::new([7; 32])
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_path_only() {
        let sealed = seal("hunter2", "str", &key(), "data:password:", [1; 32]);
        assert_eq!(
            open(&sealed, &key(), "data:password:"),
            Ok(Clear::Str(Zeroizing::new("hunter2".into())))
        );
        assert_eq!(open(&sealed, &key(), "data:other:"), Err(ValueError::Open));
        let other = Zeroizing::new([8; 32]);
        assert_eq!(
            open(&sealed, &other, "data:password:"),
            Err(ValueError::Open)
        );
    }

    #[test]
    fn types_convert_as_sops_does() {
        let k = key();
        let at = |clear, kind| open(&seal(clear, kind, &k, "a:", [2; 32]), &k, "a:");
        assert_eq!(at("42", "int"), Ok(Clear::Int(42)));
        assert_eq!(at("1.5", "float"), Ok(Clear::Float(1.5)));
        assert_eq!(at("True", "bool"), Ok(Clear::Bool(true)));
        assert_eq!(at("False", "bool"), Ok(Clear::Bool(false)));
        assert_eq!(at(" note", "comment"), Ok(Clear::Comment));
        assert!(matches!(at("x", "int"), Err(ValueError::Type(_))));
        assert!(matches!(at("x", "blob"), Err(ValueError::Type(_))));
    }

    #[test]
    fn malformed_values_say_which_field() {
        let k = key();
        assert_eq!(
            open("plain", &k, "a:"),
            Err(ValueError::Format("not an ENC[AES256_GCM,…] value"))
        );
        assert_eq!(
            open(
                "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
                &k,
                "a:"
            ),
            Err(ValueError::Format("iv is not 32 bytes"))
        );
        assert_eq!(
            open("ENC[AES256_GCM,data:!,iv:AA==,tag:AA==,type:str]", &k, "a:"),
            Err(ValueError::Format("data is not base64"))
        );
    }

    #[test]
    fn floats_print_like_go_format_float() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.1), "0.1");
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(go_float(1e-7), "0.0000001");
    }
}
