//! Argo CD `Application` → one ordo app. `ApplicationSet`s are only named: their generators
//! produce the Applications, which is what to translate.

use serde_json::{Map, Value};

use super::fields::{self, dns_label, flag, get, text};
use super::tenancy::{self, Projects};
use super::{App, Finding, Findings, Helm};
use crate::render::SourceKind;

const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
const SPEC_KEYS: &[&str] = &["source", "sources", "destination", "project", "syncPolicy"];
const SOURCE_KEYS: &[&str] = &[
    "repoURL",
    "path",
    "targetRevision",
    "chart",
    "helm",
    "kustomize",
    "directory",
    "name",
    "ref",
];
const HELM_KEYS: &[&str] = &[
    "releaseName",
    "valueFiles",
    "values",
    "valuesObject",
    "parameters",
    "version",
];
const SYNC_POLICY_KEYS: &[&str] = &[
    "automated",
    "syncOptions",
    "retry",
    "managedNamespaceMetadata",
];
/// Globs for Argo CD's default plain-directory read: the top level only.
const TOP_LEVEL: [&str; 3] = ["*.yaml", "*.yml", "*.json"];

pub(super) fn is_argo(object: &Value) -> bool {
    fields::group(object) == "argoproj.io"
        && matches!(fields::kind(object), "Application" | "ApplicationSet")
}

/// The app for an `Application`; `None` (with findings saying why) when there is none.
pub(super) fn translate(
    object: &Value,
    projects: &mut Projects,
    all: &mut Vec<Finding>,
) -> Option<App> {
    let mut findings = Findings::new(fields::object_id(object), all);
    if !translatable(object, &mut findings) {
        return None;
    }
    let Some(repo) = text(object, "spec.source.repoURL") else {
        findings.not_translated("spec.source.repoURL", "is missing — nothing to sync");
        return None;
    };
    let name = dns_label(&fields::name(object), "metadata.name", &mut findings);
    let namespace = destination_namespace(object, &mut findings);
    let mut app = App::new(name, repo, namespace, fields::object_id(object));
    app.reference = text(object, "spec.source.targetRevision")
        .filter(|r| r != "HEAD")
        .filter(|r| plain_revision(r, &mut findings));
    app.path = match fields::repo_dir(&text(object, "spec.source.path").unwrap_or_default()) {
        Ok(path) => path,
        Err(path) => {
            findings.not_translated(
                "spec.source.path",
                format!("{path:?} is not inside the repository — set path by hand"),
            );
            None
        }
    };
    destination(object, &mut findings);
    tenancy::argo(object, &mut app, projects, &mut findings);
    sync_policy(object, &mut app, &mut findings);
    source_kind(object, &mut app, &mut findings);
    fields::unhandled_keys(
        object,
        "spec",
        SPEC_KEYS,
        "not an ordo option — see config/ordo.yaml for what an app can set",
        &mut findings,
    );
    fields::unhandled_keys(
        object,
        "spec.source",
        SOURCE_KEYS,
        "not an ordo option — see config/ordo.yaml for what an app can set",
        &mut findings,
    );
    Some(app)
}

/// `false`, with the finding saying why, for what makes no app: an ApplicationSet, a
/// multi-source Application, a chart from a chart repository.
fn translatable(object: &Value, findings: &mut Findings) -> bool {
    if fields::kind(object) == "ApplicationSet" {
        findings.not_translated(
            "spec.generators",
            "ApplicationSet generators are not translated — translate each generated \
             Application: kubectl get applications -n argocd -o yaml > apps.yaml, then \
             ordo import apps.yaml",
        );
        return false;
    }
    if get(object, "spec.source").is_none() {
        let (field, message) = if get(object, "spec.sources").is_some() {
            (
                "spec.sources",
                "multi-source Applications are not translated — write one ordo app per source \
                 that holds manifests; values files from another source must be copied into \
                 the chart's repository",
            )
        } else {
            ("spec.source", "is missing — nothing to sync")
        };
        findings.not_translated(field, message);
        return false;
    }
    if let Some(chart) = text(object, "spec.source.chart") {
        let repo = text(object, "spec.source.repoURL").unwrap_or_default();
        let version = text(object, "spec.source.targetRevision");
        let (shown, pin) = match &version {
            Some(v) => (format!(" {v}"), format!(" --version '{v}'")),
            None => (String::new(), String::new()),
        };
        findings.not_translated(
            "spec.source.chart",
            format!(
                "chart {chart}{shown} from the chart repository {repo}: {} — write the app \
                 by hand with the repository that holds its values and {}, or vendor the \
                 chart into git (helm pull {chart} --repo {repo}{pin} --untar) and point an \
                 app with source: helm at it",
                fields::REMOTE_CHART_ADVICE,
                fields::remote_chart_hint(&repo, &chart, version.as_deref()),
            ),
        );
        return false;
    }
    true
}

