//! The StatefulSet controller, after Kubernetes' `pkg/controller/statefulset`:
//! pods with stable names, `<set>-<ordinal>`, and a stable hostname under
//! the set's service. With the OrderedReady policy, pods are created one at
//! a time in ordinal order, each waiting for the one before to be Running
//! and Ready, and removed highest ordinal first; Parallel creates and
//! removes them all at once. A new template rolls out from the highest
//! ordinal down to `partition`, one pod at a time (RollingUpdate), or only
//! where pods are deleted (OnDelete). The templates are ControllerRevisions
//! (`controller_history`): `currentRevision` is what the pods below the
//! partition run, `updateRevision` the newest.
//!
//! volumeClaimTemplates are refused by validation: this cluster has no volumes.

use crate::json_path::JsonPath;
use super::controller_history::{self, template_of};
use super::events::{EventRecorder, NORMAL, WARNING};
use super::ownership::{claim, controller_keys, controller_ref, is_being_deleted, labels, name, write_status};
use super::pod_readiness::{available_from, is_available, is_ready};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{PODS, STATEFUL_SETS};
use crate::apiserver::{ApiRequest, ApiServer};
use crate::labels::selector_matches;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const COMPONENT: &str = "statefulset-controller";
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

#[derive(Debug)]
pub struct StatefulSetController {
    events: EventRecorder,
}

impl Default for StatefulSetController {
    fn default() -> Self {
        StatefulSetController { events: EventRecorder::new(COMPONENT) }
    }
}

impl Reconciler for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == STATEFUL_SETS.storage_name() && event.event_type != EventType::Deleted {
            keys.push(event.key.clone());
        } else if event.key.resource == PODS.storage_name() {
            controller_keys(event, "StatefulSet", &STATEFUL_SETS, keys);
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&STATEFUL_SETS.storage_name(), None).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(value) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        let Ok(set) = serde_json::from_value::<StatefulSet>((*value).clone()) else { return Ok(Action::await_change()) };
        let mut sync = Sync { api: ctx.api, events: &mut self.events, key: key.clone(), value, set, now: ctx.now };
        Ok(sync.run())
    }
}

/// The ordinal in a member pod's name (`web-3` → 3); None for other pods.
fn ordinal_of(set_name: &str, pod: &Value) -> Option<i32> {
    name(pod).strip_prefix(set_name)?.strip_prefix('-')?.parse().ok().filter(|o: &i32| *o >= 0)
}

fn revision_label(pod: &Value) -> String {
    labels(pod).get(controller_history::HASH_LABEL).cloned().unwrap_or_default()
}

