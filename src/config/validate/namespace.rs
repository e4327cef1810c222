//! `createNamespace` and `managedNamespaceMetadata: {labels, annotations}` of an app (Argo CD's
//! `CreateNamespace=true` and `managedNamespaceMetadata`): ordo makes the app's Namespace.

use std::collections::BTreeMap;

use super::{ConfigError, Field, Fields, Value};
use crate::manifest::NamespaceMetadata;

const METADATA_KEYS: &[&str] = &["labels", "annotations"];

/// `None` unless `createNamespace: true`; metadata without it is refused, since it would be
/// silently ignored.
pub(super) fn read(app: &Fields) -> Result<Option<NamespaceMetadata>, ConfigError> {
    let create = app.bool_or("createNamespace", false)?;
    let Some(field) = app.get("managedNamespaceMetadata") else {
        return Ok(create.then(NamespaceMetadata::default));
    };
    if !create {
        return Err(field.fail("is only read with createNamespace: true"));
    }
    let f = Fields::open(app.file, field.node, field.path, METADATA_KEYS, &[])?;
    Ok(Some(NamespaceMetadata {
        labels: strings(f.get("labels"))?,
        annotations: strings(f.get("annotations"))?,
    }))
}

/// A mapping of strings (label or annotation keys to values).
pub(super) fn strings(field: Option<Field>) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(field) = field else {
        return Ok(BTreeMap::new());
    };
    let Value::Map(entries) = &field.node.value else {
        return Err(field.fail(format!(
            "expected a mapping of strings, found {}",
            field.node.value.kind()
        )));
    };
    entries
        .iter()
        .map(|e| match &e.value.value {
            Value::Str(s) | Value::Number(s) => Ok((e.key.clone(), s.clone())),
            Value::Bool(b) => Ok((e.key.clone(), b.to_string())),
            other => Err(field.fail(format!(
                "{}: expected a string, found {}",
                e.key,
                other.kind()
            ))),
        })
        .collect()
}
