//! Shards of apps over replicas (`ordo run --shards N`). An app belongs to shard
//! `hash(name) mod N`; each shard is guarded by its own Lease (`<lease>-shard-<i>`), so only
//! its holder reconciles and writes its apps. Which replica should hold a shard is decided by
//! rendezvous hashing over the live replicas: every replica keeps a member Lease
//! (`<lease>-member-<hash of identity>`) renewed, reads the others', and campaigns only for
//! the shards it owns. A replica that dies stops renewing; within the lease duration the
//! others see it gone, and its shards (and only those) move. A replica that joins takes its
//! shards from their holders, which hand them over once their writes have landed.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::{Instant, sleep};
use tracing::{info, warn};

use super::lease::{LEASE_DURATION, RENEW_DEADLINE, RETRY};
use crate::cluster::Cluster;

/// The label on member Leases: the lease name they are members of.
pub const MEMBERS_LABEL: &str = "ordo.dev/members-of";
/// A member Lease not renewed for this many lease durations is deleted (a replica that
/// died without saying so).
const FORGET_AFTER: u32 = 10;

/// The shard an app belongs to: stable for a given shard count.
pub fn shard_of(app: &str, shards: u32) -> u32 {
    let digest = Sha256::digest(app.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % u64::from(shards.max(1))) as u32
}

/// Who should hold each shard: shard by shard, the member that rendezvous hashing ranks
/// highest for it among those holding fewer than their fair share (shards / members, rounded
/// up): consistent hashing with bounded load, so three replicas of three shards hold one
/// each, and a member leaving moves its own shards and few others.
pub fn assign(shards: u32, members: &[String]) -> Vec<Option<&str>> {
    let Ok(count) = u32::try_from(members.len()) else {
        return vec![None; shards as usize];
    };
    if count == 0 {
        return vec![None; shards as usize];
    }
    let fair = shards.div_ceil(count);
    let mut load = vec![0u32; members.len()];
    (0..shards)
        .map(|shard| {
            let mut ranked: Vec<usize> = (0..members.len()).collect();
            ranked.sort_by_key(|&i| std::cmp::Reverse(rank(&members[i], shard)));
            let chosen = ranked.into_iter().find(|&i| load[i] < fair)?;
            load[chosen] += 1;
            Some(members[chosen].as_str())
        })
        .collect()
}

/// Rendezvous hashing's score of a member for a shard (ties broken by name).
fn rank(member: &str, shard: u32) -> (u128, String) {
    let digest = Sha256::digest(format!("{member}\n{shard}").as_bytes());
    let mut head = [0u8; 16];
    head.copy_from_slice(&digest[..16]);
    (u128::from_be_bytes(head), member.to_owned())
}

/// Where the member Leases live and who this replica is.
#[derive(Debug, Clone)]
pub struct Membership {
    pub namespace: String,
    /// The lease name the shards are named after (`--lease-name`).
    pub lease: String,
    pub identity: String,
    pub shards: u32,
}

