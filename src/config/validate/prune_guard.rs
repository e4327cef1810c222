//! `pruneGuard: {allowKinds, maxShare, maxObjects}` of an app: what its prune never deletes
//! and when it asks first (see `sync/prune_guard.rs`).

use super::{ConfigError, Field, Fields};
use crate::config::node::Value;
use crate::sync::PruneGuard;
use crate::sync::prune_guard::PROTECTED_KINDS;

const GUARD_KEYS: &[&str] = &["allowKinds", "maxShare", "maxObjects"];

pub(super) fn read(app: &Fields) -> Result<PruneGuard, ConfigError> {
    let defaults = PruneGuard::default();
    let Some(field) = app.get("pruneGuard") else {
        return Ok(defaults);
    };
    let f = Fields::open(app.file, field.node, field.path, GUARD_KEYS, &[])?;
    let allow_kinds = match f.get("allowKinds") {
        Some(list) => list
            .items()?
            .iter()
            .map(protected_kind)
            .collect::<Result<_, _>>()?,
        None => defaults.allow_kinds,
    };
    let max_percent = match f.get("maxShare") {
        Some(share) => percent_of(&share)?,
        None => defaults.max_percent,
    };
    let max_objects = match f.get("maxObjects") {
        Some(n) => count(&n)?,
        None => defaults.max_objects,
    };
    Ok(PruneGuard {
        allow_kinds,
        max_percent,
        max_objects,
    })
}

fn protected_kind(item: &Field) -> Result<String, ConfigError> {
    let kind = item.string()?;
    if PROTECTED_KINDS.iter().any(|(_, k)| *k == kind) {
        return Ok(kind);
    }
    let names: Vec<&str> = PROTECTED_KINDS.iter().map(|(_, k)| *k).collect();
    Err(item.fail(format!(
        "{kind:?} is not a protected kind; other kinds are pruned anyway (protected: {})",
        names.join(", ")
    )))
}

/// A share between 0 and 1 (`0.5`), or a percentage (`"50%"`), as a whole percentage.
fn percent_of(field: &Field) -> Result<u32, ConfigError> {
    let parsed = match &field.node.value {
        Value::Number(n) => n.parse::<f64>().ok().map(|share| share * 100.0),
        Value::Str(s) => s
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok()),
        _ => None,
    };
    match parsed {
        Some(percent) if (0.0..=100.0).contains(&percent) => Ok(percent.round() as u32),
        _ => Err(field.fail(format!(
            "{} is not a share: use a number from 0 to 1 (0.5) or a percentage (\"50%\")",
            field.shown()
        ))),
    }
}

fn count(field: &Field) -> Result<usize, ConfigError> {
    match &field.node.value {
        Value::Number(n) => n.parse::<usize>().ok(),
        _ => None,
    }
    .ok_or_else(|| field.fail(format!("{} is not a whole number", field.shown())))
}
