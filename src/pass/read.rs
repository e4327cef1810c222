//! One revision of an app, read: fetched (the files its source kind needs), its signature
//! checked, its SOPS files decrypted, rendered (Kustomize, Helm or as they are), loaded and
//! planned. Async from end to end: git is fetched through its async wrapper, and the steps
//! that block (decrypt, render, load, plan) run on the blocking pool; nothing waits on the
//! runtime from inside it.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::age_secret::AgeSecret;
use super::capabilities::CapabilitiesCache;
use super::error::{PassError, Stage, transient_or_lasting};
use super::hash_key::{HashKeys, KeyError};
use super::spec::{AppSpec, GivenBy, Keys, Origin};
use crate::cluster::Cluster;
use crate::decrypt::{self, Identities};
use crate::manifest::{self, Object};
use crate::plan::{self, ConfigHashKey, Plan};
use crate::render::{
    self, RenderError, RenderOptions, RenderRequest, Renderer, Secrets, SourceKind,
};
use crate::source::{self, CommitInfo, Selection, Snapshot, SourceError, SourceFile};
use crate::verify::{self, SignatureState, Verdict};

/// A digest of what a revision's plan is made from: every file read (the app's path and
/// what it includes) and the render options, the cluster's capabilities among them. Equal
/// inputs, equal plan.
pub type Inputs = [u8; 32];

/// What the passes of one process share: the renderer (and its cache) and, when there is
/// one, the cluster the apps deploy to.
pub struct Reader {
    pub renderer: Arc<Renderer>,
    pub target: Option<Target>,
}

/// The cluster apps deploy to, as a read needs it: the config-hash key, Helm's
/// capabilities, and the Secrets of `decryption.secretRef`, all read as ordo itself (not
/// as an app's ServiceAccount: they are ordo's).
pub struct Target {
    pub cluster: Cluster,
    pub keys: Arc<HashKeys>,
    pub capabilities: Arc<CapabilitiesCache>,
}

/// A revision as read.
pub struct Revision {
    /// None for a directory.
    pub commit: Option<CommitInfo>,
    /// The commit SHA, or for a directory a hash of its files: what hooks key on.
    pub revision: String,
    /// Where it was read from, without credentials.
    pub location: String,
    /// The source kind it was read as (`auto` resolved).
    pub kind: SourceKind,
    /// What its commit's signature says, when the app verifies signatures.
    pub signature: Option<SignatureState>,
    pub inputs: Inputs,
    /// Its plan, or why there is none; [`Planned::Unchanged`] when its inputs are those given
    /// as unchanged (not rendered, not planned).
    pub planned: Result<Planned, PassError>,
}

/// What a revision read into.
pub enum Planned {
    Unchanged,
    Plan {
        plan: Plan,
        /// What its SOPS files decrypted to, for diffs and views to cut out.
        secrets: Arc<Secrets>,
    },
}

impl Revision {
    /// The plan, for a caller that gave no inputs as unchanged (the CLI).
    pub fn into_plan(self) -> Result<(Plan, Arc<Secrets>), PassError> {
        match self.planned? {
            Planned::Plan { plan, secrets } => Ok((plan, secrets)),
            Planned::Unchanged => Err(PassError::input(
                "the revision was read as unchanged, and not planned",
            )),
        }
    }
}

impl Reader {
    /// Reads `spec` at commit `at` (else its ref). `Err` only when nothing could be read
    /// (git, the directory, the app as given); a revision that was read but cannot be
    /// applied carries why in [`Revision::planned`]. `unchanged`: the inputs of the revision
    /// the cluster holds; a revision with the same inputs is not rendered.
    pub async fn read(
        &self,
        spec: &AppSpec,
        at: Option<&str>,
        unchanged: Option<Inputs>,
    ) -> Result<Revision, PassError> {
        let mut options = spec.render.clone();
        let snapshot = fetch(spec, at, &mut options)
            .await
            .map_err(|e| PassError::source(&e))?;
        if options.kind == SourceKind::Helm
            && let Some(target) = &self.target
            && let Some((version, apis)) =
                target.capabilities.get(&target.cluster, &spec.name).await
        {
            // The app's own helm.kubeVersion (or --kube-version) wins over the cluster's.
            options.helm.kube_version.get_or_insert(version);
            options.helm.api_versions = apis;
        }
        // An untrusted commit goes no further: not even its SOPS files are opened.
        let (signature, trusted) = check_signature(spec, &snapshot)?;
        let mut revision = Revision {
            revision: match &snapshot.commit {
                Some(c) => c.sha.clone(),
                None => content_hash(&snapshot.files),
            },
            commit: snapshot.commit.clone(),
            location: spec.location(),
            kind: options.kind,
            signature,
            inputs: inputs_of(&snapshot.files, &options),
            planned: Ok(Planned::Unchanged),
        };
        // What comes from elsewhere (a chart or a base fetched at render time) may have moved
        // with the same files: those apps are always rendered.
        let fetched_at_render =
            options.helm.remote.is_some() || options.kustomize.allow_remote_bases;
        if trusted.is_ok() && !fetched_at_render && unchanged == Some(revision.inputs) {
            return Ok(revision);
        }
        revision.planned = match trusted {
            Ok(()) => self.plan(spec, snapshot, options).await,
            Err(refused) => Err(refused),
        };
        Ok(revision)
    }

