//! What a Service's endpoints are made of, shared by the Endpoints and
//! EndpointSlice controllers: the pods its selector picks that have an
//! address, whether each is ready, and the port each Service port reaches
//! on it (a `targetPort` number as it is, a name looked up among the pod's
//! container ports).

use crate::json_path::JsonPath;
use super::ownership::{is_being_deleted, name, namespace, uid};
use super::pod_readiness::is_ready;
use crate::apiserver::resources::{PODS, SERVICES};
use crate::store::{ObjectKey, Store, StoreEvent};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Service port as it reaches a pod: (name, port on the pod, protocol).
pub type PodPort = (String, i32, String);

/// One pod behind a Service.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    pub ip: String,
    pub ready: bool,
    pub terminating: bool,
    pub node_name: Option<String>,
    /// Set when the pod's hostname and subdomain put it under this Service (StatefulSets).
    pub hostname: Option<String>,
    pub target_ref: Value,
    /// Each Service port the pod has, in order.
    pub ports: Vec<PodPort>,
}

/// The Service's selector, if it has one (without, its endpoints are the
/// user's). Read where it is stored: it is matched against every pod on
/// every pod change.
pub fn selector(service: &Value) -> Option<&Map<String, Value>> {
    service.at(&["spec", "selector"]).and_then(Value::as_object).filter(|s| !s.is_empty())
}

/// Whether a Service's selector picks `pod`.
fn selects(selector: &Map<String, Value>, pod: &Value) -> bool {
    let labels = pod.at(&["metadata", "labels"]).and_then(Value::as_object);
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Queues the Services in the pod's namespace that select it (before or after the change).
pub fn services_for_pod(event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
    let ns = event.key.namespace.as_str();
    let versions = [event.previous.as_deref(), Some(event.object.as_ref())];
    for (key, service) in store.list(&SERVICES.storage_name(), Some(ns)) {
        if selector(service).is_some_and(|s| versions.iter().flatten().any(|pod| selects(s, pod))) {
            keys.push(key.clone());
        }
    }
}

/// The port a Service port reaches on a pod, if the pod has it.
fn target_port(service_port: &Value, pod: &Value) -> Option<i32> {
    match service_port.get("targetPort") {
        Some(Value::String(port_name)) => pod
            .at(&["spec", "containers"])?
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"] == port_name.as_str() && p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == service_port["protocol"].as_str().unwrap_or("TCP"))
            .and_then(|p| p["containerPort"].as_i64())
            .map(|p| p as i32),
        Some(Value::Number(n)) => n.as_i64().map(|p| p as i32),
        _ => service_port["port"].as_i64().map(|p| p as i32),
    }
}

/// The pods behind `service`: selected, not finished, with an address;
/// terminating ones only when `include_terminating` (EndpointSlices show
/// them as such; Endpoints leave them out) or the Service publishes
/// addresses that are not ready.
fn backends(store: &Store, service: &Value, include_terminating: bool) -> Vec<Backend> {
    let Some(selector) = selector(service) else { return Vec::new() };
    let publish_not_ready = service.at(&["spec", "publishNotReadyAddresses"]) == Some(&json!(true));
    let service_name = name(service);
    let ports: Vec<Value> = service.at(&["spec", "ports"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut found = Vec::new();
    for (_, pod) in store.list(&PODS.storage_name(), Some(namespace(service))) {
        if !selects(selector, pod) {
            continue;
        }
        let Some(ip) = pod.at(&["status", "podIP"]).and_then(Value::as_str).filter(|ip| !ip.is_empty()) else { continue };
        let phase = pod.at(&["status", "phase"]).and_then(Value::as_str).unwrap_or("");
        let terminating = is_being_deleted(pod);
        if matches!(phase, "Succeeded" | "Failed") || (terminating && !include_terminating && !publish_not_ready) {
            continue;
        }
        found.push(backend(pod, ip, terminating, publish_not_ready, service_name, &ports));
    }
    found.sort_by(|a, b| a.ip.cmp(&b.ip));
    found
}

/// The backends grouped by the ports they serve (pods may resolve a named
/// port differently); a pod without any of the Service's ports is left out.
pub fn by_ports(store: &Store, service: &Value, include_terminating: bool) -> BTreeMap<Vec<PodPort>, Vec<Backend>> {
    let has_ports = service.at(&["spec", "ports"]).and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let mut groups: BTreeMap<Vec<PodPort>, Vec<Backend>> = BTreeMap::new();
    for backend in backends(store, service, include_terminating) {
        if has_ports && backend.ports.is_empty() {
            continue;
        }
        let mut ports = backend.ports.clone();
        ports.sort();
        groups.entry(ports).or_default().push(backend);
    }
    groups
}

fn backend(pod: &Arc<Value>, ip: &str, terminating: bool, publish_not_ready: bool, service_name: &str, ports: &[Value]) -> Backend {
    let ready = publish_not_ready || is_ready(pod);
    let hostname = pod.at(&["spec", "hostname"]).and_then(Value::as_str).filter(|_| pod.at(&["spec", "subdomain"]).and_then(Value::as_str) == Some(service_name));
    Backend {
        ip: ip.to_string(),
        ready,
        terminating,
        node_name: pod.at(&["spec", "nodeName"]).and_then(Value::as_str).map(String::from),
        hostname: hostname.map(String::from),
        target_ref: json!({"kind": "Pod", "namespace": namespace(pod), "name": name(pod), "uid": uid(pod)}),
        ports: ports
            .iter()
            .filter_map(|p| target_port(p, pod).map(|port| (p["name"].as_str().unwrap_or("").to_string(), port, p["protocol"].as_str().unwrap_or("TCP").to_string())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_ports_resolve_by_number_or_by_container_port_name() {
        let pod = json!({"spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]}});
        let cases = [
            (json!({"port": 80, "targetPort": 9090, "protocol": "TCP"}), Some(9090)),
            (json!({"port": 80, "targetPort": "http", "protocol": "TCP"}), Some(8080)),
            (json!({"port": 53, "targetPort": "dns", "protocol": "UDP"}), Some(53)),
            (json!({"port": 53, "targetPort": "dns", "protocol": "TCP"}), None),
            (json!({"port": 80, "targetPort": "grpc", "protocol": "TCP"}), None),
            (json!({"port": 80}), Some(80)),
        ];
        for (service_port, want) in cases {
            assert_eq!(target_port(&service_port, &pod), want, "{service_port}");
        }
    }
}