/// `false` (with a finding) for a semver range, which ordo cannot follow.
fn plain_revision(revision: &str, findings: &mut Findings) -> bool {
    let range = revision.contains(['*', '^', '~', '>', '<', '=', ' ', '|']);
    if range {
        findings.not_translated(
            "spec.source.targetRevision",
            format!(
                "{revision:?} is a version range; ordo follows a branch, a tag or a commit — \
                 the default branch is written: set ref to the tag to deploy"
            ),
        );
    }
    !range
}

fn destination_namespace(object: &Value, findings: &mut Findings) -> String {
    if let Some(ns) = text(object, "spec.destination.namespace") {
        return dns_label(&ns, "spec.destination.namespace", findings);
    }
    match fields::namespace(object) {
        Some(ns) => {
            findings.note(
                "spec.destination.namespace",
                format!(
                    "not set: the Application's own namespace {ns:?} is written — objects \
                     that name no namespace go there; change it if that is not meant"
                ),
            );
            dns_label(&ns, "metadata.namespace", findings)
        }
        None => {
            findings.note(
                "spec.destination.namespace",
                "no namespace: ordo needs one, so \"default\" is written — change it if needed",
            );
            "default".to_owned()
        }
    }
}

fn destination(object: &Value, findings: &mut Findings) {
    let server = text(object, "spec.destination.server");
    let cluster = text(object, "spec.destination.name");
    let remote = server.as_deref().is_some_and(|s| s != IN_CLUSTER_SERVER)
        || cluster.as_deref().is_some_and(|n| n != "in-cluster");
    if remote {
        let (field, target) = match (server, cluster) {
            (Some(s), _) if s != IN_CLUSTER_SERVER => ("spec.destination.server", s),
            (_, c) => ("spec.destination.name", c.unwrap_or_default()),
        };
        findings.not_translated(
            field,
            format!(
                "{target}: ordo syncs the cluster it runs in — run an ordo agent in that \
                 cluster with this app"
            ),
        );
    }
}

fn sync_policy(object: &Value, app: &mut App, findings: &mut Findings) {
    let automated = get(object, "spec.syncPolicy.automated")
        .filter(|_| flag(object, "spec.syncPolicy.automated.enabled") != Some(false));
    match automated {
        Some(auto) => {
            app.prune = flag(auto, "prune").unwrap_or(false);
            app.self_heal = flag(auto, "selfHeal").unwrap_or(false);
            app.allow_empty = flag(auto, "allowEmpty").unwrap_or(false);
        }
        None => findings.not_translated(
            "spec.syncPolicy.automated",
            "the Application syncs only when asked; ordo always syncs a new commit \
             automatically — written with prune: false and selfHeal: false, the cautious \
             choice; review changes before they reach the followed branch (ordo diff)",
        ),
    }
    if let Some(Value::Array(options)) = get(object, "spec.syncPolicy.syncOptions") {
        for option in options.iter().filter_map(Value::as_str) {
            if option.eq_ignore_ascii_case("CreateNamespace=true") {
                app.create_namespace = true;
                continue;
            }
            sync_option(option, findings);
        }
    }
    if let Some(metadata) = get(object, "spec.syncPolicy.managedNamespaceMetadata") {
        if app.create_namespace {
            let kept: serde_json::Map<String, Value> = ["labels", "annotations"]
                .into_iter()
                .filter_map(|k| metadata.get(k).map(|v| (k.to_owned(), v.clone())))
                .collect();
            app.managed_namespace_metadata = Some(Value::Object(kept));
        } else {
            findings.not_translated(
                "spec.syncPolicy.managedNamespaceMetadata",
                "Argo CD reads it only with CreateNamespace=true, and so does ordo",
            );
        }
    }
    if get(object, "spec.syncPolicy.retry").is_some() {
        findings.note(
            "spec.syncPolicy.retry",
            "ordo has no retry policy: a failed sync is tried again on the next commit or a \
             manual sync (onFailure: rollback returns to the last healthy revision)",
        );
    }
    fields::unhandled_keys(
        object,
        "spec.syncPolicy",
        SYNC_POLICY_KEYS,
        "not an ordo option",
        findings,
    );
}

