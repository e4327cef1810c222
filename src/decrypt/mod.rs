//! SOPS files decrypted in memory, between the fetch and the render (issue #16).
//!
//! A file is a SOPS file when it is YAML or JSON and its (first) document has a top-level
//! `sops` mapping. Its data key is opened with an age identity of the app's key file, every
//! value the selectors say was encrypted is decrypted (AES-256-GCM, bound to its path), and
//! the MAC over all values is checked before anything is returned: a file that fails is a
//! bad commit, and nothing of it is applied. The format follows sops v3.13 (`sops.go`,
//! `aes/cipher.go`, `stores/`), checked against files the real sops writes
//! (`tests/decrypt.rs`).
//!
//! For a plain directory, the cleartext file keeps its path and is written as JSON text (one
//! document per `---` for YAML paths: YAML is a superset of JSON, so `manifest::load` reads
//! it either way). For Helm, an encrypted values file (`helm.valueFiles`) is decrypted into
//! [`SecretValues`], which the render hands to helm on its standard input; the file itself
//! stays encrypted in the tree the render extracts and hashes. Either way the cleartext is
//! never logged, never written to disk, and wiped when the [`Decrypted`] set is dropped.
//! Kustomize, and a chart's own files, are read by the tool from the render's temporary
//! directory, so encrypted files there are refused rather than decrypted
//! ([`DecryptError::Rendered`]).
//!
//! Pure apart from reading the key file.

mod data_key;
mod error;
mod keys;
mod metadata;
mod pgp;
mod tree;
mod value;

use std::borrow::Cow;
use std::path::Path;

use serde_json::{Map, Value};
use zeroize::Zeroize;

pub use error::DecryptError;
pub use keys::Identities;

use crate::render::{RenderOptions, SecretValues, Secrets, SourceKind, app_dir};
use crate::source::SourceFile;
use metadata::Metadata;
use tree::Walk;

/// The environment variable sops reads its age key file from; the CLI honours it too.
pub const KEY_FILE_ENV: &str = "SOPS_AGE_KEY_FILE";

/// A snapshot's files with the SOPS ones decrypted; the cleartext is wiped on drop.
pub struct Decrypted<'a> {
    files: Cow<'a, [SourceFile]>,
    /// Indexes of the files holding cleartext.
    cleartext: Vec<usize>,
    /// Helm values files decrypted for the render's standard input (wiped on their own drop).
    values: SecretValues,
    /// Every value decrypted, in either place: what no message may show.
    secrets: Secrets,
}

impl std::ops::Deref for Decrypted<'_> {
    type Target = [SourceFile];
    fn deref(&self) -> &[SourceFile] {
        &self.files
    }
}

impl Drop for Decrypted<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(files) = &mut self.files {
            for &i in &self.cleartext {
                if let Some(file) = files.get_mut(i) {
                    file.data.zeroize();
                }
            }
        }
    }
}

impl Decrypted<'_> {
    /// How many files were decrypted.
    pub fn count(&self) -> usize {
        self.cleartext.len() + usize::from(!self.values.is_empty())
    }

    /// The decrypted Helm values files, for `RenderRequest::secret_values`.
    pub fn secret_values(&self) -> Option<&SecretValues> {
        (!self.values.is_empty()).then_some(&self.values)
    }

    /// Every value decrypted (in the files or the Helm values), for scrubbing them from
    /// whatever message the render, the manifest loader or the plan produce.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
}

/// Decrypts the SOPS files of `files` for a render of `options.kind` at `app_path`, with the
/// identities of `key_file` (read only when a SOPS file is to be decrypted). A plain
/// directory's files are decrypted in place; a Helm app's encrypted values files into
/// [`Decrypted::secret_values`]. Any other SOPS file a Kustomize or Helm render reads (under
/// the app path) is refused; one elsewhere in the tree is left encrypted, as the render
/// never reads it.
pub fn for_render<'a>(
    files: &'a [SourceFile],
    app_path: &str,
    options: &RenderOptions,
    key_file: Option<&Path>,
) -> Result<Decrypted<'a>, DecryptError> {
    let identities = match key_file {
        Some(path) if needs_keys(files, app_path, options)? => Some(Identities::load(path)?),
        _ => None,
    };
    for_render_with(files, app_path, options, identities.as_ref())
}

