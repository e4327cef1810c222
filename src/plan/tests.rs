//! Scenario tests for tiering, every edge rule, cycles and bad input. Fixtures are YAML, as
//! people write them.

use super::*;
use crate::manifest;
use crate::source::SourceFile;

pub(super) fn plan_with(yaml: &str, ordering: Ordering) -> Result<Plan, PlanError> {
    let file = SourceFile {
        path: "app.yaml".into(),
        data: yaml.as_bytes().to_vec(),
    };
    let objects = manifest::load(&[file], "shop").expect("fixture loads");
    build(objects, ordering)
}

pub(super) fn plan(yaml: &str) -> Plan {
    plan_with(yaml, Ordering::Tiers).expect("plan builds")
}

pub(super) fn index_of(plan: &Plan, id: &str) -> usize {
    plan.objects
        .iter()
        .position(|p| p.object.id.to_string() == id || short(&p.object.id) == id)
        .unwrap_or_else(|| panic!("{id} not in plan"))
}

pub(super) fn short(id: &crate::manifest::ObjectId) -> String {
    format!("{}/{}", id.kind, id.name)
}

pub(super) fn tier(plan: &Plan, id: &str) -> (Tier, TierRule) {
    let p = &plan.objects[index_of(plan, id)];
    (p.tier, p.tier_reason.rule)
}

/// The edge from -> to, if any: (rule, reason).
pub(super) fn edge(plan: &Plan, from: &str, to: &str) -> Option<(Rule, String)> {
    let (f, t) = (index_of(plan, from), index_of(plan, to));
    plan.edges
        .iter()
        .find(|e| e.from == f && e.to == t)
        .map(|e| (e.rule, e.reason.clone()))
}

pub(super) fn deployment(name: &str, extra_meta: &str, pod_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n{extra_meta}spec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n{pod_spec}\n---\n"
    )
}

pub(super) fn container(image: &str, extra: &str) -> String {
    format!("      containers:\n        - name: main\n          image: {image}\n{extra}")
}

pub(super) fn service(name: &str, selects: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {selects}}}\n  ports: [{{port: 80}}]\n---\n"
    )
}

#[test]
fn tiers_follow_the_precedence_annotation_label_kind_image_default() {
    let yaml = [
        deployment("a", "  annotations: {ordo.dev/tier: monitoring}\n  labels: {app.kubernetes.io/component: database}\n", &container("postgres:16", "")),
        deployment("b", "  labels: {app.kubernetes.io/component: web}\n", &container("postgres:16", "")),
        deployment("c", "", &container("postgres:16", "")),
        deployment("d", "", &container("registry.example.org/bitnami/redis:7", "")),
        deployment("e", "", &container("prom/prometheus:v2", "")),
        deployment("f", "", &container("registry.example.org:5000/prometheuscommunity/postgres-exporter:v0.15", "")),
        deployment("g", "", &container("nginx:1.27", "")),
        deployment("h", "", &container("registry.local:5000/team/api:1.0", "")),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, labels: {app.kubernetes.io/component: cache}}\n---\n".into(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n".into(),
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: sm}\nspec: {selector: {matchLabels: {x: y}}}\n---\n".into(),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n".into(),
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ing}\n---\n".into(),
    ]
    .concat();
    let p = plan(&yaml);
    let cases = [
        ("Deployment/a", Tier::Monitoring, TierRule::Annotation),
        ("Deployment/b", Tier::Frontend, TierRule::ComponentLabel),
        ("Deployment/c", Tier::Database, TierRule::Image),
        ("Deployment/d", Tier::Database, TierRule::Image),
        ("Deployment/e", Tier::Monitoring, TierRule::Image),
        ("Deployment/f", Tier::Monitoring, TierRule::Image),
        ("Deployment/g", Tier::Frontend, TierRule::Image),
        ("Deployment/h", Tier::Backend, TierRule::Default),
        ("ConfigMap/cm", Tier::Database, TierRule::ComponentLabel),
        ("Secret/s", Tier::Config, TierRule::Kind),
        ("ServiceMonitor/sm", Tier::Monitoring, TierRule::Kind),
        ("Widget/w", Tier::Backend, TierRule::Default),
        ("Ingress/ing", Tier::Frontend, TierRule::Kind),
    ];
    for (id, want_tier, want_rule) in cases {
        assert_eq!(tier(&p, id), (want_tier, want_rule), "{id}");
    }
}

