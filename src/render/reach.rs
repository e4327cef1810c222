//! What of the repository a Kustomize or Helm render reaches, worked out from the small files
//! that say so (kustomizations, `Chart.yaml`) before anything else is read. In a monorepo the
//! rest (another app's directory, with a file past the read limits) is never read, so it can
//! neither break this app nor cost it anything. Pure.

use std::collections::{BTreeSet, VecDeque};

use serde::Deserialize;

use super::kustomize::{reached_directories, resolve};
use super::{KUSTOMIZATION_FILES, SourceKind, app_dir};
use crate::manifest::yaml_options;
use crate::source::{Limits, Selection, SourceFile};

/// Every kustomization and `Chart.yaml` of the tree: small files, read first.
pub(super) fn markers(limits: Limits) -> Selection {
    Selection {
        path: String::new(),
        include: KUSTOMIZATION_FILES
            .iter()
            .chain(&["Chart.yaml"])
            .map(|name| format!("**/{name}"))
            .collect(),
        exclude: Vec::new(),
        limits,
    }
}

/// What a render of `kind` at `app_path` reads, given the tree's `markers`: the directories it
/// reaches, whole, and the values files named.
pub(super) fn selection(
    kind: SourceKind,
    app_path: &str,
    markers: &[SourceFile],
    value_files: &[String],
    limits: Limits,
) -> Selection {
    let dirs = match kind {
        SourceKind::Kustomize => reached_directories(markers, app_path),
        _ => chart_directories(markers, app_path),
    };
    let mut include: Vec<String> = dirs
        .iter()
        .map(|dir| {
            if dir.is_empty() {
                "**".to_owned()
            } else {
                format!("{}/**", escape(dir))
            }
        })
        .collect();
    include.extend(value_files.iter().map(|f| escape(&app_dir(f))));
    Selection {
        path: String::new(),
        include,
        exclude: Vec::new(),
        limits,
    }
}

/// A path as a glob matching only itself.
fn escape(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '*' | '?' | '[' | ']' | '{' | '}' | '\\' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}

/// The part of `Chart.yaml` that names local charts (`file://` dependencies).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chart {
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Dependency {
    repository: String,
}

/// The chart's directory and those of its `file://` dependencies, transitively.
fn chart_directories(markers: &[SourceFile], app_path: &str) -> BTreeSet<String> {
    let mut queue = VecDeque::from([app_dir(app_path)]);
    let mut seen = BTreeSet::new();
    while let Some(dir) = queue.pop_front() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let path = if dir.is_empty() {
            "Chart.yaml".to_owned()
        } else {
            format!("{dir}/Chart.yaml")
        };
        let Some(file) = markers.iter().find(|f| f.path == path) else {
            continue;
        };
        let chart: Option<Chart> = std::str::from_utf8(&file.data)
            .ok()
            .and_then(|text| serde_saphyr::from_str_with_options(text, yaml_options()).ok());
        for dependency in chart.unwrap_or_default().dependencies {
            if let Some(target) = dependency
                .repository
                .strip_prefix("file://")
                .and_then(|local| resolve(&dir, local))
            {
                queue.push_back(target);
            }
        }
    }
    seen
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
    fn an_overlay_reads_its_bases_and_nothing_of_other_apps() {
        let markers = tree(&[
            (
                "apps/web/overlays/prod/kustomization.yaml",
                "resources: [../../base]\n",
            ),
            (
                "apps/web/base/kustomization.yaml",
                "components: [../../../shared/c]\n",
            ),
            ("shared/c/kustomization.yaml", "kind: Component\n"),
            ("apps/other/kustomization.yaml", "resources: [huge.yaml]\n"),
        ]);
        let s = selection(
            SourceKind::Kustomize,
            "apps/web/overlays/prod",
            &markers,
            &[],
            Limits::default(),
        );
        assert_eq!(
            s.include,
            [
                "apps/web/base/**",
                "apps/web/overlays/prod/**",
                "shared/c/**"
            ]
        );
    }

    #[test]
    fn a_chart_reads_its_directory_its_local_dependencies_and_its_values_files() {
        let markers = tree(&[
            (
                "charts/shop/Chart.yaml",
                "name: shop\ndependencies:\n- name: common\n  repository: file://../common\n- name: redis\n  repository: https://charts.example.org\n",
            ),
            ("charts/common/Chart.yaml", "name: common\n"),
            ("charts/other/Chart.yaml", "name: other\n"),
        ]);
        let s = selection(
            SourceKind::Helm,
            "charts/shop",
            &markers,
            &["envs/prod[1].yaml".into()],
            Limits::default(),
        );
        assert_eq!(
            s.include,
            [
                "charts/common/**",
                "charts/shop/**",
                "envs/prod[[]1[]].yaml"
            ]
        );
    }

    #[test]
    fn an_app_at_the_root_reads_the_whole_tree() {
        let markers = tree(&[("kustomization.yaml", "resources: [a.yaml]\n")]);
        let s = selection(SourceKind::Kustomize, "", &markers, &[], Limits::default());
        assert_eq!(s.include, ["**"]);
    }
}
