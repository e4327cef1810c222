//! What stops a command before it does its work, typed: each keeps its cause and says what to
//! change. Printed once, as `error: …`, with exit code 2 (bad input or an error, as kubectl's).

use crate::cluster::ClusterError;
use crate::config::ConfigError;
use crate::pass::PassError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The app could not be read (flags, config, source, render, plan).
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source} (set `listen` in {config})")]
    Listen {
        address: std::net::SocketAddr,
        config: String,
        #[source]
        source: std::io::Error,
    },
    /// Flags or files that do not fit together; the message says which and what to do.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The `stage` field of the command's log line.
    pub fn label(&self) -> &'static str {
        match self {
            CliError::Pass(e) => e.stage.as_str(),
            CliError::Config(_) => "config",
            CliError::Cluster(_) => "cluster",
            CliError::Runtime(_) => "runtime",
            CliError::Read { .. } | CliError::Usage(_) => "input",
            CliError::Listen { .. } => "listen",
        }
    }
}