fn sync_option(option: &str, findings: &mut Findings) {
    let field = format!("spec.syncPolicy.syncOptions[{option}]");
    let (key, value) = option.split_once('=').unwrap_or((option, ""));
    let enabled = value.eq_ignore_ascii_case("true");
    match key {
        // Argo CD's defaults: nothing to translate.
        "CreateNamespace" | "Replace" if !enabled => {}
        "Prune" | "Validate" if enabled => {}
        "ServerSideApply" => findings.note(&field, "ordo always applies server-side"),
        "ApplyOutOfSyncOnly" => findings.note(
            &field,
            "ordo already skips objects unchanged since the last healthy sync",
        ),
        "Replace" if enabled => findings.not_translated(
            &field,
            "ordo applies, it does not replace — annotate objects whose immutable fields \
             change with ordo.dev/recreate: \"true\"",
        ),
        "Prune" if !enabled => findings.not_translated(
            &field,
            "ordo has no app-wide prune exception — annotate the objects to keep with \
             ordo.dev/prune: \"false\"",
        ),
        _ => findings.not_translated(&field, "not an ordo option — nothing equivalent to set"),
    }
}

/// `source:` and its options, from which of `helm`, `kustomize`, `directory` is set.
fn source_kind(object: &Value, app: &mut App, findings: &mut Findings) {
    if get(object, "spec.source.helm").is_some() {
        app.source = Some(SourceKind::Helm);
        app.helm = Some(helm(object, app.path.as_deref(), findings));
    } else if get(object, "spec.source.kustomize").is_some() {
        app.source = Some(SourceKind::Kustomize);
        let at = app.path.as_deref().unwrap_or(".");
        for key in fields::keys(object, "spec.source.kustomize") {
            findings.not_translated(
                &format!("spec.source.kustomize.{key}"),
                format!("not an ordo option — set {key} in the kustomization.yaml at {at}"),
            );
        }
    } else {
        directory(object, app, findings);
    }
}

/// A plain directory (or one Argo CD detects as Kustomize or Helm, like ordo's `auto`).
/// Argo CD reads a plain directory's top level only unless `recurse`; ordo reads
/// subdirectories, so the top-level globs keep it to what Argo CD applied.
fn directory(object: &Value, app: &mut App, findings: &mut Findings) {
    let base = "spec.source.directory";
    if get(object, base).is_some() {
        app.source = Some(SourceKind::Directory);
    }
    let recurse = flag(object, "spec.source.directory.recurse").unwrap_or(false);
    let include = text(object, "spec.source.directory.include");
    match include.and_then(|g| fields::glob(g, "spec.source.directory.include", findings)) {
        Some(include) => app.include = vec![include],
        None if !recurse => app.include = TOP_LEVEL.map(str::to_owned).to_vec(),
        None => {}
    }
    let exclude = text(object, "spec.source.directory.exclude");
    app.exclude = exclude
        .and_then(|g| fields::glob(g, "spec.source.directory.exclude", findings))
        .into_iter()
        .collect();
    if !recurse {
        findings.note(
            "spec.source.directory.recurse",
            "Argo CD reads only the top level of a plain directory: include keeps ordo to it \
             (include is ignored when the path is a Kustomize overlay or a chart)",
        );
    }
    fields::unhandled_keys(
        object,
        base,
        &["recurse", "include", "exclude"],
        "not an ordo option (Jsonnet is not rendered) — render it in CI and commit the output",
        findings,
    );
}

