//! Detection, tool lookup and error messages: no tool is run here (tests/render.rs runs them).

use std::path::PathBuf;
use std::time::Duration;

use super::*;

#[test]
fn detect_picks_the_kind_from_files_at_the_app_path() {
    use SourceKind::*;
    let cases: &[(&str, &[&str], SourceKind)] = &[
        ("", &["deploy.yaml", "svc.yaml"], Directory),
        ("", &["kustomization.yaml", "deploy.yaml"], Kustomize),
        ("app", &["app/kustomization.yml"], Kustomize),
        ("app", &["app/Kustomization"], Kustomize),
        ("app/", &["app/Chart.yaml", "app/templates/x.yaml"], Helm),
        ("./app", &["app/Chart.yaml"], Helm),
        ("", &["Chart.yaml", "kustomization.yaml"], Kustomize),
        // Markers elsewhere in the tree do not count.
        (
            "app",
            &["app/x.yaml", "other/kustomization.yaml"],
            Directory,
        ),
        ("app", &["app/sub/Chart.yaml", "Chart.yaml"], Directory),
        ("app", &["application/kustomization.yaml"], Directory),
        (
            "app",
            &["app/KUSTOMIZATION.yaml", "app/chart.yaml"],
            Directory,
        ),
        // Kustomizations below the path, none at it: built as Flux generates it.
        (
            "clusters/prod",
            &[
                "clusters/prod/apps.yaml",
                "clusters/prod/flux-system/kustomization.yaml",
            ],
            Kustomize,
        ),
        ("", &["a.yaml", "deep/er/Kustomization"], Kustomize),
        // A chart at the path wins over kustomizations below it.
        (
            "app",
            &["app/Chart.yaml", "app/sub/kustomization.yaml"],
            Helm,
        ),
    ];
    for (path, files, want) in cases {
        assert_eq!(
            detect(path, files.iter().copied()),
            *want,
            "{path:?} {files:?}"
        );
    }
}

#[test]
fn source_kind_names_match_config_and_cli() {
    let names: Vec<String> = SourceKind::ALL.iter().map(|k| k.to_string()).collect();
    assert_eq!(names, ["auto", "directory", "kustomize", "helm"]);
    for kind in SourceKind::ALL {
        let parsed: SourceKind =
            serde_json::from_value(serde_json::json!(kind.to_string())).unwrap();
        assert_eq!(parsed, kind);
        let value = <SourceKind as clap::ValueEnum>::from_str(&kind.to_string(), false).unwrap();
        assert_eq!(value, kind);
    }
}

#[test]
fn directory_is_returned_unchanged_without_any_tool() {
    let files = vec![SourceFile {
        path: "app/deploy.yaml".into(),
        data: b"kind: ConfigMap\n".to_vec(),
    }];
    let renderer = Renderer::new(Tools {
        kustomize: Some(PathBuf::from("/nonexistent/kustomize")),
        helm: Some(PathBuf::from("/nonexistent/helm")),
    });
    let options = RenderOptions::default();
    let request = RenderRequest {
        files: &files,
        app_path: "app",
        namespace: "default",
        options: &options,
        secret_values: None,
    };
    assert_eq!(renderer.render(&request).unwrap(), files);
    assert_eq!(renderer.cached(), 0);
}

#[test]
fn a_missing_tool_says_how_to_build_it() {
    let files = vec![SourceFile {
        path: "app/kustomization.yaml".into(),
        data: b"resources: []\n".to_vec(),
    }];
    let renderer = Renderer::new(Tools {
        kustomize: Some(PathBuf::from("/nonexistent/kustomize")),
        helm: None,
    });
    let options = RenderOptions::default();
    let request = RenderRequest {
        files: &files,
        app_path: "app",
        namespace: "default",
        options: &options,
        secret_values: None,
    };
    let err = renderer.render(&request).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RenderError::ToolNotFound { .. }), "{err:?}");
    for part in [
        "kustomize",
        "app",
        "/nonexistent/kustomize",
        "scripts/cluster.sh build kustomize",
        "ORDO_KUSTOMIZE",
    ] {
        assert!(text.contains(part), "{part} missing in: {text}");
    }
}

#[test]
fn error_messages_name_the_tool_and_the_app() {
    let failed = RenderError::ToolFailed {
        tool: Tool::Helm,
        app: "charts/shop".into(),
        code: Some(1),
        stderr: "Error: execution error at (shop/templates/x.yaml:3:4): boom".into(),
    };
    assert_eq!(
        failed.to_string(),
        "helm failed rendering charts/shop (exit code 1): Error: execution error at \
         (shop/templates/x.yaml:3:4): boom"
    );
    let timeout = RenderError::Timeout {
        tool: Tool::Kustomize,
        app: ".".into(),
        after: Duration::from_secs(2),
    };
    assert!(
        timeout
            .to_string()
            .starts_with("kustomize rendering . did not finish within 2s"),
        "{timeout}"
    );
    let big = RenderError::OutputTooLarge {
        tool: Tool::Helm,
        app: "c".into(),
        limit: 1024,
    };
    assert!(big.to_string().contains("more than 1024 bytes"), "{big}");
    let killed = RenderError::ToolFailed {
        tool: Tool::Helm,
        app: "c".into(),
        code: None,
        stderr: String::new(),
    };
    assert!(
        killed.to_string().contains("killed by a signal"),
        "{killed}"
    );
}

#[test]
fn app_paths_are_normalised_for_labels() {
    assert_eq!(app_label(""), ".");
    assert_eq!(app_label("./"), ".");
    assert_eq!(app_label("/overlays//prod/"), "overlays/prod");
}

