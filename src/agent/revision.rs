//! One revision of an app, read the way `ordo plan` reads it: the files its source kind needs
//! (`render::read_source`), rendered (Kustomize, Helm or as they are), loaded and planned. Off
//! the async threads: git and the render tools block.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::AppConfig;
use crate::manifest;
use crate::plan::{self, Plan};
use crate::render::{RenderRequest, Renderer};
use crate::source::{self, RepoSpec, Snapshot, SourceError};

/// A revision read from git: its snapshot, and its plan or why it cannot be applied (a bad
/// commit: the render, a manifest or the plan refused it).
pub(super) struct Revision {
    pub snapshot: Snapshot,
    pub plan: Result<Plan, String>,
}

/// `Err` only when git could not be read: not the commit's fault.
pub(super) async fn load(
    spec: RepoSpec,
    cache_dir: PathBuf,
    config: AppConfig,
    renderer: Arc<Renderer>,
) -> Result<Revision, SourceError> {
    tokio::task::spawn_blocking(move || read(&spec, &cache_dir, &config, &renderer))
        .await
        .map_err(|e| SourceError::Task(e.to_string()))?
}

fn read(
    spec: &RepoSpec,
    cache_dir: &std::path::Path,
    config: &AppConfig,
    renderer: &Renderer,
) -> Result<Revision, SourceError> {
    let mut options = config.render_options();
    let snapshot = crate::render::read_source(
        &config.path,
        config.selection(),
        &mut options,
        |selection, pinned| {
            let mut spec = spec.clone();
            if let Some(sha) = pinned {
                spec.reference = sha;
            }
            source::fetch(&spec, cache_dir, selection)
        },
    )?;
    let plan = renderer
        .render(&RenderRequest {
            files: &snapshot.files,
            app_path: &config.path,
            namespace: &config.namespace,
            options: &options,
        })
        .map_err(|e| e.to_string())
        .and_then(|files| manifest::load(&files, &config.namespace).map_err(|e| e.to_string()))
        .and_then(|objects| plan::build(objects, config.ordering).map_err(|e| e.to_string()));
    Ok(Revision { snapshot, plan })
}
