//! Node lifecycle: a node that is not Ready gets the `unreachable` (or
//! `not-ready`) NoSchedule taint, so the scheduler places nothing new there,
//! and loses it when it is Ready again. A node whose agent disconnects is
//! marked Unknown, as the real controller does when heartbeats stop.

use crate::apiserver::resources::NODES;
use crate::apiserver::{set_condition, ApiRequest, ApiServer};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
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

/// Keeps readiness taints in line with each node's Ready condition.
#[derive(Debug, Default)]
pub struct NodeLifecycle;

impl Reconciler for NodeLifecycle {
    fn name(&self) -> &'static str {
        "node-lifecycle"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == NODES.storage_name() && event.event_type != EventType::Deleted {
            keys.push(event.key.clone());
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&NODES.storage_name(), None).map(|(key, _)| key.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        reconcile_node(ctx.api, &key.name, ctx.now);
        Ok(Action::await_change())
    }
}

fn reconcile_node(api: &mut ApiServer, name: &str, now: Timestamp) {
    let key = crate::store::ObjectKey::new(NODES.storage_name(), "", name);
    let Some(node) = api.store().get(&key) else { return };
    let wanted = wanted_taint(node);
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
        let mut node = (**node).clone();
        node["spec"]["taints"] = json!(kept);
        api.handle(&ApiRequest::put(NODES.path(None, Some(name)), node).as_user(USER), now);
    }
}

/// The node's agent is gone: its status is now Unknown.
pub fn mark_unreachable(api: &mut ApiServer, name: &str, now: Timestamp) {
    let path = NODES.path(None, Some(name));
    let Some(node) = api.store().get(&ObjectKey::new(NODES.storage_name(), "", name)) else { return };
    let mut node = (**node).clone();
    let ready = node.pointer("/status/conditions").and_then(Value::as_array).and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let last_heartbeat = ready.and_then(|c| c.get("lastHeartbeatTime")).cloned().unwrap_or(Value::Null);
    set_condition(&mut node, json!({
        "type": "Ready",
        "status": "Unknown",
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
        "lastHeartbeatTime": last_heartbeat,
        "lastTransitionTime": Time(now),
    }));
    api.handle(&ApiRequest::put(format!("{path}/status"), node).as_user(USER), now);
}
