//! Reading fields of Kubernetes objects as JSON values, and the conversions both translators
//! share: names, repository paths, durations.

use std::time::Duration;

use serde_json::Value;

use super::Findings;
use crate::config::{format_duration, parse_duration};

/// The value at a dotted path (`spec.source.repoURL`), if every step is a mapping key.
pub(crate) fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// A scalar at `path` as text: strings trimmed and non-empty, numbers and booleans as written.
pub(crate) fn text(value: &Value, path: &str) -> Option<String> {
    match get(value, path)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean at `path`; the strings `"true"` and `"false"` count, as Kubernetes tools accept.
pub(crate) fn flag(value: &Value, path: &str) -> Option<bool> {
    match get(value, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The keys of the mapping at `path`, in order (none when it is not a mapping).
pub(crate) fn keys<'a>(value: &'a Value, path: &str) -> Vec<&'a str> {
    match get(value, path) {
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn kind(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// The API group of `apiVersion` (`argoproj.io` of `argoproj.io/v1alpha1`).
pub(crate) fn group(object: &Value) -> &str {
    let api = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    crate::manifest::split_api_version(api).0
}

pub(crate) fn name(object: &Value) -> String {
    text(object, "metadata.name").unwrap_or_default()
}

pub(crate) fn namespace(object: &Value) -> Option<String> {
    text(object, "metadata.namespace")
}

/// `Kind namespace/name`, how findings name an object.
pub(crate) fn object_id(object: &Value) -> String {
    match namespace(object) {
        Some(ns) => format!("{} {ns}/{}", kind(object), name(object)),
        None => format!("{} {}", kind(object), name(object)),
    }
}

/// Records every key of the mapping at `path` not in `handled` as not translated, with the
/// same advice for each.
pub(crate) fn unhandled_keys(
    value: &Value,
    path: &str,
    handled: &[&str],
    advice: &str,
    findings: &mut Findings,
) {
    for key in keys(value, path) {
        if !handled.contains(&key) {
            findings.not_translated(&format!("{path}.{key}"), advice);
        }
    }
}

/// `name` as a DNS-1123 label, which ordo requires of app names and namespaces: lowercase,
/// other characters replaced by '-', at most 63. A change is a finding.
pub(crate) fn dns_label(name: &str, field: &str, findings: &mut Findings) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let label = truncate_label(mapped.trim_matches('-'), 63);
    let label = if label.is_empty() {
        "app".to_owned()
    } else {
        label
    };
    if label != name {
        findings.note(
            field,
            format!(
                "{name:?} is not a DNS-1123 label, which ordo needs, so it is written {label:?} \
                 — rename it if you prefer"
            ),
        );
    }
    label
}

/// `name` if ordo takes it as a Helm release name (helm's rule: at most 53 lowercase letters,
/// digits, '-' and '.'); otherwise a finding, and `None` so the app name is used.
pub(crate) fn release_name(name: String, field: &str, findings: &mut Findings) -> Option<String> {
    let valid = name.len() <= 53
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid {
        findings.not_translated(
            field,
            format!(
                "{name:?} is not a Helm release name ordo accepts (at most 53 lowercase \
                 letters, digits, '-' and '.') — the app name is used; set helm.releaseName by \
                 hand, keeping the release's objects' names in mind"
            ),
        );
    }
    valid.then_some(name)
}

/// `glob` if ordo's file matcher compiles it; otherwise a finding.
pub(crate) fn glob(glob: String, field: &str, findings: &mut Findings) -> Option<String> {
    let compiles = globset::GlobBuilder::new(&glob)
        .literal_separator(true)
        .build()
        .is_ok();
    if !compiles {
        findings.not_translated(
            field,
            format!("{glob:?} is not a glob ordo reads — set it by hand"),
        );
    }
    compiles.then_some(glob)
}

/// At most `max` bytes of a label (ASCII by construction), without a trailing '-'.
pub(crate) fn truncate_label(label: &str, max: usize) -> String {
    let cut: String = label.chars().take(max).collect();
    cut.trim_end_matches('-').to_owned()
}

/// A directory of the repository as ordo writes it: no leading `./`, no trailing '/', `None`
/// for the root. `Err` when it is absolute or climbs out with `..`.
pub(crate) fn repo_dir(path: &str) -> Result<Option<String>, String> {
    let normal = normalize(path).ok_or_else(|| path.to_owned())?;
    Ok((!normal.is_empty()).then_some(normal))
}

/// `relative` (a values file as Argo CD reads it, relative to the app path `base`) as a
/// repository path; `None` when it leaves the repository.
pub(crate) fn join(base: Option<&str>, relative: &str) -> Option<String> {
    if relative.starts_with('/') {
        return normalize(relative.trim_start_matches('/'));
    }
    match base {
        Some(base) => normalize(&format!("{base}/{relative}")),
        None => normalize(relative),
    }
}

/// `a/./b/../c/` → `a/c`; `None` for an absolute path or one climbing above the root.
fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// A Go duration (`10m`, `1h30m0s`, `1.5h`, `500ms`), as Flux and Argo CD write them.
pub fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let amount: f64 = rest[..number].parse().ok()?;
        rest = &rest[number..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit..];
        nanos += amount * scale;
    }
    (nanos.is_finite() && nanos < 1e19).then(|| Duration::from_nanos(nanos as u64))
}

/// A Go duration at `path` written the way ordo reads durations; a value ordo cannot take
/// (unreadable, below a second, past a year) is a finding and left out, so the default holds.
pub(crate) fn duration(object: &Value, path: &str, findings: &mut Findings) -> Option<String> {
    let written = text(object, path)?;
    let ordo = go_duration(&written)
        .filter(|d| *d >= Duration::from_secs(1))
        .map(format_duration)
        .filter(|f| parse_duration(f).is_some());
    if ordo.is_none() {
        findings.not_translated(
            path,
            format!(
                "{written:?} is not a duration ordo accepts (1s to a year, e.g. 30s, 5m, 1h30m) \
                 — ordo's default applies; set one by hand if it matters"
            ),
        );
    }
    ordo
}

/// The `helm:` that would pull `chart` from the repository at `url` (`oci://…`, or a bare
/// `host/path` as Argo CD writes an OCI repository, or a classic chart repository), for a
/// finding: ordo pulls such charts, but its app follows a git repository the original names
/// not. A version range is not written: ordo wants an exact one.
pub(crate) fn remote_chart_hint(url: &str, chart: &str, version: Option<&str>) -> String {
    let version = version
        .filter(|v| crate::render::check_exact_version(v).is_ok())
        .unwrap_or("<an exact version>");
    let url = url.trim_end_matches('/');
    if let Some(oci) = url.strip_prefix("oci://") {
        format!("helm: {{repoURL: oci://{oci}/{chart}, version: {version}}}")
    } else if url.contains("://") {
        format!("helm: {{repoURL: {url}, chart: {chart}, version: {version}}}")
    } else {
        format!("helm: {{repoURL: oci://{url}/{chart}, version: {version}}}")
    }
}

/// What a finding says of a chart from a chart repository: why no app is written, and the two
/// ways to get one.
pub(crate) const REMOTE_CHART_ADVICE: &str = "ordo pulls charts from chart repositories, but an \
     app follows a git repository (for its values files) and this object names none";
