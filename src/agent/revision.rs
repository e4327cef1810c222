//! One revision of an app, read the way `ordo plan` reads it: the files its source kind needs
//! (`render::read_source`), rendered (Kustomize, Helm or as they are), loaded and planned. Off
//! the async threads: git and the render tools block.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::config::AppConfig;
use crate::decrypt;
use crate::manifest;
use crate::plan::{self, ConfigHashKey, Plan};
use crate::render::{RenderRequest, Renderer, SourceKind};
use crate::source::{self, RepoSpec, Snapshot, SourceError};

/// A revision read from git: its snapshot, and its plan or why it cannot be applied (a bad
/// commit: the render, a manifest or the plan refused it).
pub(super) struct Revision {
    pub snapshot: Snapshot,
    pub plan: Result<Plan, String>,
    /// The source kind it was read as (`auto` resolved).
    pub kind: SourceKind,
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

/// `Err` only when git could not be read: not the commit's fault.
pub(super) async fn load(
    spec: RepoSpec,
    cache_dir: PathBuf,
    config: AppConfig,
    renderer: Arc<Renderer>,
    (capabilities, key): (Capabilities, ConfigHashKey),
) -> Result<Revision, SourceError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let git = Git {
            spec: &spec,
            cache_dir: &cache_dir,
            runtime: &runtime,
        };
        read(&git, &config, &renderer, capabilities, &key)
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
    key: &ConfigHashKey,
) -> Result<Revision, SourceError> {
    let mut options = config.render_options();
    if let Some((version, apis)) = capabilities {
        options.helm.kube_version = Some(version);
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
    // A file that does not decrypt, or whose MAC does not match, is the commit's fault.
    let plan = decrypt::for_render(
        &snapshot.files,
        &config.path,
        &options,
        config.decryption_key_file(),
    )
    .map_err(|e| e.to_string())
    .and_then(|files| {
        renderer
            .render(&RenderRequest {
                files: &files,
                app_path: &config.path,
                namespace: &config.namespace,
                options: &options,
            })
            .map_err(|e| e.to_string())
    })
    .and_then(|files| {
        decrypt::refuse_ciphertext(&files, &options).map_err(|e| e.to_string())?;
        Ok(files)
    })
    .and_then(|files| manifest::load(&files, &config.namespace).map_err(|e| e.to_string()))
    .and_then(|objects| {
        plan::build_keyed(objects, config.ordering, key).map_err(|e| e.to_string())
    });
    Ok(Revision {
        snapshot,
        plan,
        kind: options.kind,
    })
}
