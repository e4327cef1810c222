//! The render layer with the real tools: `kustomize build` of overlays with a component, a
//! generator, patches and images; `helm template` of a chart with values files, inline values,
//! a vendored dependency and a hook; what is refused (a kustomization leaving the repository, a
//! remote base), what fails (a template error), and what is stopped (a render that never ends,
//! output past the budget). Then `ordo plan` on an overlay and on a chart.
//!
//! kustomize and helm come from the cache scripts/cluster.sh builds them into. No cluster.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod render_support;
#[allow(dead_code)]
#[path = "chart/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ordo::manifest::{self, Object};
use ordo::plan::{self, Ordering};
use ordo::render::{HelmOptions, RenderError, RenderOptions, Renderer, SourceKind, Tools};
use ordo::source::{self, Selection, SourceFile};

use render_support::{find, render};
use support::k8s_bin;

fn fixtures(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/render")
        .join(sub)
}

/// Every file of the tree at `root`, as the CLI reads it for kustomize and helm.
fn tree(root: &Path) -> Vec<SourceFile> {
    let whole = Selection {
        include: vec!["**".into()],
        ..Selection::default()
    };
    source::read_dir(root, &whole).unwrap().files
}

/// A renderer running kustomize from the tool cache.
fn kustomize() -> Renderer {
    Renderer::new(Tools {
        kustomize: Some(k8s_bin("kustomize")),
        helm: None,
    })
}

/// A renderer running helm from the tool cache.
fn helm() -> Renderer {
    Renderer::new(Tools {
        kustomize: None,
        helm: Some(k8s_bin("helm")),
    })
}

fn objects(files: &[SourceFile]) -> Vec<Object> {
    manifest::load(files, "default").unwrap()
}

fn generated_config_map<'a>(objects: &'a [Object], prefix: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.id.kind == "ConfigMap" && o.id.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no generated ConfigMap {prefix}*"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_whole_tree_selection_reads_every_file_at_any_depth() {
    let paths: Vec<String> = tree(&fixtures("")).into_iter().map(|f| f.path).collect();
    for want in [
        "charts/shop/Chart.yaml",
        "charts/shop/charts/cache/templates/deployment.yaml",
        "kustomize/overlays/staging/kustomization.yaml",
        "bad/escape/kustomization.yaml",
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "{want} missing in {paths:?}"
        );
    }
}

#[test]
fn staging_overlay_renders_prefix_namespace_image_patch_component_and_generator() {
    let files = tree(&fixtures("kustomize"));
    let rendered = render(
        &kustomize(),
        &files,
        "overlays/staging",
        &RenderOptions::default(),
    )
    .unwrap();
    assert_eq!(rendered.len(), 1);
    assert_eq!(rendered[0].path, "overlays/staging (kustomize)");
    let objects = objects(&rendered);
    let web = find(&objects, "Deployment", "staging-web");
    assert_eq!(web.id.namespace.as_deref(), Some("staging"));
    assert_eq!(web.at("/spec/replicas"), Some(&2.into()));
    let image = web.at("/spec/template/spec/containers/0/image");
    assert_eq!(image, Some(&"web:1.1-rc.1".into()));
    assert_eq!(web.annotation("ordo.test/monitored"), Some("true"));
    find(&objects, "ConfigMap", "staging-probe-config");
    find(&objects, "Service", "staging-web");
    let config = generated_config_map(&objects, "staging-web-config-");
    assert_eq!(config.at("/data/LOG_LEVEL"), Some(&"debug".into()));
    assert_eq!(config.at("/data/GREETING"), Some(&"hello".into()));
    assert_eq!(config.origin.file, "overlays/staging (kustomize)");
}

#[test]
fn production_overlay_renders_its_own_values_without_the_component() {
    let files = tree(&fixtures("kustomize"));
    let rendered = render(
        &kustomize(),
        &files,
        "overlays/production",
        &RenderOptions::default(),
    )
    .unwrap();
    let objects = objects(&rendered);
    let web = find(&objects, "Deployment", "prod-web");
    assert_eq!(web.id.namespace.as_deref(), Some("production"));
    assert_eq!(web.at("/spec/replicas"), Some(&5.into()));
    let image = web.at("/spec/template/spec/containers/0/image");
    assert_eq!(image, Some(&"web:1.1".into()));
    assert_eq!(web.annotation("ordo.test/monitored"), None);
    assert!(objects.iter().all(|o| o.id.name != "prod-probe-config"));
    let config = generated_config_map(&objects, "prod-web-config-");
    assert_eq!(config.at("/data/LOG_LEVEL"), Some(&"info".into()));
}