impl Membership {
    /// This replica's member Lease (identities may be long or contain any character).
    fn own_lease(&self) -> String {
        let digest = Sha256::digest(self.identity.as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-member-{hex}", self.lease)
    }

    /// The Lease guarding `shard`.
    pub fn shard_lease(&self, shard: u32) -> String {
        format!("{}-shard-{shard}", self.lease)
    }
}

/// A member as last seen: its identity, its renew time, and when that renew time was first
/// seen here (monotonic: no trust in the other replica's clock).
struct Seen {
    identity: String,
    renew: Option<MicroTime>,
    since: Instant,
}

/// Keeps this replica's member Lease renewed and tells each shard's campaign whether this
/// replica owns it (`wanted[i]`), until `stop`; then deletes the member Lease so the others
/// take its shards at once.
pub async fn follow_members(
    cluster: Cluster,
    membership: Membership,
    wanted: Vec<watch::Sender<bool>>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<Lease> = cluster.namespaced(&membership.namespace);
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut renewed: Option<Instant> = None;
    let mut rounds = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        match renew(&api, &membership).await {
            Ok(()) => renewed = Some(Instant::now()),
            Err(e) => {
                warn!(lease = %membership.own_lease(), error = %e, "cannot renew the member lease")
            }
        }
        match live_members(&api, &membership, &mut seen).await {
            Ok(mut live) => {
                rounds += 1;
                // Not renewed in time: the others may count this replica out; so does it.
                let counted = renewed.is_some_and(|at| at.elapsed() < RENEW_DEADLINE);
                live.retain(|m| counted || *m != membership.identity);
                // The first round may not see the replicas that started alongside: wait for a
                // second look before claiming anything.
                if rounds >= 2 {
                    publish(&membership, &live, &wanted);
                }
            }
            Err(e) => warn!(lease = %membership.lease, error = %e, "cannot list the member leases"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = sleep(RETRY) => {}
        }
    }
    for w in &wanted {
        w.send_replace(false);
    }
    if let Err(e) = api
        .delete(&membership.own_lease(), &DeleteParams::default())
        .await
    {
        warn!(lease = %membership.own_lease(), error = %e, "cannot delete the member lease; it expires by itself");
    }
}

fn publish(membership: &Membership, live: &[String], wanted: &[watch::Sender<bool>]) {
    let owners = assign(membership.shards, live);
    for (shard, w) in (0u32..).zip(wanted) {
        let mine =
            owners.get(shard as usize).copied().flatten() == Some(membership.identity.as_str());
        w.send_if_modified(|was| {
            let changed = *was != mine;
            if changed {
                info!(
                    shard,
                    owner = mine,
                    members = live.len(),
                    "shard ownership changed"
                );
                *was = mine;
            }
            changed
        });
    }
}

/// Creates or renews this replica's member Lease.
async fn renew(api: &Api<Lease>, membership: &Membership) -> Result<(), kube::Error> {
    let name = membership.own_lease();
    let now = MicroTime(Timestamp::now());
    let duration = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
    let spec = LeaseSpec {
        holder_identity: Some(membership.identity.clone()),
        lease_duration_seconds: Some(duration),
        renew_time: Some(now),
        ..LeaseSpec::default()
    };
    match api.get_opt(&name).await? {
        Some(mut lease) => {
            lease.spec = Some(spec);
            api.replace(&name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name),
                    labels: Some(BTreeMap::from([(
                        MEMBERS_LABEL.to_owned(),
                        membership.lease.clone(),
                    )])),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
    }
}

/// The identities whose member Lease moved within the lease duration (this replica's own
/// included), sorted. Forgets (deletes) members gone for long.
async fn live_members(
    api: &Api<Lease>,
    membership: &Membership,
    seen: &mut HashMap<String, Seen>,
) -> Result<Vec<String>, kube::Error> {
    let selector = format!("{MEMBERS_LABEL}={}", membership.lease);
    let leases = api.list(&ListParams::default().labels(&selector)).await?;
    let now = Instant::now();
    let mut live = vec![membership.identity.clone()];
    let mut listed = Vec::new();
    for lease in leases.items {
        let Some(name) = lease.metadata.name.clone() else {
            continue;
        };
        let spec = lease.spec.unwrap_or_default();
        let Some(identity) = spec.holder_identity.filter(|h| !h.is_empty()) else {
            continue;
        };
        listed.push(name.clone());
        let renew = spec.renew_time;
        let entry = seen.entry(name.clone()).or_insert_with(|| Seen {
            identity: identity.clone(),
            renew: renew.clone(),
            // Seen for the first time: a renew time already old by the wall clock counts as
            // old here too, so a replica starting next to a long-dead member's lease does not
            // wait a whole lease duration to count it out.
            since: first_seen(renew.as_ref(), now),
        });
        if entry.renew != renew || entry.identity != identity {
            *entry = Seen {
                identity,
                renew,
                since: now,
            };
        }
        let silent = now.saturating_duration_since(entry.since);
        if silent < LEASE_DURATION {
            live.push(entry.identity.clone());
        } else if silent >= LEASE_DURATION * FORGET_AFTER && entry.identity != membership.identity {
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
    }
    seen.retain(|name, _| listed.contains(name));
    live.sort();
    live.dedup();
    Ok(live)
}

/// When a renew time first seen now should count from: now, or long ago when the wall clock
/// says it is older than a lease duration.
fn first_seen(renew: Option<&MicroTime>, now: Instant) -> Instant {
    let age = renew.and_then(|r| {
        let seconds = Timestamp::now().duration_since(r.0).as_secs_f64();
        (seconds.is_finite() && seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
    });
    match age {
        Some(age) if age >= LEASE_DURATION => now.checked_sub(LEASE_DURATION).unwrap_or(now),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_spread_over_the_shards_and_stay_there() {
        let mut counts = [0u32; 3];
        for i in 0..3000 {
            let app = format!("app-{i}");
            let shard = shard_of(&app, 3);
            assert_eq!(shard, shard_of(&app, 3), "stable");
            counts[shard as usize] += 1;
        }
        for n in counts {
            assert!((800..1200).contains(&n), "uneven spread: {counts:?}");
        }
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("anything", 0), 0, "no shards means one");
    }

    #[test]
    fn shards_are_shared_fairly_and_a_member_leaving_moves_little_else() {
        let names = |list: &[&str]| list.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        let three = names(&["r0", "r1", "r2"]);
        let mut held = assign(3, &three);
        held.sort();
        assert_eq!(held, [Some("r0"), Some("r1"), Some("r2")], "one shard each");

        let before = assign(30, &three);
        for member in ["r0", "r1", "r2"] {
            let n = before.iter().filter(|o| **o == Some(member)).count();
            assert_eq!(n, 10, "{member}: {before:?}");
        }
        let two = names(&["r0", "r2"]);
        let after = assign(30, &two);
        assert!(
            after.iter().all(|o| o.is_some()),
            "every shard has an owner"
        );
        let moved_elsewhere = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| **b != Some("r1") && b != a)
            .count();
        assert!(
            moved_elsewhere <= 10,
            "{moved_elsewhere} shards of the staying members moved: {before:?} → {after:?}"
        );
        assert_eq!(assign(2, &[]), vec![None, None]);
        assert_eq!(assign(3, &names(&["solo"])), vec![Some("solo"); 3]);
    }
}
