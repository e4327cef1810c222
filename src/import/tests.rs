use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::config::{self, Config};

const ARGO_HELM: &str = include_str!("../../tests/fixtures/import/argo-helm.yaml");
const ARGO_KUSTOMIZE: &str = include_str!("../../tests/fixtures/import/argo-kustomize.yaml");
const APPLICATION_SET: &str = include_str!("../../tests/fixtures/import/applicationset.yaml");
const FLUX_KUSTOMIZATION: &str =
    include_str!("../../tests/fixtures/import/flux-kustomization.yaml");
const FLUX_HELM_GIT: &str = include_str!("../../tests/fixtures/import/flux-helmrelease-git.yaml");
const FLUX_HELM_REPO: &str =
    include_str!("../../tests/fixtures/import/flux-helmrelease-helmrepo.yaml");

fn import(texts: &[&str]) -> Result<Import, ImportError> {
    let mut objects = Vec::new();
    for text in texts {
        objects.extend(parse_documents(text, "test.yaml").unwrap());
    }
    translate(&objects, "test.yaml")
}

/// The import's config, loaded by ordo's own loader: what `ordo run --config` would see.
fn loaded(imported: &Import) -> Config {
    config::parse(&imported.config, "imported.yaml")
        .unwrap_or_else(|e| panic!("{e}\n{}", imported.config))
}

fn lost(imported: &Import) -> Vec<String> {
    imported
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::NotTranslated)
        .map(|f| format!("{}: {}", f.object, f.field))
        .collect()
}

#[test]
fn every_fixture_translates_to_a_config_ordo_loads() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&[ARGO_HELM], &["shop"]),
        (&[ARGO_KUSTOMIZE], &["guestbook"]),
        (&[FLUX_KUSTOMIZATION], &["apps"]),
        (&[FLUX_HELM_GIT], &["podinfo"]),
        (
            &[
                ARGO_HELM,
                ARGO_KUSTOMIZE,
                APPLICATION_SET,
                FLUX_KUSTOMIZATION,
                FLUX_HELM_GIT,
                FLUX_HELM_REPO,
            ],
            &["shop", "guestbook", "apps", "podinfo"],
        ),
    ];
    for (texts, names) in cases {
        let imported = import(texts).unwrap();
        let config = loaded(&imported);
        let loaded_names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(loaded_names, names);
        let written: Vec<&str> = imported.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(written, names);
    }
}

#[test]
fn argo_helm_application_maps_values_files_values_and_parameters() {
    let imported = import(&[ARGO_HELM]).unwrap();
    let app = &loaded(&imported).apps[0];
    assert_eq!(app.repo, "https://git.example.org/team/deploy.git");
    assert_eq!(app.reference, "main");
    assert_eq!(app.path, "charts/shop");
    assert_eq!(app.namespace, "shop");
    assert!(app.prune && app.self_heal);
    assert_eq!(app.source, crate::render::SourceKind::Helm);
    assert_eq!(app.helm.release_name, "shop-prod");
    assert_eq!(
        app.helm.value_files,
        ["charts/shop/values-prod.yaml", "charts/common/values.yaml"]
    );
    assert_eq!(
        app.helm.values,
        Some(json!({
            "replicas": 2,
            "image": {"tag": "1.11"},
            "ingress": {"enabled": true},
            "build": "0042",
        }))
    );
    // CreateNamespace=true: ordo makes the app's namespace too.
    assert!(lost(&imported).is_empty(), "{:?}", lost(&imported));
    assert!(imported.apps[0].create_namespace);
    assert!(app.create_namespace.is_some());
}

