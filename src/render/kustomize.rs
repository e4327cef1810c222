//! `kustomize build` of an app path, after checking what its kustomizations refer to.
//!
//! Why check ourselves: `--load-restrictor LoadRestrictionsRootOnly` (the default) keeps
//! *files* (patches, generator inputs) inside each kustomization's directory, but not
//! `resources:` / `components:` entries, which may name any directory (`../../base`) or a
//! URL. Denying the network to the subprocess would need namespaces or a firewall we cannot
//! count on everywhere ordo runs, and would turn a clear "remote base refused" into a
//! confusing network error; reading the kustomizations ourselves is portable and names the
//! file and the entry.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::Path;

use serde::Deserialize;

use super::error::{RenderError, Tool};
use super::sandbox::{Sandbox, run};
use super::{KUSTOMIZATION_FILES, RenderRequest, app_dir, app_label};
use crate::source::SourceFile;

/// The fields of a kustomization that name other directories or remote bases.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct References {
    resources: Vec<String>,
    /// Deprecated spelling of `resources`, still honoured by kustomize v5.
    bases: Vec<String>,
    components: Vec<String>,
}

pub(super) fn render(
    request: &RenderRequest,
    program: &Path,
) -> Result<Vec<SourceFile>, RenderError> {
    let app = app_label(request.app_path);
    let allow_remote = request.options.kustomize.allow_remote_bases;
    check_references(request.files, request.app_path, allow_remote)?;
    let sandbox = Sandbox::new(Tool::Kustomize, &app)?;
    sandbox.extract(request.files)?;
    let mut command = sandbox.command(program);
    if allow_remote {
        // Remote git bases are fetched by running `git`, which the empty PATH would hide.
        command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    }
    // Never --enable-alpha-plugins, --enable-exec or --enable-helm: each runs code or
    // fetches charts from outside the repository.
    command
        .arg("build")
        .arg(sandbox.repo().join(app_dir(request.app_path)))
        .args(["--load-restrictor", "LoadRestrictionsRootOnly"]);
    let out = run(command, Tool::Kustomize, &app, &request.options.limits)?;
    Ok(vec![SourceFile {
        path: format!("{app} (kustomize)"),
        data: out,
    }])
}

/// Walks the kustomizations reachable from `app_path`, refusing entries that leave the
/// repository and (unless allowed) remote bases; returns the directories reached (what the
/// build reads: kustomize's default load restrictor keeps each kustomization's files under
/// its own directory).
pub(super) fn check_references(
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
            let target = resolve(&dir, &entry).ok_or_else(|| RenderError::PathOutside {
                file: file.path.clone(),
                entry: entry.clone(),
            });
            let local = target
                .as_ref()
                .is_ok_and(|t| paths.contains(t.as_str()) || dirs.contains(t.as_str()));
            if !local && is_remote(&entry) {
                if allow_remote {
                    continue;
                }
                return Err(RenderError::RemoteBase {
                    file: file.path.clone(),
                    entry,
                });
            }
            let target = target?;
            if dirs.contains(target.as_str()) {
                queue.push_back(target);
            }
        }
    }
    Ok(seen)
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

