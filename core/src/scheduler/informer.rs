//! The scheduler's informers: it follows the store's change history from
//! its own cursor, keeps its cache (nodes with their pods, pending pods,
//! namespace labels) up to date, and offers each change that could help a
//! waiting pod to the queue as a cluster event.

use crate::json_path::JsonPath;
use super::framework::{pod_decode, ClusterEvent, PodInfo};
use super::{PendingPod, PodKey, Scheduler, SCHEDULER_NAME};
use crate::apiserver::resources::{NAMESPACES, NODES, PODS};
use crate::apiserver::ApiServer;
use crate::store::{EventType, ObjectKey};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

fn pod_key(key: &ObjectKey) -> PodKey {
    (key.namespace.clone(), key.name.clone())
}

/// The fields of a node that the plugins read: only a change to them can
/// make a waiting pod fit, or needs the cached node replaced. (Heartbeats
/// change only conditions.)
const SCHEDULING_FIELDS: [[&str; 2]; 6] =
    [["metadata", "labels"], ["spec", "unschedulable"], ["spec", "taints"], ["status", "allocatable"], ["status", "capacity"], ["status", "images"]];

fn same_for_scheduling(a: &Value, b: &Value) -> bool {
    SCHEDULING_FIELDS.iter().all(|p| a.at(p) == b.at(p))
}

/// Whether two versions of a pending pod differ beyond status and
/// bookkeeping (kube-scheduler's `isPodUpdated`).
fn same_pending_pod(a: &Value, b: &Value) -> bool {
    let fields: [&[&str]; 4] = [&["spec"], &["metadata", "labels"], &["metadata", "annotations"], &["metadata", "deletionTimestamp"]];
    fields.iter().all(|p| a.at(p) == b.at(p))
}

fn decode_pod(object: &Value) -> Option<Arc<PodInfo>> {
    pod_decode::decode(object).map(|pod| Arc::new(PodInfo::new(Arc::new(pod))))
}

/// Whether a placed pod's new version changes what the plugins read of it.
fn placed_pod_changed(cached: &PodInfo, object: &Value) -> bool {
    let labels = object.at(&["metadata", "labels"]).and_then(Value::as_object);
    let same_labels = match labels {
        None => cached.labels().is_empty(),
        Some(map) => map.len() == cached.labels().len() && map.iter().all(|(k, v)| cached.labels().get(k).map(String::as_str) == v.as_str()),
    };
    let terminating = object.at(&["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null());
    // As `PodInfo::preempted` reads it: other disruptions (taint eviction, pod GC) are not the scheduler's.
    let preempted = object.at(&["status", "conditions"])
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "DisruptionTarget" && c["status"] == "True" && c["reason"] == "PreemptionByScheduler"));
    !same_labels || terminating != cached.terminating || preempted != cached.preempted
}

impl Scheduler {
    /// Brings the cache up to date with the store.
    pub fn observe(&mut self, api: &ApiServer, now: Timestamp) {
        let store = api.store();
        let events: Vec<_> = match store.events_since(self.cursor) {
            Ok(events) => events.cloned().collect(),
            Err(_) => return self.relist(api, now),
        };
        let [pods, nodes, namespaces] = &self.watched;
        let (pods, nodes, namespaces) = (pods.clone(), nodes.clone(), namespaces.clone());
        for event in events {
            self.cursor = event.revision;
            let resource = event.key.resource.as_str();
            if resource == &*pods {
                self.observe_pod(pod_key(&event.key), event.event_type, &event.object, now);
            } else if resource == &*nodes {
                self.observe_node(&event.key.name, event.event_type, &event.object, event.previous.as_deref(), now);
            } else if resource == &*namespaces {
                self.observe_namespace(&event.key.name, event.event_type, &event.object, now);
            }
        }
    }

    /// Rebuilds the cache from a full list (after the history was
    /// compacted past the cursor, as an informer relists after 410 Gone).
    pub(super) fn relist(&mut self, api: &ApiServer, now: Timestamp) {
        let store = api.store();
        self.snapshot.clear();
        self.placed.clear();
        self.pending.clear();
        self.queue.clear();
        self.nominator.clear();
        for (key, ns) in store.list(&NAMESPACES.storage_name(), None) {
            self.observe_namespace(&key.name, EventType::Added, ns, now);
        }
        for (key, node) in store.list(&NODES.storage_name(), None) {
            self.observe_node(&key.name, EventType::Added, node, None, now);
        }
        for (key, pod) in store.list(&PODS.storage_name(), None) {
            self.observe_pod(pod_key(key), EventType::Added, pod, now);
        }
        self.cursor = store.revision();
    }

    fn observe_namespace(&mut self, name: &str, event_type: EventType, object: &Value, now: Timestamp) {
        let labels: Option<BTreeMap<String, String>> = match event_type {
            EventType::Deleted => None,
            _ => object.at(&["metadata", "labels"]).and_then(|l| serde_json::from_value(l.clone()).ok()),
        };
        if self.snapshot.set_namespace_labels(name, labels) {
            self.queue.on_event(&self.framework, &ClusterEvent::NamespaceChanged, now);
        }
    }

