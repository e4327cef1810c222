//! Ordering: the one place that decides what waits for what.
//!
//! Objects are grouped in stages (tier, then sync wave). A stage boundary is one barrier node
//! that waits for every object of its stage, so "config before database" costs n + m edges,
//! not n x m. Object edges that point to a later stage are dropped when inferred (the tier
//! order wins, with a warning) and refused when explicit. Cycles left inside a stage are
//! broken by dropping their weakest inferred edge, or reported when an explicit edge is in them.

use super::clients::Client;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::Serialize;

use super::Ordering;
use super::edge::Edge;
use super::error::PlanError;
use super::tier::Tier;
use crate::manifest::Object;

/// A node of the schedule: an object, or the barrier closing a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Node {
    Object {
        index: usize,
    },
    /// Done when every object of `(tier, wave)` and every earlier stage it chains to is done.
    Barrier {
        tier: Tier,
        wave: i64,
    },
}

/// The dependency graph the scheduler walks: `needs[n]` are the nodes `n` waits for.
/// Nodes `0..objects.len()` are the objects, in the same order; barriers follow.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub needs: Vec<Vec<usize>>,
}

impl Graph {
    /// The reverse of `needs`: for each node, the nodes waiting for it.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut dependents = vec![Vec::new(); self.nodes.len()];
        for (node, needs) in self.needs.iter().enumerate() {
            for &need in needs {
                dependents[need].push(node);
            }
        }
        dependents
    }
}

pub struct Ordered {
    pub graph: Graph,
    /// Object edges kept (explicit and inferred).
    pub edges: Vec<Edge>,
    /// Object indexes in a valid apply order (a topological order of the graph).
    pub order: Vec<usize>,
    pub warnings: Vec<String>,
}

pub type Stage = (Tier, i64);

pub fn order(
    objects: &[Object],
    stages: &[Stage],
    mut edges: Vec<Edge>,
    (ordering, clients): (Ordering, &[Client]),
) -> Result<Ordered, PlanError> {
    let mut warnings = Vec::new();
    edges = drop_backward(objects, stages, edges, ordering, &mut warnings)?;
    break_cycles(objects, clients, &mut edges, &mut warnings)?;
    let graph = build(objects.len(), stages, &edges, ordering);
    let order = topological(objects, stages, &graph);
    Ok(Ordered {
        graph,
        edges,
        order,
        warnings,
    })
}

/// Edges whose target comes in a later stage than their source.
fn drop_backward(
    objects: &[Object],
    stages: &[Stage],
    edges: Vec<Edge>,
    ordering: Ordering,
    warnings: &mut Vec<String>,
) -> Result<Vec<Edge>, PlanError> {
    let mut kept = Vec::with_capacity(edges.len());
    for edge in edges {
        let (from, to) = (stages[edge.from], stages[edge.to]);
        let backward = match ordering {
            Ordering::Tiers => to > from,
            // Without tier barriers an explicit edge may cross tiers either way; waves still
            // chain inside a tier.
            Ordering::Graph if edge.rule.is_explicit() => from.0 == to.0 && to.1 > from.1,
            Ordering::Graph => to > from,
        };
        if !backward {
            kept.push(edge);
            continue;
        }
        let (a, b) = (&objects[edge.from].id, &objects[edge.to].id);
        let describe = |s: Stage| {
            if s.1 == 0 {
                s.0.to_string()
            } else {
                format!("{} wave {}", s.0, s.1)
            }
        };
        if edge.rule.is_explicit() {
            return Err(PlanError::Cycle {
                cycle: format!(
                    "{a} -> {b} ({}), but {b} is in {} which comes after {a} in {}",
                    edge.reason,
                    describe(to),
                    describe(from)
                ),
            });
        }
        warnings.push(format!(
            "ignored {a} -> {b} ({}): {b} is in {}, after {a} in {}; set ordo.dev/tier if it must come first",
            edge.reason,
            describe(to),
            describe(from)
        ));
    }
    Ok(kept)
}

/// Finds cycles among object edges; drops an inferred edge of each, or fails when an explicit
/// edge is part of it. The edge dropped is one into a pure client (a load generator, then a
/// workload no Service selects), so the client goes after what it calls; else the weakest.
fn break_cycles(
    objects: &[Object],
    clients: &[Client],
    edges: &mut Vec<Edge>,
    warnings: &mut Vec<String>,
) -> Result<(), PlanError> {
    while let Some(cycle) = find_cycle(objects.len(), edges) {
        let describe = || {
            let mut text = objects[edges[cycle[0]].from].id.to_string();
            for &e in &cycle {
                text.push_str(&format!(
                    " -> {} ({})",
                    objects[edges[e].to].id, edges[e].reason
                ));
            }
            text
        };
        if cycle.iter().any(|&e| edges[e].rule.is_explicit()) {
            return Err(PlanError::Cycle { cycle: describe() });
        }
        let client = |e: usize| clients.get(edges[e].to).unwrap_or(&Client::No);
        let weakest = cycle
            .iter()
            .copied()
            .min_by_key(|&e| (client(e), edges[e].rule))
            .unwrap_or(cycle[0]);
        let dropped = &edges[weakest];
        let why = match client(weakest).why() {
            Some(what) => format!(
                "dropped the edge into {}, {what}, so it goes after what it calls:",
                objects[dropped.to].id
            ),
            None => "dropped the weakest inferred edge".to_owned(),
        };
        warnings.push(format!(
            "dependency cycle {}: {why} {} -> {} ({})",
            describe(),
            objects[dropped.from].id,
            objects[dropped.to].id,
            dropped.reason
        ));
        edges.remove(weakest);
    }
    Ok(())
}

