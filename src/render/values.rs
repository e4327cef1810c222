//! Helm values that must not touch the disk: SOPS-encrypted values files, decrypted in memory
//! by `decrypt` and handed to `helm template` on its standard input (`--values -`).
//!
//! helm reads stdin once, so every encrypted values file of an app is merged here into one
//! document, with the rules helm itself uses to merge `-f` files before it coalesces them
//! with the chart's defaults (`pkg/cli/values/options.go`, `mergeMaps`): maps are merged key
//! by key, a later file wins, anything else (lists, scalars, null) replaces. That document
//! takes the place of the first encrypted file in the `-f` order; plain values files stay
//! files that helm reads itself (and parses as it always does). A plain file listed between
//! two encrypted ones is refused: the merged document cannot sit on both sides of it.

use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::scrub::Secrets;

/// Decrypted Helm values files by repository path; wiped when dropped. Deliberately not
/// hashed into the render cache's key: the encrypted file is, and it changes whenever the
/// cleartext does.
#[derive(Default)]
pub struct SecretValues {
    files: Vec<(String, Wiped)>,
    /// The values that were encrypted, for keeping them out of the render's errors (helm
    /// prints what a template's `fail` is given).
    secrets: Secrets,
}

impl std::fmt::Debug for SecretValues {
    /// The paths only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.files.iter().map(|(path, _)| path))
            .finish()
    }
}

impl SecretValues {
    /// Adds the decrypted mapping of the values file at `path` (repository-relative), and
    /// the values of it that were encrypted (`decrypted`).
    pub fn insert(&mut self, path: String, values: Value, decrypted: &Secrets) {
        self.files.push((path, Wiped(values)));
        self.secrets.extend(decrypted);
    }

    /// Every value that was encrypted in any of the files.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn get(&self, path: &str) -> Option<&Value> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, values)| &values.0)
    }
}

/// A value tree whose strings are wiped on drop. Best effort: numbers and map keys (which
/// sops never encrypts) stay as they are until the allocator reuses them.
struct Wiped(Value);

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// One `-f` of `helm template`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ValuesArg {
    /// A plain values file, repository-relative.
    File(String),
    /// `-`: the merged encrypted values, on standard input.
    Stdin,
}

/// What helm gets for its values files: the `-f` arguments in order, and its standard input.
pub(super) type Arguments = (Vec<ValuesArg>, Option<Zeroizing<Vec<u8>>>);

/// The `-f` arguments for `value_files` (repository-relative, `./` already trimmed), and the
/// standard input when some are in `secret`: the merged document as JSON (which is YAML),
/// wiped on drop. Errors are messages naming the files.
pub(super) fn arguments(
    value_files: &[&str],
    secret: Option<&SecretValues>,
) -> Result<Arguments, String> {
    let mut args = Vec::new();
    let mut merged: Option<Wiped> = None;
    // The last encrypted file, and a plain one listed after it.
    let mut last_secret: Option<&str> = None;
    let mut plain_after: Option<&str> = None;
    for &file in value_files {
        let Some(values) = secret.and_then(|s| s.get(file)) else {
            args.push(ValuesArg::File(file.to_owned()));
            if last_secret.is_some() && plain_after.is_none() {
                plain_after = Some(file);
            }
            continue;
        };
        if let (Some(before), Some(plain)) = (last_secret, plain_after) {
            return Err(format!(
                "values file {plain:?} is listed between the SOPS-encrypted values files \
                 {before:?} and {file:?}; list the encrypted files next to each other (they \
                 reach helm merged, on its standard input, never as files)"
            ));
        }
        match &mut merged {
            None => {
                args.push(ValuesArg::Stdin);
                merged = Some(Wiped(values.clone()));
            }
            Some(base) => merge(&mut base.0, values),
        }
        last_secret = Some(file);
    }
    // Writing a `Value` to memory cannot fail.
    let stdin =
        merged.map(|values| Zeroizing::new(serde_json::to_vec(&values.0).unwrap_or_default()));
    Ok((args, stdin))
}

/// Merges `overlay` into `base` as helm merges two values files: maps key by key, anything
/// else replaced by the later value.
pub(super) fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => merge_maps(base, overlay),
        (base, overlay) => {
            wipe(base);
            *base = overlay.clone();
        }
    }
}

