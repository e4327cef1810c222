//! What the client's own identity may do, asked of the API server (a
//! `SelfSubjectAccessReview`): for an app acting as its ServiceAccount, whether a reader may
//! see through ordo what the app itself could not read.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::{Cluster, ClusterError, map_error};

/// One question: may this identity `verb` `resource` (of `group`, with `subresource`) in
/// `namespace`?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: &'a str,
}

impl Cluster {
    /// Whether the client's identity (the impersonated account, when there is one) is allowed
    /// `access`. A review writes nothing: it is not fenced like the writes of a standby.
    pub async fn may(&self, access: Access<'_>) -> Result<bool, ClusterError> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(access.verb.to_owned()),
                    group: Some(access.group.to_owned()),
                    resource: Some(access.resource.to_owned()),
                    subresource: access.subresource.map(str::to_owned),
                    namespace: Some(access.namespace.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| map_error("create", "selfsubjectaccessreviews", e))?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}
