//! `ordo sync` and `ordo diff`: the plan against a real cluster.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::input::{self, InputArgs};
use super::{CliError, EXIT_BAD_INPUT};
use crate::cluster::Cluster;
use crate::pass::{self, Ended, HashKeys, Target};
use crate::sync::{self, Action, Event, Outcome, SyncOptions, SyncReport};

pub const SYNC_AFTER_HELP: &str = "\
Every object is validated with a server-side dry run before the first write; one invalid
object means nothing is applied. Objects whose live state already matches are not written.
Each object starts as soon as what it depends on is applied and Healthy. A Degraded object
blocks what depends on it; unrelated branches go on. Ownership follows the ApplySet
convention (KEP-3659): a parent Secret `ordo-<app>` in --namespace, members labelled
applyset.kubernetes.io/part-of. --prune deletes only such members that left git.

Exit codes: 0 everything Healthy, 1 something failed or is unhealthy, 2 bad input or error.

Examples:
  ordo sync examples/travel-app --namespace travel --timeout 5m
  ordo sync ./deploy --app shop --prune
  ordo sync examples/travel-app --dry-run
  ordo sync --config config/ordo.yaml --app travel   # what the agent would do, once";

pub const DIFF_AFTER_HELP: &str = "\
Compares a server-side dry run of each object with the live object, ignoring status,
managedFields, resourceVersion, generation, uid, creationTimestamp and fields owned by other
managers. Secret values are redacted. Writes nothing.

Exit codes (like kubectl diff): 0 in sync, 1 differences found, 2 error.

