//! `ordo run`'s leadership: one campaign on the Lease, one per shard (`--shards`), or none
//! when running alone.

use std::sync::Arc;

use tracing::info;

use crate::agent::{lease, shards};
use crate::cluster::Cluster;
use crate::metrics::Metrics;

/// Leadership: a campaign on the Lease (or one per shard), or (running alone) a channel that
/// stays true.
pub(super) struct Leadership {
    pub leader_url: tokio::sync::watch::Receiver<Option<lease::LeaderAddress>>,
    /// What the agent runs its apps by: one shard unless `--shards`.
    pub shards: Vec<crate::agent::Shard>,
    pub campaigns: Vec<tokio::task::JoinHandle<()>>,
    pub stop_campaign: tokio::sync::watch::Sender<bool>,
    /// Held to the end when running alone: leadership then never changes.
    _alone: Option<tokio::sync::watch::Sender<bool>>,
}

pub(super) fn lead(
    election: Option<lease::Election>,
    shards: u32,
    cluster: &Cluster,
    metrics: &Arc<Metrics>,
    advertise: Option<String>,
) -> Leadership {
    use tokio::sync::watch::channel;
    let (stop_campaign, campaign_stopped) = channel(false);
    let Some(mut election) = election else {
        metrics.set_leader(true);
        let (alone, leader) = channel(true);
        let (_, leader_url) = channel(None);
        return Leadership {
            shards: vec![crate::agent::Shard {
                leader,
                owner: leader_url.clone(),
                cluster: cluster.clone(),
            }],
            leader_url,
            campaigns: Vec::new(),
            stop_campaign,
            _alone: Some(alone),
        };
    };
    election.url = advertise;
    if shards > 1 {
        return lead_shards(election, shards, cluster, metrics, stop_campaign);
    }
    info!(lease = %election.name, namespace = %election.namespace, identity = %election.identity, url = ?election.url, "leader election: campaigning");
    let (leader_tx, leader) = channel(false);
    let (leader_url_tx, leader_url) = channel(None);
    let campaign = tokio::spawn(lease::campaign(
        cluster.clone(),
        election,
        (leader_tx, leader_url_tx),
        None,
        metrics.clone(),
        campaign_stopped,
    ));
    Leadership {
        shards: vec![crate::agent::Shard {
            leader,
            owner: leader_url.clone(),
            cluster: cluster.clone(),
        }],
        leader_url,
        campaigns: vec![campaign],
        stop_campaign,
        _alone: None,
    }
}

/// `--shards N`: a campaign per shard, each with a client fenced by its own lease, gated by
/// the member Leases (`agent::shards`).
fn lead_shards(
    election: lease::Election,
    count: u32,
    cluster: &Cluster,
    metrics: &Arc<Metrics>,
    stop_campaign: tokio::sync::watch::Sender<bool>,
) -> Leadership {
    use tokio::sync::watch::channel;
    let membership = shards::Membership {
        namespace: election.namespace.clone(),
        lease: election.name.clone(),
        identity: election.identity.clone(),
        shards: count,
    };
    info!(lease = %election.name, shards = count, namespace = %election.namespace, identity = %election.identity, url = ?election.url, "sharding: campaigning for the shards this replica owns");
    let mut wanted = Vec::new();
    let mut shards = Vec::new();
    let mut campaigns = Vec::new();
    for i in 0..count {
        let (wanted_tx, wanted_rx) = channel(false);
        let (leader_tx, leader) = channel(false);
        let (owner_tx, owner) = channel(None);
        let fenced = cluster.fenced_apart();
        let shard_election = lease::Election {
            name: membership.shard_lease(i),
            shard: Some(i),
            ..election.clone()
        };
        metrics.set_shard_owned(i, false);
        campaigns.push(tokio::spawn(lease::campaign(
            fenced.clone(),
            shard_election,
            (leader_tx, owner_tx),
            Some(wanted_rx),
            metrics.clone(),
            stop_campaign.subscribe(),
        )));
        wanted.push(wanted_tx);
        shards.push(crate::agent::Shard {
            leader,
            owner,
            cluster: fenced,
        });
    }
    campaigns.push(tokio::spawn(shards::follow_members(
        cluster.clone(),
        membership,
        wanted,
        stop_campaign.subscribe(),
    )));
    Leadership {
        shards,
        leader_url: channel(None).1,
        campaigns,
        stop_campaign,
        _alone: None,
    }
}
