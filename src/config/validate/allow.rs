//! `allow: {namespaces, clusterKinds}` of an app: where it may write (see `sync/allow.rs`).
//! A key left out means the safe default, not "anything": the app's own namespace, no
//! cluster-scoped kind. `["*"]` widens it, explicitly.

use super::{ConfigError, Fields};
use crate::sync::AllowList;
use crate::sync::allow::Patterns;

const ALLOW_KEYS: &[&str] = &["namespaces", "clusterKinds"];

/// The app's allow list; `namespace` is the app's own. ordo's namespace is closed later, by
/// whoever knows it (the agent, `ordo sync --config`), unless the app is the platform's.
/// With `creates_namespace`, the app's own Namespace object is allowed too.
pub(super) fn read(
    app: &Fields,
    namespace: &str,
    creates_namespace: bool,
) -> Result<AllowList, ConfigError> {
    let own = || vec![namespace.to_owned()];
    let made = creates_namespace.then(|| namespace.to_owned());
    let Some(field) = app.get("allow") else {
        return Ok(AllowList {
            namespaces: Some(defaults(app, own())?),
            cluster_kinds: Some(defaults(app, Vec::new())?),
            closed_namespace: None,
            namespace_object: made,
        });
    };
    let f = Fields::open(app.file, field.node, field.path, ALLOW_KEYS, &[])?;
    Ok(AllowList {
        namespaces: Some(patterns(&f, "namespaces", own())?),
        cluster_kinds: Some(patterns(&f, "clusterKinds", Vec::new())?),
        closed_namespace: None,
        namespace_object: made,
    })
}

/// A default list: the app's namespace (a DNS label, always a valid glob) or nothing.
fn defaults(app: &Fields, text: Vec<String>) -> Result<Patterns, ConfigError> {
    Patterns::new(text).map_err(|message| ConfigError::Invalid {
        file: app.file.to_owned(),
        line: None,
        path: "allow".to_owned(),
        message,
    })
}

/// A list of globs; `[]` allows nothing of that sort, which is a valid choice for cluster kinds.
fn patterns(f: &Fields, key: &str, default: Vec<String>) -> Result<Patterns, ConfigError> {
    let Some(field) = f.get(key) else {
        return defaults(f, default);
    };
    let text = field
        .items()?
        .iter()
        .map(|item| item.string())
        .collect::<Result<Vec<_>, _>>()?;
    Patterns::new(text).map_err(|e| field.fail(format!("{e}; use globs like shop or shop-*")))
}
