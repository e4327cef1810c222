//! How a pass can fail: at which stage, and whose fault it is. The fault decides what the
//! agent does next (record a bad commit, retry with a growing delay, try at the next
//! interval) and the stage is the label metrics and logs carry. The message is scrubbed of
//! every value a SOPS file decrypted to before it is built, and names the file, document,
//! object and field as the layer below said them.

use crate::decrypt::DecryptError;
use crate::render::{RenderError, Secrets};
use crate::source::SourceError;

/// Where in the pipeline a pass stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The app as given cannot be read at all (flags or config that do not fit together).
    Input,
    /// git (or the directory) could not be read.
    Fetch,
    /// The commit's signature is not one the app trusts.
    Signature,
    /// A SOPS file, or the keys that open it.
    Decrypt,
    /// Kustomize or Helm.
    Render,
    /// Loading the rendered documents as objects.
    Load,
    /// Ordering the objects.
    Plan,
    /// The config-hash key (see `hash_key.rs`).
    Key,
}

impl Stage {
    /// The label value of metrics and the `stage` field of logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Fetch => "fetch",
            Stage::Signature => "signature",
            Stage::Decrypt => "decrypt",
            Stage::Render => "render",
            Stage::Load => "load",
            Stage::Plan => "plan",
            Stage::Key => "key",
        }
    }
}

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The commit's: a render, a manifest, the plan or a signature refused it. Recorded as a
    /// failed sync of that revision; nothing was applied.
    Commit,
    /// Not the commit's, and likely to pass by itself (a timeout, a chart repository's 5xx,
    /// a full disk): retried with a growing delay, never held against the revision.
    Transient,
    /// Not the commit's, and not going to pass by itself (refused credentials, a missing
    /// right on a Secret): tried again at the next interval.
    Lasting,
}

/// A pass that stopped before anything was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PassError {
    pub stage: Stage,
    pub fault: Fault,
    /// For people: scrubbed of decrypted values.
    pub message: String,
}

impl PassError {
    pub fn new(stage: Stage, fault: Fault, message: impl Into<String>) -> Self {
        PassError {
            stage,
            fault,
            message: message.into(),
        }
    }

    /// The commit's fault at `stage`.
    pub fn commit(stage: Stage, message: impl Into<String>) -> Self {
        PassError::new(stage, Fault::Commit, message)
    }

    /// What the user gave does not fit together (flags, a config app).
    pub fn input(message: impl Into<String>) -> Self {
        PassError::new(Stage::Input, Fault::Lasting, message)
    }

    pub fn is_commit_fault(&self) -> bool {
        self.fault == Fault::Commit
    }

    pub fn is_transient(&self) -> bool {
        self.fault == Fault::Transient
    }

    /// A failure of git: never the commit's.
    pub fn source(e: &SourceError) -> Self {
        PassError::new(
            Stage::Fetch,
            transient_or_lasting(e.is_transient()),
            e.to_string(),
        )
    }

    /// A SOPS file that does not open is the commit's; keys that cannot be read are not.
    pub fn decrypt(e: &DecryptError) -> Self {
        let fault = if e.is_transient() {
            Fault::Transient
        } else {
            Fault::Commit
        };
        PassError::new(Stage::Decrypt, fault, e.to_string())
    }

    /// What the tool said about the repository's files is the commit's; its timeout is not.
    pub fn render(e: RenderError, secrets: &Secrets) -> Self {
        let fault = if e.is_transient() {
            Fault::Transient
        } else {
            Fault::Commit
        };
        PassError::new(Stage::Render, fault, secrets.scrub(&e.to_string()))
    }

    /// A blocking task of the pass that did not finish (the runtime is shutting down).
    pub fn task(e: &tokio::task::JoinError) -> Self {
        PassError::new(
            Stage::Fetch,
            Fault::Transient,
            format!("the read was cut short: {e}"),
        )
    }
}

/// The fault of a failure that is not the commit's.
pub fn transient_or_lasting(transient: bool) -> Fault {
    if transient {
        Fault::Transient
    } else {
        Fault::Lasting
    }
}