    /// Decrypts, renders, loads and plans `snapshot`. Every message is scrubbed of the
    /// values decrypted: a chart's `{{ fail .Values.db.password }}`, or a loader quoting a
    /// value, would otherwise put them in `lastError`, the history, the log and
    /// notifications.
    async fn plan(
        &self,
        spec: &AppSpec,
        snapshot: Snapshot,
        options: RenderOptions,
    ) -> Result<Planned, PassError> {
        let identities = self.identities(spec, &snapshot.files, &options).await?;
        let (renderer, for_render) = (self.renderer.clone(), spec.clone());
        let (objects, secrets) = tokio::task::spawn_blocking(move || {
            load(
                &snapshot,
                &for_render,
                &options,
                &renderer,
                identities.as_ref(),
            )
        })
        .await
        .map_err(|e| PassError::task(&e))??;
        // The key is asked for only when a workload reads config: a sync with nothing to hash
        // needs no right on the key's Secret, and `ordo plan` shows the public key's hashes.
        let key = match &self.target {
            Some(target) if plan::reads_config(&objects) => hash_key(target, spec).await?,
            _ => ConfigHashKey::display(),
        };
        let ordering = spec.ordering;
        let plan = tokio::task::spawn_blocking(move || {
            plan::build_keyed(objects, ordering, &key)
                .map_err(|e| PassError::commit(Stage::Plan, secrets.scrub(&e.to_string())))
                .map(|plan| (plan, secrets))
        })
        .await
        .map_err(|e| PassError::task(&e))??;
        Ok(Planned::Plan {
            plan: plan.0,
            secrets: Arc::new(plan.1),
        })
    }

    /// The keys that open the SOPS files a render of `options` reads, read only when there
    /// is one (an app without one needs no right on its key Secret).
    async fn identities(
        &self,
        spec: &AppSpec,
        files: &[SourceFile],
        options: &RenderOptions,
    ) -> Result<Option<Identities>, PassError> {
        let needed =
            decrypt::needs_keys(files, &spec.path, options).map_err(|e| PassError::decrypt(&e))?;
        if !needed {
            return Ok(None);
        }
        let identities = match (&spec.keys, &self.target) {
            // Without keys the decryption itself says which file and which recipients.
            (Keys::None, _) => return Ok(None),
            (Keys::File(path), _) => Identities::load(path),
            (Keys::Secret(secret), Some(target)) => {
                let own = target.keys.namespace_for(&spec.namespace);
                AgeSecret::new(&target.cluster, secret, own)
                    .identities()
                    .await
            }
            (Keys::Secret(secret), None) => {
                return Err(PassError::input(format!(
                    "app {}: decryption.secretRef {} is read from the cluster, and this command \
                     has none: pass the key file with --decryption-key-file",
                    spec.name, secret.name
                )));
            }
        };
        identities.map(Some).map_err(|e| PassError::decrypt(&e))
    }
}

/// The config-hash key of `spec`'s namespace. No key, no sync: see `hash_key.rs`.
async fn hash_key(target: &Target, spec: &AppSpec) -> Result<ConfigHashKey, PassError> {
    target
        .keys
        .get(&target.cluster, &spec.namespace)
        .await
        .map_err(|e| {
            let transient = matches!(&e, KeyError::Cluster { source, .. } if source.is_transient());
            PassError::new(Stage::Key, transient_or_lasting(transient), e.to_string())
        })
}

/// Decrypts, renders and loads: the blocking part of a read.
fn load(
    snapshot: &Snapshot,
    spec: &AppSpec,
    options: &RenderOptions,
    renderer: &Renderer,
    identities: Option<&Identities>,
) -> Result<(Vec<Object>, Secrets), PassError> {
    let files = decrypt::for_render_with(&snapshot.files, &spec.path, options, identities)
        .map_err(|e| PassError::decrypt(&e))?;
    let secrets = files.secrets().clone();
    let bad =
        |stage, e: &dyn std::fmt::Display| PassError::commit(stage, secrets.scrub(&e.to_string()));
    let rendered = renderer
        .render(&RenderRequest {
            files: &files,
            app_path: &spec.path,
            namespace: &spec.namespace,
            options,
            secret_values: files.secret_values(),
        })
        .map_err(|e| render_error(e, spec, &secrets))?;
    decrypt::refuse_ciphertext(&rendered, options).map_err(|e| bad(Stage::Decrypt, &e))?;
    let mut objects =
        manifest::load(&rendered, &spec.namespace).map_err(|e| bad(Stage::Load, &e))?;
    if let Some(metadata) = &spec.create_namespace {
        manifest::add_namespace(&mut objects, &spec.namespace, metadata)
            .map_err(|e| bad(Stage::Load, &e))?;
    }
    Ok((objects, secrets))
}

