//! The age identities of an app's `decryption.secretRef`, read from the cluster when a
//! revision holds a SOPS file (not before: an app without one needs no right on the Secret).
//! Read at every such sync, so a rotated key counts without a restart. The value is never
//! logged, shown or kept: errors name the Secret and the data key only.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::cluster::{Cluster, Resource};
use crate::config::SecretRef;
use crate::decrypt::{DecryptError, Identities};

/// Where an app's age keys are, resolved: the Secret's namespace defaults to ordo's own
/// (the config-hash key's, see `hash_key.rs`).
#[derive(Clone)]
pub(crate) struct AgeSecret {
    pub cluster: Cluster,
    pub namespace: String,
    pub name: String,
    pub key: String,
}

impl AgeSecret {
    pub fn new(cluster: &Cluster, secret: &SecretRef, own_namespace: &str) -> Self {
        AgeSecret {
            cluster: cluster.clone(),
            namespace: secret
                .namespace
                .clone()
                .unwrap_or_else(|| own_namespace.to_owned()),
            name: secret.name.clone(),
            key: secret.key.clone(),
        }
    }

    fn shown(&self) -> String {
        format!("{}/{} (key {})", self.namespace, self.name, self.key)
    }

    pub async fn identities(&self) -> Result<Identities, DecryptError> {
        let fail = |reason: String| DecryptError::KeySecret {
            secret: self.shown(),
            reason,
        };
        let secret = self
            .cluster
            .get(&Resource::secrets(), Some(&self.namespace), &self.name)
            .await
            .map_err(|e| {
                fail(format!(
                    "cannot read it: {e}; grant ordo get on this Secret"
                ))
            })?
            .ok_or_else(|| fail("not found: create it with the age key file".to_owned()))?;
        let encoded = secret
            .get("data")
            .and_then(|d| d.get(&self.key))
            .and_then(|v| v.as_str())
            .ok_or_else(|| fail(format!("has no data key {:?}", self.key)))?;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| fail("its value is not base64".to_owned()))?,
        );
        let text =
            std::str::from_utf8(&bytes).map_err(|_| fail("its value is not text".to_owned()))?;
        Identities::parse(text, &self.shown()).map_err(|e| match e {
            DecryptError::KeyFile { reason, .. } => fail(reason),
            other => other,
        })
    }
}