#[test]
fn tools_from_env_default_to_path() {
    // Only the shape: the test process's environment is not ours to change.
    let tools = Tools::default();
    assert_eq!(tools.kustomize, None);
    assert_eq!(tools.helm, None);
}

#[test]
fn tools_read_what_their_render_reaches_and_directories_their_selection() {
    let directory = Selection::at("apps/web");
    let file = |path: &str, data: &str| SourceFile {
        path: path.into(),
        data: data.as_bytes().to_vec(),
    };
    let commit = |sha: &str| crate::source::CommitInfo {
        sha: sha.into(),
        message: String::new(),
        author: String::new(),
        time: 0,
    };
    let mut reads = Vec::new();
    let read = |selection: Selection, pinned: Option<String>| {
        reads.push((selection.include.clone(), pinned));
        std::future::ready(Ok::<_, std::convert::Infallible>(Snapshot {
            commit: Some(commit("c1")),
            files: vec![
                file("apps/web/kustomization.yaml", "resources: [../base]\n"),
                file("apps/base/kustomization.yaml", "resources: [cm.yaml]\n"),
                file("apps/other/kustomization.yaml", "resources: [x.yaml]\n"),
            ],
            ..Snapshot::default()
        }))
    };
    let mut options = RenderOptions {
        kind: SourceKind::Kustomize,
        ..RenderOptions::default()
    };
    futures::executor::block_on(read_source(
        "apps/web",
        directory.clone(),
        &mut options,
        read,
    ))
    .unwrap();
    let markers: Vec<String> = [
        "kustomization.yaml",
        "kustomization.yml",
        "Kustomization",
        "Chart.yaml",
    ]
    .iter()
    .map(|m| format!("**/{m}"))
    .collect();
    assert_eq!(
        reads,
        vec![
            (markers, None),
            (
                vec!["apps/base/**".to_owned(), "apps/web/**".to_owned()],
                Some("c1".to_owned())
            ),
        ],
        "the markers first, then what the overlay reaches, from the same commit"
    );
    let mut reads = Vec::new();
    let read = |selection: Selection, pinned: Option<String>| {
        reads.push((selection, pinned));
        std::future::ready(Ok::<_, std::convert::Infallible>(Snapshot::default()))
    };
    let mut options = RenderOptions {
        kind: SourceKind::Directory,
        ..RenderOptions::default()
    };
    futures::executor::block_on(read_source(
        "apps/web",
        directory.clone(),
        &mut options,
        read,
    ))
    .unwrap();
    assert_eq!(reads, vec![(directory, None)]);
    let markers = marker_selection("apps/web");
    assert_eq!(markers.path, "apps/web");
    assert_eq!(
        markers.include,
        [
            "kustomization.yaml",
            "kustomization.yml",
            "Kustomization",
            "Chart.yaml",
            "**/kustomization.yaml",
            "**/kustomization.yml",
            "**/Kustomization"
        ]
    );
}

#[test]
fn a_remote_chart_is_keyed_by_its_values_files_only() {
    let file = |path: &str, data: &str| SourceFile {
        path: path.into(),
        data: data.as_bytes().to_vec(),
    };
    let tree = vec![
        file("envs/prod.yaml", "replicas: 2\n"),
        file("README.md", "x\n"),
    ];
    let mut options = RenderOptions {
        kind: SourceKind::Helm,
        ..RenderOptions::default()
    };
    options.helm.value_files = vec!["./envs/prod.yaml".into()];
    let request = |files, options| RenderRequest {
        files,
        app_path: "",
        namespace: "default",
        options,
        secret_values: None,
    };
    // A chart in git: every file counts, it may read any of them.
    assert_eq!(keyed_files(&request(&tree, &options), Tool::Helm).len(), 2);
    let mut remote = options.clone();
    remote.helm.remote = Some(RemoteChart::new("https://c.test", Some("shop"), "1.0.0").unwrap());
    let keyed = keyed_files(&request(&tree, &remote), Tool::Helm);
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed[0].path, "envs/prod.yaml");
}

#[test]
fn a_remote_chart_makes_an_auto_app_helm_without_reading_markers() {
    let mut options = RenderOptions::default();
    options.helm.remote =
        Some(RemoteChart::new("oci://r.test/charts/shop", None, "1.0.0").unwrap());
    let mut reads = Vec::new();
    let read = |selection: Selection, pinned: Option<String>| {
        reads.push((selection.include.clone(), pinned));
        std::future::ready(Ok::<_, std::convert::Infallible>(Snapshot::default()))
    };
    futures::executor::block_on(read_source(
        "envs",
        Selection::at("envs"),
        &mut options,
        read,
    ))
    .unwrap();
    assert_eq!(options.kind, SourceKind::Helm);
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(
        reads[0].0[0].starts_with("**/"),
        "no marker at the path is read first"
    );
    assert_eq!(reads[1], (vec!["envs/**".to_owned()], None));
}

#[test]
fn kubernetes_versions_are_checked_as_helm_takes_them() {
    for good in ["v1.29.0", "1.29.0", "v1.29", KUBE_VERSION] {
        assert_eq!(check_kube_version(good), Ok(()), "{good}");
    }
    for bad in ["1", "v1.29.x", "latest", "v1..2", "1.29.0.1", ""] {
        let err = check_kube_version(bad).unwrap_err();
        assert!(err.contains("like v1.29.0"), "{bad}: {err}");
    }
}
