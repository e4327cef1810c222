//! Loading and planning a generated repository of 10,000 objects (and smaller sizes, to show
//! how time and memory grow). Run: `cargo bench --bench plan`.
//!
//! Each app is a ConfigMap, a Secret, a Deployment that reads both and names the previous
//! app's Service in an env var, and a Service: four objects, one inferred edge of each rule
//! family that matters for cost (references, selectors, service names).

use divan::{AllocProfiler, Bencher, black_box};
use ordo::manifest;
use ordo::plan::{self, Ordering};
use ordo::source::SourceFile;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

/// `objects` manifests spread over files of 100 documents, in 10 namespaces.
fn generated_repo(objects: usize) -> Vec<SourceFile> {
    let apps = objects / 4;
    let mut files = Vec::new();
    let mut text = String::new();
    for app in 0..apps {
        let ns = format!("team-{}", app % 10);
        let previous = app.saturating_sub(10);
        text.push_str(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{app}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: info\n  UPSTREAM_URL: http://app-{previous}:8080\n---\n\
apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{app}\n  namespace: {ns}\nstringData:\n  password: p{app}\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{app}\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{app}}}\n  template:\n    metadata:\n      labels: {{app: app-{app}}}\n    spec:\n      containers:\n        - name: app\n          image: example/app:{app}\n          envFrom: [{{configMapRef: {{name: app-{app}}}}}]\n          env:\n            - name: PASSWORD\n              valueFrom: {{secretKeyRef: {{name: app-{app}, key: password}}}}\n            - name: PEER_HOST\n              value: app-{previous}\n---\n\
apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{app}\n  namespace: {ns}\nspec:\n  selector: {{app: app-{app}}}\n  ports: [{{port: 8080}}]\n---\n"
        ));
        if (app + 1) % 25 == 0 || app + 1 == apps {
            files.push(SourceFile {
                path: format!("apps/part-{}.yaml", files.len()),
                data: std::mem::take(&mut text).into_bytes(),
            });
        }
    }
    files
}

const SIZES: &[usize] = &[1_000, 10_000];

#[divan::bench(args = SIZES, sample_count = 10)]
fn load(bencher: Bencher, objects: usize) {
    let files = generated_repo(objects);
    bencher.bench(|| manifest::load(black_box(&files), "default").map(|o| o.len()));
}

#[divan::bench(args = SIZES, sample_count = 10)]
fn plan(bencher: Bencher, objects: usize) {
    let files = generated_repo(objects);
    let loaded = manifest::load(&files, "default").unwrap_or_default();
    assert_eq!(loaded.len(), objects);
    bencher
        .with_inputs(|| loaded.clone())
        .bench_values(|o| plan::build(o, Ordering::Tiers).map(|p| p.edges.len()));
}

#[divan::bench(args = SIZES, sample_count = 10)]
fn load_and_plan(bencher: Bencher, objects: usize) {
    let files = generated_repo(objects);
    bencher.bench(|| {
        let o = manifest::load(black_box(&files), "default").unwrap_or_default();
        plan::build(o, Ordering::Tiers).map(|p| p.order.len())
    });
}
