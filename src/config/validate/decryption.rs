//! `decryption: {provider: sops, keyFile: PATH}` of an app.

use super::{ConfigError, Fields};
use crate::config::{Decryption, DecryptionProvider};

const DECRYPTION_KEYS: &[&str] = &["provider", "keyFile"];
/// Keys people write an age key under, inline.
const DECRYPTION_INLINE: &[(&str, &str)] = &[("key", "keyFile"), ("ageKey", "keyFile")];

pub(super) fn read(app: &Fields) -> Result<Option<Decryption>, ConfigError> {
    let Some(field) = app.get("decryption") else {
        return Ok(None);
    };
    let f = Fields::open(
        app.file,
        field.node,
        field.path,
        DECRYPTION_KEYS,
        DECRYPTION_INLINE,
    )?;
    Ok(Some(Decryption {
        provider: f.required("provider")?.one_of(&DecryptionProvider::ALL)?,
        key_file: f.required("keyFile")?.path_buf()?,
    }))
}