#[test]
fn services_pdbs_hpas_and_policies_follow_their_workload() {
    let yaml = [
        deployment("db", "", &container("mysql:8", "")),
        service("db", "db"),
        service("orphan", "nothing"),
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db}\nspec: {selector: {matchLabels: {app: db}}}\n---\n".into(),
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: db}\nspec: {scaleTargetRef: {kind: Deployment, name: db, apiVersion: apps/v1}}\n---\n".into(),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db}\nspec: {podSelector: {matchExpressions: [{key: app, operator: In, values: [db]}]}}\n---\n".into(),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all}\nspec: {podSelector: {}}\n".into(),
    ]
    .concat();
    let p = plan(&yaml);
    for id in [
        "Service/db",
        "PodDisruptionBudget/db",
        "HorizontalPodAutoscaler/db",
        "NetworkPolicy/db",
    ] {
        assert_eq!(
            tier(&p, id),
            (Tier::Database, TierRule::FollowsWorkload),
            "{id}"
        );
    }
    assert_eq!(
        tier(&p, "Service/orphan"),
        (Tier::Config, TierRule::Default)
    );
    assert_eq!(
        tier(&p, "NetworkPolicy/deny-all"),
        (Tier::Config, TierRule::Kind)
    );
    assert_eq!(
        edge(&p, "HorizontalPodAutoscaler/db", "Deployment/db").map(|e| e.0),
        Some(Rule::Scales)
    );
}

#[test]
fn pod_template_references_become_edges() {
    let pod = "      serviceAccountName: runner\n      imagePullSecrets: [{name: pull}]\n      priorityClassName: high\n      containers:\n        - name: main\n          image: app:1\n          envFrom: [{configMapRef: {name: env-cm}}, {secretRef: {name: env-secret}}]\n          env:\n            - {name: KEY, valueFrom: {configMapKeyRef: {name: key-cm, key: k}}}\n            - {name: PASS, valueFrom: {secretKeyRef: {name: key-secret, key: k}}}\n      volumes:\n        - {name: v1, configMap: {name: vol-cm}}\n        - {name: v2, secret: {secretName: vol-secret}}\n        - {name: v3, projected: {sources: [{configMap: {name: proj-cm}}, {secret: {name: proj-secret}}]}}\n        - {name: v4, persistentVolumeClaim: {claimName: data}}\n";
    let mut yaml = deployment("app", "", pod);
    for (kind, name) in [
        ("ConfigMap", "env-cm"),
        ("Secret", "env-secret"),
        ("ConfigMap", "key-cm"),
        ("Secret", "key-secret"),
        ("ConfigMap", "vol-cm"),
        ("Secret", "vol-secret"),
        ("ConfigMap", "proj-cm"),
        ("Secret", "proj-secret"),
        ("Secret", "pull"),
        ("ServiceAccount", "runner"),
        ("PersistentVolumeClaim", "data"),
    ] {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: {kind}\nmetadata: {{name: {name}}}\n---\n"
        ));
    }
    yaml.push_str("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n");
    let p = plan(&yaml);
    let cases = [
        ("ConfigMap/env-cm", "envFrom ConfigMap/env-cm"),
        ("Secret/env-secret", "envFrom Secret/env-secret"),
        ("ConfigMap/key-cm", "env KEY reads ConfigMap/key-cm"),
        ("Secret/key-secret", "env PASS reads Secret/key-secret"),
        ("ConfigMap/vol-cm", "volume v1 mounts ConfigMap/vol-cm"),
        ("Secret/vol-secret", "volume v2 mounts Secret/vol-secret"),
        ("ConfigMap/proj-cm", "volume v3 mounts ConfigMap/proj-cm"),
        ("Secret/proj-secret", "volume v3 mounts Secret/proj-secret"),
        ("Secret/pull", "pulls images with Secret/pull"),
        ("ServiceAccount/runner", "runs as ServiceAccount/runner"),
        (
            "PersistentVolumeClaim/data",
            "volume v4 uses PersistentVolumeClaim/data",
        ),
        (
            "PriorityClass/high",
            "priorityClassName names PriorityClass/high",
        ),
    ];
    for (to, reason) in cases {
        let (_, got) = edge(&p, "Deployment/app", to).unwrap_or_else(|| panic!("no edge to {to}"));
        assert_eq!(got, reason);
    }
    assert!(
        p.objects[index_of(&p, "Deployment/app")]
            .config_hash
            .is_some()
    );
}

