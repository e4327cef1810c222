//! A plan kept for long: its manifests as JSON text. A thousand idle apps each keep the plan
//! of the revision they last synced (for diffs asked later), and a manifest parsed into a tree
//! of values takes several times the memory of its text. A diff parses them again, which costs
//! far less than the dry runs it makes.

use serde_json::Value;

use super::{Plan, PlannedObject};
use crate::manifest::Object;

pub struct CompactPlan {
    /// The plan with every manifest left `null`.
    shape: Plan,
    /// The manifests, in the order of `shape.objects`.
    manifests: Vec<Box<str>>,
}

impl CompactPlan {
    pub fn new(plan: &Plan) -> Self {
        let manifests = plan
            .objects
            .iter()
            .map(|p| p.object.manifest.to_string().into_boxed_str())
            .collect();
        let objects = plan
            .objects
            .iter()
            .map(|p| PlannedObject {
                object: Object {
                    id: p.object.id.clone(),
                    api_version: p.object.api_version.clone(),
                    manifest: Value::Null,
                    origin: p.object.origin.clone(),
                },
                tier: p.tier,
                tier_reason: p.tier_reason.clone(),
                wave: p.wave,
                config_hash: p.config_hash.clone(),
                step: p.step,
                hook: p.hook.clone(),
            })
            .collect();
        let shape = Plan {
            ordering: plan.ordering,
            objects,
            edges: plan.edges.clone(),
            graph: plan.graph.clone(),
            order: plan.order.clone(),
            warnings: plan.warnings.clone(),
        };
        CompactPlan { shape, manifests }
    }

    /// The objects without their manifests: enough to find one by id.
    pub fn objects(&self) -> &[PlannedObject] {
        &self.shape.objects
    }

    /// The whole plan, manifests parsed again. An error here is ordo's own bug: the text was
    /// written from a parsed value.
    pub fn plan(&self) -> Result<Plan, serde_json::Error> {
        let mut plan = self.shape.clone();
        for (planned, text) in plan.objects.iter_mut().zip(&self.manifests) {
            planned.object.manifest = serde_json::from_str(text)?;
        }
        Ok(plan)
    }

    /// [`Plan::only`] object `i`, its manifest parsed again.
    pub fn only(&self, i: usize) -> Result<Plan, serde_json::Error> {
        let mut one = self.shape.only(i);
        if let (Some(planned), Some(text)) = (one.objects.first_mut(), self.manifests.get(i)) {
            planned.object.manifest = serde_json::from_str(text)?;
        }
        Ok(one)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::manifest::{self, Origin};
    use crate::plan::{Ordering, build};

    #[test]
    fn a_compact_plan_gives_back_the_plan_it_was_made_from() {
        let documents = [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "shop", "labels": {"b": "2", "a": "1"}},
                "data": {"ratio": "0.1"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{
                "name": "api", "image": "shop/api:1",
                "envFrom": [{"configMapRef": {"name": "settings"}}],
                "resources": {"limits": {"cpu": 0.1, "memory": 12_345_678_901_234_567_u64}},
            }]}}}}),
        ];
        let objects = documents
            .into_iter()
            .enumerate()
            .map(|(document, value)| {
                let origin = Origin {
                    file: "shop.yaml".into(),
                    document,
                    line: None,
                };
                manifest::from_value(value, origin).expect("a valid object")
            })
            .collect();
        let plan = build(objects, Ordering::Tiers).expect("a plan");
        let compact = CompactPlan::new(&plan);
        let back = compact.plan().expect("parsed again");
        assert_eq!(format!("{back:?}"), format!("{plan:?}"));
        for (i, planned) in plan.objects.iter().enumerate() {
            assert_eq!(compact.objects()[i].object.id, planned.object.id);
            assert_eq!(compact.objects()[i].object.manifest, Value::Null);
            let one = compact.only(i).expect("parsed again");
            assert_eq!(format!("{one:?}"), format!("{:?}", plan.only(i)));
        }
    }
}
