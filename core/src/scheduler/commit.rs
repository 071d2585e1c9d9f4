//! What a cycle's outcome writes back, only through the API server (as the
//! scheduler's own user): Reserve and Bind, and the Scheduled event, on
//! success; on failure, preemption's evictions, the PodScheduled=False
//! condition with `nominatedNodeName`, and the FailedScheduling event.

use crate::json_path::JsonPath;
use super::cycle::{Cycle, CycleOutcome};
use super::decision::{Decision, Outcome, Preemption};
use super::framework::{PodInfo, PostFilterResult, Status};
use super::queue::QueuedPod;
use super::{PodKey, Scheduler, SCHEDULER_NAME, USER};
use crate::apiserver::resources::{EVENTS, PODS};
use crate::apiserver::{set_condition, ApiRequest, ApiServer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

impl Scheduler {
    /// Carries out a cycle's outcome; returns the decision to remember.
    pub(super) fn commit(&mut self, api: &mut ApiServer, queued: QueuedPod, cycle: Cycle, now: Timestamp) -> Decision {
        let info = queued.info.clone();
        let Cycle { outcome, verdicts, scores } = cycle;
        let mut decision = Decision {
            namespace: info.namespace().to_string(),
            name: info.name().to_string(),
            at: now,
            outcome: Outcome::Unschedulable { message: String::new() },
            total_nodes: self.snapshot.len(),
            evaluated: verdicts.len(),
            feasible: verdicts.iter().filter(|v| v.rejection.is_none()).count(),
            scores,
            nodes: verdicts,
            node_names: self.snapshot.names().clone(),
            preemption: None,
        };
        match outcome {
            CycleOutcome::Fits { node, mut state } => match self.bind(api, &mut state, &info, &node, now) {
                Ok(()) => {
                    let message = format!("Successfully assigned {}/{} to {node}", info.namespace(), info.name());
                    record_event(api, &info.key, info.uid(), "Normal", "Scheduled", &message, now);
                    self.pending.remove(&info.key);
                    self.nominator.remove(&info.key);
                    self.assume(info, &node, now);
                    decision.outcome = Outcome::Bound { node: node.to_string() };
                }
                Err(status) => {
                    let message = format!("binding rejected: {}", status.message());
                    self.mark_unschedulable(api, &info, &message, None, now);
                    self.queue.add_unschedulable(queued, BTreeSet::new(), true, now);
                    decision.outcome = Outcome::Unschedulable { message };
                }
            },
            CycleOutcome::Unschedulable { message, rejected_by, preemption } => {
                let nominated = preemption.as_ref().map(|p| self.preempt(api, &info, p, now));
                self.mark_unschedulable(api, &info, &message, nominated.as_deref(), now);
                self.queue.add_unschedulable(queued, rejected_by, false, now);
                decision.preemption = preemption.map(|p| Preemption { node: p.nominated_node, victims: p.victims.iter().map(|v| v.key.clone()).collect() });
                decision.outcome = Outcome::Unschedulable { message };
            }
        }
        decision
    }

    /// Reserve, then the first binder that does not skip.
    fn bind(&self, api: &mut ApiServer, state: &mut super::framework::CycleState, info: &PodInfo, node: &str, now: Timestamp) -> Result<(), Status> {
        let framework = &self.framework;
        for (i, plugin) in framework.reserves.iter().enumerate() {
            if let Err(status) = plugin.reserve(state, info, node) {
                framework.reserves[..=i].iter().rev().for_each(|p| p.unreserve(state, info, node));
                return Err(status);
            }
        }
        let mut result = Err(Status::error("no bind plugin bound the pod"));
        for binder in &framework.binders {
            match binder.bind(api, info, node, now) {
                Err(status) if status.is_skip() => continue,
                other => {
                    result = other;
                    break;
                }
            }
        }
        if result.is_err() {
            framework.reserves.iter().rev().for_each(|p| p.unreserve(state, info, node));
        }
        result
    }

    /// Carries out a preemption: each victim is marked as a disruption
    /// target and deleted gracefully (its kubelet stops it), pods of lower
    /// priority nominated to the node lose their nomination, and the
    /// preemptor is nominated to the node. Returns the node.
    fn preempt(&mut self, api: &mut ApiServer, preemptor: &PodInfo, plan: &PostFilterResult, now: Timestamp) -> String {
        let node = plan.nominated_node.clone();
        for victim in &plan.victims {
            let condition = json!({
                "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                "message": format!("{SCHEDULER_NAME}: preempting to accommodate a higher priority pod"),
                "lastTransitionTime": Time(now),
            });
            update_status(api, &victim.key, now, |pod| set_condition(pod, condition));
            let path = PODS.path(Some(victim.namespace()), Some(victim.name()));
            api.handle(&ApiRequest::delete(path).as_user(USER), now);
            let message = format!("Preempted by pod {} on node {node}", preemptor.uid());
            record_event(api, &victim.key, victim.uid(), "Normal", "Preempted", &message, now);
        }
        for displaced in &plan.displaced_nominations {
            update_status(api, &displaced.key, now, |pod| drop(pod["status"].as_object_mut().map(|s| s.remove("nominatedNodeName"))));
            self.nominator.remove(&displaced.key);
        }
        // Nominated at once, so later cycles leave the room free even
        // before the status write comes back through the informer.
        let nominated = Arc::new(PodInfo { nominated_node: Some(node.clone()), ..preemptor.clone() });
        self.nominator.set(&nominated);
        node
    }

    /// PodScheduled=False with kube-scheduler's message (and the
    /// nomination), plus a FailedScheduling event when the message is new.
    fn mark_unschedulable(&self, api: &mut ApiServer, info: &PodInfo, message: &str, nominated: Option<&str>, now: Timestamp) {
        let mut changed = false;
        update_status(api, &info.key, now, |pod| {
            let same = pod.at(&["status", "conditions"]).and_then(Value::as_array).is_some_and(|cs| {
                cs.iter().any(|c| c["type"] == "PodScheduled" && c["status"] == "False" && c["message"] == json!(message))
            });
            if !same {
                set_condition(pod, json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastProbeTime": null, "lastTransitionTime": Time(now)}));
                changed = true;
            }
            if let Some(node) = nominated {
                if pod.at(&["status", "nominatedNodeName"]) != Some(&json!(node)) {
                    pod["status"]["nominatedNodeName"] = json!(node);
                    changed = true;
                }
            }
        });
        if changed {
            record_event(api, &info.key, info.uid(), "Warning", "FailedScheduling", message, now);
        }
    }
}

/// Reads a pod, lets `change` edit it, and writes its status back if it changed.
fn update_status(api: &mut ApiServer, key: &PodKey, now: Timestamp, change: impl FnOnce(&mut Value)) {
    let Some(current) = api.store().get_at(&PODS.storage_name(), &key.0, &key.1).cloned() else { return };
    let mut pod = (*current).clone();
    change(&mut pod);
    if pod != *current {
        let path = format!("{}/status", PODS.path(Some(&key.0), Some(&key.1)));
        // A write that fails (the pod changed meanwhile) is retried by a later cycle.
        let _ = api.submit(ApiRequest::put(path, pod).as_user(USER), now);
    }
}

/// An Event about a pod, from the scheduler.
fn record_event(api: &mut ApiServer, pod: &PodKey, uid: &str, kind: &str, reason: &str, message: &str, now: Timestamp) {
    let (ns, name) = pod;
    let stamp = json!(Time(now));
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
        "firstTimestamp": stamp.clone(),
        "lastTimestamp": stamp,
        "count": 1,
    });
    // Events are best effort, as kube-scheduler's recorder: a failure changes no decision.
    let _ = api.submit(ApiRequest::post(EVENTS.path(Some(ns), None), event).as_user(USER), now);
}
