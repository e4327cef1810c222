//! Where an imported app may write, and as whom (issue #23, "safe by default"). An Argo CD
//! `AppProject`'s destinations and cluster-resource whitelist become the app's `allow`, and its
//! `destinationServiceAccounts` (impersonation, Argo CD 2.13+) its `serviceAccountName`. Flux's
//! `serviceAccountName` is taken as it is; Flux has no allow list, so a Flux app keeps ordo's
//! default (its own namespace, no cluster-scoped kinds) and a note says how to widen it.
//! Whatever of a project ordo cannot express (deny lists, other clusters) is a finding: an
//! import must never make an app wider than the original without a word.

use globset::Glob;
use serde_json::Value;

use super::fields::{self, get, text};
use super::{Allow, App, Finding, Findings};
use crate::sync::allow::Patterns;

const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
const IN_CLUSTER_NAME: &str = "in-cluster";
/// Argo CD's project when an Application names none, and the one every install has.
const DEFAULT_PROJECT: &str = "default";
/// The cluster-scoped kinds of the core group. ordo's globs run over `Kind` (core) or
/// `Kind.group` as one string, so `{group: '', kind: '*'}` cannot be a glob (`*` would match
/// every group too): it becomes the core kinds its kind glob matches.
const CORE_CLUSTER_KINDS: [&str; 4] = ["Namespace", "Node", "PersistentVolume", "ComponentStatus"];
/// AppProject fields translated here, or named by their own finding.
const PROJECT_KEYS: &[&str] = &[
    "destinations",
    "clusterResourceWhitelist",
    "destinationServiceAccounts",
    "clusterResourceBlacklist",
    "namespaceResourceBlacklist",
    "namespaceResourceWhitelist",
    "sourceRepos",
    "description",
];
/// How to widen an app, for the findings that tell the user to.
pub(super) const HOW_TO_WIDEN: &str = "allow: {namespaces: [<globs>], clusterKinds: [<Kind or \
     Kind.group globs>]} ([\"*\"] allows all)";

/// The AppProjects among the inputs, and which an imported Application used.
pub(super) struct Projects<'a> {
    list: Vec<&'a Value>,
    used: Vec<bool>,
}

impl<'a> Projects<'a> {
    pub(super) fn new(objects: &'a [Value]) -> Self {
        let list: Vec<&Value> = objects.iter().filter(|o| is_project(o)).collect();
        let used = vec![false; list.len()];
        Projects { list, used }
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The project called `name`, marked used: the one in the Application's namespace (where
    /// Argo CD's control plane lives) when two instances' projects share a name.
    fn find(&mut self, name: &str, namespace: Option<&str>) -> Option<&'a Value> {
        let named = |p: &&Value| fields::name(p) == name;
        let index = self
            .list
            .iter()
            .position(|p| named(p) && fields::namespace(p).as_deref() == namespace)
            .or_else(|| self.list.iter().position(named))?;
        self.used[index] = true;
        Some(self.list[index])
    }

    /// A finding for each project no Application used: it became no app's `allow`.
    pub(super) fn unused(&self, all: &mut Vec<Finding>) {
        for (project, used) in self.list.iter().zip(&self.used) {
            if !used {
                Findings::new(fields::object_id(project), all).not_translated(
                    "",
                    "no Application that became an app uses it, so it bounds no app — import \
                     it with the Applications of the project",
                );
            }
        }
    }
}

fn is_project(object: &Value) -> bool {
    fields::group(object) == "argoproj.io" && fields::kind(object) == "AppProject"
}

