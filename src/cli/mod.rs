//! The command line: argument parsing and the commands. Each command returns an exit code in
//! kubectl's convention; errors are printed once, here at the edge.

mod error;
mod import;
mod input;
mod plan;
mod plan_output;
mod run;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;

/// ordo applies a git repository of Kubernetes manifests in dependency order: config, then
/// databases, then backends, then frontends, then monitoring, each step waiting until what it
/// needs is healthy. The order is inferred from the manifests and every edge is explained.
#[derive(Debug, Parser)]
#[command(name = "ordo", version = env!("CARGO_PKG_VERSION"), propagate_version = true)]
#[command(
    after_help = "Examples:\n  ordo plan examples/travel-app\n  ordo plan https://git.example.org/team/deploy.git --ref main --path apps/shop -o json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the ordered, explained plan for a directory or a git repository (no cluster needed).
    #[command(after_help = plan::AFTER_HELP)]
    Plan(Box<plan::PlanArgs>),
    /// Show how the cluster differs from git (server-side dry run; Secret values redacted).
    #[command(after_help = sync::DIFF_AFTER_HELP)]
    Diff(Box<sync::DiffArgs>),
    /// Apply in dependency order, waiting for health at each step; optionally prune.
    #[command(after_help = sync::SYNC_AFTER_HELP)]
    Sync(Box<sync::SyncArgs>),
    /// Run the agent: one reconcile loop per app of the config file.
    #[command(after_help = run::RUN_AFTER_HELP)]
    Run(Box<run::RunArgs>),
    /// Show every app's last syncs, pins and failures, as the agent recorded them in the cluster.
    Status(Box<run::StatusArgs>),
    /// Roll an app back to a revision of its history and pin it there (until `ordo unpin`).
    Rollback(Box<run::PinArgs>),
    /// Lift a pin: the app follows its branch again.
    Unpin(Box<run::PinArgs>),
    /// Translate Argo CD Applications and Flux Kustomizations / HelmReleases into an ordo config.
    #[command(after_help = import::AFTER_HELP)]
    Import(Box<import::ImportArgs>),
    /// Print the version, the git commit it was built from and the Kubernetes API it targets.
    Version,
}

/// Exit codes shared by the commands (like kubectl's): 0 success, 1 differences or an
/// unhealthy result, 2 bad input or an error.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Stack of the async runtime's threads, where git content is parsed. YAML from git may nest
/// up to the parser's depth budget (100); deserializing that deep takes several MiB in a debug
/// build, more than a thread's default 2 MiB. A stack overflow aborts the whole process, so a
/// hostile commit could stop the agent: the stack is sized for the budget instead.
pub const PARSER_STACK: usize = 16 * 1024 * 1024;

pub fn run(cli: Cli) -> ExitCode {
    // Before any thread or git operation: libgit2's socket timeouts are process-wide.
    match crate::source::git_timeout_from_env() {
        Ok(timeout) => {
            crate::source::init_network_timeouts(timeout);
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    if let Err(message) = crate::source::git_max_fetch_bytes_from_env() {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Err(message) = crate::pass::check_scratch_env() {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    match cli.command {
        Command::Plan(args) => plan::run(*args),
        Command::Diff(args) => sync::run_diff(*args),
        Command::Sync(args) => sync::run_sync(*args),
        Command::Run(args) => run::run(*args),
        Command::Status(args) => run::status(*args),
        Command::Rollback(args) => run::pin(*args, false),
        Command::Unpin(args) => run::pin(*args, true),
        Command::Import(args) => import::run(*args),
        Command::Version => {
            println!(
                "ordo {} (commit {}, Kubernetes API {})",
                env!("CARGO_PKG_VERSION"),
                option_env!("ORDO_GIT_COMMIT").unwrap_or("unknown"),
                KUBERNETES_API
            );
            ExitCode::SUCCESS
        }
    }
}

/// The Kubernetes minor version the `k8s-openapi` feature compiles for (Helm renders for
/// `render::KUBE_VERSION`, the same minor, when nothing else says).
pub const KUBERNETES_API: &str = "v1.34";

/// The async runtime of a command, its threads sized for deep YAML (see [`PARSER_STACK`]).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(PARSER_STACK)
        .build()
        .map_err(CliError::Runtime)
}

/// Where git caches live unless `--cache-dir` says otherwise.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("ordo")
}
