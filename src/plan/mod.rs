//! The plan: every object with its tier (and why), the dependency edges (and why), the graph
//! the scheduler walks, and one apply order. Pure: objects in, plan out.

mod clients;
mod command_line;
mod compact;
mod discovery;
mod edge;
mod error;
mod explicit;
mod frontend;
mod graph;
mod hash;
mod hook;
mod refs;
mod tier;
mod workload;

#[cfg(test)]
mod repository_tests;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use compact::CompactPlan;
pub use edge::{Edge, Rule};
pub use error::PlanError;
pub use explicit::{DEPENDS_ON_ANNOTATION, SYNC_WAVE_ANNOTATION};
pub use graph::{Graph, Node};
pub use hash::{CONFIG_HASH_ANNOTATION, ConfigHashKey, reads_config};
pub use hook::{DeletePolicy, Hook, HookPhase};
pub use tier::{TIER_ANNOTATION, Tier, TierReason, TierRule};
pub use workload::pod_template_pointer;

use crate::manifest::Object;

/// How tiers constrain the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// No object of a tier starts before every object of the earlier tiers is healthy.
    #[default]
    Tiers,
    /// Only the inferred and explicit edges order objects: the shortest critical path.
    Graph,
}

impl std::fmt::Display for Ordering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ordering::Tiers => "tiers",
            Ordering::Graph => "graph",
        })
    }
}

/// One object of the plan.
#[derive(Debug, Clone)]
pub struct PlannedObject {
    pub object: Object,
    pub tier: Tier,
    pub tier_reason: TierReason,
    /// Argo CD sync wave (0 when unset).
    pub wave: i64,
    /// `ordo.dev/config-hash` to stamp on the pod template, for workloads reading config.
    pub config_hash: Option<String>,
    /// 1-based position in the apply order.
    pub step: usize,
    /// Set for hooks: applied in their phase rather than with the rest.
    pub hook: Option<Hook>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub ordering: Ordering,
    /// In the order of the input; `order` gives the apply order.
    pub objects: Vec<PlannedObject>,
    pub edges: Vec<Edge>,
    pub graph: Graph,
    pub order: Vec<usize>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Edges leaving object `i` (what it waits for).
    pub fn dependencies(&self, i: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.from == i)
    }

    /// A plan of object `i` alone, keeping its tier and config hash: to diff or look at one
    /// object without touching the others.
    pub fn only(&self, i: usize) -> Plan {
        let mut object = self.objects[i].clone();
        object.step = 1;
        Plan {
            ordering: self.ordering,
            objects: vec![object],
            edges: Vec::new(),
            graph: Graph {
                nodes: vec![graph::Node::Object { index: 0 }],
                needs: vec![Vec::new()],
            },
            order: vec![0],
            warnings: Vec::new(),
        }
    }
}

/// [`build_keyed`] with the public display key for config hashes: for plans that are shown or
/// compared by identity only (`ordo plan`, pruning), never for what a sync writes.
pub fn build(objects: Vec<Object>, ordering: Ordering) -> Result<Plan, PlanError> {
    build_keyed(objects, ordering, &ConfigHashKey::display())
}

/// Classifies, infers edges, orders, and stamps config hashes keyed with `key`. Errors name
/// the object and what to change.
pub fn build_keyed(
    objects: Vec<Object>,
    ordering: Ordering,
    key: &ConfigHashKey,
) -> Result<Plan, PlanError> {
    let index = workload::WorkloadIndex::new(&objects);
    let lookup = refs::Lookup::new(&objects);
    let services = discovery::ServiceNames::new(&objects);
    let namings: Vec<Vec<discovery::Naming>> = objects
        .iter()
        .map(|o| {
            workload::pod_spec(o)
                .map(|spec| discovery::named_by_pod(o, spec, &objects, &lookup, &services))
                .unwrap_or_default()
        })
        .collect();
    let evidence = tier::Evidence {
        index: &index,
        lookup: &lookup,
        namings: &namings,
    };
    let tiers = tier::classify(&objects, &evidence).map_err(|e| PlanError::UnknownTier {
        id: objects[e.index].id.to_string(),
        origin: objects[e.index].origin.clone(),
        value: e.value,
    })?;
    let hooks = objects
        .iter()
        .map(hook::hook_of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut waves = explicit::sync_waves(&objects)?;
    // A hook outside the Sync phase is ordered by its weight within its phase (hook.rs), not
    // by the waves of the objects it runs apart from.
    for (wave, hook) in waves.iter_mut().zip(&hooks) {
        if hook.as_ref().is_some_and(|h| !h.runs_in(HookPhase::Sync)) {
            *wave = 0;
        }
    }
    let mut edges = refs::inferred_edges(&objects, &lookup, &index, &namings);
    edges.extend(explicit::depends_on_edges(&objects)?);
    edges.sort_by_key(|e| (e.from, e.to));
    let stages: Vec<graph::Stage> = tiers
        .iter()
        .map(|t| t.0)
        .zip(waves.iter().copied())
        .collect();
    let clients = clients::classify(&objects, &index);
    let ordered = graph::order(&objects, &stages, edges, (ordering, &clients))?;
    let hashes: Vec<Option<String>> = objects
        .iter()
        .map(|o| hash::config_hash(o, &lookup, &objects, key))
        .collect();
    let mut steps = vec![0; objects.len()];
    for (pos, &i) in ordered.order.iter().enumerate() {
        steps[i] = pos + 1;
    }
    let planned = objects
        .into_iter()
        .zip(tiers)
        .zip(waves)
        .zip(hashes)
        .zip(steps)
        .zip(hooks)
        .map(
            |(((((object, (tier, tier_reason)), wave), config_hash), step), hook)| PlannedObject {
                object,
                tier,
                tier_reason,
                wave,
                config_hash,
                step,
                hook,
            },
        )
        .collect();
    Ok(Plan {
        ordering,
        objects: planned,
        edges: ordered.edges,
        graph: ordered.graph,
        order: ordered.order,
        warnings: ordered.warnings,
    })
}
