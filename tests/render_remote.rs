//! Helm charts from outside git, rendered with the real helm: from a chart repository behind
//! basic auth (nginx), from an OCI registry (distribution's `registry`), and a chart in git
//! whose dependency is fetched by `helm dependency build`. Then what fails and how it is said
//! (a wrong password, a version that does not exist), the cache that spares a second pull, and
//! `ordo plan --helm-repo`.
//!
//! helm and registry come from the cache scripts/cluster.sh builds them into; each test starts
//! its own servers. No cluster.

#[allow(dead_code)]
mod common;
#[allow(dead_code)] // shared with tests/source_git.rs; this one needs only its helpers
#[path = "source_git/http_server.rs"]
mod http_server;
#[allow(dead_code)]
mod render_support;
#[path = "render_remote/servers.rs"]
mod servers;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ordo::manifest;
use ordo::render::{
    HelmOptions, RemoteChart, RenderError, RenderOptions, Renderer, SourceKind, Tools,
};
use ordo::source::SourceFile;

use common::copy_dir;
use render_support::{find, render};
use servers::{ChartRepository, OciRegistry, helm, run_ok};
use support::k8s_bin;

const USER: &str = "ci";
const PASSWORD: &str = "pull-s3cret-7781";
/// [`PASSWORD`] hashed with bcrypt (cost 4, so the registry checks it fast), for the
/// registry's htpasswd file.
const PASSWORD_BCRYPT: &str = "$2b$04$9tVjOhHSlAuzHBxoXP.wVuklgxt/kRGVJvgv6TPGV09pTfzxh5XcO";
/// The version the fixture chart is published under (the fixture itself says 0.1.0).
const VERSION: &str = "0.2.0";

fn fixture_chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render/charts/shop")
}

/// A scratch dir with a helm home and the packaged charts: `shop` at [`VERSION`] (the
/// fixture, with its vendored `cache`) and `cache` 0.1.0 on its own.
struct Packages {
    dir: tempfile::TempDir,
    shop: PathBuf,
    cache: PathBuf,
}

impl Packages {
    fn build() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src/shop");
        copy_dir(&fixture_chart(), &src);
        let chart_yaml = std::fs::read_to_string(src.join("Chart.yaml")).unwrap();
        let bumped = chart_yaml.replace("\nversion: 0.1.0\n", &format!("\nversion: {VERSION}\n"));
        assert_ne!(bumped, chart_yaml, "the fixture's version line moved");
        std::fs::write(src.join("Chart.yaml"), bumped).unwrap();
        let out = dir.path().join("packages");
        let home = dir.path().join("helm");
        for chart in [src.clone(), src.join("charts/cache")] {
            run_ok(helm(&home).arg("package").arg(&chart).arg("-d").arg(&out));
        }
        Packages {
            shop: out.join(format!("shop-{VERSION}.tgz")),
            cache: out.join("cache-0.1.0.tgz"),
            dir,
        }
    }

    fn helm_home(&self) -> PathBuf {
        self.dir.path().join("helm")
    }
}

/// A chart repository with `shop` behind basic auth and `cache` open to anyone.
fn chart_repository(packages: &Packages) -> ChartRepository {
    let repo = ChartRepository::start(USER, PASSWORD);
    repo.publish(
        "private",
        std::slice::from_ref(&packages.shop),
        &packages.helm_home(),
    );
    repo.publish(
        "open",
        std::slice::from_ref(&packages.cache),
        &packages.helm_home(),
    );
    repo
}

fn renderer() -> Renderer {
    Renderer::new(Tools {
        kustomize: None,
        helm: Some(k8s_bin("helm")),
    })
}

/// A file holding `secret`, as an operator would mount it.
fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

/// Options for `shop` from the private area, logging in with the password in `password`.
fn private_shop(repo: &ChartRepository, version: &str, password: &Path) -> RenderOptions {
    let mut remote = RemoteChart::new(&repo.url("private"), Some("shop"), version).unwrap();
    remote.username = Some(USER.into());
    remote.password_file = Some(password.to_path_buf());
    helm_options(remote)
}

fn helm_options(remote: RemoteChart) -> RenderOptions {
    RenderOptions {
        kind: SourceKind::Helm,
        helm: HelmOptions {
            release_name: "shop".into(),
            value_files: vec!["envs/prod.yaml".into()],
            values: Some(serde_json::json!({"greeting": "from-inline"})),
            remote: Some(remote),
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    }
}

/// The repository of a remote-chart app: values files only.
fn values_tree() -> Vec<SourceFile> {
    vec![SourceFile {
        path: "envs/prod.yaml".into(),
        data: b"replicas: 3\ncache:\n  enabled: true\n".to_vec(),
    }]
}

/// The shop chart as rendered with the values of [`values_tree`] and [`helm_options`].
fn assert_rendered_shop(files: &[SourceFile]) {
    let objects = manifest::load(files, "shop").unwrap();
    let web = find(&objects, "Deployment", "shop-web");
    assert_eq!(web.manifest["spec"]["replicas"], 3, "values file applied");
    let config = find(&objects, "ConfigMap", "shop-config");
    assert_eq!(config.manifest["data"]["GREETING"], "from-inline");
    find(&objects, "Deployment", "shop-cache");
    assert!(
        files
            .iter()
            .any(|f| f.path == "shop/templates/deployment.yaml (helm)"),
        "provenance: {:?}",
        files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );
}

#[test]
fn a_chart_from_a_repository_with_basic_auth_renders_with_the_apps_values() {
    let packages = Packages::build();
    let repo = chart_repository(&packages);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let options = private_shop(&repo, VERSION, &password);
    let rendered = render(&renderer(), &values_tree(), "", &options).unwrap();
    assert_rendered_shop(&rendered);
}

#[test]
fn a_wrong_password_is_refused_clearly_and_never_shown() {
    let packages = Packages::build();
    let repo = chart_repository(&packages);
    let wrong = "wrong-pw-5521";
    let password = secret_file(packages.dir.path(), "password", wrong);
    let options = private_shop(&repo, VERSION, &password);
    let err = render(&renderer(), &values_tree(), "", &options).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RenderError::Fetch { .. }), "{err:?}");
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(message.contains(&format!("shop {VERSION}")), "{message}");
    assert!(!message.contains(wrong), "{message}");
    assert!(!format!("{err:?}").contains(wrong), "{err:?}");
}

