//! Parsing files into objects: multi-document YAML and JSON, `kind: List` flattened, empty
//! documents skipped, identity validated, namespaces defaulted, duplicates refused.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::keys::{ARGO_HOOK_ANNOTATION, HELM_HOOK_ANNOTATION};
use super::object::{is_builtin_cluster_scoped, split_api_version};
use super::{ManifestError, Object, ObjectId, Origin};
use crate::source::SourceFile;

/// Loads every file of a snapshot into objects. Namespaced objects without a namespace get
/// `default_namespace`. All-or-nothing: the first bad document fails the whole set, so a bad
/// commit can never be half-applied.
pub fn load(files: &[SourceFile], default_namespace: &str) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    for file in files {
        objects.extend(parse_file(file)?);
    }
    assign_namespaces(&mut objects, default_namespace);
    refuse_duplicates(&objects)?;
    Ok(objects)
}

/// Parses one file into objects (namespaces not yet defaulted).
pub fn parse_file(file: &SourceFile) -> Result<Vec<Object>, ManifestError> {
    let text = std::str::from_utf8(&file.data).map_err(|_| ManifestError::NotUtf8 {
        file: file.path.clone(),
    })?;
    let documents = if file.path.ends_with(".json") {
        parse_json(&file.path, text)?
    } else {
        parse_yaml(&file.path, text)?
    };
    let mut objects = Vec::new();
    for (document, line, value) in documents {
        let origin = Origin {
            file: file.path.clone(),
            document,
            line,
        };
        flatten(value, origin, &mut objects)?;
    }
    Ok(objects)
}

type Document = (usize, Option<usize>, Value);

fn parse_json(path: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ManifestError::Parse {
        file: path.to_owned(),
        document: None,
        line: Some(e.line() as u64),
        message: e.to_string(),
    })?;
    Ok(vec![(0, Some(1), value)])
}

fn parse_yaml(path: &str, text: &str) -> Result<Vec<Document>, ManifestError> {
    let starts = document_starts(text);
    let values: Vec<Value> = serde_saphyr::from_multiple_with_options(text, yaml_options())
        .map_err(|e| {
            let line = e.location().map(|l| l.line());
            ManifestError::Parse {
                file: path.to_owned(),
                document: line.map(|l| document_at(&starts, l as usize)),
                line,
                message: first_line(&e.to_string()),
            }
        })?;
    // The parser drops empty documents, so document indexes are only exact when the
    // counts agree; otherwise positions are left out rather than guessed wrong.
    let exact = values.len() == starts.len();
    Ok(values
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .map(|(i, v)| (i, exact.then(|| starts[i]), v))
        .collect())
}

/// Input budgets for every YAML file a repository (or a cluster, or a file given to `ordo
/// import`) hands ordo: bounded aliases, depth and size, so an alias bomb or a pathological
/// file fails fast with an error instead of eating the agent's memory. The one home of this
/// rule: manifests, kustomizations, Chart.yaml files and imported objects all parse with it.
pub fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 50_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = 8 * 1024 * 1024;
    budget.max_nodes = 1_000_000;
    budget.max_events = 2_000_000;
    budget.max_depth = 100;
    budget.max_total_scalar_bytes = 8 * 1024 * 1024;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// 1-based first line of each non-empty document, by `---` markers at column 0.
fn document_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut open: Option<usize> = None; // start line of the document being read
    let mut has_content = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let is_marker = raw == "---" || raw.starts_with("--- ") || raw.starts_with("---\t");
        if is_marker {
            if has_content {
                starts.push(open.unwrap_or(1));
            }
            open = Some(line);
            let rest = raw[3..].trim();
            has_content = !rest.is_empty() && !rest.starts_with('#');
            continue;
        }
        let trimmed = raw.trim();
        if trimmed == "..." {
            if has_content {
                starts.push(open.unwrap_or(1));
            }
            open = None;
            has_content = false;
            continue;
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('%') {
            if !has_content && open.is_none() {
                open = Some(line);
            }
            has_content = true;
        }
    }
    if has_content {
        starts.push(open.unwrap_or(1));
    }
    starts
}

