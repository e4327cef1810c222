//! Service and Ingress: healthy once they exist; the load-balancer address is information only.
//!
//! Why not wait for an address (Argo CD does, for type LoadBalancer): clusters without a cloud
//! controller (kind, k3s without servicelb, bare metal without MetalLB) never set one, and Argo
//! CD users see such apps stuck Progressing forever. Nothing that depends on a Service needs
//! its external address, so waiting would only block the sync.

use serde_json::Value;

use super::Health;
use super::fields::str_at;

const NO_ADDRESS: &str = "no load-balancer address yet";

pub(super) fn service(service: &Value) -> Health {
    if str_at(service, "/spec/type") != Some("LoadBalancer") {
        return Health::healthy("");
    }
    load_balancer(service)
}

pub(super) fn ingress(ingress: &Value) -> Health {
    load_balancer(ingress)
}

/// Healthy either way; the message says where it is reachable, if anywhere yet.
fn load_balancer(object: &Value) -> Health {
    let addresses: Vec<&str> = object
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| str_at(entry, "/ip").or_else(|| str_at(entry, "/hostname")))
        .collect();
    if addresses.is_empty() {
        Health::healthy(NO_ADDRESS)
    } else {
        Health::healthy(format!("address {}", addresses.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use crate::health::HealthStatus::*;
    use crate::health::test_support::check;

    #[test]
    fn service() {
        let head = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n";
        check(
            head,
            &[
                ("cluster IP", "spec: {type: ClusterIP}", Healthy, ""),
                ("type defaults to ClusterIP", "spec: {}", Healthy, ""),
                (
                    "load balancer without address is still healthy",
                    "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {}}",
                    Healthy,
                    "no load-balancer address yet",
                ),
                (
                    "load balancer with empty ingress list",
                    "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: []}}",
                    Healthy,
                    "no load-balancer address yet",
                ),
                (
                    "load balancer with addresses",
                    "spec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.7}, {hostname: lb.example.com}]}}",
                    Healthy,
                    "address 203.0.113.7, lb.example.com",
                ),
            ],
        );
    }

    #[test]
    fn ingress() {
        let head = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\n";
        check(
            head,
            &[
                (
                    "no controller has set an address",
                    "spec: {rules: []}",
                    Healthy,
                    "no load-balancer address yet",
                ),
                (
                    "address set",
                    "status: {loadBalancer: {ingress: [{ip: 10.0.0.5}]}}",
                    Healthy,
                    "address 10.0.0.5",
                ),
            ],
        );
    }
}
