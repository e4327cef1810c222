//! `ordo run` (the agent) and `ordo status` (what the agent recorded, read from the cluster).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tracing::{error, info, warn};

use super::{CliError, EXIT_BAD_INPUT, default_cache_dir};
use crate::agent::{Agent, Persisted, RevisionLookup, lease, store};
use leadership::lead;

mod leadership;
use crate::cluster::Cluster;
use crate::config::{self, Config};
use crate::metrics::Metrics;
use crate::server::ServerState;
use std::sync::Arc;

pub const RUN_AFTER_HELP: &str = "\
Runs one reconcile loop per app of the config file: polls the repository (one ls-remote round
trip when nothing moved), plans, diffs and syncs a new revision in dependency order, watches
what it owns for drift (self-heals with selfHeal: true), records the last 20 syncs next to the
app's ApplySet parent, and with onFailure: rollback re-applies the last healthy revision when a
sync ends Degraded or times out. SIGTERM or Ctrl-C: syncs in progress finish the requests in
flight, record their state, and the agent exits.

Example:
  ordo run --config config/ordo.yaml --log-format json";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent's config file (see config/ordo.yaml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Log lines as text for people or JSON for log pipelines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// On SIGTERM, how long syncs in progress may take to finish their requests and record
    /// their state before the agent exits anyway (e.g. 30s, 2m). Keep it under the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, value_name = "DURATION", env = "ORDO_SHUTDOWN_GRACE", default_value = "30s", value_parser = super::sync::parse_duration)]
    pub shutdown_grace: std::time::Duration,
    /// Run several replicas safely: only the holder of a coordination.k8s.io Lease reconciles
    /// and writes; the others serve the status page, API and metrics from the stored state and
    /// take over within about 15 s when the leader dies.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "ordo",
        requires = "leader_elect"
    )]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace).
    #[arg(
        long,
        value_name = "NS",
        env = "POD_NAMESPACE",
        requires = "leader_elect"
    )]
    pub lease_namespace: Option<String>,
    /// This replica's name in the Lease (default: the pod name, else the host name and pid).
    #[arg(long, value_name = "ID", env = "POD_NAME", requires = "leader_elect")]
    pub identity: Option<String>,
    /// Where the other replicas reach this one's HTTP server, written on the Lease while it
    /// leads, so standby replicas forward commands and webhooks to the leader (default:
    /// http://$POD_IP:<port>, else the listen address unless it is 0.0.0.0).
    #[arg(
        long,
        value_name = "URL",
        env = "ORDO_ADVERTISE_URL",
        requires = "leader_elect"
    )]
    pub advertise_url: Option<String>,
    /// Spread the apps over N shards, each guarded by its own Lease (<lease-name>-shard-<i>),
    /// so N replicas share the work: every replica holds the shards that rendezvous hashing
    /// gives it among the live replicas, serves every app's state, and takes over a dead
    /// replica's shards within about 15 s. Set it to the replica count (the chart does).
    #[arg(
        long,
        value_name = "N",
        env = "ORDO_SHARDS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1024),
        requires = "leader_elect"
    )]
    pub shards: u32,
}

