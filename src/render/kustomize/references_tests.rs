use super::*;

fn tree(files: &[(&str, &str)]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|(path, data)| SourceFile {
            path: (*path).into(),
            data: data.as_bytes().to_vec(),
        })
        .collect()
}

#[test]
fn resolve_normalises_and_refuses_climbing_out() {
    assert_eq!(
        resolve("overlays/prod", "../../base").as_deref(),
        Some("base")
    );
    assert_eq!(resolve("", "./base/").as_deref(), Some("base"));
    assert_eq!(resolve("a", "../../x"), None);
    assert_eq!(resolve("a", "/etc"), None);
}

#[test]
fn remote_spellings_are_recognised() {
    for remote in [
        "https://github.com/org/repo//deploy?ref=v1",
        "git@github.com:org/repo.git",
        "ssh://git@example.org/org/repo",
        "github.com/org/repo/deploy?ref=main",
        "gitlab.com/org/repo//base",
    ] {
        assert!(is_url(remote) || is_host_first(remote), "{remote}");
    }
    for local in ["../base", "deployment.yaml", "base", "./components/x"] {
        assert!(!is_url(local) && !is_host_first(local), "{local}");
    }
}

#[test]
fn an_entry_past_the_root_names_the_kustomization_and_the_entry() {
    let files = tree(&[
        (
            "apps/web/kustomization.yaml",
            "resources:\n- ../../../etc\n",
        ),
        ("apps/web/cm.yaml", "kind: ConfigMap\n"),
    ]);
    let err = check_references(&files, "apps/web", false).unwrap_err();
    assert!(matches!(err, RenderError::PathOutside { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("apps/web/kustomization.yaml"), "{text}");
    assert!(text.contains("../../../etc"), "{text}");
}

#[test]
fn escapes_are_found_in_bases_reached_from_the_overlay() {
    let files = tree(&[
        (
            "overlays/prod/kustomization.yaml",
            "resources: [../../base]\n",
        ),
        ("base/kustomization.yml", "components:\n- ../../shared\n"),
    ]);
    let err = check_references(&files, "overlays/prod", false).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("base/kustomization.yml:"), "{text}");
}

#[test]
fn remote_bases_are_refused_unless_allowed() {
    let files = tree(&[(
        "app/kustomization.yaml",
        "resources:\n- github.com/org/repo//base?ref=v1\n",
    )]);
    let err = check_references(&files, "app", false).unwrap_err();
    assert!(matches!(err, RenderError::RemoteBase { .. }), "{err:?}");
    assert!(err.to_string().contains("allowRemoteBases"), "{err}");
    check_references(&files, "app", true).unwrap();
}

#[test]
fn a_local_directory_with_a_dot_is_not_remote() {
    let files = tree(&[
        ("app/kustomization.yaml", "resources: [base.v2/x]\n"),
        ("app/base.v2/x/kustomization.yaml", "resources: []\n"),
    ]);
    check_references(&files, "app", false).unwrap();
}

#[test]
fn a_kustomization_that_is_not_yaml_is_named() {
    let files = tree(&[("k/kustomization.yaml", "resources: [\n")]);
    let err = check_references(&files, "k", false).unwrap_err();
    assert!(
        err.to_string().starts_with("k/kustomization.yaml:"),
        "{err}"
    );
}

#[test]
fn a_url_in_any_path_field_is_refused_naming_the_field() {
    let cases = [
        (
            "configMapGenerator",
            "configMapGenerator:\n- name: c\n  files: [k=http://127.0.0.1:8080/x]\n",
        ),
        (
            "configMapGenerator",
            "configMapGenerator:\n- name: c\n  envs: [https://example.org/e.env]\n",
        ),
        (
            "secretGenerator",
            "secretGenerator:\n- name: s\n  files: [http://10.0.0.1/token]\n",
        ),
        ("patches", "patches:\n- path: http://127.0.0.1/p.yaml\n"),
        (
            "patchesStrategicMerge",
            "patchesStrategicMerge:\n- https://example.org/p.yaml\n",
        ),
        (
            "patchesJson6902",
            "patchesJson6902:\n- path: https://example.org/p.json\n  target: {kind: X, name: y}\n",
        ),
        (
            "transformers",
            "transformers:\n- http://127.0.0.1:9/t.yaml\n",
        ),
        ("generators", "generators:\n- https://example.org/g.yaml\n"),
        ("validators", "validators:\n- https://example.org/v.yaml\n"),
        (
            "openapi",
            "openapi:\n  path: http://127.0.0.1/schema.json\n",
        ),
        ("crds", "crds:\n- https://example.org/crd.json\n"),
        (
            "configurations",
            "configurations:\n- https://example.org/c.yaml\n",
        ),
        (
            "replacements",
            "replacements:\n- path: http://127.0.0.1/r.yaml\n",
        ),
    ];
    for (field, kustomization) in cases {
        let files = tree(&[("app/kustomization.yaml", kustomization)]);
        for allow_remote in [false, true] {
            let err = check_references(&files, "app", allow_remote).unwrap_err();
            assert!(
                matches!(&err, RenderError::RemoteFile { field: f, .. } if *f == field),
                "{field} (allow_remote {allow_remote}): {err:?}"
            );
            assert!(err.to_string().contains("app/kustomization.yaml"), "{err}");
        }
    }
}

#[test]
fn a_decoy_file_does_not_make_a_url_local() {
    let files = tree(&[
        (
            "app/kustomization.yaml",
            "resources:\n- http://127.0.0.1:8080/x.yaml\n",
        ),
        ("app/http:/127.0.0.1:8080/x.yaml", "kind: ConfigMap\n"),
    ]);
    let err = check_references(&files, "app", false).unwrap_err();
    assert!(matches!(err, RenderError::RemoteBase { .. }), "{err:?}");

    let files = tree(&[
        (
            "app/kustomization.yaml",
            "configMapGenerator:\n- name: c\n  files: [http://h/x]\n",
        ),
        ("app/http:/h/x", "decoy"),
    ]);
    let err = check_references(&files, "app", false).unwrap_err();
    assert!(matches!(err, RenderError::RemoteFile { .. }), "{err:?}");
}

#[test]
fn a_path_must_name_a_file_in_the_repository() {
    let files = tree(&[(
        "app/kustomization.yaml",
        "configMapGenerator:\n- name: c\n  envs: [missing.env]\n",
    )]);
    let err = check_references(&files, "app", false).unwrap_err();
    assert!(matches!(err, RenderError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.env"), "{err}");

    let files = tree(&[
        (
            "app/kustomization.yaml",
            "configMapGenerator:\n- name: c\n  files: [key=conf/app.ini, other.txt]\n  envs: [e.env]\n\
             patches:\n- path: p.yaml\n- patch: |-\n    kind: X\n    metadata: {name: y}\n\
             transformers: [t/]\n",
        ),
        ("app/conf/app.ini", "a=1"),
        ("app/other.txt", "x"),
        ("app/e.env", "A=1"),
        ("app/p.yaml", "kind: X"),
        ("app/t/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("app/t/cm.yaml", "kind: ConfigMap"),
    ]);
    let reached = check_references(&files, "app", false).unwrap();
    assert!(reached.contains("app/t"), "{reached:?}");
}

#[test]
fn remote_bases_go_only_over_https_or_ssh_to_a_named_host() {
    for good in [
        "https://github.com/org/repo//deploy?ref=v1",
        "git::https://example.org/org/repo.git//base?ref=main",
        "ssh://git@example.org:2222/org/repo",
        "git@github.com:org/repo.git",
        "github.com/org/repo/deploy?ref=main",
    ] {
        let files = tree(&[(
            "app/kustomization.yaml",
            &format!("resources: [{good:?}]\n"),
        )]);
        check_references(&files, "app", true).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        "file:///var/cache/ordo/git/other-team.git//secrets",
        "git::file:///var/cache/ordo/git/x",
        "http://example.org/org/repo?ref=v1",
        "ext::sh -c touch% /tmp/pwned",
        "git::/var/cache/ordo/git/x//base?ref=main",
        "../../../var/cache/repo?ref=main",
        "git@:/etc",
    ] {
        let files = tree(&[("app/kustomization.yaml", &format!("resources: [{bad:?}]\n"))]);
        let err = check_references(&files, "app", true).expect_err(bad);
        assert!(
            matches!(
                err,
                RenderError::RemoteTransport { .. }
                    | RenderError::PathOutside { .. }
                    | RenderError::Missing { .. }
            ),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn a_kustomization_is_read_within_the_manifests_budget_naming_the_file() {
    // 9 MiB of text in one value: over the budget every repository file is read with
    // (manifest::yaml_options), under the YAML parser's own default.
    let big = "x".repeat(9 * 1024 * 1024);
    let text = format!("resources: [cm.yaml]\ncommonAnnotations: {{note: \"{big}\"}}\n");
    let files = tree(&[("app/kustomization.yaml", &text), ("app/cm.yaml", "x: 1\n")]);
    let err = entries(&files[0]).unwrap_err().to_string();
    assert!(
        err.contains("app/kustomization.yaml"),
        "{}",
        &err[..err.len().min(300)]
    );
    assert!(err.contains("budget"), "{}", &err[..err.len().min(300)]);
}