/// `allow` and `serviceAccountName` of the app an Application became, from its project.
pub(super) fn argo(
    application: &Value,
    app: &mut App,
    projects: &mut Projects,
    findings: &mut Findings,
) {
    let name = text(application, "spec.project").unwrap_or_else(|| DEFAULT_PROJECT.to_owned());
    let namespace = fields::namespace(application);
    if let Some(project) = projects.find(&name, namespace.as_deref()) {
        from_project(project, app, findings);
    } else if name == DEFAULT_PROJECT {
        // Argo CD's built-in default project: every destination, every kind.
        app.allow = Some(Allow {
            namespaces: vec!["*".to_owned()],
            cluster_kinds: vec!["*".to_owned()],
        });
        findings.note(
            "spec.project",
            "default: the app may write into every namespace and own every cluster-scoped \
             kind, as wide as Argo CD's default project — narrow allow to the namespaces and \
             kinds it needs (ordo's default without allow: its own namespace, no cluster-scoped \
             kinds)",
        );
    } else {
        findings.not_translated(
            "spec.project",
            format!(
                "AppProject {name} not found among the inputs; allow left at ordo's default: the \
                 app's own namespace, no cluster-scoped kinds — import the project with it \
                 (kubectl get appprojects -n argocd -o yaml), or write {HOW_TO_WIDEN}"
            ),
        );
    }
}

fn from_project(project: &Value, app: &mut App, findings: &mut Findings) {
    let name = fields::name(project);
    let mut about = findings.about(fields::object_id(project));
    let namespaces = destinations(project, &mut about);
    let cluster_kinds = cluster_kinds(project, &mut about);
    project_findings(project, &mut about);
    if !matches_any(&namespaces, &app.namespace) {
        findings.not_translated(
            "spec.destination.namespace",
            format!(
                "{}: not among the destinations of AppProject {name} ({}), so Argo CD refuses \
                 the Application and ordo would refuse every object of it — fix the project or \
                 the destination",
                app.namespace,
                shown(&namespaces)
            ),
        );
    }
    let every_namespace = namespaces.iter().any(|n| n == "*");
    let every_kind = cluster_kinds.iter().any(|k| k == "*");
    if every_namespace || every_kind {
        let what = match (every_namespace, every_kind) {
            (true, true) => "every namespace and every cluster-scoped kind",
            (true, false) => "every namespace",
            _ => "every cluster-scoped kind",
        };
        findings.note(
            "spec.project",
            format!(
                "AppProject {name} allows {what}, so the app may too — narrow allow to what it \
                 needs"
            ),
        );
    }
    app.service_account_name = service_account(
        project,
        app,
        &mut findings.about(fields::object_id(project)),
    );
    app.allow = Some(Allow {
        namespaces,
        cluster_kinds,
    });
}

/// The namespace globs of the destinations in this cluster. Another cluster's and deny
/// (`!`) destinations are findings: ordo syncs one cluster and has no exclusions.
fn destinations(project: &Value, findings: &mut Findings) -> Vec<String> {
    let field = "spec.destinations";
    let mut namespaces: Vec<String> = Vec::new();
    let Some(Value::Array(items)) = get(project, field) else {
        return namespaces;
    };
    for item in items {
        let server = text(item, "server");
        let cluster = text(item, "name");
        let namespace = text(item, "namespace").unwrap_or_default();
        let written = format!(
            "{{{}namespace: {namespace}}}",
            [("server", &server), ("name", &cluster)]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}, ")))
                .collect::<String>()
        );
        let denies = [&server, &cluster]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| v.starts_with('!')))
            || namespace.starts_with('!');
        if denies {
            findings.not_translated(
                field,
                format!(
                    "{written}: a deny destination; ordo's allow.namespaces has no exclusions, so \
                     the app may write where Argo CD denied it — narrow allow.namespaces by hand"
                ),
            );
            continue;
        }
        let here = server
            .as_deref()
            .is_some_and(|s| glob_matches(s, IN_CLUSTER_SERVER))
            || cluster
                .as_deref()
                .is_some_and(|n| glob_matches(n, IN_CLUSTER_NAME));
        if !here {
            findings.not_translated(
                field,
                format!(
                    "{written}: another cluster; ordo syncs the cluster it runs in — give that \
                     cluster's ordo agent an app with this allow"
                ),
            );
            continue;
        }
        if namespace.is_empty() || namespaces.contains(&namespace) {
            continue;
        }
        if ordo_glob(&namespace, field, findings) {
            namespaces.push(namespace);
        }
    }
    if namespaces.iter().any(|n| n == "*") {
        namespaces = vec!["*".to_owned()];
    }
    namespaces
}

