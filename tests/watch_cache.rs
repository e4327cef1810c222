//! The cluster's shared watch cache against the local control plane (`scripts/cluster.sh up`):
//! one watch per (kind, namespace, selector) whoever asks, changes seen by every reader, a
//! deletion during a re-listing not left behind, and no watch once nobody holds the group.
//! Without KUBECONFIG it fails, never skips.

#[allow(dead_code)] // shared by every test binary; this one needs only some of it
mod common;
use common::{kubeconfig, unique};

use std::sync::Arc;
use std::time::Duration;

use ordo::cluster::{ApplyOptions, Cluster, Group};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn cluster() -> Cluster {
    Cluster::connect(Some(std::path::Path::new(&kubeconfig())))
        .await
        .expect("the local cluster's kubeconfig works")
}

fn config_map(ns: &str, name: &str, value: &str, selector_value: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"watch-test": selector_value}},
        "data": {"v": value}
    })
}

/// Waits until `check` holds for the group's view of `name`.
async fn until(group: &Arc<Group>, name: &str, check: impl Fn(Option<&Value>) -> bool) {
    let mut changes = group.changes(name);
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(seen) = group.get(name)
                && check(seen.as_ref())
            {
                return;
            }
            let _ = changes.changed().await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{name} did not reach the expected state");
}

fn value_of(o: Option<&Value>) -> Option<&str> {
    o.and_then(|o| o.pointer("/data/v")).and_then(Value::as_str)
}

#[tokio::test]
async fn readers_of_one_kind_and_namespace_share_one_watch_that_stops_with_the_last() {
    let cluster = cluster().await;
    let ns = unique("watch");
    let namespaces = cluster
        .resource("v1", "Namespace")
        .await
        .expect("namespaces");
    let write = ApplyOptions {
        dry_run: false,
        force: true,
    };
    cluster
        .apply(
            &namespaces,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            write,
        )
        .await
        .expect("namespace created");
    let maps = cluster
        .resource("v1", "ConfigMap")
        .await
        .expect("configmaps");
    let before = cluster.watches_running();

    let first = cluster.watch(&maps, Some(&ns), "watch-test=a");
    let second = cluster.watch(&maps, Some(&ns), "watch-test=a");
    let other = cluster.watch(&maps, Some(&ns), "watch-test=b");
    assert!(Arc::ptr_eq(&first, &second), "same key, same group");
    assert!(
        !Arc::ptr_eq(&first, &other),
        "another selector, another watch"
    );
    assert_eq!(cluster.watches_running(), before + 2);

    // A change that lands before the first listing is part of the listing (signalled as ""),
    // not a change: wait for it, so "one" below is a change every whole-group reader hears.
    assert!(first.until_listed(WAIT).await, "the first listing");
    let mut all_changes = first.subscribe();
    cluster
        .apply(&maps, &config_map(&ns, "one", "1", "a"), write)
        .await
        .expect("applied");
    cluster
        .apply(&maps, &config_map(&ns, "unlabelled", "1", "b"), write)
        .await
        .expect("applied");
    until(&second, "one", |o| value_of(o) == Some("1")).await;
    until(&other, "unlabelled", |o| value_of(o) == Some("1")).await;
    assert_eq!(
        first.get("unlabelled"),
        Some(None),
        "the selector filters what a group holds"
    );
    let named = tokio::time::timeout(WAIT, async {
        loop {
            match all_changes.recv().await {
                Ok(name) if &*name == "one" => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(named, Ok(true), "a whole-group reader hears of each change");

    let uid_of = |o: Option<serde_json::Value>| {
        o.and_then(|o| o.pointer("/metadata/uid")?.as_str().map(str::to_owned))
            .expect("a uid")
    };
    let uid = uid_of(cluster.get(&maps, Some(&ns), "one").await.expect("read"));
    // Every delete is conditional on the uid it was meant for (issue #23): a stale one
    // deletes nothing.
    let stale = cluster
        .delete(
            &maps,
            Some(&ns),
            "one",
            "00000000-0000-0000-0000-000000000000",
            kube::api::PropagationPolicy::Background,
        )
        .await
        .expect("answered");
    assert!(!stale, "a delete for another uid deletes nothing");
    assert!(
        cluster
            .get(&maps, Some(&ns), "one")
            .await
            .expect("read")
            .is_some()
    );
    cluster
        .delete(
            &maps,
            Some(&ns),
            "one",
            &uid,
            kube::api::PropagationPolicy::Background,
        )
        .await
        .expect("deleted");
    until(&first, "one", |o| o.is_none()).await;

    drop((first, second, other));
    assert_eq!(
        cluster.watches_running(),
        before,
        "a group nobody holds is no longer watched"
    );
    let uid = uid_of(cluster.get(&namespaces, None, &ns).await.expect("read"));
    let _ = cluster
        .delete(
            &namespaces,
            None,
            &ns,
            &uid,
            kube::api::PropagationPolicy::Background,
        )
        .await;
}

#[tokio::test]
async fn a_reader_waiting_for_the_first_listing_hears_when_it_is_done_or_forbidden() {
    let cluster = cluster().await;
    let maps = cluster
        .resource("v1", "ConfigMap")
        .await
        .expect("configmaps");
    let allowed = cluster.watch(&maps, Some("default"), "listing-test=x");
    assert!(allowed.until_listed(WAIT).await, "listed within {WAIT:?}");
    assert_eq!(
        allowed.get("absent"),
        Some(None),
        "listed: absent means absent"
    );

    // A user with no rights: the watch fails, and the waiter hears so long before `WAIT`
    // (the watcher keeps retrying with back-off; a waiter reads the API server instead).
    let nobody = cluster
        .impersonating(&format!(
            "system:serviceaccount:default:{}",
            unique("nobody")
        ))
        .expect("impersonating");
    let forbidden = nobody.watch(&maps, Some("default"), "listing-test=x");
    let asked = std::time::Instant::now();
    assert!(
        !forbidden.until_listed(WAIT).await,
        "a forbidden watch never lists"
    );
    assert!(
        asked.elapsed() < WAIT,
        "the failure ended the wait, not the timeout"
    );
    assert_eq!(
        forbidden.get("absent"),
        None,
        "not listed: nothing is known"
    );
}