#[test]
fn service_names_in_env_args_and_config_files_become_edges() {
    let api = container(
        "api:1",
        "          args: [\"--cache=redis://cache:6379/0\"]\n          env:\n            - {name: DB_HOST, value: db}\n            - {name: DB_USER, value: search}\n            - {name: QUEUE_URL, value: \"amqp://user@mq.shop.svc.cluster.local:5672\"}\n          volumeMounts: [{name: conf, mountPath: /etc/app}]\n      volumes: [{name: conf, configMap: {name: api-conf}}]\n",
    );
    let yaml = [
        deployment("api", "", &api),
        deployment("db", "", &container("postgres:16", "")),
        deployment("cache", "", &container("redis:7", "")),
        deployment("mq", "", &container("rabbitmq:3", "")),
        deployment("search", "", &container("opensearch:2", "")),
        deployment("mail", "", &container("mailer:1", "")),
        service("db", "db"),
        service("cache", "cache"),
        service("mq", "mq"),
        service("search", "search"),
        service("mail", "mail"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-conf}\ndata:\n  app.ini: |\n    [mail]\n    server = mail:25\n    user = search\n".into(),
    ]
    .concat();
    let p = plan(&yaml);
    let cases: &[(&str, Option<&str>)] = &[
        ("Deployment/db", Some("env DB_HOST names Service/db")),
        (
            "Deployment/cache",
            Some("command line connects to Service/cache (--cache=redis://cache:6379/0)"),
        ),
        ("Deployment/mq", Some("env QUEUE_URL names Service/mq")),
        (
            "Deployment/mail",
            Some("ConfigMap/api-conf key app.ini names Service/mail"),
        ),
        // `DB_USER=search` and `user = search` are not host names: no edge.
        ("Deployment/search", None),
    ];
    for (to, want) in cases {
        let got = edge(&p, "Deployment/api", to).map(|e| e.1);
        assert_eq!(got.as_deref(), *want, "Deployment/api -> {to}");
    }
}

#[test]
fn ingress_bindings_storage_namespace_crd_and_monitor_edges() {
    let yaml = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n".to_string(),
        deployment("web", "", &container("nginx:1", "")),
        service("web", "web"),
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shop}\nspec:\n  ingressClassName: public\n  tls: [{secretName: tls}]\n  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]\n---\n".into(),
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: public}\n---\n".into(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: tls}\n---\n".into(),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\n---\n".into(),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot}\n---\n".into(),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bot-reads}\nroleRef: {kind: Role, name: reader, apiGroup: rbac.authorization.k8s.io}\nsubjects: [{kind: ServiceAccount, name: bot}]\n---\n".into(),
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: x\n---\n".into(),
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {storageClassName: fast}\n---\n".into(),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: servicemonitors.monitoring.coreos.com}\nspec: {group: monitoring.coreos.com, scope: Namespaced, names: {kind: ServiceMonitor, plural: servicemonitors}}\n---\n".into(),
        "apiVersion: v1\nkind: Service\nmetadata: {name: web-metrics, labels: {metrics: web}}\nspec: {selector: {app: web}}\n---\n".into(),
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: web}\nspec: {selector: {matchLabels: {metrics: web}}}\n".into(),
    ]
    .concat();
    let p = plan(&yaml);
    let cases = [
        ("Ingress/shop", "Deployment/web", Rule::RoutesTo),
        ("Ingress/shop", "IngressClass/public", Rule::UsesClass),
        ("Ingress/shop", "Secret/tls", Rule::PodTemplate),
        ("RoleBinding/bot-reads", "Role/reader", Rule::Binds),
        ("RoleBinding/bot-reads", "ServiceAccount/bot", Rule::Binds),
        (
            "PersistentVolumeClaim/data",
            "StorageClass/fast",
            Rule::UsesClass,
        ),
        ("Deployment/web", "Namespace/shop", Rule::Namespace),
        (
            "ServiceMonitor/web",
            "CustomResourceDefinition/servicemonitors.monitoring.coreos.com",
            Rule::Definition,
        ),
        ("ServiceMonitor/web", "Deployment/web", Rule::Monitors),
    ];
    for (from, to, rule) in cases {
        assert_eq!(
            edge(&p, from, to).map(|e| e.0),
            Some(rule),
            "{from} -> {to}"
        );
    }
}

