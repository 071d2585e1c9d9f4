//! The ReplicaSet controller: keeps `spec.replicas` pods from the template
//! running. It claims the active pods its selector matches, creates the
//! missing ones (named `<replicaset>-<suffix>`, controlled by the
//! ReplicaSet), deletes the surplus cheapest-first, and reports how many
//! pods it has, how many are ready and how many available. It does not wait
//! for its writes to be observed (upstream's "expectations"): it reads the
//! store it writes, so what it sees is never stale.

use crate::json_path::JsonPath;
use super::events::EventRecorder;
use super::ownership::{claim, controller_of, controller_ref, is_being_deleted, labels, name, uid, write_status};
use super::pod_readiness::{available_from, is_active, is_available, is_ready};
use super::pod_control::{create_pod, delete_pod};
use super::pod_ranking::in_deletion_order;
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use crate::apiserver::resources::{PODS, REPLICA_SETS};
use crate::apiserver::ApiServer;
use crate::labels::selector_matches;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub const COMPONENT: &str = "replicaset-controller";

/// At most this many pods are created or deleted in one sync (upstream's
/// burstReplicas), so one huge scale request cannot monopolise a settle.
const BURST: usize = 500;

#[derive(Debug)]
pub struct ReplicaSetController {
    events: EventRecorder,
}

impl Default for ReplicaSetController {
    fn default() -> Self {
        ReplicaSetController { events: EventRecorder::new(COMPONENT) }
    }
}

/// Why the last create or delete failed: the ReplicaFailure condition.
struct Failure {
    reason: &'static str,
    message: String,
}

impl Reconciler for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == REPLICA_SETS.storage_name() && event.event_type != EventType::Deleted {
            keys.push(event.key.clone());
        } else if event.key.resource == PODS.storage_name() {
            pod_changed(store, event, keys);
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&REPLICA_SETS.storage_name(), None).map(|(key, _)| key.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        Ok(Action::requeue_at(self.sync(ctx.api, key, ctx.now), ctx.now))
    }
}

/// A pod changed: its ReplicaSet (before and after) may need to act, and
/// an orphan may be adopted by any ReplicaSet that selects it.
fn pod_changed(store: &Store, event: &StoreEvent, keys: &mut Vec<ObjectKey>) {
    let ns = event.key.namespace.as_str();
    let owners = [event.previous.as_deref(), Some(event.object.as_ref())];
    for owner in owners.into_iter().flatten().filter_map(controller_of) {
        if owner["kind"] == "ReplicaSet" && owner["apiVersion"] == "apps/v1" {
            keys.push(ObjectKey::new(REPLICA_SETS.storage_name(), ns, owner["name"].as_str().unwrap_or("")));
        }
    }
    let pod = event.object.as_ref();
    let may_be_adopted = event.event_type != EventType::Deleted
        && controller_of(pod).is_none()
        && is_active(pod)
        && event.previous.as_deref().is_none_or(|p| controller_of(p).is_some() || labels(p) != labels(pod));
    if may_be_adopted {
        let pod_labels = labels(pod);
        for (key, rs) in store.list(&REPLICA_SETS.storage_name(), Some(ns)) {
            if selector_of(rs).is_some_and(|s| selector_matches(&s, &pod_labels)) {
                keys.push(key.clone());
            }
        }
    }
}

