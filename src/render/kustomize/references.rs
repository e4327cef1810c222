//! What a kustomization names, field by field, and whether each name stays inside the
//! repository. Pure: reads the kustomization files of the tree, never the disk.
//!
//! Why every field: kustomize loads a URL wherever it takes a path, not only in `resources`:
//! generator `files`/`envs`, patches, `transformers`/`generators`/`validators`, `openapi`,
//! `crds`, `configurations`, `replacements`. A check of `resources` alone let a commit make
//! the render fetch any address, the agent's own pod included.

use std::collections::{BTreeSet, HashSet, VecDeque};

use serde::Deserialize;

use super::super::error::RenderError;
use super::super::{KUSTOMIZATION_FILES, app_dir, app_label};
use crate::manifest::yaml_options;
use crate::source::SourceFile;

/// How kustomize treats a field's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// `resources`, `bases`, `components`: a file, a directory with a kustomization, or (with
    /// `allowRemoteBases`) a git repository.
    Base,
    /// Every other path: a file in the repository (a directory for generators, transformers
    /// and validators, which may be kustomizations), never a URL.
    File,
}

/// One name found in a kustomization: the field it came from and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    field: &'static str,
    value: String,
    reach: Reach,
}

/// A path entry of `patches`, `patchesJson6902`, `replacements` and `openapi`; the inline
/// forms (`patch:`, a replacement written out) name nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PathEntry {
    path: Option<String>,
}

/// A `patches`/`replacements` item: a mapping with `path`, or (older spellings) a bare string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PathOrInline {
    Entry(PathEntry),
    Text(String),
}

/// A `configMapGenerator` / `secretGenerator` item's file inputs.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Generator {
    /// `key=path` or `path`.
    files: Vec<String>,
    envs: Vec<String>,
    /// Deprecated single `env`, still honoured by kustomize v5.
    env: Option<String>,
}

/// The fields of a kustomization that name something kustomize loads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Kustomization {
    resources: Vec<String>,
    /// Deprecated spelling of `resources`, still honoured by kustomize v5.
    bases: Vec<String>,
    components: Vec<String>,
    crds: Vec<String>,
    configurations: Vec<String>,
    generators: Vec<String>,
    transformers: Vec<String>,
    validators: Vec<String>,
    openapi: Option<PathEntry>,
    patches: Vec<PathOrInline>,
    patches_strategic_merge: Vec<String>,
    patches_json6902: Vec<PathEntry>,
    replacements: Vec<PathOrInline>,
    config_map_generator: Vec<Generator>,
    secret_generator: Vec<Generator>,
}

impl Kustomization {
    fn entries(self) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut add = |field: &'static str, reach: Reach, values: Vec<String>| {
            out.extend(values.into_iter().map(|value| Entry {
                field,
                value,
                reach,
            }));
        };
        add("resources", Reach::Base, self.resources);
        add("bases", Reach::Base, self.bases);
        add("components", Reach::Base, self.components);
        add("crds", Reach::File, self.crds);
        add("configurations", Reach::File, self.configurations);
        // Generators, transformers, validators and strategic-merge patches may be written
        // inline (YAML with a newline); only the one-line entries are paths.
        add("generators", Reach::File, paths_only(self.generators));
        add("transformers", Reach::File, paths_only(self.transformers));
        add("validators", Reach::File, paths_only(self.validators));
        add(
            "patchesStrategicMerge",
            Reach::File,
            paths_only(self.patches_strategic_merge),
        );
        add(
            "openapi",
            Reach::File,
            self.openapi.and_then(|o| o.path).into_iter().collect(),
        );
        add("patches", Reach::File, inline_or_path(self.patches));
        add(
            "patchesJson6902",
            Reach::File,
            self.patches_json6902
                .into_iter()
                .filter_map(|p| p.path)
                .collect(),
        );
        add(
            "replacements",
            Reach::File,
            inline_or_path(self.replacements),
        );
        for (field, generators) in [
            ("configMapGenerator", self.config_map_generator),
            ("secretGenerator", self.secret_generator),
        ] {
            for generator in generators {
                let files = generator
                    .files
                    .into_iter()
                    .map(|f| match f.split_once('=') {
                        Some((_, path)) => path.to_owned(),
                        None => f,
                    });
                add(field, Reach::File, files.collect());
                add(field, Reach::File, generator.envs);
                add(field, Reach::File, generator.env.into_iter().collect());
            }
        }
        out
    }
}

