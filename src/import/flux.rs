//! Flux → ordo apps: a `Kustomization` or a `HelmRelease` whose source is a `GitRepository`
//! becomes one app, the repository's URL and ref joined with the consumer's path and options.
//! A chart from a `HelmRepository` or an `OCIRepository` is named in a finding with the
//! `helm.repoURL` that would pull it: the HelmRelease names no git repository for the app.

use serde_json::{Map, Value};

use super::fields::{self, dns_label, flag, get, text};
use super::{App, Decryption, Finding, Findings, Helm, SecretRef};
use crate::render::SourceKind;

const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";

const GIT_REPOSITORY_KEYS: &[&str] = &["url", "ref", "secretRef", "interval", "timeout"];
/// GitRepository fields ordo has no equivalent for, with what to do instead.
const GIT_REPOSITORY_FEATURES: &[(&str, &str)] = &[
    ("verify", "ordo does not verify commit signatures yet"),
    (
        "ignore",
        "translate the ignore patterns into exclude globs by hand",
    ),
    (
        "include",
        "ordo reads one repository per app — make another app for it",
    ),
    ("recurseSubmodules", "ordo does not fetch submodules"),
    (
        "provider",
        "ordo authenticates with a token or an SSH key (credentials)",
    ),
    (
        "proxySecretRef",
        "ordo uses the agent's HTTPS_PROXY environment",
    ),
    (
        "suspend",
        "leave the app out of the config until it should sync",
    ),
];
const KUSTOMIZATION_KEYS: &[&str] = &[
    "sourceRef",
    "path",
    "prune",
    "targetNamespace",
    "interval",
    "timeout",
    "retryInterval",
    "wait",
    "healthChecks",
    "healthCheckExprs",
    "serviceAccountName",
];
/// Kustomization fields that are Kustomize features: they belong in a kustomization.yaml.
const KUSTOMIZE_FEATURES: &[&str] = &[
    "patches",
    "images",
    "namePrefix",
    "nameSuffix",
    "commonMetadata",
    "components",
];
const HELM_RELEASE_KEYS: &[&str] = &[
    "chart",
    "releaseName",
    "targetNamespace",
    "values",
    "interval",
    "timeout",
    "driftDetection",
    "serviceAccountName",
];

/// The data key of a Flux decryption Secret that ordo reads: Flux's guide stores the age key
/// as `age.agekey`.
const FLUX_AGE_KEY: &str = "age.agekey";

/// What the Flux objects of the input became.
pub(super) struct Translated {
    /// Flux objects seen (sources included), to tell "nothing found" from "nothing usable".
    pub objects: usize,
    pub apps: Vec<App>,
}

fn is(object: &Value, group: &str, kind: &str) -> bool {
    fields::group(object) == group && fields::kind(object) == kind
}

pub(super) fn translate(objects: &[Value], all: &mut Vec<Finding>) -> Translated {
    let repos: Vec<&Value> = objects
        .iter()
        .filter(|o| is(o, SOURCE_GROUP, "GitRepository"))
        .collect();
    let mut used = vec![false; repos.len()];
    let mut apps = Vec::new();
    let mut count = repos.len();
    for object in objects {
        let app = if is(object, KUSTOMIZE_GROUP, "Kustomization") {
            kustomization(object, &repos, &mut used, all)
        } else if is(object, HELM_GROUP, "HelmRelease") {
            helm_release(object, objects, &repos, &mut used, all)
        } else if is(object, SOURCE_GROUP, "HelmRepository")
            || is(object, SOURCE_GROUP, "OCIRepository")
        {
            count += 1;
            continue;
        } else {
            continue;
        };
        count += 1;
        apps.extend(app);
    }
    for (repo, used) in repos.iter().zip(used) {
        git_repository_findings(repo, used, all);
    }
    Translated {
        objects: count,
        apps,
    }
}

