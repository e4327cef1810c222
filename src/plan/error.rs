//! What can make a set of objects impossible to plan.

use thiserror::Error;

use crate::manifest::Origin;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error(
        "{origin}: {id} has annotation ordo.dev/tier: {value:?}, which is not a tier; use one of config, database, backend, frontend, monitoring"
    )]
    UnknownTier {
        id: String,
        origin: Origin,
        value: String,
    },

    #[error("{origin}: {id} has ordo.dev/depends-on entry {entry:?} that {problem}")]
    DependsOn {
        id: String,
        origin: Origin,
        entry: String,
        problem: String,
    },

    #[error("{origin}: {id} has argocd.argoproj.io/sync-wave {value:?}, which is not an integer")]
    SyncWave {
        id: String,
        origin: Origin,
        value: String,
    },

    /// `detail`: the annotation, its value and what was expected.
    #[error("{origin}: {id} has annotation {detail}")]
    Annotation {
        id: String,
        origin: Origin,
        detail: String,
    },

    #[error(
        "dependency cycle through an explicit dependency: {cycle}; remove or change one of these edges (ordo.dev/depends-on, ordo.dev/tier or sync waves)"
    )]
    Cycle { cycle: String },
}
