//! Config hashes: a workload's pod template is stamped with a hash of the ConfigMaps and
//! Secrets it reads, so changing one rolls the workload (what Argo CD declines to do, its
//! issue 13642).

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::refs::{Lookup, config_refs};
use super::workload::{pod_spec, pod_template_pointer};
use crate::manifest::Object;

pub use crate::manifest::keys::CONFIG_HASH_ANNOTATION;

/// The hash for a workload, or None when it reads no ConfigMap or Secret of the set or has
/// opted out with `ordo.dev/config-hash: "disabled"` (on the workload or its pod template).
pub fn config_hash(object: &Object, lookup: &Lookup, objects: &[Object]) -> Option<String> {
    if opted_out(object) {
        return None;
    }
    let spec = pod_spec(object)?;
    let ns = object.id.namespace.as_deref();
    let mut read: Vec<usize> = config_refs(spec)
        .iter()
        .filter_map(|r| lookup.find("", r.kind, ns, r.name))
        .collect();
    read.sort_unstable();
    read.dedup();
    if read.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    for i in read {
        let source = &objects[i];
        hasher.update(format!("{}/{}\n", source.id.kind, source.id.name));
        for field in ["data", "binaryData", "stringData"] {
            // Sorted keys: the hash must not change when only the YAML's key order does.
            let sorted: BTreeMap<&String, &Value> = source
                .at(&format!("/{field}"))
                .and_then(Value::as_object)
                .map(|m| m.iter().collect())
                .unwrap_or_default();
            hasher.update(field);
            hasher.update(serde_json::to_vec(&sorted).unwrap_or_default());
        }
    }
    Some(hex(&hasher.finalize()))
}

fn opted_out(object: &Object) -> bool {
    let on_template = pod_template_pointer(&object.id.group, &object.id.kind)
        .and_then(|base| {
            object.manifest.pointer(&format!(
                "{base}/metadata/annotations/{}",
                escape(CONFIG_HASH_ANNOTATION)
            ))
        })
        .and_then(Value::as_str);
    object.annotation(CONFIG_HASH_ANNOTATION) == Some("disabled") || on_template == Some("disabled")
}

/// JSON-pointer escaping of a key containing '/'.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
