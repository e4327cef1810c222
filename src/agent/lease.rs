//! Leader election on a `coordination.k8s.io` Lease, so two replicas never both write.
//!
//! The holder renews every [`RETRY`]; a replica takes the lease over when its renew time has
//! not moved for the lease's duration, measured on the local monotonic clock (no trust in the
//! other replica's wall clock). Every update carries the `resourceVersion` it read, so two
//! replicas racing for an expired lease cannot both win. The moment a holder sees another
//! holder, or cannot renew within [`RENEW_DEADLINE`], it closes the cluster's write fence
//! before anything else learns of it: no write leaves a replica that may have lost the lease.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};
use tracing::{info, warn};

use crate::cluster::Cluster;
use crate::metrics::Metrics;

/// How long a lease stays valid without renewal: a dead leader is replaced within this plus
/// one [`RETRY`].
pub const LEASE_DURATION: Duration = Duration::from_secs(12);
/// A leader that has not renewed for this long stops writing (before the lease can expire
/// for the others).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(8);
pub const RETRY: Duration = Duration::from_secs(2);
/// One request may not eat the whole renew deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Who and where.
#[derive(Debug, Clone)]
pub struct Election {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// Where this replica's HTTP server is reached (`http://10.0.0.7:8080`): written on the
    /// Lease while it leads, so standby replicas can forward commands and webhooks to it.
    pub url: Option<String>,
    /// The shard of apps this Lease guards (`ordo run --shards`), or None for the one leader.
    pub shard: Option<u32>,
}

/// Annotation on the Lease: the leader's HTTP address.
pub use crate::manifest::keys::LEADER_URL_ANNOTATION as URL_ANNOTATION;

/// What we last saw of someone else's lease, and when (monotonic).
struct Observed {
    holder: Option<String>,
    renew: Option<MicroTime>,
    at: Instant,
}

/// Where the leader says it serves, and who it is (the Lease's holder): a standby forwards
/// there only once that address proved it is the holder (`server/leader.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAddress {
    pub url: String,
    pub identity: String,
}

/// Campaigns until `stop` turns true, publishing leadership on `leader` and closing the
/// cluster's write fence whenever this replica is not (or may no longer be) the leader.
/// Releases the lease on stop so the next replica need not wait for it to expire.
/// `wanted` (shards): while false this replica does not take the lease, and hands it over
/// (fence closed, writes landed, lease released) if it holds it.
pub async fn campaign(
    cluster: Cluster,
    election: Election,
    (leader, leader_url): (watch::Sender<bool>, watch::Sender<Option<LeaderAddress>>),
    mut wanted: Option<watch::Receiver<bool>>,
    metrics: std::sync::Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<Lease> = cluster.namespaced(&election.namespace);
    let mut observed: Option<Observed> = None;
    let mut renewed: Option<Instant> = None;
    let set = |is: bool| {
        cluster.allow_writes(is);
        match election.shard {
            Some(shard) => metrics.set_shard_owned(shard, is),
            None => metrics.set_leader(is),
        }
        leader.send_if_modified(|was| {
            let changed = *was != is;
            *was = is;
            changed
        });
    };
    set(false);
    loop {
        if *stop.borrow() {
            break;
        }
        let may_take = wanted.as_mut().is_none_or(|w| *w.borrow_and_update());
        if !may_take && *leader.borrow() {
            hand_over(&cluster, &api, &election, &set).await;
            renewed = None;
        }
        let outcome = timeout(
            REQUEST_TIMEOUT,
            attempt(&api, &election, &mut observed, may_take),
        )
        .await;
        if let Ok(Ok((_, url))) = &outcome {
            leader_url.send_if_modified(|known| {
                let changed = known != url;
                known.clone_from(url);
                changed
            });
        }
        match outcome {
            Ok(Ok((true, _))) => {
                if !*leader.borrow() {
                    info!(lease = %election.name, identity = %election.identity, "became the leader");
                }
                renewed = Some(Instant::now());
                set(true);
            }
            Ok(Ok((false, _))) => {
                if *leader.borrow() {
                    warn!(lease = %election.name, "another replica holds the lease: stopped writing");
                }
                renewed = None;
                set(false);
            }
            Ok(Err(e)) => warn!(lease = %election.name, error = %e, "lease request failed"),
            Err(_) => warn!(lease = %election.name, "lease request timed out"),
        }
        if renewed.is_some_and(|at| at.elapsed() >= RENEW_DEADLINE) {
            warn!(lease = %election.name, "could not renew the lease in time: stopped writing");
            renewed = None;
            set(false);
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = sleep(RETRY) => {}
            _ = changed(&mut wanted) => {}
        }
    }
    if *leader.borrow() {
        set(false);
        if let Err(e) = release(&api, &election).await {
            warn!(lease = %election.name, error = %e, "cannot release the lease; it expires by itself");
        } else {
            info!(lease = %election.name, "released the lease");
        }
    }
}

