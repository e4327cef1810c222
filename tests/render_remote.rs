//! Helm charts from outside git, rendered with the real helm: from a chart repository behind
//! basic auth over HTTPS (nginx), from an OCI registry over HTTPS (distribution's
//! `registry`), and a pulled chart whose dependency `helm dependency build` fetches from the
//! same repository. Then what fails and how it is said (a wrong password, a version that does
//! not exist), what is refused before anything is sent (credentials over plain HTTP, a
//! dependency from a repository the app's config does not name), the cache that spares a
//! second pull, and `ordo plan --helm-repo`.
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
#[path = "render_remote/tls.rs"]
mod tls;

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
use tls::TestTls;

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

/// A chart repository over HTTPS with `shop` behind basic auth and `cache` open to anyone.
fn chart_repository(packages: &Packages, tls: &TestTls) -> ChartRepository {
    let repo = ChartRepository::start_https(USER, PASSWORD, tls);
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

/// Options for `shop` from the private area, logging in with the password in `password`,
/// trusting `tls`'s CA.
fn private_shop(
    repo: &ChartRepository,
    version: &str,
    password: &Path,
    tls: &TestTls,
) -> RenderOptions {
    let mut remote = RemoteChart::new(&repo.url("private"), Some("shop"), version).unwrap();
    remote.username = Some(USER.into());
    remote.password_file = Some(password.to_path_buf());
    remote.ca_file = Some(tls.ca.clone());
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
    let tls = TestTls::issue();
    let repo = chart_repository(&packages, &tls);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let options = private_shop(&repo, VERSION, &password, &tls);
    let rendered = render(&renderer(), &values_tree(), "", &options).unwrap();
    assert_rendered_shop(&rendered);
}

#[test]
fn a_wrong_password_is_refused_clearly_and_never_shown() {
    let packages = Packages::build();
    let tls = TestTls::issue();
    let repo = chart_repository(&packages, &tls);
    let wrong = "wrong-pw-5521";
    let password = secret_file(packages.dir.path(), "password", wrong);
    let options = private_shop(&repo, VERSION, &password, &tls);
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
    let tls = TestTls::issue();
    let repo = chart_repository(&packages, &tls);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let options = private_shop(&repo, "9.9.9", &password, &tls);
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
    let tls = TestTls::issue();
    let registry = OciRegistry::start(USER, PASSWORD_BCRYPT, &tls);
    registry.push(&packages.shop, &packages.helm_home(), USER, PASSWORD);
    let oci = |password: &str| {
        let mut remote =
            RemoteChart::new(&format!("{}/shop", registry.url()), None, VERSION).unwrap();
        remote.ca_file = Some(tls.ca.clone());
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

/// A chart whose `Chart.yaml` depends on `cache` 0.1.0 from `repository`, not vendored.
fn chart_yaml_depending_on_cache(name: &str, repository: &str) -> String {
    format!(
        "apiVersion: v2\nname: {name}\nversion: 1.0.0\ndependencies:\n  - name: cache\n    \
         version: 0.1.0\n    repository: {repository}\n"
    )
}

const CONFIG_TEMPLATE: &[u8] =
    b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n";

#[test]
fn a_git_charts_dependency_from_a_repository_is_refused_before_helm_runs() {
    // Before issue #23, `helm dependency build` fetched whatever Chart.yaml named.
    let packages = Packages::build();
    let repo = ChartRepository::start(USER, PASSWORD);
    repo.publish(
        "open",
        std::slice::from_ref(&packages.cache),
        &packages.helm_home(),
    );
    let files = vec![
        SourceFile {
            path: "apps/web/Chart.yaml".into(),
            data: chart_yaml_depending_on_cache("web", &repo.url("open")).into_bytes(),
        },
        SourceFile {
            path: "apps/web/templates/config.yaml".into(),
            data: CONFIG_TEMPLATE.to_vec(),
        },
    ];
    let options = RenderOptions {
        kind: SourceKind::Helm,
        ..RenderOptions::default()
    };
    let err = render(&renderer(), &files, "apps/web", &options).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RenderError::Input { .. }), "{err:?}");
    for want in [
        "apps/web/Chart.yaml: dependency cache comes from",
        &repo.url("open"),
        "helm dependency update",
        "charts/",
    ] {
        assert!(message.contains(want), "{want:?} missing: {message}");
    }
    assert_eq!(
        repo.requests(),
        Vec::<String>::new(),
        "helm reached the repository"
    );
}

#[test]
fn a_pulled_charts_dependency_from_the_apps_own_repository_is_fetched() {
    let packages = Packages::build();
    let repo = ChartRepository::start(USER, PASSWORD);
    // `web` as a chart repository serves it: packaged with its dependency not vendored
    // (helm package would insist on it, so tar makes the package).
    let src = packages.dir.path().join("web-src/web");
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        chart_yaml_depending_on_cache("web", &repo.url("open")),
    )
    .unwrap();
    std::fs::write(src.join("templates/config.yaml"), CONFIG_TEMPLATE).unwrap();
    let web = packages.dir.path().join("web-1.0.0.tgz");
    run_ok(
        Command::new("tar")
            .arg("-czf")
            .arg(&web)
            .arg("-C")
            .arg(src.parent().unwrap())
            .arg("web"),
    );
    repo.publish(
        "open",
        &[packages.cache.clone(), web],
        &packages.helm_home(),
    );
    let remote = RemoteChart::new(&repo.url("open"), Some("web"), "1.0.0").unwrap();
    let options = RenderOptions {
        kind: SourceKind::Helm,
        helm: HelmOptions {
            release_name: "web".into(),
            remote: Some(remote),
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    };
    let rendered = render(&renderer(), &[], "", &options).unwrap();
    let objects = manifest::load(&rendered, "shop").unwrap();
    find(&objects, "ConfigMap", "web-config");
    find(&objects, "Deployment", "web-cache");
    find(&objects, "Service", "web-cache");
}

#[test]
fn credentials_are_never_sent_to_a_plain_http_chart_repository() {
    let packages = Packages::build();
    let repo = ChartRepository::start(USER, PASSWORD);
    repo.publish(
        "private",
        std::slice::from_ref(&packages.shop),
        &packages.helm_home(),
    );
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let mut remote = RemoteChart::new(&repo.url("private"), Some("shop"), VERSION).unwrap();
    remote.username = Some(USER.into());
    remote.password_file = Some(password);
    let err = render(&renderer(), &values_tree(), "", &helm_options(remote)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RenderError::Input { .. }), "{err:?}");
    for want in [
        format!("chart repository {} is plain http://", repo.url("private")),
        "https://".to_owned(),
    ] {
        assert!(message.contains(&want), "{want:?} missing: {message}");
    }
    assert!(!message.contains(PASSWORD), "{message}");
    assert_eq!(
        repo.requests(),
        Vec::<String>::new(),
        "the password went out"
    );
}

