//! The scheduler: binds each unscheduled pod to a node that passes every
//! filter, preferring the best-scoring one, and explains every decision.
//!
//! It reads the cluster like kube-scheduler's informers do (the store's
//! change history, from its own cursor) and writes only through the API
//! server: a Binding on success, a PodScheduled=False condition and a
//! FailedScheduling Event when nothing fits. Pods that fit nowhere wait in an
//! unschedulable set until a change that could help (a node added or
//! changed, a pod removed) moves them back to the active queue.

pub mod decision;
pub mod framework;
pub mod plugins;
pub mod queue;

pub use decision::{Decision, NodeVerdict, Outcome};

use crate::apiserver::resources::{EVENTS, NODES, PODS};
use crate::apiserver::{set_condition, ApiRequest, ApiServer};
use crate::store::{EventType, ObjectKey};
use framework::{FilterPlugin, NodeInfo, PodInfo, Resources, ScorePlugin};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use queue::ActiveQueue;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const SCHEDULER_NAME: &str = "default-scheduler";
pub const USER: &str = "system:kube-scheduler";

/// A pod's namespace and name.
pub type PodKey = (String, String);

pub struct Scheduler {
    filters: Vec<Box<dyn FilterPlugin>>,
    scorers: Vec<Box<dyn ScorePlugin>>,
    /// The last store revision this scheduler has read.
    cursor: u64,
    nodes: BTreeMap<String, NodeInfo>,
    /// Pods bound to nodes, with what they request, so node usage can be updated on delete.
    placed: BTreeMap<PodKey, (String, Resources)>,
    /// Unscheduled pods known to the cache.
    pending: BTreeMap<PodKey, Arc<Pod>>,
    active: ActiveQueue,
    unschedulable: BTreeSet<PodKey>,
    decisions: BTreeMap<PodKey, Decision>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            filters: plugins::default_filters(),
            scorers: plugins::default_scorers(),
            cursor: 0,
            nodes: BTreeMap::new(),
            placed: BTreeMap::new(),
            pending: BTreeMap::new(),
            active: ActiveQueue::default(),
            unschedulable: BTreeSet::new(),
            decisions: BTreeMap::new(),
        }
    }
}

fn pod_key(key: &ObjectKey) -> PodKey {
    (key.namespace.clone(), key.name.clone())
}

/// The fields of a node that the plugins read: only a change to them can
/// make a waiting pod fit, or needs the cached node replaced.
const SCHEDULING_FIELDS: [&str; 5] = ["/metadata/labels", "/spec/unschedulable", "/spec/taints", "/status/allocatable", "/status/capacity"];

fn same_for_scheduling(a: &Value, b: &Value) -> bool {
    SCHEDULING_FIELDS.iter().all(|p| a.pointer(p) == b.pointer(p))
}