/// A render's error; for a source given on the command line, a path outside the directory
/// says how to give the bases too.
fn render_error(e: RenderError, spec: &AppSpec, secrets: &Secrets) -> PassError {
    let hint = matches!(e, RenderError::PathOutside { .. }) && spec.given_by == GivenBy::Flags;
    let mut error = PassError::render(e, secrets);
    if hint {
        error.message.push_str(
            " (the directory given is read as the repository root: give the directory holding \
             the bases too, and the overlay with --path)",
        );
    }
    error
}

/// Reads what the source kind needs: the selected manifest files for a directory, the whole
/// tree's kustomizations and charts, then what they reach, for Kustomize and Helm (see
/// `render::read_source`).
async fn fetch(
    spec: &AppSpec,
    at: Option<&str>,
    options: &mut RenderOptions,
) -> Result<Snapshot, SourceError> {
    if let Origin::Nothing = spec.origin {
        // A chart from a chart repository with nothing from git or a directory: no values
        // files.
        options.kind = SourceKind::Helm;
        return Ok(Snapshot::default());
    }
    let read = |selection: Selection, pinned: Option<String>| {
        let at = pinned.or_else(|| at.map(str::to_owned));
        fetch_one(spec.origin.clone(), spec.cache_dir.clone(), at, selection)
    };
    render::read_source(&spec.path, spec.selection.clone(), options, read).await
}

/// One read of `selection`: a directory as it is, git by `at` (a commit already resolved)
/// else by the app's ref.
async fn fetch_one(
    origin: Origin,
    cache_dir: std::path::PathBuf,
    at: Option<String>,
    selection: Selection,
) -> Result<Snapshot, SourceError> {
    match origin {
        Origin::Git(mut repo) => {
            if let Some(sha) = at {
                repo.reference = sha;
            }
            source::fetch_async(repo, cache_dir, selection).await
        }
        Origin::Directory(dir) => {
            tokio::task::spawn_blocking(move || source::read_dir(&dir, &selection))
                .await
                .map_err(|e| SourceError::Task(e.to_string()))?
        }
        Origin::Nothing => Ok(Snapshot::default()),
    }
}

/// The signature of `snapshot`'s commit, when `spec` verifies signatures, and whether the
/// commit may be read further: an unsigned or untrusted one is refused like a bad commit.
#[allow(clippy::type_complexity)]
fn check_signature(
    spec: &AppSpec,
    snapshot: &Snapshot,
) -> Result<(Option<SignatureState>, Result<(), PassError>), PassError> {
    let Some(signers) = &spec.signers else {
        return Ok((None, Ok(())));
    };
    let Some(commit) = &snapshot.commit else {
        return Err(PassError::input(format!(
            "{} checks a git commit's signature, and {} is a directory: give a repository \
             (with --ref), or leave {} out",
            spec.signers_setting(),
            spec.location(),
            spec.signers_setting()
        )));
    };
    let verdict = verify::commit(snapshot, signers).unwrap_or_else(|e| Verdict::Untrusted {
        found: None,
        reason: e.to_string(),
    });
    let state = SignatureState::new(&commit.sha, &verdict);
    let trusted = if verdict.is_trusted() {
        Ok(())
    } else {
        Err(PassError::commit(
            Stage::Signature,
            format!(
                "untrusted commit {}: {verdict}; only commits signed by a key of {} are applied \
                 ({})",
                commit.sha,
                signers.display(),
                spec.signers_setting()
            ),
        ))
    };
    Ok((Some(state), trusted))
}

/// The digest of `files` as read with `options` (see [`Inputs`]).
fn inputs_of(files: &[SourceFile], options: &RenderOptions) -> Inputs {
    let mut hasher = Sha256::new();
    hasher.update(format!("{options:?}").as_bytes());
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for f in sorted {
        hasher.update((f.path.len() as u64).to_be_bytes());
        hasher.update(f.path.as_bytes());
        hasher.update((f.data.len() as u64).to_be_bytes());
        hasher.update(&f.data);
    }
    hasher.finalize().into()
}

/// A directory's revision: a short hash of its files.
fn content_hash(files: &[SourceFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.path.as_bytes());
        hasher.update([0]);
        hasher.update(&file.data);
    }
    hasher
        .finalize()
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}