/// The source a `sourceRef` at `path` names: its kind, and the object when it was read.
fn source<'a>(
    consumer: &Value,
    path: &str,
    objects: &[&'a Value],
) -> (String, String, Option<(usize, &'a Value)>) {
    let kind = text(consumer, &format!("{path}.kind")).unwrap_or_default();
    let name = text(consumer, &format!("{path}.name")).unwrap_or_default();
    let namespace =
        text(consumer, &format!("{path}.namespace")).or_else(|| fields::namespace(consumer));
    let found = objects.iter().enumerate().find(|(_, o)| {
        fields::kind(o) == kind
            && fields::name(o) == name
            && (namespace.is_none()
                || fields::namespace(o).is_none()
                || fields::namespace(o) == namespace)
    });
    let id = match &namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    (kind, id, found.map(|(i, o)| (i, *o)))
}

/// The app skeleton both consumers share: repository, ref, interval, credentials, namespace.
fn app_from_git(consumer: &Value, repo: &Value, findings: &mut Findings) -> App {
    let name = dns_label(&fields::name(consumer), "metadata.name", findings);
    let namespace = match text(consumer, "spec.targetNamespace") {
        Some(target) => {
            findings.note(
                "spec.targetNamespace",
                "Flux sets it on every object; ordo uses the app namespace for objects that \
                 name none, and objects naming another namespace keep it",
            );
            dns_label(&target, "spec.targetNamespace", findings)
        }
        None => match fields::namespace(consumer) {
            Some(ns) => dns_label(&ns, "metadata.namespace", findings),
            None => {
                findings.note(
                    "metadata.namespace",
                    "no namespace: ordo needs one, so \"default\" is written — change it if \
                     needed",
                );
                "default".to_owned()
            }
        },
    };
    let url = text(repo, "spec.url").unwrap_or_default();
    let mut app = App::new(name, url, namespace, fields::object_id(consumer));
    app.reference = git_ref(repo);
    // The GitRepository's interval is how often Flux polls git, which is what ordo's interval
    // is; the consumer's interval (drift correction) is ordo's selfHeal.
    app.interval = match get(repo, "spec.interval") {
        Some(_) => fields::duration(repo, "spec.interval", findings),
        None => fields::duration(consumer, "spec.interval", findings),
    };
    app.timeout = fields::duration(consumer, "spec.timeout", findings);
    app.credentials_secret =
        text(repo, "spec.secretRef.name").map(|secret| match fields::namespace(repo) {
            Some(ns) => format!("{ns}/{secret}"),
            None => secret,
        });
    findings_common(consumer, &mut app, findings);
    super::tenancy::flux(consumer, &mut app, findings);
    app
}

/// `dependsOn` and `suspend`, which both consumers have. A dependency is kept as the object
/// it names (a consumer of the same kind, in the consumer's namespace unless it says another)
/// until every app is named (see `name_dependencies`).
fn findings_common(consumer: &Value, app: &mut App, findings: &mut Findings) {
    if let Some(Value::Array(deps)) = get(consumer, "spec.dependsOn") {
        let kind = fields::kind(consumer);
        for dep in deps {
            let Some(name) = text(dep, "name") else {
                findings.not_translated("spec.dependsOn", "an entry without a name — remove it");
                continue;
            };
            app.needs.push(
                match text(dep, "namespace").or_else(|| fields::namespace(consumer)) {
                    Some(ns) => format!("{kind} {ns}/{name}"),
                    None => format!("{kind} {name}"),
                },
            );
        }
    }
    if flag(consumer, "spec.suspend") == Some(true) {
        findings.not_translated(
            "spec.suspend",
            "ordo has no suspended apps — leave the app out of the config until it should sync",
        );
    }
}

/// Flux's ref precedence: commit, name, semver, tag, branch. `None` (the default branch) for a
/// semver range or a ref ordo cannot follow; `git_repository_findings` says so.
fn git_ref(repo: &Value) -> Option<String> {
    if let Some(commit) = text(repo, "spec.ref.commit") {
        return Some(commit);
    }
    if let Some(name) = text(repo, "spec.ref.name") {
        return name
            .strip_prefix("refs/heads/")
            .or_else(|| name.strip_prefix("refs/tags/"))
            .map(str::to_owned);
    }
    if get(repo, "spec.ref.semver").is_some() {
        return None;
    }
    text(repo, "spec.ref.tag").or_else(|| text(repo, "spec.ref.branch"))
}

fn git_repository_findings(repo: &Value, used: bool, all: &mut Vec<Finding>) {
    let mut findings = Findings::new(fields::object_id(repo), all);
    if !used {
        findings.not_translated(
            "",
            "no Kustomization or HelmRelease read uses it, so it is no app — import it with the \
             objects that use it",
        );
        return;
    }
    if let Some(range) = text(repo, "spec.ref.semver") {
        findings.not_translated(
            "spec.ref.semver",
            format!(
                "{range:?}: ordo follows a branch, a tag or a commit — the default branch is \
                 written: set ref to the tag to deploy"
            ),
        );
    }
    if let Some(name) =
        text(repo, "spec.ref.name").filter(|n| git_ref(repo).is_none() && !n.is_empty())
    {
        findings.not_translated(
            "spec.ref.name",
            format!("{name}: only refs/heads/* and refs/tags/* are followed — set ref by hand"),
        );
    }
    if let Some(secret) = text(repo, "spec.secretRef.name") {
        findings.not_translated(
            "spec.secretRef",
            format!(
                "Secret {secret} holds the git credentials; ordo reads credentials from files — \
                 mount the Secret into the agent and set credentials.passwordFile (HTTPS) or \
                 credentials.sshKeyFile and knownHostsFile (SSH) to its files, as the comment \
                 in the app shows"
            ),
        );
    }
    for (key, message) in GIT_REPOSITORY_FEATURES {
        if get(repo, &format!("spec.{key}")).is_some() {
            findings.not_translated(
                &format!("spec.{key}"),
                format!("not translated — {message}"),
            );
        }
    }
    let mut known = GIT_REPOSITORY_KEYS.to_vec();
    known.extend(GIT_REPOSITORY_FEATURES.iter().map(|(key, _)| *key));
    fields::unhandled_keys(repo, "spec", &known, "not an ordo option", &mut findings);
}

fn kustomization(
    object: &Value,
    repos: &[&Value],
    used: &mut [bool],
    all: &mut Vec<Finding>,
) -> Option<App> {
    let mut findings = Findings::new(fields::object_id(object), all);
    let repo = git_source(object, "spec.sourceRef", repos, used, &mut findings)?;
    let mut app = app_from_git(object, repo, &mut findings);
    app.path = repo_path(object, "spec.path", &mut findings);
    app.prune = flag(object, "spec.prune").unwrap_or(false);
    app.self_heal = true;
    findings.note(
        "spec.interval",
        "Flux re-applies at every interval, undoing drift: written as selfHeal: true, which \
         corrects drift as soon as it is seen; ordo's interval (how often git is polled) is \
         the GitRepository's",
    );
    app.decryption = decryption(object, &mut findings);
    app.post_build = post_build(object, &mut findings);
    let at = app.path.clone().unwrap_or_else(|| ".".to_owned());
    kustomization_findings(object, &at, &mut findings);
    Some(app)
}

/// `spec.postBuild.substitute` as the app's `postBuild.substitute`; `substituteFrom` (values
/// read from ConfigMaps and Secrets at sync time) is not translated: its values go inline.
fn post_build(object: &Value, findings: &mut Findings) -> Option<Value> {
    if get(object, "spec.postBuild.substituteFrom").is_some() {
        findings.not_translated(
            "spec.postBuild.substituteFrom",
            "ordo reads post-build variables from its config only: copy the values that are \
             not secret into postBuild.substitute",
        );
    }
    let substitute = get(object, "spec.postBuild.substitute")?.as_object()?;
    let strings: serde_json::Map<String, Value> = substitute
        .iter()
        .map(|(k, v)| {
            let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), Value::String(value))
        })
        .collect();
    Some(serde_json::json!({ "substitute": strings }))
}

