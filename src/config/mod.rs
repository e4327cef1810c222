//! The agent's config file (`ordo run --config F`): which apps to sync, from where, and how.
//!
//! Pure apart from [`load`] reading the file. The YAML is read into a tree that keeps line
//! numbers and then validated field by field, so every mistake is reported with its file,
//! line and field path (`config/ordo.yaml:12: apps[1].interval: …`) rather than as a serde
//! message about a struct. Secrets are only ever named (a file or an environment variable),
//! so the file can be committed. See `config/ordo.yaml` for the documented example.

mod depends;
mod duration;
mod node;
mod suggest;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use duration::{format_duration, jittered, parse_duration};

use crate::plan::Ordering;
use crate::render::{HelmOptions, KustomizeOptions, RenderOptions, SourceKind};
use crate::source::{Credentials, RepoSpec, Secret, Selection};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address of the HTTP server (status page, API, metrics, webhooks).
    pub listen: SocketAddr,
    /// Where bare clones are cached; `None` means the default (`$XDG_CACHE_HOME/ordo`).
    pub cache_dir: Option<PathBuf>,
    /// File holding the bearer token for mutating HTTP calls; `None` disables those calls.
    pub api_token_file: Option<PathBuf>,
    /// File holding the shared secret webhook payloads are signed with.
    pub webhook_secret_file: Option<PathBuf>,
    /// Who may read the page and the read API (`readAuth`).
    pub read_auth: ReadAuth,
    /// `notifications: {externalURL, receivers}`: commit statuses and messages (issue #15).
    pub notifications: crate::notify::Notifications,
    /// `maxConcurrentSyncs`: how many apps sync at once (default 20); the others queue.
    pub max_concurrent_syncs: usize,
    /// `kubeClient: {qps, burst}`: the rate the agent's client may send requests at.
    pub kube_client: KubeClient,
    /// At least one; names are unique.
    pub apps: Vec<AppConfig>,
}

/// A token bucket for the agent's API requests (client-go's and Flux's `--kube-api-qps`
/// and `--kube-api-burst`): `burst` at once, refilled at `qps` a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeClient {
    pub qps: u32,
    pub burst: u32,
}

impl Default for KubeClient {
    fn default() -> Self {
        // Twice Argo CD's controller default (50/100), of the order of Flux's (50/300):
        // client-go's 5/10 is far too low for a thousand apps, and the API server's own
        // priority and fairness guards it from any one client beyond this.
        KubeClient {
            qps: 100,
            burst: 200,
        }
    }
}

/// `maxConcurrentSyncs` when the config does not say.
pub const DEFAULT_MAX_CONCURRENT_SYNCS: usize = 20;

/// One app: a directory of one revision of a repository, synced into a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// DNS-1123 label, unique in the file.
    pub name: String,
    pub repo: String,
    /// Branch, tag or full SHA (YAML key `ref`); "" is the remote's default branch.
    pub reference: String,
    /// Directory inside the repository; "" is the root.
    pub path: String,
    /// Default namespace of the objects, and where the ApplySet parent lives.
    pub namespace: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub prune: bool,
    /// `pruneGuard`: what prune never deletes and when it asks first.
    pub prune_guard: crate::sync::PruneGuard,
    /// `dependsOn: [app, …]`: apps that must be Healthy and Synced at their current revision
    /// before this one syncs (an ingress controller, an operator's CRDs).
    pub depends_on: Vec<String>,
    /// `allow: {namespaces, clusterKinds}`: where the app may write; an absent key means the
    /// app's own namespace and no cluster-scoped kind.
    pub allow: crate::sync::AllowList,
    /// `platform: true`: the platform's own app, the only kind that may write into ordo's
    /// namespace.
    pub platform: bool,
    /// `createNamespace: true` (with `managedNamespaceMetadata`): ordo makes the app's
    /// Namespace, whatever `allow.clusterKinds` says; `None` when off.
    pub create_namespace: Option<crate::manifest::NamespaceMetadata>,
    /// A ServiceAccount in the app's namespace that ordo impersonates for every request of
    /// the app's syncs and drift watch (Flux's model): the app can do what that account can.
    pub service_account_name: Option<String>,
    pub self_heal: bool,
    pub allow_empty: bool,
    pub on_failure: OnFailure,
    pub ordering: Ordering,
    /// Globs selecting files under `path`; empty means the default (`.yaml`, `.yml`, `.json`).
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub credentials: CredentialsConfig,
    /// How `path` becomes manifests (YAML key `source`): auto, directory, kustomize or helm.
    pub source: SourceKind,
    /// `helm: {releaseName, valueFiles, values}`; the release name defaults to the app name.
    pub helm: HelmOptions,
    /// `kustomize: {allowRemoteBases}`.
    pub kustomize: KustomizeOptions,
    /// `postBuild: {substitute}`: Flux's post-build variables.
    pub substitute: std::collections::BTreeMap<String, String>,
    /// `decryption: {provider: sops, keyFile | secretRef}`: how SOPS files of the app are
    /// decrypted; `None` leaves them encrypted, and a revision holding one is a bad commit.
    pub decryption: Option<Decryption>,
    /// `verify: {signers, mode}`: only commits signed by a key of `signers` are applied.
    pub verify: Option<Verify>,
}