impl ReplicaSetController {
    /// Returns when to look again: when a ready pod becomes available.
    fn sync(&mut self, api: &mut ApiServer, key: &ObjectKey, now: Timestamp) -> Option<Timestamp> {
        let rs = api.store().get(key).cloned()?;
        let selector = selector_of(&rs)?;
        let pods_resource = PODS.storage_name();
        let candidates: Vec<Arc<Value>> = api.store().list(&pods_resource, Some(&key.namespace)).map(|(_, p)| p.clone()).filter(|p| is_active(p)).collect();
        let pods = claim(api, &rs, &PODS, candidates, |p| selector_matches(&selector, &labels(p)), now);
        // A ReplicaSet being deleted leaves its pods to the garbage collector.
        let failure = if is_being_deleted(&rs) { None } else { self.manage_replicas(api, &rs, &pods, now) };
        let rs_uid = uid(&rs).to_string();
        let pods: Vec<Arc<Value>> = api
            .store()
            .list(&pods_resource, Some(&key.namespace))
            .map(|(_, p)| p.clone())
            .filter(|p| is_active(p) && controller_of(p).is_some_and(|r| r["uid"] == rs_uid.as_str()))
            .collect();
        let min_ready = min_ready_seconds(&rs);
        write_status(api, &REPLICA_SETS, &rs, calculate_status(&rs, &pods, failure, now), now);
        // Ready pods become available minReadySeconds later; look again then.
        pods.iter().filter_map(|p| available_from(p, min_ready)).filter(|t| *t > now).min()
    }

    /// Creates or deletes pods until there are `spec.replicas`.
    fn manage_replicas(&mut self, api: &mut ApiServer, rs: &Value, pods: &[Arc<Value>], now: Timestamp) -> Option<Failure> {
        let want = rs.at(&["spec", "replicas"]).and_then(Value::as_u64).unwrap_or(1) as usize;
        if pods.len() < want {
            let pod = pod_from_template(rs);
            for _ in 0..(want - pods.len()).min(BURST) {
                if let Err(message) = create_pod(api, &mut self.events, rs, pod.clone(), now) {
                    return Some(Failure { reason: "FailedCreate", message });
                }
            }
        } else if pods.len() > want {
            let related = related_pods(api.store(), rs);
            for pod in in_deletion_order(pods, &related).iter().take((pods.len() - want).min(BURST)) {
                if let Err(message) = delete_pod(api, &mut self.events, rs, pod, now) {
                    return Some(Failure { reason: "FailedDelete", message });
                }
            }
        }
        None
    }
}

/// The `spec.selector` of a ReplicaSet or Deployment, read in place.
pub fn selector_of(object: &Value) -> Option<LabelSelector> {
    LabelSelector::deserialize(object.at(&["spec", "selector"])?).ok()
}

fn min_ready_seconds(rs: &Value) -> i32 {
    rs.at(&["spec", "minReadySeconds"]).and_then(Value::as_i64).unwrap_or(0) as i32
}

