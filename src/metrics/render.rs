//! The `/metrics` exposition (OpenMetrics text): the event counters of [`Metrics`], then what
//! is derived at scrape time from the app snapshots, the API request counter and `/proc`, then
//! `# EOF`. The derived part is built in a fresh registry per scrape, so a value can never be
//! stale and a gone series simply disappears.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;
use crate::cluster::RequestKey;
use crate::diff::SyncStatus;
use crate::health::HealthStatus;

/// One app as the metrics see it: plain values, filled by the agent from its snapshot, so this
/// module knows nothing of the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSample {
    pub name: String,
    /// Without user info: labels end up in dashboards and long-term storage.
    pub repo: String,
    pub reference: String,
    /// The synced commit, "" before the first.
    pub revision: String,
    pub sync_status: SyncStatus,
    pub health: HealthStatus,
    /// Unix time the last sync finished.
    pub last_sync_finished: Option<f64>,
    pub resources: Vec<ResourceSample>,
}

/// One object of an app.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSample {
    pub tier: &'static str,
    /// `None` when not assessed yet (never applied, or a hook).
    pub health: Option<HealthStatus>,
    pub sync: SyncStatus,
    /// For a Degraded resource, the kind of trouble its message tells (a bounded set, see
    /// `health::why::reason_label`).
    pub reason: Option<&'static str>,
}

