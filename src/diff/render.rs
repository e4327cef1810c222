//! Renders a live/desired pair as a unified YAML diff, the way `ordo diff` and the HTTP diff
//! endpoint show it.

use serde_json::Value;
use similar::TextDiff;

use super::normalize::normalize;
use super::redact::redact_pair;

/// Lines of unchanged YAML around each change, as `diff -u` and `kubectl diff` show.
const CONTEXT_LINES: usize = 3;

/// Unified diff (YAML) between `live` (old; `None` when the object does not exist yet) and
/// `desired` (new; `None` when the object is extraneous and would be pruned), after
/// [`normalize`] and Secret redaction. Headers name the object, e.g.
/// `--- live Deployment/travel/backend` and `+++ desired Deployment/travel/backend`. Returns an
/// empty string when there is no difference.
pub fn unified(id: &str, live: Option<&Value>, desired: Option<&Value>) -> String {
    let live = live.map(normalize);
    let desired = desired.map(normalize);
    // Redact after normalizing so the comparison that picks old/new markers ignores the same
    // volatile fields the diff does.
    let (old, new) = redact_pair(live.as_ref(), desired.as_ref());
    let old_text = old.map(to_yaml).unwrap_or_default();
    let new_text = new.map(to_yaml).unwrap_or_default();
    if old_text == new_text {
        return String::new();
    }
    TextDiff::from_lines(&old_text, &new_text)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(&format!("live {id}"), &format!("desired {id}"))
        .to_string()
}

/// YAML with keys sorted at every level, as `kubectl diff` prints: the two sides may come from
/// different sources (watch cache, dry-run response, a file), and key order must not show up as
/// a change.
fn to_yaml(mut value: Value) -> String {
    value.sort_all_objects();
    // Serializing a JSON value to YAML has no failure case we know of; should one appear,
    // pretty JSON of the same (already redacted) value is still a readable diff.
    serde_saphyr::to_string(&value).unwrap_or_else(|_| format!("{value:#}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "Deployment/travel/backend";

    fn deployment(image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "backend", "namespace": "travel", "labels": {"app": "backend"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "backend"}},
                "template": {
                    "metadata": {"labels": {"app": "backend"}},
                    "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]}
                }
            }
        })
    }

    fn secret(password_b64: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "travel"},
            "data": {"password": password_b64, "user": "YWRtaW4="},
            "type": "Opaque"
        })
    }

    #[test]
    fn unified_shows_changed_line_with_headers_and_context() {
        let diff = unified(ID, Some(&deployment("app:1")), Some(&deployment("app:2")));
        assert!(
            diff.starts_with(
                "--- live Deployment/travel/backend\n+++ desired Deployment/travel/backend\n"
            ),
            "{diff}"
        );
        assert!(diff.contains("\n@@ "), "{diff}");
        assert!(diff.contains("\n-      - image: app:1\n"), "{diff}");
        assert!(diff.contains("\n+      - image: app:2\n"), "{diff}");
        // Context: the container's name sits two lines below the image.
        assert!(diff.contains("\n         name: app\n"), "{diff}");
        // Three lines of context, so the top of a long object is not repeated.
        assert!(!diff.contains("apiVersion"), "{diff}");
    }

    #[test]
    fn unified_is_empty_when_equal() {
        let cases = [
            ("identical", deployment("app:1"), deployment("app:1")),
            ("only volatile fields differ", deployment("app:1"), {
                let mut live = deployment("app:1");
                live["metadata"]["resourceVersion"] = json!("42");
                live["status"] = json!({"readyReplicas": 2});
                live
            }),
            (
                "secret unchanged",
                secret("aHVudGVyMg=="),
                secret("aHVudGVyMg=="),
            ),
        ];
        for (name, desired, live) in cases {
            assert_eq!(unified(ID, Some(&live), Some(&desired)), "", "{name}");
        }
        assert_eq!(unified(ID, None, None), "");
    }

    #[test]
    fn unified_key_order_is_not_a_change() {
        let desired =
            json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"b": "2", "a": "1"}});
        let live = json!({"apiVersion": "v1", "data": {"a": "1", "b": "2"}, "kind": "ConfigMap"});
        assert_eq!(unified("ConfigMap/x", Some(&live), Some(&desired)), "");
    }

    #[test]
    fn unified_marks_changed_secret_value() {
        let diff = unified(
            "Secret/travel/db",
            Some(&secret("b2xkLXBhc3M=")),
            Some(&secret("bmV3LXBhc3M=")),
        );
        assert!(
            diff.contains("\n-  password: \"<redacted: old>\"\n"),
            "{diff}"
        );
        assert!(
            diff.contains("\n+  password: \"<redacted: new>\"\n"),
            "{diff}"
        );
        // The unchanged key is context, not a change.
        assert!(diff.contains("\n   user: <redacted>\n"), "{diff}");
    }

    #[test]
    fn unified_never_leaks_secret_plaintext_or_base64() {
        let (old_plain, old_b64) = ("old-pass", "b2xkLXBhc3M=");
        let (new_plain, new_b64) = ("s3cr3t-hunter2", "czNjcjN0LWh1bnRlcjI=");
        let mut live = secret(old_b64);
        live["metadata"]["annotations"] = json!({
            "kubectl.kubernetes.io/last-applied-configuration":
                format!("{{\"stringData\":{{\"password\":\"{old_plain}\"}}}}")
        });
        let dry_run = secret(new_b64);
        let mut manifest = secret(new_b64);
        manifest["stringData"] = json!({"password": new_plain});
        let outputs = [
            unified("Secret/travel/db", Some(&live), Some(&dry_run)),
            unified("Secret/travel/db", Some(&live), Some(&manifest)),
            unified("Secret/travel/db", None, Some(&manifest)),
            unified("Secret/travel/db", Some(&live), None),
        ];
        for diff in outputs {
            assert!(!diff.is_empty());
            for needle in [old_plain, old_b64, new_plain, new_b64] {
                assert!(!diff.contains(needle), "{needle} leaked:\n{diff}");
            }
        }
    }

    #[test]
    fn unified_diffs_multiline_values_line_by_line() {
        let config = |workers: u8| {
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "nginx"},
                "data": {"nginx.conf": format!("listen 80\nworkers {workers}\nlog info\n")}
            })
        };
        let diff = unified("ConfigMap/nginx", Some(&config(4)), Some(&config(8)));
        assert!(
            diff.contains("\n-    workers 4\n+    workers 8\n"),
            "{diff}"
        );
        assert!(diff.contains("\n     listen 80\n"), "{diff}");
    }

    #[test]
    fn unified_shows_whole_object_when_one_side_is_missing() {
        let created = unified(ID, None, Some(&deployment("app:1")));
        assert!(created.contains("\n+kind: Deployment\n"), "{created}");
        assert!(!created.contains("\n-"), "{created}");
        let pruned = unified(ID, Some(&deployment("app:1")), None);
        assert!(pruned.contains("\n-kind: Deployment\n"), "{pruned}");
        assert!(!pruned.contains("\n+k"), "{pruned}");
    }
}
