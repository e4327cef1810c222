//! Whether a reader may see an app's live children, events and logs through ordo. ordo
//! watches them with its own account (one watch per kind and namespace, shared by every
//! viewer), so for an app that acts as its ServiceAccount the answer is asked of that account
//! first: a reader sees what the app itself may read, never more (issue #23).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ViewError;
use crate::cluster::{Access, Cluster};

/// How long an answer is kept: a Role granted or taken away shows within a minute.
const ANSWER_FOR: Duration = Duration::from_secs(60);

/// What a reader asks to see in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Look {
    /// A workload's children and the events about them.
    Tree,
    /// A pod's log.
    Logs,
}

impl Look {
    /// What the app's account must be allowed: (verb, group, resource, subresource).
    fn needs(
        self,
    ) -> &'static [(
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    )] {
        match self {
            Look::Tree => &[
                ("list", "", "pods", None),
                ("list", "apps", "replicasets", None),
                ("list", "batch", "jobs", None),
                ("list", "", "events", None),
            ],
            Look::Logs => &[("get", "", "pods", Some("log"))],
        }
    }
}

/// When each (namespace, look) was answered, and the answer.
type Answers = HashMap<(String, Look), (Instant, bool)>;

/// Answers per (namespace, look), shared by the clones of an app's handle.
#[derive(Debug, Clone, Default)]
pub struct Looks {
    answers: Arc<Mutex<Answers>>,
}

impl Looks {
    /// Whether `reader` (the app's own client) may see `look` in `namespace`.
    pub async fn may(
        &self,
        reader: &Cluster,
        namespace: &str,
        look: Look,
    ) -> Result<bool, ViewError> {
        let key = (namespace.to_owned(), look);
        if let Some(&(at, allowed)) = self.answers.lock().ok().as_ref().and_then(|a| a.get(&key))
            && at.elapsed() < ANSWER_FOR
        {
            return Ok(allowed);
        }
        let mut allowed = true;
        for &(verb, group, resource, subresource) in look.needs() {
            let access = Access {
                verb,
                group,
                resource,
                subresource,
                namespace,
            };
            if !reader.may(access).await? {
                allowed = false;
                break;
            }
        }
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(key, (Instant::now(), allowed));
        }
        Ok(allowed)
    }
}
