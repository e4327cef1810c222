//! Tiers and edges on the shapes real repositories have: frontends with custom images that only
//! their exposure or name gives away, hosts on command lines, database clients run as jobs.

use super::tests::{container, deployment, edge, index_of, plan, service, tier};
use super::*;

fn exposed_service(name: &str, selects: &str, kind: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: {kind}\n  selector: {{app: {selects}}}\n  ports: [{{port: 80}}]\n---\n"
    )
}

fn ingress(name: &str, service: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}}}\nspec:\n  rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}]}}}}]\n---\n"
    )
}

/// A Job (or CronJob) whose one container runs `image` with `command` (YAML flow list).
fn job(kind: &str, name: &str, image: &str, command: &str) -> String {
    let pod = format!(
        "{{spec: {{restartPolicy: Never, containers: [{{name: main, image: \"{image}\", command: {command}}}]}}}}"
    );
    match kind {
        "CronJob" => format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {name}}}\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate: {{spec: {{template: {pod}}}}}\n---\n"
        ),
        _ => format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  template: {pod}\n---\n"
        ),
    }
}

fn reason_of(plan: &Plan, id: &str) -> String {
    plan.objects[index_of(plan, id)].tier_reason.message.clone()
}

#[test]
fn frontends_are_found_by_exposure_and_name_below_labels_and_images() {
    let yaml = [
        deployment("shop", "", &container("shop/server:1", "")),
        exposed_service("shop-external", "shop", "LoadBalancer"),
        deployment("store", "", &container("shop/store:1", "")),
        exposed_service("store", "store", "NodePort"),
        deployment("portal", "", &container("shop/portal:1", "")),
        service("portal", "portal"),
        ingress("public", "portal"),
        deployment("internal", "", &container("shop/internal:1", "")),
        exposed_service("internal", "internal", "ClusterIP"),
        // A database opened on a NodePort for a desktop client is still the database.
        deployment("pg", "", &container("postgres:16", "")),
        exposed_service("pg", "pg", "NodePort"),
        // An explicit label beats exposure.
        deployment(
            "gateway",
            "  labels: {app.kubernetes.io/component: api}\n",
            &container("shop/gateway:1", ""),
        ),
        exposed_service("gateway", "gateway", "LoadBalancer"),
        // Exposure beats a name.
        deployment("admin-ui", "", &container("shop/admin:1", "")),
        exposed_service("admin-ui", "admin-ui", "NodePort"),
        deployment("shop-frontend", "", &container("shop/web:1", "")),
        deployment("web", "", &container("shop/web:1", "")),
        deployment("webhook", "", &container("shop/hook:1", "")),
        deployment("uid-service", "", &container("shop/uid:1", "")),
        deployment("builder", "", &container("shop/builder:1", "")),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: storefront-7, labels: {app.kubernetes.io/name: www}}\nspec: {template: {spec: {containers: [{name: a, image: shop/www:1}]}}}\n---\n".into(),
    ]
    .concat();
    let p = plan(&yaml);
    let cases: &[(&str, Tier, TierRule, &str)] = &[
        (
            "Deployment/shop",
            Tier::Frontend,
            TierRule::Exposure,
            "reached from outside through Service/shop-external (LoadBalancer)",
        ),
        (
            "Service/shop-external",
            Tier::Frontend,
            TierRule::FollowsWorkload,
            "follows Deployment/shop (frontend)",
        ),
        (
            "Deployment/store",
            Tier::Frontend,
            TierRule::Exposure,
            "reached from outside through Service/store (NodePort)",
        ),
        (
            "Deployment/portal",
            Tier::Frontend,
            TierRule::Exposure,
            "backend of Ingress/public through Service/portal",
        ),
        (
            "Deployment/internal",
            Tier::Backend,
            TierRule::Default,
            "workloads default to backend",
        ),
        (
            "Deployment/pg",
            Tier::Database,
            TierRule::Image,
            "image postgres:16 is database",
        ),
        (
            "Deployment/gateway",
            Tier::Backend,
            TierRule::ComponentLabel,
            "label app.kubernetes.io/component=api",
        ),
        (
            "Deployment/admin-ui",
            Tier::Frontend,
            TierRule::Exposure,
            "reached from outside through Service/admin-ui (NodePort)",
        ),
        (
            "Deployment/shop-frontend",
            Tier::Frontend,
            TierRule::Name,
            "named \"shop-frontend\"",
        ),
        (
            "Deployment/web",
            Tier::Frontend,
            TierRule::Name,
            "named \"web\"",
        ),
        (
            "Deployment/storefront-7",
            Tier::Frontend,
            TierRule::Name,
            "named \"www\" (label app.kubernetes.io/name)",
        ),
        (
            "Deployment/webhook",
            Tier::Backend,
            TierRule::Default,
            "workloads default to backend",
        ),
        (
            "Deployment/uid-service",
            Tier::Backend,
            TierRule::Default,
            "workloads default to backend",
        ),
        (
            "Deployment/builder",
            Tier::Backend,
            TierRule::Default,
            "workloads default to backend",
        ),
    ];
    for (id, want_tier, want_rule, want_reason) in cases {
        assert_eq!(tier(&p, id), (*want_tier, *want_rule), "{id}");
        assert_eq!(reason_of(&p, id), *want_reason, "{id}");
    }
}