#[test]
fn argo_kustomize_options_remote_clusters_and_manual_sync_are_findings() {
    let imported = import(&[ARGO_KUSTOMIZE]).unwrap();
    let app = &loaded(&imported).apps[0];
    assert_eq!(app.reference, "", "HEAD follows the default branch");
    assert_eq!(app.path, "guestbook/overlays/prod");
    assert_eq!(app.source, crate::render::SourceKind::Kustomize);
    assert!(!app.prune && !app.self_heal);
    let object = "Application argocd/guestbook";
    let want: Vec<String> = [
        "spec.destination.server",
        "spec.project",
        "spec.syncPolicy.automated",
        "spec.syncPolicy.syncOptions[PrunePropagationPolicy=foreground]",
        "spec.source.kustomize.namePrefix",
        "spec.source.kustomize.images",
        "spec.source.kustomize.commonLabels",
    ]
    .iter()
    .map(|field| format!("{object}: {field}"))
    .collect();
    assert_eq!(lost(&imported), want);
}

#[test]
fn flux_kustomization_takes_the_git_repository_and_names_what_it_cannot() {
    let imported = import(&[FLUX_KUSTOMIZATION]).unwrap();
    let app = &loaded(&imported).apps[0];
    assert_eq!(app.repo, "https://github.com/example/platform");
    assert_eq!(app.reference, "release");
    assert_eq!(app.path, "clusters/prod/apps");
    assert_eq!(app.namespace, "apps");
    assert_eq!(app.interval, Duration::from_secs(60));
    assert_eq!(app.timeout, Duration::from_secs(150));
    assert!(app.prune && app.self_heal);
    assert_eq!(app.credentials, config::CredentialsConfig::default());
    assert_eq!(
        lost(&imported),
        [
            "Kustomization flux-system/apps: spec.postBuild.substituteFrom",
            "Kustomization flux-system/apps: spec.dependsOn",
            "GitRepository flux-system/platform: spec.secretRef",
        ]
    );
    assert!(app.depends_on.is_empty(), "infra is not among the inputs");
    // Flux's post-build variables, substituted by ordo after the render as Flux does.
    assert_eq!(
        app.render_options()
            .substitute
            .into_iter()
            .collect::<Vec<_>>(),
        [
            ("cluster_env".to_owned(), "prod".to_owned()),
            ("replicas".to_owned(), "3".to_owned())
        ]
    );
    let decryption = app.decryption.as_ref().expect("SOPS decryption");
    assert_eq!(
        decryption.keys,
        config::DecryptionKeys::Secret(config::SecretRef {
            name: "sops-age".into(),
            namespace: Some("flux-system".into()),
            key: "age.agekey".into(),
        })
    );
    assert!(imported.config.contains(
        "    # credentials:\n    #   username: <the Secret's username>\n    \
         #   passwordFile: /etc/ordo/git/platform-auth/password\n"
    ));
}

/// Flux's `dependsOn` between Kustomizations (and between HelmReleases) becomes `dependsOn`
/// between the apps they became, by their final names; what is not among the inputs, and
/// what another provider encrypts, are findings.
#[test]
fn flux_dependencies_name_the_apps_they_became() {
    let repo = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n\
                metadata: {name: platform, namespace: flux-system}\n\
                spec: {url: https://github.com/example/platform, ref: {branch: main}}\n";
    let kustomization = |name: &str, namespace: &str, deps: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata: {{name: {name}, namespace: {namespace}}}\n\
             spec: {{path: ./{name}, sourceRef: {{kind: GitRepository, name: platform, \
             namespace: flux-system}}, dependsOn: [{deps}]}}\n"
        )
    };
    let texts = [
        repo.to_owned(),
        kustomization("infra", "flux-system", ""),
        // Another `infra`, in another namespace: renamed infra-2, and named so where needed.
        kustomization("infra", "team", ""),
        kustomization(
            "apps",
            "flux-system",
            "{name: infra}, {name: infra, namespace: team}, {name: gone}",
        ),
    ];
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let imported = import(&texts).unwrap();
    let config = loaded(&imported);
    let apps: Vec<(&str, &[String])> = config
        .apps
        .iter()
        .map(|a| (a.name.as_str(), a.depends_on.as_slice()))
        .collect();
    assert_eq!(
        apps,
        [
            ("infra", &[][..]),
            ("infra-2", &[][..]),
            ("apps", &["infra".to_owned(), "infra-2".to_owned()][..]),
        ]
    );
    assert!(
        imported
            .config
            .contains("    dependsOn: [infra, infra-2]\n")
    );
    let gone = imported
        .findings
        .iter()
        .find(|f| f.field == "spec.dependsOn")
        .expect("a finding for the missing one");
    assert_eq!(gone.object, "Kustomization flux-system/apps");
    assert!(
        gone.message
            .starts_with("Kustomization flux-system/gone is not among the inputs"),
        "{gone:?}"
    );

    // No secretRef: Flux's controller decrypts with its own (cloud KMS) keys.
    let kms = FLUX_KUSTOMIZATION.replace("\n    secretRef:\n      name: sops-age", "");
    assert_ne!(kms, FLUX_KUSTOMIZATION);
    let imported = import(&[&kms]).unwrap();
    assert!(loaded(&imported).apps[0].decryption.is_none());
    assert!(
        lost(&imported).contains(&"Kustomization flux-system/apps: spec.decryption".to_owned()),
        "{:?}",
        imported.findings
    );
}

