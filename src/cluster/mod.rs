//! Every call to the API server goes through here: discovery, server-side apply (real and dry
//! run), get, list and delete of dynamic objects. The client's tower stack counts each request.

mod access;
mod count;
mod discovery;
mod fence;
mod pods;
mod rate;
mod watch;

pub use access::Access;
pub use pods::LogBounds;

use std::path::Path;
use std::sync::Arc;

use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    PropagationPolicy, ValidationDirective,
};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiResource, Discovery};
use kube::{Client, Config};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::RwLock;

pub use count::{RequestCounter, RequestKey, is_write};
pub use watch::{Changed, Group, PartChanges, WatchCache};

/// Objects per LIST page.
const LIST_PAGE: u32 = 500;

/// The field manager of every write ordo makes.
pub const FIELD_MANAGER: &str = "ordo";

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("cannot load the cluster configuration: {0}; set KUBECONFIG or pass --kubeconfig")]
    Config(String),

    #[error(
        "the API server does not serve kind {kind} in {api_version}; check the apiVersion, or install the CRD that defines it"
    )]
    UnknownKind { api_version: String, kind: String },

    #[error("{verb} {object}: {message} ({reason}, HTTP {code})")]
    Api {
        verb: &'static str,
        object: String,
        code: u16,
        reason: String,
        message: String,
    },

    #[error(
        "{verb} {object}: refused locally: this replica does not hold the leader lease, so it does not write"
    )]
    Fenced { verb: &'static str, object: String },

    #[error("{verb} {object}: {message}")]
    Transport {
        verb: &'static str,
        object: String,
        message: String,
    },
}

impl ClusterError {
    /// The HTTP status the server answered with, when it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth retrying: the server was unreachable, overloaded or restarting.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::Transport { .. } => true,
            ClusterError::Api { code, .. } => matches!(code, 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// A kind as the API server serves it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub api: ApiResource,
    pub namespaced: bool,
}

impl Resource {
    /// Core Secrets, which every API server serves: no discovery needed to reach ordo's own.
    pub fn secrets() -> Resource {
        Resource {
            api: ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
            namespaced: true,
        }
    }
}

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub dry_run: bool,
    /// Take over fields owned by other managers instead of failing with a conflict.
    pub force: bool,
}

/// A connection to one API server. Cheap to clone: clones share the client, the discovery
/// cache and the request counter.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    counter: Arc<RequestCounter>,
    /// Shared by impersonating clones: the rate is the agent's, whoever it acts as.
    rate: Arc<rate::RateLimit>,
    discovery: Arc<RwLock<Option<Discovery>>>,
    /// Held while discovering after a miss (see `resource`).
    discovering: Arc<tokio::sync::Mutex<()>>,
    /// When discovery last ran.
    discovered_at: Arc<tokio::sync::Mutex<Option<tokio::time::Instant>>>,
    /// Closed while another replica may be the leader (or own this client's shard of apps):
    /// apply and delete refuse before sending.
    writes: Arc<fence::Fence>,
    /// Shared, label-filtered watches (see `watch.rs`).
    watches: Arc<WatchCache>,
    /// What the client was built from: an impersonating client is built from it too.
    config: Arc<Config>,
}

fn counted_client(
    config: Config,
    counter: &Arc<RequestCounter>,
    rate: &Arc<rate::RateLimit>,
) -> Result<Client, ClusterError> {
    Ok(ClientBuilder::try_from(config)
        .map_err(|e| ClusterError::Config(e.to_string()))?
        .with_layer(&count::CountLayer {
            counter: counter.clone(),
            rate: rate.clone(),
        })
        .build())
}

impl Cluster {
    /// Connects with a kubeconfig file, or infers the configuration (KUBECONFIG, ~/.kube/config,
    /// or the in-cluster service account).
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Self, ClusterError> {
        Self::connect_as(kubeconfig, None).await
    }