/// Whether a render of `options.kind` at `app_path` has a SOPS file of `files` to decrypt:
/// the keys are read (from a file or a Secret) only then. Refuses, as [`for_render`] does,
/// a SOPS file the render would read from disk.
pub fn needs_keys(
    files: &[SourceFile],
    app_path: &str,
    options: &RenderOptions,
) -> Result<bool, DecryptError> {
    Ok(!wanted(files, app_path, options)?.is_empty())
}

/// [`for_render`], with `identities` already read (see [`needs_keys`]).
pub fn for_render_with<'a>(
    files: &'a [SourceFile],
    app_path: &str,
    options: &RenderOptions,
    identities: Option<&Identities>,
) -> Result<Decrypted<'a>, DecryptError> {
    let mut out = Decrypted {
        files: Cow::Borrowed(files),
        cleartext: Vec::new(),
        values: SecretValues::default(),
        secrets: Secrets::default(),
    };
    let wanted = wanted(files, app_path, options)?;
    let Some(&first) = wanted.first() else {
        return Ok(out);
    };
    let Some(identities) = identities else {
        let recipients = parse(&files[first])?.1.all_recipients();
        return Err(DecryptError::NoKey {
            file: files[first].path.clone(),
            recipients,
        });
    };
    if options.kind == SourceKind::Helm {
        for &i in &wanted {
            let (documents, secrets) = decrypt_documents(&files[i], identities)?;
            let values = values_document(&files[i], documents)?;
            out.values.insert(files[i].path.clone(), values, &secrets);
            out.secrets.extend(&secrets);
        }
        return Ok(out);
    }
    let mut decrypted = files.to_vec();
    for &i in &wanted {
        let (documents, secrets) = decrypt_documents(&files[i], identities)?;
        decrypted[i] = SourceFile {
            path: files[i].path.clone(),
            data: emit(&documents),
        };
        out.secrets.extend(&secrets);
    }
    out.files = Cow::Owned(decrypted);
    out.cleartext = wanted;
    Ok(out)
}

/// The indexes of the SOPS files of `files` a render of `options.kind` at `app_path`
/// decrypts; refuses one a Kustomize or Helm render would read from disk.
fn wanted(
    files: &[SourceFile],
    app_path: &str,
    options: &RenderOptions,
) -> Result<Vec<usize>, DecryptError> {
    let encrypted: Vec<usize> = (0..files.len())
        .filter(|&i| is_encrypted(&files[i]))
        .collect();
    if encrypted.is_empty() {
        return Ok(encrypted);
    }
    // Helm values files reach helm on stdin; everything else a tool reads is read from disk.
    let value_files: Vec<String> = match options.kind {
        SourceKind::Helm => options
            .helm
            .value_files
            .iter()
            .map(|f| app_dir(f))
            .collect(),
        _ => Vec::new(),
    };
    let is_values = |f: &SourceFile| value_files.contains(&f.path);
    if matches!(options.kind, SourceKind::Kustomize | SourceKind::Helm) {
        let dir = app_dir(app_path);
        let read_from_disk = |f: &SourceFile| {
            !is_values(f) && (dir.is_empty() || f.path.starts_with(&format!("{dir}/")))
        };
        if let Some(f) = encrypted
            .iter()
            .map(|&i| &files[i])
            .find(|f| read_from_disk(f))
        {
            return Err(DecryptError::Rendered {
                file: f.path.clone(),
                kind: options.kind.to_string(),
            });
        }
    }
    Ok(match options.kind {
        SourceKind::Kustomize => Vec::new(),
        SourceKind::Helm => encrypted
            .into_iter()
            .filter(|&i| is_values(&files[i]))
            .collect(),
        SourceKind::Auto | SourceKind::Directory => encrypted,
    })
}

/// The one mapping of a decrypted values file (helm reads one document; an empty file is
/// no values).
fn values_document(file: &SourceFile, documents: Vec<Value>) -> Result<Value, DecryptError> {
    let mut documents = documents.into_iter();
    match (documents.next(), documents.next()) {
        (None, _) => Ok(Value::Object(Map::new())),
        (Some(values @ Value::Object(_)), None) => Ok(values),
        _ => Err(DecryptError::malformed(
            &file.path,
            "helm values",
            "a values file must hold one mapping",
        )),
    }
}

