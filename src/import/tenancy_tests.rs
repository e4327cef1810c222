//! Tenancy on import: Argo CD AppProjects → `allow` and `serviceAccountName`, Flux's
//! `serviceAccountName`, and ordo's narrow default for everything else. Every config is loaded
//! with ordo's own config loader.

use serde_json::{Value, json};

use super::*;
use crate::config::{self, AppConfig};

fn application(project: Option<&str>, namespace: &str) -> Value {
    let mut spec = json!({
        "source": {"repoURL": "https://example.org/r.git", "path": "."},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
        "syncPolicy": {"automated": {}},
    });
    if let Some(project) = project {
        spec["project"] = json!(project);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": spec,
    })
}

fn project(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    })
}

/// A project `team` whose only in-cluster destination is `shop`, with `extra` merged in.
fn team_project(extra: Value) -> Value {
    let mut spec = json!({
        "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "shop"}],
    });
    if let (Value::Object(spec), Value::Object(extra)) = (&mut spec, extra) {
        spec.extend(extra);
    }
    project("team", spec)
}

/// The import of `objects`, its config loaded by ordo: what `ordo run --config` would see.
fn imported(objects: &[Value]) -> (Import, AppConfig) {
    let imported = translate(objects, "x").unwrap();
    let mut config = config::parse(&imported.config, "imported.yaml")
        .unwrap_or_else(|e| panic!("{e}\n{}", imported.config));
    (imported, config.apps.remove(0))
}

/// The loaded app's allow list as text; `None` for a key ordo leaves at its default.
fn allow_of(app: &AppConfig) -> (Option<Vec<String>>, Option<Vec<String>>) {
    (
        app.allow.namespaces.as_ref().map(|p| p.text.clone()),
        app.allow.cluster_kinds.as_ref().map(|p| p.text.clone()),
    )
}

