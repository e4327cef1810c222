//! What the API server serves: `/version`, discovery (cached, refreshed on a miss), the kinds
//! resolved to resources, and Helm's `.Capabilities`.

use kube::discovery::{Discovery, Scope};

use super::{Cluster, ClusterError, Resource, map_error};

impl Cluster {
    /// Whether the API server answers: `/version`, the cheapest request every server serves.
    pub async fn version(&self) -> Result<(), ClusterError> {
        self.client
            .apiserver_version()
            .await
            .map(drop)
            .map_err(|e| map_error("get", "/version", e))
    }

    /// Re-reads what the server serves (after CRDs were installed).
    pub async fn refresh_discovery(&self) -> Result<(), ClusterError> {
        let discovery = Discovery::new(self.client.clone())
            .run_aggregated()
            .await
            .map_err(|e| map_error("discover", "API resources", e))?;
        *self.discovery.write().await = Some(discovery);
        *self.discovered_at.lock().await = Some(tokio::time::Instant::now());
        Ok(())
    }

    /// Discovers again when what is known is older than `max_age` (one caller at a time; the
    /// others use its answer): a sync starts from a recent picture of the server without a
    /// thousand apps each asking. A kind not known yet is discovered on its miss anyway.
    pub async fn discover_if_older(
        &self,
        max_age: std::time::Duration,
    ) -> Result<(), ClusterError> {
        let _one = self.discovering.lock().await;
        let fresh = self
            .discovered_at
            .lock()
            .await
            .is_some_and(|at| at.elapsed() < max_age);
        if fresh {
            return Ok(());
        }
        self.refresh_discovery().await
    }

    /// What the cluster serves, as Helm's `.Capabilities` wants it: the server's version
    /// (`v1.34.4`) and every `group/version` and `group/version/Kind` it serves.
    pub async fn capabilities(&self) -> Result<(String, Vec<String>), ClusterError> {
        let info = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| map_error("get", "/version", e))?;
        if self.discovery.read().await.is_none() {
            self.refresh_discovery().await?;
        }
        let guard = self.discovery.read().await;
        let mut apis = Vec::new();
        for group in guard.iter().flat_map(|d| d.groups()) {
            for version in group.versions() {
                let gv = if group.name().is_empty() {
                    version.to_owned()
                } else {
                    format!("{}/{version}", group.name())
                };
                for (resource, _) in group.versioned_resources(version) {
                    apis.push(format!("{gv}/{}", resource.kind));
                }
                apis.push(gv);
            }
        }
        apis.sort();
        apis.dedup();
        Ok((info.git_version, apis))
    }

    /// Resolves apiVersion + kind to a resource, discovering once more on a miss.
    pub async fn resource(&self, api_version: &str, kind: &str) -> Result<Resource, ClusterError> {
        if let Some(found) = self.lookup(api_version, kind).await {
            return Ok(found);
        }
        // One discovery at a time: a thousand apps starting together discover once.
        let _one = self.discovering.lock().await;
        if let Some(found) = self.lookup(api_version, kind).await {
            return Ok(found);
        }
        self.refresh_discovery().await?;
        self.lookup(api_version, kind)
            .await
            .ok_or_else(|| ClusterError::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })
    }

    async fn lookup(&self, api_version: &str, kind: &str) -> Option<Resource> {
        let guard = self.discovery.read().await;
        let discovery = guard.as_ref()?;
        let (group, version) = crate::manifest::split_api_version(api_version);
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (api, caps) = discovery.resolve_gvk(&gvk)?;
        Some(Resource {
            api,
            namespaced: caps.scope == Scope::Namespaced,
        })
    }
}
