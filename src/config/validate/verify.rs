//! `verify: {signers: FILE, mode: head}` of an app.

use super::{ConfigError, Fields};
use crate::config::{Verify, VerifyMode};

const VERIFY_KEYS: &[&str] = &["signers", "mode"];

pub(super) fn read(app: &Fields) -> Result<Option<Verify>, ConfigError> {
    let Some(field) = app.get("verify") else {
        return Ok(None);
    };
    let f = Fields::open(app.file, field.node, field.path.clone(), VERIFY_KEYS, &[])?;
    Ok(Some(Verify {
        signers: f.required("signers")?.path_buf()?,
        mode: f.one_of_or("mode", &VerifyMode::ALL)?,
    }))
}