#[test]
fn flux_helm_release_from_git_keeps_release_name_values_and_files() {
    let imported = import(&[FLUX_HELM_GIT]).unwrap();
    let app = &loaded(&imported).apps[0];
    assert_eq!(app.reference, "6.7.0");
    assert_eq!(app.path, "charts/podinfo");
    assert_eq!(app.namespace, "web");
    assert_eq!(
        app.helm.release_name, "web-podinfo",
        "Flux's [targetNamespace-]name"
    );
    assert_eq!(app.helm.value_files, ["charts/podinfo/values-prod.yaml"]);
    let values = app.helm.values.as_ref().unwrap();
    assert_eq!(values["ingress"]["hosts"][0]["paths"][0]["path"], "/");
    assert_eq!(values["replicaCount"], 3);
    assert_eq!(
        lost(&imported),
        ["HelmRelease flux-system/podinfo: spec.upgrade"]
    );
}

#[test]
fn charts_from_chart_repositories_and_application_sets_make_no_app() {
    for text in [FLUX_HELM_REPO, APPLICATION_SET] {
        match import(&[text]) {
            Err(ImportError::NothingTranslated { findings, .. }) => {
                assert_eq!(findings.len(), 1, "{findings:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    let Err(ImportError::NothingTranslated { findings, .. }) = import(&[FLUX_HELM_REPO]) else {
        panic!("no app expected")
    };
    assert!(findings[0].message.contains(
        "(helm pull redis --repo https://charts.bitnami.com/bitnami --version '19.x' --untar)"
    ));
}

#[test]
fn no_argo_or_flux_object_is_an_error() {
    let err = import(&["apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"]).unwrap_err();
    assert!(matches!(err, ImportError::NothingFound { .. }), "{err}");
}

#[test]
fn yaml_errors_name_the_file_and_line() {
    let err = parse_documents("a: 1\nb: [\n", "apps/x.yaml").unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("apps/x.yaml:"), "{message}");
    assert!(
        matches!(err, ImportError::Syntax { line: Some(_), .. }),
        "{message}"
    );
}

#[test]
fn kubectl_lists_are_flattened() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n- kind: B\n";
    assert_eq!(parse_documents(list, "l.yaml").unwrap().len(), 2);
}

fn application(name: &str, extra_spec: Value) -> Value {
    let mut spec = json!({
        "source": {"repoURL": "https://example.org/r.git", "path": "."},
        "destination": {"namespace": "default"},
        "syncPolicy": {"automated": {}},
    });
    if let (Value::Object(spec), Value::Object(extra)) = (&mut spec, extra_spec) {
        spec.extend(extra);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    })
}