    /// Like [`Cluster::connect`], with `who` in the User-Agent (`ordo/0.1.0 (who)`), so the
    /// API server's audit log tells replicas apart.
    pub async fn connect_as(
        kubeconfig: Option<&Path>,
        who: Option<&str>,
    ) -> Result<Self, ClusterError> {
        let mut config = match kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path)
                    .map_err(|e| ClusterError::Config(format!("{}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| ClusterError::Config(e.to_string()))?
            }
            None => Config::infer()
                .await
                .map_err(|e| ClusterError::Config(e.to_string()))?,
        };
        let agent = match who {
            Some(who) => format!("ordo/{} ({who})", env!("CARGO_PKG_VERSION")),
            None => format!("ordo/{}", env!("CARGO_PKG_VERSION")),
        };
        if let Ok(value) = http::HeaderValue::from_str(&agent) {
            config.headers.push((http::header::USER_AGENT, value));
        }
        let counter = Arc::new(RequestCounter::default());
        let rate = Arc::new(rate::RateLimit::default());
        let client = counted_client(config.clone(), &counter, &rate)?;
        Ok(Cluster {
            client,
            counter,
            rate,
            discovery: Arc::new(RwLock::new(None)),
            discovering: Arc::default(),
            discovered_at: Arc::default(),
            writes: Arc::new(fence::Fence::open()),
            watches: Arc::new(WatchCache::default()),
            config: Arc::new(config),
        })
    }

    /// The same connection acting as `user` (Kubernetes impersonation, e.g.
    /// `system:serviceaccount:shop:deployer`): the API server authorizes every request as that
    /// user, so an app can do only what its account may. Counts, discovery and the write fence
    /// are shared; watches are not (they would be reads made with another identity).
    pub fn impersonating(&self, user: &str) -> Result<Cluster, ClusterError> {
        let mut config = (*self.config).clone();
        config.auth_info.impersonate = Some(user.to_owned());
        // Groups come from the account itself (the API server adds a service account's).
        config.auth_info.impersonate_groups = None;
        Ok(Cluster {
            client: counted_client(config.clone(), &self.counter, &self.rate)?,
            counter: self.counter.clone(),
            rate: self.rate.clone(),
            discovery: self.discovery.clone(),
            discovering: self.discovering.clone(),
            discovered_at: self.discovered_at.clone(),
            writes: self.writes.clone(),
            watches: Arc::new(WatchCache::default()),
            config: Arc::new(config),
        })
    }

    /// Limits the requests of this client and its clones to `burst` at once, then `qps` a
    /// second (`kubeClient` in the agent's config).
    pub fn limit_rate(&self, qps: u32, burst: u32) {
        self.rate.set(qps, burst);
    }

    pub fn requests(&self) -> &RequestCounter {
        &self.counter
    }

