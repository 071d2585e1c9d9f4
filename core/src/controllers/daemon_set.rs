//! The DaemonSet controller, after Kubernetes' `pkg/controller/daemon`: one
//! pod on every node the template fits (`daemon_placement`), following
//! nodes as they join and leave, replacing failed pods (with a backoff per
//! node), and rolling a new template out node by node within maxSurge and
//! maxUnavailable (or, with OnDelete, only where pods are deleted). The
//! templates it has had are kept as ControllerRevisions
//! (`controller_history`); pods carry their revision's hash.
//!
//! As upstream since Kubernetes 1.12, each daemon pod gets a required node
//! affinity for its node's name and the default scheduler binds it, so
//! resource fit, preemption and the scheduler's explanations apply to
//! daemon pods too.

use crate::json_path::JsonPath;
use super::controller_history::{self, hash_of, HASH_LABEL};
use super::daemon_placement::{add_daemon_tolerations, DaemonFit, Placement};
use super::events::{EventRecorder, NORMAL, WARNING};
use super::ownership::{claim, controller_keys, controller_of, controller_ref, is_being_deleted, labels, name, namespace, write_status};
use super::pod_control::{create_pod, delete_pod};
use super::pod_readiness::{available_from, is_available, is_ready};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::rollout::scaled_value;
use crate::apiserver::resources::{DAEMON_SETS, NODES, PODS};
use crate::apiserver::ApiServer;
use crate::labels::selector_matches;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const COMPONENT: &str = "daemonset-controller";


/// At most this many pods are created or deleted in one sync (upstream's burstReplicas).
const BURST: usize = 250;

/// Backoff before deleting another failed daemon pod on the same node.
const FAILED_POD_BACKOFF_INITIAL: SignedDuration = SignedDuration::from_secs(1);
const FAILED_POD_BACKOFF_MAX: SignedDuration = SignedDuration::from_secs(15 * 60);

#[derive(Debug)]
pub struct DaemonSetController {
    events: EventRecorder,
    /// (DaemonSet, node) → (current delay, when it was last applied).
    failed_pods_backoff: BTreeMap<(ObjectKey, String), (SignedDuration, Timestamp)>,
}

impl Default for DaemonSetController {
    fn default() -> Self {
        DaemonSetController { events: EventRecorder::new(COMPONENT), failed_pods_backoff: BTreeMap::new() }
    }
}

fn all_daemon_sets(store: &Store) -> Vec<ObjectKey> {
    store.list(&DAEMON_SETS.storage_name(), None).map(|(k, _)| k.clone()).collect()
}

impl Reconciler for DaemonSetController {
    fn name(&self) -> &'static str {
        "daemonset"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        let resource = event.key.resource.as_str();
        if resource == DAEMON_SETS.storage_name() {
            // A deleted one too: its reconcile forgets its backoffs.
            keys.push(event.key.clone());
        } else if resource == PODS.storage_name() {
            controller_keys(event, "DaemonSet", &DAEMON_SETS, keys);
        } else if resource == NODES.storage_name() {
            // Only what placement reads: a node joining or leaving, its labels, its taints.
            let placement_changed = event.previous.as_deref().is_none_or(|p| {
                ["/metadata/labels", "/spec/taints"].iter().any(|f| p.pointer(f) != event.object.pointer(f))
            });
            if event.event_type != EventType::Modified || placement_changed {
                keys.extend(all_daemon_sets(store));
            }
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        all_daemon_sets(store)
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(value) = ctx.api.store().get(key).cloned() else {
            self.failed_pods_backoff.retain(|(k, _), _| k != key);
            return Ok(Action::await_change());
        };
        let Ok(ds) = serde_json::from_value::<DaemonSet>((*value).clone()) else { return Ok(Action::await_change()) };
        let mut sync = Sync { api: ctx.api, events: &mut self.events, backoff: &mut self.failed_pods_backoff, key: key.clone(), value, ds, now: ctx.now, requeue: Action::await_change() };
        sync.run();
        Ok(sync.requeue)
    }
}