fn has(imported: &Import, kind: FindingKind, field: &str, part: &str) -> bool {
    imported
        .findings
        .iter()
        .any(|f| f.kind == kind && f.field == field && f.message.contains(part))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn argo_project_destinations_in_this_cluster_become_allow_namespaces() {
    let here = "https://kubernetes.default.svc";
    // (destinations, namespaces written, a finding on spec.destinations)
    let cases: [(Value, &[&str], Option<&str>); 6] = [
        (
            json!([{"server": here, "namespace": "shop"}, {"server": here, "namespace": "shop-*"}]),
            &["shop", "shop-*"],
            None,
        ),
        (
            json!([{"name": "in-cluster", "namespace": "shop"}]),
            &["shop"],
            None,
        ),
        (
            json!([{"server": "*", "namespace": "*"}, {"server": here, "namespace": "shop"}]),
            &["*"],
            None,
        ),
        (
            json!([{"server": here, "namespace": "shop"},
                   {"server": "https://prod.example.org", "namespace": "*"}]),
            &["shop"],
            Some("another cluster"),
        ),
        (
            json!([{"name": "prod", "namespace": "shop"}]),
            &[],
            Some("another cluster"),
        ),
        (
            json!([{"server": here, "namespace": "*"}, {"server": here, "namespace": "!kube-system"}]),
            &["*"],
            Some("a deny destination"),
        ),
    ];
    for (destinations, want, finding) in cases {
        let team = project("team", json!({"destinations": destinations}));
        let (imported, app) = imported(&[application(Some("team"), "shop"), team]);
        let written = imported.apps[0].allow.as_ref().unwrap();
        assert_eq!(written.namespaces, strings(want), "{destinations}");
        assert_eq!(allow_of(&app).0, Some(strings(want)), "{destinations}");
        if let Some(part) = finding {
            assert!(
                has(
                    &imported,
                    FindingKind::NotTranslated,
                    "spec.destinations",
                    part
                ),
                "{destinations}: {:?}",
                imported.findings
            );
        }
        let outside = has(
            &imported,
            FindingKind::NotTranslated,
            "spec.destination.namespace",
            "not among the destinations of AppProject team",
        );
        assert_eq!(outside, want.is_empty(), "{destinations}");
    }
}

#[test]
fn argo_cluster_resource_whitelist_becomes_kind_globs_as_applysets_write_them() {
    // (whitelist, clusterKinds written)
    let cases: [(Value, &[&str]); 7] = [
        (
            json!([{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}]),
            &["ClusterRole.rbac.authorization.k8s.io"],
        ),
        (json!([{"group": "*", "kind": "*"}]), &["*"]),
        (json!([{"group": "", "kind": "Namespace"}]), &["Namespace"]),
        (
            json!([{"group": "*", "kind": "Namespace"}]),
            &["Namespace", "Namespace.*"],
        ),
        (
            json!([{"group": "", "kind": "*"}]),
            &["Namespace", "Node", "PersistentVolume", "ComponentStatus"],
        ),
        (
            json!([{"group": "", "kind": "Namespace"},
                   {"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition"},
                   {"group": "", "kind": "Namespace"}]),
            &["Namespace", "CustomResourceDefinition.apiextensions.k8s.io"],
        ),
        (json!([]), &[]),
    ];
    for (whitelist, want) in cases {
        let team = team_project(json!({"clusterResourceWhitelist": whitelist}));
        let (imported, app) = imported(&[application(Some("team"), "shop"), team]);
        let written = imported.apps[0].allow.as_ref().unwrap();
        assert_eq!(written.cluster_kinds, strings(want), "{whitelist}");
        assert_eq!(allow_of(&app).1, Some(strings(want)), "{whitelist}");
    }
}

#[test]
fn argo_project_without_a_whitelist_allows_no_cluster_scoped_kinds() {
    let (imported, app) = imported(&[application(Some("team"), "shop"), team_project(json!({}))]);
    assert!(
        imported
            .config
            .contains("    allow:\n      namespaces: [shop]\n      clusterKinds: []\n"),
        "{}",
        imported.config
    );
    assert_eq!(allow_of(&app), (Some(strings(&["shop"])), Some(Vec::new())));
}

#[test]
fn argo_project_lookup_table() {
    let wide = Some((strings(&["*"]), strings(&["*"])));
    // (project named, projects among the inputs, allow written (None: ordo's default), finding's
    // kind and text)
    let cases = [
        (
            None,
            vec![],
            wide.clone(),
            FindingKind::Note,
            "as wide as Argo CD's default project — narrow allow",
        ),
        (
            Some("default"),
            vec![],
            wide.clone(),
            FindingKind::Note,
            "as wide as Argo CD's default project",
        ),
        (
            Some("team"),
            vec![],
            None,
            FindingKind::NotTranslated,
            "AppProject team not found among the inputs; allow left at ordo's default: the \
             app's own namespace, no cluster-scoped kinds",
        ),
        (
            Some("team"),
            vec![project("other", json!({}))],
            None,
            FindingKind::NotTranslated,
            "AppProject team not found among the inputs",
        ),
        (
            // A default project among the inputs is read like any other.
            Some("default"),
            vec![project(
                "default",
                json!({"destinations": [{"server": "*", "namespace": "*"}],
                       "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}),
            )],
            wide.clone(),
            FindingKind::Note,
            "AppProject default allows every namespace and every cluster-scoped kind",
        ),
    ];
    for (name, projects, want, kind, part) in cases {
        let mut objects = vec![application(name, "shop")];
        objects.extend(projects);
        let (imported, app) = imported(&objects);
        let written = imported.apps[0].allow.as_ref();
        let written = written.map(|a| (a.namespaces.clone(), a.cluster_kinds.clone()));
        assert_eq!(written, want, "{name:?}");
        if let Some((namespaces, kinds)) = want {
            assert_eq!(allow_of(&app), (Some(namespaces), Some(kinds)), "{name:?}");
        }
        assert!(
            has(&imported, kind, "spec.project", part),
            "{name:?}: {:?}",
            imported.findings
        );
    }
}

#[test]
fn argo_project_settings_without_an_ordo_equivalent_are_named() {
    let team = team_project(json!({
        "clusterResourceBlacklist": [{"group": "", "kind": "Namespace"}],
        "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
        "namespaceResourceWhitelist": [{"group": "apps", "kind": "Deployment"}],
        "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h"}],
        "sourceRepos": ["*"],
    }));
    let (imported, _) = imported(&[application(Some("team"), "shop"), team]);
    let on_project: Vec<(&str, FindingKind)> = imported
        .findings
        .iter()
        .filter(|f| f.object == "AppProject argocd/team")
        .map(|f| (f.field.as_str(), f.kind))
        .collect();
    assert_eq!(
        on_project,
        [
            ("spec.clusterResourceBlacklist", FindingKind::NotTranslated),
            (
                "spec.namespaceResourceBlacklist",
                FindingKind::NotTranslated
            ),
            (
                "spec.namespaceResourceWhitelist",
                FindingKind::NotTranslated
            ),
            ("spec.syncWindows", FindingKind::NotTranslated),
            ("spec.sourceRepos", FindingKind::Note),
        ]
    );
}

#[test]
fn argo_destination_service_accounts_become_service_account_name() {
    let here = "https://kubernetes.default.svc";
    // (destinationServiceAccounts, serviceAccountName loaded, a finding's kind and text)
    let cases = [
        (
            json!([{"server": here, "namespace": "shop", "defaultServiceAccount": "deployer"}]),
            Some("deployer"),
            FindingKind::Note,
            "application.sync.impersonation.enabled",
        ),
        (
            json!([{"server": "https://prod.example.org", "namespace": "*",
                    "defaultServiceAccount": "remote"},
                   {"server": "*", "namespace": "shop*", "defaultServiceAccount": "first"},
                   {"server": here, "namespace": "shop", "defaultServiceAccount": "second"}]),
            Some("first"),
            FindingKind::Note,
            "first is written as serviceAccountName",
        ),
        (
            json!([{"server": here, "namespace": "shop",
                    "defaultServiceAccount": "shop:deployer"}]),
            Some("deployer"),
            FindingKind::Note,
            "deployer is written",
        ),
        (
            json!([{"server": here, "namespace": "shop",
                    "defaultServiceAccount": "platform:deployer"}]),
            None,
            FindingKind::NotTranslated,
            "not of platform",
        ),
        (
            json!([{"server": here, "namespace": "other", "defaultServiceAccount": "x"}]),
            None,
            FindingKind::NotTranslated,
            "none is for this cluster and namespace shop",
        ),
        (
            json!([{"server": here, "namespace": "shop", "defaultServiceAccount": "Bad_Name"}]),
            None,
            FindingKind::NotTranslated,
            "is not a ServiceAccount name",
        ),
    ];
    for (accounts, want, kind, part) in cases {
        let team = team_project(json!({"destinationServiceAccounts": accounts}));
        let (imported, app) = imported(&[application(Some("team"), "shop"), team]);
        assert_eq!(app.service_account_name.as_deref(), want, "{accounts}");
        assert!(
            has(&imported, kind, "spec.destinationServiceAccounts", part),
            "{accounts}: {:?}",
            imported.findings
        );
    }
}

fn git_repository() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "r", "namespace": "team"},
        "spec": {"url": "https://example.org/r.git", "ref": {"branch": "main"}},
    })
}

