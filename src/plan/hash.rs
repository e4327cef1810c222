//! Config hashes: a workload's pod template is stamped with a hash of the ConfigMaps and
//! Secrets it reads, so changing one rolls the workload (what Argo CD declines to do, its
//! issue 13642).
//!
//! The hash is an HMAC-SHA256 keyed per install: pod templates are read by anyone who may read
//! Deployments, and an unkeyed hash of a Secret's data lets a weak value be guessed offline.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::refs::{Lookup, config_refs};
use super::workload::{pod_spec, pod_template_pointer};
use crate::manifest::Object;

pub use crate::manifest::keys::CONFIG_HASH_ANNOTATION;

/// The key of the config hashes. The agent and `ordo sync` read it from the Secret
/// `ordo-config-hash-key` (created at first start); without a cluster, `ordo plan` uses the
/// public [`ConfigHashKey::display`] key.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigHashKey(Vec<u8>);

/// What the public key is: its hashes are for showing a plan, never for a cluster.
const DISPLAY_KEY: &[u8] = b"ordo.dev/config-hash display key: public, for ordo plan only";

impl ConfigHashKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        ConfigHashKey(bytes)
    }

    /// A fixed, public key: `ordo plan` needs no cluster, and hashes it shows only tell a
    /// reader which workloads read config. They differ from the ones a sync writes.
    pub fn display() -> Self {
        ConfigHashKey(DISPLAY_KEY.to_vec())
    }

    /// Whether this is the public display key.
    pub fn is_display(&self) -> bool {
        self.0 == DISPLAY_KEY
    }
}

impl std::fmt::Debug for ConfigHashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself, in a log or a panic message.
        let which = if self.is_display() {
            "display"
        } else {
            "install"
        };
        write!(f, "ConfigHashKey({which}, {} bytes)", self.0.len())
    }
}

/// The hash for a workload, or None when it reads no ConfigMap or Secret of the set or has
/// opted out with `ordo.dev/config-hash: "disabled"` (on the workload or its pod template).
pub fn config_hash(
    object: &Object,
    lookup: &Lookup,
    objects: &[Object],
    key: &ConfigHashKey,
) -> Option<String> {
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
    // HMAC takes keys of any length: this never returns early.
    let mut hasher = Hmac::<Sha256>::new_from_slice(&key.0).ok()?;
    for i in read {
        let source = &objects[i];
        hasher.update(format!("{}/{}\n", source.id.kind, source.id.name).as_bytes());
        for field in ["data", "binaryData", "stringData"] {
            // Sorted keys: the hash must not change when only the YAML's key order does.
            let sorted: BTreeMap<&String, &Value> = source
                .at(&format!("/{field}"))
                .and_then(Value::as_object)
                .map(|m| m.iter().collect())
                .unwrap_or_default();
            hasher.update(field.as_bytes());
            hasher.update(&serde_json::to_vec(&sorted).unwrap_or_default());
        }
    }
    Some(hex(&hasher.finalize().into_bytes()))
}

/// Whether any workload of `objects` reads a ConfigMap or Secret of the set: only then does
/// a plan need the install's key (see [`ConfigHashKey`]).
pub fn reads_config(objects: &[Object]) -> bool {
    let lookup = Lookup::new(objects);
    let key = ConfigHashKey::display();
    objects
        .iter()
        .any(|o| config_hash(o, &lookup, objects, &key).is_some())
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

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::manifest;
    use crate::plan::{Ordering, build_keyed};
    use crate::source::SourceFile;

    const APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: api:1, envFrom: [{secretRef: {name: db}}]}]
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2}
";

    fn hash_with(key: &ConfigHashKey) -> String {
        let file = SourceFile {
            path: "app.yaml".into(),
            data: APP.as_bytes().to_vec(),
        };
        let objects = manifest::load(&[file], "shop").unwrap();
        let plan = build_keyed(objects, Ordering::Tiers, key).unwrap();
        plan.objects
            .iter()
            .find_map(|p| p.config_hash.clone())
            .unwrap()
    }

    #[test]
    fn same_data_and_key_give_the_same_hash_and_another_key_another() {
        let key = ConfigHashKey::new(vec![7; 32]);
        let hash = hash_with(&key);
        assert_eq!(hash.len(), 64, "hex, as before");
        assert_eq!(hash, hash_with(&ConfigHashKey::new(vec![7; 32])));
        assert_ne!(hash, hash_with(&ConfigHashKey::new(vec![8; 32])));
        assert_ne!(hash, hash_with(&ConfigHashKey::display()));
    }

    #[test]
    fn the_hash_is_no_plain_sha256_of_the_data() {
        let hash = hash_with(&ConfigHashKey::new(vec![7; 32]));
        // What the unkeyed hash was made of, and the value alone: neither gives it away.
        let mut unkeyed = Sha256::new();
        unkeyed.update("Secret/db\n");
        for (field, data) in [
            ("data", "{}"),
            ("binaryData", "{}"),
            ("stringData", "{\"password\":\"hunter2\"}"),
        ] {
            unkeyed.update(field);
            unkeyed.update(data);
        }
        for digest in [unkeyed.finalize(), Sha256::digest("hunter2")] {
            assert_ne!(hash, hex(&digest));
        }
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let shown = format!("{:?}", ConfigHashKey::new(b"sekrit-key-bytes".to_vec()));
        assert!(!shown.contains("sekrit"), "{shown}");
    }
}