fn paths_only(values: Vec<String>) -> Vec<String> {
    values.into_iter().filter(|v| !v.contains('\n')).collect()
}

fn inline_or_path(items: Vec<PathOrInline>) -> Vec<String> {
    items
        .into_iter()
        .filter_map(|item| match item {
            PathOrInline::Entry(entry) => entry.path,
            PathOrInline::Text(text) => (!text.contains('\n')).then_some(text),
        })
        .collect()
}

/// Walks the kustomizations reachable from `app_path`, refusing any entry that leaves the
/// repository, names nothing in it, or is a URL (remote bases only with `allow_remote`, and
/// then only over https or ssh); returns the directories reached (what the build reads:
/// kustomize's default load restrictor keeps each kustomization's files under its own
/// directory).
pub(in crate::render) fn check_references(
    files: &[SourceFile],
    app_path: &str,
    allow_remote: bool,
) -> Result<HashSet<String>, RenderError> {
    let paths: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let dirs = directories(files);
    let start = app_dir(app_path);
    if !dirs.contains(start.as_str()) {
        return Err(RenderError::Input {
            app: app_label(app_path),
            message: "no such directory in the repository".into(),
        });
    }
    let mut queue = VecDeque::from([start]);
    let mut seen = HashSet::new();
    while let Some(dir) = queue.pop_front() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some(file) = kustomization_in(files, &dir) else {
            continue;
        };
        for entry in entries(file)? {
            let refuse = |why: Refusal| why.error(&file.path, &entry);
            if is_url(&entry.value) {
                check_remote(&entry, allow_remote).map_err(refuse)?;
                continue;
            }
            let target = resolve(&dir, &entry.value).ok_or_else(|| refuse(Refusal::Outside))?;
            if dirs.contains(target.as_str()) {
                queue.push_back(target);
            } else if !paths.contains(target.as_str()) {
                if entry.reach == Reach::Base && is_host_first(&entry.value) {
                    check_remote(&entry, allow_remote).map_err(refuse)?;
                } else {
                    return Err(refuse(Refusal::Missing));
                }
            }
        }
    }
    Ok(seen)
}

/// The directories a build of `app_path` reaches, from the kustomization files alone (no
/// other file of the tree need be read): what the source read then takes whole. Lenient:
/// what [`check_references`] would refuse is refused there, once the files are read.
pub(in crate::render) fn reached_directories(
    kustomizations: &[SourceFile],
    app_path: &str,
) -> BTreeSet<String> {
    let dirs = directories(kustomizations);
    let start = app_dir(app_path);
    let mut queue = VecDeque::from([start.clone()]);
    if kustomization_in(kustomizations, &start).is_none() {
        // Flux's generated kustomization (generate.rs) builds the kustomizations below.
        let below = |dir: &str| start.is_empty() || dir.starts_with(&format!("{start}/"));
        queue.extend(
            dirs.iter()
                .filter(|d| below(d) && kustomization_in(kustomizations, d).is_some())
                .map(|d| (*d).to_owned()),
        );
    }
    let mut seen = BTreeSet::new();
    while let Some(dir) = queue.pop_front() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some(file) = kustomization_in(kustomizations, &dir) else {
            continue;
        };
        for entry in entries(file).unwrap_or_default() {
            if let Some(target) = resolve(&dir, &entry.value).filter(|t| dirs.contains(t.as_str()))
            {
                queue.push_back(target);
            }
        }
    }
    seen
}

/// Why an entry is refused; [`Refusal::error`] adds the file and the entry.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Outside,
    Missing,
    /// A remote base while the app does not allow them.
    RemoteBase,
    /// A URL where kustomize takes a file: never allowed.
    RemoteFile,
    /// A remote base over a transport other than https or ssh.
    Transport,
}