fn document_at(starts: &[usize], line: usize) -> usize {
    starts.iter().rposition(|&s| s <= line).unwrap_or(0)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

/// One object from a JSON value already in memory (a live object read from the cluster), with
/// the same identity checks as a file's; `origin` says where it came from.
pub fn from_value(value: Value, origin: Origin) -> Result<Object, ManifestError> {
    let Value::Object(map) = value else {
        return Err(ManifestError::NotAMapping {
            found: type_name(&value),
            origin,
        });
    };
    to_object(map, origin)
}

fn flatten(value: Value, origin: Origin, out: &mut Vec<Object>) -> Result<(), ManifestError> {
    let Value::Object(map) = value else {
        return Err(ManifestError::NotAMapping {
            found: type_name(&value),
            origin,
        });
    };
    let is_list = map.get("kind").and_then(Value::as_str) == Some("List")
        && map.get("items").is_some_and(Value::is_array);
    if !is_list {
        out.push(to_object(map, origin)?);
        return Ok(());
    }
    let Some(Value::Array(items)) = map.get("items") else {
        return Ok(());
    };
    for item in items {
        let Value::Object(item) = item else {
            return Err(ManifestError::NotAMapping {
                found: type_name(item),
                origin,
            });
        };
        out.push(to_object(item.clone(), origin.clone())?);
    }
    Ok(())
}

fn to_object(map: Map<String, Value>, origin: Origin) -> Result<Object, ManifestError> {
    let api_version = required_str(&map, "apiVersion", &origin)?.to_owned();
    let kind = required_str(&map, "kind", &origin)?.to_owned();
    let metadata = match map.get("metadata") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bad(&origin, "metadata", "must be a mapping")),
        None => return Err(missing(&origin, "metadata.name")),
    };
    let name = match metadata.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        // A hook runs afresh for each revision: the sync names each instance, so its id is the
        // prefix (Argo CD allows generateName on hooks only, for the same reason).
        Some(Value::String(_)) | None if metadata.contains_key("generateName") => {
            match metadata.get("generateName") {
                Some(Value::String(prefix)) if !prefix.is_empty() && is_hook(metadata) => {
                    prefix.clone()
                }
                _ => {
                    return Err(bad(
                        &origin,
                        "metadata.generateName",
                        "is only supported on hooks (argocd.argoproj.io/hook, helm.sh/hook): a GitOps object needs a fixed metadata.name to be tracked",
                    ));
                }
            }
        }
        Some(Value::String(_)) | None => return Err(missing(&origin, "metadata.name")),
        Some(_) => return Err(bad(&origin, "metadata.name", "must be a string")),
    };
    let namespace = match metadata.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad(&origin, "metadata.namespace", "must be a string")),
    };
    for field in ["labels", "annotations"] {
        check_string_map(metadata.get(field), field, &origin)?;
    }
    let (group, _) = split_api_version(&api_version);
    if split_api_version(&api_version).1.is_empty() || group.ends_with('/') {
        return Err(bad(
            &origin,
            "apiVersion",
            "must look like `v1` or `group/version`",
        ));
    }
    Ok(Object {
        id: ObjectId {
            group: group.to_owned(),
            kind,
            namespace,
            name,
        },
        api_version,
        manifest: Value::Object(map),
        origin,
    })
}

/// Whether the metadata marks a hook (which may use generateName).
fn is_hook(metadata: &Map<String, Value>) -> bool {
    let annotations = metadata.get("annotations").and_then(Value::as_object);
    [ARGO_HOOK_ANNOTATION, HELM_HOOK_ANNOTATION]
        .iter()
        .any(|key| annotations.is_some_and(|a| a.contains_key(*key)))
}

fn check_string_map(
    value: Option<&Value>,
    field: &'static str,
    origin: &Origin,
) -> Result<(), ManifestError> {
    let field_path = if field == "labels" {
        "metadata.labels"
    } else {
        "metadata.annotations"
    };
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) => match m.iter().find(|(_, v)| !v.is_string()) {
            Some((key, v)) => Err(bad(
                origin,
                field_path,
                &format!(
                    "has key `{key}` with a {} value; values must be strings (quote them)",
                    type_name(v)
                ),
            )),
            None => Ok(()),
        },
        Some(v) => Err(bad(
            origin,
            field_path,
            &format!("must be a mapping of strings, found {}", type_name(v)),
        )),
    }
}

fn required_str<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
    origin: &Origin,
) -> Result<&'a str, ManifestError> {
    match map.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(missing(origin, field)),
        Some(_) => Err(bad(origin, field, "must be a string")),
    }
}

fn missing(origin: &Origin, field: &'static str) -> ManifestError {
    ManifestError::MissingField {
        origin: origin.clone(),
        field,
    }
}