fn merge_maps(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match base.get_mut(key) {
            Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
            Some(existing) => {
                wipe(existing);
                *existing = value.clone();
            }
            None => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_merge_as_helm_merges_values_files() {
        let cases = [
            (
                "maps merge deeply",
                json!({"db": {"host": "a", "port": 5432}}),
                json!({"db": {"password": "p"}}),
                json!({"db": {"host": "a", "port": 5432, "password": "p"}}),
            ),
            (
                "the later file wins",
                json!({"replicas": 1, "image": {"tag": "v1"}}),
                json!({"image": {"tag": "v2"}}),
                json!({"replicas": 1, "image": {"tag": "v2"}}),
            ),
            (
                "lists are replaced, not appended",
                json!({"hosts": ["a", "b"]}),
                json!({"hosts": ["c"]}),
                json!({"hosts": ["c"]}),
            ),
            (
                "a map replaces a scalar",
                json!({"tls": false}),
                json!({"tls": {"secret": "s"}}),
                json!({"tls": {"secret": "s"}}),
            ),
            (
                "a scalar replaces a map",
                json!({"tls": {"secret": "s"}}),
                json!({"tls": false}),
                json!({"tls": false}),
            ),
            (
                "null is kept, for helm to delete the chart's default",
                json!({"a": 1, "b": 2}),
                json!({"b": null}),
                json!({"a": 1, "b": null}),
            ),
            (
                "an empty file changes nothing",
                json!({"a": {"b": 1}}),
                json!({}),
                json!({"a": {"b": 1}}),
            ),
        ];
        for (name, mut base, overlay, expected) in cases {
            merge(&mut base, &overlay);
            assert_eq!(base, expected, "{name}");
        }
    }

    fn secret(files: &[(&str, Value)]) -> SecretValues {
        let mut s = SecretValues::default();
        for (path, values) in files {
            s.insert((*path).to_owned(), values.clone(), &Secrets::default());
        }
        s
    }

    fn file(path: &str) -> ValuesArg {
        ValuesArg::File(path.to_owned())
    }

    #[test]
    fn encrypted_values_take_the_place_of_the_first_one_merged() {
        let s = secret(&[
            ("env/a.sops.yaml", json!({"db": {"user": "u"}, "x": 1})),
            ("env/b.sops.yaml", json!({"db": {"password": "p"}, "x": 2})),
        ]);
        // (name, values files in order, the -f arguments, the document on stdin)
        type Case<'a> = (&'a str, &'a [&'a str], Vec<ValuesArg>, Option<Value>);
        let cases: [Case; 4] = [
            (
                "no encrypted file: no stdin",
                &["env/common.yaml", "env/prod.yaml"],
                vec![file("env/common.yaml"), file("env/prod.yaml")],
                None,
            ),
            (
                "one between plain files keeps its place",
                &["env/common.yaml", "env/a.sops.yaml", "env/prod.yaml"],
                vec![
                    file("env/common.yaml"),
                    ValuesArg::Stdin,
                    file("env/prod.yaml"),
                ],
                Some(json!({"db": {"user": "u"}, "x": 1})),
            ),
            (
                "adjacent ones are merged in order",
                &["env/common.yaml", "env/a.sops.yaml", "env/b.sops.yaml"],
                vec![file("env/common.yaml"), ValuesArg::Stdin],
                Some(json!({"db": {"user": "u", "password": "p"}, "x": 2})),
            ),
            (
                "the later one wins",
                &["env/b.sops.yaml", "env/a.sops.yaml"],
                vec![ValuesArg::Stdin],
                Some(json!({"db": {"password": "p", "user": "u"}, "x": 1})),
            ),
        ];
        for (name, files, expected_args, expected_stdin) in cases {
            let (args, stdin) = arguments(files, Some(&s)).unwrap();
            assert_eq!(args, expected_args, "{name}");
            let stdin: Option<Value> = stdin.map(|b| serde_json::from_slice(&b).unwrap());
            assert_eq!(stdin, expected_stdin, "{name}");
        }
    }

    #[test]
    fn a_plain_file_between_encrypted_ones_is_refused() {
        let s = secret(&[("a.sops.yaml", json!({})), ("b.sops.yaml", json!({}))]);
        let err = arguments(&["a.sops.yaml", "plain.yaml", "b.sops.yaml"], Some(&s)).unwrap_err();
        assert!(
            err.starts_with("values file \"plain.yaml\" is listed between the SOPS-encrypted")
                && err.contains("\"a.sops.yaml\" and \"b.sops.yaml\""),
            "{err}"
        );
    }

    #[test]
    fn debug_shows_paths_never_values() {
        let s = secret(&[("v.yaml", json!({"password": "hunter2"}))]);
        assert_eq!(format!("{s:?}"), "[\"v.yaml\"]");
    }
}
