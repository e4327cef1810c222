//! Manifests: files of a snapshot to validated Kubernetes objects. Pure: values in, values out.

mod error;
pub mod keys;
mod load;
mod namespace;
mod object;

pub use error::ManifestError;
pub use load::{from_value, load, parse_file, yaml_options};
pub use namespace::{CREATED_BY, NamespaceMetadata, add_namespace};
pub use object::{
    Object, ObjectId, Origin, is_builtin_cluster_scoped, is_dns_label, split_api_version,
};
