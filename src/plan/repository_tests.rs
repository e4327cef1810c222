//! Tiers and edges on the shapes real repositories have: hosts on command lines.

use super::tests::{container, deployment, edge, plan, service};
use super::*;

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
                "command line connects to Service/postgres (postgresql://app:pw@postgres.shop:5432/app)",
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