/// A pod as the template describes it, controlled by the ReplicaSet.
fn pod_from_template(rs: &Value) -> Value {
    let template = rs.at(&["spec", "template"]).cloned().unwrap_or(json!({}));
    let mut metadata = json!({
        "generateName": format!("{}-", name(rs)),
        "namespace": super::ownership::namespace(rs),
        "ownerReferences": [controller_ref(rs)],
    });
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(value) = template.pointer(&format!("/metadata/{field}")) {
            metadata[field] = value.clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// The pods of every ReplicaSet with the same controller (a Deployment's
/// old and new ReplicaSets), used to spread deletions across nodes.
fn related_pods(store: &Store, rs: &Value) -> Vec<Arc<Value>> {
    let Some(owner) = controller_of(rs).map(|r| r["uid"].clone()) else { return Vec::new() };
    let ns = super::ownership::namespace(rs);
    let siblings: Vec<String> = store
        .list(&REPLICA_SETS.storage_name(), Some(ns))
        .filter(|(_, s)| controller_of(s).is_some_and(|r| r["uid"] == owner))
        .map(|(_, s)| uid(s).to_string())
        .collect();
    store
        .list(&PODS.storage_name(), Some(ns))
        .filter(|(_, p)| controller_of(p).is_some_and(|r| siblings.iter().any(|s| r["uid"] == s.as_str())))
        .map(|(_, p)| p.clone())
        .collect()
}

/// The status the ReplicaSet should report for `pods` (its active pods).
/// Zero counts are left out, as Kubernetes' `omitempty` does.
fn calculate_status(rs: &Value, pods: &[Arc<Value>], failure: Option<Failure>, now: Timestamp) -> Value {
    let template_labels = rs.at(&["spec", "template", "metadata", "labels"]).and_then(Value::as_object).cloned().unwrap_or_default();
    let min_ready = min_ready_seconds(rs);
    let fully_labeled = pods.iter().filter(|p| template_labels.iter().all(|(k, v)| p.at(&["metadata", "labels"]).and_then(|l| l.get(k)) == Some(v))).count();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let available = pods.iter().filter(|p| is_available(p, min_ready, now)).count();
    let mut status = json!({"replicas": pods.len()});
    for (field, count) in [("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready), ("availableReplicas", available)] {
        if count > 0 {
            status[field] = json!(count);
        }
    }
    if let Some(generation) = rs.at(&["metadata", "generation"]).and_then(Value::as_i64) {
        status["observedGeneration"] = json!(generation);
    }
    // A failure is reported once and kept until a sync succeeds.
    let mut conditions: Vec<Value> = rs.at(&["status", "conditions"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c["type"] == "ReplicaFailure");
    match failure {
        Some(f) if !has_failure => conditions.push(json!({"type": "ReplicaFailure", "status": "True", "reason": f.reason, "message": f.message, "lastTransitionTime": Time(now)})),
        Some(_) => {}
        None => conditions.retain(|c| c["type"] != "ReplicaFailure"),
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::ApiRequest;
    use crate::controllers::events::events_about;
    use crate::controllers::runner::{Controller, Runner};
    use crate::controllers::testing::{api, at, create, finish_deletions, get, name as name_of, pods, replica_set, run_pod};

    const RS_PATH: &str = "/apis/apps/v1/namespaces/default/replicasets";

    fn scale(api: &mut ApiServer, rs: &str, replicas: i64) {
        let patch = ApiRequest::patch(REPLICA_SETS.path(Some("default"), Some(rs)), "application/merge-patch+json", json!({"spec": {"replicas": replicas}}));
        assert!(api.handle(&patch.as_user("admin"), at(0)).into_response().is_success());
    }

    fn status(api: &ApiServer, rs: &str) -> Value {
        get(api, "replicasets.apps", "default", rs).unwrap()["status"].clone()
    }

    #[test]
    fn creates_pods_from_the_template_controlled_by_the_replica_set() {
        for replicas in [0, 1, 3] {
            let mut api = api();
            let mut controller = Runner::new(ReplicaSetController::default());
            let rs = create(&mut api, RS_PATH, replica_set("web", replicas));
            controller.run_once(&mut api, at(1));
            let pods = pods(&api, "default");
            assert_eq!(pods.len() as i64, replicas);
            for pod in &pods {
                assert!(name_of(pod).starts_with("web-"), "{}", name_of(pod));
                assert_eq!(pod["metadata"]["labels"], json!({"app": "web"}));
                let owner = controller_of(pod).unwrap();
                assert_eq!((&owner["kind"], &owner["uid"], &owner["blockOwnerDeletion"]), (&json!("ReplicaSet"), &rs["metadata"]["uid"], &json!(true)));
            }
            let created: Vec<String> = events_about(&api, "default", "web").into_iter().map(|(t, r, m, _)| format!("{t} {r} {m}")).collect();
            let want: Vec<String> = pods.iter().map(|p| format!("Normal SuccessfulCreate Created pod: {}", name_of(p))).collect();
            let (mut created_sorted, mut want_sorted) = (created.clone(), want.clone());
            created_sorted.sort();
            want_sorted.sort();
            assert_eq!(created_sorted, want_sorted);
            let want_status = if replicas == 0 { json!({"replicas": 0, "observedGeneration": 1}) } else { json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1}) };
            assert_eq!(status(&api, "web"), want_status, "{replicas} replicas");
        }
    }

    #[test]
    fn scaling_down_deletes_the_cheapest_pods_and_ignores_terminating_ones() {
        let mut api = api();
        let mut controller = Runner::new(ReplicaSetController::default());
        create(&mut api, RS_PATH, replica_set("web", 3));
        controller.run_once(&mut api, at(1));
        let names: Vec<String> = pods(&api, "default").iter().map(|p| name_of(p)).collect();
        // Two run and are ready; the third is scheduled but not ready.
        run_pod(&mut api, "default", &names[0], true, at(2));
        run_pod(&mut api, "default", &names[1], true, at(2));
        run_pod(&mut api, "default", &names[2], false, at(2));
        scale(&mut api, "web", 2);
        controller.run_once(&mut api, at(3));
        let doomed: Vec<String> = pods(&api, "default").iter().filter(|p| is_being_deleted(p)).map(|p| name_of(p)).collect();
        assert_eq!(doomed, vec![names[2].clone()], "the not-ready pod goes first");
        // The terminating pod is not counted, so nothing is replaced.
        assert_eq!(status(&api, "web")["replicas"], 2);
        assert_eq!(status(&api, "web")["readyReplicas"], 2);
        finish_deletions(&mut api, at(4));
        controller.run_once(&mut api, at(4));
        assert_eq!(pods(&api, "default").len(), 2);
        let events = events_about(&api, "default", "web");
        assert_eq!(events.last().unwrap().2, format!("Deleted pod: {}", names[2]));
    }

    #[test]
    fn adopts_a_matching_orphan_instead_of_creating_a_pod() {
        let mut api = api();
        let mut controller = Runner::new(ReplicaSetController::default());
        create(&mut api, "/api/v1/namespaces/default/pods", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "hello"}]}}));
        create(&mut api, RS_PATH, replica_set("web", 2));
        controller.run_once(&mut api, at(1));
        let pods = pods(&api, "default");
        assert_eq!(pods.len(), 2);
        let stray = get(&api, "pods", "default", "stray").unwrap();
        assert_eq!(controller_of(&stray).unwrap()["name"], "web");
    }

    #[test]
    fn available_replicas_wait_for_min_ready_seconds() {
        let mut api = api();
        let mut controller = Runner::new(ReplicaSetController::default());
        let mut rs = replica_set("web", 1);
        rs["spec"]["minReadySeconds"] = json!(10);
        create(&mut api, RS_PATH, rs);
        controller.run_once(&mut api, at(0));
        let pod = name_of(&pods(&api, "default")[0]);
        run_pod(&mut api, "default", &pod, true, at(5));
        // (now, readyReplicas, availableReplicas)
        for (now, ready, available) in [(5, json!(1), Value::Null), (15, json!(1), Value::Null), (16, json!(1), json!(1))] {
            controller.run_once(&mut api, at(now));
            assert_eq!((status(&api, "web")["readyReplicas"].clone(), status(&api, "web")["availableReplicas"].clone()), (ready, available), "at {now}s");
        }
        assert_eq!(controller.next_wake(), None);
    }

    #[test]
    fn a_refused_create_is_reported_as_replica_failure() {
        let mut api = api();
        let mut controller = Runner::new(ReplicaSetController::default());
        create(&mut api, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "closing"}}));
        create(&mut api, "/apis/apps/v1/namespaces/closing/replicasets", replica_set("web", 1));
        api.handle(&ApiRequest::delete("/api/v1/namespaces/closing").as_user("admin"), at(0));
        controller.run_once(&mut api, at(1));
        let rs = get(&api, "replicasets.apps", "closing", "web").unwrap();
        let condition = &rs["status"]["conditions"][0];
        assert_eq!((&condition["type"], &condition["reason"]), (&json!("ReplicaFailure"), &json!("FailedCreate")));
        assert!(condition["message"].as_str().unwrap().starts_with("unable to create new content in namespace closing"), "{condition}");
        // (Its Warning event is refused too: nothing new is created in a terminating namespace.)
    }

    #[test]
    fn a_replica_set_being_deleted_creates_no_pods() {
        let mut api = api();
        let mut controller = Runner::new(ReplicaSetController::default());
        create(&mut api, RS_PATH, replica_set("web", 2));
        let delete = ApiRequest::delete(REPLICA_SETS.path(Some("default"), Some("web"))).with_query("propagationPolicy", "Foreground");
        assert_eq!(api.handle(&delete.as_user("admin"), at(0)).into_response().status, 202);
        controller.run_once(&mut api, at(1));
        assert!(pods(&api, "default").is_empty());
    }
}
