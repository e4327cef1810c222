//! The kustomization Flux's kustomize-controller generates for a path that has none: every
//! `.yaml`/`.yml` file under it, and every directory below it that holds a kustomization
//! (not descended into), in the order of a walk of the tree (names sorted in each directory).
//! A Flux fleet's `clusters/<name>/` is such a path: plain manifests next to a nested
//! `flux-system/` kustomization. Built as Flux builds it, so ordo plans what Flux applies.

use super::super::{KUSTOMIZATION_FILES, app_dir};
use crate::source::SourceFile;

/// The kustomization to build `app_path` with when it has none of its own (None when it has).
pub(in crate::render) fn generated(files: &[SourceFile], app_path: &str) -> Option<SourceFile> {
    let dir = app_dir(app_path);
    let below = |path: &str| -> Option<String> {
        if dir.is_empty() {
            Some(path.to_owned())
        } else {
            path.strip_prefix(&format!("{dir}/")).map(str::to_owned)
        }
    };
    let relative: Vec<String> = files.iter().filter_map(|f| below(&f.path)).collect();
    if relative
        .iter()
        .any(|p| KUSTOMIZATION_FILES.contains(&p.as_str()))
    {
        return None;
    }
    // Directories below the path that hold a kustomization.
    let built: Vec<&str> = relative
        .iter()
        .filter_map(|p| {
            let (parent, name) = p.rsplit_once('/')?;
            KUSTOMIZATION_FILES.contains(&name).then_some(parent)
        })
        .collect();
    // The shallowest such directory above a file, if any: the file is built by it.
    let built_by = |path: &str| -> Option<String> {
        let mut prefix = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last()?.1 {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if built.contains(&prefix.as_str()) {
                return Some(prefix);
            }
        }
        None
    };
    // A walk visits each directory's entries in name order: sorting the paths part by part
    // gives the same order.
    let mut ordered: Vec<&String> = relative.iter().collect();
    ordered.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    let mut resources: Vec<String> = Vec::new();
    for path in ordered {
        let entry = match built_by(path) {
            Some(directory) => directory,
            None if path.ends_with(".yaml") || path.ends_with(".yml") => path.clone(),
            None => continue,
        };
        let entry = format!("./{entry}");
        if !resources.contains(&entry) {
            resources.push(entry);
        }
    }
    let mut text =
        String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n");
    if resources.is_empty() {
        // What Flux writes too: kustomize refuses an empty kustomization.
        text.push_str("namespace: _placeholder\n");
    } else {
        text.push_str("resources:\n");
        for resource in &resources {
            // Quoted: a file name may hold YAML's special characters.
            text.push_str(&format!(
                "- {}\n",
                serde_json::Value::from(resource.as_str())
            ));
        }
    }
    let path = if dir.is_empty() {
        "kustomization.yaml".to_owned()
    } else {
        format!("{dir}/kustomization.yaml")
    };
    Some(SourceFile {
        path,
        data: text.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files at `paths`; their content does not matter to the generator.
    fn tree(paths: &[&str]) -> Vec<SourceFile> {
        let file = |path: &&str| SourceFile {
            path: (*path).into(),
            data: Vec::new(),
        };
        paths.iter().map(file).collect()
    }

    fn resources(files: &[SourceFile], app: &str) -> Option<Vec<String>> {
        let generated = generated(files, app)?;
        let text = String::from_utf8(generated.data).unwrap();
        Some(
            text.lines()
                .filter_map(|l| l.strip_prefix("- "))
                .map(|l| serde_json::from_str::<String>(l).unwrap())
                .collect(),
        )
    }

    #[test]
    fn a_flux_cluster_directory_builds_its_files_and_its_nested_kustomizations() {
        // A bootstrapped fleet: clusters/prod holds plain Flux objects next to flux-system/,
        // which has its own kustomization; infrastructure/ is elsewhere in the repository.
        let files = tree(&[
            "clusters/prod/apps.yaml",
            "clusters/prod/flux-system/gotk-components.yaml",
            "clusters/prod/flux-system/gotk-sync.yaml",
            "clusters/prod/flux-system/kustomization.yaml",
            "clusters/prod/infrastructure.yaml",
            "clusters/prod/notes/README.md",
            "clusters/prod/notes/extra.yml",
            "clusters/prod/z/deeper/kustomization.yaml",
            "clusters/prod/z/deeper/cm.yaml",
            "clusters/prod/z/deeper/more/x.yaml",
            "clusters/staging/apps.yaml",
            "infrastructure/kustomization.yaml",
        ]);
        assert_eq!(
            resources(&files, "clusters/prod").unwrap(),
            [
                "./apps.yaml",
                "./flux-system",
                "./infrastructure.yaml",
                "./notes/extra.yml",
                "./z/deeper"
            ]
        );
        let generated = generated(&files, "./clusters/prod/").unwrap();
        assert_eq!(generated.path, "clusters/prod/kustomization.yaml");
    }

    #[test]
    fn a_path_with_its_own_kustomization_is_built_as_it_is() {
        let files = tree(&[
            "app/kustomization.yaml",
            "app/cm.yaml",
            "app/sub/kustomization.yaml",
        ]);
        assert_eq!(resources(&files, "app"), None);
        let root = tree(&["Kustomization", "cm.yaml"]);
        assert_eq!(resources(&root, ""), None);
    }

    #[test]
    fn names_sort_as_a_walk_visits_them_and_an_empty_path_builds_nothing() {
        // "a-b.yaml" sorts before "a/…" byte-wise ('-' < '/'), but a walk lists a directory's
        // entries by name: "a" < "a-b.yaml", so a's files come first.
        let files = tree(&["app/a-b.yaml", "app/a/c.yaml", "app/B.yaml"]);
        assert_eq!(
            resources(&files, "app").unwrap(),
            ["./B.yaml", "./a/c.yaml", "./a-b.yaml"]
        );
        let empty = generated(&tree(&["app/README.md"]), "app").unwrap();
        assert!(
            String::from_utf8(empty.data)
                .unwrap()
                .contains("namespace: _placeholder")
        );
    }
}