/// `spec.decryption`: SOPS with the keys of a Secret in the Kustomization's namespace, as
/// ordo's `decryption.secretRef`. Flux reads every `.agekey` and `.asc` data key of it; ordo
/// reads one, holding age lines and armored OpenPGP keys alike.
fn decryption(object: &Value, findings: &mut Findings) -> Option<Decryption> {
    get(object, "spec.decryption")?;
    let provider = text(object, "spec.decryption.provider").unwrap_or_default();
    if provider != "sops" {
        findings.not_translated(
            "spec.decryption.provider",
            format!("{provider:?}: ordo decrypts SOPS files only — decrypt these another way"),
        );
        return None;
    }
    let Some(name) = text(object, "spec.decryption.secretRef.name") else {
        findings.not_translated(
            "spec.decryption",
            "no secretRef: Flux decrypts with its controller's own keys (a cloud KMS); ordo \
             decrypts with age or OpenPGP keys — add decryption.keyFile or secretRef",
        );
        return None;
    };
    let namespace = fields::namespace(object).unwrap_or_else(|| "default".to_owned());
    findings.note(
        "spec.decryption.secretRef",
        format!(
            "Flux reads every .agekey and .asc data key of Secret {namespace}/{name}; ordo \
             reads one, {FLUX_AGE_KEY} (the name in Flux's guide) — put every key under it (age \
             lines and armored OpenPGP keys may share it), and let the agent get that Secret"
        ),
    );
    Some(Decryption {
        provider: "sops",
        secret_ref: SecretRef {
            name,
            namespace,
            key: FLUX_AGE_KEY.to_owned(),
        },
    })
}

