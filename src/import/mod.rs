//! `ordo import`: Argo CD `Application`s (with their `AppProject`s) and Flux `GitRepository` +
//! `Kustomization` / `HelmRelease` manifests in, an ordo config and a list of findings out.
//!
//! Pure: the caller reads the files and writes the result. Each translator (`argo`, `flux`)
//! maps what has an exact ordo equivalent and records everything else as a [`Finding`] that
//! names the object, the field and what to do, so nothing is dropped without a word. The
//! config text is written by `emit` in the key order of `config/ordo.yaml`, and the tests load
//! it with ordo's own config loader.

mod argo;
mod emit;
mod fields;
mod flux;
mod tenancy;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::render::SourceKind;

pub use emit::config_text;
pub use fields::go_duration;

/// Why an import could not produce a config.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}{}: not valid YAML: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        origin: String,
        line: Option<u64>,
        message: String,
    },
    #[error(
        "no Argo CD Application or ApplicationSet and no Flux GitRepository, Kustomization or \
         HelmRelease found in {inputs}; point ordo import at the files or directories that hold them"
    )]
    NothingFound { inputs: String },
    #[error(
        "found {objects} Argo CD or Flux object(s), but none translates to an ordo app (see the \
         findings above); ordo needs at least one app with a git repository"
    )]
    NothingTranslated {
        objects: usize,
        /// Why: what each object could not translate.
        findings: Vec<Finding>,
    },
}

/// One ordo app, as it will be written. Fields left `None` or empty are left out, so ordo's
/// defaults apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub name: String,
    pub repo: String,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    pub prune: bool,
    pub self_heal: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Apps of this config that must be Healthy first (Flux's `dependsOn`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Where the app may write (an Argo CD project's); `None` leaves ordo's default, the app's
    /// own namespace and no cluster-scoped kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Allow>,
    /// The ServiceAccount of the app's namespace its syncs impersonate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Argo CD's `CreateNamespace=true`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_namespace: bool,
    /// Argo CD's `managedNamespaceMetadata` (`labels`, `annotations`), with `createNamespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<serde_json::Value>,
    /// Flux's `postBuild.substitute` (variables substituted after the build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_build: Option<serde_json::Value>,
    /// The original's dependencies as `Kind namespace/name`, named as apps by `translate` once
    /// every app has its final name.
    #[serde(skip)]
    pub(crate) needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// The Secret the original read git credentials from; written as a comment only, since
    /// ordo reads credentials from files the user mounts, never from the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// Where the app came from, e.g. `Application argocd/guestbook` (a comment in the config).
    #[serde(skip)]
    pub origin: String,
}

impl App {
    fn new(name: String, repo: String, namespace: String, origin: String) -> Self {
        App {
            name,
            repo,
            reference: None,
            path: None,
            namespace,
            interval: None,
            timeout: None,
            prune: false,
            self_heal: false,
            allow_empty: false,
            source: None,
            helm: None,
            include: Vec::new(),
            exclude: Vec::new(),
            depends_on: Vec::new(),
            allow: None,
            service_account_name: None,
            create_namespace: false,
            managed_namespace_metadata: None,
            post_build: None,
            needs: Vec::new(),
            decryption: None,
            credentials_secret: None,
            origin,
        }
    }
}

/// `helm:` of an app.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Helm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Map<String, Value>>,
}

/// `allow:` of an app: namespace globs, and cluster-scoped kind globs over `Kind` (core group)
/// or `Kind.group`. Both are always written: an empty list allows none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allow {
    pub namespaces: Vec<String>,
    pub cluster_kinds: Vec<String>,
}

/// `decryption:` of an app: SOPS with the age and OpenPGP keys of a Secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    pub provider: &'static str,
    pub secret_ref: SecretRef,
}

/// The Secret, and the data key of it, holding the keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretRef {
    pub name: String,
    pub namespace: String,
    pub key: String,
}

/// Whether a finding lost something or only changed how it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The field has no ordo equivalent: the user must act.
    NotTranslated,
    /// Translated, but differently from how it was written (worth a look).
    Note,
}

/// Something about an input object worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `Kind namespace/name`.
    pub object: String,
    /// Field path in the object, e.g. `spec.syncPolicy.syncOptions`; empty for the whole object.
    pub field: String,
    /// What happened, then ` — ` and what to do.
    pub message: String,
    pub kind: FindingKind,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.kind {
            FindingKind::NotTranslated => "not translated",
            FindingKind::Note => "note",
        };
        write!(f, "{label}: {}", self.object)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Import {
    /// The ordo config, findings in its header.
    pub config: String,
    pub apps: Vec<App>,
    pub findings: Vec<Finding>,
}

/// Findings of one object, collected while it is translated.
pub(crate) struct Findings<'a> {
    object: String,
    list: &'a mut Vec<Finding>,
}

impl<'a> Findings<'a> {
    pub(crate) fn new(object: String, list: &'a mut Vec<Finding>) -> Self {
        Findings { object, list }
    }

    /// Findings about another object (the AppProject an Application uses), on the same list.
    pub(crate) fn about(&mut self, object: String) -> Findings<'_> {
        Findings {
            object,
            list: self.list,
        }
    }

    pub(crate) fn not_translated(&mut self, field: &str, message: impl Into<String>) {
        self.push(field, message.into(), FindingKind::NotTranslated);
    }

    pub(crate) fn note(&mut self, field: &str, message: impl Into<String>) {
        self.push(field, message.into(), FindingKind::Note);
    }

    /// Values quoted from the input may hold line breaks: a finding stays one line, on stderr
    /// and in the config's comment header (where a line break would end the comment).
    fn push(&mut self, field: &str, message: String, kind: FindingKind) {
        self.list.push(Finding {
            object: one_line(&self.object),
            field: one_line(field),
            message: one_line(&message),
            kind,
        });
    }
}

