//! Hides Secret values from anything ordo shows (diffs, live manifests), while keeping visible
//! *that* a value changed.
//!
//! `stringData` is write-only: the API server folds it into `data` (base64) on write, so a
//! dry-run result has the value under `data` and live objects never have `stringData`. This
//! module does not translate between the two; it redacts whichever fields it is given, so a raw
//! manifest with `stringData` is as safe to show as a dry-run result with `data`.

use serde_json::Value;

use super::normalize::LAST_APPLIED_ANNOTATION;

/// Placeholder for a secret value that is the same on both sides, or has no counterpart.
pub const REDACTED: &str = "<redacted>";
/// Placeholder for the live side of a secret value that changed.
pub const REDACTED_OLD: &str = "<redacted: old>";
/// Placeholder for the desired side of a secret value that changed.
pub const REDACTED_NEW: &str = "<redacted: new>";

/// The Secret fields whose values are confidential.
const SECRET_FIELDS: &[&str] = &["data", "stringData"];

/// Redacts every value under a Secret's `data` and `stringData` to `"<redacted>"`, keeping the
/// keys. Only core `v1` Secrets are touched; every other object is returned as is. The
/// `kubectl.kubernetes.io/last-applied-configuration` annotation is redacted too, because on a
/// Secret it echoes the plaintext manifest. Items of a `*List` are redacted one by one.
pub fn redact(object: &Value) -> Value {
    let mut out = object.clone();
    redact_in_place(&mut out);
    out
}

/// Redacts a live/desired pair for display: like [`redact`] on each side, except that a key
/// present on both sides with different values becomes `"<redacted: old>"` on the live side and
/// `"<redacted: new>"` on the desired side, so the diff still shows that it changed. No value,
/// nor anything derived from one, is kept.
pub(crate) fn redact_pair(
    live: Option<&Value>,
    desired: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    // If either side is a Secret, both are: a live object read from a list can lack its
    // apiVersion/kind, and that must never let its values through unredacted.
    let either_secret = live.is_some_and(is_secret) || desired.is_some_and(is_secret);
    let as_secret = |v: &Value| {
        let mut v = v.clone();
        if either_secret && let Some(map) = v.as_object_mut() {
            map.insert("apiVersion".into(), "v1".into());
            map.insert("kind".into(), "Secret".into());
        }
        v
    };
    let (live_owned, desired_owned) = (live.map(as_secret), desired.map(as_secret));
    let (live, desired) = (live_owned.as_ref(), desired_owned.as_ref());
    let mut old = live.map(redact);
    let mut new = desired.map(redact);
    if let (Some(live), Some(desired), Some(old), Some(new)) =
        (live, desired, old.as_mut(), new.as_mut())
        && is_secret(live)
        && is_secret(desired)
    {
        for field in SECRET_FIELDS {
            mark_changed(live.get(*field), desired.get(*field), old, new, field);
        }
    }
    (old, new)
}

fn is_secret(object: &Value) -> bool {
    object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Secret")
}

fn redact_in_place(object: &mut Value) {
    if is_list(object) {
        if let Some(items) = object.get_mut("items").and_then(Value::as_array_mut) {
            items.iter_mut().for_each(redact_in_place);
        }
        return;
    }
    if !is_secret(object) {
        return;
    }
    for field in SECRET_FIELDS {
        if let Some(value) = object.get_mut(*field) {
            redact_values(value);
        }
    }
    if let Some(last_applied) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|annotations| annotations.get_mut(LAST_APPLIED_ANNOTATION))
    {
        *last_applied = Value::from(REDACTED);
    }
}

fn is_list(object: &Value) -> bool {
    object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"))
}

/// Replaces every value of a map with the placeholder. Anything other than a map (malformed, or
/// null) is replaced whole, since we cannot tell which part of it is secret.
fn redact_values(value: &mut Value) {
    match value {
        Value::Object(map) => map.values_mut().for_each(|v| *v = Value::from(REDACTED)),
        Value::Null => {}
        other => *other = Value::from(REDACTED),
    }
}