#[test]
fn tier_order_puts_every_tier_after_the_earlier_ones() {
    let p = plan(
        &std::fs::read_to_string("examples/travel-app/database/postgres.yaml")
            .unwrap_or_default()
            .replace("namespace: travel", "namespace: shop"),
    );
    // Barriers: the StatefulSet (database) waits for a barrier that waits for config.
    let sts = index_of(&p, "StatefulSet/postgres");
    let barrier_needs: Vec<usize> = p.graph.needs[sts]
        .iter()
        .copied()
        .filter(|&n| matches!(p.graph.nodes[n], Node::Barrier { .. }))
        .collect();
    assert!(
        barrier_needs.is_empty(),
        "no config objects here, so no barrier before database"
    );
    let full = plan(
        &[
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n".to_string(),
            deployment("db", "", &container("postgres:16", "")),
            deployment("api", "", &container("api:1", "")),
        ]
        .concat(),
    );
    let order: Vec<String> = full
        .order
        .iter()
        .map(|&i| short(&full.objects[i].object.id))
        .collect();
    assert_eq!(order, ["ConfigMap/a", "Deployment/db", "Deployment/api"]);
    // One barrier per boundary, not one edge per pair.
    let barriers = full
        .graph
        .nodes
        .iter()
        .filter(|n| matches!(n, Node::Barrier { .. }))
        .count();
    assert_eq!(barriers, 2);
    let graph_mode = plan_with(
        &[
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n".to_string(),
            deployment("db", "", &container("postgres:16", "")),
        ]
        .concat(),
        Ordering::Graph,
    )
    .unwrap();
    assert!(
        graph_mode.graph.needs.iter().all(Vec::is_empty),
        "graph mode: unrelated objects wait for nothing"
    );
}

#[test]
fn sync_waves_order_objects_inside_a_tier() {
    let yaml = [
        deployment(
            "late",
            "  annotations: {argocd.argoproj.io/sync-wave: \"5\"}\n",
            &container("api:1", ""),
        ),
        deployment(
            "early",
            "  annotations: {argocd.argoproj.io/sync-wave: \"-1\"}\n",
            &container("api:1", ""),
        ),
        deployment("plain", "", &container("api:1", "")),
    ]
    .concat();
    let p = plan_with(&yaml, Ordering::Graph).unwrap();
    let order: Vec<String> = p
        .order
        .iter()
        .map(|&i| short(&p.objects[i].object.id))
        .collect();
    assert_eq!(
        order,
        ["Deployment/early", "Deployment/plain", "Deployment/late"]
    );
    let late = index_of(&p, "Deployment/late");
    assert!(
        !p.graph.needs[late].is_empty(),
        "wave 5 waits for the wave-0 barrier"
    );
}

