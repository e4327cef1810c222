//! `allow: {namespaces, clusterKinds}` of an app: where it may write (see `sync/allow.rs`).

use super::{ConfigError, Fields};
use crate::sync::AllowList;
use crate::sync::allow::Patterns;

const ALLOW_KEYS: &[&str] = &["namespaces", "clusterKinds"];

pub(super) fn read(app: &Fields) -> Result<AllowList, ConfigError> {
    let Some(field) = app.get("allow") else {
        return Ok(AllowList::default());
    };
    let f = Fields::open(app.file, field.node, field.path, ALLOW_KEYS, &[])?;
    Ok(AllowList {
        namespaces: patterns(&f, "namespaces")?,
        cluster_kinds: patterns(&f, "clusterKinds")?,
    })
}

/// A list of globs; `[]` allows nothing of that sort, which is a valid choice for cluster kinds.
fn patterns(f: &Fields, key: &str) -> Result<Option<Patterns>, ConfigError> {
    let Some(field) = f.get(key) else {
        return Ok(None);
    };
    let text = field
        .items()?
        .iter()
        .map(|item| item.string())
        .collect::<Result<Vec<_>, _>>()?;
    Patterns::new(text)
        .map(Some)
        .map_err(|e| field.fail(format!("{e}; use globs like shop or shop-*")))
}