/// After a Kustomize or Helm render: refuses output that still holds SOPS values, which a
/// render copies from an encrypted file outside the app path (a base in `../`). A plain
/// directory's SOPS files are all decrypted, so only rendered output is looked at.
pub fn refuse_ciphertext(
    rendered: &[SourceFile],
    options: &RenderOptions,
) -> Result<(), DecryptError> {
    if !matches!(options.kind, SourceKind::Kustomize | SourceKind::Helm) {
        return Ok(());
    }
    const MARK: &[u8] = b"ENC[AES256_GCM,data:";
    match rendered
        .iter()
        .find(|f| f.data.windows(MARK.len()).any(|w| w == MARK))
    {
        Some(f) => Err(DecryptError::CiphertextRendered {
            file: f.path.clone(),
            kind: options.kind.to_string(),
        }),
        None => Ok(()),
    }
}

/// Whether `file` is a SOPS file: a cheap look at the bytes first, so plain manifests are
/// not parsed twice.
pub fn is_encrypted(file: &SourceFile) -> bool {
    let text = String::from_utf8_lossy(&file.data);
    text.contains("sops") && text.contains("mac") && split(file).is_some()
}

/// Decrypts one SOPS file with `identities`; the result keeps the path.
pub fn decrypt_file(
    file: &SourceFile,
    identities: &Identities,
) -> Result<SourceFile, DecryptError> {
    let (documents, _) = decrypt_documents(file, identities)?;
    Ok(SourceFile {
        path: file.path.clone(),
        data: emit(&documents),
    })
}

/// The decrypted documents of one SOPS file, without their `sops` mappings, MAC verified,
/// and the values that were encrypted.
fn decrypt_documents(
    file: &SourceFile,
    identities: &Identities,
) -> Result<(Vec<Value>, Secrets), DecryptError> {
    let (mut documents, meta) = parse(file)?;
    let (recipient, key) = data_key::open(&file.path, &meta, identities)?;
    let mut walk = Walk::new(&file.path, &recipient, &meta, &key);
    for doc in &mut documents {
        walk.document(doc)?;
    }
    let secrets = std::mem::take(&mut walk.secrets);
    walk.verify_mac()?;
    Ok((documents, secrets))
}

/// The documents of a SOPS file without their `sops` mappings, and its metadata.
fn parse(file: &SourceFile) -> Result<(Vec<Value>, Metadata), DecryptError> {
    let (documents, sops) = split(file)
        .ok_or_else(|| DecryptError::malformed(&file.path, "sops", "no top-level sops mapping"))?;
    let meta = Metadata::read(&file.path, &sops)?;
    Ok((documents, meta))
}

/// The documents and the `sops` mapping; `None` when the file is no SOPS file (or does not
/// parse: then it is the manifest loader's to report). sops keeps the metadata in the first
/// document (and a copy in every other one of a multi-document YAML file) and hashes all
/// documents into one MAC.
fn split(file: &SourceFile) -> Option<(Vec<Value>, Map<String, Value>)> {
    let text = std::str::from_utf8(&file.data).ok()?;
    let mut documents: Vec<Value> = if file.path.ends_with(".json") {
        vec![serde_json::from_str(text).ok()?]
    } else if file.path.ends_with(".yaml") || file.path.ends_with(".yml") {
        serde_saphyr::from_multiple_with_options(text, crate::manifest::yaml_options()).ok()?
    } else {
        return None;
    };
    documents.retain(|d| !d.is_null());
    let Some(Value::Object(sops)) = documents
        .first_mut()
        .and_then(Value::as_object_mut)
        .and_then(|first| first.shift_remove("sops"))
    else {
        return None;
    };
    for doc in documents.iter_mut().skip(1) {
        if let Some(map) = doc.as_object_mut() {
            map.shift_remove("sops");
        }
    }
    Some((documents, sops))
}

/// JSON text, documents separated by `---` (only YAML paths ever hold several).
fn emit(documents: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, doc) in documents.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n---\n");
        }
        // Writing a `Value` to memory cannot fail.
        let _ = serde_json::to_writer(&mut out, doc);
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests;