impl Refusal {
    fn error(self, file: &str, entry: &Entry) -> RenderError {
        let (file, field, entry) = (file.to_owned(), entry.field, entry.value.clone());
        match self {
            Refusal::Outside => RenderError::PathOutside { file, entry },
            Refusal::Missing => RenderError::Missing { file, field, entry },
            Refusal::RemoteBase => RenderError::RemoteBase { file, entry },
            Refusal::RemoteFile => RenderError::RemoteFile { file, field, entry },
            Refusal::Transport => RenderError::RemoteTransport { file, entry },
        }
    }
}

/// A URL-looking entry: refused unless it is a remote base the app allows, fetched over https
/// or ssh from a named host. `file://` and local paths written as remote bases would read
/// other apps' private repositories out of ordo's git cache.
fn check_remote(entry: &Entry, allow_remote: bool) -> Result<(), Refusal> {
    if entry.reach == Reach::File {
        return Err(Refusal::RemoteFile);
    }
    if !allow_remote {
        return Err(Refusal::RemoteBase);
    }
    if remote_transport_ok(&entry.value) {
        Ok(())
    } else {
        Err(Refusal::Transport)
    }
}

/// Whether a remote base goes over https or ssh to a named host: `https://host/…`,
/// `ssh://host/…`, `git@host:org/repo`, the same after `git::`, or host-first
/// (`github.com/org/repo`, which kustomize fetches over https).
fn remote_transport_ok(value: &str) -> bool {
    let value = value.strip_prefix("git::").unwrap_or(value);
    let host = if let Some(rest) = value.strip_prefix("https://") {
        rest
    } else if let Some(rest) = value.strip_prefix("ssh://") {
        rest.split_once('@').map_or(rest, |(_, host)| host)
    } else if let Some(rest) = value.strip_prefix("git@") {
        return rest.split_once(':').is_some_and(|(host, path)| {
            is_host(host) && !path.is_empty() && !path.starts_with('/')
        });
    } else if value.contains("://") {
        return false;
    } else {
        return is_host_first(value);
    };
    let host = host.split(['/', '?']).next().unwrap_or_default();
    is_host(host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    }))
}

/// A DNS name or address, not empty, not a path.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('.')
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

/// Spellings kustomize always fetches, whatever the repository holds: a scheme (`http://`,
/// `file://`, …), `git::` and scp-like `git@host:`. A decoy file at `app/http:/host/x.yaml`
/// does not make `http://host/x.yaml` local.
fn is_url(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git::")
        || entry.starts_with("git@")
        || entry.contains("?ref=")
        || entry.contains("?version=")
}

/// A host-first remote base (`github.com/org/repo//dir`): a first part with a dot followed by
/// more parts. Checked only for entries that are not in the repository, so a local `base.v2/`
/// stays local.
fn is_host_first(entry: &str) -> bool {
    match entry.split_once('/') {
        Some((first, rest)) => {
            first.contains('.') && !first.starts_with('.') && is_host(first) && !rest.is_empty()
        }
        None => false,
    }
}

/// Every directory holding a file, including the root "".
fn directories(files: &[SourceFile]) -> BTreeSet<&str> {
    let mut dirs = BTreeSet::from([""]);
    for file in files {
        let mut path = file.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            dirs.insert(parent);
            path = parent;
        }
    }
    dirs
}

fn kustomization_in<'a>(files: &'a [SourceFile], dir: &str) -> Option<&'a SourceFile> {
    KUSTOMIZATION_FILES.iter().find_map(|name| {
        let path = if dir.is_empty() {
            (*name).to_owned()
        } else {
            format!("{dir}/{name}")
        };
        files.iter().find(|f| f.path == path)
    })
}

fn entries(file: &SourceFile) -> Result<Vec<Entry>, RenderError> {
    let unreadable = |message: String| RenderError::Kustomization {
        file: file.path.clone(),
        message,
    };
    let text = std::str::from_utf8(&file.data).map_err(|_| unreadable("not UTF-8".into()))?;
    let kustomization: Option<Kustomization> =
        serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|e| unreadable(first_line(&e.to_string())))?;
    Ok(kustomization.unwrap_or_default().entries())
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// `entry` relative to `dir`, normalised; `None` when it climbs above the repository root
/// (or is absolute, which is outside it too).
pub(in crate::render) fn resolve(dir: &str, entry: &str) -> Option<String> {
    if entry.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in entry.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
#[path = "references_tests.rs"]
mod tests;