/// Marks keys whose original values differ between live and desired. Reads the originals only
/// to compare them; writes nothing but placeholders.
fn mark_changed(
    live: Option<&Value>,
    desired: Option<&Value>,
    old: &mut Value,
    new: &mut Value,
    field: &str,
) {
    let (Some(live), Some(desired)) = (live, desired) else {
        return;
    };
    let (Some(old_field), Some(new_field)) = (old.get_mut(field), new.get_mut(field)) else {
        return;
    };
    match (
        live.as_object(),
        desired.as_object(),
        old_field.as_object_mut(),
        new_field.as_object_mut(),
    ) {
        (Some(live_map), Some(desired_map), Some(old_map), Some(new_map)) => {
            for (key, live_value) in live_map {
                if desired_map.get(key).is_some_and(|d| d != live_value) {
                    old_map.insert(key.clone(), Value::from(REDACTED_OLD));
                    new_map.insert(key.clone(), Value::from(REDACTED_NEW));
                }
            }
        }
        _ if live != desired => {
            *old_field = Value::from(REDACTED_OLD);
            *new_field = Value::from(REDACTED_NEW);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(field: &str, entries: Value) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "travel"},
            field: entries,
            "type": "Opaque"
        })
    }

    #[test]
    fn redact_hides_secret_values_but_keeps_keys() {
        let cases = [
            (
                "data",
                json!({"password": "aHVudGVyMg==", "user": "YWRtaW4="}),
            ),
            (
                "stringData",
                json!({"password": "hunter2", "user": "admin"}),
            ),
        ];
        for (field, entries) in cases {
            let redacted = redact(&secret(field, entries));
            assert_eq!(
                redacted[field],
                json!({"password": REDACTED, "user": REDACTED}),
                "{field}"
            );
            assert_eq!(redacted["metadata"]["name"], "db");
            assert_eq!(redacted["type"], "Opaque");
        }
    }

    #[test]
    fn redact_leaves_non_secrets_alone() {
        let cases = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"mode": "fast"}}),
            // Not the core Secret: some other group's kind that happens to share the name.
            json!({"apiVersion": "example.com/v1", "kind": "Secret", "data": {"k": "v"}}),
        ];
        for object in cases {
            assert_eq!(redact(&object), object);
        }
    }

    #[test]
    fn redact_hides_last_applied_on_secrets() {
        let mut object = secret("data", json!({"password": "aHVudGVyMg=="}));
        object["metadata"]["annotations"] = json!({
            LAST_APPLIED_ANNOTATION: "{\"stringData\":{\"password\":\"hunter2\"}}"
        });
        let text = redact(&object).to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
    }

    #[test]
    fn redact_replaces_malformed_data_whole() {
        let redacted = redact(&secret("data", json!("aHVudGVyMg==")));
        assert_eq!(redacted["data"], json!(REDACTED));
    }

    #[test]
    fn redact_descends_into_lists() {
        let list = json!({
            "apiVersion": "v1",
            "kind": "SecretList",
            "items": [secret("data", json!({"password": "aHVudGVyMg=="}))]
        });
        assert_eq!(redact(&list)["items"][0]["data"]["password"], REDACTED);
    }

    #[test]
    fn redact_pair_marks_changed_values_only() {
        let live = secret(
            "data",
            json!({"same": "YQ==", "changed": "b2xk", "gone": "eA=="}),
        );
        let desired = secret(
            "data",
            json!({"same": "YQ==", "changed": "bmV3", "added": "eQ=="}),
        );
        let (old, new) = redact_pair(Some(&live), Some(&desired));
        let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
        assert_eq!(
            old["data"],
            json!({"same": REDACTED, "changed": REDACTED_OLD, "gone": REDACTED})
        );
        assert_eq!(
            new["data"],
            json!({"same": REDACTED, "changed": REDACTED_NEW, "added": REDACTED})
        );
    }

    #[test]
    fn redact_pair_with_one_side_redacts_that_side() {
        let desired = secret("stringData", json!({"password": "hunter2"}));
        let (old, new) = redact_pair(None, Some(&desired));
        assert!(old.is_none());
        assert_eq!(new.unwrap_or_default()["stringData"]["password"], REDACTED);
    }
}