/// The node a daemon pod is for: its node, or (unscheduled) the one its
/// node affinity names.
fn target_node(pod: &Value) -> Option<String> {
    if let Some(node) = pod.at(&["spec", "nodeName"]).and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Some(node.to_string());
    }
    let terms = pod.at(&["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"])?.as_array()?;
    terms.iter().flat_map(|t| t["matchFields"].as_array().cloned().unwrap_or_default()).find(|f| f["key"] == "metadata.name" && f["operator"] == "In").and_then(|f| f["values"][0].as_str().map(String::from))
}

fn phase(pod: &Value) -> &str {
    pod.at(&["status", "phase"]).and_then(Value::as_str).unwrap_or("")
}

fn hash_label(pod: &Value) -> String {
    labels(pod).get(HASH_LABEL).cloned().unwrap_or_default()
}

/// Scheduled pods first, then oldest first (podByCreationTimestampAndPhase).
fn by_age(pods: &mut [Arc<Value>]) {
    pods.sort_by_key(|p| (p.at(&["spec", "nodeName"]).is_none(), p.at(&["metadata", "creationTimestamp"]).and_then(Value::as_str).map(String::from), name(p).to_string()));
}

/// The up-to-date pod and the old one on a node, either possibly absent.
type NewAndOld = (Option<Arc<Value>>, Option<Arc<Value>>);

/// The up-to-date and the old pod on a node; None when there are two of a kind.
fn updated_and_old(pods: &[Arc<Value>], hash: &str) -> Option<NewAndOld> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|p| !is_being_deleted(p)) {
        let slot = if hash_label(pod) == hash { &mut new } else { &mut old };
        if slot.replace(pod.clone()).is_some() {
            return None;
        }
    }
    Some((new, old))
}

struct Sync<'a> {
    api: &'a mut ApiServer,
    events: &'a mut EventRecorder,
    backoff: &'a mut BTreeMap<(ObjectKey, String), (SignedDuration, Timestamp)>,
    key: ObjectKey,
    value: Arc<Value>,
    ds: DaemonSet,
    now: Timestamp,
    requeue: Action,
}

