//! Smoke tests against the local control plane of `scripts/cluster.sh`.
//!
//! They need a running cluster: `scripts/cluster.sh up && eval "$(scripts/cluster.sh env)"`.
//! Without KUBECONFIG they fail (never skip), so a missing cluster cannot pass unnoticed.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Client, Config};
use serde_json::json;

const FIELD_MANAGER: &str = "ordo";
const WAIT: Duration = Duration::from_secs(120);

async fn client() -> Client {
    let path = std::env::var_os("KUBECONFIG").unwrap_or_else(|| {
        panic!(
            "KUBECONFIG is not set: these tests need the local cluster. Start it with \
             `scripts/cluster.sh up` and then `eval \"$(scripts/cluster.sh env)\"`"
        )
    });
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("cannot read KUBECONFIG {}: {e}", path.to_string_lossy()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("KUBECONFIG is not a usable kubeconfig");
    Client::try_from(config).expect("cannot build a client from KUBECONFIG")
}

fn unique_namespace(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .subsec_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

fn ssa() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Creates `ns` by server-side apply, runs `body`, then deletes the namespace whether the
/// body passed or panicked (the panic is re-raised afterwards).
async fn in_namespace<F, Fut>(client: Client, ns: &str, body: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            ns,
            &ssa(),
            &Patch::Apply(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"ordo.dev/test": "cluster-smoke"}},
            })),
        )
        .await
        .expect("server-side apply of the namespace failed");

    let outcome = tokio::spawn(body(client.clone(), ns.to_string())).await;

    namespaces
        .delete(ns, &DeleteParams::background())
        .await
        .expect("deleting the test namespace failed");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn wait_until<K>(api: Api<K>, name: &str, what: &str, cond: impl Condition<K>) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    match tokio::time::timeout(WAIT, await_condition(api, name, cond)).await {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{what}: {name} was deleted while waiting"),
        Ok(Err(e)) => panic!("{what}: watching {name} failed: {e}"),
        Err(_) => panic!("{what}: {name} not reached within {WAIT:?}"),
    }
}

fn deployment_available(obj: Option<&Deployment>) -> bool {
    let Some(status) = obj.and_then(|d| d.status.as_ref()) else {
        return false;
    };
    let available = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Available" && c.status == "True");
    available && status.available_replicas == Some(2)
}

fn pvc_bound(obj: Option<&PersistentVolumeClaim>) -> bool {
    obj.and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.as_deref())
        == Some("Bound")
}

fn pod_ready(obj: Option<&Pod>) -> bool {
    obj.and_then(|p| p.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn statefulset_ready(obj: Option<&StatefulSet>) -> bool {
    obj.and_then(|s| s.status.as_ref())
        .is_some_and(|s| s.ready_replicas == Some(1))
}

#[tokio::test]
async fn deployment_becomes_available_after_server_side_apply() {
    let client = client().await;
    let ns = unique_namespace("ordo-smoke-deploy");
    in_namespace(client, &ns, |client, ns| async move {
        let deployments: Api<Deployment> = Api::namespaced(client, &ns);
        let applied = deployments
            .patch(
                "web",
                &ssa(),
                &Patch::Apply(json!({
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": ns},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "web", "image": "web:fake"}]},
                        },
                    },
                })),
            )
            .await
            .expect("server-side apply of the Deployment failed");
        let managers: Vec<_> = applied
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.as_deref())
            .collect();
        assert!(
            managers.contains(&FIELD_MANAGER),
            "field manager {FIELD_MANAGER} missing from {managers:?}"
        );

        let ready = wait_until(
            deployments,
            "web",
            "Deployment Available",
            deployment_available,
        )
        .await;
        assert_eq!(ready.status.and_then(|s| s.ready_replicas), Some(2));
    })
    .await;
}

#[tokio::test]
async fn statefulset_volume_claim_binds_and_pod_becomes_ready() {
    let client = client().await;
    let ns = unique_namespace("ordo-smoke-sts");
    in_namespace(client, &ns, |client, ns| async move {
        let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
        statefulsets
            .patch(
                "db",
                &ssa(),
                &Patch::Apply(json!({
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "metadata": {"name": "db", "namespace": ns},
                    "spec": {
                        "replicas": 1,
                        "serviceName": "db",
                        "selector": {"matchLabels": {"app": "db"}},
                        "template": {
                            "metadata": {"labels": {"app": "db"}},
                            "spec": {"containers": [{
                                "name": "db",
                                "image": "db:fake",
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }]},
                        },
                        "volumeClaimTemplates": [{
                            "metadata": {"name": "data"},
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "1Gi"}},
                            },
                        }],
                    },
                })),
            )
            .await
            .expect("server-side apply of the StatefulSet failed");

        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        let pvc = wait_until(pvcs, "data-db-0", "PVC Bound", pvc_bound).await;
        let volume = pvc.spec.and_then(|s| s.volume_name);
        assert!(
            volume.is_some_and(|v| !v.is_empty()),
            "bound PVC names no volume"
        );

        let pods: Api<Pod> = Api::namespaced(client, &ns);
        wait_until(pods, "db-0", "Pod Ready", pod_ready).await;
        wait_until(statefulsets, "db", "StatefulSet ready", statefulset_ready).await;
    })
    .await;
}