#[test]
fn component_label_values_map_to_tiers() {
    let cases = [
        ("frontend", Tier::Frontend),
        ("web", Tier::Frontend),
        ("ui", Tier::Frontend),
        ("database", Tier::Database),
        ("db", Tier::Database),
        ("cache", Tier::Database),
        ("backend", Tier::Backend),
        ("api", Tier::Backend),
        ("server", Tier::Backend),
        ("monitoring", Tier::Monitoring),
        ("metrics", Tier::Monitoring),
    ];
    for (value, want) in cases {
        let meta = format!("  labels: {{app.kubernetes.io/component: {value}}}\n");
        let p = plan(&deployment("x", &meta, &container("shop/x:1", "")));
        assert_eq!(
            tier(&p, "Deployment/x"),
            (want, TierRule::ComponentLabel),
            "{value}"
        );
    }
}

#[test]
fn hosts_on_command_lines_become_edges() {
    let pod = |command: &str| container("shop/tool:1", &format!("          command: {command}\n"));
    let yaml = [
        deployment("pg", "", &container("postgres:16", "")),
        service("postgres", "pg"),
        deployment("cache", "", &container("redis:7", "")),
        service("redis", "cache"),
        deployment("docs", "", &container("mongo:7", "")),
        service("mongo", "docs"),
        deployment("dump", "", &pod("[sh, -c, \"pg_dump -h postgres -U app app | gzip > /b/app.gz\"]")),
        deployment("ping", "", &pod("[redis-cli, --host=redis, ping]")),
        deployment("shell", "", &pod("[mongosh, --host, mongo.shop.svc.cluster.local]")),
        deployment("check", "", &pod("[/bin/sh, -c, \"psql 'postgresql://app:pw@postgres.shop:5432/app' -c 'select 1'\"]")),
        deployment("user", "", &pod("[sh, -c, \"psql -U postgres -d app\"]")),
    ]
    .concat();
    let p = plan(&yaml);
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "Deployment/dump",
            "Deployment/pg",
            Some("command line connects to Service/postgres (-h postgres)"),
        ),
        (
            "Deployment/ping",
            "Deployment/cache",
            Some("command line connects to Service/redis (--host=redis)"),
        ),
        (
            "Deployment/shell",
            "Deployment/docs",
            Some("command line connects to Service/mongo (--host mongo.shop.svc.cluster.local)"),
        ),
        (
            "Deployment/check",
            "Deployment/pg",
            Some(
                "command line connects to Service/postgres (postgresql://app:***@postgres.shop:5432/app)",
            ),
        ),
        // A user named postgres is not a host.
        ("Deployment/user", "Deployment/pg", None),
    ];
    for (from, to, want) in cases {
        let got = edge(&p, from, to);
        assert_eq!(got.as_ref().map(|e| e.1.as_str()), *want, "{from} -> {to}");
        if want.is_some() {
            assert_eq!(got.map(|e| e.0), Some(Rule::NamesService), "{from} -> {to}");
        }
    }
}

#[test]
fn a_keyword_connection_string_names_its_server_whatever_the_variable() {
    let env = |value: &str| {
        container(
            "shop/api:1",
            &format!("          env: [{{name: ConnectionStrings__Default, value: \"{value}\"}}]\n"),
        )
    };
    let yaml = [
        deployment("pg", "", &container("postgres:16", "")),
        service("postgresql", "pg"),
        deployment(
            "api",
            "",
            &env("Host=postgresql;Username=app;Password=hunter2;Database=app"),
        ),
        deployment(
            "libpq",
            "",
            &env("host=postgresql port=5432 password=hunter2"),
        ),
    ]
    .concat();
    let p = plan(&yaml);
    for from in ["Deployment/api", "Deployment/libpq"] {
        let got = edge(&p, from, "Deployment/pg").map(|e| e.1);
        assert_eq!(
            got.as_deref(),
            Some("env ConnectionStrings__Default names Service/postgresql"),
            "{from}"
        );
    }
}

