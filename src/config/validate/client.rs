//! `maxConcurrentSyncs` and `kubeClient: {qps, burst}`: how much the agent does at once.

use super::{ConfigError, Field, Fields};
use crate::config::KubeClient;
use crate::config::node::Value;

/// A whole number of at least 1.
pub(super) fn positive(field: &Field) -> Result<usize, ConfigError> {
    match &field.node.value {
        Value::Number(n) => n.parse::<usize>().ok().filter(|n| *n >= 1),
        _ => None,
    }
    .ok_or_else(|| {
        field.fail(format!(
            "{} is not a whole number of at least 1",
            field.shown()
        ))
    })
}

/// `kubeClient: {qps, burst}`.
pub(super) fn kube_client(root: &Fields) -> Result<KubeClient, ConfigError> {
    let mut client = KubeClient::default();
    let Some(field) = root.get("kubeClient") else {
        return Ok(client);
    };
    let f = Fields::open(
        root.file,
        field.node,
        field.path.clone(),
        &["qps", "burst"],
        &[],
    )?;
    if let Some(qps) = f.get("qps") {
        client.qps = u32::try_from(positive(&qps)?).unwrap_or(u32::MAX);
    }
    if let Some(burst) = f.get("burst") {
        client.burst = u32::try_from(positive(&burst)?).unwrap_or(u32::MAX);
    }
    Ok(client)
}