fn bad(origin: &Origin, field: &'static str, problem: &str) -> ManifestError {
    ManifestError::BadField {
        origin: origin.clone(),
        field,
        problem: problem.to_owned(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "mapping",
    }
}

/// Fills in the namespace of namespaced objects and clears it on cluster-scoped ones (the API
/// server ignores it there; keeping it would make identities differ from the live objects).
fn assign_namespaces(objects: &mut [Object], default_namespace: &str) {
    let crd_scopes = custom_kind_scopes(objects);
    for object in objects.iter_mut() {
        let key = (object.id.group.clone(), object.id.kind.clone());
        let cluster_scoped = crd_scopes
            .get(&key)
            .copied()
            .unwrap_or_else(|| is_builtin_cluster_scoped(&object.id.group, &object.id.kind));
        if cluster_scoped {
            object.id.namespace = None;
            if let Some(meta) = object
                .manifest
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
            {
                meta.remove("namespace");
            }
        } else if object.id.namespace.is_none() {
            object.id.namespace = Some(default_namespace.to_owned());
            if let Some(meta) = object
                .manifest
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
            {
                meta.insert(
                    "namespace".into(),
                    Value::String(default_namespace.to_owned()),
                );
            }
        }
    }
}

/// (group, kind) -> cluster-scoped?, for kinds whose CRD is part of the set.
fn custom_kind_scopes(objects: &[Object]) -> HashMap<(String, String), bool> {
    objects
        .iter()
        .filter(|o| o.id.is("apiextensions.k8s.io", "CustomResourceDefinition"))
        .filter_map(|crd| {
            let group = crd.at("/spec/group")?.as_str()?;
            let kind = crd.at("/spec/names/kind")?.as_str()?;
            let scope = crd.at("/spec/scope").and_then(Value::as_str);
            Some((
                (group.to_owned(), kind.to_owned()),
                scope == Some("Cluster"),
            ))
        })
        .collect()
}

fn refuse_duplicates(objects: &[Object]) -> Result<(), ManifestError> {
    let mut seen: HashMap<&ObjectId, &Origin> = HashMap::with_capacity(objects.len());
    for object in objects {
        if let Some(first) = seen.insert(&object.id, &object.origin) {
            return Err(ManifestError::Duplicate {
                id: object.id.to_string(),
                first: first.to_string(),
                second: object.origin.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.to_owned(),
            data: text.as_bytes().to_vec(),
        }
    }

    fn load_one(path: &str, text: &str) -> Result<Vec<Object>, ManifestError> {
        load(&[file(path, text)], "apps")
    }

    #[test]
    fn multi_document_yaml_skips_empty_documents_and_records_positions() {
        let text = "# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: other\n";
        let objects = load_one("cfg.yaml", text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(
            objects[0].id,
            ObjectId::new("", "ConfigMap", Some("apps"), "a")
        );
        assert_eq!(objects[0].origin.line, Some(2));
        assert_eq!(
            objects[1].id,
            ObjectId::new("", "Secret", Some("other"), "b")
        );
        assert_eq!(objects[1].origin.line, Some(10));
        assert_eq!(
            objects[0].manifest.pointer("/metadata/namespace"),
            Some(&Value::String("apps".into()))
        );
    }

    #[test]
    fn list_kind_is_flattened_and_json_is_read() {
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d}\n";
        let json = r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "namespace": "ignored"}}"#;
        let objects = load(&[file("list.yaml", yaml), file("ns.json", json)], "apps").unwrap();
        let ids: Vec<String> = objects.iter().map(|o| o.id.to_string()).collect();
        assert_eq!(
            ids,
            ["ConfigMap/apps/a", "Deployment/apps/d", "Namespace/apps"]
        );
        assert_eq!(objects[1].id.group, "apps");
        assert!(objects[2].manifest.pointer("/metadata/namespace").is_none());
    }

    #[test]
    fn custom_resource_scope_comes_from_its_crd() {
        let text = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: other.io/v1\nkind: Gadget\nmetadata: {name: g}\n";
        let objects = load_one("crd.yaml", text).unwrap();
        assert_eq!(objects[1].id.namespace, None);
        assert_eq!(objects[2].id.namespace.as_deref(), Some("apps"));
    }

    /// Each bad input gives an error naming the file, document and field.
    #[test]
    fn bad_inputs_are_refused_with_where_and_what() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
                &["bad.yaml", "line"],
            ),
            (
                "two.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n",
                &["two.yaml document 1", "line 4", "missing `apiVersion`"],
            ),
            (
                "k.yaml",
                "apiVersion: v1\nmetadata: {name: a}\n",
                &["k.yaml document 0", "missing `kind`"],
            ),
            (
                "n.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n",
                &["missing `metadata.name`"],
            ),
            (
                "g.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {generateName: x-}\n",
                &["metadata.generateName", "fixed metadata.name"],
            ),
            (
                "s.yaml",
                "- just\n- a list\n",
                &["s.yaml document 0", "must be a mapping", "sequence"],
            ),
            (
                "l.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: {replicas: 3}\n",
                &["metadata.labels", "`replicas`", "quote"],
            ),
            (
                "dup.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: apps}\n",
                &[
                    "ConfigMap/apps/a is defined twice",
                    "dup.yaml document 0",
                    "dup.yaml document 1",
                ],
            ),
            (
                "keys.yaml",
                "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n",
                &["keys.yaml", "duplicate"],
            ),
            (
                "bin.json",
                "{\"apiVersion\": \"v1\",",
                &["bin.json", "line 1"],
            ),
        ];
        for (path, text, want) in cases {
            let err = load_one(path, text).expect_err(path).to_string();
            for w in *want {
                assert!(err.contains(w), "{path}: {err:?} should contain {w:?}");
            }
        }
    }

    #[test]
    fn non_utf8_is_refused() {
        let bad = SourceFile {
            path: "x.yaml".into(),
            data: vec![0xff, 0xfe, 0x00],
        };
        let err = load(&[bad], "apps").unwrap_err().to_string();
        assert!(err.contains("x.yaml: not valid UTF-8"), "{err}");
    }

    #[test]
    fn alias_bomb_is_stopped_by_the_parser_budget() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='k' {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let err = load_one("bomb.yaml", &text).unwrap_err().to_string();
        assert!(err.contains("bomb.yaml") && err.contains("budget"), "{err}");
    }
}
