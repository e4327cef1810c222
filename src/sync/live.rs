//! The live objects one sync waits on, read from the cluster's shared watch cache. The sync
//! holds each group it used until it ends, so a watch lives as long as someone waits on it or
//! guards drift with it: objects already Healthy cost nothing, and the app's objects come from
//! the one watch per kind every app's drift watch shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cluster::{Cluster, Group, Resource};

/// (apiVersion/plural, namespace, selector).
type GroupKey = (String, Option<String>, String);

pub(super) struct LiveView {
    cluster: Cluster,
    /// Its hooks' label selector: hook instances are not ApplySet members.
    hook_selector: String,
    held: Mutex<HashMap<GroupKey, Arc<Group>>>,
}

impl LiveView {
    pub fn new(cluster: &Cluster, hook_selector: String) -> Self {
        LiveView {
            cluster: cluster.clone(),
            hook_selector,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The group of a kind and namespace, starting (or joining) its watch on first use, and
    /// the key of `name` in it. An app's own objects are read from the watch all apps share
    /// for the kind (`Cluster::watch_owned`; in every namespace when the client may): a sync
    /// usually starts no watch at all. Hook instances, which are not ApplySet members, have
    /// the app's hook watch.
    pub async fn group(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        hook: bool,
    ) -> (Arc<Group>, String) {
        let group = if hook {
            self.cluster.watch(resource, namespace, &self.hook_selector)
        } else {
            let everywhere = self.cluster.may_watch_everywhere(resource).await;
            self.cluster
                .watch_owned(resource, if everywhere { None } else { namespace })
        };
        let key = group.key(namespace, name);
        let held_as = (
            format!("{}/{}", resource.api.api_version, resource.api.plural),
            namespace.map(str::to_owned),
            if hook {
                self.hook_selector.clone()
            } else {
                String::new()
            },
        );
        if let Ok(mut held) = self.held.lock() {
            held.entry(held_as).or_insert_with(|| group.clone());
        }
        (group, key)
    }
}