/// What Prometheus asks for first, and what the exposition is (prometheus-client writes the
/// OpenMetrics form: counters end in `_total`, the text ends with `# EOF`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every value of the state-set gauges, so each app has one series per status and a query
/// like `ordo_app_health_status{status="Degraded"} == 1` needs no `absent()`. Keep in step
/// with the enums.
const HEALTH: [HealthStatus; 6] = [
    HealthStatus::Healthy,
    HealthStatus::Progressing,
    HealthStatus::Degraded,
    HealthStatus::Suspended,
    HealthStatus::Missing,
    HealthStatus::Unknown,
];
const SYNC: [SyncStatus; 4] = [
    SyncStatus::Synced,
    SyncStatus::OutOfSync,
    SyncStatus::Missing,
    SyncStatus::Extraneous,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppInfo {
    app: String,
    repo: String,
    r#ref: String,
    revision: String,
    sync_status: String,
    health_status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppStatus {
    app: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabel {
    app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    app: String,
    tier: String,
    health_status: String,
    sync_status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    code: String,
    dry_run: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DegradedLabels {
    app: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The whole scrape: event metrics, derived metrics, process metrics, `# EOF`.
pub fn exposition(
    metrics: &Metrics,
    apps: &[AppSample],
    requests: &BTreeMap<RequestKey, u64>,
) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    metrics.encode_events(&mut out)?;
    encode_registry(&mut out, &derived(apps, requests))?;
    if let Some(process) = Process::read() {
        encode_registry(&mut out, &process.registry())?;
    }
    encode_eof(&mut out)?;
    Ok(out)
}

/// The gauges and counters that describe the current state. Pure.
fn derived(apps: &[AppSample], requests: &BTreeMap<RequestKey, u64>) -> Registry {
    let mut registry = Registry::default();
    let info = Family::<AppInfo, Gauge>::default();
    let health = Family::<AppStatus, Gauge>::default();
    let sync = Family::<AppStatus, Gauge>::default();
    let last_sync = Family::<AppLabel, FloatGauge>::default();
    let resources = Family::<ResourceLabels, Gauge>::default();
    let degraded = Family::<DegradedLabels, Gauge>::default();
    for app in apps {
        info.get_or_create(&AppInfo {
            app: app.name.clone(),
            repo: app.repo.clone(),
            r#ref: app.reference.clone(),
            revision: app.revision.clone(),
            sync_status: app.sync_status.to_string(),
            health_status: app.health.to_string(),
        })
        .set(1);
        for status in HEALTH {
            let labels = AppStatus {
                app: app.name.clone(),
                status: status.to_string(),
            };
            health
                .get_or_create(&labels)
                .set(i64::from(status == app.health));
        }
        for status in SYNC {
            let labels = AppStatus {
                app: app.name.clone(),
                status: status.to_string(),
            };
            sync.get_or_create(&labels)
                .set(i64::from(status == app.sync_status));
        }
        if let Some(finished) = app.last_sync_finished {
            let labels = AppLabel {
                app: app.name.clone(),
            };
            last_sync.get_or_create(&labels).set(finished);
        }
        for r in &app.resources {
            let labels = ResourceLabels {
                app: app.name.clone(),
                tier: r.tier.to_owned(),
                // Not assessed yet (never applied, or hooks) reads as Unknown.
                health_status: r.health.unwrap_or(HealthStatus::Unknown).to_string(),
                sync_status: r.sync.to_string(),
            };
            resources.get_or_create(&labels).inc();
            if let Some(reason) = r.reason {
                let labels = DegradedLabels {
                    app: app.name.clone(),
                    reason: reason.to_owned(),
                };
                degraded.get_or_create(&labels).inc();
            }
        }
    }
    let kube = Family::<RequestLabels, Counter>::default();
    for (key, n) in requests {
        let labels = RequestLabels {
            verb: key.verb.to_owned(),
            code: key.code.to_string(),
            dry_run: key.dry_run.to_string(),
        };
        kube.get_or_create(&labels).inc_by(*n);
    }
    let build = Family::<VersionLabel, Gauge>::default();
    build
        .get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .set(1);
    registry.register(
        "ordo_app_info",
        "The app's repository, ref and current revision and status; always 1",
        info,
    );
    registry.register(
        "ordo_app_health_status",
        "1 for the app's current health status, 0 for the others",
        health,
    );
    registry.register(
        "ordo_app_sync_status",
        "1 for the app's current sync status, 0 for the others",
        sync,
    );
    registry.register(
        "ordo_app_last_sync_timestamp_seconds",
        "Unix time the app's last sync finished",
        last_sync,
    );
    registry.register(
        "ordo_resources",
        "Objects of each app by tier, health and sync status",
        resources,
    );
    registry.register(
        "ordo_resources_degraded",
        "Degraded objects of each app by the kind of trouble their message tells (ImagePull, CrashLoop, Unschedulable, ProbeFailed, …, Other)",
        degraded,
    );
    // Counters get `_total` appended by the encoder.
    registry.register(
        "ordo_kube_requests",
        "Requests to the Kubernetes API server by verb, HTTP status (0: no answer) and dry run",
        kube,
    );
    registry.register(
        "ordo_build_info",
        "The running ordo's version; always 1",
        build,
    );
    registry
}

/// The standard `process_*` metrics, as every Prometheus client library exports them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Process {
    cpu_seconds: f64,
    resident_bytes: Option<u64>,
    virtual_bytes: u64,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    start_time_seconds: Option<f64>,
}

/// `/proc` reports CPU times in USER_HZ ticks, which the kernel ABI fixes at 100 whatever the
/// kernel's own HZ (the Prometheus Go client's procfs assumes the same).
const USER_HZ: f64 = 100.0;

impl Process {
    /// `None` where there is no `/proc` (not Linux).
    fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let mut process = Process::from_stat(&stat)?;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        process.resident_bytes = kilobytes(&status, "VmRSS:");
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        process.max_fds = max_open_files(&limits);
        process.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        let boot = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let started_ticks = stat_fields(&stat).and_then(|f| f.get(19)?.parse::<f64>().ok());
        process.start_time_seconds = boot_time(&boot)
            .zip(started_ticks)
            .map(|(boot, ticks)| boot + ticks / USER_HZ);
        Some(process)
    }

    /// CPU time and virtual size from `/proc/self/stat`.
    fn from_stat(stat: &str) -> Option<Process> {
        let fields = stat_fields(stat)?;
        let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
        Some(Process {
            cpu_seconds: (ticks(11)? + ticks(12)?) / USER_HZ,
            virtual_bytes: fields.get(20)?.parse().ok()?,
            ..Process::default()
        })
    }

    fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        let cpu = Counter::<f64, AtomicU64>::default();
        cpu.inc_by(self.cpu_seconds);
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            cpu,
        );
        let gauge = |value: f64| {
            let g = FloatGauge::default();
            g.set(value);
            g
        };
        if let Some(rss) = self.resident_bytes {
            registry.register(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                gauge(rss as f64),
            );
        }
        registry.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            gauge(self.virtual_bytes as f64),
        );
        if let Some(open) = self.open_fds {
            registry.register(
                "process_open_fds",
                "Number of open file descriptors",
                gauge(open as f64),
            );
        }
        if let Some(max) = self.max_fds {
            registry.register(
                "process_max_fds",
                "Maximum number of open file descriptors",
                gauge(max as f64),
            );
        }
        if let Some(start) = self.start_time_seconds {
            registry.register(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                gauge(start),
            );
        }
        registry
    }
}

/// The fields of `/proc/<pid>/stat` after the command name, which may itself contain spaces
/// and parentheses: index 0 is field 3 (state) of proc(5).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

