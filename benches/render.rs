//! Rendering a 1,000-object Kustomize overlay and a 1,000-object Helm chart with the real
//! tools, first (the tool runs) and cached (the same inputs again, as a poll that finds nothing
//! new), then loading and planning the result. Run: `cargo bench --bench render` after
//! `scripts/cluster.sh build` (the tools come from its cache, or ORDO_KUSTOMIZE / ORDO_HELM).

use std::path::PathBuf;

use divan::{Bencher, black_box};
use ordo::manifest;
use ordo::plan::{self, Ordering};
use ordo::render::{HelmOptions, RenderOptions, RenderRequest, Renderer, SourceKind, Tools};
use ordo::source::SourceFile;

fn main() {
    divan::main();
}

const OBJECTS: usize = 1_000;

/// The tools: ORDO_KUSTOMIZE / ORDO_HELM, else the project's tool cache.
fn tools() -> Tools {
    let cache = std::env::var_os("ORDO_K8S_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("ordo").join("k8s-v1.34.4"))
        })
        .unwrap_or_default()
        .join("bin");
    let pick = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| Some(cache.join(name)).filter(|p| p.is_file()))
    };
    Tools {
        kustomize: pick("ORDO_KUSTOMIZE", "kustomize"),
        helm: pick("ORDO_HELM", "helm"),
    }
}

fn file(path: &str, data: String) -> SourceFile {
    SourceFile {
        path: path.to_owned(),
        data: data.into_bytes(),
    }
}

/// A base of `OBJECTS / 4` apps (ConfigMap, Secret, Deployment, Service) and an overlay with a
/// prefix, a namespace, labels, an image tag and a patch.
fn kustomize_repo() -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut resources = Vec::new();
    for part in 0..OBJECTS / 100 {
        let mut text = String::new();
        for app in part * 25..(part + 1) * 25 {
            text.push_str(&app_docs(app, "example/app:1"));
        }
        let name = format!("part-{part}.yaml");
        files.push(file(&format!("base/{name}"), text));
        resources.push(name);
    }
    files.push(file(
        "base/kustomization.yaml",
        format!("resources:\n{}", lines(&resources)),
    ));
    files.push(file(
        "overlays/prod/kustomization.yaml",
        "resources: [../../base]\nnamespace: prod\nnamePrefix: prod-\nlabels:\n  - pairs: {env: prod}\nimages:\n  - name: example/app\n    newTag: \"2\"\npatches:\n  - target: {kind: Deployment}\n    patch: |-\n      - op: replace\n        path: /spec/replicas\n        value: 2\n".to_owned(),
    ));
    files
}

/// A chart whose templates range over `.Values.apps` apps of four objects.
fn helm_repo() -> Vec<SourceFile> {
    let template = app_docs(0, "{{ $.Values.image }}")
        .replace("app-0", "app-{{ $i }}")
        .replace("p0", "p{{ $i }}");
    vec![
        file(
            "chart/Chart.yaml",
            "apiVersion: v2\nname: bench\nversion: 1.0.0\n".to_owned(),
        ),
        file(
            "chart/values.yaml",
            format!("apps: {}\nimage: example/app:1\n", OBJECTS / 4),
        ),
        file(
            "chart/templates/apps.yaml",
            format!(
                "{{{{- range $i := until (int .Values.apps) }}}}\n---\n{template}{{{{- end }}}}\n"
            ),
        ),
    ]
}

fn lines(items: &[String]) -> String {
    items.iter().map(|i| format!("  - {i}\n")).collect()
}

fn app_docs(app: usize, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{app}\ndata:\n  LOG_LEVEL: info\n---\n\
apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{app}\nstringData:\n  password: p{app}\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{app}}}\n  template:\n    metadata:\n      labels: {{app: app-{app}}}\n    spec:\n      containers:\n        - name: app\n          image: \"{image}\"\n          envFrom: [{{configMapRef: {{name: app-{app}}}}}]\n---\n\
apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{app}\nspec:\n  selector: {{app: app-{app}}}\n  ports: [{{port: 8080}}]\n---\n"
    )
}

fn options(kind: SourceKind) -> RenderOptions {
    RenderOptions {
        kind,
        helm: HelmOptions {
            release_name: "bench".into(),
            ..HelmOptions::default()
        },
        ..RenderOptions::default()
    }
}

fn render(renderer: &Renderer, files: &[SourceFile], path: &str, kind: SourceKind) -> usize {
    let options = options(kind);
    let rendered = renderer
        .render(&RenderRequest {
            files,
            app_path: path,
            namespace: "bench",
            options: &options,
            secret_values: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let objects = manifest::load(&rendered, "bench").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(objects.len(), OBJECTS);
    plan::build(objects, Ordering::Tiers)
        .map(|p| p.order.len())
        .unwrap_or_default()
}

fn case(name: &str) -> (Vec<SourceFile>, &'static str, SourceKind) {
    match name {
        "kustomize" => (kustomize_repo(), "overlays/prod", SourceKind::Kustomize),
        _ => (helm_repo(), "chart", SourceKind::Helm),
    }
}

/// The tool runs every time: a new commit touching the app.
#[divan::bench(args = ["kustomize", "helm"], sample_count = 5)]
fn first_render_and_plan(bencher: Bencher, name: &str) {
    let (files, path, kind) = case(name);
    bencher.bench(|| render(&Renderer::new(tools()), black_box(&files), path, kind));
}

/// The same inputs again: served from the render cache (the plan still runs).
#[divan::bench(args = ["kustomize", "helm"], sample_count = 5)]
fn cached_render_and_plan(bencher: Bencher, name: &str) {
    let (files, path, kind) = case(name);
    let renderer = Renderer::new(tools());
    render(&renderer, &files, path, kind);
    assert_eq!(renderer.cached(), 1);
    bencher.bench(|| render(&renderer, black_box(&files), path, kind));
}