#[test]
fn duplicate_names_are_renamed_with_a_note() {
    let objects = [
        application("web", json!({})),
        application("web-2", json!({})),
        application("web", json!({})),
    ];
    let imported = translate(&objects, "x").unwrap();
    let names: Vec<&str> = imported.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["web", "web-2", "web-3"]);
    loaded(&imported);
    assert!(
        imported
            .findings
            .iter()
            .any(|f| f.message.contains("\"web-3\""))
    );
}

#[test]
fn names_that_are_no_dns_labels_are_rewritten() {
    let objects = [application("Team.Web_App", json!({}))];
    let imported = translate(&objects, "x").unwrap();
    assert_eq!(imported.apps[0].name, "team-web-app");
    loaded(&imported);
}

#[test]
fn argo_revisions_and_sources_table() {
    // (extra spec, ref written, a finding's field)
    let cases = [
        (
            json!({"source": {"repoURL": "r", "targetRevision": "HEAD"}}),
            None,
            None,
        ),
        (
            json!({"source": {"repoURL": "r", "targetRevision": "v1.2.0"}}),
            Some("v1.2.0"),
            None,
        ),
        (
            json!({"source": {"repoURL": "r", "targetRevision": ">=1.2.0 <2"}}),
            None,
            Some("spec.source.targetRevision"),
        ),
        (
            json!({"source": {"repoURL": "r", "plugin": {"name": "x"}}}),
            None,
            Some("spec.source.plugin"),
        ),
        (
            json!({"source": {"repoURL": "r", "directory": {"jsonnet": {}}}}),
            None,
            Some("spec.source.directory.jsonnet"),
        ),
        (
            json!({"destination": {"name": "prod", "namespace": "a"}}),
            None,
            Some("spec.destination.name"),
        ),
        (
            json!({"ignoreDifferences": []}),
            None,
            Some("spec.ignoreDifferences"),
        ),
    ];
    for (extra, reference, finding) in cases {
        let imported = translate(&[application("a", extra.clone())], "x").unwrap();
        loaded(&imported);
        assert_eq!(imported.apps[0].reference.as_deref(), reference, "{extra}");
        let lost: Vec<&str> = imported
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::NotTranslated)
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(lost, finding.into_iter().collect::<Vec<_>>(), "{extra}");
    }
}

#[test]
fn argo_plain_directories_stay_at_the_top_level_unless_recursive() {
    let top = translate(&[application("a", json!({}))], "x").unwrap();
    assert_eq!(top.apps[0].include, ["*.yaml", "*.yml", "*.json"]);
    let recursive = json!({"source": {"repoURL": "r", "directory": {"recurse": true}}});
    let all = translate(&[application("a", recursive)], "x").unwrap();
    assert!(all.apps[0].include.is_empty());
    loaded(&top);
    loaded(&all);
}

#[test]
fn argo_multi_source_and_chart_repository_applications_make_no_app() {
    let cases = [
        json!({"source": null, "sources": [{"repoURL": "r"}]}),
        json!({"source": {"repoURL": "https://charts.example.org", "chart": "redis"}}),
    ];
    for extra in cases {
        let err = translate(&[application("a", extra.clone())], "x").unwrap_err();
        assert!(
            matches!(err, ImportError::NothingTranslated { .. }),
            "{extra}"
        );
    }
}

