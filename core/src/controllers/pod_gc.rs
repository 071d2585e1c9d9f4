//! The pod garbage collector, after upstream's `pkg/controller/podgc`:
//! a pod bound to a node that no longer exists can never be stopped by a
//! kubelet, so once the node has been gone for the quarantine (40 s, in
//! case it was only being re-registered) the pod is deleted at once, marked
//! with a DisruptionTarget condition saying why. A pod being deleted that
//! was never scheduled goes at once too.

use crate::json_path::JsonPath;
use super::ownership::{is_being_deleted, key_of, name, namespace};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{NODES, PODS};
use crate::apiserver::{set_condition, ApiRequest, ApiServer};
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How long a node must be gone before its pods are collected.
pub const QUARANTINE: SignedDuration = SignedDuration::from_secs(40);

#[derive(Debug, Default)]
pub struct PodGarbageCollector {
    /// When each missing node was first seen missing.
    missing_since: BTreeMap<String, Timestamp>,
}

fn node_of(pod: &Value) -> Option<&str> {
    pod.at(&["spec", "nodeName"]).and_then(Value::as_str).filter(|n| !n.is_empty())
}

fn pods_on(store: &Store, node: &str) -> Vec<ObjectKey> {
    store.list(&PODS.storage_name(), None).filter(|(_, p)| node_of(p) == Some(node)).map(|(k, _)| k.clone()).collect()
}

impl Reconciler for PodGarbageCollector {
    fn name(&self) -> &'static str {
        "podgc"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == NODES.storage_name() {
            match event.event_type {
                EventType::Deleted => keys.extend(pods_on(store, &event.key.name)),
                _ => drop(self.missing_since.remove(&event.key.name)),
            }
        } else if event.key.resource == PODS.storage_name() && event.event_type != EventType::Deleted {
            let node_missing = node_of(&event.object).is_some_and(|n| store.get(&ObjectKey::new(NODES.storage_name(), "", n)).is_none());
            let unscheduled_deleting = node_of(&event.object).is_none() && is_being_deleted(&event.object);
            if node_missing || unscheduled_deleting {
                keys.push(event.key.clone());
            }
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store
            .list(&PODS.storage_name(), None)
            .filter(|(_, p)| match node_of(p) {
                Some(n) => store.get(&ObjectKey::new(NODES.storage_name(), "", n)).is_none(),
                None => is_being_deleted(p),
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(pod) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        let Some(node) = node_of(&pod).map(String::from) else {
            if is_being_deleted(&pod) {
                force_delete(ctx.api, &pod, None, ctx.now);
            }
            return Ok(Action::await_change());
        };
        if ctx.api.store().get(&ObjectKey::new(NODES.storage_name(), "", node.as_str())).is_some() {
            return Ok(Action::await_change());
        }
        let since = *self.missing_since.entry(node).or_insert(ctx.now);
        if ctx.now < since + QUARANTINE {
            return Ok(Action::requeue_at(Some(since + QUARANTINE), ctx.now));
        }
        force_delete(ctx.api, &pod, Some("PodGC: node no longer exists"), ctx.now);
        Ok(Action::await_change())
    }
}

/// Marks why the pod goes (if there is a reason to show), then deletes it
/// without a grace period: no kubelet is left to stop it.
fn force_delete(api: &mut ApiServer, pod: &Value, reason: Option<&str>, now: Timestamp) {
    let path = PODS.path(Some(namespace(pod)), Some(name(pod)));
    if let Some(message) = reason {
        let mut marked = pod.clone();
        let phase = pod.at(&["status", "phase"]).and_then(Value::as_str).unwrap_or("");
        if !matches!(phase, "Succeeded" | "Failed") {
            marked["status"]["phase"] = json!("Failed");
        }
        set_condition(&mut marked, json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC", "message": message, "lastTransitionTime": Time(now)}));
        api.handle(&ApiRequest::put(format!("{path}/status"), marked).as_user(CONTROLLER_MANAGER), now);
    }
    let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": pod["metadata"]["uid"]}});
    let key = key_of(&PODS, pod);
    if api.store().get(&key).is_some() {
        api.handle(&ApiRequest::delete(path).with_body(options).as_user(CONTROLLER_MANAGER), now);
    }
}