/// Commit signature verification of an app (issue #16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    /// The signers file: git's allowed_signers lines and armored OpenPGP public keys; read
    /// at every check, so an edited file counts without a restart.
    pub signers: PathBuf,
    pub mode: VerifyMode,
    /// Apply a head that does not descend from the revision last applied (a rewritten
    /// history, a branch moved back). Off: such a head is refused, so an old signed commit
    /// cannot be replayed (issue #23).
    pub allow_non_fast_forward: bool,
}

/// Which commits must be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// The commit to be applied (the head, or the pinned revision), not its history.
    #[default]
    Head,
}

impl VerifyMode {
    pub const ALL: [VerifyMode; 1] = [VerifyMode::Head];
}

impl std::fmt::Display for VerifyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyMode::Head => "head",
        })
    }
}

/// Decryption of an app's SOPS files (issue #16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decryption {
    pub provider: DecryptionProvider,
    /// Where the age identities (`AGE-SECRET-KEY-1…` lines) are; read when a revision holds
    /// an encrypted file, so a rotated key is picked up without a restart.
    pub keys: DecryptionKeys,
}

/// `keyFile` or `secretRef`: exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptionKeys {
    /// An age identity file, e.g. a mounted Secret.
    File(PathBuf),
    /// A Secret the agent reads at sync time.
    Secret(SecretRef),
}

/// `secretRef: {name, namespace, key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub name: String,
    /// `None`: ordo's own namespace (where the config-hash key lives).
    pub namespace: Option<String>,
    /// The data key holding the identities.
    pub key: String,
}

/// The data key of `secretRef` when none is given: the file name `age-keygen -o` is usually
/// given, and what `kubectl create secret generic --from-file=keys.txt` makes.
pub const DEFAULT_SECRET_KEY: &str = "keys.txt";

/// Who encrypted the files; only SOPS (with age keys) today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptionProvider {
    Sops,
}

impl DecryptionProvider {
    pub const ALL: [DecryptionProvider; 1] = [DecryptionProvider::Sops];
}

impl std::fmt::Display for DecryptionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecryptionProvider::Sops => "sops",
        })
    }
}

/// What a failed sync leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop where it failed and report; the next commit or a manual sync tries again.
    #[default]
    Halt,
    /// Re-apply the last revision that synced healthy, and stay there until unpinned.
    Rollback,
}

impl OnFailure {
    pub const ALL: [OnFailure; 2] = [OnFailure::Halt, OnFailure::Rollback];
}

impl std::fmt::Display for OnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OnFailure::Halt => "halt",
            OnFailure::Rollback => "rollback",
        })
    }
}

/// Who may read the status page and the read API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAuth {
    /// No authentication: anyone who reaches the agent (put it behind a proxy or a
    /// NetworkPolicy to restrict).
    #[default]
    None,
    /// Holders of the API token only (bearer header, or a session cookie from `/login`).
    Token,
}

impl ReadAuth {
    pub const ALL: [ReadAuth; 2] = [ReadAuth::None, ReadAuth::Token];
}

impl std::fmt::Display for ReadAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadAuth::None => "none",
            ReadAuth::Token => "token",
        })
    }
}

/// Git credentials, by reference only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialsConfig {
    pub username: Option<String>,
    /// From `passwordFile` or `passwordEnv`.
    pub password: Option<Secret>,
    pub ssh_key_file: Option<PathBuf>,
    /// From `sshKeyPassphraseFile` or `sshKeyPassphraseEnv`.
    pub ssh_key_passphrase: Option<Secret>,
    pub known_hosts_file: Option<PathBuf>,
}

