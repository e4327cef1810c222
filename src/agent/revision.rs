//! One revision of an app, read the way `ordo plan` reads it: the files its source kind needs
//! (`render::read_source`), rendered (Kustomize, Helm or as they are), loaded and planned. Off
//! the async threads: git and the render tools block.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::age_secret::AgeSecret;
use super::decide::NoPlan;
use crate::cluster::Cluster;
use crate::config::{AppConfig, DecryptionKeys};
use crate::decrypt::{self, DecryptError, Identities};
use crate::manifest;
use crate::plan::{self, ConfigHashKey, Plan};
use crate::render::{RenderRequest, Renderer, SourceKind};
use crate::source::{self, RepoSpec, Snapshot, SourceError};
use crate::verify::{self, SignatureState, Verdict};

/// A revision read from git: its snapshot, and its plan or why it cannot be applied (a bad
/// commit: the render, a manifest or the plan refused it; or a failure that is not the
/// commit's, such as a chart repository's 5xx, to be retried).
pub(super) struct Revision {
    pub snapshot: Snapshot,
    /// None when its inputs are those given as unchanged: not rendered, not planned.
    pub plan: Option<Result<Plan, NoPlan>>,
    /// What the plan is made from: every file read (the app's path and what it includes),
    /// the render options and the cluster's capabilities. Equal inputs, equal plan.
    pub inputs: Inputs,
    /// The source kind it was read as (`auto` resolved).
    pub kind: SourceKind,
    /// What its commit's signature says, when the app verifies signatures.
    pub signature: Option<SignatureState>,
    /// The values its SOPS files decrypted to, for readers' views to cut out.
    pub secrets: Arc<crate::render::Secrets>,
}

/// What reading a revision needs from the cluster: the config-hash key, Helm's
/// capabilities, and where the age keys of a `decryption.secretRef` are.
pub(super) type ClusterInputs = (Capabilities, ConfigHashKey, Option<AgeSecret>);

/// The Secret holding `config`'s age keys, when it names one; `own_namespace` is ordo's.
pub(super) fn age_secret(
    config: &AppConfig,
    cluster: &Cluster,
    own_namespace: &str,
) -> Option<AgeSecret> {
    match &config.decryption.as_ref()?.keys {
        DecryptionKeys::Secret(secret) => Some(AgeSecret::new(cluster, secret, own_namespace)),
        DecryptionKeys::File(_) => None,
    }
}

/// A digest of what a revision's plan is made from (see [`Revision::inputs`]).
pub(super) type Inputs = [u8; 32];

/// The digest of `files` as read with `options`.
fn inputs_of(files: &[source::SourceFile], options: &crate::render::RenderOptions) -> Inputs {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(format!("{options:?}").as_bytes());
    let mut sorted: Vec<&source::SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for f in sorted {
        hasher.update((f.path.len() as u64).to_be_bytes());
        hasher.update(f.path.as_bytes());
        hasher.update((f.data.len() as u64).to_be_bytes());
        hasher.update(&f.data);
    }
    hasher.finalize().into()
}

/// What the target cluster serves, for Helm's `.Capabilities`: its version and API versions.
pub(super) type Capabilities = Option<(String, Vec<String>)>;

/// The cluster's version and API versions, shared by every app of the agent: asked at most
/// every 10 minutes, and only when some revision is read (cost follows change).
#[derive(Default)]
pub(super) struct CapabilitiesCache {
    asked: tokio::sync::Mutex<Option<Asked>>,
}

/// The answer, and when it was given.
type Asked = (tokio::time::Instant, (String, Vec<String>));

impl CapabilitiesCache {
    /// `None` when the API server cannot say: Helm then renders with its defaults.
    pub async fn get(&self, cluster: &Cluster, app: &str) -> Capabilities {
        let mut asked = self.asked.lock().await;
        let fresh = asked
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < Duration::from_secs(600));
        if !fresh {
            match cluster.capabilities().await {
                Ok(c) => *asked = Some((tokio::time::Instant::now(), c)),
                Err(e) => {
                    tracing::warn!(app, error = %e, "cannot read the cluster's API versions for Helm");
                }
            }
        }
        asked.as_ref().map(|(_, c)| c.clone())
    }
}

/// `Err` only when git could not be read: not the commit's fault. `unchanged`: the inputs
/// of the revision the cluster holds; a revision with the same inputs is not rendered.
pub(super) async fn load(
    spec: RepoSpec,
    cache_dir: PathBuf,
    config: AppConfig,
    renderer: Arc<Renderer>,
    (capabilities, key, age_secret): ClusterInputs,
    unchanged: Option<Inputs>,
) -> Result<Revision, SourceError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let git = Git {
            spec: &spec,
            cache_dir: &cache_dir,
            runtime: &runtime,
        };
        read(
            &git,
            &config,
            &renderer,
            capabilities,
            (&key, age_secret.as_ref()),
            unchanged,
        )
    })
    .await
    .map_err(|e| SourceError::Task(e.to_string()))?
}

/// Where `read` fetches from, and the runtime its fetches are watched on.
struct Git<'a> {
    spec: &'a RepoSpec,
    cache_dir: &'a std::path::Path,
    runtime: &'a tokio::runtime::Handle,
}

