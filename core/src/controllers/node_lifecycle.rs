//! Node lifecycle: a node that is not Ready gets the `unreachable` (or
//! `not-ready`) NoSchedule taint, so the scheduler places nothing new there,
//! and loses it when it is Ready again. A node whose agent disconnects is
//! marked Unknown, as the real controller does when heartbeats stop.

use crate::apiserver::resources::NODES;
use crate::apiserver::{set_condition, ApiRequest, ApiServer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

pub const USER: &str = "system:serviceaccount:kube-system:node-controller";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

fn ready_status(node: &Value) -> &str {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
}

/// The NoSchedule taint a node should carry for its readiness, if any.
fn wanted_taint(node: &Value) -> Option<&'static str> {
    match ready_status(node) {
        "True" => None,
        "False" => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    }
}

/// Brings every node's readiness taints in line with its Ready condition.
pub fn reconcile(api: &mut ApiServer, now: Timestamp) {
    let nodes: Vec<Value> = api.store().list(&NODES.storage_name(), None).map(|(_, n)| (**n).clone()).collect();
    for mut node in nodes {
        let wanted = wanted_taint(&node);
        let taints = node.pointer("/spec/taints").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut kept: Vec<Value> = taints
            .iter()
            .filter(|t| !(t["effect"] == "NoSchedule" && (t["key"] == UNREACHABLE || t["key"] == NOT_READY) && Some(t["key"].as_str().unwrap_or("")) != wanted))
            .cloned()
            .collect();
        if let Some(key) = wanted {
            if !kept.iter().any(|t| t["key"] == key && t["effect"] == "NoSchedule") {
                kept.push(json!({"key": key, "effect": "NoSchedule", "timeAdded": Time(now)}));
            }
        }
        if kept != taints {
            node["spec"]["taints"] = json!(kept);
            let name = node["metadata"]["name"].as_str().unwrap_or("").to_string();
            api.handle(&ApiRequest::put(NODES.path(None, Some(&name)), node).as_user(USER), now);
        }
    }
}

/// The node's agent is gone: its status is now Unknown.
pub fn mark_unreachable(api: &mut ApiServer, name: &str, now: Timestamp) {
    let path = NODES.path(None, Some(name));
    let Some(mut node) = api.handle(&ApiRequest::get(&path).as_user(USER), now).into_response().json_body().cloned() else { return };
    if node.get("kind").and_then(Value::as_str) != Some("Node") {
        return;
    }
    let last_heartbeat = node.pointer("/status/conditions/0/lastHeartbeatTime").cloned().unwrap_or(Value::Null);
    set_condition(&mut node, json!({
        "type": "Ready",
        "status": "Unknown",
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
        "lastHeartbeatTime": last_heartbeat,
        "lastTransitionTime": Time(now),
    }));
    api.handle(&ApiRequest::put(format!("{path}/status"), node).as_user(USER), now);
    reconcile(api, now);
}