#[test]
fn the_plan_follows_the_hash_suffixed_generated_config_map() {
    let files = tree(&fixtures("kustomize"));
    let rendered = render(
        &kustomize(),
        &files,
        "overlays/staging",
        &RenderOptions::default(),
    )
    .unwrap();
    let plan = plan::build(objects(&rendered), Ordering::Tiers).unwrap();
    let index = |pred: &dyn Fn(&Object) -> bool| {
        plan.objects
            .iter()
            .position(|p| pred(&p.object))
            .expect("object in the plan")
    };
    let web = index(&|o| o.id.kind == "Deployment" && o.id.name == "staging-web");
    let config =
        index(&|o| o.id.kind == "ConfigMap" && o.id.name.starts_with("staging-web-config-"));
    let hashed = &plan.objects[config].object.id.name;
    assert!(hashed.len() > "staging-web-config-".len(), "{hashed}");
    let edge = plan
        .dependencies(web)
        .find(|e| e.to == config)
        .unwrap_or_else(|| panic!("no edge Deployment -> ConfigMap/{hashed}: {:?}", plan.edges));
    assert!(edge.reason.contains(hashed.as_str()), "{}", edge.reason);
}

#[test]
fn a_kustomization_reaching_outside_the_repository_is_refused() {
    let files = tree(&fixtures(""));
    let err = render(
        &kustomize(),
        &files,
        "bad/escape",
        &RenderOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, RenderError::PathOutside { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("bad/escape/kustomization.yaml"),
        "{message}"
    );
    assert!(message.contains("../../../../../../outside"), "{message}");
}

#[test]
fn a_remote_base_is_refused_before_kustomize_runs() {
    let files = tree(&fixtures(""));
    let err = render(
        &kustomize(),
        &files,
        "bad/remote",
        &RenderOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, RenderError::RemoteBase { .. }), "{err:?}");
    assert!(
        err.to_string().contains("bad/remote/kustomization.yaml"),
        "{err}"
    );
}

#[test]
fn kustomize_failures_carry_its_stderr() {
    let mut files = tree(&fixtures("kustomize"));
    // A patch that is there but not a patch (a missing one is refused before kustomize runs).
    for f in &mut files {
        if f.path == "overlays/staging/replicas.yaml" {
            f.data = b"- [not a patch\n".to_vec();
        }
    }
    let err = render(
        &kustomize(),
        &files,
        "overlays/staging",
        &RenderOptions::default(),
    )
    .unwrap_err();
    let RenderError::ToolFailed { code, stderr, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*code, Some(1));
    assert!(stderr.contains("replicas.yaml"), "{stderr}");
}

#[test]
fn a_second_render_of_the_same_input_is_served_from_the_cache() {
    let renderer = kustomize();
    let files = tree(&fixtures("kustomize"));
    let options = RenderOptions::default();
    let first = render(&renderer, &files, "overlays/staging", &options).unwrap();
    assert_eq!(renderer.cached(), 1);
    let again = render(&renderer, &files, "overlays/staging", &options).unwrap();
    assert_eq!(renderer.cached(), 1);
    assert_eq!(first, again);
    // A commit that touches only what this overlay does not reach renders nothing.
    let mut elsewhere = files.clone();
    let other = elsewhere
        .iter_mut()
        .find(|f| f.path == "overlays/production/replicas.yaml")
        .unwrap();
    other.data = text(&other.data)
        .replace("replicas:", "replicas: 9 #")
        .into_bytes();
    let unaffected = render(&renderer, &elsewhere, "overlays/staging", &options).unwrap();
    assert_eq!(renderer.cached(), 1, "served from the cache");
    assert_eq!(unaffected, first);
    let mut changed = files.clone();
    let patch = changed
        .iter_mut()
        .find(|f| f.path == "overlays/staging/replicas.yaml")
        .unwrap();
    patch.data = text(&patch.data)
        .replace("replicas: 2", "replicas: 4")
        .into_bytes();
    let after = render(&renderer, &changed, "overlays/staging", &options).unwrap();
    assert_eq!(renderer.cached(), 2);
    let web = objects(&after);
    let web = find(&web, "Deployment", "staging-web");
    assert_eq!(web.at("/spec/replicas"), Some(&4.into()));
}