fn kustomization_findings(object: &Value, at: &str, findings: &mut Findings) {
    if flag(object, "spec.force") == Some(true) {
        findings.not_translated(
            "spec.force",
            "annotate objects whose immutable fields change with ordo.dev/recreate: \"true\"",
        );
    }
    for key in KUSTOMIZE_FEATURES {
        if get(object, &format!("spec.{key}")).is_some() {
            findings.not_translated(
                &format!("spec.{key}"),
                format!("not an ordo option — set {key} in the kustomization.yaml at {at}"),
            );
        }
    }
    let mut known = KUSTOMIZATION_KEYS.to_vec();
    known.extend(KUSTOMIZE_FEATURES);
    known.extend(["dependsOn", "suspend", "decryption", "postBuild", "force"]);
    fields::unhandled_keys(object, "spec", &known, "not an ordo option", findings);
}

/// The GitRepository a consumer reads, marked used; `None` with a finding otherwise.
fn git_source<'a>(
    consumer: &Value,
    path: &str,
    repos: &[&'a Value],
    used: &mut [bool],
    findings: &mut Findings,
) -> Option<&'a Value> {
    let (kind, id, found) = source(consumer, path, repos);
    if kind != "GitRepository" {
        findings.not_translated(
            path,
            format!(
                "{id}: ordo reads git repositories only — push the manifests to git and \
                 import a GitRepository"
            ),
        );
        return None;
    }
    let Some((index, repo)) = found else {
        findings.not_translated(
            path,
            format!("{id} is not among the files read — import it too: ordo needs its url"),
        );
        return None;
    };
    used[index] = true;
    if text(repo, "spec.url").is_none() {
        findings.not_translated(path, format!("{id} has no spec.url — nothing to sync"));
        return None;
    }
    Some(repo)
}

fn repo_path(object: &Value, path: &str, findings: &mut Findings) -> Option<String> {
    match fields::repo_dir(&text(object, path).unwrap_or_default()) {
        Ok(dir) => dir,
        Err(written) => {
            findings.not_translated(
                path,
                format!("{written:?} is not inside the repository — set path by hand"),
            );
            None
        }
    }
}

