//! The node lifecycle controller, after upstream's `nodelifecycle`: it
//! watches each node's signs of life (its lease's renewTime and its Ready
//! condition's lastHeartbeatTime). A node that shows none for the grace
//! period (40 s by default, `--node-monitor-grace-period`) gets its
//! conditions set to Unknown, as its kubelet can no longer say. Then, as
//! upstream's taint-based eviction does, a node that is not Ready carries
//! `not-ready` (Ready=False) or `unreachable` (Ready=Unknown) taints: NoSchedule,
//! so nothing new is scheduled there, and NoExecute, so the taint manager
//! (`taint_eviction`) evicts pods whose tolerations run out. Pressure
//! conditions and cordoning show as NoSchedule taints too. When a node
//! stops being Ready its pods are marked not ready at once, so Services
//! stop sending them traffic.
//!
//! Time is the controller's own: a sign of life counts when the controller
//! sees it change, not by the time written in it, as upstream does against
//! clock skew between machines.

use crate::json_path::JsonPath;
use super::events::{EventRecorder, NORMAL, WARNING};
use super::pod_readiness::is_ready;
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use crate::apiserver::resources::{LEASES, NODES, PODS};
use crate::apiserver::{set_condition, ApiRequest, ApiServer};
use crate::kubelet::agent::LEASE_NAMESPACE;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const USER: &str = "system:serviceaccount:kube-system:node-controller";
pub const COMPONENT: &str = "node-controller";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// kube-controller-manager's `--node-monitor-grace-period`.
pub const DEFAULT_GRACE_PERIOD: SignedDuration = SignedDuration::from_secs(40);

/// Conditions that, when True, keep new pods off the node.
const PRESSURE_TAINTS: &[(&str, &str)] = &[
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "node.kubernetes.io/network-unavailable"),
];

/// The taints this controller owns; others are left alone.
fn owned(key: &str) -> bool {
    key == UNREACHABLE || key == NOT_READY || key == "node.kubernetes.io/unschedulable" || PRESSURE_TAINTS.iter().any(|(_, t)| *t == key)
}

/// What the controller last saw of a node.
#[derive(Clone, Debug)]
struct Health {
    heartbeat: Option<String>,
    renew: Option<String>,
    /// When a sign of life last changed, by the controller's clock.
    probe: Timestamp,
    ready: String,
}

#[derive(Debug)]
pub struct NodeLifecycle {
    grace_period: SignedDuration,
    health: BTreeMap<String, Health>,
    events: EventRecorder,
}

impl Default for NodeLifecycle {
    fn default() -> Self {
        NodeLifecycle::new(DEFAULT_GRACE_PERIOD)
    }
}

impl NodeLifecycle {
    pub fn new(grace_period: SignedDuration) -> Self {
        NodeLifecycle { grace_period, health: BTreeMap::new(), events: EventRecorder::new(COMPONENT) }
    }
}

fn condition<'a>(node: &'a Value, type_: &str) -> Option<&'a Value> {
    node.at(&["status", "conditions"]).and_then(Value::as_array).and_then(|cs| cs.iter().find(|c| c["type"] == type_))
}

fn ready_status(node: &Value) -> &str {
    condition(node, "Ready").and_then(|c| c["status"].as_str()).unwrap_or("Unknown")
}

impl Reconciler for NodeLifecycle {
    fn name(&self) -> &'static str {
        "node-lifecycle"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == NODES.storage_name() {
            if event.event_type == EventType::Deleted {
                self.health.remove(&event.key.name);
            } else {
                keys.push(event.key.clone());
            }
        } else if event.key.resource == LEASES.storage_name() && event.key.namespace == LEASE_NAMESPACE {
            keys.push(ObjectKey::new(NODES.storage_name(), "", event.key.name.as_str()));
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&NODES.storage_name(), None).map(|(key, _)| key.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(node) = ctx.api.store().get(key).cloned() else {
            self.health.remove(&key.name);
            return Ok(Action::await_change());
        };
        let now = ctx.now;
        let lease = ctx.api.store().get(&ObjectKey::new(LEASES.storage_name(), LEASE_NAMESPACE, key.name.as_str())).cloned();
        let heartbeat = condition(&node, "Ready").and_then(|c| c["lastHeartbeatTime"].as_str()).map(String::from);
        let renew = lease.as_ref().and_then(|l| l.at(&["spec", "renewTime"])).and_then(Value::as_str).map(String::from);
        let ready = ready_status(&node).to_string();
        let health = self.health.entry(key.name.clone()).or_insert(Health { heartbeat: heartbeat.clone(), renew: renew.clone(), probe: now, ready: ready.clone() });
        if health.heartbeat != heartbeat || health.renew != renew {
            (health.heartbeat, health.renew, health.probe) = (heartbeat, renew, now);
        }
        let (probe, was_ready) = (health.probe, std::mem::replace(&mut health.ready, ready.clone()));
        let silent = now >= probe + self.grace_period;
        let mut node = node;
        if silent && ready != "Unknown" {
            let never = condition(&node, "Ready").is_none();
            if let Some(marked) = mark_unknown(ctx.api, &key.name, never, now) {
                node = std::sync::Arc::new(marked);
            }
        }
        let ready = ready_status(&node).to_string();
        self.health.get_mut(&key.name).expect("inserted").ready = ready.clone();
        if ready != was_ready {
            self.readiness_changed(ctx.api, &node, &was_ready, &ready, now);
        }
        reconcile_taints(ctx.api, &node, now);
        // Look again when the grace period would run out without a sign of life.
        Ok(if ready == "Unknown" { Action::await_change() } else { Action::requeue_at(Some(probe + self.grace_period), now) })
    }
}