    /// A typed handle in `namespace` (Leases for leader election): requests go through the
    /// same counted client as every other call.
    pub fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The dynamic API of a kind, for watches.
    pub fn api(&self, resource: &Resource, namespace: Option<&str>) -> Api<DynamicObject> {
        match (resource.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &resource.api),
            (true, None) => Api::all_with(self.client.clone(), &resource.api),
            (false, _) => Api::all_with(self.client.clone(), &resource.api),
        }
    }

    /// Server-side apply of a whole object, as field manager `ordo`, with strict field
    /// validation so a typo in a field name is an error rather than silently dropped.
    pub async fn apply(
        &self,
        resource: &Resource,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, ClusterError> {
        let (namespace, name) = identity(object);
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.field_validation = Some(ValidationDirective::Strict);
        if options.force {
            params = params.force();
        }
        if options.dry_run {
            params = params.dry_run();
        }
        let verb = if options.dry_run {
            "dry-run apply"
        } else {
            "apply"
        };
        let _pass = if !options.dry_run {
            Some(self.fence(verb, || describe(resource, namespace, name))?)
        } else {
            None
        };
        let applied = self
            .api(resource, namespace)
            .patch(name, &params, &Patch::Apply(object))
            .await
            .map_err(|e| map_error(verb, &describe(resource, namespace, name), e))?;
        to_value(applied).ok_or_else(|| ClusterError::Transport {
            verb,
            object: describe(resource, namespace, name),
            message: "the response is not a JSON object".to_owned(),
        })
    }

    /// The live object, or None when it does not exist.
    pub async fn get(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ClusterError> {
        let found = self
            .api(resource, namespace)
            .get_opt(name)
            .await
            .map_err(|e| map_error("get", &describe(resource, namespace, name), e))?;
        Ok(found.and_then(to_value))
    }

    /// The object's `metadata.managedFields` (which every other read drops): who else writes
    /// its fields. Empty when it is gone.
    pub async fn managed_fields(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let found = self
            .api(resource, namespace)
            .get_opt(name)
            .await
            .map_err(|e| map_error("get", &describe(resource, namespace, name), e))?;
        let managed = found
            .and_then(|o| o.metadata.managed_fields)
            .unwrap_or_default();
        Ok(managed
            .into_iter()
            .filter_map(|entry| serde_json::to_value(entry).ok())
            .collect())
    }

    /// Objects of a kind (in one namespace, or all), optionally by label selector.
    pub async fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, ClusterError> {
        // Pages of 500: each page is turned into trimmed values (no managedFields) before the
        // next is read, so a list of thousands never sits in memory twice.
        let mut params = ListParams::default().limit(LIST_PAGE);
        if let Some(s) = selector {
            params = params.labels(s);
        }
        let what = format!(
            "{} in {}",
            resource.api.plural,
            namespace.unwrap_or("all namespaces")
        );
        let api = self.api(resource, namespace);
        let mut out = Vec::new();
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| map_error("list", &what, e))?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            // List items come without apiVersion and kind; put them back so every live object
            // looks the same whichever call read it.
            out.extend(page.items.into_iter().filter_map(to_value).map(|mut v| {
                if let Some(map) = v.as_object_mut() {
                    map.insert("apiVersion".into(), resource.api.api_version.clone().into());
                    map.insert("kind".into(), resource.api.kind.clone().into());
                }
                v
            }));
            match next {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(out),
            }
        }
    }

    /// Creates an object unless one of its name exists: Ok(false) then, and the existing one is
    /// left as it is. A POST, since a server-side apply cannot refuse to overwrite. Not behind
    /// the write fence: it never changes what exists, so any replica may create what all of
    /// them then read (the config-hash key).
    pub async fn create(&self, resource: &Resource, object: &Value) -> Result<bool, ClusterError> {
        let (namespace, name) = identity(object);
        let verb = "create";
        let object_of = |e| map_error(verb, &describe(resource, namespace, name), e);
        let typed: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|e| ClusterError::Transport {
                verb,
                object: describe(resource, namespace, name),
                message: format!("not an object: {e}"),
            })?;
        match self
            .api(resource, namespace)
            .create(&PostParams::default(), &typed)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(object_of(e)),
        }
    }

    /// Writes `object` only if nobody changed it since it was read: replaced at the
    /// `metadata.resourceVersion` it carries, or created when it carries none. The new
    /// resourceVersion, or None when the precondition failed (someone wrote in between, or it
    /// already exists): read again and merge.
    pub async fn write_if_unchanged(
        &self,
        resource: &Resource,
        object: &Value,
    ) -> Result<Option<String>, ClusterError> {
        let (namespace, name) = identity(object);
        let verb = "update";
        let _pass = self.fence(verb, || describe(resource, namespace, name))?;
        let object_of = |e| map_error(verb, &describe(resource, namespace, name), e);
        let typed: DynamicObject =
            serde_json::from_value(object.clone()).map_err(|e| ClusterError::Transport {
                verb,
                object: describe(resource, namespace, name),
                message: format!("not an object: {e}"),
            })?;
        let api = self.api(resource, namespace);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        let written = match typed.metadata.resource_version {
            Some(_) => api.replace(name, &params, &typed).await,
            None => api.create(&params, &typed).await,
        };
        match written {
            Ok(o) => Ok(o.metadata.resource_version),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(e) => Err(object_of(e)),
        }
    }

    /// Deletes the object whose `metadata.uid` is `uid`; Ok(false) when it was already gone,
    /// or when the object of that name is another one now (deleted and re-created since it
    /// was read: the API server refuses the precondition with 409).
    pub async fn delete(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
        propagation: PropagationPolicy,
    ) -> Result<bool, ClusterError> {
        let _pass = self.fence("delete", || describe(resource, namespace, name))?;
        let params = DeleteParams {
            propagation_policy: Some(propagation),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.api(resource, namespace).delete(name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(false),
            Err(e) => Err(map_error("delete", &describe(resource, namespace, name), e)),
        }
    }
}