#[test]
fn inferred_edge_against_tier_order_is_dropped_with_a_warning() {
    // The backend names the frontend's Service: tier order wins.
    let api = container(
        "api:1",
        "          env: [{name: WEB_URL, value: \"http://web:80\"}]\n",
    );
    // api has a Service, so it is not a client of the frontend (a load generator) but a
    // backend that names it.
    let yaml = [
        deployment("api", "", &api),
        service("api", "api"),
        deployment("web", "", &container("nginx:1", "")),
        service("web", "web"),
    ]
    .concat();
    let p = plan(&yaml);
    assert!(edge(&p, "Deployment/api", "Deployment/web").is_none());
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("ignored Deployment/shop/api -> Deployment/shop/web")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn a_cycle_with_a_load_generator_puts_the_load_generator_last() {
    // OpenTelemetry's demo: the load generator calls the proxy, and the proxy routes
    // /loadgen/ to the load generator's web UI. Both edges are env names of one strength.
    // Either way round, and whatever the names sort as, the load generator goes last.
    for (proxy, loader) in [
        ("frontend-proxy", "load-generator"),
        ("a-proxy", "z-loader"),
    ] {
        let proxy_pod = container(
            "envoyproxy/envoy:v1.30",
            &format!("          env: [{{name: LOCUST_WEB_HOST, value: {loader}}}]\n"),
        );
        let loader_pod = container(
            "locustio/locust:2.31",
            &format!("          env: [{{name: LOCUST_HOST, value: \"http://{proxy}:8080\"}}]\n"),
        );
        let yaml = [
            deployment(proxy, "", &proxy_pod),
            deployment(loader, "", &loader_pod),
            service(proxy, proxy),
            service(loader, loader),
        ]
        .concat();
        let p = plan(&yaml);
        let (p_id, l_id) = (
            format!("Deployment/{proxy}"),
            format!("Deployment/{loader}"),
        );
        assert_eq!(
            edge(&p, &l_id, &p_id).map(|e| e.0),
            Some(Rule::NamesService),
            "{proxy}: the loader waits for the proxy: {:?} {:?}",
            p.edges,
            p.warnings
        );
        assert!(edge(&p, &p_id, &l_id).is_none(), "{proxy}: {:?}", p.edges);
        assert!(index_of(&p, &p_id) < index_of(&p, &l_id));
        if proxy == "frontend-proxy" {
            // The proxy is a frontend (by name): the loader is its client, in the same tier.
            assert_eq!(
                tier(&p, &l_id),
                (Tier::Frontend, TierRule::FrontendClient),
                "called back, and still a client of the frontends"
            );
        }
        assert!(
            p.warnings.iter().any(|w| w.contains(&format!(
                "dropped the edge into Deployment/shop/{loader}, a load generator ("
            ))),
            "{:?}",
            p.warnings
        );
    }
}

#[test]
fn inferred_cycle_drops_its_weakest_edge() {
    // a names b in a config file (weakest), b names a in env: the config-file edge goes.
    let a = container(
        "api:1",
        "      volumes: [{name: c, configMap: {name: a-conf}}]\n",
    );
    let b = container("api:1", "          env: [{name: A_HOST, value: a}]\n");
    let yaml = [
        deployment("a", "", &a),
        deployment("b", "", &b),
        service("a", "a"),
        service("b", "b"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a-conf}\ndata:\n  conf: |\n    upstream http://b:80\n".into(),
    ]
    .concat();
    let p = plan(&yaml);
    assert!(edge(&p, "Deployment/a", "Deployment/b").is_none());
    assert_eq!(
        edge(&p, "Deployment/b", "Deployment/a").map(|e| e.0),
        Some(Rule::NamesService)
    );
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("dependency cycle") && w.contains("dropped the weakest")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn explicit_dependencies_and_their_errors() {
    let ok = [
        deployment("api", "  annotations: {ordo.dev/depends-on: \"Job/migrate, deployment/shop/worker\"}\n", &container("api:1", "")),
        deployment("worker", "", &container("api:1", "")),
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec: {template: {spec: {containers: [{name: m, image: api:1}]}}}\n".into(),
    ]
    .concat();
    let p = plan(&ok);
    assert_eq!(
        edge(&p, "Deployment/api", "Job/migrate").map(|e| e.0),
        Some(Rule::DependsOn)
    );
    assert_eq!(
        edge(&p, "Deployment/api", "Deployment/worker").map(|e| e.0),
        Some(Rule::DependsOn)
    );

    let bad: &[(&str, &[&str])] = &[
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {ordo.dev/tier: middleware}}\n",
            &[
                "app.yaml document 0",
                "ConfigMap/shop/a",
                "\"middleware\"",
                "config, database, backend, frontend, monitoring",
            ],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {ordo.dev/depends-on: \"Secret/missing\"}}\n",
            &["ConfigMap/shop/a", "\"Secret/missing\"", "not in this set"],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {ordo.dev/depends-on: \"just-a-name\"}}\n",
            &["Kind/name or Kind/namespace/name"],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {argocd.argoproj.io/sync-wave: soon}}\n",
            &["sync-wave", "\"soon\"", "not an integer"],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {ordo.dev/depends-on: ConfigMap/b}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, annotations: {ordo.dev/depends-on: ConfigMap/a}}\n",
            &[
                "dependency cycle",
                "ConfigMap/shop/a -> ConfigMap/shop/b",
                "-> ConfigMap/shop/a",
            ],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {ordo.dev/depends-on: Deployment/api}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {template: {spec: {containers: [{name: a, image: api:1}]}}}\n",
            &[
                "dependency cycle",
                "ConfigMap/shop/a -> Deployment/shop/api",
                "comes after",
            ],
        ),
    ];
    for (yaml, want) in bad {
        let err = plan_with(yaml, Ordering::Tiers)
            .expect_err(yaml)
            .to_string();
        for w in *want {
            assert!(err.contains(w), "{err:?} should contain {w:?}");
        }
    }
}

