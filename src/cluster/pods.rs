//! What ordo reads about the pods its workloads run, to say why one is not Healthy: one page of
//! a namespace's events (by field selector) and a container's log. Both are bounded: a page of
//! events, and a log by lines and bytes.

use futures::stream::BoxStream;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use super::{Cluster, ClusterError, map_error, to_value};

/// What a container's log read may return at most.
#[derive(Debug, Clone, Copy)]
pub struct LogBounds {
    pub tail_lines: i64,
    pub limit_bytes: i64,
    pub previous: bool,
}

impl Cluster {
    /// One page (at most `limit`) of core/v1 Events in `namespace` matching the field selector
    /// `fields` (`type=Warning`, `involvedObject.name=api`).
    pub async fn events(
        &self,
        namespace: &str,
        fields: &str,
        limit: u32,
    ) -> Result<Vec<Value>, ClusterError> {
        let resource = self.resource("v1", "Event").await?;
        let params = ListParams::default().fields(fields).limit(limit);
        let what = format!("events in {namespace}");
        let page = self
            .api(&resource, Some(namespace))
            .list(&params)
            .await
            .map_err(|e| map_error("list", &what, e))?;
        Ok(page.items.into_iter().filter_map(to_value).collect())
    }

    /// The last lines of a container's log (the previous instance's with `previous`), through
    /// the API server's `pods/log`, cut by lines and bytes on the server side.
    pub async fn pod_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        bounds: LogBounds,
    ) -> Result<String, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: Some(container.to_owned()),
            previous: bounds.previous,
            tail_lines: Some(bounds.tail_lines),
            limit_bytes: Some(bounds.limit_bytes),
            ..LogParams::default()
        };
        api.logs(pod, &params).await.map_err(|e| {
            map_error(
                "get",
                &format!("log of Pod/{namespace}/{pod} {container}"),
                e,
            )
        })
    }

    /// The last `bounds.tail_lines` lines of the container's current log, then the lines it
    /// writes while the stream is held (the kubelet's follow); at most `bounds.limit_bytes`.
    pub async fn pod_log_lines(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        bounds: LogBounds,
    ) -> Result<BoxStream<'static, String>, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = LogParams {
            container: Some(container.to_owned()),
            follow: true,
            tail_lines: Some(bounds.tail_lines),
            limit_bytes: Some(bounds.limit_bytes),
            ..LogParams::default()
        };
        let reader = api.log_stream(pod, &params).await.map_err(|e| {
            map_error(
                "get",
                &format!("log of Pod/{namespace}/{pod} {container}"),
                e,
            )
        })?;
        Ok(reader
            .lines()
            .take_while(|line| futures::future::ready(line.is_ok()))
            .filter_map(|line| futures::future::ready(line.ok()))
            .boxed())
    }
}
