//! Renders remembered by what went into them, so a poll that finds nothing new runs no tool.
//!
//! The key covers every input file (not only those under the app path: a kustomization may
//! reach `../base`, a chart its values files anywhere in the repository, and working out
//! exactly what a render read is the tool's business), the options, and the tool's version
//! string (a new kustomize may render the same input differently).

use std::collections::VecDeque;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::RenderOptions;
use crate::source::SourceFile;

/// How many renders are kept: enough for every app of a typical agent, bounded so a stream of
/// commits cannot grow memory without end.
pub const CAPACITY: usize = 64;

pub type Key = [u8; 32];

/// The cache key of one render.
pub fn key(
    files: &[SourceFile],
    app_path: &str,
    namespace: &str,
    options: &RenderOptions,
    tool_version: &str,
) -> Key {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") never hash alike.
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(tool_version.as_bytes());
    field(app_path.as_bytes());
    field(namespace.as_bytes());
    // The options' Debug text: complete (every field) and stable within one process, which is
    // all an in-process cache needs.
    field(format!("{options:?}").as_bytes());
    for file in files {
        field(file.path.as_bytes());
        field(&file.data);
    }
    hasher.finalize().into()
}

/// The last [`CAPACITY`] renders, most recently used last.
#[derive(Default)]
pub(super) struct RenderCache {
    entries: VecDeque<(Key, Arc<Vec<SourceFile>>)>,
}

impl RenderCache {
    pub(super) fn get(&mut self, key: &Key) -> Option<Arc<Vec<SourceFile>>> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        let entry = self.entries.remove(at)?;
        let found = entry.1.clone();
        self.entries.push_back(entry);
        Some(found)
    }

    pub(super) fn put(&mut self, key: Key, rendered: Arc<Vec<SourceFile>>) {
        self.entries.retain(|(k, _)| *k != key);
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back((key, rendered));
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::SourceKind;

    fn file(path: &str, data: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            data: data.as_bytes().to_vec(),
        }
    }

    fn tree() -> Vec<SourceFile> {
        vec![
            file("app/kustomization.yaml", "resources: [cm.yaml]\n"),
            file("app/cm.yaml", "kind: ConfigMap\n"),
            file("docs/readme.yaml", "x: 1\n"),
        ]
    }

    fn key_of(files: &[SourceFile], options: &RenderOptions) -> Key {
        key(files, "app", "default", options, "v5.7.1")
    }

    #[test]
    fn same_input_same_key() {
        let options = RenderOptions::default();
        assert_eq!(key_of(&tree(), &options), key_of(&tree(), &options));
    }

    #[test]
    fn changing_a_file_under_the_app_changes_the_key() {
        let options = RenderOptions::default();
        let mut changed = tree();
        changed[1].data = b"kind: Secret\n".to_vec();
        assert_ne!(key_of(&tree(), &options), key_of(&changed, &options));
    }

    #[test]
    fn changing_any_option_changes_the_key() {
        let base = RenderOptions::default();
        let mut kind = base.clone();
        kind.kind = SourceKind::Helm;
        let mut remote = base.clone();
        remote.kustomize.allow_remote_bases = true;
        let mut release = base.clone();
        release.helm.release_name = "other".into();
        let mut values = base.clone();
        values.helm.values = Some(serde_json::json!({"replicas": 3}));
        let mut api = base.clone();
        api.helm.api_versions = vec!["monitoring.coreos.com/v1".into()];
        let mut timeout = base.clone();
        timeout.limits.timeout = std::time::Duration::from_secs(1);
        let keys: Vec<Key> = [&base, &kind, &remote, &release, &values, &api, &timeout]
            .iter()
            .map(|o| key_of(&tree(), o))
            .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn tool_version_namespace_and_path_are_in_the_key() {
        let o = RenderOptions::default();
        let k = key(&tree(), "app", "default", &o, "v5.7.1");
        assert_ne!(k, key(&tree(), "app", "default", &o, "v5.8.0"));
        assert_ne!(k, key(&tree(), "app", "prod", &o, "v5.7.1"));
        assert_ne!(k, key(&tree(), "docs", "default", &o, "v5.7.1"));
    }

    #[test]
    fn file_boundaries_are_part_of_the_key() {
        let o = RenderOptions::default();
        let a = [file("a", "bc")];
        let b = [file("ab", "c")];
        assert_ne!(key_of(&a, &o), key_of(&b, &o));
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used() {
        let mut cache = RenderCache::default();
        let rendered = Arc::new(Vec::new());
        for i in 0..CAPACITY {
            cache.put([i as u8; 32], rendered.clone());
        }
        // Touch the oldest, then add one more: the second oldest goes.
        assert!(cache.get(&[0; 32]).is_some());
        cache.put([255; 32], rendered);
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get(&[0; 32]).is_some());
        assert!(cache.get(&[1; 32]).is_none());
    }
}
