//! What people wrote down: `ordo.dev/depends-on` edges and Argo CD sync waves.

use super::edge::{Edge, Rule};
use super::error::PlanError;
use crate::manifest::Object;

pub use crate::manifest::keys::DEPENDS_ON_ANNOTATION;
pub use crate::manifest::keys::SYNC_WAVE_ANNOTATION;

/// `ordo.dev/depends-on: "StatefulSet/postgres, Job/migrate, Secret/other-ns/creds"`.
pub fn depends_on_edges(objects: &[Object]) -> Result<Vec<Edge>, PlanError> {
    let mut edges = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let Some(value) = object.annotation(DEPENDS_ON_ANNOTATION) else {
            continue;
        };
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let target = resolve(objects, object, entry)?;
            if target != i {
                edges.push(Edge {
                    from: i,
                    to: target,
                    rule: Rule::DependsOn,
                    reason: format!("{DEPENDS_ON_ANNOTATION} names {entry}"),
                });
            }
        }
    }
    Ok(edges)
}

fn resolve(objects: &[Object], object: &Object, entry: &str) -> Result<usize, PlanError> {
    let problem = |problem: String| PlanError::DependsOn {
        id: object.id.to_string(),
        origin: object.origin.clone(),
        entry: entry.to_owned(),
        problem,
    };
    let parts: Vec<&str> = entry.split('/').map(str::trim).collect();
    let (kind, namespace, name) = match parts.as_slice() {
        [kind, name] if !kind.is_empty() && !name.is_empty() => (*kind, None, *name),
        [kind, ns, name] if !kind.is_empty() && !ns.is_empty() && !name.is_empty() => {
            (*kind, Some(*ns), *name)
        }
        _ => {
            return Err(problem(
                "is not of the form Kind/name or Kind/namespace/name".to_owned(),
            ));
        }
    };
    let own_ns = object.id.namespace.as_deref();
    let matches: Vec<usize> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.id.kind.eq_ignore_ascii_case(kind) && o.id.name == name)
        .filter(|(_, o)| match (&o.id.namespace, namespace) {
            (None, _) => true,
            (Some(ns), Some(want)) => ns == want,
            (Some(ns), None) => Some(ns.as_str()) == own_ns || own_ns.is_none(),
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(problem(
            "names an object that is not in this set of manifests; add it, or remove it from the annotation".to_owned(),
        )),
        many => Err(problem(format!(
            "is ambiguous: it matches {}; write Kind/namespace/name",
            many.iter()
                .map(|&i| objects[i].id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Each object's sync wave (0 when unset), as Argo CD reads it.
pub fn sync_waves(objects: &[Object]) -> Result<Vec<i64>, PlanError> {
    objects
        .iter()
        .map(|o| match o.annotation(SYNC_WAVE_ANNOTATION) {
            None => Ok(0),
            Some(v) => v.trim().parse::<i64>().map_err(|_| PlanError::SyncWave {
                id: o.id.to_string(),
                origin: o.origin.clone(),
                value: v.to_owned(),
            }),
        })
        .collect()
}
