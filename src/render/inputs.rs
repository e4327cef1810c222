//! What a render reads: only those files are extracted for the tool and hashed into the cache
//! key, so a commit that touches nothing an app renders from re-renders nothing (in a monorepo
//! most commits), and the tool never sees the rest of the repository.

use std::collections::HashSet;

use super::kustomize::check_references;
use super::{RenderError, SourceKind, app_dir};
use crate::source::SourceFile;

/// The files of `files` that a render of `kind` at `app_path` reads: for Kustomize, everything
/// under the directories its kustomizations reach; for Helm, the chart directory and the
/// values files named in `value_files`; for a directory, all of them.
pub(super) fn select(
    files: &[SourceFile],
    kind: SourceKind,
    app_path: &str,
    value_files: &[String],
    allow_remote: bool,
) -> Result<Vec<SourceFile>, RenderError> {
    let dirs: HashSet<String> = match kind {
        SourceKind::Kustomize => check_references(files, app_path, allow_remote)?,
        SourceKind::Helm => HashSet::from([app_dir(app_path)]),
        SourceKind::Auto | SourceKind::Directory => return Ok(files.to_vec()),
    };
    let named: HashSet<String> = value_files.iter().map(|f| app_dir(f)).collect();
    Ok(files
        .iter()
        .filter(|f| named.contains(&f.path) || dirs.iter().any(|d| under(&f.path, d)))
        .cloned()
        .collect())
}

/// Whether `path` is in directory `dir` or below it ("" is the root).
fn under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> Vec<SourceFile> {
        paths
            .iter()
            .map(|p| SourceFile {
                path: (*p).to_owned(),
                data: if p.ends_with("kustomization.yaml") {
                    match *p {
                        "overlays/prod/kustomization.yaml" => b"resources: [../../base]\n".to_vec(),
                        _ => b"resources: [deployment.yaml]\n".to_vec(),
                    }
                } else {
                    b"x: 1\n".to_vec()
                },
            })
            .collect()
    }

    fn paths(files: Vec<SourceFile>) -> Vec<String> {
        let mut p: Vec<String> = files.into_iter().map(|f| f.path).collect();
        p.sort();
        p
    }

    #[test]
    fn a_render_reads_only_what_its_kind_reaches() {
        let files = tree(&[
            "base/kustomization.yaml",
            "base/deployment.yaml",
            "overlays/prod/kustomization.yaml",
            "overlays/staging/kustomization.yaml",
            "charts/shop/Chart.yaml",
            "charts/shop/templates/a.yaml",
            "charts/shopping/Chart.yaml",
            "envs/prod.yaml",
            "envs/staging.yaml",
            "README.md",
        ]);
        let kustomize = select(&files, SourceKind::Kustomize, "overlays/prod", &[], false);
        assert_eq!(
            paths(kustomize.unwrap_or_default()),
            [
                "base/deployment.yaml",
                "base/kustomization.yaml",
                "overlays/prod/kustomization.yaml"
            ]
        );
        let values = vec!["envs/prod.yaml".to_owned()];
        let helm = select(&files, SourceKind::Helm, "charts/shop", &values, false);
        assert_eq!(
            paths(helm.unwrap_or_default()),
            [
                "charts/shop/Chart.yaml",
                "charts/shop/templates/a.yaml",
                "envs/prod.yaml"
            ],
            "not the sibling chart whose name shares a prefix"
        );
        let directory = select(&files, SourceKind::Directory, "", &[], false);
        assert_eq!(directory.map(|f| f.len()).unwrap_or_default(), files.len());
    }
}
