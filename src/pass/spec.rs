//! The app a pass reads, resolved once: from the config file (the agent, `ordo … --config
//! --app`) or from the CLI's flags. Everything the pipeline asks about an app is here, so
//! the two ways in cannot read it differently.

use std::path::{Path, PathBuf};

use crate::config::{AppConfig, DecryptionKeys, SecretRef};
use crate::manifest::NamespaceMetadata;
use crate::plan::Ordering;
use crate::render::RenderOptions;
use crate::source::{self, RepoSpec, Selection};

/// One app, resolved.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub name: String,
    pub origin: Origin,
    /// Directory inside the repository (or the directory given); "" is the root.
    pub path: String,
    /// Which files of a plain directory are manifests.
    pub selection: Selection,
    /// Default namespace of the objects.
    pub namespace: String,
    pub ordering: Ordering,
    pub render: RenderOptions,
    /// `createNamespace: true` / `--create-namespace`: the namespace is made as part of the app.
    pub create_namespace: Option<NamespaceMetadata>,
    /// What opens the app's SOPS files.
    pub keys: Keys,
    /// When set, only commits signed by a key of this signers file are read further.
    pub signers: Option<PathBuf>,
    /// Where git repositories are cached.
    pub cache_dir: PathBuf,
    /// Who described the app: messages point at the config key or the flag to change.
    pub given_by: GivenBy,
}

/// Where an app's files come from.
#[derive(Debug, Clone)]
pub enum Origin {
    Git(RepoSpec),
    /// A directory on this machine, read as it is (the CLI only).
    Directory(PathBuf),
    /// Nothing: a chart pulled from a chart repository, with no values files (the CLI only).
    Nothing,
}

/// What opens an app's SOPS files.
#[derive(Debug, Clone, Default)]
pub enum Keys {
    /// Nothing: a revision holding a SOPS file to decrypt is a bad commit.
    #[default]
    None,
    /// Age identities and/or OpenPGP secret keys in a file.
    File(PathBuf),
    /// A Secret read from the cluster when a SOPS file is to be decrypted.
    Secret(SecretRef),
}

/// Who described an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GivenBy {
    Config,
    Flags,
}

impl AppSpec {
    /// The app of a config file; `cache_dir` is the config's (or the agent's) git cache.
    pub fn from_config(app: &AppConfig, cache_dir: &Path) -> Self {
        AppSpec {
            name: app.name.clone(),
            origin: Origin::Git(app.repo_spec()),
            path: app.path.clone(),
            selection: app.selection(),
            namespace: app.namespace.clone(),
            ordering: app.ordering,
            render: app.render_options(),
            create_namespace: app.create_namespace.clone(),
            keys: match app.decryption.as_ref().map(|d| &d.keys) {
                None => Keys::None,
                Some(DecryptionKeys::File(path)) => Keys::File(path.clone()),
                Some(DecryptionKeys::Secret(secret)) => Keys::Secret(secret.clone()),
            },
            signers: app.verify.as_ref().map(|v| v.signers.clone()),
            cache_dir: cache_dir.to_path_buf(),
            given_by: GivenBy::Config,
        }
    }

    /// How messages and the plan name where the files came from (no credentials).
    pub fn location(&self) -> String {
        match &self.origin {
            Origin::Git(spec) => source::without_user_info(&spec.url),
            Origin::Directory(dir) => dir.display().to_string(),
            Origin::Nothing => self
                .render
                .helm
                .remote
                .as_ref()
                .map(|r| r.location())
                .unwrap_or_default(),
        }
    }

    /// What a refused signature tells people to change.
    pub(super) fn signers_setting(&self) -> &'static str {
        match self.given_by {
            GivenBy::Config => "verify.signers",
            GivenBy::Flags => "--verify-signers",
        }
    }
}