fn entries(file: &SourceFile) -> Result<Vec<String>, RenderError> {
    let unreadable = |message: String| RenderError::Kustomization {
        file: file.path.clone(),
        message,
    };
    let text = std::str::from_utf8(&file.data).map_err(|_| unreadable("not UTF-8".into()))?;
    let refs: Option<References> =
        serde_saphyr::from_str(text).map_err(|e| unreadable(first_line(&e.to_string())))?;
    let refs = refs.unwrap_or_default();
    Ok(refs
        .resources
        .into_iter()
        .chain(refs.bases)
        .chain(refs.components)
        .collect())
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// `entry` relative to `dir`, normalised; `None` when it climbs above the repository root
/// (or is absolute, which is outside it too).
fn resolve(dir: &str, entry: &str) -> Option<String> {
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

/// The spellings kustomize accepts for remote bases: URLs (`https://`, `ssh://`, `git::`),
/// scp-like `git@host:org/repo`, and host-first paths (`github.com/org/repo//dir?ref=v1`).
fn is_remote(entry: &str) -> bool {
    if entry.contains("://") || entry.starts_with("git@") || entry.starts_with("git::") {
        return true;
    }
    if entry.contains("?ref=") || entry.contains("?version=") {
        return true;
    }
    // A first part with a dot followed by more parts reads as a host; checked only for
    // entries that are not in the repository, so a local `base.v2/` stays local.
    match entry.split_once('/') {
        Some((first, rest)) => first.contains('.') && !first.starts_with('.') && !rest.is_empty(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Vec<SourceFile> {
        files
            .iter()
            .map(|(path, data)| SourceFile {
                path: (*path).into(),
                data: data.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn resolve_normalises_and_refuses_climbing_out() {
        assert_eq!(
            resolve("overlays/prod", "../../base").as_deref(),
            Some("base")
        );
        assert_eq!(resolve("", "./base/").as_deref(), Some("base"));
        assert_eq!(resolve("a", "../../x"), None);
        assert_eq!(resolve("a", "/etc"), None);
    }

    #[test]
    fn remote_spellings_are_recognised() {
        for remote in [
            "https://github.com/org/repo//deploy?ref=v1",
            "git@github.com:org/repo.git",
            "ssh://git@example.org/org/repo",
            "github.com/org/repo/deploy?ref=main",
            "gitlab.com/org/repo//base",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in ["../base", "deployment.yaml", "base", "./components/x"] {
            assert!(!is_remote(local), "{local}");
        }
    }

    #[test]
    fn an_entry_past_the_root_names_the_kustomization_and_the_entry() {
        let files = tree(&[
            (
                "apps/web/kustomization.yaml",
                "resources:\n- ../../../etc\n",
            ),
            ("apps/web/cm.yaml", "kind: ConfigMap\n"),
        ]);
        let err = check_references(&files, "apps/web", false).unwrap_err();
        assert!(matches!(err, RenderError::PathOutside { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("apps/web/kustomization.yaml"), "{text}");
        assert!(text.contains("../../../etc"), "{text}");
    }

    #[test]
    fn escapes_are_found_in_bases_reached_from_the_overlay() {
        let files = tree(&[
            (
                "overlays/prod/kustomization.yaml",
                "resources: [../../base]\n",
            ),
            ("base/kustomization.yml", "components:\n- ../../shared\n"),
        ]);
        let err = check_references(&files, "overlays/prod", false).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("base/kustomization.yml:"), "{text}");
    }

    #[test]
    fn remote_bases_are_refused_unless_allowed() {
        let files = tree(&[(
            "app/kustomization.yaml",
            "resources:\n- github.com/org/repo//base?ref=v1\n",
        )]);
        let err = check_references(&files, "app", false).unwrap_err();
        assert!(matches!(err, RenderError::RemoteBase { .. }), "{err:?}");
        assert!(err.to_string().contains("allowRemoteBases"), "{err}");
        check_references(&files, "app", true).unwrap();
    }

    #[test]
    fn a_local_directory_with_a_dot_is_not_remote() {
        let files = tree(&[
            ("app/kustomization.yaml", "resources: [base.v2/x]\n"),
            ("app/base.v2/x/kustomization.yaml", "resources: []\n"),
        ]);
        check_references(&files, "app", false).unwrap();
    }

    #[test]
    fn a_kustomization_that_is_not_yaml_is_named() {
        let files = tree(&[("k/kustomization.yaml", "resources: [\n")]);
        let err = check_references(&files, "k", false).unwrap_err();
        assert!(
            err.to_string().starts_with("k/kustomization.yaml:"),
            "{err}"
        );
    }
}
