//! `ordo plan` as a user runs it: the real binary on directories and real git repositories,
//! its output, and its exit codes (0 planned, 2 bad input).

#[allow(dead_code)] // shared by every test binary; this one needs only some of it
mod common;
use common::copy_dir;
#[path = "chart/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::{Command, Output};

fn ordo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .output()
        .expect("ordo runs")
}

/// `ordo` with the render tools built by `scripts/cluster.sh build`.
fn ordo_with_tools(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .env("ORDO_KUSTOMIZE", support::k8s_bin("kustomize"))
        .env("ORDO_HELM", support::k8s_bin("helm"))
        .envs(env.iter().copied())
        .output()
        .expect("ordo runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn travel_app_plan_lists_tiers_in_order_with_reasons() {
    let out = ordo(&["plan", "examples/travel-app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let positions: Vec<usize> = [
        "\nconfig (",
        "\ndatabase (",
        "\nbackend (",
        "\nfrontend (",
        "\nmonitoring (",
    ]
    .iter()
    .map(|h| {
        stdout
            .find(h)
            .unwrap_or_else(|| panic!("{h} missing in\n{stdout}"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    assert!(
        stdout.contains(
            "-> StatefulSet/postgres: ConfigMap/backend-config key DB_HOST names Service/postgres"
        ),
        "{stdout}"
    );
}

#[test]
fn json_output_is_stable_and_ordered() {
    let out = ordo(&["plan", "examples/travel-app", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["kind"], "Plan");
    assert_eq!(doc["apiVersion"], "ordo.dev/v1alpha1");
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        doc["summary"]["objects"].as_u64().unwrap() as usize
    );
    let rank = |t: &str| {
        ["config", "database", "backend", "frontend", "monitoring"]
            .iter()
            .position(|x| *x == t)
            .unwrap()
    };
    let tiers: Vec<usize> = steps
        .iter()
        .map(|s| rank(s["tier"].as_str().unwrap()))
        .collect();
    assert!(tiers.windows(2).all(|w| w[0] <= w[1]), "{tiers:?}");
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step["step"], i + 1);
        for key in [
            "id",
            "apiVersion",
            "kind",
            "name",
            "tierReason",
            "file",
            "document",
            "dependsOn",
        ] {
            assert!(step.get(key).is_some(), "step {i} lacks {key}");
        }
    }
    let backend = steps
        .iter()
        .find(|s| s["id"] == "Deployment/travel/backend")
        .unwrap();
    assert!(
        backend["configHash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert!(
        backend["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "StatefulSet/travel/postgres" && d["rule"] == "names-service")
    );
}

#[test]
fn bad_input_exits_2_naming_the_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\napiVersion: v1\nmetadata: {name: c}\n").unwrap();
    let out = ordo(&["plan", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.yaml document 1") && stderr.contains("missing `kind`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no partial plan is printed");
}

#[test]
fn oversized_files_and_escaping_symlinks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata: {{x: \"{}\"}}\n",
        "a".repeat(5 * 1024 * 1024 + 1)
    );
    std::fs::write(dir.path().join("big.yaml"), big).unwrap();
    let out = ordo(&["plan", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("big.yaml"),
        "{}",
        text(&out.stderr)
    );

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n",
    )
    .unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        repo.path().join("link.yaml"),
    )
    .unwrap();
    let out = ordo(&["plan", repo.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("link.yaml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plans_a_git_revision_by_ref_and_path() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    copy_dir(
        Path::new("examples/travel-app"),
        &repo.path().join("deploy/travel"),
    );
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "Travel app v1"]);
    git(repo.path(), &["tag", "v1"]);
    std::fs::remove_file(repo.path().join("deploy/travel/monitoring/grafana.yaml")).unwrap();
    git(repo.path(), &["commit", "-q", "-am", "Drop grafana"]);
    let url = format!("file://{}", repo.path().display());
    let cache_arg = cache.path().to_str().unwrap();

    let head = ordo(&[
        "plan",
        &url,
        "--ref",
        "main",
        "--path",
        "deploy/travel",
        "--cache-dir",
        cache_arg,
    ]);
    assert!(head.status.success(), "{}", text(&head.stderr));
    let head_out = text(&head.stdout);
    assert!(
        head_out.contains("(Drop grafana)") && !head_out.contains("Deployment/grafana"),
        "{head_out}"
    );

    let tagged = ordo(&[
        "plan",
        &url,
        "--ref",
        "v1",
        "--path",
        "deploy/travel",
        "--cache-dir",
        cache_arg,
        "-o",
        "json",
    ]);
    assert!(tagged.status.success(), "{}", text(&tagged.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&tagged.stdout).unwrap();
    assert_eq!(
        doc["source"]["revision"]["message"].as_str().map(str::trim),
        Some("Travel app v1")
    );
    assert!(
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "Deployment/travel/grafana")
    );

    for (args, want) in [
        (vec!["--ref", "nope"], "nope"),
        (
            vec!["--ref", "main", "--path", "apps/missing"],
            "apps/missing",
        ),
    ] {
        let mut all = vec!["plan", url.as_str(), "--cache-dir", cache_arg];
        all.extend(args);
        let out = ordo(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
}

#[test]
fn diff_and_sync_with_a_config_name_the_app_or_list_the_choices() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ordo.yaml");
    let config = config.to_str().unwrap();
    for command in ["diff", "sync"] {
        let out = ordo(&[command, "--config", config]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("--config needs --app") && err.contains("apps: travel"),
            "{err}"
        );

        let out = ordo(&[command, "--config", config, "--app", "nope"]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains("no app \"nope\"") && err.contains("apps: travel"),
            "{err}"
        );
    }
    let out = ordo(&["sync"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a source or --config is required"
    );
}

#[test]
fn a_password_in_the_url_is_refused_without_being_shown() {
    // Nothing listens there: the refusal must come before any network use.
    let out = ordo(&["plan", "https://bot:s3cret@127.0.0.1:9/team/deploy.git"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--password-file"), "{stderr}");
    assert!(
        stderr.contains("https://127.0.0.1:9/team/deploy.git"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

/// A repository whose `deep/` directory nests `depth` levels, a manifest at the bottom, and a
/// manifest at the root; built object by object (the git CLI cannot check out such a tree).
fn deeply_nested_repository(dir: &Path, depth: usize) {
    let repo = git2::Repository::init(dir).unwrap();
    let blob = |text: &str| repo.blob(text.as_bytes()).unwrap();
    let tree_of = |name: &str, id: git2::Oid, mode: i32| {
        let mut tree = repo.treebuilder(None).unwrap();
        tree.insert(name, id, mode).unwrap();
        tree.write().unwrap()
    };
    let bottom = blob("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bottom}\n");
    let mut nested = tree_of("cm.yaml", bottom, 0o100644);
    for _ in 0..depth {
        nested = tree_of("d", nested, 0o040000);
    }
    let mut root = repo.treebuilder(None).unwrap();
    root.insert("deep", nested, 0o040000).unwrap();
    let top = blob("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\n");
    root.insert("top.yaml", top, 0o100644).unwrap();
    let root = repo.find_tree(root.write().unwrap()).unwrap();
    let who = git2::Signature::now("Test", "test@example.org").unwrap();
    repo.commit(Some("refs/heads/main"), &who, &who, "deep", &root, &[])
        .unwrap();
}

#[test]
fn a_tree_nested_forty_thousand_deep_is_refused_with_a_clear_error_not_a_crash() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    deeply_nested_repository(repo.path(), 40_000);
    let url = format!("file://{}", repo.path().display());
    let out = ordo(&[
        "plan",
        &url,
        "--ref",
        "main",
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nested deeper than") && stderr.contains("deep/d/d/"),
        "{stderr}"
    );

    // Nesting within the bound is read as usual.
    let shallow = tempfile::tempdir().unwrap();
    deeply_nested_repository(shallow.path(), 100);
    let url = format!("file://{}", shallow.path().display());
    let cache_arg = cache.path().to_str().unwrap();
    let out = ordo(&["plan", &url, "--ref", "main", "--cache-dir", cache_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ConfigMap/bottom") && stdout.contains("ConfigMap/top"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_fetch_bound_is_refused_at_start_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["plan", "examples/travel-app"])
        .env("ORDO_GIT_MAX_FETCH_BYTES", "lots")
        .output()
        .expect("ordo runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ORDO_GIT_MAX_FETCH_BYTES=\"lots\""),
        "{}",
        text(&out.stderr)
    );
}

/// In a monorepo, a Kustomize or Helm app reads only what its render reaches: a file past the
/// read limits in another app's directory is never read, so it breaks neither (issue #23).
#[test]
fn a_big_file_in_another_apps_directory_breaks_no_kustomize_or_helm_app() {
    let repo = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = repo.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("apps/web/base/kustomization.yaml", "resources: [cm.yaml]\n");
    write(
        "apps/web/base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: v}\n",
    );
    write("apps/web/prod/kustomization.yaml", "resources: [../base]\n");
    write(
        "apps/chart/Chart.yaml",
        "apiVersion: v2\nname: chart\nversion: 1.0.0\n",
    );
    write(
        "apps/chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: chart}\ndata: {k: v}\n",
    );
    let big = format!("data: \"{}\"\n", "a".repeat(6 * 1024 * 1024));
    write("apps/other/big.yaml", &big);
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "monorepo"]);
    let url = format!("file://{}", repo.path().display());
    for (path, object) in [
        ("apps/web/prod", "ConfigMap/web"),
        ("apps/chart", "ConfigMap/chart"),
    ] {
        let out = ordo_with_tools(
            &[
                "plan",
                &url,
                "--path",
                path,
                "--namespace",
                "shop",
                "--cache-dir",
                cache.path().to_str().unwrap(),
            ],
            &[],
        );
        assert!(out.status.success(), "{path}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(object), "{}", text(&out.stdout));
    }
    // The big file still counts for an app that reads it.
    let out = ordo(&[
        "plan",
        &url,
        "--path",
        "apps/other",
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("big.yaml"),
        "{}",
        text(&out.stderr)
    );
}

/// Renders live in the temporary directory, in a pod an emptyDir whose overflow evicts the
/// agent: a render that needs more than the scratch space given is refused before anything is
/// written, saying how much it needs and what to change; a bad size stops ordo at start.
#[test]
fn a_render_larger_than_the_scratch_space_is_refused_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let mut resources = Vec::new();
    for i in 0..6 {
        let name = format!("cm{i}.yaml");
        let data = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{x: \"{}\"}}\n",
            "a".repeat(4 * 1024 * 1024)
        );
        std::fs::write(app.join(&name), data).unwrap();
        resources.push(name);
    }
    std::fs::write(
        app.join("kustomization.yaml"),
        format!("resources: [{}]\n", resources.join(", ")),
    )
    .unwrap();
    let plan = |scratch: &str| {
        ordo_with_tools(
            &["plan", app.to_str().unwrap()],
            &[("ORDO_RENDER_SCRATCH", scratch)],
        )
    };
    let out = plan("32Mi");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("of scratch space, more than the 24 MiB there is"),
        "{err}"
    );
    assert!(err.contains("ORDO_RENDER_SCRATCH"), "{err}");
    let out = plan("lots");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ORDO_RENDER_SCRATCH=\"lots\""),
        "{}",
        text(&out.stderr)
    );
}

/// `ordo plan` renders a chart for ordo's Kubernetes version, or `--kube-version`'s.
#[test]
fn plan_renders_a_chart_for_the_kubernetes_version_asked() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("legacy");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: legacy\nversion: 1.0.0\nkubeVersion: \"<1.20.0\"\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy}\ndata: {k: v}\n",
    )
    .unwrap();
    let path = chart.to_str().unwrap();
    let out = ordo_with_tools(&["plan", path, "--namespace", "shop"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("v1.34.0"),
        "{}",
        text(&out.stderr)
    );
    let out = ordo_with_tools(
        &[
            "plan",
            path,
            "--namespace",
            "shop",
            "--kube-version",
            "v1.19.0",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ConfigMap/legacy"),
        "{}",
        text(&out.stdout)
    );
    let out = ordo_with_tools(&["plan", path, "--kube-version", "latest"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("like v1.29.0"),
        "{}",
        text(&out.stderr)
    );
}

/// A Flux fleet's cluster directory: plain manifests next to a nested `flux-system/` with its
/// own kustomization, and no kustomization at the path. Flux's kustomize-controller generates
/// one (every YAML file, every directory holding a kustomization) and builds it with
/// Kustomize; `ordo plan` reads it the same way instead of taking the nested
/// kustomization.yaml for an object ("missing metadata.name").
#[test]
fn a_flux_cluster_directory_is_built_as_flux_builds_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "clusters/prod/apps.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apps}\ndata: {k: v}\n",
    );
    // The nested kustomization's own transformation shows it was built by kustomize.
    write(
        "clusters/prod/flux-system/kustomization.yaml",
        "resources: [gotk-sync.yaml]\nnamePrefix: flux-\nnamespace: flux-system\n",
    );
    write(
        "clusters/prod/flux-system/gotk-sync.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sync}\ndata: {k: v}\n",
    );
    // A kustomization elsewhere in the tree, and a file that is no manifest, stay out.
    write(
        "infrastructure/kustomization.yaml",
        "resources: [nothing.yaml]\n",
    );
    write("clusters/prod/README.md", "# prod\n");
    let root = dir.path().to_str().unwrap();
    let out = ordo_with_tools(
        &[
            "plan",
            root,
            "--path",
            "clusters/prod",
            "-n",
            "shop",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&"ConfigMap/shop/apps"), "{ids:?}");
    assert!(ids.contains(&"ConfigMap/flux-system/flux-sync"), "{ids:?}");
    assert_eq!(ids.len(), 2, "{ids:?}");
}

/// Flux's post-build variables (`postBuild.substitute`, which `ordo import` fills in from a
/// Flux Kustomization) are substituted in the rendered YAML before it is read (so
/// `replicas: ${REPLICAS}` is read as a number, as in Flux); a variable with no value and no
/// default stops the plan naming the file, the line and the variable.
#[test]
fn post_build_variables_are_substituted_as_flux_does() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: \"web-${cluster_env:=staging}\"}\nspec:\n  replicas: ${REPLICAS}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: \"web:${tag:=1.0}\"}]}\n";
    std::fs::write(repo.join("app/web.yaml"), manifest).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "web"]);
    let config = dir.path().join("ordo.yaml");
    let write_config = |vars: &str| {
        std::fs::write(
            &config,
            format!(
                "cacheDir: {}\napps:\n  - name: web\n    repo: {}\n    ref: main\n    path: app\n    namespace: shop\n    postBuild: {{substitute: {{{vars}}}}}\n",
                dir.path().join("cache").display(),
                repo.display()
            ),
        )
        .unwrap();
    };
    let config_arg = config.to_str().unwrap();
    let planned = |vars: &str| {
        write_config(vars);
        let out = ordo(&["plan", "--config", config_arg, "--app", "web", "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["steps"][0]["id"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        planned("REPLICAS: \"3\""),
        "Deployment/shop/web-staging",
        "the default"
    );
    assert_eq!(
        planned("REPLICAS: \"3\", cluster_env: prod"),
        "Deployment/shop/web-prod"
    );
    write_config("OTHER: x");
    let out = ordo(&["plan", "--config", config_arg, "--app", "web"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("app/web.yaml: line 5: variable REPLICAS has no value and no default"),
        "{stderr}"
    );
}