/// This replica's HTTP address for the others (see `--advertise-url`).
fn advertise_url(args: &RunArgs, bound: Option<std::net::SocketAddr>) -> Option<String> {
    if let Some(url) = &args.advertise_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    let bound = bound?;
    if let Ok(ip) = std::env::var("POD_IP")
        && let Ok(ip) = ip.parse::<std::net::IpAddr>()
    {
        return Some(format!(
            "http://{}",
            std::net::SocketAddr::new(ip, bound.port())
        ));
    }
    (!bound.ip().is_unspecified()).then(|| format!("http://{bound}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The agent's config file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = super::plan::Output::Text)]
    pub output: super::plan::Output,
    /// The agent's namespace, where it stores each app's state (ConfigMap ordo-<app>-state):
    /// the Helm release's namespace; outside a pod the agent uses `default`.
    #[arg(long, value_name = "NS", env = "ORDO_NAMESPACE", default_value = DEFAULT_KEY_NAMESPACE)]
    pub ordo_namespace: String,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// The agent's config file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The app to act on.
    #[arg(long)]
    pub app: String,
    /// The revision to roll back to: a SHA (or its first 7+ characters) from the app's history.
    #[arg(long)]
    pub revision: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The agent's namespace, where it stores each app's state (ConfigMap ordo-<app>-state):
    /// the Helm release's namespace; outside a pod the agent uses `default`.
    #[arg(long, value_name = "NS", env = "ORDO_NAMESPACE", default_value = DEFAULT_KEY_NAMESPACE)]
    pub ordo_namespace: String,
}

/// `ordo rollback` (with --revision) and `ordo unpin`: change the app's pin in the state the
/// agent persists; the agent applies it at its next reconcile (within one interval).
pub fn pin(args: PinArgs, unpin: bool) -> ExitCode {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(message) => return fail(&message),
    };
    let Some(app) = config.app(&args.app).cloned() else {
        let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
        return fail(&format!(
            "no app {:?} in {}; apps: {}",
            args.app,
            args.config.display(),
            names.join(", ")
        ));
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let cluster = Cluster::connect(args.kubeconfig.as_deref()).await.map_err(|e| e.to_string())?;
                // A conditional write, retried on a fresh read: a sync the agent records at the
                // same moment cannot undo this, nor this the agent's record.
                let wanted = args.revision.clone().unwrap_or_default();
                let mut message = String::new();
                let mut refused = None;
                let at = store::StateAt::new(Some(&args.ordo_namespace), &app.namespace);
                store::update(&cluster, &app.name, &at, None, |stored| {
                    let mut persisted = stored.clone();
                    if unpin {
                        persisted.unpin();
                        message = format!("{}: unpinned; the agent follows {} again", app.name, app.reference);
                        return Some(persisted);
                    }
                    match persisted.find_revision(&wanted) {
                        Ok(entry) => {
                            let entry = entry.clone();
                            // The agent notes the head it was pinned at; from here it is not known.
                            persisted.pin_rollback(entry.revision.clone(), String::new());
                            message = format!("{}: pinned to {} ({}); the agent applies it within one interval", app.name, entry.revision, entry.message);
                        }
                        Err(RevisionLookup::NotFound) => {
                            refused = Some(format!("revision {wanted:?} is not in the history of {}; see `ordo status`", app.name));
                            return None;
                        }
                        Err(RevisionLookup::Ambiguous(n)) => {
                            refused = Some(format!("revision {wanted:?} matches {n} revisions in the history of {}; give more characters", app.name));
                            return None;
                        }
                    }
                    Some(persisted)
                }).await.map_err(|e| e.to_string())?;
                if let Some(refused) = refused {
                    return Err(refused);
                }
                Ok::<_, String>(message)
            })
        });
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message),
    }
}

fn fail(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The Lease to campaign for, when `--leader-elect` is on.
fn election(args: &RunArgs) -> Result<Option<lease::Election>, CliError> {
    if !args.leader_elect {
        return Ok(None);
    }
    let namespace = match &args.lease_namespace {
        Some(ns) => ns.clone(),
        None => std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
            .map(|ns| ns.trim().to_owned())
            .map_err(|_| {
                CliError::Usage("--leader-elect needs the Lease's namespace: pass --lease-namespace or set POD_NAMESPACE".to_owned())
            })?,
    };
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "ordo".to_owned());
        format!("{host}-{}", std::process::id())
    });
    Ok(Some(lease::Election {
        namespace,
        name: args.lease_name.clone(),
        identity,
        url: None,
        shard: None,
    }))
}

/// ordo's own namespace, where the config-hash key Secret lives: the Lease's, else
/// POD_NAMESPACE, else the service account's; outside a pod `default`, which every cluster has
/// (an app's own namespace may not exist before its first sync creates it).
fn own_namespace(args: &RunArgs) -> Option<String> {
    args.lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok())
        .map(|ns| ns.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .or_else(|| Some(DEFAULT_KEY_NAMESPACE.to_owned()))
}

/// Where the config-hash key lives when ordo runs outside a pod and is told nothing else.
pub const DEFAULT_KEY_NAMESPACE: &str = "default";

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// A token or secret from its file, trimmed; an empty file is an error, not "no secret".
fn read_secret(path: Option<&std::path::Path>) -> Result<Option<String>, CliError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(CliError::Usage(format!("{} is empty", path.display())));
    }
    Ok(Some(text))
}

fn load_config(path: &std::path::Path) -> Result<Config, CliError> {
    Ok(config::load(path)?)
}

