//! One pass of an app, the same for `ordo plan|diff|sync` and the agent: from an [`AppSpec`]
//! (the resolved app) to a [`Revision`] with its plan (fetch → verify → decrypt → render →
//! load → plan), with a [`PassError`] that says whose fault a failure is. The CLI and the
//! agent reach render, decrypt and verify only through this room; what they need of those
//! rooms' vocabulary (the app's render options, the values to redact, a signature's state)
//! is re-exported here.

mod age_secret;
mod capabilities;
mod ended;
mod error;
pub mod hash_key;
mod read;
mod spec;

pub use capabilities::{Capabilities, CapabilitiesCache};
pub use ended::{Cancelled, Ended, SyncMemory, ended, not_applied, sync};
pub use error::{Fault, PassError, Stage, transient_or_lasting};
pub use hash_key::{HashKeys, KeyError};
pub use read::{Inputs, Planned, Reader, Revision, Target};
pub use spec::{AppSpec, GivenBy, Keys, Origin};

pub use crate::decrypt::KEY_FILE_ENV;
pub use crate::render::{
    HelmOptions, KUBE_VERSION, RemoteChart, RenderOptions, Renderer, RepoKind, Secrets, SourceKind,
    Tools, check_kube_version, check_scratch_env,
};
pub use crate::verify::SignatureState;