impl From<&CredentialsConfig> for Credentials {
    fn from(c: &CredentialsConfig) -> Self {
        Credentials {
            username: c.username.clone(),
            password: c.password.clone(),
            ssh_key_file: c.ssh_key_file.clone(),
            ssh_key_passphrase: c.ssh_key_passphrase.clone(),
            known_hosts_file: c.known_hosts_file.clone(),
        }
    }
}

/// Defaults, in one place so the example file and the docs can point here.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Polling a remote more often than this is load on the git server, not freshness: use a
/// webhook instead.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl Config {
    /// Decryption keys more than one app uses, with those apps: each of them can decrypt what
    /// the others' repositories hold, which is worth a warning (give each team its own key).
    pub fn shared_decryption_keys(&self) -> Vec<(String, Vec<String>)> {
        let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for app in &self.apps {
            let Some(decryption) = &app.decryption else {
                continue;
            };
            let key = match &decryption.keys {
                DecryptionKeys::File(path) => format!("keyFile {}", path.display()),
                DecryptionKeys::Secret(s) => format!(
                    "secretRef {}/{} key {}",
                    s.namespace.as_deref().unwrap_or("<ordo's namespace>"),
                    s.name,
                    s.key
                ),
            };
            by_key.entry(key).or_default().push(app.name.clone());
        }
        by_key
            .into_iter()
            .filter(|(_, apps)| apps.len() > 1)
            .collect()
    }

    /// Apps grouped by repository URL, in order of first appearance, so the agent fetches each
    /// repository once however many apps (refs, paths, namespaces) read from it.
    pub fn repos(&self) -> Vec<(String, Vec<usize>)> {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, app) in self.apps.iter().enumerate() {
            match groups.iter_mut().find(|(url, _)| *url == app.repo) {
                Some((_, members)) => members.push(i),
                None => groups.push((app.repo.clone(), vec![i])),
            }
        }
        groups
    }

    /// The app called `name`.
    pub fn app(&self, name: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.name == name)
    }
}

impl AppConfig {
    /// Which revision of which repository, with its credentials.
    pub fn repo_spec(&self) -> RepoSpec {
        RepoSpec {
            credentials: Credentials::from(&self.credentials),
            ..RepoSpec::new(self.repo.clone(), self.reference.clone())
        }
    }

    /// Which files of the tree are manifests.
    pub fn selection(&self) -> Selection {
        let mut sel = Selection::at(self.path.clone());
        if !self.include.is_empty() {
            sel.include = self.include.clone();
        }
        sel.exclude = self.exclude.clone();
        sel
    }

    /// How the render layer turns `path` into manifests, with the default limits.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            kind: self.source,
            helm: self.helm.clone(),
            kustomize: self.kustomize,
            substitute: self.substitute.clone(),
            ..RenderOptions::default()
        }
    }

    /// The key file SOPS files are decrypted with, when the app names one.
    pub fn decryption_key_file(&self) -> Option<&Path> {
        match &self.decryption.as_ref()?.keys {
            DecryptionKeys::File(path) => Some(path.as_path()),
            DecryptionKeys::Secret(_) => None,
        }
    }
}

/// A config file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML, or past the parser's input budgets.
    #[error("{file}{}: {message}", at_line(*line))]
    Syntax {
        file: String,
        line: Option<u64>,
        message: String,
    },
    /// Valid YAML, wrong content: `path` is the field, e.g. `apps[1].interval`.
    #[error("{file}{}: {}{message}", at_line(*line), field(path))]
    Invalid {
        file: String,
        line: Option<u64>,
        path: String,
        message: String,
    },
}

fn at_line(line: Option<u64>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn field(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: origin.clone(),
        source,
    })?;
    parse(&text, &origin)
}

/// Validates config text; `origin` names it in errors (usually the file's path).
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let root = node::parse(text).map_err(|e| ConfigError::Syntax {
        file: origin.to_owned(),
        line: e.location().map(|l| l.line()).filter(|l| *l > 0),
        message: e.to_string().lines().next().unwrap_or_default().to_owned(),
    })?;
    validate::config(&root, origin)
}

#[cfg(test)]
mod tests;
