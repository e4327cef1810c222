//! Opening a file's data key: with an age identity of the key file (the `sops.age` entries,
//! tried first: no public-key operation happens for an entry no identity matches), else with
//! an OpenPGP key named by a `sops.pgp` entry's fingerprint.

use std::io::Read;

use zeroize::Zeroizing;

use super::metadata::Metadata;
use super::pgp::{self, OpenError};
use super::value::DataKey;
use super::{DecryptError, Identities};

/// The data key and the recipient whose entry opened it (`age1…` or `pgp:FINGERPRINT`).
pub(super) fn open(
    file: &str,
    meta: &Metadata,
    identities: &Identities,
) -> Result<(String, DataKey), DecryptError> {
    for stanza in &meta.age {
        let armored = age::armor::ArmoredReader::new(stanza.enc.as_bytes());
        let Ok(decryptor) = age::Decryptor::new(armored) else {
            return Err(DecryptError::malformed(
                file,
                "sops.age.enc",
                "not an armored age file",
            ));
        };
        let Ok(mut reader) = decryptor.decrypt(identities.iter()) else {
            continue;
        };
        let mut bytes = Zeroizing::new(Vec::new());
        if reader.read_to_end(&mut bytes).is_err() {
            return Err(DecryptError::malformed(
                file,
                "sops.age.enc",
                "the data key does not decrypt",
            ));
        }
        return Ok((
            stanza.recipient.clone(),
            exact(file, "sops.age.enc", &bytes)?,
        ));
    }
    // An entry naming one of our keys whose message did not open: rpgp cannot tell a
    // damaged session key from one for a subkey we lack, so another entry may still open;
    // if none does, this one is named rather than "no key".
    let mut named_but_shut = None;
    for stanza in &meta.pgp {
        let keys = identities.pgp_named_by(&stanza.fp);
        if keys.is_empty() {
            continue;
        }
        let broken = |reason: &str| {
            DecryptError::malformed(
                file,
                "sops.pgp.enc",
                format!("the data key of pgp:{} {reason}", stanza.fp),
            )
        };
        match pgp::open(&stanza.enc, &keys) {
            Ok(bytes) => {
                let key = exact(file, "sops.pgp.enc", &bytes)?;
                return Ok((format!("pgp:{}", stanza.fp), key));
            }
            Err(OpenError::NotForUs) => {
                named_but_shut.get_or_insert_with(|| {
                    broken("does not open with that key (changed, or for a subkey not given)")
                });
            }
            Err(OpenError::Broken(reason)) => return Err(broken(&reason)),
        }
    }
    if let Some(err) = named_but_shut {
        return Err(err);
    }
    Err(DecryptError::NoMatchingKey {
        file: file.to_owned(),
        key_file: identities.origin().to_owned(),
        recipients: meta.all_recipients(),
    })
}

/// The data key, which sops always makes 32 bytes.
fn exact(file: &str, field: &str, bytes: &[u8]) -> Result<DataKey, DecryptError> {
    if bytes.len() != 32 {
        return Err(DecryptError::malformed(
            file,
            field,
            "the data key is not 32 bytes",
        ));
    }
    let mut key: DataKey = Zeroizing::new([0; 32]);
    key.copy_from_slice(bytes);
    Ok(key)
}
