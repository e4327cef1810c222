//! The watch cache fed with made-up watch streams: no cluster, the events a real watcher
//! yields (a listing, changes, a 410 and a relisting, an error before the first listing).

use std::sync::Arc;
use std::time::Duration;

use kube::api::{DynamicObject, ObjectMeta};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use super::*;

type Item = Result<Event<DynamicObject>, watcher::Error>;

fn object(name: &str, part_of: Option<&str>, value: &str) -> DynamicObject {
    DynamicObject {
        types: None,
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("shop".to_owned()),
            labels: part_of.map(|p| [(PART_OF_LABEL.to_owned(), p.to_owned())].into()),
            ..ObjectMeta::default()
        },
        data: json!({"data": {"value": value}}),
    }
}

/// A 410 Gone, as the API server says a resource version is too old.
fn gone() -> Item {
    let status: kube::core::Status = serde_json::from_value(json!({
        "status": "Failure", "code": 410, "reason": "Expired",
        "message": "too old resource version"
    }))
    .unwrap();
    Err(watcher::Error::WatchError(Box::new(status)))
}

fn listing(objects: Vec<DynamicObject>) -> Vec<Item> {
    let mut events = vec![Ok(Event::Init)];
    events.extend(objects.into_iter().map(|o| Ok(Event::InitApply(o))));
    events.push(Ok(Event::InitDone));
    events
}

async fn feed(group: &Arc<Group>, events: Vec<Item>) {
    let types = ("v1".to_owned(), "ConfigMap".to_owned());
    follow(Arc::downgrade(group), futures::stream::iter(events), types).await;
}

fn value_of(group: &Group, name: &str) -> Option<Option<String>> {
    group.get(name).map(|o| {
        o.and_then(|o| {
            o.pointer("/data/value")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
    })
}

#[tokio::test(start_paused = true)]
async fn a_listing_then_changes_are_what_readers_see_and_hear() {
    let group = Arc::new(empty_group());
    assert_eq!(
        value_of(&group, "a"),
        None,
        "nothing is known before the listing"
    );
    let mut a_changed = group.changes("a");
    let mut feed_of_names = group.subscribe();
    let part = group.follow_part("app-1");
    let mut events = listing(vec![
        object("a", Some("app-1"), "1"),
        object("b", None, "1"),
    ]);
    events.push(Ok(Event::Apply(object("a", Some("app-1"), "2"))));
    events.push(Ok(Event::Delete(object("b", None, "1"))));
    feed(&group, events).await;

    assert!(group.listed());
    assert_eq!(
        value_of(&group, "a"),
        Some(Some("2".into())),
        "applied after the listing"
    );
    assert_eq!(
        value_of(&group, "b"),
        Some(None),
        "deleted: known absent, not unknown"
    );
    assert!(a_changed.has_changed().unwrap());
    assert_eq!(*a_changed.borrow_and_update(), 2, "listed, then applied");
    let heard: Vec<String> = std::iter::from_fn(|| feed_of_names.try_recv().ok())
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        heard,
        ["", "a", "b"],
        "a relisting is \"\", then each change by name"
    );
    // The ApplySet's reader hears the listing as "everything", then only its own object.
    assert!(matches!(part.next().await, Changed::Everything));
}

#[tokio::test(start_paused = true)]
async fn a_relisting_after_a_410_drops_what_was_deleted_while_the_watch_was_down() {
    let group = Arc::new(empty_group());
    let mut events = listing(vec![object("a", None, "1"), object("b", None, "1")]);
    events.push(gone());
    // While the watch was down, `a` was deleted and `b` changed: the relisting says so.
    events.extend(listing(vec![object("b", None, "2")]));
    feed(&group, events).await;
    assert_eq!(value_of(&group, "a"), Some(None));
    assert_eq!(value_of(&group, "b"), Some(Some("2".into())));
    assert_eq!(group.objects().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn objects_listed_during_a_relisting_are_not_seen_until_it_completes() {
    let group = Arc::new(empty_group());
    let mut events = listing(vec![object("a", None, "1")]);
    events.push(Ok(Event::Init));
    events.push(Ok(Event::InitApply(object("c", None, "1"))));
    // The stream ends before InitDone: the half listing never replaces what was known.
    feed(&group, events).await;
    assert_eq!(value_of(&group, "a"), Some(Some("1".into())));
    assert_eq!(value_of(&group, "c"), Some(None));
}

#[tokio::test(start_paused = true)]
async fn an_error_before_the_first_listing_ends_the_wait_for_it() {
    let group = Arc::new(empty_group());
    let waiting = {
        let group = group.clone();
        tokio::spawn(async move { group.until_listed(Duration::from_secs(3600)).await })
    };
    feed(&group, vec![Err(watcher::Error::NoResourceVersion)]).await;
    assert!(
        !waiting.await.unwrap(),
        "a failed watch is not a listed one"
    );
    assert_eq!(value_of(&group, "a"), None, "unknown, not absent");
    // It keeps trying: a later listing makes the group listed.
    feed(&group, listing(vec![object("a", None, "1")])).await;
    assert!(group.until_listed(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_holding_the_objects_does_not_empty_the_cache() {
    let group = Arc::new(empty_group());
    feed(&group, listing(vec![object("a", None, "1")])).await;
    let poisoner = group.clone();
    let panicked = std::thread::spawn(move || {
        let _held = poisoner.objects.write().unwrap();
        panic!("a reader panicked while holding the lock");
    })
    .join();
    assert!(panicked.is_err());
    assert!(group.objects.is_poisoned());
    assert_eq!(value_of(&group, "a"), Some(Some("1".into())));
    assert_eq!(group.objects().len(), 1);
    // And the watch still writes to it.
    feed(&group, vec![Ok(Event::Apply(object("a", None, "2")))]).await;
    assert_eq!(value_of(&group, "a"), Some(Some("2".into())));
}

#[test]
fn groups_differ_by_how_they_key_objects_not_by_a_suffix_of_the_selector() {
    let key = |qualified| GroupKey {
        kind: "v1/configmaps".into(),
        namespace: None,
        selector: PART_OF_LABEL.into(),
        qualified,
    };
    assert_ne!(key(true), key(false));
    let odd_selector = GroupKey {
        selector: format!("{PART_OF_LABEL}\n*"),
        ..key(false)
    };
    assert_ne!(
        odd_selector,
        key(true),
        "a selector can no longer pass for a flag"
    );
}