/// A `Key:   123 kB` line of `/proc/self/status`, in bytes.
fn kilobytes(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft limit of `Max open files` in `/proc/self/limits`; `None` when unlimited.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `btime` of `/proc/stat`: boot time in Unix seconds.
fn boot_time(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppSample {
        let resource = |health| ResourceSample {
            tier: "backend",
            health,
            sync: SyncStatus::Synced,
            reason: None,
        };
        AppSample {
            name: "shop".into(),
            repo: "https://git.example.com/acme/shop.git".into(),
            reference: "main".into(),
            revision: "abc1234".into(),
            sync_status: SyncStatus::Synced,
            health: HealthStatus::Progressing,
            last_sync_finished: Some(1_700_000_012.5),
            resources: vec![
                resource(Some(HealthStatus::Healthy)),
                resource(Some(HealthStatus::Healthy)),
                resource(None),
                ResourceSample {
                    reason: Some("ImagePull"),
                    ..resource(Some(HealthStatus::Degraded))
                },
            ],
        }
    }

    fn render() -> String {
        let requests = BTreeMap::from([
            (
                RequestKey {
                    verb: "patch",
                    dry_run: true,
                    code: 200,
                },
                7,
            ),
            (
                RequestKey {
                    verb: "get",
                    dry_run: false,
                    code: 404,
                },
                2,
            ),
        ]);
        let metrics = Metrics::new();
        metrics.register_app("shop");
        exposition(&metrics, &[app()], &requests).unwrap_or_default()
    }

    #[test]
    fn derived_families_describe_the_snapshot() {
        let text = render();
        let expected = [
            "ordo_app_info{app=\"shop\",repo=\"https://git.example.com/acme/shop.git\",ref=\"main\",revision=\"abc1234\",sync_status=\"Synced\",health_status=\"Progressing\"} 1",
            "ordo_app_health_status{app=\"shop\",status=\"Progressing\"} 1",
            "ordo_app_health_status{app=\"shop\",status=\"Healthy\"} 0",
            "ordo_app_health_status{app=\"shop\",status=\"Degraded\"} 0",
            "ordo_app_sync_status{app=\"shop\",status=\"Synced\"} 1",
            "ordo_app_sync_status{app=\"shop\",status=\"Extraneous\"} 0",
            "ordo_app_last_sync_timestamp_seconds{app=\"shop\"} 1700000012.5",
            "ordo_resources{app=\"shop\",tier=\"backend\",health_status=\"Healthy\",sync_status=\"Synced\"} 2",
            "ordo_resources_degraded{app=\"shop\",reason=\"ImagePull\"} 1",
            "ordo_resources{app=\"shop\",tier=\"backend\",health_status=\"Unknown\",sync_status=\"Synced\"} 1",
            "ordo_kube_requests_total{verb=\"patch\",code=\"200\",dry_run=\"true\"} 7",
            "ordo_kube_requests_total{verb=\"get\",code=\"404\",dry_run=\"false\"} 2",
            "# TYPE ordo_kube_requests counter",
            "ordo_app_sync_total{app=\"shop\",result=\"Succeeded\"} 0",
        ];
        for line in expected {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(
            text.contains(&format!(
                "ordo_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[test]
    fn every_family_is_declared_once() {
        let text = render();
        let mut types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let all = types.len();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), all, "a family is declared twice:\n{text}");
    }

    #[test]
    fn process_metrics_come_from_proc() {
        let stat = "4242 (ordo (agent) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 12345 987654321 3000 18446744073709551615";
        let process = Process::from_stat(stat).unwrap_or_default();
        assert!((process.cpu_seconds - 3.0).abs() < 1e-9, "{process:?}");
        assert_eq!(process.virtual_bytes, 987_654_321);
        assert_eq!(
            stat_fields(stat).and_then(|f| f.get(19).map(|s| s.to_string())),
            Some("12345".to_owned())
        );
        assert_eq!(
            kilobytes("Name:\tordo\nVmRSS:\t   2048 kB\n", "VmRSS:"),
            Some(2048 * 1024)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );

        // On Linux the live process is readable and sane.
        if cfg!(target_os = "linux") {
            let text = render();
            for family in [
                "process_cpu_seconds_total ",
                "process_resident_memory_bytes ",
                "process_virtual_memory_bytes ",
                "process_open_fds ",
                "process_max_fds ",
                "process_start_time_seconds ",
            ] {
                assert!(
                    text.lines().any(|l| l.starts_with(family)),
                    "{family} in\n{text}"
                );
            }
        }
    }
}
