//! The PrometheusRule's alerts under `promtool test rules`, the dashboard's queries and
//! layout, and the series both read, checked against a running agent's /metrics.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{kubeconfig, unique};
use crate::support::*;

#[test]
fn the_alerts_fire_on_the_conditions_they_name_and_only_then() {
    // Offline: release `ordo` in `ordo-system`, as tests/chart/alerts.test.yaml expects.
    let mut values = with_apps(vec![one_app("shop")]);
    values["prometheusRule"] = json!({"enabled": true});
    let r = render("ordo", "ordo-system", &values);
    let rule = r.one("PrometheusRule", "ordo");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        serde_json::to_string_pretty(&json!({"groups": rule["spec"]["groups"]})).unwrap(),
    )
    .unwrap();
    let check = ok(promtool().args(["check", "rules"]).arg(&rules));
    assert!(check.contains("SUCCESS: 5 rules found"), "{check}");
    let tests = dir.path().join("alerts.test.yaml");
    std::fs::copy(fixture("alerts.test.yaml"), &tests).unwrap();
    let out = output(promtool().args(["test", "rules"]).arg(&tests));
    assert!(
        out.status.success(),
        "promtool test rules:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every panel, those inside collapsed rows too.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        out.push(panel);
        if let Some(inner) = panel["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Every series the dashboard and the alerts read, with the labels they group or filter by.
/// tests both that the dashboard covers them and that the agent exports them.
const SERIES: &[(&str, &[&str])] = &[
    ("ordo_app_info", &["app"]),
    ("ordo_app_health_status", &["app", "status"]),
    ("ordo_app_sync_status", &["app", "status"]),
    ("ordo_app_sync_total", &["app", "result"]),
    ("ordo_app_sync_duration_seconds_bucket", &["app", "le"]),
    ("ordo_app_drift_total", &["app"]),
    ("ordo_app_rollback_total", &["app"]),
    ("ordo_git_fetch_total", &["app", "result"]),
    ("ordo_git_fetch_duration_seconds_bucket", &["app", "le"]),
    ("ordo_kube_requests_total", &["verb", "code"]),
    (
        "ordo_resources",
        &["app", "tier", "health_status", "sync_status"],
    ),
    ("ordo_leader", &[]),
    ("process_resident_memory_bytes", &[]),
    ("process_cpu_seconds_total", &[]),
];

/// Metric names (a word starting `ordo_` or `process_`) in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("ordo_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_dashboard_queries_parse_cover_every_metric_and_fit_the_grid() {
    let dashboard = dashboard_json();
    assert_eq!(dashboard["uid"], "ordo-overview");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "namespace", "job", "app"]);

    let mut exprs = Vec::new();
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [i64; 4])> = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("?").to_owned();
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "panel id of {title} reused"
        );
        let g = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap());
        assert!(
            x >= 0 && w > 0 && h > 0 && x + w <= 24,
            "{title} is off the grid: {g}"
        );
        for (other, [ox, oy, ow, oh]) in &boxes {
            let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
            assert!(apart, "{title} overlaps {other}");
        }
        boxes.push((title.clone(), [x, y, w, h]));
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            exprs.push((title.clone(), target["expr"].as_str().unwrap().to_owned()));
        }
    }

    // Every series the agent exports for people to watch has a panel; nothing else is read.
    let used: BTreeSet<String> = exprs.iter().flat_map(|(_, e)| metric_names(e)).collect();
    for (series, _) in SERIES {
        assert!(used.contains(*series), "no panel shows {series}");
    }
    let known: BTreeSet<&str> = SERIES
        .iter()
        .map(|(s, _)| *s)
        .chain(["ordo_webhook_requests_total"])
        .collect();
    for name in &used {
        assert!(
            known.contains(name.as_str()),
            "the dashboard reads {name}, which ordo does not export"
        );
    }

    // promtool parses every query (Grafana's variables replaced by what they expand to).
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            let promql = expr
                .replace("$__rate_interval", "5m")
                .replace("$namespace", ".*")
                .replace("$job", ".*")
                .replace("$app", ".*");
            json!({"record": format!("dashboard:query_{i}"), "expr": promql})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queries.yaml");
    std::fs::write(
        &file,
        serde_json::to_string(&json!({"groups": [{"name": "dashboard", "rules": rules}]})).unwrap(),
    )
    .unwrap();
    let out = ok(promtool().args(["check", "rules"]).arg(&file));
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}

#[test]
fn the_dashboard_and_alerts_read_series_the_agent_exports() {
    let ns = unique("ordo-chart-metrics");
    let _ns = Namespaces::create(&[&ns]);
    let dir = tempfile::tempdir().unwrap();
    let repo = git_repo(dir.path(), &[("settings.yaml", SETTINGS)]);
    let config = dir.path().join("ordo.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\ncacheDir: {cache}\napps:\n  - name: shop\n    repo: {repo}\n    ref: main\n    namespace: {ns}\n    interval: 1s\n",
            cache = dir.path().join("cache").display(),
            repo = repo.display(),
        ),
    )
    .unwrap();
    let agent = Agent::start(
        &config,
        Path::new(&kubeconfig()),
        &[],
        dir.path().join("agent.log"),
    );
    let address = agent.address();
    let mut metrics = String::new();
    let succeeded = "ordo_app_sync_total{app=\"shop\",result=\"Succeeded\"} ";
    eventually_or(
        "a finished sync in /metrics",
        || {
            metrics = http_get(&address, "/metrics");
            metrics.lines().any(|line| {
                line.strip_prefix(succeeded)
                    .and_then(|n| n.parse::<f64>().ok())
                    .is_some_and(|n| n >= 1.0)
            })
        },
        || format!("agent log:\n{}", agent.log()),
    );
    for (series, labels) in SERIES {
        let found = metrics.lines().any(|line| {
            let Some(rest) = line.strip_prefix(series) else {
                return false;
            };
            (rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|l| rest.contains(&format!("{l}=\"")))
        });
        assert!(
            found,
            "/metrics has no {series} with labels {labels:?}:\n{metrics}\nagent log:\n{}",
            agent.log()
        );
    }
    // ordo_webhook_requests_total has no series before the first webhook: not checked here.
}
