//! The Deployment controller, after Kubernetes' `pkg/controller/deployment`.
//! A Deployment owns one ReplicaSet per pod template it has had, named
//! `<deployment>-<pod-template-hash>`. The ReplicaSet whose template equals
//! the Deployment's is the new one; the others are old. A rollout grows the
//! new one and shrinks the old ones, within maxSurge and maxUnavailable
//! (RollingUpdate) or by emptying the old ones first (Recreate). Going back
//! to an earlier template (what `kubectl rollout undo` does) finds that
//! template's ReplicaSet again and gives it the next revision number.
//!
//! The arithmetic is in `rollout`, the status in `rollout_status`; this file
//! is the order of the steps and the writes.

use crate::json_path::JsonPath;
use super::replica_set::selector_of;
use super::events::{EventRecorder, NORMAL, WARNING};
use super::ownership::{claim, controller_keys, controller_of, controller_ref, is_being_deleted, labels, uid, write_status};
use super::pod_template_hash;
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::rollout::{
    active_or_latest, available_replica_count, by_creation, is_rolling_update, is_saturated, max_revision, max_surge, max_unavailable,
    new_rs_new_replicas, proportional_sizes, replica_count, replicas, revision, rs_replicas, DESIRED_REPLICAS, MAX_REPLICAS, REVISION,
    REVISION_HISTORY,
};
use super::rollout_status::{self as status, condition, new_condition, set_condition, PROGRESSING};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{DEPLOYMENTS, PODS, REPLICA_SETS};
use crate::apiserver::{ApiRequest, ApiServer};
use crate::labels::selector_matches;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const COMPONENT: &str = "deployment-controller";

/// Deployment annotations that are the controller's own bookkeeping (or
/// kubectl's), not copied onto ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

#[derive(Debug)]
pub struct DeploymentController {
    events: EventRecorder,
}

impl Default for DeploymentController {
    fn default() -> Self {
        DeploymentController { events: EventRecorder::new(COMPONENT) }
    }
}

impl Reconciler for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        let (deployments, replica_sets, pods) = (DEPLOYMENTS.storage_name(), REPLICA_SETS.storage_name(), PODS.storage_name());
        if event.key.resource == deployments && event.event_type != EventType::Deleted {
            keys.push(event.key.clone());
        } else if event.key.resource == replica_sets {
            replica_set_changed(store, event, keys);
        } else if event.key.resource == pods && event.event_type == EventType::Deleted {
            pod_gone(store, event, keys);
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&DEPLOYMENTS.storage_name(), None).map(|(key, _)| key.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(value) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        let Ok(deployment) = serde_json::from_value::<Deployment>((*value).clone()) else { return Ok(Action::await_change()) };
        let mut sync = Sync { api: ctx.api, events: &mut self.events, value, d: deployment, rss: Vec::new(), now: ctx.now, again: false };
        sync.run();
        Ok(Action::requeue_at(sync.next_look(), ctx.now))
    }
}

/// A ReplicaSet changed: its Deployment looks again, and an orphan may be
/// adopted by any Deployment selecting it.
fn replica_set_changed(store: &Store, event: &StoreEvent, keys: &mut Vec<ObjectKey>) {
    let ns = event.key.namespace.as_str();
    controller_keys(event, "Deployment", &DEPLOYMENTS, keys);
    if event.event_type != EventType::Deleted && controller_of(&event.object).is_none() {
        let rs_labels = labels(&event.object);
        for (key, d) in store.list(&DEPLOYMENTS.storage_name(), Some(ns)) {
            if selector_of(d).is_some_and(|s| !is_empty(&s) && selector_matches(&s, &rs_labels)) {
                keys.push(key.clone());
            }
        }
    }
}

/// Recreate waits for the old pods to be gone, so a pod's deletion may
/// let its Deployment go on.
fn pod_gone(store: &Store, event: &StoreEvent, keys: &mut Vec<ObjectKey>) {
    let ns = event.key.namespace.as_str();
    let Some(rs_ref) = controller_of(&event.object).filter(|r| r["kind"] == "ReplicaSet") else { return };
    let rs_key = ObjectKey::new(REPLICA_SETS.storage_name(), ns, rs_ref["name"].as_str().unwrap_or(""));
    let Some(d_ref) = store.get(&rs_key).and_then(|rs| controller_of(rs).cloned()).filter(|r| r["kind"] == "Deployment") else { return };
    let d_key = ObjectKey::new(DEPLOYMENTS.storage_name(), ns, d_ref["name"].as_str().unwrap_or(""));
    let recreate = store.get(&d_key).is_some_and(|d| d.at(&["spec", "strategy", "type"]) == Some(&json!("Recreate")));
    if recreate {
        keys.push(d_key);
    }
}

fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// One sync of one Deployment: the Deployment as read (`value`), the
/// Deployment as it should be written back (`d`: its status and revision
/// annotation change), and its ReplicaSets, oldest first, kept up to date
/// with every write.
struct Sync<'a> {
    api: &'a mut ApiServer,
    events: &'a mut EventRecorder,
    value: Arc<Value>,
    d: Deployment,
    rss: Vec<ReplicaSet>,
    now: Timestamp,
    /// Look again at once (after a hash collision).
    again: bool,
}

impl Sync<'_> {
    fn run(&mut self) {
        let selector = self.d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        if is_empty(&selector) {
            let value = self.value.clone();
            self.events.record(self.api, &value, WARNING, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.", self.now);
            let status = self.d.status.get_or_insert_with(Default::default);
            status.observed_generation = self.d.metadata.generation;
            self.write_back();
            return;
        }
        self.claim_replica_sets(&selector);
        if is_being_deleted(&self.value) {
            // Only report: the garbage collector is taking it apart.
            let new_rs = self.new_replica_set(false);
            self.sync_status(new_rs);
        } else {
            self.check_paused_conditions();
            let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
            if paused || self.is_scaling_event() {
                self.sync_scale(paused);
            } else if is_rolling_update(&self.d) {
                self.rollout_rolling();
            } else {
                self.rollout_recreate();
            }
        }
        self.write_back();
    }

    /// The ReplicaSets this Deployment controls, adopting and releasing by selector.
    fn claim_replica_sets(&mut self, selector: &LabelSelector) {
        let ns = self.d.metadata.namespace.clone().unwrap_or_default();
        let candidates: Vec<Arc<Value>> = self.api.store().list(&REPLICA_SETS.storage_name(), Some(&ns)).map(|(_, rs)| rs.clone()).collect();
        let claimed = claim(self.api, &self.value, &REPLICA_SETS, candidates, |rs| selector_matches(selector, &labels(rs)), self.now);
        self.rss = claimed.iter().filter_map(|rs| serde_json::from_value((**rs).clone()).ok()).collect();
        self.rss.sort_by(by_creation);
    }

    fn all(&self) -> Vec<&ReplicaSet> {
        self.rss.iter().collect()
    }

    fn old(&self, new_rs: Option<usize>) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != new_rs).collect()
    }

    fn replicas(&self) -> i32 {
        replicas(&self.d)
    }

    fn event(&mut self, type_: &str, reason: &str, message: &str) {
        let value = self.value.clone();
        self.events.record(self.api, &value, type_, reason, message, self.now);
    }

    /// The ReplicaSet of the current template, with its revision brought to
    /// the newest (getAllReplicaSetsAndSyncRevision): found by template, or
    /// created when `create` is set.
    fn new_replica_set(&mut self, create: bool) -> Option<usize> {
        let template = self.d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let existing = self.rss.iter().position(|rs| rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| pod_template_hash::equal_ignoring_hash(t, &template)));
        let max_old = max_revision(self.rss.iter().enumerate().filter(|(i, _)| Some(*i) != existing).map(|(_, rs)| rs));
        let new_revision = (max_old + 1).to_string();
        if let Some(i) = existing {
            let mut rs = self.rss[i].clone();
            let mut changed = self.set_new_rs_annotations(&mut rs, &new_revision, true);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let spec = rs.spec.get_or_insert_with(Default::default);
            if spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0) {
                spec.min_ready_seconds = min_ready;
                changed = true;
            }
            if changed {
                self.update_rs(i, rs);
            }
            let rs_revision = revision(&self.rss[i]).to_string();
            self.set_revision(&rs_revision);
            let has_progressing = self.d.status.as_ref().is_some_and(|s| condition(s, PROGRESSING).is_some());
            if status::has_progress_deadline(&self.d) && !has_progressing {
                let name = self.rss[i].metadata.name.clone().unwrap_or_default();
                let found = new_condition(PROGRESSING, "True", status::FOUND_NEW_RS, format!("Found new replica set \"{name}\""), self.now);
                set_condition(self.d.status.get_or_insert_with(Default::default), found);
            }
            return Some(i);
        }
        if !create {
            return None;
        }
        self.create_replica_set(template, &new_revision)
    }

    fn create_replica_set(&mut self, template: k8s_openapi::api::core::v1::PodTemplateSpec, new_revision: &str) -> Option<usize> {
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = pod_template_hash::compute(&template, collision_count);
        let mut template = template;
        template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(Default::default).insert(pod_template_hash::LABEL.into(), hash.clone());
        let mut selector = self.d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        selector.match_labels.get_or_insert_with(Default::default).insert(pod_template_hash::LABEL.into(), hash.clone());
        let d_name = self.d.metadata.name.clone().unwrap_or_default();
        let ns = self.d.metadata.namespace.clone().unwrap_or_default();
        let name = format!("{d_name}-{hash}");
        let owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference = serde_json::from_value(controller_ref(&self.value)).ok()?;
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                owner_references: Some(vec![owner]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.d.spec.as_ref().and_then(|s| s.min_ready_seconds),
                selector,
                template: Some(template.clone()),
            }),
            status: None,
        };
        let want = {
            let mut all = self.all();
            all.push(&rs);
            new_rs_new_replicas(&self.d, &all, &rs)
        };
        rs.spec.as_mut().unwrap().replicas = Some(want);
        self.set_new_rs_annotations(&mut rs, new_revision, false);
        let body = serde_json::to_value(&rs).ok()?;
        let response = self.api.handle(&ApiRequest::post(REPLICA_SETS.path(Some(&ns), None), body).as_user(CONTROLLER_MANAGER), self.now).into_response();
        if response.status == 409 {
            // A ReplicaSet of that name exists. If it is ours with this
            // template, it is the new one; otherwise the hash collided.
            let key = ObjectKey::new(REPLICA_SETS.storage_name(), ns.as_str(), name.as_str());
            let existing = self.api.store().get(&key).cloned();
            let ours = existing.as_ref().is_some_and(|e| controller_of(e).is_some_and(|r| r["uid"] == uid(&self.value)));
            let same = existing.as_ref().and_then(|e| serde_json::from_value::<ReplicaSet>((**e).clone()).ok()).is_some_and(|e| {
                e.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| pod_template_hash::equal_ignoring_hash(t, &template))
            });
            if ours && same {
                self.rss.push(serde_json::from_value((*existing.unwrap()).clone()).ok()?);
                return Some(self.rss.len() - 1);
            }
            let status = self.d.status.get_or_insert_with(Default::default);
            status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
            self.again = true;
            return None;
        }
        if !response.is_success() {
            let message = format!("Failed to create new replica set \"{name}\": {}", response.message());
            if status::has_progress_deadline(&self.d) {
                set_condition(self.d.status.get_or_insert_with(Default::default), new_condition(PROGRESSING, "False", status::RS_CREATE_ERROR, message.clone(), self.now));
            }
            self.event(WARNING, status::RS_CREATE_ERROR, &message);
            return None;
        }
        let created: ReplicaSet = serde_json::from_value(response.json_body()?.clone()).ok()?;
        if want > 0 {
            self.event(NORMAL, "ScalingReplicaSet", &format!("Scaled up replica set {name} from 0 to {want}"));
        }
        self.set_revision(new_revision);
        if status::has_progress_deadline(&self.d) {
            set_condition(self.d.status.get_or_insert_with(Default::default), new_condition(PROGRESSING, "True", status::NEW_RS_CREATED, format!("Created new replica set \"{name}\""), self.now));
        }
        self.rss.push(created);
        Some(self.rss.len() - 1)
    }

    /// Copies the Deployment's annotations, raises the revision (keeping
    /// the one it replaces in `revision-history`), and for a new ReplicaSet
    /// records the size it was made for. Returns whether anything changed.
    fn set_new_rs_annotations(&self, rs: &mut ReplicaSet, new_revision: &str, exists: bool) -> bool {
        let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
        let mut changed = false;
        for (k, v) in self.d.metadata.annotations.iter().flatten() {
            if !NOT_COPIED.contains(&k.as_str()) && annotations.get(k) != Some(v) {
                annotations.insert(k.clone(), v.clone());
                changed = true;
            }
        }
        let old_revision = annotations.get(REVISION).cloned().unwrap_or_default();
        let (old_n, new_n) = (old_revision.parse::<i64>().unwrap_or(0), new_revision.parse::<i64>().unwrap_or(0));
        if old_n < new_n {
            annotations.insert(REVISION.into(), new_revision.into());
            changed = true;
            if !old_revision.is_empty() {
                let history = match annotations.get(REVISION_HISTORY) {
                    Some(h) if !h.is_empty() => format!("{h},{old_revision}"),
                    _ => old_revision.clone(),
                };
                annotations.insert(REVISION_HISTORY.into(), history);
            }
        }
        if !exists {
            changed |= set_replicas_annotations(rs, self.replicas(), self.replicas() + max_surge(&self.d));
        }
        changed
    }

    fn set_revision(&mut self, revision: &str) {
        let annotations = self.d.metadata.annotations.get_or_insert_with(Default::default);
        if annotations.get(REVISION).map(String::as_str) != Some(revision) {
            annotations.insert(REVISION.into(), revision.into());
        }
    }

    /// Writes a changed ReplicaSet and keeps what was stored.
    fn update_rs(&mut self, i: usize, rs: ReplicaSet) -> bool {
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let name = rs.metadata.name.clone().unwrap_or_default();
        let Ok(body) = serde_json::to_value(&rs) else { return false };
        let response = self.api.handle(&ApiRequest::put(REPLICA_SETS.path(Some(&ns), Some(&name)), body).as_user(CONTROLLER_MANAGER), self.now).into_response();
        match response.json_body().filter(|_| response.is_success()).and_then(|b| serde_json::from_value(b.clone()).ok()) {
            Some(stored) => {
                self.rss[i] = stored;
                true
            }
            None => false,
        }
    }

    /// Resizes a ReplicaSet if its size differs (scaleReplicaSetAndRecordEvent).
    fn scale_if_needed(&mut self, i: usize, size: i32) -> bool {
        rs_replicas(&self.rss[i]) != size && self.scale(i, size)
    }

    /// Sets a ReplicaSet's size and the Deployment size it was set for
    /// (the annotations proportional scaling reads). True if the size changed.
    fn scale(&mut self, i: usize, size: i32) -> bool {
        let old = rs_replicas(&self.rss[i]);
        let mut rs = self.rss[i].clone();
        let annotations_changed = set_replicas_annotations(&mut rs, self.replicas(), self.replicas() + max_surge(&self.d));
        if old == size && !annotations_changed {
            return false;
        }
        rs.spec.get_or_insert_with(Default::default).replicas = Some(size);
        if !self.update_rs(i, rs) || old == size {
            return false;
        }
        let direction = if size > old { "up" } else { "down" };
        let name = self.rss[i].metadata.name.clone().unwrap_or_default();
        self.event(NORMAL, "ScalingReplicaSet", &format!("Scaled {direction} replica set {name} from {old} to {size}"));
        true
    }

    /// Paused and resumed show on the Progressing condition, so the time
    /// spent paused is not counted against the progress deadline.
    fn check_paused_conditions(&mut self) {
        if !status::has_progress_deadline(&self.d) {
            return;
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let status = self.d.status.get_or_insert_with(Default::default);
        let reason = condition(status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(status::TIMED_OUT) {
            return;
        }
        let paused_shown = reason.as_deref() == Some(status::PAUSED);
        if paused && !paused_shown {
            set_condition(status, new_condition(PROGRESSING, "Unknown", status::PAUSED, "Deployment is paused".into(), self.now));
        } else if !paused && paused_shown {
            set_condition(status, new_condition(PROGRESSING, "Unknown", status::RESUMED, "Deployment is resumed".into(), self.now));
        }
    }

    /// A resize of the Deployment shows as ReplicaSets sized for another
    /// Deployment size (their desired-replicas annotation).
    fn is_scaling_event(&mut self) -> bool {
        self.new_replica_set(false);
        let want = self.replicas();
        self.rss.iter().filter(|rs| rs_replicas(rs) > 0).any(|rs| {
            let desired = rs.metadata.annotations.as_ref().and_then(|a| a.get(DESIRED_REPLICAS)).and_then(|d| d.parse::<i32>().ok());
            desired.is_some_and(|d| d != want)
        })
    }

    /// A resize, or a paused Deployment: size the ReplicaSets without
    /// moving the rollout on.
    fn sync_scale(&mut self, paused: bool) {
        let new_rs = self.new_replica_set(false);
        self.scale_proportionally(new_rs);
        if paused {
            self.cleanup(new_rs);
        }
        self.sync_status(new_rs);
    }

    fn scale_proportionally(&mut self, new_rs: Option<usize>) {
        let want = self.replicas();
        if let Some(i) = active_or_latest(&self.all(), new_rs) {
            self.scale_if_needed(i, want);
            return;
        }
        if is_saturated(&self.d, new_rs.map(|i| &self.rss[i])) {
            for i in self.old(new_rs) {
                if rs_replicas(&self.rss[i]) > 0 {
                    self.scale_if_needed(i, 0);
                }
            }
            return;
        }
        if is_rolling_update(&self.d) {
            let active: Vec<usize> = (0..self.rss.len()).filter(|i| rs_replicas(&self.rss[*i]) > 0).collect();
            let sizes = {
                let refs: Vec<&ReplicaSet> = active.iter().map(|i| &self.rss[*i]).collect();
                proportional_sizes(&self.d, &refs)
            };
            for (i, size) in active.into_iter().zip(sizes) {
                self.scale(i, size);
            }
        }
    }

    fn rollout_rolling(&mut self) {
        let Some(new_rs) = self.new_replica_set(true) else {
            self.sync_rollout_status(None);
            return;
        };
        if self.reconcile_new(new_rs) || self.reconcile_old(new_rs) {
            self.sync_rollout_status(Some(new_rs));
            return;
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(Some(new_rs));
        }
        self.sync_rollout_status(Some(new_rs));
    }

    /// Grows (or trims) the new ReplicaSet as far as maxSurge allows.
    fn reconcile_new(&mut self, new_rs: usize) -> bool {
        let (have, want) = (rs_replicas(&self.rss[new_rs]), self.replicas());
        if have == want {
            return false;
        }
        if have > want {
            return self.scale_if_needed(new_rs, want);
        }
        let size = new_rs_new_replicas(&self.d, &self.all(), &self.rss[new_rs]);
        self.scale_if_needed(new_rs, size)
    }

    /// Shrinks old ReplicaSets as far as maxUnavailable allows: first their
    /// unavailable pods (which costs no availability), then available ones
    /// while more than `replicas - maxUnavailable` are available.
    fn reconcile_old(&mut self, new_rs: usize) -> bool {
        let mut old: Vec<usize> = self.old(Some(new_rs)).into_iter().filter(|i| rs_replicas(&self.rss[*i]) > 0).collect();
        if old.is_empty() {
            return false;
        }
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        let all_pods = replica_count(&self.rss);
        let min_available = self.replicas() - max_unavailable(&self.d);
        let available_of = |rs: &ReplicaSet| rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
        let new_unavailable = rs_replicas(&self.rss[new_rs]) - available_of(&self.rss[new_rs]);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut cleaned = 0;
        for &i in &old {
            if cleaned >= max_scaled_down {
                break;
            }
            let (size, available) = (rs_replicas(&self.rss[i]), available_of(&self.rss[i]));
            if size == 0 || size == available {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(size - available);
            self.scale_if_needed(i, size - down);
            cleaned += down;
        }
        let available = available_replica_count(&self.rss);
        if available <= min_available {
            return cleaned > 0;
        }
        let total = available - min_available;
        let mut scaled = 0;
        for &i in &old {
            if scaled >= total {
                break;
            }
            let size = rs_replicas(&self.rss[i]);
            if size == 0 {
                continue;
            }
            let down = size.min(total - scaled);
            self.scale_if_needed(i, size - down);
            scaled += down;
        }
        cleaned + scaled > 0
    }

    /// Recreate: empty the old ReplicaSets, wait until their pods are gone,
    /// then bring up the new one at full size.
    fn rollout_recreate(&mut self) {
        let mut new_rs = self.new_replica_set(false);
        let mut scaled_down = false;
        for i in self.old(new_rs) {
            if rs_replicas(&self.rss[i]) > 0 {
                scaled_down |= self.scale_if_needed(i, 0);
            }
        }
        if scaled_down || self.old_pods_running(new_rs) {
            self.sync_rollout_status(new_rs);
            return;
        }
        if new_rs.is_none() {
            new_rs = self.new_replica_set(true);
        }
        if let Some(i) = new_rs {
            let want = self.replicas();
            self.scale_if_needed(i, want);
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(new_rs);
        }
        self.sync_rollout_status(new_rs);
    }

    /// Whether any pod of an old ReplicaSet may still be running, including
    /// pods that are terminating.
    fn old_pods_running(&self, new_rs: Option<usize>) -> bool {
        let old = self.old(new_rs);
        if super::rollout::actual_replica_count(old.iter().map(|i| &self.rss[*i])) > 0 {
            return true;
        }
        let old_uids: Vec<String> = old.iter().filter_map(|i| self.rss[*i].metadata.uid.clone()).collect();
        let (ns, pods) = (self.d.metadata.namespace.clone().unwrap_or_default(), PODS.storage_name());
        let running = self.api.store().list(&pods, Some(&ns)).any(|(_, pod)| {
            let finished = matches!(pod.at(&["status", "phase"]).and_then(Value::as_str), Some("Succeeded" | "Failed"));
            !finished && controller_of(pod).is_some_and(|r| old_uids.iter().any(|u| r["uid"] == u.as_str()))
        });
        running
    }

    /// Deletes the oldest empty ReplicaSets beyond revisionHistoryLimit.
    fn cleanup(&mut self, new_rs: Option<usize>) {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return };
        let mut cleanable: Vec<usize> = self.old(new_rs).into_iter().filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none()).collect();
        let excess = cleanable.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| revision(&self.rss[*a]).cmp(&revision(&self.rss[*b])).then_with(|| by_creation(&self.rss[*a], &self.rss[*b])));
        for &i in cleanable.iter().take(excess as usize) {
            let rs = &self.rss[i];
            let status = rs.status.clone().unwrap_or_default();
            let unobserved = rs.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0);
            if status.replicas != 0 || rs_replicas(rs) != 0 || unobserved {
                continue;
            }
            let path = REPLICA_SETS.path(rs.metadata.namespace.as_deref(), rs.metadata.name.as_deref());
            self.api.handle(&ApiRequest::delete(path).as_user(CONTROLLER_MANAGER), self.now);
        }
    }

    fn sync_status(&mut self, new_rs: Option<usize>) {
        let status = status::calculate(&self.d, &self.all(), new_rs.map(|i| &self.rss[i]), self.now);
        self.d.status = Some(status);
    }

    fn sync_rollout_status(&mut self, new_rs: Option<usize>) {
        let status = status::rollout(&self.d, &self.all(), new_rs.map(|i| &self.rss[i]), self.now);
        self.d.status = Some(status);
    }

    /// Writes the revision annotation and the status, if they changed.
    fn write_back(&mut self) {
        let ns = self.d.metadata.namespace.clone().unwrap_or_default();
        let name = self.d.metadata.name.clone().unwrap_or_default();
        let path = DEPLOYMENTS.path(Some(&ns), Some(&name));
        let revision = self.d.metadata.annotations.as_ref().and_then(|a| a.get(REVISION)).cloned();
        let stored_revision = self.value.at(&["metadata", "annotations"]).and_then(|a| a.get(REVISION)).and_then(Value::as_str).map(String::from);
        if revision.is_some() && revision != stored_revision {
            let patch = json!({"metadata": {"annotations": {REVISION: revision}}});
            self.api.handle(&ApiRequest::patch(&path, "application/merge-patch+json", patch).as_user(CONTROLLER_MANAGER), self.now);
        }
        let status = serde_json::to_value(self.d.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        write_status(self.api, &DEPLOYMENTS, &self.value, status, self.now);
    }

    /// When to look at this Deployment again without a change to it: at
    /// once after a hash collision; at its progress deadline while a
    /// rollout is under way.
    fn next_look(&self) -> Option<Timestamp> {
        if self.again {
            return Some(self.now);
        }
        let status = self.d.status.clone().unwrap_or_default();
        let reason = condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
        if is_being_deleted(&self.value) || status::complete(&self.d, &status) || reason.as_deref() == Some(status::TIMED_OUT) {
            return None;
        }
        let deadline = status::deadline(&self.d, &status)?;
        deadline.checked_add(SignedDuration::from_secs(1)).ok()
    }
}

/// Records the Deployment size a ReplicaSet was sized for. True if changed.
fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.into(), value);
            changed = true;
        }
    }
    changed
}


#[cfg(test)]
mod tests;