#[test]
fn database_client_jobs_are_backend_after_their_database() {
    let yaml = [
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: postgres}\nspec:\n  serviceName: postgres\n  selector: {matchLabels: {app: postgres}}\n  template:\n    metadata: {labels: {app: postgres}}\n    spec: {containers: [{name: pg, image: \"postgres:16\"}]}\n---\n".to_string(),
        service("postgres", "postgres"),
        deployment("redis", "", &container("redis:7", "")),
        service("redis", "redis"),
        job("CronJob", "backup", "postgres:16-alpine", "[pg_dump, -h, postgres, -U, app, -f, /backup/app.sql]"),
        job("Job", "seed", "postgres:16", "[sh, -c, \"psql postgresql://app@postgres:5432/app -f /seed.sql\"]"),
        job("Job", "flush", "redis:7", "[redis-cli, --host, redis, flushall]"),
        // Names no database of the set: its image says database, nothing says client.
        job("Job", "lonely", "postgres:16", "[psql, -h, elsewhere.example.org]"),
        // A custom image running pg_dump: backend by default, still after the database.
        job("CronJob", "export", "shop/tools:1", "[sh, -c, \"pg_dump -h postgres app > /out.sql\"]"),
        // A replica names its primary: a Deployment is not a client, it stays database.
        deployment("redis-replica", "", &container("redis:7", "          args: [--replicaof, redis, \"6379\"]\n")),
    ]
    .concat();
    let p = plan(&yaml);
    let cases: &[(&str, Tier, TierRule, Option<&str>)] = &[
        (
            "CronJob/backup",
            Tier::Backend,
            TierRule::DatabaseClient,
            Some("StatefulSet/postgres"),
        ),
        (
            "Job/seed",
            Tier::Backend,
            TierRule::DatabaseClient,
            Some("StatefulSet/postgres"),
        ),
        (
            "Job/flush",
            Tier::Backend,
            TierRule::DatabaseClient,
            Some("Deployment/redis"),
        ),
        ("Job/lonely", Tier::Database, TierRule::Image, None),
        (
            "CronJob/export",
            Tier::Backend,
            TierRule::Default,
            Some("StatefulSet/postgres"),
        ),
        (
            "Deployment/redis-replica",
            Tier::Database,
            TierRule::Image,
            None,
        ),
    ];
    for (id, want_tier, want_rule, after) in cases {
        assert_eq!(tier(&p, id), (*want_tier, *want_rule), "{id}");
        if let Some(db) = after {
            assert!(edge(&p, id, db).is_some(), "{id} -> {db}");
            let step = |x: &str| p.objects[index_of(&p, x)].step;
            assert!(step(id) > step(db), "{id} runs after {db}");
        }
    }
    assert_eq!(
        reason_of(&p, "CronJob/backup"),
        "runs a database client against Service/postgres"
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

fn boutique() -> Plan {
    super::tests::plan_dir("tests/fixtures/online-boutique", "boutique")
}

#[test]
fn online_boutique_puts_its_frontend_last_and_its_cart_store_first() {
    let p = boutique();
    let cases = [
        ("Deployment/frontend", Tier::Frontend, TierRule::Exposure),
        (
            "Service/frontend-external",
            Tier::Frontend,
            TierRule::FollowsWorkload,
        ),
        ("Deployment/redis-cart", Tier::Database, TierRule::Image),
        ("Deployment/cartservice", Tier::Backend, TierRule::Default),
        (
            "Deployment/checkoutservice",
            Tier::Backend,
            TierRule::Default,
        ),
        (
            "Deployment/loadgenerator",
            Tier::Frontend,
            TierRule::FrontendClient,
        ),
    ];
    for (id, want_tier, want_rule) in cases {
        assert_eq!(tier(&p, id), (want_tier, want_rule), "{id}");
    }
    assert_eq!(
        reason_of(&p, "Deployment/frontend"),
        "reached from outside through Service/frontend-external (LoadBalancer)"
    );
    assert_eq!(
        edge(&p, "Deployment/cartservice", "Deployment/redis-cart").map(|e| e.1),
        Some("env REDIS_ADDR names Service/redis-cart".to_owned())
    );
    for service in [
        "productcatalogservice",
        "currencyservice",
        "cartservice",
        "recommendationservice",
        "shippingservice",
        "checkoutservice",
        "adservice",
    ] {
        let to = format!("Deployment/{service}");
        assert_eq!(
            edge(&p, "Deployment/frontend", &to).map(|e| e.0),
            Some(Rule::NamesService),
            "frontend -> {service}"
        );
    }
    assert!(edge(&p, "Deployment/loadgenerator", "Deployment/frontend").is_some());
    let step = |id: &str| p.objects[index_of(&p, id)].step;
    assert!(step("Deployment/loadgenerator") > step("Deployment/frontend"));
    assert!(step("Deployment/cartservice") > step("Deployment/redis-cart"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}
