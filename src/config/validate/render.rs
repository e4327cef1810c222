//! The render blocks of an app: `helm:` (a chart at the app path, or pulled from a chart
//! repository or an OCI registry) and `kustomize:`.

use std::collections::BTreeMap;

use super::{Fields, Node, Value};
use crate::config::ConfigError;
use crate::render::{HelmOptions, KustomizeOptions, RemoteChart, RepoKind, SourceKind};

const HELM_KEYS: &[&str] = &[
    "releaseName",
    "valueFiles",
    "values",
    "chart",
    "repoURL",
    "version",
    "usernameFile",
    "passwordFile",
    "plainHTTP",
    "caFile",
    "kubeVersion",
];
const HELM_INLINE: &[(&str, &str)] = &[
    ("username", "usernameFile"),
    ("password", "passwordFile"),
    ("token", "passwordFile"),
];
const KUSTOMIZE_KEYS: &[&str] = &["allowRemoteBases"];
const POST_BUILD_KEYS: &[&str] = &["substitute"];
/// `helm:` of an app; refused when `source` says the app is no chart, since it would be
/// silently ignored.
pub(super) fn helm(
    app: &Fields,
    source: SourceKind,
    name: &str,
) -> Result<HelmOptions, ConfigError> {
    let Some(field) = app.get("helm") else {
        return Ok(HelmOptions {
            release_name: name.to_owned(),
            ..HelmOptions::default()
        });
    };
    if !matches!(source, SourceKind::Auto | SourceKind::Helm) {
        return Err(field.fail(format!(
            "is only read for a Helm app, and source is {source}"
        )));
    }
    let f = Fields::open(app.file, field.node, field.path, HELM_KEYS, HELM_INLINE)?;
    let release_name = match f.get("releaseName") {
        Some(r) => r.release_name()?,
        None => name.to_owned(),
    };
    let value_files = match f.get("valueFiles") {
        Some(list) => list
            .items()?
            .iter()
            .map(|item| item.repo_file())
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let values = match f.get("values") {
        Some(v) if matches!(v.node.value, Value::Map(_)) => Some(json(v.node)),
        Some(v) => return Err(v.fail(format!("expected a mapping, found {}", v.node.value.kind()))),
        None => None,
    };
    let kube_version = match f.get("kubeVersion") {
        Some(v) => {
            let text = v.string()?;
            crate::render::check_kube_version(&text).map_err(|e| v.fail(e))?;
            Some(text)
        }
        None => None,
    };
    Ok(HelmOptions {
        release_name,
        value_files,
        values,
        kube_version,
        remote: remote_chart(&f)?,
        ..HelmOptions::default()
    })
}

/// `repoURL`, `chart`, `version` and the credentials of a chart pulled from a repository;
/// `None` when `repoURL` is absent, and then none of the others may be given.
fn remote_chart(f: &Fields) -> Result<Option<RemoteChart>, ConfigError> {
    let Some(url) = f.get("repoURL") else {
        for key in [
            "chart",
            "version",
            "usernameFile",
            "passwordFile",
            "plainHTTP",
            "caFile",
        ] {
            if let Some(stray) = f.get(key) {
                return Err(stray.fail(
                    "is only read for a chart from a repository; set repoURL too, or leave \
                     it out for a chart in git at path",
                ));
            }
        }
        return Ok(None);
    };
    let chart = f.get("chart").map(|c| c.string()).transpose()?;
    let Some(version_field) = f.get("version") else {
        return Err(url.fail(
            "needs version: an exact chart version (like 1.2.3), so a commit always renders \
             the same chart",
        ));
    };
    let version = version_field.string()?;
    crate::render::check_exact_version(&version).map_err(|e| version_field.fail(e))?;
    let mut remote = RemoteChart::new(&url.string()?, chart.as_deref(), &version).map_err(|e| {
        match f.get("chart") {
            Some(chart) if e.contains("not a chart name") => chart.fail(e),
            _ => url.fail(e),
        }
    })?;
    remote.username_file = f.get("usernameFile").map(|p| p.path_buf()).transpose()?;
    remote.password_file = f.get("passwordFile").map(|p| p.path_buf()).transpose()?;
    remote.ca_file = f.get("caFile").map(|p| p.path_buf()).transpose()?;
    match (
        &remote.username_file,
        f.get("passwordFile"),
        f.get("usernameFile"),
    ) {
        (Some(_), None, Some(user)) => {
            return Err(user.fail("needs passwordFile too: both or neither"));
        }
        (None, Some(password), _) => {
            return Err(password.fail("needs usernameFile too: both or neither"));
        }
        _ => {}
    }
    if let Some(plain) = f.get("plainHTTP") {
        remote.plain_http = plain.bool()?;
        if remote.plain_http && remote.kind() != RepoKind::Oci {
            return Err(plain.fail(
                "only applies to an oci:// registry; a chart repository says http:// in its URL",
            ));
        }
    }
    // Refused again at render time; here so the config's reader sees it first (issue #23).
    remote
        .check_credentials_transport()
        .map_err(|e| url.fail(e))?;
    Ok(Some(remote))
}

pub(super) fn kustomize(app: &Fields, source: SourceKind) -> Result<KustomizeOptions, ConfigError> {
    let Some(field) = app.get("kustomize") else {
        return Ok(KustomizeOptions::default());
    };
    if !matches!(source, SourceKind::Auto | SourceKind::Kustomize) {
        return Err(field.fail(format!(
            "is only read for a Kustomize app, and source is {source}"
        )));
    }
    let f = Fields::open(app.file, field.node, field.path, KUSTOMIZE_KEYS, &[])?;
    Ok(KustomizeOptions {
        allow_remote_bases: f.bool_or("allowRemoteBases", false)?,
    })
}

/// `postBuild: {substitute: {VAR: value}}`: Flux's post-build variables, substituted in the
/// rendered YAML of any source kind. Names as Flux takes them.
pub(super) fn post_build(app: &Fields) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(field) = app.get("postBuild") else {
        return Ok(BTreeMap::new());
    };
    let f = Fields::open(app.file, field.node, field.path, POST_BUILD_KEYS, &[])?;
    let vars = super::namespace::strings(f.get("substitute"))?;
    if let (Some(bad), Some(at)) = (
        vars.keys().find(|k| !crate::render::is_variable_name(k)),
        f.get("substitute"),
    ) {
        return Err(at.fail(format!(
            "{bad:?} is not a variable name: letters, digits and _, not starting with a digit"
        )));
    }
    Ok(vars)
}

/// Inline Helm values as JSON, which is what the render layer writes for `helm -f`.
fn json(node: &Node) -> serde_json::Value {
    use serde_json::Value as Json;
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => n
            .parse::<i64>()
            .map(Json::from)
            .or_else(|_| n.parse::<u64>().map(Json::from))
            .ok()
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
            })
            .unwrap_or_else(|| Json::String(n.clone())),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), json(&e.value)))
                .collect(),
        ),
    }
}
