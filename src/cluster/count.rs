//! Counts every request the client sends to the API server, by verb and status code. It sits
//! in the client's tower stack, so nothing can reach the server around it (discovery, watches
//! and our own calls alike).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use serde::Serialize;
use tower::{Layer, Service};

/// One counter key: the Kubernetes verb (`get`, `list`, `watch`, `create`, `patch`, …),
/// whether it was a dry run, and the HTTP status (0 when no response came back).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RequestKey {
    pub verb: &'static str,
    pub dry_run: bool,
    pub code: u16,
}

#[derive(Debug, Default)]
pub struct RequestCounter {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
}

impl RequestCounter {
    fn record(&self, key: RequestKey) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(key).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<RequestKey, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Requests that changed the cluster: non-dry-run create, update, patch and delete.
    pub fn writes(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(k, _)| !k.dry_run && is_write(k.verb))
            .map(|(_, n)| n)
            .sum()
    }
}

pub fn is_write(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// The Kubernetes verb of a request, from its method and path shape.
fn verb_of<B>(req: &Request<B>) -> (&'static str, bool) {
    let query = req.uri().query().unwrap_or("");
    let dry_run = query.split('&').any(|p| p.starts_with("dryRun="));
    let watch = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let segments: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // /api/v1/... or /apis/group/version/...; what is left is [namespaces/ns/]resource[/name[/sub]]
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..),
        Some(&"apis") => segments.get(3..),
        _ => None,
    };
    let rest = match rest {
        Some(r) if r.first() == Some(&"namespaces") && r.len() >= 3 => &r[2..],
        Some(r) => r,
        None => return ("discovery", dry_run),
    };
    let collection = rest.len() <= 1;
    let verb = match *req.method() {
        Method::GET if rest.is_empty() => "discovery",
        Method::GET if watch => "watch",
        Method::GET if collection => "list",
        Method::GET => "get",
        // Access and token reviews are questions put to the server, not objects it keeps.
        Method::POST if rest.first().is_some_and(|r| r.ends_with("reviews")) => "review",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "other",
    };
    (verb, dry_run)
}

#[derive(Clone)]
pub struct CountLayer {
    pub counter: Arc<RequestCounter>,
    /// Each request waits for its turn here before it is sent (see `rate.rs`).
    pub rate: Arc<super::rate::RateLimit>,
}

impl<S> Layer<S> for CountLayer {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counter: self.counter.clone(),
            rate: self.rate.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    counter: Arc<RequestCounter>,
    rate: Arc<super::rate::RateLimit>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for Counted<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (verb, dry_run) = verb_of(&req);
        let counter = self.counter.clone();
        let rate = self.rate.clone();
        let response = self.inner.call(req);
        Box::pin(async move {
            rate.acquire().await;
            let result = response.await;
            let code = result.as_ref().map_or(0, |r| r.status().as_u16());
            counter.record(RequestKey {
                verb,
                dry_run,
                code,
            });
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_the_path_shape() {
        let cases = [
            (Method::GET, "/api/v1/namespaces/a/configmaps", "list"),
            (Method::GET, "/api/v1/namespaces/a/configmaps/x", "get"),
            (
                Method::GET,
                "/api/v1/namespaces/a/configmaps?watch=true&labelSelector=x",
                "watch",
            ),
            (Method::GET, "/api/v1/namespaces", "list"),
            (Method::GET, "/api/v1/namespaces/a", "get"),
            (
                Method::GET,
                "/apis/apps/v1/namespaces/a/deployments/d/status",
                "get",
            ),
            (Method::GET, "/apis", "discovery"),
            (Method::GET, "/api/v1", "discovery"),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/d?fieldManager=ordo",
                "patch",
            ),
            (Method::POST, "/api/v1/namespaces/a/configmaps", "create"),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "review",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/a/configmaps/x",
                "delete",
            ),
        ];
        for (method, uri, want) in cases {
            let req = Request::builder().method(method).uri(uri).body(()).unwrap();
            assert_eq!(verb_of(&req).0, want, "{uri}");
        }
        let dry = Request::builder()
            .method(Method::PATCH)
            .uri("/api/v1/namespaces/a/configmaps/x?dryRun=All&fieldManager=ordo")
            .body(())
            .unwrap();
        assert_eq!(verb_of(&dry), ("patch", true));
    }
}
