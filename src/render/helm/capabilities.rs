//! API versions the chart's own CRDs serve, for `.Capabilities.APIVersions.Has`: Helm installs
//! a chart's `crds/` before its templates, so a template gated on its own custom resource
//! (`{{ if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor" }}`) must
//! see it offline, and on a cluster that has not got the CRD yet. Pure.

use serde_json::Value;

use crate::source::SourceFile;

/// `group/version` and `group/version/Kind` of every served version of each
/// CustomResourceDefinition among `files` (YAML or JSON; a templated file that does not parse
/// is skipped: its CRDs are not known before rendering).
pub(super) fn crd_api_versions(files: &[SourceFile]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let manifest_like = [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| file.path.ends_with(ext));
        if !manifest_like || !contains(&file.data, b"CustomResourceDefinition") {
            continue;
        }
        let Ok(objects) = crate::manifest::parse_file(file) else {
            continue;
        };
        for crd in objects
            .iter()
            .filter(|o| o.id.is("apiextensions.k8s.io", "CustomResourceDefinition"))
        {
            let spec = crd.manifest.get("spec");
            let group = spec.and_then(|s| s.get("group")).and_then(Value::as_str);
            let kind = spec
                .and_then(|s| s.pointer("/names/kind"))
                .and_then(Value::as_str);
            let (Some(group), Some(kind)) = (group, kind) else {
                continue;
            };
            let versions = spec
                .and_then(|s| s.get("versions"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
                .filter_map(|v| v.get("name").and_then(Value::as_str));
            for version in versions {
                for api in [
                    format!("{group}/{version}"),
                    format!("{group}/{version}/{kind}"),
                ] {
                    if !out.contains(&api) {
                        out.push(api);
                    }
                }
            }
        }
    }
    out
}

fn contains(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charts_own_crds_give_their_served_api_versions() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                   metadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  \
                   names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n    \
                   - {name: v1, served: true, storage: true}\n    - {name: v1alpha1, served: false, storage: false}\n";
        let files = vec![
            SourceFile {
                path: "chart/crds/widgets.yaml".into(),
                data: crd.as_bytes().to_vec(),
            },
            SourceFile {
                path: "chart/templates/cm.yaml".into(),
                data: b"kind: {{ .Values.kind }}\n".to_vec(),
            },
        ];
        assert_eq!(
            crd_api_versions(&files),
            ["example.com/v1", "example.com/v1/Widget"]
        );
    }
}