fn shop_options() -> RenderOptions {
    RenderOptions {
        kind: SourceKind::Helm,
        helm: HelmOptions {
            release_name: "shop".into(),
            value_files: vec![
                "envs/shop-common.yaml".into(),
                "envs/shop-production.yaml".into(),
            ],
            values: Some(serde_json::json!({"greeting": "inline"})),
            kube_version: Some("v1.31.0".into()),
            api_versions: vec!["monitoring.coreos.com/v1".into()],
            remote: None,
        },
        ..RenderOptions::default()
    }
}

#[test]
fn chart_renders_values_in_order_its_dependency_and_its_hook() {
    let files = tree(&fixtures(""));
    let rendered = render(&helm(), &files, "charts/shop", &shop_options()).unwrap();
    let paths: Vec<&str> = rendered.iter().map(|f| f.path.as_str()).collect();
    for want in [
        "shop/templates/deployment.yaml (helm)",
        "shop/templates/migrate-job.yaml (helm)",
        "shop/charts/cache/templates/deployment.yaml (helm)",
    ] {
        assert!(paths.contains(&want), "{want} missing in {paths:?}");
    }
    let objects = objects(&rendered);
    let web = find(&objects, "Deployment", "shop-web");
    // Later values files win over earlier ones; both over the chart's values.yaml.
    assert_eq!(web.at("/spec/replicas"), Some(&6.into()));
    let image = web.at("/spec/template/spec/containers/0/image");
    assert_eq!(image, Some(&"shop:2.1".into()));
    assert_eq!(web.origin.file, "shop/templates/deployment.yaml (helm)");
    let config = find(&objects, "ConfigMap", "shop-config");
    // Inline values come last.
    assert_eq!(config.at("/data/GREETING"), Some(&"inline".into()));
    // --kube-version and --api-versions reach .Capabilities.
    assert_eq!(config.at("/data/KUBE_VERSION"), Some(&"v1.31.0".into()));
    let monitoring = config.at("/data/MONITORING");
    assert_eq!(monitoring, Some(&"prometheus-operator".into()));
    let cache = find(&objects, "Deployment", "shop-cache");
    let image = cache.at("/spec/template/spec/containers/0/image");
    assert_eq!(image, Some(&"cache:7".into()));
    let job = find(&objects, "Job", "shop-migrate");
    assert_eq!(job.annotation("helm.sh/hook"), Some("pre-install"));
}

#[test]
fn chart_without_capabilities_given_has_no_monitoring_api() {
    let files = tree(&fixtures(""));
    let mut options = shop_options();
    options.helm.api_versions.clear();
    let rendered = render(&helm(), &files, "charts/shop", &options).unwrap();
    let objects = objects(&rendered);
    let config = find(&objects, "ConfigMap", "shop-config");
    assert_eq!(config.at("/data/MONITORING"), None);
}

#[test]
fn a_values_file_missing_from_the_repository_is_named() {
    let files = tree(&fixtures(""));
    let mut options = shop_options();
    options.helm.value_files = vec!["envs/shop-staging.yaml".into()];
    let err = render(&helm(), &files, "charts/shop", &options).unwrap_err();
    assert!(err.to_string().contains("envs/shop-staging.yaml"), "{err}");
}

#[test]
fn a_template_error_names_the_template_and_line() {
    let files = tree(&fixtures(""));
    let options = RenderOptions::default();
    let err = render(&helm(), &files, "bad/charts/failing", &options).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RenderError::ToolFailed { .. }), "{err:?}");
    assert!(
        message.starts_with("helm failed rendering bad/charts/failing"),
        "{message}"
    );
    assert!(
        message.contains("failing/templates/bad.yaml:4:"),
        "{message}"
    );
    assert!(message.contains("name is required"), "{message}");
}

