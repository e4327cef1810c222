//! The live objects one sync waits on, read from the cluster's shared watch cache. The sync
//! holds each group it used until it ends, so a watch lives exactly as long as someone waits
//! on it: objects already Healthy cost nothing, and a finished sync leaves no watch behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cluster::{Cluster, Group, Resource};

/// (apiVersion/plural, namespace, selector).
type GroupKey = (String, Option<String>, String);

pub(super) struct LiveView {
    cluster: Cluster,
    /// The app's ApplySet label selector: only what it owns is watched.
    selector: String,
    /// Its hooks' label selector: hook instances are not ApplySet members.
    hook_selector: String,
    held: Mutex<HashMap<GroupKey, Arc<Group>>>,
}

impl LiveView {
    pub fn new(cluster: &Cluster, selector: String, hook_selector: String) -> Self {
        LiveView {
            cluster: cluster.clone(),
            selector,
            hook_selector,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The group of a kind and namespace, starting (or joining) its watch on first use.
    pub fn group(&self, resource: &Resource, namespace: Option<&str>, hook: bool) -> Arc<Group> {
        let selector = if hook {
            &self.hook_selector
        } else {
            &self.selector
        };
        let key = (
            format!("{}/{}", resource.api.api_version, resource.api.plural),
            namespace.map(str::to_owned),
            selector.clone(),
        );
        let group = self.cluster.watch(resource, namespace, selector);
        if let Ok(mut held) = self.held.lock() {
            held.entry(key).or_insert_with(|| group.clone());
        }
        group
    }
}