    fn observe_node(&mut self, name: &str, event_type: EventType, object: &Value, previous: Option<&Value>, now: Timestamp) {
        if event_type == EventType::Deleted {
            if let Some(gone) = self.snapshot.remove_node(name) {
                self.queue.on_event(&self.framework, &ClusterEvent::NodeDeleted(&gone), now);
            }
            return;
        }
        if previous.is_some_and(|p| same_for_scheduling(p, object)) && self.snapshot.get(name).is_some() {
            return;
        }
        let Ok(node) = Node::deserialize(object) else { return };
        let old = self.snapshot.upsert_node(Arc::new(node));
        let new = self.snapshot.get(name).expect("just added");
        let event = match &old {
            Some(old) => ClusterEvent::NodeUpdated { old, new },
            None => ClusterEvent::NodeAdded(new),
        };
        self.queue.on_event(&self.framework, &event, now);
    }

    fn observe_pod(&mut self, key: PodKey, event_type: EventType, object: &Arc<Value>, now: Timestamp) {
        let node_name = object.at(&["spec", "nodeName"]).and_then(Value::as_str).unwrap_or("");
        let finished = matches!(object.at(&["status", "phase"]).and_then(Value::as_str), Some("Succeeded" | "Failed"));
        // A pod stops using its node's resources when it is deleted or finishes.
        if event_type == EventType::Deleted || finished {
            if event_type == EventType::Deleted {
                // A new pod of the same name must not show this one's decision.
                self.decisions.remove(&key);
            }
            self.forget_pending(&key);
            self.unplace(&key, now);
            return;
        }
        if !node_name.is_empty() {
            self.forget_pending(&key);
            self.place(key, node_name, object, now);
            return;
        }
        let scheduler = object.at(&["spec", "schedulerName"]).and_then(Value::as_str).unwrap_or(SCHEDULER_NAME);
        if scheduler != SCHEDULER_NAME {
            return;
        }
        let object = object.clone();
        if let Some(existing) = self.pending.get_mut(&key) {
            if same_pending_pod(&existing.object, &object) {
                // Only its status changed (often our own PodScheduled write);
                // a new nomination still matters to the nominator.
                let nominated = object.at(&["status", "nominatedNodeName"]).and_then(Value::as_str).filter(|n| !n.is_empty());
                if nominated != existing.info.nominated_node.as_deref() {
                    if let Some(info) = decode_pod(&object) {
                        self.nominator.set(&info);
                        self.queue.refresh(info.clone());
                        existing.info = info;
                    }
                }
                existing.object = object;
                return;
            }
        }
        let Some(info) = decode_pod(&object) else { return };
        self.nominator.set(&info);
        let known = self.pending.insert(key, PendingPod { object, info: info.clone() }).is_some();
        if known {
            self.queue.update(info, now);
        } else {
            self.queue.add(info, now);
        }
    }

    fn forget_pending(&mut self, key: &PodKey) {
        if self.pending.remove(key).is_some() {
            self.queue.delete(key);
            self.nominator.remove(key);
        }
    }

    /// Records a pod on a node (bound by anyone, or already assumed by us).
    fn place(&mut self, key: PodKey, node: &str, object: &Value, now: Timestamp) {
        if let Some(at) = self.placed.get(&key) {
            if &**at == node {
                let Some(cached) = self.snapshot.get(node).and_then(|n| n.pods.iter().find(|p| p.key == key)).cloned() else { return };
                if !placed_pod_changed(&cached, object) {
                    return;
                }
                let Some(new) = decode_pod(object) else { return };
                self.snapshot.remove_pod(node, &key);
                self.snapshot.add_pod(node, new.clone());
                if let Some(info) = self.snapshot.get(node) {
                    self.queue.on_event(&self.framework, &ClusterEvent::AssignedPodUpdated { old: &cached, new: &new, node: info }, now);
                }
                return;
            }
            self.unplace(&key, now);
        }
        let Some(info) = decode_pod(object) else { return };
        self.assume(info, node, now);
    }

    /// Puts a pod on a node in the cache and tells the queue.
    pub(super) fn assume(&mut self, info: Arc<PodInfo>, node: &str, now: Timestamp) {
        let key = info.key.clone();
        self.placed.insert(key, node.into());
        if self.snapshot.add_pod(node, info.clone()) {
            let node = self.snapshot.get(node).expect("added");
            self.queue.on_event(&self.framework, &ClusterEvent::AssignedPodAdded { pod: &info, node }, now);
        }
    }

    fn unplace(&mut self, key: &PodKey, now: Timestamp) {
        let Some(node) = self.placed.remove(key) else { return };
        if let Some(pod) = self.snapshot.remove_pod(&node, key) {
            let event = ClusterEvent::AssignedPodDeleted { pod: &pod, node: self.snapshot.get(&node) };
            self.queue.on_event(&self.framework, &event, now);
        }
    }
}