/// A change of `wanted`, or never when there is none.
async fn changed(wanted: &mut Option<watch::Receiver<bool>>) {
    match wanted {
        Some(w) => {
            if w.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Another replica owns this shard now: stop writing, let what was sent land, then release
/// the lease so the owner takes it at once.
async fn hand_over(cluster: &Cluster, api: &Api<Lease>, election: &Election, set: &impl Fn(bool)) {
    set(false);
    if !cluster.writes_drained(RENEW_DEADLINE).await {
        warn!(lease = %election.name, "writes still unanswered; keeping the lease until it expires");
        return;
    }
    match release(api, election).await {
        Ok(()) => info!(lease = %election.name, "handed the shard over to its owner"),
        Err(e) => {
            warn!(lease = %election.name, error = %e, "cannot release the lease; it expires by itself")
        }
    }
}

/// One round: create, renew or take over the lease (only when `may_take`). Ok(true, _) when
/// we hold it now; the second value is the leader's HTTP address and identity as the Lease
/// says (None while we lead).
async fn attempt(
    api: &Api<Lease>,
    election: &Election,
    observed: &mut Option<Observed>,
    may_take: bool,
) -> Result<(bool, Option<LeaderAddress>), kube::Error> {
    let now = MicroTime(Timestamp::now());
    let duration = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
    let Some(mut lease) = api.get_opt(&election.name).await? else {
        if !may_take {
            return Ok((false, None));
        }
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(election.name.clone()),
                annotations: annotations(election),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(election.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok((true, None)),
            // Someone created it first: theirs.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok((false, None)),
            Err(e) => Err(e),
        };
    };
    let their_url = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(URL_ANNOTATION).cloned());
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    if holder.as_deref() == Some(election.identity.as_str()) && may_take {
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(duration);
        *observed = None;
        lease.metadata.annotations = annotations(election);
        return Ok((replace(api, election, &lease).await?, None));
    }
    // Someone else's (or nobody's): has it stopped moving for a whole lease duration?
    let seen = observed
        .as_ref()
        .is_some_and(|o| o.holder == holder && o.renew == spec.renew_time);
    if !seen {
        *observed = Some(Observed {
            holder: holder.clone(),
            renew: spec.renew_time.clone(),
            at: Instant::now(),
        });
    }
    let their_duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(LEASE_DURATION, Duration::from_secs);
    let expired = holder.is_none()
        || observed
            .as_ref()
            .is_some_and(|o| o.at.elapsed() >= their_duration);
    if !expired || !may_take {
        let leader = holder
            .zip(their_url)
            .map(|(identity, url)| LeaderAddress { url, identity });
        return Ok((false, leader));
    }
    info!(lease = %election.name, previous = ?holder, "lease expired: taking it over");
    spec.holder_identity = Some(election.identity.clone());
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(duration);
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    *observed = None;
    lease.metadata.annotations = annotations(election);
    Ok((replace(api, election, &lease).await?, None))
}

/// The Lease's annotations while `election` holds it: its HTTP address, if it has one.
fn annotations(election: &Election) -> Option<std::collections::BTreeMap<String, String>> {
    election
        .url
        .as_ref()
        .map(|url| [(URL_ANNOTATION.to_owned(), url.clone())].into())
}

/// An update guarded by the resourceVersion we read: a conflict means someone else moved
/// first, and the lease is not ours.
async fn replace(
    api: &Api<Lease>,
    election: &Election,
    lease: &Lease,
) -> Result<bool, kube::Error> {
    match api
        .replace(&election.name, &PostParams::default(), lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the lease up: an empty holder is taken at once by the next replica.
async fn release(api: &Api<Lease>, election: &Election) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&election.name).await? else {
        return Ok(());
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    lease.metadata.annotations = None;
    replace(api, election, &lease).await.map(|_| ())
}