fn helm_release(
    object: &Value,
    objects: &[Value],
    repos: &[&Value],
    used: &mut [bool],
    all: &mut Vec<Finding>,
) -> Option<App> {
    let mut findings = Findings::new(fields::object_id(object), all);
    if let Some(kind) = text(object, "spec.chartRef.kind") {
        let name = text(object, "spec.chartRef.name").unwrap_or_default();
        findings.not_translated(
            "spec.chartRef",
            format!(
                "{kind} {name}: {} — write the app by hand with the repository that holds \
                 its values and helm: {{repoURL, chart, version}} of the chart, or vendor the \
                 chart into git and point an app with source: helm at it",
                fields::REMOTE_CHART_ADVICE
            ),
        );
        return None;
    }
    let chart = text(object, "spec.chart.spec.chart").unwrap_or_default();
    let kind = text(object, "spec.chart.spec.sourceRef.kind").unwrap_or_default();
    if kind != "GitRepository" {
        chart_repository_finding(object, objects, &chart, &mut findings);
        return None;
    }
    let repo = git_source(
        object,
        "spec.chart.spec.sourceRef",
        repos,
        used,
        &mut findings,
    )?;
    let mut app = app_from_git(object, repo, &mut findings);
    app.path = repo_path(object, "spec.chart.spec.chart", &mut findings);
    app.source = Some(SourceKind::Helm);
    app.prune = true;
    app.self_heal = text(object, "spec.driftDetection.mode").as_deref() == Some("enabled");
    findings.note(
        "spec.chart",
        "ordo renders the chart with helm template and applies the objects itself (prune: \
         true, as helm upgrade removes what the chart no longer renders); there is no Helm \
         release to upgrade or roll back",
    );
    app.helm = Some(release_helm(object, &app, &mut findings));
    if get(object, "spec.valuesFrom").is_some() {
        findings.not_translated(
            "spec.valuesFrom",
            "ordo reads values from git only — copy non-secret values into a values file of \
             the repository and list it in helm.valueFiles",
        );
    }
    let mut known = HELM_RELEASE_KEYS.to_vec();
    known.extend(["dependsOn", "suspend", "valuesFrom"]);
    fields::unhandled_keys(
        object,
        "spec",
        &known,
        "not an ordo option (ordo runs helm template, not helm install or upgrade)",
        &mut findings,
    );
    Some(app)
}

/// `helm:` of a HelmRelease: Flux's release name (`[targetNamespace-]name` unless set), the
/// values files (already repository paths in Flux) and the inline values.
fn release_helm(object: &Value, app: &App, findings: &mut Findings) -> Helm {
    let release = text(object, "spec.releaseName").unwrap_or_else(|| {
        match text(object, "spec.targetNamespace") {
            Some(target) => format!("{target}-{}", fields::name(object)),
            None => fields::name(object),
        }
    });
    let mut value_files = Vec::new();
    let listed = match get(object, "spec.chart.spec.valuesFiles") {
        Some(Value::Array(files)) => files.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for file in listed {
        match fields::repo_dir(file) {
            Ok(Some(path)) => value_files.push(path),
            _ => findings.not_translated(
                "spec.chart.spec.valuesFiles",
                format!("{file:?} is not a file of the repository — set valueFiles by hand"),
            ),
        }
    }
    let values: Option<Map<String, Value>> = match get(object, "spec.values") {
        Some(Value::Object(map)) if !map.is_empty() => Some(map.clone()),
        _ => None,
    };
    let release_name = (release != app.name)
        .then(|| fields::release_name(release, "spec.releaseName", findings))
        .flatten();
    Helm {
        release_name,
        value_files,
        values,
    }
}

fn chart_repository_finding(
    object: &Value,
    objects: &[Value],
    chart: &str,
    findings: &mut Findings,
) {
    let all: Vec<&Value> = objects.iter().collect();
    let (_, id, found) = source(object, "spec.chart.spec.sourceRef", &all);
    let url = found.and_then(|(_, o)| text(o, "spec.url"));
    let version = text(object, "spec.chart.spec.version");
    // The exact command when the repository was read: `helm pull` takes an OCI reference
    // whole, a classic repository with --repo.
    let pull = match &url {
        Some(u) if u.starts_with("oci://") => format!("helm pull {u}/{chart}"),
        Some(u) => format!("helm pull {chart} --repo {u}"),
        None => format!("helm pull {chart}"),
    };
    let pin = version
        .as_ref()
        .map(|v| format!(" --version '{v}'"))
        .unwrap_or_default();
    let helm = url
        .as_deref()
        .map(|u| {
            format!(
                " and {}",
                fields::remote_chart_hint(u, chart, version.as_deref())
            )
        })
        .unwrap_or_default();
    findings.not_translated(
        "spec.chart.spec.sourceRef",
        format!(
            "chart {chart}{} from {id}{}: {} — write the app by hand with the repository \
             that holds its values{helm}, or vendor the chart into git ({pull}{pin} --untar) \
             and point an app with source: helm at it",
            version
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            url.as_ref().map(|u| format!(" ({u})")).unwrap_or_default(),
            fields::REMOTE_CHART_ADVICE,
        ),
    );
}
