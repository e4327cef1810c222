//! Who else writes a field: the field managers of `metadata.managedFields` that own a drifted
//! path, so self-heal can say "spec.replicas is also managed by kube-controller-manager"
//! instead of fighting in silence. Pure.

use serde_json::Value;

/// Managers other than `ours` whose `fieldsV1` holds `path` (a dotted path as
/// [`super::changed_paths`] writes it). List items are matched by their field (an index names
/// no key in `fieldsV1`), so a path into a list names whoever owns any item of it.
pub fn others_managing(managed_fields: &[Value], path: &str, ours: &str) -> Vec<String> {
    let steps = field_steps(path);
    let mut managers: Vec<String> = managed_fields
        .iter()
        .filter(|entry| entry.get("manager").and_then(Value::as_str) != Some(ours))
        .filter(|entry| {
            entry
                .get("fieldsV1")
                .is_some_and(|fields| holds(fields, &steps))
        })
        .filter_map(|entry| entry.get("manager").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    managers.sort();
    managers.dedup();
    managers
}

/// `spec.template.spec.containers[0].image` → [spec, template, spec, containers]: the fields
/// down to the first list index; `metadata.annotations["a/b"]` → [metadata, annotations, a/b].
fn field_steps(path: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix("[\"") {
            let Some(end) = quoted.find("\"]") else {
                break;
            };
            steps.push(quoted[..end].to_owned());
            rest = &quoted[end + 2..];
        } else if rest.starts_with('[') {
            break; // a list index: fieldsV1 keys items by value, not position
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            if end > 0 {
                steps.push(rest_trimmed[..end].to_owned());
            }
            rest = &rest_trimmed[end..];
        }
    }
    steps
}

fn holds(fields: &Value, steps: &[String]) -> bool {
    let mut node = fields;
    for step in steps {
        match node.get(format!("f:{step}")) {
            Some(next) => node = next,
            None => return false,
        }
    }
    !steps.is_empty()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_other_managers_of_a_drifted_field_are_named() {
        let managed = [
            json!({"manager": "ordo", "operation": "Apply",
                   "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}},
                                "f:metadata": {"f:annotations": {"f:ordo.dev/tier": {}}}}}),
            json!({"manager": "kube-controller-manager", "operation": "Update",
                   "fieldsV1": {"f:spec": {"f:replicas": {}}}}),
            json!({"manager": "kubectl-edit", "operation": "Update",
                   "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                       "k:{\"name\":\"api\"}": {"f:image": {}}}}}},
                                "f:metadata": {"f:annotations": {"f:team/owner": {}}}}}),
            json!({"manager": "broken"}),
        ];
        for (path, want) in [
            ("spec.replicas", vec!["kube-controller-manager"]),
            (
                "spec.template.spec.containers[0].image",
                vec!["kubectl-edit"],
            ),
            ("metadata.annotations[\"team/owner\"]", vec!["kubectl-edit"]),
            ("metadata.annotations[\"ordo.dev/tier\"]", vec![]),
            ("spec.paused", vec![]),
            (".", vec![]),
        ] {
            assert_eq!(others_managing(&managed, path, "ordo"), want, "{path}");
        }
    }
}
