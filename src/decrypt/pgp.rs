//! OpenPGP secret keys of a key file, and the data key of a `sops.pgp` entry opened with
//! them (rpgp, natively: no gpg, no keyring, no agent at run time).
//!
//! sops writes one entry per `--pgp FINGERPRINT`: `fp` as given (the primary key's
//! fingerprint, usually) and `enc`, an armored OpenPGP message (gpg's, encrypted to the key's
//! encryption subkey) whose literal data is the 32-byte data key.

use std::io::Read;

use pgp::composed::{Deserializable, Message, SignedSecretKey};
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

/// The armor lines of a secret key block, as `gpg --armor --export-secret-keys` writes them.
pub(super) const BEGIN_SECRET: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
pub(super) const END_SECRET: &str = "-----END PGP PRIVATE KEY BLOCK-----";
/// A public key block where a secret one belongs is named in the error.
pub(super) const BEGIN_PUBLIC: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// One transferable secret key and the fingerprints (primary first, then subkeys, uppercase
/// hex) a `sops.pgp` entry may name it by. rpgp wipes the secret parameters on drop.
pub(super) struct PgpKey {
    key: SignedSecretKey,
    fingerprints: Vec<String>,
}

impl PgpKey {
    /// Every key of one armored block. A passphrase-protected key is refused: the key file
    /// is already the secret (a mounted Secret), and a passphrase stored beside it would add
    /// nothing but a second file to leak.
    pub(super) fn parse_block(text: &str) -> Result<Vec<PgpKey>, String> {
        let (keys, _) = SignedSecretKey::from_string_many(text)
            .map_err(|e| format!("the OpenPGP secret key block does not parse: {e}"))?;
        let mut out = Vec::new();
        for key in keys {
            let key =
                key.map_err(|e| format!("the OpenPGP secret key block does not parse: {e}"))?;
            let fingerprints: Vec<String> = std::iter::once(key.primary_key.fingerprint())
                .chain(key.secret_subkeys.iter().map(|s| s.key.fingerprint()))
                .map(|fp| format!("{fp:X}"))
                .collect();
            let locked = key.primary_key.secret_params().is_encrypted()
                || key
                    .secret_subkeys
                    .iter()
                    .any(|s| s.key.secret_params().is_encrypted());
            if locked {
                return Err(format!(
                    "OpenPGP key {} is protected by a passphrase; ordo reads passphrase-less \
                     keys only (gpg --passwd to remove it, then export the key again)",
                    fingerprints[0]
                ));
            }
            out.push(PgpKey { key, fingerprints });
        }
        if out.is_empty() {
            return Err("the OpenPGP secret key block holds no key".to_owned());
        }
        Ok(out)
    }

    /// The primary key's fingerprint, for messages.
    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprints[0]
    }

    /// Whether a `sops.pgp` entry's `fp` names this key.
    pub(super) fn named_by(&self, fp: &str) -> bool {
        names_key(fp, &self.fingerprints)
    }
}

/// Whether `fp`, as sops stored it from `--pgp`, names a key with `fingerprints`: a full
/// fingerprint of the primary key or a subkey, or a long key ID (the last 16 hex digits of a
/// v4 fingerprint). Spaces, a `0x` prefix, gpg's `!` suffix and case are ignored, since
/// people copy fingerprints from `gpg --list-keys` output in all those shapes. Short (8-digit)
/// IDs are not taken: they collide too easily.
pub(super) fn names_key(fp: &str, fingerprints: &[String]) -> bool {
    let wanted: String = fp
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .trim_end_matches('!')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if wanted.len() < 16 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    fingerprints
        .iter()
        .any(|known| *known == wanted || (wanted.len() == 16 && known.ends_with(&wanted)))
}

/// Why an entry's data key could not be taken from its message.
pub(super) enum OpenError {
    /// None of the keys is a recipient of the message.
    NotForUs,
    /// The message is for one of the keys but does not open: changed or malformed.
    Broken(String),
}

/// The data key in the armored message `enc`, opened with `keys`.
pub(super) fn open(enc: &str, keys: &[&PgpKey]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (message, _) = Message::from_string(enc)
        .map_err(|e| OpenError::Broken(format!("not an armored OpenPGP message: {e}")))?;
    // Passphrase-less keys only (see `parse_block`): one empty password per key.
    let empty = Password::empty();
    let passwords = vec![&empty; keys.len()];
    let secret_keys = keys.iter().map(|k| &k.key).collect();
    let mut message = match message.decrypt_with_keys(passwords, secret_keys) {
        Ok(message) => message,
        Err(pgp::errors::Error::MissingKey) => return Err(OpenError::NotForUs),
        Err(e) => return Err(OpenError::Broken(format!("does not decrypt: {e}"))),
    };
    if message.is_compressed() {
        message = message
            .decompress()
            .map_err(|e| OpenError::Broken(format!("does not decompress: {e}")))?;
    }
    // A data key is 32 bytes; reading a little more lets the caller see a longer one, and
    // bounds what a crafted message can make us allocate.
    let mut data = Zeroizing::new(Vec::new());
    message
        .by_ref()
        .take(64)
        .read_to_end(&mut data)
        .map_err(|e| OpenError::Broken(format!("does not decrypt: {e}")))?;
    // Reading to the end checks the integrity (MDC) trailer.
    let mut rest = Zeroizing::new(Vec::new());
    message
        .read_to_end(&mut rest)
        .map_err(|e| OpenError::Broken(format!("does not decrypt: {e}")))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "AEB624E2530B28A44909C41F5D5D716881956171";
    const SUBKEY: &str = "18FE28A6316DEE39ED3E1D5A50D07CE3FD4F4F3F";

    #[test]
    fn entries_name_a_key_by_fingerprint_or_long_id() {
        let fingerprints = [PRIMARY.to_owned(), SUBKEY.to_owned()];
        let cases = [
            ("primary fingerprint", PRIMARY, true),
            ("subkey fingerprint", SUBKEY, true),
            ("lowercase", &PRIMARY.to_ascii_lowercase() as &str, true),
            (
                "spaced as gpg prints it",
                "AEB6 24E2 530B 28A4 4909  C41F 5D5D 7168 8195 6171",
                true,
            ),
            (
                "0x prefix",
                "0xAEB624E2530B28A44909C41F5D5D716881956171",
                true,
            ),
            (
                "gpg's exact-key suffix",
                "18FE28A6316DEE39ED3E1D5A50D07CE3FD4F4F3F!",
                true,
            ),
            ("long key ID of the primary", "5D5D716881956171", true),
            ("long key ID of the subkey", "50D07CE3FD4F4F3F", true),
            ("short key ID", "81956171", false),
            (
                "another key",
                "0123456789ABCDEF0123456789ABCDEF01234567",
                false,
            ),
            ("a prefix is no match", "AEB624E2530B28A4", false),
            ("not hex", "ops@example.com", false),
            ("empty", "", false),
        ];
        for (name, fp, expected) in cases {
            assert_eq!(names_key(fp, &fingerprints), expected, "{name}: {fp}");
        }
    }

    #[test]
    fn garbage_is_not_a_key_block() {
        let text = format!("{BEGIN_SECRET}\n\nbm90IGEga2V5\n{END_SECRET}\n");
        let err = PgpKey::parse_block(&text).err().unwrap_or_default();
        assert!(err.contains("does not parse"), "{err}");
    }
}