fn read(
    git: &Git<'_>,
    config: &AppConfig,
    renderer: &Renderer,
    capabilities: Capabilities,
    (key, age_secret): (&ConfigHashKey, Option<&AgeSecret>),
    unchanged: Option<Inputs>,
) -> Result<Revision, SourceError> {
    let mut options = config.render_options();
    if let Some((version, apis)) = capabilities {
        // The app's own helm.kubeVersion wins over the cluster's.
        options.helm.kube_version.get_or_insert(version);
        options.helm.api_versions = apis;
    }
    let snapshot = crate::render::read_source(
        &config.path,
        config.selection(),
        &mut options,
        |selection, pinned| {
            let mut spec = git.spec.clone();
            if let Some(sha) = pinned {
                spec.reference = sha;
            }
            // Through the async wrapper, whose watchdog gives up on a silent server; this
            // blocking-pool thread may wait on it.
            git.runtime.block_on(source::fetch_async(
                spec,
                git.cache_dir.to_path_buf(),
                selection.clone(),
            ))
        },
    )?;
    // An untrusted commit goes no further: not even its SOPS files are opened.
    let (signature, trusted) = check_signature(config, &snapshot);
    let inputs = inputs_of(&snapshot.files, &options);
    // What comes from elsewhere (a chart or a base fetched at render time) may have moved
    // with the same files: those apps are always rendered.
    let fetched_at_render = options.helm.remote.is_some() || options.kustomize.allow_remote_bases;
    if trusted.is_ok() && !fetched_at_render && unchanged == Some(inputs) {
        return Ok(Revision {
            snapshot,
            plan: None,
            inputs,
            kind: options.kind,
            signature,
            secrets: Arc::default(),
        });
    }
    // The keys are read (from a Secret or a file) only when a SOPS file is to be decrypted.
    let from_secret = age_secret.map(|secret| {
        move || -> Result<Identities, DecryptError> { git.runtime.block_on(secret.identities()) }
    });
    let from_file = config
        .decryption_key_file()
        .map(|path| move || Identities::load(path));
    let keys: Option<&dyn Fn() -> Result<Identities, DecryptError>> =
        match (&from_secret, &from_file) {
            (Some(f), _) => Some(f),
            (None, Some(f)) => Some(f),
            (None, None) => None,
        };
    let (plan, secrets) = match trusted
        .map_err(NoPlan::bad_commit)
        .and_then(|()| plan_of(&snapshot, config, &options, renderer, key, keys))
    {
        Ok((plan, secrets)) => (Ok(plan), Arc::new(secrets)),
        Err(e) => (Err(e), Arc::default()),
    };
    Ok(Revision {
        snapshot,
        plan: Some(plan),
        inputs,
        kind: options.kind,
        signature,
        secrets,
    })
}

/// Decrypts, renders, loads and plans `snapshot`. A file that does not decrypt, a render,
/// a manifest or a plan refused is the commit's fault; a failure that is not (the errors'
/// `is_transient`: a full disk, a tool's timeout, a chart repository's 5xx, an unreadable
/// key Secret) is marked so, to be retried. Every message is scrubbed of the values
/// decrypted: a chart's `{{ fail .Values.db.password }}`, or a loader quoting a value,
/// would otherwise put them in `lastError`, the history, the log and notifications.
fn plan_of(
    snapshot: &Snapshot,
    config: &AppConfig,
    options: &crate::render::RenderOptions,
    renderer: &Renderer,
    key: &ConfigHashKey,
    keys: Option<&dyn Fn() -> Result<Identities, DecryptError>>,
) -> Result<(Plan, crate::render::Secrets), NoPlan> {
    let files =
        decrypt::for_render_with(&snapshot.files, &config.path, options, keys).map_err(|e| {
            NoPlan {
                message: e.to_string(),
                transient: e.is_transient(),
            }
        })?;
    let secrets = files.secrets();
    let bad = |e: &dyn std::fmt::Display| NoPlan::bad_commit(secrets.scrub(&e.to_string()));
    let rendered = renderer
        .render(&RenderRequest {
            files: &files,
            app_path: &config.path,
            namespace: &config.namespace,
            options,
            secret_values: files.secret_values(),
        })
        .map_err(|e| NoPlan {
            message: secrets.scrub(&e.to_string()),
            transient: e.is_transient(),
        })?;
    decrypt::refuse_ciphertext(&rendered, options).map_err(|e| bad(&e))?;
    let mut objects = manifest::load(&rendered, &config.namespace).map_err(|e| bad(&e))?;
    if let Some(metadata) = &config.create_namespace {
        manifest::add_namespace(&mut objects, &config.namespace, metadata).map_err(|e| bad(&e))?;
    }
    let plan = plan::build_keyed(objects, config.ordering, key).map_err(|e| bad(&e))?;
    Ok((plan, secrets.clone()))
}

/// The signature of `snapshot`'s commit, when `config` verifies signatures, and whether the
/// commit may be applied: an unsigned or untrusted one is refused like a bad commit.
fn check_signature(
    config: &AppConfig,
    snapshot: &Snapshot,
) -> (Option<SignatureState>, Result<(), String>) {
    let Some(verify) = &config.verify else {
        return (None, Ok(()));
    };
    let verdict =
        verify::commit(snapshot, &verify.signers).unwrap_or_else(|e| Verdict::Untrusted {
            found: None,
            reason: e.to_string(),
        });
    let sha = snapshot.commit.as_ref().map_or("", |c| c.sha.as_str());
    let state = SignatureState::new(sha, &verdict);
    let trusted = if verdict.is_trusted() {
        Ok(())
    } else {
        Err(format!(
            "untrusted commit {sha}: {verdict}; only commits signed by a key of {} are applied \
             (verify.signers)",
            verify.signers.display()
        ))
    };
    (Some(state), trusted)
}
