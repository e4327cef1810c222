//! What the target cluster serves, for Helm's `.Capabilities`: its version and API versions.

use std::time::Duration;

use crate::cluster::Cluster;

/// A cluster's version and API versions.
pub type Capabilities = (String, Vec<String>);

/// The cluster's version and API versions, shared by every app of the agent: asked at most
/// every 10 minutes, and only when a Helm chart is rendered (cost follows change).
#[derive(Default)]
pub struct CapabilitiesCache {
    asked: tokio::sync::Mutex<Option<Asked>>,
}

/// The answer, and when it was given.
type Asked = (tokio::time::Instant, Capabilities);

impl CapabilitiesCache {
    /// `None` when the API server cannot say: Helm then renders with ordo's defaults.
    pub async fn get(&self, cluster: &Cluster, app: &str) -> Option<Capabilities> {
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