impl Scheduler {
    /// The latest decision for a pod: every node's verdict and scores.
    pub fn decision(&self, namespace: &str, name: &str) -> Option<&Decision> {
        self.decisions.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn queue_lengths(&self) -> (usize, usize) {
        (self.active.len(), self.unschedulable.len())
    }

    /// Brings the cache up to date with the store.
    pub fn observe(&mut self, api: &ApiServer) {
        let store = api.store();
        let events: Vec<_> = match store.events_since(self.cursor) {
            Ok(events) => events.cloned().collect(),
            Err(_) => return self.relist(api),
        };
        for event in events {
            self.cursor = event.revision;
            if event.key.resource == NODES.storage_name() {
                self.observe_node(&event.key.name, event.event_type, &event.object, event.previous.as_deref());
            } else if event.key.resource == PODS.storage_name() {
                self.observe_pod(pod_key(&event.key), event.event_type, &event.object);
            }
        }
    }

    /// Rebuilds the cache from a full list (after the history was compacted).
    fn relist(&mut self, api: &ApiServer) {
        let store = api.store();
        self.nodes.clear();
        self.placed.clear();
        self.pending.clear();
        self.active.clear();
        self.unschedulable.clear();
        for (key, node) in store.list(&NODES.storage_name(), None) {
            self.observe_node(&key.name, EventType::Added, node, None);
        }
        for (key, pod) in store.list(&PODS.storage_name(), None) {
            self.observe_pod(pod_key(key), EventType::Added, pod);
        }
        self.cursor = store.revision();
    }

    fn observe_node(&mut self, name: &str, event_type: EventType, object: &Value, previous: Option<&Value>) {
        if event_type == EventType::Deleted {
            self.nodes.remove(name);
            return;
        }
        // Heartbeats change only status conditions: nothing to decode or requeue.
        let unchanged = previous.is_some_and(|p| same_for_scheduling(p, object));
        if unchanged && self.nodes.contains_key(name) {
            return;
        }
        let Ok(node) = Node::deserialize(object) else { return };
        let allocatable = Resources::allocatable_of(&node);
        let requested = self.nodes.get(name).map(|n| n.requested.clone()).unwrap_or_default();
        self.nodes.insert(name.to_string(), NodeInfo { node: Arc::new(node), allocatable, requested });
        if !unchanged {
            self.requeue_unschedulable();
        }
    }

    fn observe_pod(&mut self, key: PodKey, event_type: EventType, object: &Value) {
        let node_name = object.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
        let finished = matches!(object.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
        // A pod stops using its node's resources when it is deleted or finishes.
        if event_type == EventType::Deleted || finished {
            if event_type == EventType::Deleted {
                // A new pod of the same name must not show this one's decision.
                self.decisions.remove(&key);
            }
            self.pending.remove(&key);
            self.unschedulable.remove(&key);
            if let Some((node, requests)) = self.placed.remove(&key) {
                if let Some(info) = self.nodes.get_mut(&node) {
                    info.requested.subtract(&requests);
                }
                self.requeue_unschedulable();
            }
            return;
        }
        if !node_name.is_empty() {
            self.pending.remove(&key);
            self.unschedulable.remove(&key);
            if !self.placed.contains_key(&key) {
                let Ok(pod) = serde_json::from_value::<Pod>(object.clone()) else { return };
                let requests = Resources::requested_by(&pod);
                if let Some(info) = self.nodes.get_mut(node_name) {
                    info.requested.add(&requests);
                }
                self.placed.insert(key, (node_name.to_string(), requests));
            }
            return;
        }
        let scheduler = object.pointer("/spec/schedulerName").and_then(Value::as_str).unwrap_or(SCHEDULER_NAME);
        if scheduler != SCHEDULER_NAME {
            return;
        }
        let Ok(pod) = serde_json::from_value::<Pod>(object.clone()) else { return };
        let spec_changed = self.pending.get(&key).is_none_or(|old| old.spec != pod.spec);
        self.pending.insert(key.clone(), Arc::new(pod));
        // Our own status writes (PodScheduled=False) must not put a pod straight back in the queue.
        if spec_changed {
            self.unschedulable.remove(&key);
            self.active.push(key);
        }
    }

    fn requeue_unschedulable(&mut self) {
        for key in std::mem::take(&mut self.unschedulable) {
            self.active.push(key);
        }
    }

    /// Schedules every pod in the active queue. Returns the decisions made.
    pub fn schedule_pending(&mut self, api: &mut ApiServer, now: Timestamp) -> Vec<Decision> {
        let mut made = Vec::new();
        self.observe(api);
        while let Some(key) = self.active.pop() {
            let Some(pod) = self.pending.get(&key).cloned() else { continue };
            let decision = self.schedule_one(&key, pod, now);
            self.commit(api, &decision, now);
            self.observe(api);
            self.decisions.insert(key, decision.clone());
            made.push(decision);
        }
        made
    }

    /// One scheduling cycle: filter every node, score the feasible ones, pick the best.
    fn schedule_one(&self, key: &PodKey, pod: Arc<Pod>, now: Timestamp) -> Decision {
        let info = PodInfo::new(pod);
        let mut verdicts = Vec::new();
        for node in self.nodes.values() {
            let rejection = self.filters.iter().find_map(|f| f.filter(&info, node).err().map(|r| (f.name(), r)));
            let scores: Vec<(&'static str, i64)> = match rejection {
                Some(_) => Vec::new(),
                None => self.scorers.iter().map(|s| (s.name(), s.score(&info, node) * s.weight())).collect(),
            };
            verdicts.push(NodeVerdict {
                node: node.name().to_string(),
                rejected_by: rejection.as_ref().map(|(plugin, _)| plugin.to_string()),
                reasons: rejection.map(|(_, r)| r.reasons).unwrap_or_default(),
                scores: scores.iter().map(|(p, s)| (p.to_string(), *s)).collect(),
                total: scores.iter().map(|(_, s)| s).sum(),
            });
        }
        // Highest total wins; ties go to the first node by name, so runs are reproducible.
        let best = verdicts
            .iter()
            .filter(|v| v.rejected_by.is_none())
            .fold(None::<&NodeVerdict>, |best, v| match best {
                Some(b) if b.total >= v.total => Some(b),
                _ => Some(v),
            });
        let outcome = match best {
            Some(v) => Outcome::Bound { node: v.node.clone() },
            None => Outcome::Unschedulable { message: decision::fit_error_message(&verdicts, self.nodes.len()) },
        };
        Decision { namespace: key.0.clone(), name: key.1.clone(), at: now, outcome, nodes: verdicts }
    }

    fn commit(&mut self, api: &mut ApiServer, decision: &Decision, now: Timestamp) {
        let (ns, name) = (&decision.namespace, &decision.name);
        let pod_path = PODS.path(Some(ns), Some(name));
        match &decision.outcome {
            Outcome::Bound { node } => {
                let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
                let result = api.handle(&ApiRequest::post(format!("{pod_path}/binding"), binding).as_user(USER), now).into_response();
                if result.is_success() {
                    self.record_event(api, decision, "Normal", "Scheduled", &format!("Successfully assigned {ns}/{name} to {node}"), now);
                } else {
                    // Someone else bound or deleted it meanwhile; the cache will catch up.
                    self.unschedulable.insert((ns.clone(), name.clone()));
                }
            }
            Outcome::Unschedulable { message } => {
                self.unschedulable.insert((ns.clone(), name.clone()));
                let Some(current) = api.store().get(&ObjectKey::new(PODS.storage_name(), ns.as_str(), name.as_str())).cloned() else { return };
                let mut pod = (*current).clone();
                let already = pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
                    cs.iter().any(|c| c["type"] == "PodScheduled" && c["status"] == "False" && c["message"] == json!(message))
                });
                if !already {
                    set_condition(&mut pod, json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastProbeTime": null, "lastTransitionTime": Time(now)}));
                    api.handle(&ApiRequest::put(format!("{pod_path}/status"), pod).as_user(USER), now);
                    self.record_event(api, decision, "Warning", "FailedScheduling", message, now);
                }
            }
        }
    }

    fn record_event(&self, api: &mut ApiServer, decision: &Decision, kind: &str, reason: &str, message: &str, now: Timestamp) {
        let (ns, name) = (&decision.namespace, &decision.name);
        let pod = api.store().get(&ObjectKey::new(PODS.storage_name(), ns.as_str(), name.as_str())).cloned();
        let uid = pod.as_ref().and_then(|p| p.pointer("/metadata/uid").cloned()).unwrap_or(Value::Null);
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{name}."), "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns, "uid": uid},
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": SCHEDULER_NAME},
            "reportingComponent": SCHEDULER_NAME,
            "firstTimestamp": Time(now),
            "lastTimestamp": Time(now),
            "count": 1,
        });
        api.handle(&ApiRequest::post(EVENTS.path(Some(ns), None), event).as_user(USER), now);
    }
}

#[cfg(test)]
mod tests;