pub fn run(args: RunArgs) -> ExitCode {
    init_logs(args.log_format);
    let started = load_config(&args.config).and_then(|config| {
        let runtime = super::runtime()?;
        Ok((config, runtime, election(&args)?))
    });
    match started {
        Ok((config, runtime, election)) => runtime.block_on(serve(args, config, election)),
        Err(e) => {
            error!(stage = e.label(), "{e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// What `ordo run` needs before it starts anything: the client, the secrets, the socket.
struct Ready {
    cluster: Cluster,
    api_token: Option<String>,
    webhook_secret: Option<String>,
    listener: tokio::net::TcpListener,
    bound: Option<std::net::SocketAddr>,
}

async fn prepare(args: &RunArgs, config: &Config, who: Option<&str>) -> Result<Ready, CliError> {
    let cluster = Cluster::connect_as(args.kubeconfig.as_deref(), who).await?;
    cluster.limit_rate(config.kube_client.qps, config.kube_client.burst);
    let api_token = read_secret(config.api_token_file.as_deref())?;
    let webhook_secret = read_secret(config.webhook_secret_file.as_deref())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| CliError::Listen {
            address: config.listen,
            config: args.config.display().to_string(),
            source,
        })?;
    let bound = listener.local_addr().ok();
    Ok(Ready {
        cluster,
        api_token,
        webhook_secret,
        listener,
        bound,
    })
}

async fn serve(args: RunArgs, config: Config, election: Option<lease::Election>) -> ExitCode {
    let grace = args.shutdown_grace;
    let who = election.as_ref().map(|e| e.identity.clone());
    let ready = match prepare(&args, &config, who.as_deref()).await {
        Ok(r) => r,
        Err(message) => {
            error!("{message}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // Tests and scripts listen on port 0 and read the real address from this line.
    if let Some(address) = ready.bound {
        info!(%address, "serving HTTP");
    }
    let cache = config.cache_dir.clone().unwrap_or_else(default_cache_dir);
    info!(apps = config.apps.len(), config = %args.config.display(), listen = %config.listen, "starting");
    let metrics = Arc::new(Metrics::new());
    let advertised = advertise_url(&args, ready.bound);
    let leadership = lead(
        election,
        args.shards,
        &ready.cluster,
        &metrics,
        advertised.clone(),
    );
    let agent = Agent::start_sharded(
        &config,
        ready.cluster,
        cache,
        metrics.clone(),
        leadership.shards,
        own_namespace(&args),
    );
    let state = ServerState {
        apps: Arc::new(agent.apps.clone()),
        views: agent.views.clone(),
        metrics,
        leader_url: leadership.leader_url.clone(),
        notifications: agent.notifier.deliveries(),
        api_token: ready.api_token.map(|t| Arc::from(t.as_str())),
        read_needs_token: config.read_auth == crate::config::ReadAuth::Token,
        webhook_secret: ready.webhook_secret.map(|t| Arc::from(t.into_bytes())),
        identity: who.as_deref().map(Arc::from),
        forwarding: Arc::new(crate::server::leader::Forwarding::new(advertised)),
        sessions: Default::default(),
        streams: Default::default(),
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(crate::server::serve(ready.listener, state, async move {
        let _ = http_stopped.await;
    }));
    shutdown_signal().await;
    info!(grace = ?grace, "shutting down: letting syncs in progress record their state");
    if tokio::time::timeout(grace, agent.stop()).await.is_err() {
        warn!(grace = ?grace, "shutdown grace ran out: exiting with syncs unfinished (the next leader picks them up)");
    }
    // After the apps stopped: release the lease so another replica takes over at once.
    let _ = leadership.stop_campaign.send(true);
    for campaign in leadership.campaigns {
        let _ = campaign.await;
    }
    let _ = stop_http.send(());
    if let Ok(Err(e)) = http.await {
        error!("HTTP server: {e}");
    }
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub fn status(args: StatusArgs) -> ExitCode {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let result: Result<Vec<(String, Persisted)>, String> =
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(async {
                    let cluster = Cluster::connect(args.kubeconfig.as_deref())
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut out = Vec::new();
                    for app in &config.apps {
                        let at = store::StateAt::new(Some(&args.ordo_namespace), &app.namespace);
                        let persisted = store::load(&cluster, &app.name, &at)
                            .await
                            .map_err(|e| e.to_string())?;
                        out.push((app.name.clone(), persisted));
                    }
                    Ok(out)
                })
            });
    let apps = match result {
        Ok(a) => a,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match args.output {
        super::plan::Output::Json => {
            let doc: Vec<serde_json::Value> = apps
                .iter()
                .map(|(name, p)| serde_json::json!({ "name": name, "state": p }))
                .collect();
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        super::plan::Output::Text => {
            println!(
                "{:<16} {:<10} {:<12} {:<12} MESSAGE",
                "APP", "REVISION", "LAST SYNC", "RESULT"
            );
            for (name, p) in &apps {
                let (rev, result, message) = match p.history.first() {
                    Some(h) => (
                        short(&h.revision),
                        format!("{:?}", h.result),
                        h.message.clone(),
                    ),
                    None => ("-".into(), "never synced".into(), String::new()),
                };
                let when = p.history.first().map_or("-".into(), |h| ago(h.finished));
                println!("{name:<16} {rev:<10} {when:<12} {result:<12} {message}");
                if let Some(pin) = &p.pin {
                    println!(
                        "{:<16} pinned to {}: {}",
                        "",
                        short(&pin.revision),
                        pin.reason
                    );
                }
                if let Some(failed) = &p.failed_revision {
                    println!("{:<16} not retrying failed revision {}", "", short(failed));
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}

fn ago(unix: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(unix);
    let secs = (now - unix).max(0.0) as u64;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        _ => format!("{}h ago", secs / 3600),
    }
}
