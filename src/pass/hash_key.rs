//! The key of `ordo.dev/config-hash`: 32 random bytes per install, kept base64 in the Secret
//! `ordo-config-hash-key` of ordo's own namespace, so every replica, restart and `ordo sync`
//! stamps the same hashes (a new key would roll every workload that reads config).
//!
//! Fallback: when the key cannot be read or created, the sync is refused. An unkeyed or
//! made-up key would either leak guessable Secret hashes or roll every workload.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::cluster::{Cluster, ClusterError, Resource};
use crate::manifest::keys::MANAGED_BY_LABEL;
use crate::plan::ConfigHashKey;

/// The Secret holding the key, in ordo's namespace.
pub const SECRET_NAME: &str = "ordo-config-hash-key";
const DATA_KEY: &str = "key";
const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cannot read or create the config-hash key (Secret {namespace}/{SECRET_NAME}): {source}; \
         ordo refuses to sync without it: grant ordo get and create on Secrets in {namespace}"
    )]
    Cluster {
        namespace: String,
        #[source]
        source: ClusterError,
    },

    #[error(
        "Secret {namespace}/{SECRET_NAME} holds no valid key ({reason}): delete it and ordo \
         makes a new one at its next start (workloads reading config then roll once)"
    )]
    Invalid { namespace: String, reason: String },

    #[error("cannot draw random bytes for the config-hash key: {0}")]
    Random(String),
}

/// The key each namespace's Secret holds, read once per process.
#[derive(Debug, Default)]
pub struct HashKeys {
    /// ordo's own namespace, when known (`ordo run` in a pod); else each app's namespace holds
    /// the key for its apps.
    namespace: Option<String>,
    read: tokio::sync::Mutex<std::collections::HashMap<String, ConfigHashKey>>,
}

impl HashKeys {
    pub fn new(namespace: Option<String>) -> Self {
        HashKeys {
            namespace,
            read: tokio::sync::Mutex::default(),
        }
    }

    /// ordo's own namespace, when known.
    pub fn own_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Where the key of an app of `app_namespace` lives: ordo's own namespace when known.
    /// An app's `decryption.secretRef` without a namespace points there too.
    pub fn namespace_for<'a>(&'a self, app_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(app_namespace)
    }

    /// The key for an app of `app_namespace`. Held across the read, so concurrent apps make one
    /// request, not one each.
    pub async fn get(
        &self,
        cluster: &Cluster,
        app_namespace: &str,
    ) -> Result<ConfigHashKey, KeyError> {
        let namespace = self.namespace_for(app_namespace);
        let mut read = self.read.lock().await;
        if let Some(key) = read.get(namespace) {
            return Ok(key.clone());
        }
        let key = load_or_create(cluster, namespace).await?;
        read.insert(namespace.to_owned(), key.clone());
        Ok(key)
    }
}

/// Reads the key, creating it first if it does not exist yet. Create-only: an existing Secret
/// is never overwritten, and what is used is always what was read back, so replicas starting at
/// once agree on the first one created.
pub async fn load_or_create(cluster: &Cluster, namespace: &str) -> Result<ConfigHashKey, KeyError> {
    let failed = |source| KeyError::Cluster {
        namespace: namespace.to_owned(),
        source,
    };
    let resource = Resource::secrets();
    if let Some(secret) = cluster
        .get(&resource, Some(namespace), SECRET_NAME)
        .await
        .map_err(failed)?
    {
        return parse(&secret, namespace);
    }
    let secret = new_secret(namespace, &random_key()?);
    cluster.create(&resource, &secret).await.map_err(failed)?;
    let stored = cluster
        .get(&resource, Some(namespace), SECRET_NAME)
        .await
        .map_err(failed)?
        .ok_or_else(|| KeyError::Invalid {
            namespace: namespace.to_owned(),
            reason: "it vanished right after it was created".to_owned(),
        })?;
    parse(&stored, namespace)
}

/// 32 bytes from the operating system's generator (`getrandom`): a key needs nothing more, and
/// `rand` would bring a user-space generator ordo has no other use for.
fn random_key() -> Result<Vec<u8>, KeyError> {
    let mut bytes = vec![0; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

fn new_secret(namespace: &str, key: &[u8]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: "ordo" },
        },
        "type": "Opaque",
        "stringData": { DATA_KEY: STANDARD.encode(key) },
    })
}

/// `data.key` is base64 (the API's encoding) of base64 text (what was stored) of the key.
fn parse(secret: &Value, namespace: &str) -> Result<ConfigHashKey, KeyError> {
    let invalid = |reason: &str| KeyError::Invalid {
        namespace: namespace.to_owned(),
        reason: reason.to_owned(),
    };
    let data = secret
        .pointer(&format!("/data/{DATA_KEY}"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("no data.key"))?;
    let text = STANDARD
        .decode(data)
        .map_err(|_| invalid("data.key is not base64"))?;
    let key = STANDARD
        .decode(String::from_utf8_lossy(&text).trim())
        .map_err(|_| invalid("the key is not base64 text"))?;
    if key.len() < KEY_BYTES {
        return Err(invalid(&format!(
            "the key has {} bytes, fewer than {KEY_BYTES}",
            key.len()
        )));
    }
    Ok(ConfigHashKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Secret as the API server returns it: stringData folded into base64 data.
    fn served(secret: &Value) -> Value {
        let text = secret["stringData"][DATA_KEY].as_str().unwrap();
        json!({ "data": { DATA_KEY: STANDARD.encode(text) } })
    }

    #[test]
    fn a_created_key_reads_back_as_itself() {
        let key = random_key().unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(key, random_key().unwrap());
        let read = parse(&served(&new_secret("ordo", &key)), "ordo").unwrap();
        assert_eq!(read, ConfigHashKey::new(key));
    }

    #[test]
    fn a_short_or_garbled_key_is_refused_with_what_to_do() {
        for secret in [
            json!({}),
            json!({ "data": { DATA_KEY: "%%%" } }),
            served(&new_secret("ordo", b"short")),
        ] {
            let err = parse(&secret, "ordo").unwrap_err().to_string();
            assert!(err.contains("delete it"), "{err}");
        }
    }
}