fn is_terminal(pod: &Value) -> bool {
    matches!(pod.at(&["status", "phase"]).and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

fn is_running_and_ready(pod: &Value) -> bool {
    pod.at(&["status", "phase"]).and_then(Value::as_str) == Some("Running") && is_ready(pod)
}

struct Sync<'a> {
    api: &'a mut ApiServer,
    events: &'a mut EventRecorder,
    key: ObjectKey,
    value: Arc<Value>,
    set: StatefulSet,
    now: Timestamp,
}

/// What one sync decided about revisions.
struct Revisions {
    current: Arc<Value>,
    update: Arc<Value>,
    collision_count: i32,
}

impl Sync<'_> {
    fn event(&mut self, type_: &str, reason: &str, message: &str) {
        let value = self.value.clone();
        self.events.record(self.api, &value, type_, reason, message, self.now);
    }

    fn set_name(&self) -> String {
        name(&self.value).to_string()
    }

    fn min_ready(&self) -> i32 {
        self.set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn rolling_update(&self) -> bool {
        self.set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate"
    }

    fn partition(&self) -> i32 {
        let rolling = self.set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
        rolling.and_then(|r| r.partition).unwrap_or(0)
    }

    /// The pods of the set, by index (ordinal minus the first ordinal).
    fn pods(&mut self) -> BTreeMap<i32, Arc<Value>> {
        let selector = self.set.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        let set_name = self.set_name();
        let candidates: Vec<Arc<Value>> = self.api.store().list(&PODS.storage_name(), Some(&self.key.namespace)).map(|(_, p)| p.clone()).collect();
        let owner = self.value.clone();
        let claimed = claim(self.api, &owner, &PODS, candidates, |p| selector_matches(&selector, &labels(p)) && ordinal_of(&set_name, p).is_some(), self.now);
        let start = self.first_ordinal();
        claimed.into_iter().filter_map(|p| ordinal_of(&set_name, &p).map(|o| (o - start, p))).collect()
    }

    fn first_ordinal(&self) -> i32 {
        self.set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0)
    }

    fn revisions(&mut self) -> Option<Revisions> {
        let template = self.set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let collisions = self.set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let history = controller_history::sync_current(self.api, &self.value, &template, collisions, self.now)?;
        let current_name = self.set.status.as_ref().and_then(|s| s.current_revision.clone());
        let current = controller_history::revisions_of(self.api.store(), &self.value).into_iter().find(|r| current_name.as_deref() == Some(name(r))).unwrap_or(history.current.clone());
        Some(Revisions { current, update: history.current, collision_count: history.collision_count })
    }

    fn run(&mut self) -> Action {
        let Some(revisions) = self.revisions() else { return Action::requeue_after(SignedDuration::from_secs(1)) };
        let pods = self.pods();
        if !is_being_deleted(&self.value) {
            self.manage(&pods, &revisions);
        }
        let pods = self.pods();
        let in_use: BTreeSet<String> = pods.values().map(|p| revision_label(p)).chain([name(&revisions.current).to_string(), name(&revisions.update).to_string()]).collect();
        let limit = self.set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        controller_history::prune(self.api, &self.value, limit, &in_use, self.now);
        self.write_status(&pods, &revisions);
        let (min_ready, now) = (self.min_ready(), self.now);
        let next = pods.values().filter_map(|p| available_from(p, min_ready)).filter(|t| *t > now).min();
        Action::requeue_at(next, now)
    }

    /// Creates, replaces and removes pods in order (upstream's
    /// updateStatefulSet): stops at the first pod it must wait for.
    fn manage(&mut self, pods: &BTreeMap<i32, Arc<Value>>, revisions: &Revisions) {
        let spec = self.set.spec.clone().unwrap_or_default();
        let replicas = spec.replicas.unwrap_or(1);
        let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
        for index in 0..replicas {
            match pods.get(&index) {
                None => {
                    self.create(index, revisions);
                    if monotonic {
                        return;
                    }
                }
                Some(pod) if is_terminal(pod) && !is_being_deleted(pod) => {
                    // A finished member is deleted to be made again.
                    self.delete(pod);
                    if monotonic {
                        return;
                    }
                }
                Some(pod) if monotonic && (is_being_deleted(pod) || !is_running_and_ready(pod)) => return,
                Some(_) => {}
            }
        }
        // Scale down: the highest ordinal first, one at a time when ordered.
        let mut condemned: Vec<&Arc<Value>> = pods.iter().filter(|(i, _)| **i >= replicas || **i < 0).map(|(_, p)| p).collect();
        let first_unhealthy = condemned.iter().find(|p| !is_running_and_ready(p)).map(|p| name(p).to_string());
        while let Some(pod) = condemned.pop() {
            if is_being_deleted(pod) {
                if monotonic {
                    return;
                }
                continue;
            }
            if monotonic && !is_running_and_ready(pod) && first_unhealthy.as_deref() != Some(name(pod)) {
                return;
            }
            self.delete(pod);
            if monotonic {
                return;
            }
        }
        if !self.rolling_update() {
            return;
        }
        // Roll out from the highest ordinal down to the partition, one pod at a time.
        let update = name(&revisions.update).to_string();
        for index in (self.partition().max(0)..replicas).rev() {
            let Some(pod) = pods.get(&index) else { continue };
            if revision_label(pod) != update && !is_being_deleted(pod) {
                self.delete(pod);
                return;
            }
            if !is_running_and_ready(pod) || !is_available(pod, self.min_ready(), self.now) {
                return;
            }
        }
    }

    /// The revision a new pod at `index` gets: the current one below the
    /// partition during a rolling update, else the newest.
    fn create(&mut self, index: i32, revisions: &Revisions) {
        let below_partition = self.rolling_update() && index < self.partition();
        let revision = if below_partition { &revisions.current } else { &revisions.update };
        let template = template_of(revision).unwrap_or_else(|| self.set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default());
        let pod = self.pod(index, &template, name(revision));
        let pod_name = name(&pod).to_string();
        let request = ApiRequest::post(PODS.path(Some(&self.key.namespace), None), pod).as_user(CONTROLLER_MANAGER);
        let response = self.api.handle(&request, self.now).into_response();
        let set_name = self.set_name();
        if response.is_success() {
            self.event(NORMAL, "SuccessfulCreate", &format!("create Pod {pod_name} in StatefulSet {set_name} successful"));
        } else if response.status != 409 {
            self.event(WARNING, "FailedCreate", &format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {}", response.message()));
        }
    }

    fn delete(&mut self, pod: &Value) {
        let pod_name = name(pod).to_string();
        let request = ApiRequest::delete(PODS.path(Some(&self.key.namespace), Some(&pod_name))).as_user(CONTROLLER_MANAGER);
        let response = self.api.handle(&request, self.now).into_response();
        let set_name = self.set_name();
        if response.is_success() {
            self.event(NORMAL, "SuccessfulDelete", &format!("delete Pod {pod_name} in StatefulSet {set_name} successful"));
        } else if response.status != 404 {
            self.event(WARNING, "FailedDelete", &format!("delete Pod {pod_name} in StatefulSet {set_name} failed error: {}", response.message()));
        }
    }

    /// Member `index`: its stable name and hostname, under the set's service.
    fn pod(&self, index: i32, template: &PodTemplateSpec, revision: &str) -> Value {
        let ordinal = index + self.first_ordinal();
        let pod_name = format!("{}-{ordinal}", self.set_name());
        let mut pod_labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        pod_labels.insert(controller_history::HASH_LABEL.into(), revision.to_string());
        pod_labels.insert(POD_NAME_LABEL.into(), pod_name.clone());
        pod_labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
        let mut metadata = json!({"name": pod_name, "namespace": self.key.namespace, "labels": pod_labels, "ownerReferences": [controller_ref(&self.value)]});
        if let Some(annotations) = template.metadata.as_ref().and_then(|m| m.annotations.clone()) {
            metadata["annotations"] = json!(annotations);
        }
        let mut spec = serde_json::to_value(template.spec.clone().unwrap_or_default()).unwrap_or(json!({}));
        spec["hostname"] = json!(pod_name);
        if let Some(service) = self.set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty()) {
            spec["subdomain"] = json!(service);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    }

    fn write_status(&mut self, pods: &BTreeMap<i32, Arc<Value>>, revisions: &Revisions) {
        let (current, update) = (name(&revisions.current).to_string(), name(&revisions.update).to_string());
        let (min_ready, now) = (self.min_ready(), self.now);
        let live: Vec<&Arc<Value>> = pods.values().filter(|p| !is_being_deleted(p)).collect();
        let replicas = pods.len() as i32;
        let ready = pods.values().filter(|p| is_running_and_ready(p)).count() as i32;
        let available = pods.values().filter(|p| is_running_and_ready(p) && is_available(p, min_ready, now)).count() as i32;
        let mut current_replicas = live.iter().filter(|p| revision_label(p) == current).count() as i32;
        let updated_replicas = live.iter().filter(|p| revision_label(p) == update).count() as i32;
        let mut current_revision = current;
        // A finished rolling update: the newest revision becomes the current one.
        if self.rolling_update() && updated_replicas == replicas && ready == replicas {
            current_revision = update.clone();
            current_replicas = updated_replicas;
        }
        let mut status = json!({
            "observedGeneration": self.value.at(&["metadata", "generation"]).cloned().unwrap_or(json!(1)),
            "replicas": replicas,
            "readyReplicas": ready,
            "currentReplicas": current_replicas,
            "updatedReplicas": updated_replicas,
            "availableReplicas": available,
            "currentRevision": current_revision,
            "updateRevision": update,
        });
        if revisions.collision_count > 0 {
            status["collisionCount"] = json!(revisions.collision_count);
        }
        write_status(self.api, &STATEFUL_SETS, &self.value, status, self.now);
    }
}