/// `clusterResourceWhitelist` as ordo's kind globs. Absent or empty allows no cluster-scoped
/// kind, as in Argo CD.
fn cluster_kinds(project: &Value, findings: &mut Findings) -> Vec<String> {
    let field = "spec.clusterResourceWhitelist";
    let mut kinds: Vec<String> = Vec::new();
    let Some(Value::Array(items)) = get(project, field) else {
        return kinds;
    };
    for item in items {
        let group = item
            .get("group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        let kind = item
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        if kind.is_empty() {
            findings.not_translated(field, format!("{{group: {group:?}}}: no kind — left out"));
            continue;
        }
        for glob in kind_globs(group, kind, findings) {
            if !kinds.contains(&glob) && ordo_glob(&glob, field, findings) {
                kinds.push(glob);
            }
        }
    }
    if kinds.iter().any(|k| k == "*") {
        kinds = vec!["*".to_owned()];
    }
    kinds
}

/// One `{group, kind}` of Argo CD (globs both) as ordo's globs over `Kind` (core group) or
/// `Kind.group`, as ApplySets write them.
fn kind_globs(group: &str, kind: &str, findings: &mut Findings) -> Vec<String> {
    let every_group = !group.is_empty() && group.chars().all(|c| c == '*');
    if every_group && kind.chars().all(|c| c == '*') {
        return vec!["*".to_owned()];
    }
    let kind_is_glob = kind.contains(['*', '?', '[', '{']);
    let mut globs = Vec::new();
    if group.is_empty() || every_group {
        if kind_is_glob {
            let core = CORE_CLUSTER_KINDS.iter().filter(|k| glob_matches(kind, k));
            globs.extend(core.map(|k| (*k).to_owned()));
        } else {
            globs.push(kind.to_owned());
        }
    }
    if !group.is_empty() {
        globs.push(format!("{kind}.{group}"));
        if kind_is_glob && !every_group {
            findings.note(
                "spec.clusterResourceWhitelist",
                format!(
                    "{{group: {group}, kind: {kind}}} is written {kind}.{group}: ordo's glob runs \
                     over Kind.group as one string, so it also matches kinds of groups ending in \
                     .{group} — list the kinds if that matters"
                ),
            );
        }
    }
    globs
}

/// Findings for what of a project has no ordo equivalent.
fn project_findings(project: &Value, findings: &mut Findings) {
    let lists = [
        (
            "clusterResourceBlacklist",
            "ordo's allow has no deny list, so these cluster-scoped kinds are not refused — \
             leave them out of allow.clusterKinds (list the kinds the app may own instead of *)",
        ),
        (
            "namespaceResourceBlacklist",
            "ordo's allow has no deny list and does not restrict namespaced kinds, so these are \
             not refused — keep them out of the repository, or bound the app's ServiceAccount \
             (serviceAccountName) by RBAC",
        ),
        (
            "namespaceResourceWhitelist",
            "ordo's allow does not restrict namespaced kinds: every namespaced kind is allowed \
             in allow.namespaces — bound the app's ServiceAccount (serviceAccountName) by RBAC",
        ),
    ];
    for (key, message) in lists {
        let field = format!("spec.{key}");
        if matches!(get(project, &field), Some(Value::Array(items)) if !items.is_empty()) {
            findings.not_translated(&field, message);
        }
    }
    if get(project, "spec.sourceRepos").is_some() {
        findings.note(
            "spec.sourceRepos",
            "ordo has no repository allow list: each app's repo is set in this config",
        );
    }
    fields::unhandled_keys(
        project,
        "spec",
        PROJECT_KEYS,
        "an AppProject setting ordo has no equivalent for (who may sync an app is Kubernetes \
         RBAC on ordo's API)",
        findings,
    );
}

/// The account of the first `destinationServiceAccounts` entry for this cluster and the app's
/// namespace, as Argo CD picks it. ordo impersonates an account of the app's namespace.
fn service_account(project: &Value, app: &App, findings: &mut Findings) -> Option<String> {
    let field = "spec.destinationServiceAccounts";
    let Some(Value::Array(items)) = get(project, field) else {
        return None;
    };
    let entry = items.iter().find(|item| {
        let server = text(item, "server").unwrap_or_default();
        let namespace = text(item, "namespace").unwrap_or_default();
        glob_matches(&server, IN_CLUSTER_SERVER) && glob_matches(&namespace, &app.namespace)
    });
    let Some(entry) = entry else {
        findings.not_translated(
            field,
            format!(
                "none is for this cluster and namespace {}: with impersonation on, Argo CD \
                 refuses to sync the app — ordo applies it with its own account unless you set \
                 serviceAccountName",
                app.namespace
            ),
        );
        return None;
    };
    let written = text(entry, "defaultServiceAccount").unwrap_or_default();
    let (namespace, account) = match written.split_once(':') {
        Some((ns, account)) => (ns.to_owned(), account.to_owned()),
        None => (app.namespace.clone(), written.clone()),
    };
    if namespace != app.namespace {
        findings.not_translated(
            field,
            format!(
                "{written}: ordo impersonates a ServiceAccount of the app's namespace {}, not of \
                 {namespace} — create one there with the same rights and set serviceAccountName",
                app.namespace
            ),
        );
        return None;
    }
    let account = account_name(account, field, findings)?;
    findings.note(
        field,
        format!(
            "{account} is written as serviceAccountName: Argo CD impersonates it only with \
             application.sync.impersonation.enabled in argocd-cm, ordo always does — it needs \
             rights on everything the app applies"
        ),
    );
    Some(account)
}

/// `serviceAccountName` and the default allow of a Flux app (a Kustomization's or a
/// HelmRelease's, both spelled `spec.serviceAccountName`).
pub(super) fn flux(consumer: &Value, app: &mut App, findings: &mut Findings) {
    let field = "spec.serviceAccountName";
    if let Some(account) = text(consumer, field) {
        app.service_account_name = account_name(account, field, findings);
        let own = fields::namespace(consumer);
        if let Some(account) = &app.service_account_name
            && own.as_deref() != Some(app.namespace.as_str())
        {
            findings.note(
                field,
                format!(
                    "Flux impersonates {account} of the object's namespace {}; ordo impersonates \
                     {account} of the app's namespace {} — create it there with the same rights",
                    own.unwrap_or_else(|| "default".to_owned()),
                    app.namespace
                ),
            );
        }
    }
    findings.note(
        "",
        format!(
            "Flux has no allow list: ordo lets this app write only into its namespace {} and own \
             no cluster-scoped kinds — if its manifests create Namespaces, CRDs, ClusterRoles \
             or objects in other namespaces, widen it: {HOW_TO_WIDEN}",
            app.namespace
        ),
    );
}

/// `name` if ordo takes it as a ServiceAccount name (a DNS-1123 subdomain); else a finding.
fn account_name(name: String, field: &str, findings: &mut Findings) -> Option<String> {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let valid = name.len() <= 253 && name.split('.').all(label);
    if !valid {
        findings.not_translated(
            field,
            format!("{name:?} is not a ServiceAccount name — set serviceAccountName by hand"),
        );
    }
    valid.then_some(name)
}

/// Whether ordo's allow list compiles `glob`; a finding otherwise, and the glob is left out
/// (narrower, never wider).
fn ordo_glob(glob: &str, field: &str, findings: &mut Findings) -> bool {
    let compiles = Patterns::new(vec![glob.to_owned()]).is_ok();
    if !compiles {
        findings.not_translated(
            field,
            format!("{glob:?} is not a glob ordo reads — left out; add it to allow by hand"),
        );
    }
    compiles
}

/// Argo CD's glob match (gobwas: `*` crosses every character), by ordo's glob library.
fn glob_matches(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).is_ok_and(|g| g.compile_matcher().is_match(text))
}

fn matches_any(globs: &[String], text: &str) -> bool {
    globs.iter().any(|g| glob_matches(g, text))
}

fn shown(globs: &[String]) -> String {
    if globs.is_empty() {
        "none in this cluster".to_owned()
    } else {
        globs.join(", ")
    }
}
