//! Pure comparison and rendering of desired vs live objects.
//!
//! The sync layer does a server-side dry-run apply (field manager `ordo`) of each desired
//! object and hands the result here with the live object. The dry-run result already merges
//! fields owned by other managers and the server's defaults, so those are equal on both sides
//! and need no special handling: what remains after [`normalize`] is exactly what a sync would
//! change (the approach of Flux's `ssa` package).

mod managers;
mod normalize;
mod redact;
mod render;

use serde_json::Value;

pub use managers::others_managing;
pub use normalize::{fingerprint, normalize};
pub use redact::{REDACTED, REDACTED_NEW, REDACTED_OLD, redact};
pub use render::unified;

/// Most paths [`changed_paths`] returns: enough for a one-line summary, bounded for objects
/// that differ everywhere.
pub const MAX_CHANGED_PATHS: usize = 20;

/// How one object's desired state relates to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SyncStatus {
    /// Live equals desired.
    Synced,
    /// Live exists but a sync would change it.
    OutOfSync,
    /// Desired but not in the cluster.
    Missing,
    /// In the cluster, owned by the app, but no longer desired (a prune candidate).
    Extraneous,
}

impl SyncStatus {
    /// The name used in JSON, metrics labels and CLI output.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Synced => "Synced",
            SyncStatus::OutOfSync => "OutOfSync",
            SyncStatus::Missing => "Missing",
            SyncStatus::Extraneous => "Extraneous",
        }
    }
}

impl std::fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares the dry-run result with the live object: no live object is `Missing`, equal after
/// [`normalize`] is `Synced`, anything else `OutOfSync`. (`Extraneous` is decided by the caller,
/// which knows an object has no desired counterpart.)
pub fn compare(dry_run: &Value, live: Option<&Value>) -> SyncStatus {
    match live {
        None => SyncStatus::Missing,
        Some(live) if normalize(dry_run) == normalize(live) => SyncStatus::Synced,
        Some(_) => SyncStatus::OutOfSync,
    }
}

/// JSON paths that differ between the dry-run result and the live object after [`normalize`],
/// e.g. `spec.template.spec.containers[0].image`, in the dry-run's field order, at most
/// [`MAX_CHANGED_PATHS`]. Keys that are not plain identifiers are quoted
/// (`metadata.annotations["ordo.dev/tier"]`). Paths name fields only, never values, so they are
/// safe to show for Secrets.
pub fn changed_paths(dry_run: &Value, live: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    collect_changes(&normalize(dry_run), &normalize(live), "", &mut paths);
    paths
}

/// Walks both values together, recording the shallowest path at which they differ.
fn collect_changes(desired: &Value, live: &Value, path: &str, out: &mut Vec<String>) {
    if out.len() >= MAX_CHANGED_PATHS || desired == live {
        return;
    }
    match (desired, live) {
        (Value::Object(desired), Value::Object(live)) => {
            let live_only = live.keys().filter(|key| !desired.contains_key(*key));
            for key in desired.keys().chain(live_only) {
                let child = key_path(path, key);
                match (desired.get(key), live.get(key)) {
                    (Some(d), Some(l)) => collect_changes(d, l, &child, out),
                    _ => push_capped(out, child),
                }
            }
        }
        (Value::Array(desired), Value::Array(live)) => {
            for index in 0..desired.len().max(live.len()) {
                let child = format!("{path}[{index}]");
                match (desired.get(index), live.get(index)) {
                    (Some(d), Some(l)) => collect_changes(d, l, &child, out),
                    _ => push_capped(out, child),
                }
            }
        }
        _ => push_capped(
            out,
            if path.is_empty() {
                ".".into()
            } else {
                path.into()
            },
        ),
    }
}

