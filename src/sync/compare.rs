//! Desired vs live through the API server: a server-side dry run of the desired object, compared
//! with the live one after normalizing, and the apply that follows when they differ. The one
//! path every caller takes: a sync validating its plan, a custom resource discovered mid-sync,
//! and drift detection and healing.

use serde_json::Value;

use crate::cluster::{ApplyOptions, Cluster, ClusterError, Resource};
use crate::diff::{self, SyncStatus};

/// The object as it would be after applying `desired`; writes nothing.
pub async fn dry_run(
    cluster: &Cluster,
    resource: &Resource,
    desired: &Value,
    force: bool,
) -> Result<Value, ClusterError> {
    let opts = ApplyOptions {
        dry_run: true,
        force,
    };
    cluster.apply(resource, desired, opts).await
}

/// How desired and live compare, and which fields differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub status: SyncStatus,
    /// Dotted paths of the fields that differ (empty when Synced or Missing).
    pub paths: Vec<String>,
}

/// Compares `desired` with `live` (`None`: the object does not exist) by dry run.
pub async fn compare(
    cluster: &Cluster,
    resource: &Resource,
    desired: &Value,
    live: Option<&Value>,
    force: bool,
) -> Result<Comparison, ClusterError> {
    let Some(live) = live else {
        return Ok(Comparison {
            status: SyncStatus::Missing,
            paths: Vec::new(),
        });
    };
    let dry = dry_run(cluster, resource, desired, force).await?;
    Ok(Comparison {
        status: diff::compare(&dry, Some(live)),
        paths: diff::changed_paths(&dry, live),
    })
}

/// Applies `desired` for real (server-side apply, ordo's field manager).
pub async fn apply(
    cluster: &Cluster,
    resource: &Resource,
    desired: &Value,
    force: bool,
) -> Result<Value, ClusterError> {
    let opts = ApplyOptions {
        dry_run: false,
        force,
    };
    cluster.apply(resource, desired, opts).await
}