/// `text` with control characters (line breaks included) as spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Parses one file's text (YAML, multi-document; JSON is YAML too) into its documents, with
/// `kind: List` flattened. `origin` names the file in errors.
pub fn parse_documents(text: &str, origin: &str) -> Result<Vec<Value>, ImportError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, crate::manifest::yaml_options()).map_err(
            |e| ImportError::Syntax {
                origin: origin.to_owned(),
                line: e.location().map(|l| l.line()).filter(|l| *l > 0),
                message: first_line(&e.to_string()),
            },
        )?;
    let mut objects = Vec::new();
    for document in documents {
        flatten(document, &mut objects);
    }
    Ok(objects)
}

/// The parser's message without its own `error: ` prefix (the CLI adds one).
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

fn flatten(document: Value, into: &mut Vec<Value>) {
    let is_list = document.get("kind").and_then(Value::as_str) == Some("List");
    match document {
        Value::Object(mut map) if is_list => {
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten(item, into);
                }
            }
        }
        Value::Object(_) => into.push(document),
        _ => {}
    }
}

/// Translates every Argo CD and Flux object of `objects` (other objects are skipped);
/// `inputs` names what was read, for the error when none is found.
pub fn translate(objects: &[Value], inputs: &str) -> Result<Import, ImportError> {
    let mut findings = Vec::new();
    let mut apps = Vec::new();
    let mut projects = tenancy::Projects::new(objects);
    let mut relevant = projects.len();
    for object in objects {
        if argo::is_argo(object) {
            relevant += 1;
            apps.extend(argo::translate(object, &mut projects, &mut findings));
        }
    }
    projects.unused(&mut findings);
    let flux = flux::translate(objects, &mut findings);
    relevant += flux.objects;
    apps.extend(flux.apps);
    if relevant == 0 {
        return Err(ImportError::NothingFound {
            inputs: inputs.to_owned(),
        });
    }
    if apps.is_empty() {
        return Err(ImportError::NothingTranslated {
            objects: relevant,
            findings: tidy(findings),
        });
    }
    rename_duplicates(&mut apps, &mut findings);
    name_dependencies(&mut apps, &mut findings);
    let findings = tidy(findings);
    let config = config_text(&apps, &findings);
    Ok(Import {
        config,
        apps,
        findings,
    })
}

/// Each app's `needs` (the original objects it depends on) as the names of the apps they
/// became; one that is not among the inputs is a finding, since ordo refuses a `dependsOn`
/// naming no app of its config.
fn name_dependencies(apps: &mut [App], findings: &mut Vec<Finding>) {
    let names: std::collections::HashMap<String, String> = apps
        .iter()
        .map(|a| (a.origin.clone(), a.name.clone()))
        .collect();
    for app in apps.iter_mut() {
        for needed in std::mem::take(&mut app.needs) {
            match names.get(&needed) {
                Some(name) if *name != app.name => {
                    if !app.depends_on.contains(name) {
                        app.depends_on.push(name.clone());
                    }
                }
                Some(_) => {}
                None => {
                    let object = one_line(&app.origin);
                    // Next to the object's other findings, as if found with them.
                    let at = findings
                        .iter()
                        .rposition(|f| f.object == object)
                        .map_or(findings.len(), |i| i + 1);
                    let message = format!(
                        "{needed} is not among the inputs, so no app stands for it — import \
                         it with this one (its app is then named in dependsOn), or make sure \
                         it is synced first"
                    );
                    findings.insert(
                        at,
                        Finding {
                            object,
                            field: "spec.dependsOn".to_owned(),
                            message: one_line(&message),
                            kind: FindingKind::NotTranslated,
                        },
                    );
                }
            }
        }
    }
}

/// Each finding once (two consumers of one GitRepository may report the same thing about it),
/// what the user must act on first, then what only changed on the way.
fn tidy(findings: Vec<Finding>) -> Vec<Finding> {
    let mut unique: Vec<Finding> = Vec::with_capacity(findings.len());
    for finding in findings {
        if !unique.contains(&finding) {
            unique.push(finding);
        }
    }
    unique.sort_by_key(|f| f.kind == FindingKind::Note);
    unique
}

/// ordo app names are unique: the second `web` becomes `web-2` (then `web-3`…), never a name
/// another app already has.
fn rename_duplicates(apps: &mut [App], findings: &mut Vec<Finding>) {
    let written: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
    let mut taken: Vec<String> = Vec::new();
    for app in apps.iter_mut() {
        if taken.contains(&app.name) {
            let base = fields::truncate_label(&app.name, 59);
            let renamed = (2..)
                .map(|n| format!("{base}-{n}"))
                .find(|c| !taken.contains(c) && !written.contains(c))
                .unwrap_or_default();
            Findings::new(app.origin.clone(), findings).note(
                "metadata.name",
                format!(
                    "another app is already called {:?}, so this one is called {renamed:?} — \
                     rename it if you prefer: the name shows in the status page, the API and \
                     metrics",
                    app.name
                ),
            );
            app.name = renamed;
        }
        taken.push(app.name.clone());
    }
}

#[cfg(test)]
mod tenancy_tests;
#[cfg(test)]
mod tests;
