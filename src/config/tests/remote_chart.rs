use super::*;
use crate::render::RepoKind;

#[test]
fn a_chart_from_a_repository_is_read_with_credentials_by_file() {
    let config = parse_ok(&app_with(
        "path: envs
helm:
  repoURL: https://charts.example.org/stable/
  chart: shop
  version: 1.4.2
  usernameFile: /etc/ordo/charts-user
  passwordFile: /etc/ordo/charts-password
  valueFiles: [envs/prod.yaml]",
    ));
    let app = &config.apps[0];
    // A chart from a repository is Helm whatever the path holds.
    assert_eq!(app.source, SourceKind::Helm);
    let remote = app.helm.remote.as_ref().expect("a remote chart");
    assert_eq!(remote.repo_url, "https://charts.example.org/stable");
    assert_eq!(
        (remote.chart.as_str(), remote.version.as_str()),
        ("shop", "1.4.2")
    );
    assert_eq!(remote.kind(), RepoKind::Http);
    assert_eq!(
        remote.password_file.as_deref(),
        Some(Path::new("/etc/ordo/charts-password"))
    );
    assert!(!remote.plain_http);
    assert_eq!(app.helm.value_files, ["envs/prod.yaml"]);
    assert_eq!(app.render_options().helm.remote.as_ref(), Some(remote));

    let config = parse_ok(&app_with(
        "helm: {repoURL: \"oci://127.0.0.1:5000/charts/shop\", version: 0.2.0, plainHTTP: true}",
    ));
    let remote = config.apps[0].helm.remote.clone().unwrap();
    assert_eq!(
        (remote.kind(), remote.chart.as_str()),
        (RepoKind::Oci, "shop")
    );
    assert!(remote.plain_http);
    assert_eq!(parse_ok(MINIMAL).apps[0].helm.remote, None);
}

#[test]
fn bad_remote_chart_fields_name_their_path() {
    let cases = [
        (
            "helm: {repoURL: https://c.test, chart: shop}",
            "apps[0].helm.repoURL",
            "needs version",
        ),
        (
            "helm: {repoURL: https://c.test, chart: shop, version: ^1.2.0}",
            "apps[0].helm.version",
            "not an exact version",
        ),
        (
            "helm: {repoURL: https://c.test, chart: shop, version: 1.2}",
            "apps[0].helm.version",
            "expected a string, found the number 1.2",
        ),
        (
            "helm: {repoURL: https://c.test, version: 1.2.0}",
            "apps[0].helm.repoURL",
            "say which with chart",
        ),
        (
            "helm: {repoURL: https://c.test, chart: ../x, version: 1.2.0}",
            "apps[0].helm.chart",
            "not a chart name",
        ),
        (
            "helm: {repoURL: git@c.test:x.git, chart: x, version: 1.2.0}",
            "apps[0].helm.repoURL",
            "starts with https://",
        ),
        (
            "helm: {repoURL: https://c.test, chart: x, version: 1.2.0, password: hunter2}",
            "apps[0].helm.password",
            "use passwordFile",
        ),
        (
            "helm: {repoURL: https://c.test, chart: x, version: 1.2.0, passwordFile: /p}",
            "apps[0].helm.passwordFile",
            "needs usernameFile too",
        ),
        (
            "helm: {repoURL: https://c.test, chart: x, version: 1.2.0, plainHTTP: true}",
            "apps[0].helm.plainHTTP",
            "only applies to an oci:// registry",
        ),
        // Credentials travel over TLS only (issue #23).
        (
            "helm: {repoURL: http://c.test, chart: x, version: 1.2.0, usernameFile: /u, passwordFile: /p}",
            "apps[0].helm.repoURL",
            "chart repository http://c.test is plain http://",
        ),
        (
            "helm: {repoURL: oci://c.test/x, version: 1.2.0, usernameFile: /u, passwordFile: /p, plainHTTP: true}",
            "apps[0].helm.repoURL",
            "serve the registry over TLS",
        ),
        (
            "helm: {chart: shop, version: 1.2.0}",
            "apps[0].helm.chart",
            "set repoURL too",
        ),
        (
            "source: kustomize\nhelm: {repoURL: https://c.test, chart: x, version: 1.0.0}",
            "apps[0].helm",
            "only read for a Helm app",
        ),
    ];
    for (extra, path, fragment) in cases {
        invalid(&app_with(extra), path, fragment);
    }
}

#[test]
fn helm_kube_version_is_read_and_checked() {
    let config = parse_ok(&app_with("helm: {kubeVersion: v1.29.0}"));
    assert_eq!(
        config.apps[0].render_options().helm.kube_version.as_deref(),
        Some("v1.29.0")
    );
    let err = parse(&app_with("helm: {kubeVersion: latest}"), "test.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("apps[0].helm.kubeVersion") && err.contains("like v1.29.0"),
        "{err}"
    );
}