/// The `helm:` a chart-repository finding suggests is one ordo's config loader takes, once
/// the version is exact.
#[test]
fn a_chart_from_a_repository_is_named_with_the_helm_that_would_pull_it() {
    let cases = [
        (
            "https://charts.example.org/stable/",
            Some("1.4.2"),
            "helm: {repoURL: https://charts.example.org/stable, chart: shop, version: 1.4.2}",
        ),
        (
            "oci://registry.example.org/charts",
            Some("1.4.2"),
            "helm: {repoURL: oci://registry.example.org/charts/shop, version: 1.4.2}",
        ),
        // Argo CD writes an OCI repository without its scheme.
        (
            "registry.example.org/charts",
            Some("1.4.2"),
            "helm: {repoURL: oci://registry.example.org/charts/shop, version: 1.4.2}",
        ),
        (
            "https://charts.example.org",
            Some("1.x"),
            "helm: {repoURL: https://charts.example.org, chart: shop, version: <an exact version>}",
        ),
        (
            "https://charts.example.org",
            None,
            "helm: {repoURL: https://charts.example.org, chart: shop, version: <an exact version>}",
        ),
    ];
    for (url, version, want) in cases {
        let hint = fields::remote_chart_hint(url, "shop", version);
        assert_eq!(hint, want);
        if !hint.contains('<') {
            let text = format!(
                "apps:\n  - name: shop\n    repo: https://git.example.org/values.git\n    \
                 namespace: shop\n    source: helm\n    {hint}\n"
            );
            config::parse(&text, "hint.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
}

fn git_repository(reference: Value) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "r", "namespace": "flux-system"},
        "spec": {"url": "ssh://git@example.org/r.git", "ref": reference,
                 "secretRef": {"name": "ssh"}},
    })
}

fn kustomization() -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "k", "namespace": "flux-system"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "r"}, "path": "./"},
    })
}

#[test]
fn flux_refs_follow_flux_precedence() {
    let cases = [
        (json!({"branch": "main"}), Some("main")),
        (json!({"branch": "main", "tag": "v1"}), Some("v1")),
        (json!({"tag": "v1", "commit": "abc"}), Some("abc")),
        (json!({"name": "refs/tags/v2"}), Some("v2")),
        (json!({"name": "refs/pull/1/head"}), None),
        (json!({"semver": ">=1.0.0"}), None),
        (json!({}), None),
    ];
    for (reference, want) in cases {
        let imported =
            translate(&[git_repository(reference.clone()), kustomization()], "x").unwrap();
        assert_eq!(imported.apps[0].reference.as_deref(), want, "{reference}");
        assert_eq!(imported.apps[0].path, None, "./ is the root");
        loaded(&imported);
        assert!(
            imported
                .config
                .contains("#   sshKeyFile: /etc/ordo/git/ssh/identity")
        );
    }
}

#[test]
fn flux_sources_that_are_missing_or_unused_are_findings() {
    let alone = translate(&[kustomization()], "x").unwrap_err();
    let ImportError::NothingTranslated { findings, .. } = alone else {
        panic!("{alone}")
    };
    assert!(findings[0].message.contains("not among the files read"));
    let unused = translate(
        &[git_repository(json!({})), application("a", json!({}))],
        "x",
    )
    .unwrap();
    assert!(
        unused
            .findings
            .iter()
            .any(|f| f.object == "GitRepository flux-system/r"
                && f.message.contains("no Kustomization or HelmRelease"))
    );
}

#[test]
fn go_durations_become_ordo_durations() {
    let cases = [
        ("10m", Some(Duration::from_secs(600))),
        ("1h30m0s", Some(Duration::from_secs(5400))),
        ("1.5h", Some(Duration::from_secs(5400))),
        ("2m30s", Some(Duration::from_secs(150))),
        ("500ms", Some(Duration::from_millis(500))),
        ("90s", Some(Duration::from_secs(90))),
        ("10", None),
        ("10d", None),
        ("", None),
    ];
    for (text, want) in cases {
        assert_eq!(go_duration(text), want, "{text}");
    }
}

#[test]
fn scalars_read_back_as_the_same_string() {
    let texts = [
        "main",
        "1.10",
        "6.7.0",
        "true",
        "no",
        "null",
        "~",
        "5m",
        "0x1F",
        "2024-01-01",
        "12:30",
        "",
        " x",
        "a: b",
        "#x",
        "-",
        "git@github.com:a/b.git",
        "https://x.org/a?b=c#d",
        "line\nbreak",
        "quote\"d",
        "*alias",
        "&anchor",
        "!tag",
        "%x",
        "@x",
        "`x",
        "[a]",
        "{a}",
        "a, b",
        "ünï",
        ".5",
        "1e3",
        "inf",
    ];
    for text in texts {
        let yaml = format!("k: {}\n", emit::scalar(text));
        let back: Value = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        assert_eq!(back["k"], Value::String(text.to_owned()), "{yaml}");
    }
}