#[test]
fn a_render_that_never_ends_is_stopped_at_the_timeout() {
    let files = tree(&fixtures(""));
    let mut options = RenderOptions::default();
    options.limits.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = render(&helm(), &files, "bad/charts/endless", &options).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, RenderError::Timeout { after, .. } if after == Duration::from_secs(2)),
        "{err:?}"
    );
    assert!(err.to_string().contains("within 2s"), "{err}");
    // Stopped at the deadline, not when the loop would have ended (hours).
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn output_past_the_budget_is_stopped() {
    let files = tree(&fixtures(""));
    let mut options = RenderOptions::default();
    options.limits.max_output_bytes = 64 * 1024;
    let err = render(&helm(), &files, "bad/charts/large", &options).unwrap_err();
    assert!(
        matches!(err, RenderError::OutputTooLarge { limit: 65536, .. }),
        "{err:?}"
    );
    // The same chart within the default budget renders.
    let rendered = render(
        &helm(),
        &files,
        "bad/charts/large",
        &RenderOptions::default(),
    );
    assert!(rendered.is_ok(), "{rendered:?}");
}

/// The ordo binary, with `tool` taken from the tool cache (ORDO_KUSTOMIZE or ORDO_HELM).
fn ordo(tool: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordo"))
        .args(args)
        .env(format!("ORDO_{}", tool.to_ascii_uppercase()), k8s_bin(tool))
        .output()
        .expect("ordo runs")
}

