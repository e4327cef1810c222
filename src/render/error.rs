//! What can go wrong while rendering, with the tool, the app path and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// The rendering tools ordo runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    Kustomize,
    Helm,
}

impl Tool {
    /// The command name, and the name `scripts/cluster.sh build` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kustomize => "kustomize",
            Tool::Helm => "helm",
        }
    }

    /// The environment variable naming the binary (else it is looked up on PATH).
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Kustomize => "ORDO_KUSTOMIZE",
            Tool::Helm => "ORDO_HELM",
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One error enum for the render layer. `app` is the app's path inside the repository ("." for
/// the root), so a message points at the directory to look at.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "{tool} is needed to render {app} but was not found ({looked}); build it with \
         `scripts/cluster.sh build {tool}` and put it on PATH, or set {env} to its path",
        env = tool.env_var()
    )]
    ToolNotFound {
        tool: Tool,
        app: String,
        looked: String,
    },
    #[error(
        "{tool} rendering {app} did not finish within {}s and was stopped; look for a loop \
         that never ends, or raise the render timeout",
        after.as_secs_f64()
    )]
    Timeout {
        tool: Tool,
        app: String,
        after: Duration,
    },
    #[error(
        "{tool} rendering {app} printed more than {limit} bytes and was stopped; a render that \
         large is usually a runaway template, or raise the output budget"
    )]
    OutputTooLarge { tool: Tool, app: String, limit: u64 },
    #[error("{tool} failed rendering {app} ({}): {stderr}", exit(*code))]
    ToolFailed {
        tool: Tool,
        app: String,
        code: Option<i32>,
        /// Trimmed and bounded to a few KiB.
        stderr: String,
    },
    #[error(
        "{file}: entry {entry:?} reaches outside the repository; a kustomization may only \
         refer to directories inside it"
    )]
    PathOutside { file: String, entry: String },
    #[error(
        "{file}: remote base {entry:?} refused; vendor it into the repository, or set \
         kustomize.allowRemoteBases: true for this app"
    )]
    RemoteBase { file: String, entry: String },
    #[error("{file}: cannot read it as a kustomization: {message}")]
    Kustomization { file: String, message: String },
    #[error("{app}: {message}")]
    Input { app: String, message: String },
    /// `helm pull` or `helm dependency build` failed. `message` names the chart, its version
    /// and where it was looked for; a password never appears in it.
    #[error("{app}: {tool}: {message}")]
    Fetch {
        tool: Tool,
        app: String,
        message: String,
    },
    #[error("cannot prepare the {tool} render of {app} ({path}): {source}")]
    Io {
        tool: Tool,
        app: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn exit(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}
