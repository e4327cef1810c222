//! `ordo import` as a user runs it: the real binary on Argo CD and Flux manifests under
//! tests/fixtures/import/, its config, its findings and its exit codes (0 written, 2 bad
//! input). Every config written is loaded with ordo's own config loader.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const FIXTURES: &str = "tests/fixtures/import";

fn ordo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .output()
        .expect("ordo runs")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `ordo import` on `inputs`, expects success, and returns (config, stderr) after
/// loading the config with ordo's loader.
fn import_ok(inputs: &[&str]) -> (String, String) {
    let mut args = vec!["import"];
    args.extend(inputs);
    let out = ordo(&args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let config = text(&out.stdout);
    if let Err(e) = ordo::config::parse(&config, "imported.yaml") {
        panic!("the imported config does not load: {e}\n{config}");
    }
    (config, stderr)
}

#[test]
fn argo_helm_application_becomes_a_helm_app() {
    let (config, stderr) = import_ok(&[&fixture("argo-helm.yaml")]);
    let apps = config.split_once("\napps:\n").expect("an apps list").1;
    assert_eq!(
        apps,
        "  # from Application argocd/shop
  - name: shop
    repo: https://git.example.org/team/deploy.git
    ref: main
    path: charts/shop
    namespace: shop
    prune: true
    allow:
      namespaces: [\"*\"]
      clusterKinds: [\"*\"]
    createNamespace: true
    selfHeal: true
    source: helm
    helm:
      releaseName: shop-prod
      valueFiles:
        - charts/shop/values-prod.yaml
        - charts/common/values.yaml
      values:
        replicas: 2
        image:
          tag: \"1.11\"
        ingress:
          enabled: true
        build: \"0042\"
"
    );
    // CreateNamespace=true is translated, not lost.
    assert!(!stderr.contains("CreateNamespace"), "{stderr}");
    assert!(stderr.contains(
        "note: Application argocd/shop: spec.source.helm.valueFiles: \"values-prod.yaml\" is \
         relative to the app path in Argo CD"
    ));
    assert!(stderr.contains("spec.source.helm.parameters[build]: forceString"));
}

#[test]
fn argo_kustomize_options_are_named_one_by_one() {
    let (config, stderr) = import_ok(&[&fixture("argo-kustomize.yaml")]);
    assert!(config.contains("    source: kustomize\n"), "{config}");
    assert!(
        !config.contains("ref:"),
        "HEAD follows the default branch: {config}"
    );
    for option in ["namePrefix", "images", "commonLabels"] {
        let line = format!(
            "not translated: Application argocd/guestbook: spec.source.kustomize.{option}: \
             not an ordo option — set {option} in the kustomization.yaml at \
             guestbook/overlays/prod\n"
        );
        assert!(stderr.contains(&line), "{stderr}");
    }
    for field in [
        "spec.destination.server",
        "spec.project",
        "spec.syncPolicy.automated",
        "spec.syncPolicy.syncOptions[PrunePropagationPolicy=foreground]",
    ] {
        assert!(
            stderr.contains(&format!("argocd/guestbook: {field}: ")),
            "{field}"
        );
    }
    assert!(
        !stderr.contains("skipped"),
        "a ConfigMap is skipped silently"
    );
}

#[test]
fn flux_kustomization_becomes_an_app_with_a_credentials_hint() {
    let (config, stderr) = import_ok(&[&fixture("flux-kustomization.yaml")]);
    let apps = config.split_once("\napps:\n").expect("an apps list").1;
    assert_eq!(
        apps,
        "  # from Kustomization flux-system/apps
  - name: apps
    repo: https://github.com/example/platform
    ref: release
    path: clusters/prod/apps
    namespace: apps
    interval: 1m
    timeout: 2m30s
    prune: true
    postBuild:
      substitute:
        cluster_env: prod
        replicas: \"3\"
    selfHeal: true
    # The GitRepository read its credentials from the Secret flux-system/platform-auth. Mount it into
    # the agent (e.g. at /etc/ordo/git/platform-auth) and uncomment:
    # credentials:
    #   username: <the Secret's username>
    #   passwordFile: /etc/ordo/git/platform-auth/password
    decryption:
      provider: sops
      secretRef:
        name: sops-age
        namespace: flux-system
        key: age.agekey
"
    );
    for field in [
        "Kustomization flux-system/apps: spec.dependsOn: Kustomization flux-system/infra is \
         not among the inputs",
        "GitRepository flux-system/platform: spec.secretRef: Secret platform-auth",
    ] {
        assert!(
            stderr.contains(&format!("not translated: {field}")),
            "{field}\n{stderr}"
        );
    }
    assert!(
        stderr.contains(
            "note: Kustomization flux-system/apps: spec.decryption.secretRef: Flux reads every \
             .agekey and .asc data key of Secret flux-system/sops-age; ordo reads one, age.agekey"
        ),
        "{stderr}"
    );
}

#[test]
fn flux_helm_release_from_git_becomes_a_helm_app() {
    let (config, stderr) = import_ok(&[&fixture("flux-helmrelease-git.yaml")]);
    for line in [
        "    ref: \"6.7.0\"\n",
        "    path: charts/podinfo\n",
        "    namespace: web\n",
        "    interval: 5m\n",
        "    source: helm\n",
        "      releaseName: web-podinfo\n",
        "        - charts/podinfo/values-prod.yaml\n",
        "            - host: podinfo.example.org\n",
    ] {
        assert!(config.contains(line), "{line}\n{config}");
    }
    assert!(stderr.contains("not translated: HelmRelease flux-system/podinfo: spec.upgrade"));
}

/// An Argo CD AppProject and a Flux Kustomization with a ServiceAccount, as `kubectl get -o
/// yaml` lists them.
const TENANTS: &str = "\
apiVersion: v1
kind: List
items:
- apiVersion: argoproj.io/v1alpha1
  kind: Application
  metadata: {name: shop, namespace: argocd}
  spec:
    project: team-a
    source: {repoURL: https://git.example.org/shop.git, path: deploy}
    destination: {server: https://kubernetes.default.svc, namespace: shop}
    syncPolicy: {automated: {prune: true}}
- apiVersion: argoproj.io/v1alpha1
  kind: AppProject
  metadata: {name: team-a, namespace: argocd}
  spec:
    sourceRepos: ['*']
    destinations:
    - {server: https://kubernetes.default.svc, namespace: shop}
    - {name: in-cluster, namespace: 'shop-*'}
    - {server: https://prod.example.org, namespace: '*'}
    clusterResourceWhitelist:
    - {group: '', kind: Namespace}
    - {group: rbac.authorization.k8s.io, kind: ClusterRole}
    clusterResourceBlacklist:
    - {group: '', kind: Node}
    destinationServiceAccounts:
    - {server: https://kubernetes.default.svc, namespace: 'shop*', defaultServiceAccount: shop-deployer}
- apiVersion: argoproj.io/v1alpha1
  kind: Application
  metadata: {name: legacy, namespace: argocd}
  spec:
    project: team-b
    source: {repoURL: https://git.example.org/legacy.git}
    destination: {server: https://kubernetes.default.svc, namespace: legacy}
- apiVersion: source.toolkit.fluxcd.io/v1
  kind: GitRepository
  metadata: {name: web, namespace: team-web}
  spec: {url: https://git.example.org/web.git, ref: {branch: main}}
- apiVersion: kustomize.toolkit.fluxcd.io/v1
  kind: Kustomization
  metadata: {name: web, namespace: team-web}
  spec:
    sourceRef: {kind: GitRepository, name: web}
    path: ./deploy
    serviceAccountName: web-reconciler
";

#[test]
fn projects_and_service_accounts_become_allow_and_service_account_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tenants.yaml");
    std::fs::write(&input, TENANTS).unwrap();
    let (config, stderr) = import_ok(&[input.to_str().unwrap()]);
    for part in [
        "  - name: shop\n",
        "    namespace: shop\n    prune: true\n    allow:\n      namespaces: [shop, \"shop-*\"]\n      \
         clusterKinds: [Namespace, ClusterRole.rbac.authorization.k8s.io]\n    \
         serviceAccountName: shop-deployer\n",
        "  - name: legacy\n    repo: https://git.example.org/legacy.git\n    namespace: legacy\n    \
         prune: false\n    selfHeal: false\n",
        "  - name: web\n",
        "    namespace: team-web\n    prune: false\n    serviceAccountName: web-reconciler\n    \
         selfHeal: true\n",
        "# ordo restricts by default: an app without allow writes only into its own namespace",
    ] {
        assert!(config.contains(part), "{part}\n{config}");
    }
    for line in [
        "not translated: AppProject argocd/team-a: spec.destinations: {server: \
         https://prod.example.org, namespace: *}: another cluster",
        "not translated: AppProject argocd/team-a: spec.clusterResourceBlacklist: ordo's allow \
         has no deny list",
        "not translated: Application argocd/legacy: spec.project: AppProject team-b not found \
         among the inputs; allow left at ordo's default: the app's own namespace, no \
         cluster-scoped kinds",
        "note: Kustomization team-web/web: Flux has no allow list: ordo lets this app write only \
         into its namespace team-web",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    let loaded = ordo::config::parse(&config, "imported.yaml").expect("the config loads");
    let shop = &loaded.apps[0];
    let kinds = shop.allow.cluster_kinds.as_ref().map(|p| p.text.clone());
    assert_eq!(
        kinds,
        Some(vec![
            "Namespace".to_owned(),
            "ClusterRole.rbac.authorization.k8s.io".to_owned()
        ])
    );
    assert_eq!(
        loaded.apps[2].service_account_name.as_deref(),
        Some("web-reconciler")
    );
}

#[test]
fn charts_from_a_chart_repository_and_application_sets_alone_are_bad_input() {
    let cases = [
        (
            "flux-helmrelease-helmrepo.yaml",
            "not translated: HelmRelease cache/redis: spec.chart.spec.sourceRef: chart redis \
             19.x from HelmRepository flux-system/bitnami (https://charts.bitnami.com/bitnami): \
             ordo pulls charts from chart repositories, but an app follows a git repository \
             (for its values files) and this object names none — write the app by hand \
             with the repository that holds its values and helm: {repoURL: \
             https://charts.bitnami.com/bitnami, chart: redis, version: <an exact version>}, \
             or vendor the chart into git",
        ),
        (
            "applicationset.yaml",
            "not translated: ApplicationSet argocd/clusters: spec.generators: ApplicationSet \
             generators are not translated — translate each generated Application",
        ),
    ];
    for (name, finding) in cases {
        let out = ordo(&["import", &fixture(name)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(finding), "{name}: {stderr}");
        assert!(stderr.contains("error: found"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_directory_is_read_recursively_and_json_is_for_scripts() {
    // argo/ then flux/nested/, in name order; hidden directories, charts (templates are no
    // YAML) and other files are skipped.
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str, to: &str| {
        let target = dir.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(fixture(name), target).unwrap();
    };
    copy("argo-kustomize.yaml", "argo/b.yml");
    copy("argo-helm.yaml", "argo/a.yaml");
    copy("applicationset.yaml", "argo/set.json.yaml");
    copy("flux-kustomization.yaml", "flux/nested/ks.yaml");
    copy("flux-helmrelease-git.yaml", "flux/hr.yaml");
    copy("argo-helm.yaml", ".git/ignored.yaml");
    copy("argo-helm.yaml", "flux/notes.txt");
    copy("argo-helm.yaml", "charts/shop/Chart.yaml");
    std::fs::create_dir_all(dir.path().join("charts/shop/templates")).unwrap();
    let template = "kind: ConfigMap\n{{- if .Values.x }}\ndata: {{ .Values.x | toYaml }}\n";
    std::fs::write(dir.path().join("charts/shop/templates/cm.yaml"), template).unwrap();
    let out = ordo(&["import", dir.path().to_str().unwrap(), "-o", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("charts/shop: a Helm chart"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = json["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    // Argo CD Applications in file order, then Flux's.
    assert_eq!(names, ["shop", "guestbook", "podinfo", "apps"]);
    assert_eq!(
        json["apps"][0]["helm"]["valueFiles"][0],
        "charts/shop/values-prod.yaml"
    );
    let config = json["config"].as_str().unwrap();
    ordo::config::parse(config, "imported.yaml").expect("the config loads");
    let findings = json["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["object"] == "ApplicationSet argocd/clusters"
                && f["field"] == "spec.generators"
                && f["kind"] == "not-translated")
    );
    assert!(findings.iter().all(|f| f["message"].is_string()));
}

#[test]
fn output_writes_a_file_the_config_loader_reads() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("ordo.yaml");
    let target_arg = target.to_str().unwrap();
    let out = ordo(&[
        "import",
        &fixture("argo-helm.yaml"),
        &fixture("flux-kustomization.yaml"),
        "--output",
        target_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains(&format!("wrote 2 app(s) to {target_arg}")));
    let config = ordo::config::load(&target).expect("the written config loads");
    assert_eq!(config.apps.len(), 2);
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ordo runs");
    let manifest = std::fs::read(fixture("argo-helm.yaml")).unwrap();
    child.stdin.take().unwrap().write_all(&manifest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("  - name: shop\n"));
}

#[test]
fn bad_input_exits_2_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "apiVersion: argoproj.io/v1alpha1\nkind: [\n").unwrap();
    let plain = dir.path().join("plain.yaml");
    std::fs::write(
        &plain,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.yaml");
    let cases = [
        (
            broken.as_path(),
            format!("error: {}:", broken.display()),
            "not valid YAML",
        ),
        (
            plain.as_path(),
            "error: no Argo CD Application".to_owned(),
            "point ordo import at",
        ),
        (
            missing.as_path(),
            format!("error: {}: cannot read", missing.display()),
            "",
        ),
    ];
    for (input, start, detail) in cases {
        let out = ordo(&["import", input.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with(&start), "{start}\n{stderr}");
        assert!(stderr.contains(detail), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let usage = ordo(&["import"]);
    assert_eq!(usage.status.code(), Some(2), "no input is a usage error");
}

#[test]
fn help_teaches_with_examples() {
    let out = ordo(&["import", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for part in [
        "FILE_OR_DIR",
        "--output <FILE>",
        "-o, --format",
        "Exit codes",
        "Examples:",
    ] {
        assert!(help.contains(part), "{part}\n{help}");
    }
    assert!(Path::new(FIXTURES).is_dir());
}