#[test]
fn findings_read_as_one_line_each() {
    let finding = Finding {
        object: "Kustomization flux-system/apps".into(),
        field: "spec.decryption".into(),
        message: "what — what to do".into(),
        kind: FindingKind::NotTranslated,
    };
    assert_eq!(
        finding.to_string(),
        "not translated: Kustomization flux-system/apps: spec.decryption: what — what to do"
    );
}

#[test]
fn values_ordo_would_refuse_become_findings_not_broken_configs() {
    let long = "a".repeat(60);
    let cases = [
        (
            application(
                "a",
                json!({"source": {"repoURL": "r", "helm": {"releaseName": "Bad_Name"}}}),
            ),
            "spec.source.helm.releaseName",
        ),
        (
            application(
                "a",
                json!({"source": {"repoURL": "r", "directory": {"include": "{a,"}}}),
            ),
            "spec.source.directory.include",
        ),
        (
            application("a", json!({"source": {"repoURL": "r", "path": "../up"}})),
            "spec.source.path",
        ),
        (
            json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "metadata": {"name": long, "namespace": "flux-system"},
                "spec": {"targetNamespace": "web", "interval": "100ms",
                         "chart": {"spec": {"chart": "./c",
                                   "sourceRef": {"kind": "GitRepository", "name": "r"}}}},
            }),
            "spec.releaseName",
        ),
    ];
    for (object, field) in cases {
        let imported = translate(&[object, git_repository(json!({}))], "x").unwrap();
        loaded(&imported);
        assert!(
            imported.findings.iter().any(|f| f.field == field),
            "{field}: {:?}",
            imported.findings
        );
    }
    let mut no_url = git_repository(json!({}));
    no_url["spec"]["url"] = Value::Null;
    let err = translate(&[no_url, kustomization()], "x").unwrap_err();
    assert!(err.to_string().contains("none translates"), "{err}");
}

#[test]
fn line_breaks_in_input_values_cannot_escape_a_comment() {
    let mut object = application("a\nlisten: 10.0.0.1:1", json!({}));
    object["spec"]["project"] = json!("p\napiTokenFile: /x");
    let imported = translate(&[object], "x").unwrap();
    let config = loaded(&imported);
    assert_eq!(config.listen, crate::config::DEFAULT_LISTEN);
    assert_eq!(config.api_token_file, None);
    assert!(
        imported
            .findings
            .iter()
            .all(|f| !f.to_string().contains('\n'))
    );
}

#[test]
fn argo_helm_values_merge_in_argo_cd_order() {
    // (helm block, values ordo writes)
    let cases = [
        (
            json!({"values": "a: 1\nb: {c: 2}\n", "valuesObject": {"b": {"d": 3}}}),
            json!({"a": 1, "b": {"c": 2, "d": 3}}),
        ),
        (
            json!({"valuesObject": {"a": 1}, "parameters": [{"name": "a", "value": "2"}]}),
            json!({"a": 2}),
        ),
        (
            json!({"parameters": [
                {"name": "x\\.y.z", "value": "on"},
                {"name": "n", "value": "null"},
                {"name": "f", "value": "1.5"},
                {"name": "s", "value": "7", "forceString": true},
            ]}),
            json!({"x.y": {"z": "on"}, "n": null, "f": "1.5", "s": "7"}),
        ),
        (
            json!({"parameters": [{"name": "list[0].a", "value": "1"}]}),
            Value::Null,
        ),
    ];
    for (helm, want) in cases {
        let source = json!({"repoURL": "r", "path": "c", "helm": helm});
        let imported = translate(&[application("a", json!({"source": source}))], "x").unwrap();
        let app = loaded(&imported).apps.remove(0);
        let got = app.helm.values.unwrap_or(Value::Null);
        assert_eq!(got, want, "{helm}");
    }
}
