//! ordo: a GitOps sync agent for Kubernetes that applies manifests in inferred dependency order.
//!
//! The pipeline runs one way: `source` (git or a directory) yields files, `render` turns a
//! Kustomize overlay or a Helm chart into manifest files, `manifest` turns them into objects,
//! `plan` orders them into tiers and a dependency graph, `sync` applies them in that order and
//! waits on `health`, the `agent` publishes what happened and `server` shows it. Where each
//! decision lives, and the layering rules: `docs/architecture.md`.

pub mod agent;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod decrypt;
pub mod diff;
pub mod health;
pub mod import;
pub mod manifest;
pub mod metrics;
pub mod notify;
pub mod pass;
pub mod plan;
pub mod render;
pub mod server;
pub mod source;
pub mod sync;
pub mod verify;