fn flux_consumer(kind: &str, extra: Value) -> Value {
    let (api, mut spec) = if kind == "Kustomization" {
        (
            "kustomize.toolkit.fluxcd.io/v1",
            json!({"sourceRef": {"kind": "GitRepository", "name": "r"}, "path": "./"}),
        )
    } else {
        (
            "helm.toolkit.fluxcd.io/v2",
            json!({"chart": {"spec": {"chart": "./c",
                   "sourceRef": {"kind": "GitRepository", "name": "r"}}}}),
        )
    };
    if let (Value::Object(spec), Value::Object(extra)) = (&mut spec, extra) {
        spec.extend(extra);
    }
    json!({
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "web", "namespace": "team"},
        "spec": spec,
    })
}

#[test]
fn flux_service_account_name_becomes_the_apps_and_allow_stays_ordos_default() {
    // (kind, extra spec, serviceAccountName loaded, a note on spec.serviceAccountName)
    let cases = [
        (
            "Kustomization",
            json!({"serviceAccountName": "team-reconciler"}),
            Some("team-reconciler"),
            None,
        ),
        (
            "HelmRelease",
            json!({"serviceAccountName": "team-reconciler"}),
            Some("team-reconciler"),
            None,
        ),
        (
            "Kustomization",
            json!({"serviceAccountName": "team-reconciler", "targetNamespace": "web"}),
            Some("team-reconciler"),
            Some(
                "Flux impersonates team-reconciler of the object's namespace team; ordo \
                  impersonates team-reconciler of the app's namespace web",
            ),
        ),
        ("HelmRelease", json!({}), None, None),
    ];
    for (kind, extra, want, note) in cases {
        let (imported, app) = imported(&[git_repository(), flux_consumer(kind, extra.clone())]);
        assert_eq!(app.service_account_name.as_deref(), want, "{kind} {extra}");
        assert_eq!(imported.apps[0].allow, None, "{kind}: ordo's default");
        assert!(
            !imported.config.contains("\n    allow:"),
            "{}",
            imported.config
        );
        assert!(
            !has(
                &imported,
                FindingKind::NotTranslated,
                "spec.serviceAccountName",
                ""
            ),
            "{:?}",
            imported.findings
        );
        if let Some(note) = note {
            assert!(
                has(
                    &imported,
                    FindingKind::Note,
                    "spec.serviceAccountName",
                    note
                ),
                "{:?}",
                imported.findings
            );
        }
        assert!(
            has(
                &imported,
                FindingKind::Note,
                "",
                "Flux has no allow list: ordo lets this app write only into its namespace"
            ),
            "{:?}",
            imported.findings
        );
        assert!(
            imported
                .config
                .contains("# ordo restricts by default: an app without allow writes only"),
            "{}",
            imported.config
        );
    }
}

