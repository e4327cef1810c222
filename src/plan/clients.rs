//! Pure clients: workloads that send traffic and take none, such as load generators. When two
//! workloads name each other (a load generator and the proxy in front of the app it loads), the
//! cycle is broken on the edge into the client, so the client comes after what it calls.

use serde_json::Value;

use super::workload::Selector;
use super::workload::{WorkloadIndex, containers, is_workload, pod_labels, pod_spec};
use crate::manifest::Object;

/// Names and images of load-testing tools, and the words people label load generators with.
const GENERATORS: &[&str] = &[
    "load-generator",
    "loadgenerator",
    "loadgen",
    "load-test",
    "loadtest",
    "traffic-generator",
    "locust",
    "k6",
    "vegeta",
    "jmeter",
    "gatling",
];

/// Labels whose value says what a workload is.
const ROLE_LABELS: &[&str] = &[
    "app.kubernetes.io/component",
    "app.kubernetes.io/name",
    "app",
    "component",
];

/// How sure a cycle breaker may be that an object only sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Client {
    /// Labelled, named or built from an image as a load generator: why, in words.
    Generator(String),
    /// A workload no Service of the set selects: nothing can call it.
    Unselected,
    /// Anything else.
    No,
}

impl Client {
    /// Why the edge into it goes first, for the plan's warning.
    pub fn why(&self) -> Option<String> {
        match self {
            Client::Generator(why) => Some(format!("a load generator ({why})")),
            Client::Unselected => Some("a workload no Service selects".to_owned()),
            Client::No => None,
        }
    }
}

/// What each object is, as a client.
pub fn classify(objects: &[Object], index: &WorkloadIndex) -> Vec<Client> {
    let mut selected = vec![false; objects.len()];
    let mut services = false;
    for service in objects
        .iter()
        .filter(|o| o.id.group.is_empty() && o.id.kind == "Service")
    {
        services = true;
        let namespace = service.namespace_or_default();
        if let Some(selector) = Selector::from_map(service.at("/spec/selector")) {
            for i in index.select(objects, namespace, &selector) {
                selected[i] = true;
            }
        }
    }
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            if !is_workload(o) {
                return Client::No;
            }
            if let Some(why) = generator(o) {
                return Client::Generator(why);
            }
            // In a set without Services, "unselected" says nothing.
            if services && !selected[i] {
                return Client::Unselected;
            }
            Client::No
        })
        .collect()
}

/// Why `object` looks like a load generator: a role label, its name, or an image.
pub(super) fn generator(object: &Object) -> Option<String> {
    let named = |text: &str| {
        let lower = text.to_ascii_lowercase();
        GENERATORS.iter().any(|g| {
            // Whole words only: `k6` is a tool, `k6s` is not.
            lower
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .any(|word| word == *g || word.split('-').any(|part| part == *g))
                || (g.contains('-') && lower.contains(g))
        })
    };
    let labels = object
        .manifest
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    let on_pods = pod_labels(object);
    for key in ROLE_LABELS {
        for map in [labels, on_pods].into_iter().flatten() {
            if let Some(value) = map.get(*key).and_then(Value::as_str)
                && named(value)
            {
                return Some(format!("label {key}: {value}"));
            }
        }
    }
    if named(&object.id.name) {
        return Some(format!("named {}", object.id.name));
    }
    let spec = pod_spec(object)?;
    containers(spec)
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .find(|image| {
            // The repository's last part, without registry, tag or digest.
            let repository = image.split(['@', ':']).next().unwrap_or(image);
            named(repository.rsplit('/').next().unwrap_or(repository))
        })
        .map(|image| format!("image {image}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(yaml: &str) -> Vec<Object> {
        let files = [crate::source::SourceFile {
            path: "all.yaml".into(),
            data: yaml.as_bytes().to_vec(),
        }];
        crate::manifest::load(&files, "shop").unwrap()
    }

    fn deployment(name: &str, labels: &str, image: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: c, image: \"{image}\"}}]}}\n---\n"
        )
    }

    fn service(name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n---\n"
        )
    }

    #[test]
    fn load_generators_are_known_by_label_name_or_image_and_pure_clients_by_no_service() {
        let yaml = [
            deployment("frontend-proxy", "", "envoyproxy/envoy:v1.30"),
            service("frontend-proxy"),
            deployment(
                "load-generator",
                "",
                "ghcr.io/open-telemetry/demo:2.0-load-generator",
            ),
            service("load-generator"),
            deployment("bench", "app.kubernetes.io/component: loadgen", "busybox"),
            service("bench"),
            deployment("smoke", "", "grafana/k6:0.52"),
            service("smoke"),
            deployment("worker", "", "shop/worker:1"),
            deployment("k6s-dashboard", "", "shop/k6s:1"),
            service("k6s-dashboard"),
        ]
        .concat();
        let objects = objects(&yaml);
        let index = WorkloadIndex::new(&objects);
        let classes = classify(&objects, &index);
        let class = |name: &str| {
            let i = objects
                .iter()
                .position(|o| o.id.kind == "Deployment" && o.id.name == name)
                .unwrap();
            classes[i].clone()
        };
        // (workload, what it is)
        let cases = [
            ("frontend-proxy", Client::No),
            (
                "load-generator",
                Client::Generator("label app: load-generator".into()),
            ),
            (
                "bench",
                Client::Generator("label app.kubernetes.io/component: loadgen".into()),
            ),
            ("smoke", Client::Generator("image grafana/k6:0.52".into())),
            ("worker", Client::Unselected),
            ("k6s-dashboard", Client::No),
        ];
        for (name, expected) in cases {
            assert_eq!(class(name), expected, "{name}");
        }
        let services = classes
            .iter()
            .zip(&objects)
            .filter(|(_, o)| o.id.kind == "Service");
        assert!(services.map(|(c, _)| c).all(|c| *c == Client::No));
    }
}