#[test]
fn the_same_chart_and_version_renders_from_the_cache_without_a_pull() {
    let packages = Packages::build();
    let tls = TestTls::issue();
    let repo = chart_repository(&packages, &tls);
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let options = private_shop(&repo, VERSION, &password, &tls);
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
    let repo = ChartRepository::start(USER, PASSWORD);
    for area in ["open", "private"] {
        repo.publish(
            area,
            std::slice::from_ref(&packages.shop),
            &packages.helm_home(),
        );
    }
    let password = secret_file(packages.dir.path(), "password", PASSWORD);
    let plan = |area: &str, login: bool| {
        let url = repo.url(area);
        let mut command = Command::new(env!("CARGO_BIN_EXE_ordo"));
        command.args([
            "plan",
            "--helm-repo",
            &url,
            "--chart",
            "shop",
            "--chart-version",
            VERSION,
            "--namespace",
            "shop",
        ]);
        if login {
            command
                .args(["--helm-username", USER, "--helm-password-file"])
                .arg(&password);
        }
        command
            .env("ORDO_HELM", k8s_bin("helm"))
            .output()
            .expect("ordo runs")
    };
    let out = plan("open", false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for want in [
        "Deployment/shop-web",
        "ConfigMap/shop-config",
        "/open/index.yaml",
    ] {
        assert!(stdout.contains(want), "{want} missing:\n{stdout}");
    }

    // A password for a plain-HTTP repository: refused, nothing sent.
    let requests = repo.requests().len();
    let out = plan("private", true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is plain http://"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(repo.requests().len(), requests, "the password went out");
    let url = repo.url("private");

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
