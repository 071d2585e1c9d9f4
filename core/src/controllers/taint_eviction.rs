//! Taint-based eviction, after upstream's taint-eviction-controller (the
//! "taint manager"): a pod on a node with a NoExecute taint it does not
//! tolerate is deleted at once; one that tolerates it for
//! `tolerationSeconds` is deleted when that time has passed since the
//! controller first saw it under the taint; a toleration without seconds
//! keeps it forever. Every pod tolerates `not-ready` and `unreachable` for
//! 300 s (DefaultTolerationSeconds), which is why pods leave a dead node
//! five minutes after it is noticed, and their controllers make new ones
//! elsewhere. The pods stay Terminating until their node comes back or is
//! deleted: nobody is left to stop them.

use crate::json_path::JsonPath;
use super::events::{EventRecorder, NORMAL};
use super::ownership::{is_being_deleted, name, namespace};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{NODES, PODS};
use crate::apiserver::{set_condition, ApiRequest};
use crate::scheduler::plugins::taint_toleration::tolerates;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::core::v1::{Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const COMPONENT: &str = "taint-eviction-controller";

#[derive(Debug)]
pub struct TaintEviction {
    events: EventRecorder,
    /// Pods counting down under a tolerated taint: (uid, since when).
    counting: BTreeMap<ObjectKey, (String, Timestamp)>,
}

impl Default for TaintEviction {
    fn default() -> Self {
        TaintEviction { events: EventRecorder::new(COMPONENT), counting: BTreeMap::new() }
    }
}

fn no_execute_taints(node: &Value) -> Vec<Taint> {
    let taints: Vec<Taint> = node.at(&["spec", "taints"]).and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default();
    taints.into_iter().filter(|t| t.effect == "NoExecute").collect()
}

fn node_name(pod: &Value) -> Option<&str> {
    pod.at(&["spec", "nodeName"]).and_then(Value::as_str).filter(|n| !n.is_empty())
}

/// How long the pod may stay under these taints: None if some taint is not
/// tolerated (go now), Some(None) if forever (upstream's getMinTolerationTime).
fn toleration_time(tolerations: &[Toleration], taints: &[Taint]) -> Option<Option<SignedDuration>> {
    let mut used = Vec::new();
    for taint in taints {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return None;
        }
        used.extend(matching);
    }
    let finite: Vec<i64> = used.iter().filter_map(|t| t.toleration_seconds).collect();
    Some(finite.into_iter().min().map(|s| SignedDuration::from_secs(s.max(0))))
}

impl Reconciler for TaintEviction {
    fn name(&self) -> &'static str {
        "taint-eviction"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == NODES.storage_name() {
            let changed = event.previous.as_deref().is_none_or(|p| no_execute_taints(p) != no_execute_taints(&event.object));
            if changed && event.event_type != EventType::Deleted {
                let node = event.key.name.as_str();
                keys.extend(store.list(&PODS.storage_name(), None).filter(|(_, p)| node_name(p) == Some(node)).map(|(k, _)| k.clone()));
            }
        } else if event.key.resource == PODS.storage_name() {
            if event.event_type == EventType::Deleted {
                self.counting.remove(&event.key);
            } else if node_name(&event.object).is_some() {
                keys.push(event.key.clone());
            }
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        let tainted: Vec<String> = store.list(&NODES.storage_name(), None).filter(|(_, n)| !no_execute_taints(n).is_empty()).map(|(k, _)| k.name.clone()).collect();
        store.list(&PODS.storage_name(), None).filter(|(_, p)| node_name(p).is_some_and(|n| tainted.iter().any(|t| t == n))).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(pod) = ctx.api.store().get(key).cloned() else {
            self.counting.remove(key);
            return Ok(Action::await_change());
        };
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let node = node_name(&pod).and_then(|n| ctx.api.store().get(&ObjectKey::new(NODES.storage_name(), "", n)).cloned());
        let taints = node.as_deref().map(no_execute_taints).unwrap_or_default();
        if is_being_deleted(&pod) || taints.is_empty() {
            self.counting.remove(key);
            return Ok(Action::await_change());
        }
        let tolerations: Vec<Toleration> = pod.at(&["spec", "tolerations"]).and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default();
        let deadline = match toleration_time(&tolerations, &taints) {
            None => ctx.now,
            Some(None) => {
                self.counting.remove(key);
                return Ok(Action::await_change());
            }
            Some(Some(time)) => {
                let since = match self.counting.get(key) {
                    Some((counted_uid, since)) if *counted_uid == uid => *since,
                    _ => ctx.now,
                };
                self.counting.insert(key.clone(), (uid, since));
                since + time
            }
        };
        if deadline > ctx.now {
            return Ok(Action::requeue_at(Some(deadline), ctx.now));
        }
        self.evict(ctx, &pod);
        self.counting.remove(key);
        Ok(Action::await_change())
    }
}

impl TaintEviction {
    /// Marks why the pod goes, then deletes it gracefully.
    fn evict(&mut self, ctx: &mut Context<'_>, pod: &Value) {
        let (ns, pod_name) = (namespace(pod).to_string(), name(pod).to_string());
        self.events.record(ctx.api, pod, NORMAL, "TaintManagerEviction", &format!("Marking for deletion Pod {ns}/{pod_name}"), ctx.now);
        let mut marked = pod.clone();
        set_condition(&mut marked, json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint", "lastTransitionTime": Time(ctx.now)}));
        let path = PODS.path(Some(&ns), Some(&pod_name));
        ctx.api.handle(&ApiRequest::put(format!("{path}/status"), marked).as_user(CONTROLLER_MANAGER), ctx.now);
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": pod["metadata"]["uid"]}});
        ctx.api.handle(&ApiRequest::delete(path).with_body(options).as_user(CONTROLLER_MANAGER), ctx.now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration { key: Some(key.into()), operator: Some("Exists".into()), effect: Some("NoExecute".into()), toleration_seconds: seconds, ..Default::default() }
    }

    fn taint(key: &str) -> Taint {
        Taint { key: key.into(), effect: "NoExecute".into(), ..Default::default() }
    }

    #[test]
    fn the_shortest_matching_toleration_decides() {
        let secs = |s| Some(Some(SignedDuration::from_secs(s)));
        let cases = [
            (vec![toleration("node.kubernetes.io/unreachable", Some(300))], vec![taint("node.kubernetes.io/unreachable")], secs(300)),
            (vec![toleration("a", Some(60)), toleration("b", Some(30))], vec![taint("a"), taint("b")], secs(30)),
            (vec![toleration("a", None)], vec![taint("a")], Some(None)),
            (vec![toleration("a", Some(60))], vec![taint("a"), taint("b")], None),
            (vec![toleration("a", Some(-5))], vec![taint("a")], secs(0)),
        ];
        for (tolerations, taints, want) in cases {
            assert_eq!(toleration_time(&tolerations, &taints), want, "{tolerations:?} {taints:?}");
        }
    }
}
