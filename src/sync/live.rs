//! The live objects one sync waits on, read from the cluster's shared watch cache. The sync
//! holds each group it used until it ends, so a watch lives exactly as long as someone waits
//! on it: objects already Healthy cost nothing, and a finished sync leaves no watch behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::cluster::{Cluster, Group, Resource};

/// (apiVersion/plural, namespace).
type GroupKey = (String, Option<String>);

pub(super) struct LiveView {
    cluster: Cluster,
    /// The app's ApplySet label selector: only what it owns is watched.
    selector: String,
    held: Mutex<HashMap<GroupKey, Arc<Group>>>,
}

impl LiveView {
    pub fn new(cluster: &Cluster, selector: String) -> Self {
        LiveView {
            cluster: cluster.clone(),
            selector,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The group of a kind and namespace, starting (or joining) its watch on first use.
    pub fn group(&self, resource: &Resource, namespace: Option<&str>) -> Arc<Group> {
        let key = (
            format!("{}/{}", resource.api.api_version, resource.api.plural),
            namespace.map(str::to_owned),
        );
        let group = self.cluster.watch(resource, namespace, &self.selector);
        if let Ok(mut held) = self.held.lock() {
            held.entry(key).or_insert_with(|| group.clone());
        }
        group
    }
}
