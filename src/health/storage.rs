//! PersistentVolumeClaim: judged by its phase.

use serde_json::Value;

use super::Health;
use super::fields::str_at;

pub(super) fn persistent_volume_claim(claim: &Value) -> Health {
    match str_at(claim, "/status/phase") {
        Some("Bound") => Health::healthy("bound"),
        // Lost: the bound volume is gone; the data will not come back by waiting.
        Some("Lost") => Health::degraded("bound volume was lost"),
        // Pending (or no status yet). Caution for callers: with a WaitForFirstConsumer
        // StorageClass a claim stays Pending until a pod using it is scheduled, so gating that
        // pod on this claim's health would wait forever. The class is not visible from here.
        _ => Health::progressing("waiting for a volume"),
    }
}

#[cfg(test)]
mod tests {
    use crate::health::HealthStatus::*;
    use crate::health::test_support::check;

    #[test]
    fn persistent_volume_claim() {
        let head = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n";
        check(
            head,
            &[
                ("bound", "status: {phase: Bound}", Healthy, "bound"),
                (
                    "pending",
                    "status: {phase: Pending}",
                    Progressing,
                    "waiting for a volume",
                ),
                (
                    "no status yet",
                    "spec: {}",
                    Progressing,
                    "waiting for a volume",
                ),
                (
                    "lost",
                    "status: {phase: Lost}",
                    Degraded,
                    "bound volume was lost",
                ),
            ],
        );
    }
}
