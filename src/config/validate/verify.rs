//! `verify: {signers: FILE, mode: head, allowNonFastForward: false}` of an app.

use super::{ConfigError, Fields};
use crate::config::{Verify, VerifyMode};

const VERIFY_KEYS: &[&str] = &["signers", "mode", "allowNonFastForward"];

pub(super) fn read(app: &Fields) -> Result<Option<Verify>, ConfigError> {
    let Some(field) = app.get("verify") else {
        return Ok(None);
    };
    let f = Fields::open(app.file, field.node, field.path.clone(), VERIFY_KEYS, &[])?;
    Ok(Some(Verify {
        signers: f.required("signers")?.path_buf()?,
        mode: f.one_of_or("mode", &VerifyMode::ALL)?,
        allow_non_fast_forward: f.bool_or("allowNonFastForward", false)?,
    }))
}