fn push_capped(out: &mut Vec<String>, path: String) {
    if out.len() < MAX_CHANGED_PATHS {
        out.push(path);
    }
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, parent.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{parent}.{key}"),
        // Debug quoting escapes quotes and backslashes inside the key.
        (false, _) => format!("{parent}[{key:?}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "backend", "namespace": "travel"},
            "spec": {
                "replicas": 2,
                "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}
            }
        })
    }

    fn with(mut object: Value, pointer: &str, value: Value) -> Value {
        if let Some(slot) = object.pointer_mut(pointer) {
            *slot = value;
        } else if let Some((parent, key)) = pointer.rsplit_once('/') {
            match object.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.insert(key.replace("~1", "/"), value);
                }
                Some(Value::Array(items)) => items.push(value),
                _ => {}
            }
        }
        object
    }

    #[test]
    fn sync_status_names_are_pascal_case() {
        let cases = [
            (SyncStatus::Synced, "Synced"),
            (SyncStatus::OutOfSync, "OutOfSync"),
            (SyncStatus::Missing, "Missing"),
            (SyncStatus::Extraneous, "Extraneous"),
        ];
        for (status, name) in cases {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(serde_json::to_value(status).ok(), Some(json!(name)));
            assert_eq!(
                serde_json::from_value::<SyncStatus>(json!(name)).ok(),
                Some(status)
            );
        }
    }

    #[test]
    fn compare_decides_status() {
        let live = deployment();
        let cases = [
            ("identical", deployment(), Some(&live), SyncStatus::Synced),
            (
                "only resourceVersion differs",
                with(deployment(), "/metadata/resourceVersion", json!("99")),
                Some(&live),
                SyncStatus::Synced,
            ),
            (
                "only status differs",
                with(deployment(), "/status", json!({"readyReplicas": 1})),
                Some(&live),
                SyncStatus::Synced,
            ),
            (
                "only managedFields and generation differ",
                with(
                    with(deployment(), "/metadata/generation", json!(7)),
                    "/metadata/managedFields",
                    json!([{"manager": "kubectl"}]),
                ),
                Some(&live),
                SyncStatus::Synced,
            ),
            (
                "replicas changed",
                with(deployment(), "/spec/replicas", json!(3)),
                Some(&live),
                SyncStatus::OutOfSync,
            ),
            (
                "label added",
                with(deployment(), "/metadata/labels", json!({"team": "a"})),
                Some(&live),
                SyncStatus::OutOfSync,
            ),
            ("no live object", deployment(), None, SyncStatus::Missing),
        ];
        for (name, dry_run, live, want) in cases {
            assert_eq!(compare(&dry_run, live), want, "{name}");
        }
    }

    #[test]
    fn changed_paths_names_each_difference() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            ("equal", deployment(), vec![]),
            (
                "volatile only",
                with(deployment(), "/metadata/uid", json!("u")),
                vec![],
            ),
            (
                "image",
                with(
                    deployment(),
                    "/spec/template/spec/containers/0/image",
                    json!("app:2"),
                ),
                vec!["spec.template.spec.containers[0].image"],
            ),
            (
                "replicas and added annotation",
                with(
                    with(deployment(), "/spec/replicas", json!(3)),
                    "/metadata/annotations",
                    json!({"ordo.dev/tier": "backend"}),
                ),
                vec!["metadata.annotations", "spec.replicas"],
            ),
            (
                "container added",
                with(
                    deployment(),
                    "/spec/template/spec/containers/1",
                    json!({"name": "sidecar"}),
                ),
                vec!["spec.template.spec.containers[1]"],
            ),
            (
                "field removed from desired",
                {
                    let mut d = deployment();
                    if let Some(spec) = d["spec"].as_object_mut() {
                        spec.remove("replicas");
                    }
                    d
                },
                vec!["spec.replicas"],
            ),
        ];
        for (name, dry_run, want) in cases {
            assert_eq!(changed_paths(&dry_run, &deployment()), want, "{name}");
        }
    }

    #[test]
    fn changed_paths_quotes_keys_that_are_not_identifiers() {
        let live = with(
            deployment(),
            "/metadata/annotations",
            json!({"ordo.dev/tier": "backend"}),
        );
        let dry_run = with(
            live.clone(),
            "/metadata/annotations/ordo.dev~1tier",
            json!("frontend"),
        );
        assert_eq!(
            changed_paths(&dry_run, &live),
            vec![r#"metadata.annotations["ordo.dev/tier"]"#]
        );
    }

    #[test]
    fn changed_paths_is_capped() {
        let numbered = |offset: i64| -> Value {
            Value::Object(
                (0..50)
                    .map(|i| (format!("k{i}"), json!(i + offset)))
                    .collect(),
            )
        };
        let dry_run = with(deployment(), "/data", numbered(0));
        let live = with(deployment(), "/data", numbered(100));
        let paths = changed_paths(&dry_run, &live);
        assert_eq!(paths.len(), MAX_CHANGED_PATHS);
        assert_eq!(paths[0], "data.k0");
        assert_eq!(paths[MAX_CHANGED_PATHS - 1], "data.k19");
    }

    #[test]
    fn changed_paths_stops_at_the_shallowest_difference() {
        let dry_run = with(deployment(), "/data", json!({"a": 1, "b": 2}));
        assert_eq!(changed_paths(&dry_run, &deployment()), vec!["data"]);
    }
}