#[test]
fn a_version_the_repository_lacks_is_named_with_the_chart() {
    let packages = Packages::build();
    let repo = chart_repository(&packages);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let options = private_shop(&repo, "9.9.9", &password);
    let message = render(&renderer(), &values_tree(), "", &options)
        .unwrap_err()
        .to_string();
    let want = format!(
        "chart shop 9.9.9 not found in {}/index.yaml",
        repo.url("private")
    );
    assert!(message.contains(&want), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
}

#[test]
fn a_chart_from_an_oci_registry_with_basic_auth_renders() {
    let packages = Packages::build();
    let registry = OciRegistry::start(USER, PASSWORD_BCRYPT);
    registry.push(&packages.shop, &packages.helm_home(), USER, PASSWORD);
    let oci = |password: &str| {
        let mut remote =
            RemoteChart::new(&format!("{}/shop", registry.url()), None, VERSION).unwrap();
        remote.plain_http = true;
        remote.username = Some(USER.into());
        remote.password_file = Some(secret_file(packages.dir.path(), "password", password));
        helm_options(remote)
    };
    let rendered = render(&renderer(), &values_tree(), "", &oci(PASSWORD)).unwrap();
    assert_rendered_shop(&rendered);

    let wrong = "wrong-oci-pw-0917";
    let message = render(&renderer(), &values_tree(), "", &oci(wrong))
        .unwrap_err()
        .to_string();
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(
        message.contains(&format!("{}/shop", registry.url())),
        "{message}"
    );
    assert!(!message.contains(wrong), "{message}");
}

#[test]
fn a_git_chart_with_a_dependency_not_vendored_gets_it_from_its_repository() {
    let packages = Packages::build();
    let repo = chart_repository(&packages);
    let chart_yaml = format!(
        "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n  - name: cache\n    \
         version: 0.1.0\n    repository: {}\n",
        repo.url("open")
    );
    let files = vec![
        SourceFile {
            path: "apps/web/Chart.yaml".into(),
            data: chart_yaml.into_bytes(),
        },
        SourceFile {
            path: "apps/web/templates/config.yaml".into(),
            data:
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
                    .to_vec(),
        },
    ];
    let options = RenderOptions {
        kind: SourceKind::Helm,
        ..RenderOptions::default()
    };
    let rendered = render(&renderer(), &files, "apps/web", &options).unwrap();
    let objects = manifest::load(&rendered, "shop").unwrap();
    find(&objects, "ConfigMap", "web-config");
    find(&objects, "Deployment", "web-cache");
    find(&objects, "Service", "web-cache");
}

#[test]
fn the_same_chart_and_version_renders_from_the_cache_without_a_pull() {
    let packages = Packages::build();
    let repo = chart_repository(&packages);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let options = private_shop(&repo, VERSION, &password);
    let renderer = renderer();
    let first = render(&renderer, &values_tree(), "", &options).unwrap();
    assert_eq!(renderer.cached(), 1);
    // With the repository gone, only the cache can answer; a new commit that leaves the
    // values files alone changes nothing either.
    drop(repo);
    let mut later_commit = values_tree();
    later_commit.push(SourceFile {
        path: "README.md".into(),
        data: b"docs changed\n".to_vec(),
    });
    let second = render(&renderer, &later_commit, "", &options).unwrap();
    assert_eq!(first, second);
    assert_eq!(renderer.cached(), 1);
}

#[test]
fn ordo_plan_renders_a_chart_from_a_repository() {
    let packages = Packages::build();
    let repo = chart_repository(&packages);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let url = repo.url("private");
    let args = [
        "plan",
        "--helm-repo",
        &url,
        "--chart",
        "shop",
        "--chart-version",
        VERSION,
        "--helm-username",
        USER,
        "--helm-password-file",
        password.to_str().unwrap(),
        "--namespace",
        "shop",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .env("ORDO_HELM", k8s_bin("helm"))
        .output()
        .expect("ordo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for want in [
        "Deployment/shop-web",
        "ConfigMap/shop-config",
        "/private/index.yaml",
    ] {
        assert!(stdout.contains(want), "{want} missing:\n{stdout}");
    }
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));

    let range = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args([
            "plan",
            "--helm-repo",
            &url,
            "--chart",
            "shop",
            "--chart-version",
            "^0.2",
        ])
        .output()
        .expect("ordo runs");
    assert_eq!(range.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&range.stderr);
    assert!(stderr.contains("not an exact version"), "{stderr}");
}