#[test]
fn app_projects_no_application_uses_are_findings() {
    let objects = [
        application(Some("team"), "shop"),
        team_project(json!({})),
        project("unused", json!({})),
    ];
    let (imported, _) = imported(&objects);
    assert!(imported.findings.iter().any(|f| {
        f.object == "AppProject argocd/unused"
            && f.kind == FindingKind::NotTranslated
            && f.message
                .contains("no Application that became an app uses it")
    }));
    assert!(
        !imported
            .findings
            .iter()
            .any(|f| f.object == "AppProject argocd/team" && f.field.is_empty())
    );
    let alone = translate(&[project("team", json!({}))], "x").unwrap_err();
    assert!(
        matches!(alone, ImportError::NothingTranslated { objects: 1, .. }),
        "{alone}"
    );
}

#[test]
fn argo_create_namespace_and_its_metadata_become_the_apps() {
    let mut app = application(None, "shop");
    app["spec"]["syncPolicy"]["syncOptions"] = json!(["CreateNamespace=true"]);
    app["spec"]["syncPolicy"]["managedNamespaceMetadata"] =
        json!({"labels": {"team": "shop"}, "annotations": {"owner": "ops"}});
    let (_, config) = imported(&[app.clone()]);
    let metadata = config.create_namespace.as_ref().expect("createNamespace");
    assert_eq!(metadata.labels["team"], "shop");
    assert_eq!(metadata.annotations["owner"], "ops");
    // Without CreateNamespace=true, Argo CD ignores the metadata: a finding, nothing made.
    app["spec"]["syncPolicy"]["syncOptions"] = json!([]);
    let (imported, config) = imported(&[app]);
    assert!(config.create_namespace.is_none());
    assert!(has(
        &imported,
        FindingKind::NotTranslated,
        "spec.syncPolicy.managedNamespaceMetadata",
        "CreateNamespace=true"
    ));
}
