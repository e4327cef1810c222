//! The plan as people and scripts read it: text grouped by tier, and a stable JSON document
//! (`ordo plan -o json`, documented in docs/plan-json.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::manifest::ObjectId;
use crate::plan::{Plan, Rule, Tier, TierReason};
use crate::source::CommitInfo;

/// Where the plan's manifests came from, for the header.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSource {
    /// The directory or repository URL given.
    pub location: String,
    /// Set when read from git.
    pub revision: Option<CommitInfo>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonPlan<'a> {
    api_version: &'static str,
    kind: &'static str,
    source: &'a PlanSource,
    ordering: String,
    summary: Summary,
    steps: Vec<JsonStep<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Summary {
    objects: usize,
    edges: usize,
    tiers: Vec<TierCount>,
}

#[derive(Serialize)]
struct TierCount {
    tier: Tier,
    objects: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonStep<'a> {
    step: usize,
    id: String,
    api_version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    tier: Tier,
    tier_reason: &'a TierReason,
    wave: i64,
    /// Keyed with the public display key (no cluster, no install key): it shows which
    /// workloads read config, and differs from the value a sync writes.
    config_hash: Option<&'a str>,
    file: &'a str,
    document: usize,
    line: Option<usize>,
    depends_on: Vec<JsonDependency>,
}

#[derive(Serialize)]
struct JsonDependency {
    id: String,
    rule: Rule,
    reason: String,
    explicit: bool,
}

pub fn to_json(plan: &Plan, source: &PlanSource) -> String {
    let steps = plan
        .order
        .iter()
        .map(|&i| {
            let p = &plan.objects[i];
            let o = &p.object;
            JsonStep {
                step: p.step,
                id: o.id.to_string(),
                api_version: &o.api_version,
                kind: &o.id.kind,
                namespace: o.id.namespace.as_deref(),
                name: &o.id.name,
                tier: p.tier,
                tier_reason: &p.tier_reason,
                wave: p.wave,
                config_hash: p.config_hash.as_deref(),
                file: &o.origin.file,
                document: o.origin.document,
                line: o.origin.line,
                depends_on: plan
                    .dependencies(i)
                    .map(|e| JsonDependency {
                        id: plan.objects[e.to].object.id.to_string(),
                        rule: e.rule,
                        reason: e.reason.clone(),
                        explicit: e.rule.is_explicit(),
                    })
                    .collect(),
            }
        })
        .collect();
    let doc = JsonPlan {
        api_version: "ordo.dev/v1alpha1",
        kind: "Plan",
        source,
        ordering: plan.ordering.to_string(),
        summary: Summary {
            objects: plan.objects.len(),
            edges: plan.edges.len(),
            tiers: tier_counts(plan),
        },
        steps,
        warnings: &plan.warnings,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn tier_counts(plan: &Plan) -> Vec<TierCount> {
    Tier::ALL
        .into_iter()
        .map(|tier| TierCount {
            tier,
            objects: plan.objects.iter().filter(|p| p.tier == tier).count(),
        })
        .collect()
}

/// Text for a terminal: steps grouped by tier, each dependency with its reason. Edges to the
/// Namespace are summarised once instead of repeated under every object.
pub fn to_text(plan: &Plan, source: &PlanSource) -> String {
    let common_ns = single_namespace(plan);
    let name = |id: &ObjectId| match (&common_ns, &id.namespace) {
        (Some(c), Some(ns)) if c == ns => format!("{}/{}", id.kind, id.name),
        _ => id.to_string(),
    };
    let mut out = String::new();
    let _ = write!(out, "Plan for {}", source.location);
    if let Some(rev) = &source.revision {
        let short = rev.sha.get(..12).unwrap_or(&rev.sha);
        let subject = rev.message.lines().next().unwrap_or("");
        let _ = write!(out, " at {short} ({subject})");
    }
    let _ = writeln!(
        out,
        "\n{} objects, {} dependencies, ordering: {}{}",
        plan.objects.len(),
        plan.edges.len(),
        plan.ordering,
        common_ns
            .as_ref()
            .map(|ns| format!(", namespace {ns}"))
            .unwrap_or_default()
    );
    let width = plan
        .objects
        .iter()
        .map(|p| name(&p.object.id).len())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut namespace_edges = 0;
    let mut current: Option<Tier> = None;
    for &i in &plan.order {
        let p = &plan.objects[i];
        if current != Some(p.tier) {
            let count = plan.objects.iter().filter(|o| o.tier == p.tier).count();
            let _ = writeln!(out, "\n{} ({count})", p.tier);
            current = Some(p.tier);
        }
        let wave = if p.wave != 0 {
            format!(" [wave {}]", p.wave)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {:>3}. {:<width$}  {}{wave}",
            p.step,
            name(&p.object.id),
            p.tier_reason.message,
        );
        for edge in plan.dependencies(i) {
            if edge.rule == Rule::Namespace {
                namespace_edges += 1;
                continue;
            }
            let _ = writeln!(
                out,
                "        -> {}: {}",
                name(&plan.objects[edge.to].object.id),
                edge.reason
            );
        }
    }
    if namespace_edges > 0 {
        let _ = writeln!(
            out,
            "\n{namespace_edges} namespaced objects also wait for their Namespace."
        );
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &plan.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}

/// The namespace shared by every namespaced object, if there is exactly one.
fn single_namespace(plan: &Plan) -> Option<String> {
    let mut namespaces = plan
        .objects
        .iter()
        .filter_map(|p| p.object.id.namespace.as_deref());
    let first = namespaces.next()?;
    namespaces.all(|ns| ns == first).then(|| first.to_owned())
}
