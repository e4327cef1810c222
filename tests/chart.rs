//! The Helm chart (charts/ordo) checked with the real tools: `helm lint --strict` and
//! `helm template` in several value combinations, every render accepted by the local API server
//! (server-side dry run), the values schema refusing bad values by name, the alerts firing
//! under `promtool test rules`, the dashboard's queries parsing and matching what the agent
//! exports, a real install whose (kwok) pods become Ready, and namespaced RBAC keeping the real
//! agent, run with the chart's ServiceAccount token, out of namespaces it was not granted.
//!
//! helm and kubectl come from the cache scripts/cluster.sh builds them into; promtool from the
//! `prometheus` Debian package scripts/install-deps.sh installs.
//!
//! The helpers live in tests/chart/support.rs; the tests, by subject, in tests/chart/.

// The chart's tests reach the cluster through helm, kubectl and ordo: no kube client.
#[allow(dead_code)]
mod common;
#[path = "chart/install.rs"]
mod install;
#[path = "chart/observability.rs"]
mod observability;
#[path = "chart/render.rs"]
mod render;
#[path = "chart/support.rs"]
mod support;