fn helm(object: &Value, path: Option<&str>, findings: &mut Findings) -> Helm {
    let base = "spec.source.helm";
    let mut helm = Helm {
        release_name: text(object, "spec.source.helm.releaseName")
            .and_then(|r| fields::release_name(r, "spec.source.helm.releaseName", findings)),
        ..Helm::default()
    };
    if let Some(Value::Array(files)) = get(object, "spec.source.helm.valueFiles") {
        for file in files.iter().filter_map(Value::as_str) {
            match value_file(file, path) {
                Some(repo_file) => {
                    findings.note(
                        "spec.source.helm.valueFiles",
                        format!(
                            "{file:?} is relative to the app path in Argo CD; ordo's valueFiles \
                             are relative to the repository root, so it is written {repo_file:?}"
                        ),
                    );
                    helm.value_files.push(repo_file);
                }
                None => findings.not_translated(
                    "spec.source.helm.valueFiles",
                    format!(
                        "{file:?} is not a file of the repository — copy it into the \
                         repository and list it in helm.valueFiles"
                    ),
                ),
            }
        }
    }
    let mut values = Map::new();
    inline_values(object, &mut values, findings);
    parameters(object, &mut values, findings);
    helm.values = (!values.is_empty()).then_some(values);
    fields::unhandled_keys(
        object,
        base,
        HELM_KEYS,
        "not an ordo Helm option (ordo runs helm template with the release name, the values \
         files and the values)",
        findings,
    );
    helm
}

/// A values file as a repository path; `None` for a URL, a `$ref` of another source, or a
/// path leaving the repository.
fn value_file(file: &str, path: Option<&str>) -> Option<String> {
    if file.contains("://") || file.starts_with('$') {
        return None;
    }
    fields::join(path, file).filter(|f| !f.is_empty())
}

/// `values` (a YAML string) then `valuesObject` (a mapping), merged in Argo CD's order.
fn inline_values(object: &Value, values: &mut Map<String, Value>, findings: &mut Findings) {
    if let Some(written) = text(object, "spec.source.helm.values") {
        match serde_saphyr::from_str::<Value>(&written) {
            Ok(Value::Object(map)) => merge(values, map),
            Ok(Value::Null) => {}
            _ => findings.not_translated(
                "spec.source.helm.values",
                "is not a YAML mapping — write the values under helm.values by hand",
            ),
        }
    }
    match get(object, "spec.source.helm.valuesObject") {
        Some(Value::Object(map)) => merge(values, map.clone()),
        Some(_) => findings.not_translated(
            "spec.source.helm.valuesObject",
            "is not a mapping — write the values under helm.values by hand",
        ),
        None => {}
    }
}

/// `parameters` (`--set name=value`) into the values, last, as Argo CD passes them last.
fn parameters(object: &Value, values: &mut Map<String, Value>, findings: &mut Findings) {
    let Some(Value::Array(parameters)) = get(object, "spec.source.helm.parameters") else {
        return;
    };
    for parameter in parameters {
        let Some(name) = text(parameter, "name") else {
            continue;
        };
        let written = text(parameter, "value").unwrap_or_default();
        let force_string = flag(parameter, "forceString").unwrap_or(false);
        let field = format!("spec.source.helm.parameters[{name}]");
        let Some(path) = set_path(&name) else {
            findings.not_translated(
                &field,
                "list indexes in a parameter name are not translated — write the value under \
                 helm.values by hand",
            );
            continue;
        };
        let value = if force_string {
            findings.note(
                &field,
                format!("forceString: written as the string {written:?} in helm.values"),
            );
            Value::String(written)
        } else {
            typed(&written)
        };
        set(values, &path, value);
    }
}

/// The keys of a `--set` name (`a.b\.c` → `a`, `b.c`); `None` for list indexes.
fn set_path(name: &str) -> Option<Vec<String>> {
    if name.contains('[') {
        return None;
    }
    let mut keys = vec![String::new()];
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => keys.last_mut()?.extend(chars.next()),
            '.' => keys.push(String::new()),
            c => keys.last_mut()?.push(c),
        }
    }
    keys.iter().all(|k| !k.is_empty()).then_some(keys)
}

/// A `--set` value typed as helm types it: booleans, null and integers; anything else a string.
fn typed(value: &str) -> Value {
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        v if !(v.len() > 1 && v.starts_with('0')) => v
            .parse::<i64>()
            .map_or_else(|_| Value::String(v.to_owned()), Value::from),
        v => Value::String(v.to_owned()),
    }
}

fn set(values: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut map = values;
    for key in parents {
        let entry = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(inner) = entry else {
            return;
        };
        map = inner;
    }
    map.insert(last.clone(), value);
}

/// Deep merge, `from` winning, as helm merges values.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(old)), Value::Object(new)) => merge(old, new),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}