impl NodeLifecycle {
    /// Records the change on the node, and when it stops being Ready marks
    /// its pods not ready (MarkPodsNotReady).
    fn readiness_changed(&mut self, api: &mut ApiServer, node: &Value, was: &str, is: &str, now: Timestamp) {
        let name = node["metadata"]["name"].as_str().unwrap_or("");
        let status = if is == "True" { "NodeReady" } else { "NodeNotReady" };
        self.events.record(api, node, NORMAL, status, &format!("Node {name} status is now: {status}"), now);
        if was != "True" || is == "True" {
            return;
        }
        let pods: Vec<Value> = api.store().list(&PODS.storage_name(), None).filter(|(_, p)| p.at(&["spec", "nodeName"]).and_then(Value::as_str) == Some(name)).map(|(_, p)| (**p).clone()).collect();
        for mut pod in pods {
            if !is_ready(&pod) {
                continue;
            }
            set_condition(&mut pod, json!({"type": "Ready", "status": "False", "lastTransitionTime": Time(now)}));
            let path = format!("{}/status", PODS.path(pod["metadata"]["namespace"].as_str(), pod["metadata"]["name"].as_str()));
            api.handle(&ApiRequest::put(path, pod.clone()).as_user(USER), now);
            self.events.record(api, &pod, WARNING, "NodeNotReady", "Node is not ready", now);
        }
    }
}

/// The taints a node should carry for its conditions and cordon, keeping
/// the time each was added.
fn reconcile_taints(api: &mut ApiServer, node: &Value, now: Timestamp) {
    let name = node["metadata"]["name"].as_str().unwrap_or("");
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    match ready_status(node) {
        "True" => {}
        "False" => wanted.extend([(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]),
        _ => wanted.extend([(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]),
    }
    for (type_, taint) in PRESSURE_TAINTS {
        if condition(node, type_).is_some_and(|c| c["status"] == "True") {
            wanted.push((taint, "NoSchedule"));
        }
    }
    if node.at(&["spec", "unschedulable"]) == Some(&json!(true)) {
        wanted.push(("node.kubernetes.io/unschedulable", "NoSchedule"));
    }
    let taints = node.at(&["spec", "taints"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut kept: Vec<Value> = taints
        .iter()
        .filter(|t| !owned(t["key"].as_str().unwrap_or("")) || wanted.iter().any(|(k, e)| t["key"] == *k && t["effect"] == *e))
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !kept.iter().any(|t| t["key"] == key && t["effect"] == effect) {
            kept.push(json!({"key": key, "effect": effect, "timeAdded": Time(now)}));
        }
    }
    if kept != taints {
        let mut node = node.clone();
        node["spec"]["taints"] = json!(kept);
        api.handle(&ApiRequest::put(NODES.path(None, Some(name)), node).as_user(USER), now);
    }
}

/// The kubelet stopped posting: every condition it reports becomes
/// Unknown, keeping its last heartbeat. Returns the node as stored.
fn mark_unknown(api: &mut ApiServer, name: &str, never_posted: bool, now: Timestamp) -> Option<Value> {
    let mut node = (**api.store().get(&ObjectKey::new(NODES.storage_name(), "", name))?).clone();
    let (reason, message) = if never_posted {
        ("NodeStatusNeverUpdated", "Kubelet never posted node status.")
    } else {
        ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    };
    let types: Vec<String> = node.at(&["status", "conditions"]).and_then(Value::as_array).into_iter().flatten().filter_map(|c| c["type"].as_str().map(String::from)).collect();
    for type_ in types.iter().map(String::as_str).chain(never_posted.then_some("Ready")) {
        let heartbeat = condition(&node, type_).and_then(|c| c.get("lastHeartbeatTime")).cloned().unwrap_or(Value::Null);
        set_condition(&mut node, json!({
            "type": type_,
            "status": "Unknown",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": Time(now),
        }));
    }
    let path = format!("{}/status", NODES.path(None, Some(name)));
    let response = api.handle(&ApiRequest::put(path, node).as_user(USER), now).into_response();
    response.json_body().filter(|_| response.is_success()).cloned()
}

/// The node's agent disconnected (its session closed): its status is
/// Unknown at once, without waiting for the grace period.
pub fn mark_unreachable(api: &mut ApiServer, name: &str, now: Timestamp) {
    mark_unknown(api, name, false, now);
}