/// The object as JSON, without `metadata.managedFields`: ordo never reads them (the dry run
/// does the merging), and they are often half of an object's size, so dropping them here keeps
/// memory proportional to what matters.
pub fn to_value(mut object: DynamicObject) -> Option<Value> {
    object.metadata.managed_fields = None;
    serde_json::to_value(object).ok()
}

/// An object's namespace (when set) and name.
pub fn identity(object: &Value) -> (Option<&str>, &str) {
    let meta = object.get("metadata");
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    (namespace, name)
}

fn describe(resource: &Resource, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if resource.namespaced => format!("{}/{ns}/{name}", resource.api.kind),
        _ => format!("{}/{name}", resource.api.kind),
    }
}

fn map_error(verb: &'static str, object: &str, error: kube::Error) -> ClusterError {
    match error {
        kube::Error::Api(status) => ClusterError::Api {
            verb,
            object: object.to_owned(),
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => ClusterError::Transport {
            verb,
            object: object.to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client of a server that is not there: any request that leaves fails to connect.
    async fn nowhere() -> (Cluster, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(
            file.path(),
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
        )
        .expect("kubeconfig written");
        let cluster = Cluster::connect(Some(file.path())).await.expect("client");
        (cluster, file)
    }

    fn configmaps() -> Resource {
        Resource {
            api: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
            },
            namespaced: true,
        }
    }

    #[tokio::test]
    async fn a_closed_fence_refuses_writes_before_sending_them() {
        let (cluster, _file) = nowhere().await;
        let object = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "a"}
        });
        let write = ApplyOptions {
            dry_run: false,
            force: true,
        };
        cluster.clone().allow_writes(false);
        let refused = cluster.apply(&configmaps(), &object, write).await;
        assert!(
            matches!(refused, Err(ClusterError::Fenced { .. })),
            "{refused:?}"
        );
        let refused = cluster
            .delete(
                &configmaps(),
                Some("a"),
                "x",
                "u",
                PropagationPolicy::Background,
            )
            .await;
        assert!(
            matches!(refused, Err(ClusterError::Fenced { .. })),
            "{refused:?}"
        );
        assert!(cluster.requests().snapshot().is_empty(), "nothing was sent");

        // Reads and dry runs still go out (and fail here, there being no server).
        let dry = ApplyOptions {
            dry_run: true,
            force: true,
        };
        let sent = cluster.apply(&configmaps(), &object, dry).await;
        assert!(
            matches!(sent, Err(ClusterError::Transport { .. })),
            "{sent:?}"
        );

        // Opened again on every clone: the fence is shared.
        cluster.clone().allow_writes(true);
        let sent = cluster.apply(&configmaps(), &object, write).await;
        assert!(
            matches!(sent, Err(ClusterError::Transport { .. })),
            "{sent:?}"
        );
        assert_eq!(cluster.requests().snapshot().values().sum::<u64>(), 2);
    }
}