impl Sync<'_> {
    fn event(&mut self, type_: &str, reason: &str, message: &str) {
        let value = self.value.clone();
        self.events.record(self.api, &value, type_, reason, message, self.now);
    }

    fn template(&self) -> PodTemplateSpec {
        self.ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default()
    }

    fn min_ready(&self) -> i32 {
        self.ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    /// The template as a daemon pod gets it: with the daemon tolerations.
    fn daemon_spec(&self) -> k8s_openapi::api::core::v1::PodSpec {
        daemon_spec_of(&self.template())
    }

    /// Where a daemon pod belongs, node by node (in name order), decided
    /// once per sync.
    fn placements(&self) -> BTreeMap<String, Placement> {
        let spec = self.daemon_spec();
        let fit = DaemonFit::new(&spec);
        self.api.store().list(&NODES.storage_name(), None).map(|(key, node)| (key.name.clone(), fit.placement(node))).collect()
    }

    fn run(&mut self) {
        let selector = self.ds.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        let everything = selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty) && selector.match_expressions.as_ref().is_none_or(Vec::is_empty);
        if everything {
            self.event(WARNING, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.");
            return;
        }
        let collisions = self.ds.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let template = self.template();
        let Some(history) = controller_history::sync_current(self.api, &self.value, &template, collisions, self.now) else {
            self.requeue = Action::requeue_after(SignedDuration::from_secs(1));
            return;
        };
        let hash = hash_of(&history.current);
        let placements = self.placements();
        let candidates: Vec<Arc<Value>> = self.api.store().list(&PODS.storage_name(), Some(&self.key.namespace)).map(|(_, p)| p.clone()).collect();
        let owner = self.value.clone();
        claim(self.api, &owner, &PODS, candidates, |p| selector_matches(&selector, &labels(p)), self.now);
        if !is_being_deleted(&self.value) {
            self.manage(&placements, &hash);
            if self.ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()) != Some("OnDelete") {
                self.rolling_update(&placements, &hash);
            }
        }
        // Nothing below writes pods: one listing serves pruning and status.
        let by_node = self.daemon_pods();
        if !is_being_deleted(&self.value) {
            let in_use: BTreeSet<String> = by_node.values().flatten().map(|p| hash_label(p)).chain([hash.clone()]).collect();
            let limit = self.ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
            controller_history::prune(self.api, &self.value, limit, &in_use, self.now);
        }
        self.write_status(&placements, &by_node, &hash, history.collision_count);
    }

    /// This DaemonSet's pods by the node they are for, leaving out the
    /// finished ones already being deleted (getNodesToDaemonPods).
    fn daemon_pods(&self) -> BTreeMap<String, Vec<Arc<Value>>> {
        let uid = self.value["metadata"]["uid"].clone();
        let mut by_node: BTreeMap<String, Vec<Arc<Value>>> = BTreeMap::new();
        for (_, pod) in self.api.store().list(&PODS.storage_name(), Some(&self.key.namespace)) {
            let ours = controller_of(pod).is_some_and(|r| r["uid"] == uid);
            let finished = matches!(phase(pod), "Succeeded" | "Failed");
            if !ours || (finished && is_being_deleted(pod)) {
                continue;
            }
            if let Some(node) = target_node(pod) {
                by_node.entry(node).or_default().push(pod.clone());
            }
        }
        by_node
    }

    /// Creates the missing daemon pods and deletes the ones that must go
    /// (manage / podsShouldBeOnNode).
    fn manage(&mut self, placements: &BTreeMap<String, Placement>, hash: &str) {
        let by_node = self.daemon_pods();
        let surge = self.max_surge_configured();
        let (mut create, mut delete) = (Vec::new(), Vec::new());
        for (node_name, &Placement { should_run, should_continue_running }) in placements {
            let node_name = node_name.clone();
            let pods = by_node.get(&node_name).cloned().unwrap_or_default();
            if should_run && pods.is_empty() {
                create.push(node_name);
                continue;
            }
            if !should_continue_running {
                delete.extend(pods.iter().filter(|p| !is_being_deleted(p)).cloned());
                continue;
            }
            let mut running = Vec::new();
            for pod in pods.iter().filter(|p| !is_being_deleted(p)) {
                match phase(pod) {
                    "Failed" => {
                        if self.in_backoff(&node_name) {
                            continue;
                        }
                        let message = format!("Found failed daemon pod {}/{} on node {node_name}, will try to kill it", namespace(pod), name(pod));
                        self.event(WARNING, "FailedDaemonPod", &message);
                        delete.push(pod.clone());
                    }
                    "Succeeded" => {
                        let message = format!("Found succeeded daemon pod {}/{} on node {node_name}, will try to delete it", namespace(pod), name(pod));
                        self.event(NORMAL, "SucceededDaemonPod", &message);
                        delete.push(pod.clone());
                    }
                    _ => running.push(pod.clone()),
                }
            }
            by_age(&mut running);
            if !surge {
                delete.extend(running.iter().skip(1).cloned());
                continue;
            }
            if running.is_empty() && should_run {
                create.push(node_name);
                continue;
            }
            // Surging: an old and a new pod may share the node until the new one is available.
            let (mut newest, mut oldest) = (None, None);
            for pod in running {
                let slot = if hash_label(&pod) == hash { &mut newest } else { &mut oldest };
                if slot.is_none() {
                    *slot = Some(pod);
                } else {
                    delete.push(pod);
                }
            }
            if let (Some(new), Some(old)) = (newest, oldest) {
                if !is_ready(&old) || is_available(&new, self.min_ready(), self.now) {
                    delete.push(old);
                }
            }
        }
        self.sync_nodes(&delete, &create, hash);
    }

    fn in_backoff(&mut self, node: &str) -> bool {
        let key = (self.key.clone(), node.to_string());
        let now = self.now;
        if let Some((delay, last)) = self.backoff.get(&key) {
            if now < *last + *delay {
                self.requeue = self.requeue.or_sooner(Action::requeue_at(Some(*last + *delay), now));
                return true;
            }
        }
        let delay = self.backoff.get(&key).map_or(FAILED_POD_BACKOFF_INITIAL, |(d, _)| (*d * 2).min(FAILED_POD_BACKOFF_MAX));
        self.backoff.insert(key, (delay, now));
        false
    }

    fn rolling(&self) -> (Option<IntOrString>, Option<IntOrString>) {
        let rolling = self.ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
        (rolling.and_then(|r| r.max_surge.clone()), rolling.and_then(|r| r.max_unavailable.clone()))
    }

    fn max_surge_configured(&self) -> bool {
        let rolling_update = self.ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()) != Some("OnDelete");
        rolling_update && self.rolling().0.is_some_and(|s| scaled_value(&s, 100, true) > 0)
    }

    /// Replaces old pods with new ones within maxSurge and maxUnavailable.
    fn rolling_update(&mut self, placements: &BTreeMap<String, Placement>, hash: &str) {
        let by_node = self.daemon_pods();
        let desired = placements.values().filter(|p| p.should_run).count() as i32;
        let (surge, unavailable) = self.rolling();
        let max_surge = surge.map_or(0, |s| scaled_value(&s, desired, true));
        let mut max_unavailable = unavailable.map_or(1, |u| scaled_value(&u, desired, true));
        if desired > 0 && max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        let (min_ready, now) = (self.min_ready(), self.now);
        let available = |p: &Value| is_available(p, min_ready, now);
        let (mut delete, mut create) = (Vec::new(), Vec::new());
        if max_surge == 0 {
            let (mut unavailable_count, mut replaceable, mut candidates) = (0, Vec::new(), Vec::new());
            for pods in by_node.values() {
                match updated_and_old(pods, hash) {
                    None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable_count += 1,
                    Some((Some(new), None)) => unavailable_count += i32::from(!available(&new)),
                    Some((None, Some(old))) if !available(&old) => {
                        unavailable_count += 1;
                        replaceable.push(old);
                    }
                    Some((None, Some(_))) if unavailable_count >= max_unavailable => {}
                    Some((None, Some(old))) => candidates.push(old),
                }
            }
            let room = (max_unavailable - unavailable_count).clamp(0, candidates.len() as i32) as usize;
            delete = replaceable.into_iter().chain(candidates.into_iter().take(room)).collect();
        } else {
            let (mut surging, mut allowed, mut candidates) = (0, Vec::new(), Vec::new());
            for (node, pods) in &by_node {
                match updated_and_old(pods, hash) {
                    None => surging += 1,
                    Some((_, None)) => {}
                    Some((None, Some(old))) if !available(&old) => {
                        if placements.get(node).is_some_and(|p| p.should_run) {
                            allowed.push(node.clone());
                        } else {
                            delete.push(old);
                        }
                    }
                    Some((None, Some(_))) if surging >= max_surge => {}
                    Some((None, Some(_))) => candidates.push(node.clone()),
                    Some((Some(new), Some(_))) if !available(&new) => surging += 1,
                    Some((Some(_), Some(old))) => delete.push(old),
                }
            }
            let room = (max_surge - surging).clamp(0, candidates.len() as i32) as usize;
            create = allowed.into_iter().chain(candidates.into_iter().take(room)).collect();
        }
        // New pods become available minReadySeconds after they are ready: look again then.
        let next = by_node.values().flatten().filter_map(|p| available_from(p, min_ready)).filter(|t| *t > now).min();
        self.requeue = self.requeue.or_sooner(Action::requeue_at(next, now));
        self.sync_nodes(&delete, &create, hash);
    }

    fn sync_nodes(&mut self, delete: &[Arc<Value>], create: &[String], hash: &str) {
        let owner = self.value.clone();
        for pod in delete.iter().take(BURST) {
            // A refusal is in the owner's events; the next sync tries again.
            let _ = delete_pod(self.api, self.events, &owner, pod, self.now);
        }
        for node in create.iter().take(BURST) {
            let pod = self.pod_for(node, hash);
            if create_pod(self.api, self.events, &owner, pod, self.now).is_err() {
                self.requeue = self.requeue.or_sooner(Action::requeue_after(SignedDuration::from_secs(1)));
                return;
            }
        }
    }

    /// A daemon pod for `node`, labelled with the revision's hash.
    fn pod_for(&self, node: &str, hash: &str) -> Value {
        let template = self.template();
        let mut spec = daemon_spec_of(&template);
        spec.affinity.get_or_insert_with(Default::default).node_affinity = Some(pinned_to(spec.affinity.as_ref().and_then(|a| a.node_affinity.clone()), node));
        let mut pod_labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        pod_labels.insert(HASH_LABEL.into(), hash.to_string());
        let mut metadata = json!({"generateName": format!("{}-", name(&self.value)), "namespace": self.key.namespace, "labels": pod_labels, "ownerReferences": [controller_ref(&self.value)]});
        if let Some(annotations) = template.metadata.as_ref().and_then(|m| m.annotations.clone()) {
            metadata["annotations"] = json!(annotations);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    }

    fn write_status(&mut self, placements: &BTreeMap<String, Placement>, by_node: &BTreeMap<String, Vec<Arc<Value>>>, hash: &str, collision_count: i32) {
        let (min_ready, now) = (self.min_ready(), self.now);
        let (mut desired, mut current, mut misscheduled, mut ready, mut available, mut updated) = (0, 0, 0, 0, 0, 0);
        for (node, placement) in placements {
            let mut pods = by_node.get(node).cloned().unwrap_or_default();
            if !placement.should_run {
                misscheduled += i32::from(!pods.is_empty());
                continue;
            }
            desired += 1;
            by_age(&mut pods);
            let Some(pod) = pods.first() else { continue };
            current += 1;
            if is_ready(pod) {
                ready += 1;
                available += i32::from(is_available(pod, min_ready, now));
            }
            updated += i32::from(hash_label(pod) == hash);
        }
        let mut status = json!({
            "currentNumberScheduled": current,
            "desiredNumberScheduled": desired,
            "numberMisscheduled": misscheduled,
            "numberReady": ready,
            "observedGeneration": self.value.at(&["metadata", "generation"]).cloned().unwrap_or(json!(1)),
            "updatedNumberScheduled": updated,
        });
        for (field, count) in [("numberAvailable", available), ("numberUnavailable", desired - available), ("collisionCount", collision_count)] {
            if count > 0 {
                status[field] = json!(count);
            }
        }
        write_status(self.api, &DAEMON_SETS, &self.value, status, self.now);
    }
}

/// A node affinity that requires `node` by name, keeping the other
/// requirements (upstream's ReplaceDaemonSetPodNodeNameNodeAffinity).
fn pinned_to(existing: Option<NodeAffinity>, node: &str) -> NodeAffinity {
    let by_name = NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: Some(vec![node.to_string()]) };
    let mut affinity = existing.unwrap_or_default();
    let terms = affinity.required_during_scheduling_ignored_during_execution.take().map(|r| r.node_selector_terms).unwrap_or_default();
    let terms: Vec<NodeSelectorTerm> = if terms.is_empty() {
        vec![NodeSelectorTerm { match_fields: Some(vec![by_name.clone()]), ..Default::default() }]
    } else {
        terms.into_iter().map(|t| NodeSelectorTerm { match_fields: Some(vec![by_name.clone()]), ..t }).collect()
    };
    affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector { node_selector_terms: terms });
    affinity
}

/// `template`'s pod spec with the daemon tolerations added.
fn daemon_spec_of(template: &PodTemplateSpec) -> k8s_openapi::api::core::v1::PodSpec {
    let mut spec = template.spec.clone().unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    spec
}