/// Positions of `needles` in `haystack`, asserting each is there and they come in order.
fn assert_in_order(haystack: &str, needles: &[&str]) {
    let positions: Vec<usize> = needles
        .iter()
        .map(|n| {
            haystack
                .find(n)
                .unwrap_or_else(|| panic!("{n} missing in\n{haystack}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{needles:?} out of order in\n{haystack}"
    );
}

#[test]
fn ordo_plan_detects_and_renders_the_staging_overlay() {
    let root = fixtures("kustomize");
    let out = ordo(
        "kustomize",
        &["plan", root.to_str().unwrap(), "--path", "overlays/staging"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_in_order(
        &stdout,
        &[
            "\nconfig (",
            "ConfigMap/staging-web-config-",
            // A workload named "...-web" is a frontend (plan/frontend.rs).
            "\nfrontend (",
            "Deployment/staging-web",
            "-> ConfigMap/staging-web-config-",
        ],
    );
    let args = ["plan", root.to_str().unwrap(), "--path", "overlays/staging"];
    let out = ordo("kustomize", &[&args[..], &["-o", "json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"file\": \"overlays/staging (kustomize)\""));
}

#[test]
fn ordo_plan_detects_and_renders_the_chart() {
    let root = fixtures("");
    let out = ordo(
        "helm",
        &[
            "plan",
            root.to_str().unwrap(),
            "--path",
            "charts/shop",
            "--release-name",
            "shop",
            "--values",
            "envs/shop-common.yaml",
            "-n",
            "shop",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_in_order(
        &stdout,
        &[
            "\nconfig (",
            "ConfigMap/shop-config",
            "\nbackend (",
            "Deployment/shop-web",
        ],
    );
    for name in [
        "Deployment/shop-cache",
        "Service/shop-cache",
        "Job/shop-migrate",
    ] {
        assert!(stdout.contains(name), "{name} missing in\n{stdout}");
    }
}

#[test]
fn ordo_plan_on_an_overlay_given_alone_explains_the_repository_root() {
    let overlay = fixtures("kustomize/overlays/staging");
    let out = ordo("kustomize", &["plan", overlay.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("reaches outside the repository"),
        "{stderr}"
    );
    assert!(stderr.contains("--path"), "{stderr}");
}

#[test]
fn ordo_plan_with_source_directory_reads_plain_yaml_as_before() {
    let root = fixtures("kustomize");
    let out = ordo(
        "kustomize",
        &[
            "plan",
            root.to_str().unwrap(),
            "--path",
            "base",
            "--source",
            "directory",
            "--exclude",
            "kustomization.yaml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // The kustomization is not rendered, so the generator never runs: plain Deployment/web.
    assert!(stdout.contains("Deployment/web "), "{stdout}");
    assert!(!stdout.contains("web-config-"), "{stdout}");
}

/// A URL where our own reading of kustomizations does not look (a builtin transformer's own
/// config) still reaches nothing: the confined kustomize may open no TCP connection, loopback
/// included (issue #23: Go skips any proxy for loopback, so only the kernel can stop it).
#[test]
fn a_url_hidden_in_a_transformers_config_reaches_nothing_not_even_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let file = |path: &str, text: String| SourceFile {
        path: path.into(),
        data: text.into_bytes(),
    };
    let files = vec![
        file(
            "app/kustomization.yaml",
            "resources: [cm.yaml]\ntransformers: [patch.yaml]\n".into(),
        ),
        file(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n".into(),
        ),
        file(
            "app/patch.yaml",
            format!(
                "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n\
                 path: http://127.0.0.1:{port}/patch.yaml\ntarget:\n  kind: ConfigMap\n"
            ),
        ),
    ];
    let err = render(&kustomize(), &files, "app", &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, RenderError::ToolFailed { .. }), "{err:?}");
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("kustomize connected to loopback: {other:?} ({err})"),
    }
}

/// Offline, Helm renders for the newest Kubernetes ordo is built for, not Helm's v1.20 (which
/// a chart with `kubeVersion: ">=1.23.0-0"` refuses); a chart whose constraint excludes the
/// version is refused naming both; `helm.kubeVersion` / `--kube-version` says which.
#[test]
fn helm_renders_for_ordos_kubernetes_version_unless_told_another() {
    let chart = |constraint: &str| {
        vec![
            SourceFile {
                path: "chart/Chart.yaml".into(),
                data: format!("apiVersion: v2\nname: modern\nversion: 1.0.0\nkubeVersion: \"{constraint}\"\n")
                    .into_bytes(),
            },
            SourceFile {
                path: "chart/templates/cm.yaml".into(),
                data: b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: modern\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version }}\n".to_vec(),
            },
        ]
    };
    let options = RenderOptions {
        kind: SourceKind::Helm,
        ..RenderOptions::default()
    };
    let rendered = render(&helm(), &chart(">=1.23.0-0"), "chart", &options).unwrap();
    let modern = objects(&rendered);
    let cm = find(&modern, "ConfigMap", "modern");
    assert_eq!(
        cm.at("/data/kube").and_then(|v| v.as_str()),
        Some(ordo::render::KUBE_VERSION)
    );

    let err = render(&helm(), &chart("<1.20.0"), "chart", &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("<1.20.0") && err.contains("v1.34.0"), "{err}");

    let mut older = options.clone();
    older.helm.kube_version = Some("v1.19.4".into());
    let rendered = render(&helm(), &chart("<1.20.0"), "chart", &older).unwrap();
    let old = objects(&rendered);
    let cm = find(&old, "ConfigMap", "modern");
    assert_eq!(
        cm.at("/data/kube").and_then(|v| v.as_str()),
        Some("v1.19.4")
    );
}

/// A template gated on the chart's own custom resource sees it offline (and on a cluster that
/// has not got the CRD yet): Helm installs `crds/` first, so the API versions they serve count.
#[test]
fn a_chart_sees_the_api_versions_of_its_own_crds() {
    let file = |path: &str, text: &str| SourceFile {
        path: path.into(),
        data: text.as_bytes().to_vec(),
    };
    let files = vec![
        file(
            "chart/Chart.yaml",
            "apiVersion: v2\nname: widgets\nversion: 1.0.0\n",
        ),
        file(
            "chart/crds/widgets.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n\
             spec:\n  group: example.com\n  names: {kind: Widget, plural: widgets, singular: widget}\n  scope: Namespaced\n\
             \x20 versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
        ),
        file(
            "chart/templates/widget.yaml",
            "{{- if .Capabilities.APIVersions.Has \"example.com/v1/Widget\" }}\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: main\n{{- end }}\n",
        ),
    ];
    let options = RenderOptions {
        kind: SourceKind::Helm,
        ..RenderOptions::default()
    };
    let rendered = render(&helm(), &files, "chart", &options).unwrap();
    let widgets = objects(&rendered);
    find(&widgets, "Widget", "main");
}