/// A cycle as the edge indexes along it, if there is one (iterative DFS, no recursion, so
/// deep chains cannot overflow the stack).
fn find_cycle(n: usize, edges: &[Edge]) -> Option<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (e, edge) in edges.iter().enumerate() {
        out[edge.from].push(e);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // Stack of (node, next out-edge position); `path` holds the edges taken.
        let mut stack = vec![(root, 0usize)];
        let mut path: Vec<usize> = Vec::new();
        mark[root] = Mark::Open;
        while let Some(&mut (node, ref mut pos)) = stack.last_mut() {
            if let Some(&e) = out[node].get(*pos) {
                *pos += 1;
                let next = edges[e].to;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::Open;
                        stack.push((next, 0));
                        path.push(e);
                    }
                    Mark::Open => {
                        let start = path
                            .iter()
                            .position(|&p| edges[p].from == next)
                            .unwrap_or(path.len());
                        let mut cycle = path[start..].to_vec();
                        cycle.push(e);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
                path.pop();
            }
        }
    }
    None
}

/// Object nodes plus stage barriers.
fn build(n: usize, stages: &[Stage], edges: &[Edge], ordering: Ordering) -> Graph {
    let mut nodes: Vec<Node> = (0..n).map(|index| Node::Object { index }).collect();
    let mut needs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for edge in edges {
        if !needs[edge.from].contains(&edge.to) {
            needs[edge.from].push(edge.to);
        }
    }
    let mut distinct: Vec<Stage> = stages.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    // Chains of stages: one chain over all stages (tiers), or one per tier (graph: only
    // sync waves order objects inside a tier).
    let chains: Vec<Vec<Stage>> = match ordering {
        Ordering::Tiers => vec![distinct],
        Ordering::Graph => distinct
            .chunk_by(|a, b| a.0 == b.0)
            .map(<[Stage]>::to_vec)
            .collect(),
    };
    for chain in chains {
        let mut previous: Option<usize> = None;
        for (pos, &stage) in chain.iter().enumerate() {
            let members: Vec<usize> = (0..n).filter(|&i| stages[i] == stage).collect();
            if let Some(barrier) = previous {
                for &i in &members {
                    needs[i].push(barrier);
                }
            }
            if pos + 1 == chain.len() {
                break;
            }
            let barrier = nodes.len();
            nodes.push(Node::Barrier {
                tier: stage.0,
                wave: stage.1,
            });
            let mut waits = members;
            waits.extend(previous);
            needs.push(waits);
            previous = Some(barrier);
        }
    }
    Graph { nodes, needs }
}

/// A topological order of the objects; ties go by stage, then a conventional kind order,
/// then namespace and name, so the output is stable and reads naturally.
fn topological(objects: &[Object], stages: &[Stage], graph: &Graph) -> Vec<usize> {
    let total = graph.nodes.len();
    let mut waiting: Vec<usize> = graph.needs.iter().map(Vec::len).collect();
    let dependents = graph.dependents();
    let key = |node: usize| match graph.nodes[node] {
        Node::Object { index } => {
            let o = &objects[index];
            (
                stages[index],
                0u8,
                kind_rank(&o.id.kind),
                o.id.namespace.clone().unwrap_or_default(),
                o.id.name.clone(),
                node,
            )
        }
        Node::Barrier { tier, wave } => ((tier, wave), 1, 0, String::new(), String::new(), node),
    };
    let mut ready: BinaryHeap<Reverse<_>> = (0..total)
        .filter(|&n| waiting[n] == 0)
        .map(|n| Reverse(key(n)))
        .collect();
    let mut order = Vec::with_capacity(objects.len());
    while let Some(Reverse(k)) = ready.pop() {
        let node = k.5;
        if let Node::Object { index } = graph.nodes[node] {
            order.push(index);
        }
        for &d in &dependents[node] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(Reverse(key(d)));
            }
        }
    }
    order
}

/// Conventional install order of kinds inside one stage (namespaces and definitions first),
/// used only to break ties between objects that do not depend on each other.
fn kind_rank(kind: &str) -> u8 {
    const ORDER: &[&str] = &[
        "Namespace",
        "CustomResourceDefinition",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Secret",
        "ConfigMap",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "Service",
        "StatefulSet",
        "Deployment",
        "DaemonSet",
        "Job",
        "CronJob",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
    ];
    ORDER
        .iter()
        .position(|k| *k == kind)
        .map_or(u8::MAX, |p| p as u8)
}