Examples:
  ordo diff examples/travel-app --namespace travel --app travel
  ordo diff --config config/ordo.yaml --app travel   # what the agent's app would change";

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Name of the app: the ApplySet parent is the Secret `ordo-<app>` (default: the
    /// directory's or repository's name).
    #[arg(long)]
    pub app: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Take ownership of existing objects ordo did not create.
    #[arg(long)]
    pub adopt: bool,
    /// Namespace of the Secret ordo-config-hash-key (the key of ordo.dev/config-hash, created
    /// there if absent): give the agent's namespace, so ordo sync and the agent stamp the same
    /// hashes (default: `default`, where an agent outside a pod keeps it too).
    #[arg(long, value_name = "NS", env = "ORDO_NAMESPACE")]
    pub key_namespace: Option<String>,
    /// Act as this user for every request of the sync (Kubernetes impersonation, as kubectl's
    /// --as), e.g. system:serviceaccount:shop:deployer. With --config/--app, the app's
    /// serviceAccountName is used when this is not given.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Delete objects of this app that are no longer in git.
    #[arg(long)]
    pub prune: bool,
    /// Allow --prune to delete everything when the source has no manifests.
    #[arg(long)]
    pub allow_empty: bool,
    /// Let --prune delete more than half of the app (when over 10 objects), and objects
    /// marked `Prune=confirm`: without it such a prune is held and listed.
    #[arg(long)]
    pub confirm_prune: bool,
    /// A protected kind --prune may delete (Namespace, CustomResourceDefinition,
    /// PersistentVolume, PersistentVolumeClaim); repeat for several. Without it they stay.
    #[arg(long = "prune-allow-kind", value_name = "KIND")]
    pub prune_allow_kinds: Vec<String>,
    /// Upper bound for the whole sync, health waits included (e.g. 90s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Validate and show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Fail on fields owned by another field manager instead of taking them over.
    #[arg(long)]
    pub no_force_conflicts: bool,
    /// Output: progress lines and a summary, or a JSON report (progress then goes to stderr).
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output: unified diffs, or JSON.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// `90s`, `5m`, `1h30m`: the same durations the config file takes.
pub fn parse_duration(text: &str) -> Result<Duration, CliError> {
    crate::config::parse_duration(text)
        .ok_or_else(|| CliError::Usage(format!("{text:?}: use a duration like 90s, 5m or 1h30m")))
}

fn options(input: &InputArgs, cluster: &ClusterArgs, revision: String) -> SyncOptions {
    let app = cluster
        .app
        .clone()
        .unwrap_or_else(|| input::default_app_name(input));
    let mut options = SyncOptions::new(app, input.namespace.clone());
    options.adopt = cluster.adopt;
    options.concurrency = cluster.concurrency.max(1);
    options.revision = revision;
    options
}

pub fn run_sync(mut args: SyncArgs) -> ExitCode {
    if let Err(e) = input::resolve(&mut args.input, args.cluster.app.as_deref()) {
        return error(&e.to_string());
    }
    let (rt, cluster) = match connect(&args.cluster) {
        Ok(c) => c,
        Err(message) => return error(&message),
    };
    let loaded = match rt.block_on(input::load(
        &args.input,
        Some(target(&cluster, &args.cluster)),
    )) {
        Ok(l) => l,
        Err(e) => return error(&e.to_string()),
    };
    let cluster = match acting_as(&rt, &cluster, &args.cluster, &args.input) {
        Ok(c) => c,
        Err(message) => return error(&message),
    };
    let mut opts = options(&args.input, &args.cluster, loaded.revision.clone());
    opts.prune = args.prune;
    opts.allow_empty = args.allow_empty;
    opts.timeout = args.timeout;
    if let Some(app) = &args.input.from_config {
        opts.prune |= app.prune;
        opts.allow_empty |= app.allow_empty;
        opts.timeout = app.timeout;
        opts.prune_guard = app.prune_guard.clone();
        opts.allow = app_allow(app, &args.cluster);
    }
    opts.prune_guard
        .allow_kinds
        .extend(args.prune_allow_kinds.iter().cloned());
    opts.confirm_prune = args.confirm_prune;
    opts.dry_run = args.dry_run;
    opts.force_conflicts = !args.no_force_conflicts;
    let json = args.output == Format::Json;
    let reporter: sync::Reporter = Arc::new(move |event: &Event| {
        // Objects already in sync are counted in the summary, not listed one by one.
        if matches!(event, Event::Healthy { changed: false, .. }) {
            return;
        }
        let line = progress_line(event);
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    });
    // Never cut short here: Ctrl-C ends the process; the sender is dropped at once.
    let never = tokio::sync::watch::channel(None).1;
    let memory = &mut pass::SyncMemory::default();
    let (ended, result) = rt.block_on(pass::sync(
        &cluster,
        &loaded.plan,
        opts,
        reporter,
        (never, memory),
    ));
    let report = match result {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("{}", summary(&report, args.dry_run));
    }
    if ended == Ended::Succeeded || args.dry_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub fn run_diff(mut args: DiffArgs) -> ExitCode {
    if let Err(e) = input::resolve(&mut args.input, args.cluster.app.as_deref()) {
        return error(&e.to_string());
    }
    let (rt, cluster) = match connect(&args.cluster) {
        Ok(c) => c,
        Err(message) => return error(&message),
    };
    let loaded = match rt.block_on(input::load(
        &args.input,
        Some(target(&cluster, &args.cluster)),
    )) {
        Ok(l) => l,
        Err(e) => return error(&e.to_string()),
    };
    let cluster = match acting_as(&rt, &cluster, &args.cluster, &args.input) {
        Ok(c) => c,
        Err(message) => return error(&message),
    };
    let mut opts = options(&args.input, &args.cluster, loaded.revision.clone());
    opts.redact = loaded.secrets.clone();
    if let Some(app) = &args.input.from_config {
        opts.allow = app_allow(app, &args.cluster);
    }
    let result = rt
        .block_on(sync::diff(&cluster, &loaded.plan, &opts))
        .map_err(|e| e.to_string());
    let diffs = match result {
        Ok(d) => d,
        Err(message) => return error(&message),
    };
    let differs = diffs
        .iter()
        .any(|d| d.status != crate::diff::SyncStatus::Synced);
    if args.output == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&diffs).unwrap_or_default()
        );
    } else {
        for d in diffs.iter().filter(|d| !d.diff.is_empty()) {
            print!("{}", d.diff);
        }
        let changed = diffs
            .iter()
            .filter(|d| d.status != crate::diff::SyncStatus::Synced)
            .count();
        eprintln!("{changed} of {} objects differ", diffs.len());
    }
    if differs {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A configured app's allow list, with ordo's namespace (`--key-namespace`, else `default`:
/// where its key and, under an agent, its stored state live) closed unless it is the
/// platform's own app, as the agent does.
fn app_allow(app: &crate::config::AppConfig, args: &ClusterArgs) -> sync::AllowList {
    let mut allow = app.allow.clone();
    if !app.platform {
        let own = args.key_namespace.as_deref();
        allow.closed_namespace = Some(own.unwrap_or(super::run::DEFAULT_KEY_NAMESPACE).to_owned());
    }
    allow
}

/// What a read asks of the cluster: the config-hash key of `--key-namespace`, else of the
/// `default` namespace (the app's own may not exist before this sync creates it; no key, no
/// sync: see `pass/hash_key.rs`), where a `decryption.secretRef` without a namespace points,
/// and Helm's capabilities. Read as the kubeconfig's user: they are ordo's, not the app's.
fn target(cluster: &Cluster, args: &ClusterArgs) -> Target {
    let namespace = args
        .key_namespace
        .clone()
        .unwrap_or_else(|| super::run::DEFAULT_KEY_NAMESPACE.to_owned());
    Target {
        cluster: cluster.clone(),
        keys: Arc::new(HashKeys::new(Some(namespace))),
        capabilities: Arc::default(),
    }
}

/// The client the sync's requests go through: `--as`, else the config app's
/// serviceAccountName, else the kubeconfig's own user. (The config-hash key is read before,
/// as the kubeconfig's user: it is ordo's, not the app's.)
fn acting_as(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    args: &ClusterArgs,
    input: &InputArgs,
) -> Result<Cluster, CliError> {
    // Building a client spawns its buffer task on the runtime.
    let _runtime = rt.enter();
    let from_config = input.from_config.as_ref().and_then(|app| {
        let account = app.service_account_name.as_ref()?;
        Some(format!("system:serviceaccount:{}:{account}", app.namespace))
    });
    match args.as_user.clone().or(from_config) {
        Some(user) => Ok(cluster.impersonating(&user)?),
        None => Ok(cluster.clone()),
    }
}

/// The runtime and a client for the cluster of `--kubeconfig` (no request is made yet).
fn connect(args: &ClusterArgs) -> Result<(tokio::runtime::Runtime, Cluster), CliError> {
    let rt = super::runtime()?;
    let cluster = rt.block_on(Cluster::connect(args.kubeconfig.as_deref()))?;
    Ok((rt, cluster))
}

fn error(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn progress_line(event: &Event) -> String {
    let at = |d: &Duration| format!("[{:>6.2}s]", d.as_secs_f64());
    match event {
        Event::Validated {
            objects,
            to_change,
            elapsed,
        } => format!(
            "{} validated {objects} objects (server-side dry run): {to_change} to apply, {} unchanged",
            at(elapsed),
            objects - to_change
        ),
        Event::Applied {
            id,
            action,
            elapsed,
        } => {
            format!("{} {:<10} {id}", at(elapsed), action_word(*action))
        }
        Event::Healthy {
            id,
            waited,
            elapsed,
            changed: true,
        } => format!(
            "{} {:<10} {id} (waited {:.1}s)",
            at(elapsed),
            "healthy",
            waited.as_secs_f64()
        ),
        Event::Healthy { id, elapsed, .. } => format!("{} {:<10} {id}", at(elapsed), "in sync"),
        Event::Failed {
            id,
            outcome,
            message,
            elapsed,
        } => {
            format!(
                "{} {:<10} {id}: {message}",
                at(elapsed),
                outcome_word(*outcome)
            )
        }
        Event::Blocked { id, by } => format!("{:>9} {:<10} {id} (waits for {by})", "", "blocked"),
        Event::Pruned { id, elapsed } => format!("{} {:<10} {id}", at(elapsed), "pruned"),
        Event::PruneAwaitingConfirmation { objects, of } => format!(
            "{:>9} {:<10} {} of {of} objects left git; not pruned until confirmed (--confirm-prune): {}",
            "",
            "held",
            objects.len(),
            objects.join(", ")
        ),
    }
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Created => "created",
        Action::Configured => "configured",
        Action::Recreated => "recreated",
        Action::Unchanged => "unchanged",
        Action::Deleted => "deleted",
        Action::Skipped => "skipped",
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pending => "pending",
        Outcome::Healthy => "healthy",
        Outcome::Degraded => "degraded",
        Outcome::Blocked => "blocked",
        Outcome::TimedOut => "timed out",
        Outcome::Failed => "failed",
        Outcome::NotRun => "not run",
    }
}

fn summary(report: &SyncReport, dry_run: bool) -> String {
    let count = |a: Action| report.objects.iter().filter(|o| o.action == a).count();
    let failed = report
        .objects
        .iter()
        .filter(|o| !matches!(o.outcome, Outcome::Healthy | Outcome::NotRun))
        .count();
    let verb = if dry_run {
        "Dry run of"
    } else if report.succeeded() {
        "Synced"
    } else {
        "Sync failed for"
    };
    let mut line = format!(
        "{verb} {} objects in {:.1}s: {} created, {} configured, {} recreated, {} unchanged, {} pruned; health {}; {} writes",
        report.objects.len(),
        report.duration_seconds,
        count(Action::Created),
        count(Action::Configured),
        count(Action::Recreated),
        count(Action::Unchanged),
        report.pruned.len(),
        report.health,
        report.writes
    );
    if failed > 0 && !dry_run {
        line.push_str(&format!("; {failed} not healthy"));
    }
    for w in &report.prune_withheld {
        line.push_str(&format!("\nnot pruned: {}: {}", w.id, w.reason));
    }
    if !report.prune_awaiting_confirmation.is_empty() {
        line.push_str(&format!(
            "\nprune held: {} object(s) wait for confirmation; re-run with --confirm-prune to delete them",
            report.prune_awaiting_confirmation.len()
        ));
    }
    line
}