#[test]
fn config_hash_changes_with_data_not_key_order_and_can_be_disabled() {
    let pod = container(
        "api:1",
        "          envFrom: [{configMapRef: {name: cfg}}]\n",
    );
    let with = |data: &str, meta: &str| {
        let p = plan(
            &[
                deployment("api", meta, &pod),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg}}\ndata: {data}\n"),
            ]
            .concat(),
        );
        p.objects[index_of(&p, "Deployment/api")]
            .config_hash
            .clone()
    };
    let a = with("{x: \"1\", y: \"2\"}", "");
    assert_eq!(a.as_deref().map(str::len), Some(64));
    assert_eq!(a, with("{y: \"2\", x: \"1\"}", ""));
    assert_ne!(a, with("{x: \"1\", y: \"3\"}", ""));
    assert_eq!(
        with(
            "{x: \"1\"}",
            "  annotations: {ordo.dev/config-hash: disabled}\n"
        ),
        None
    );
}

/// The plan of a directory of the repository (examples, fixtures), as `ordo plan` reads it.
pub(super) fn plan_dir(dir: &str, namespace: &str) -> Plan {
    let snapshot = crate::source::read_dir(
        std::path::Path::new(dir),
        &crate::source::Selection::default(),
    )
    .expect("fixture reads");
    let objects = manifest::load(&snapshot.files, namespace).expect("fixture loads");
    build(objects, Ordering::Tiers).expect("fixture plans")
}

#[test]
fn travel_app_plans_config_database_backend_frontend_monitoring() {
    let snapshot = crate::source::read_dir(
        std::path::Path::new("examples/travel-app"),
        &crate::source::Selection::default(),
    )
    .expect("example reads");
    let objects = manifest::load(&snapshot.files, "default").expect("example loads");
    let p = build(objects, Ordering::Tiers).expect("example plans");
    let tiers: Vec<Tier> = p.order.iter().map(|&i| p.objects[i].tier).collect();
    let mut sorted = tiers.clone();
    sorted.sort();
    assert_eq!(tiers, sorted, "steps come tier by tier");
    for t in Tier::ALL {
        assert!(tiers.contains(&t), "{t} has objects");
    }
    let expect = [
        ("StatefulSet/postgres", Tier::Database),
        ("Deployment/backend", Tier::Backend),
        ("Deployment/frontend", Tier::Frontend),
        ("Ingress/travel", Tier::Frontend),
        ("Deployment/prometheus", Tier::Monitoring),
        ("Deployment/grafana", Tier::Monitoring),
        ("ConfigMap/backend-config", Tier::Config),
    ];
    for (id, want) in expect {
        assert_eq!(tier(&p, id).0, want, "{id}");
    }
    assert_eq!(
        edge(&p, "Deployment/backend", "StatefulSet/postgres")
            .map(|e| e.1)
            .as_deref(),
        Some("ConfigMap/backend-config key DB_HOST names Service/postgres")
    );
    assert_eq!(
        edge(&p, "Deployment/frontend", "Deployment/backend").map(|e| e.0),
        Some(Rule::ConfigFileNamesService)
    );
    assert_eq!(
        edge(&p, "Deployment/grafana", "Deployment/prometheus").map(|e| e.0),
        Some(Rule::ConfigFileNamesService)
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}
