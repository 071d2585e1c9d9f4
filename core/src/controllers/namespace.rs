//! Namespace lifecycle: deleting a namespace marks it Terminating (no new
//! content may be created in it); this controller then deletes everything
//! in it, reports what remains in the namespace's conditions, and when
//! nothing is left removes the `kubernetes` finalizer through `/finalize`,
//! which lets the namespace go. Pods on a node go when their kubelet has
//! stopped them, so a namespace with running pods takes that long.

use crate::json_path::JsonPath;
use super::ownership::{finalizers, is_being_deleted, path_of};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::NAMESPACES;
use crate::apiserver::{ApiRequest, ApiServer};
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use crate::apiserver::transition_time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The finalizer the API server puts on every namespace's spec.
pub const FINALIZER: &str = "kubernetes";

#[derive(Debug, Default)]
pub struct NamespaceController {
    /// Namespaces being deleted: a change inside one may let it finish.
    terminating: BTreeSet<String>,
}

impl Reconciler for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        let namespaces = NAMESPACES.storage_name();
        if event.key.resource == namespaces {
            if event.event_type == EventType::Deleted {
                self.terminating.remove(&event.key.name);
            } else if is_being_deleted(&event.object) {
                self.terminating.insert(event.key.name.clone());
                keys.push(event.key.clone());
            }
        } else if self.terminating.contains(&event.key.namespace) {
            keys.push(ObjectKey::new(&*namespaces, "", event.key.namespace.as_str()));
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        self.terminating.clear();
        let mut keys = Vec::new();
        for (key, ns) in store.list(&NAMESPACES.storage_name(), None) {
            if is_being_deleted(ns) {
                self.terminating.insert(key.name.clone());
                keys.push(key.clone());
            }
        }
        keys
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        self.sync(ctx.api, key, ctx.now);
        Ok(Action::await_change())
    }
}

impl NamespaceController {
    fn sync(&mut self, api: &mut ApiServer, key: &ObjectKey, now: Timestamp) {
        let Some(namespace) = api.store().get(key).cloned() else {
            self.terminating.remove(&key.name);
            return;
        };
        if !is_being_deleted(&namespace) {
            self.terminating.remove(&key.name);
            return;
        }
        let name = key.name.as_str();
        let content: Vec<ObjectKey> = api.store().keys_in_namespace(name).cloned().collect();
        for object_key in &content {
            let pending = api.store().get(object_key).is_some_and(|o| is_being_deleted(o));
            if let (false, Some(path)) = (pending, path_of(object_key)) {
                api.handle(&ApiRequest::delete(path).as_user(CONTROLLER_MANAGER), now);
            }
        }
        let remaining = Remaining::of(api.store(), name);
        if remaining.resources.is_empty() {
            let mut finalized = (*namespace).clone();
            let kept: Vec<Value> = namespace.at(&["spec", "finalizers"]).and_then(Value::as_array).into_iter().flatten().filter(|f| *f != FINALIZER).cloned().collect();
            finalized["spec"]["finalizers"] = json!(kept);
            let path = format!("{}/finalize", NAMESPACES.path(None, Some(name)));
            api.handle(&ApiRequest::put(path, finalized).as_user(CONTROLLER_MANAGER), now);
            return;
        }
        let conditions = remaining.conditions(namespace.at(&["status", "conditions"]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]), now);
        if namespace.at(&["status", "conditions"]) != Some(&conditions) {
            let mut updated = (*namespace).clone();
            updated["status"]["conditions"] = conditions;
            let path = format!("{}/status", NAMESPACES.path(None, Some(name)));
            api.handle(&ApiRequest::put(path, updated).as_user(CONTROLLER_MANAGER), now);
        }
    }
}

/// What is still in a namespace: objects per resource, and the finalizers
/// holding some of them.
struct Remaining {
    resources: BTreeMap<String, usize>,
    finalizers: BTreeMap<String, usize>,
}

impl Remaining {
    fn of(store: &Store, namespace: &str) -> Self {
        let mut resources = BTreeMap::new();
        let mut held = BTreeMap::new();
        for key in store.keys_in_namespace(namespace) {
            *resources.entry(key.resource.clone()).or_insert(0) += 1;
            for finalizer in store.get(key).map(|o| finalizers(o)).unwrap_or_default() {
                *held.entry(finalizer).or_insert(0) += 1;
            }
        }
        Remaining { resources, finalizers: held }
    }

    /// The namespace's deletion conditions, with Kubernetes' reasons and
    /// messages; a condition whose status is unchanged keeps its time.
    fn conditions(&self, existing: &[Value], now: Timestamp) -> Value {
        let listed = |m: &BTreeMap<String, usize>, what: &str| m.iter().map(|(k, n)| format!("{k} {what} {n} resource instances")).collect::<Vec<_>>().join(", ");
        let content = if self.resources.is_empty() {
            ("False", "ContentRemoved", "All content successfully removed".to_string())
        } else {
            ("True", "SomeResourcesRemain", format!("Some resources are remaining: {}", listed(&self.resources, "has")))
        };
        let finalizers = if self.finalizers.is_empty() {
            ("False", "ContentHasNoFinalizers", "All content-preserving finalizers finished".to_string())
        } else {
            ("True", "SomeFinalizersRemain", format!("Some content in the namespace has finalizers remaining: {}", listed(&self.finalizers, "in")))
        };
        let wanted = [
            ("NamespaceDeletionDiscoveryFailure", ("False", "ResourcesDiscovered", "All resources successfully discovered".to_string())),
            ("NamespaceDeletionGroupVersionParsingFailure", ("False", "ParsedGroupVersions", "All legacy kube types successfully parsed".to_string())),
            ("NamespaceDeletionContentFailure", ("False", "ContentDeleted", "All content successfully deleted, may be waiting on finalization".to_string())),
            ("NamespaceContentRemaining", content),
            ("NamespaceFinalizersRemaining", finalizers),
        ];
        let conditions: Vec<Value> = wanted
            .into_iter()
            .map(|(type_, (status, reason, message))| {
                let since = transition_time(existing, type_, status, now);
                json!({"type": type_, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
            })
            .collect();
        Value::Array(conditions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::runner::Runner;
    use crate::controllers::testing::{api, at, create, finish_deletions, get, replica_set, run_pod};

    fn namespace_with_content(api: &mut ApiServer) {
        create(api, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
        create(api, "/api/v1/namespaces/team/configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}));
        create(api, "/apis/apps/v1/namespaces/team/replicasets", replica_set("web", 1));
        for pod in ["loose", "running"] {
            create(api, "/api/v1/namespaces/team/pods", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod}, "spec": {"containers": [{"name": "c", "image": "hello"}]}}));
        }
        run_pod(api, "team", "running", true, at(0));
        let deleted = api.handle(&ApiRequest::delete("/api/v1/namespaces/team").as_user("admin"), at(1)).into_response();
        assert_eq!(deleted.status, 202);
    }

    fn condition(api: &ApiServer, type_: &str) -> (String, String) {
        let ns = get(api, "namespaces", "", "team").unwrap();
        let c = ns["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap().clone();
        (c["status"].as_str().unwrap().to_string(), c["message"].as_str().unwrap().to_string())
    }

    #[test]
    fn empties_a_terminating_namespace_then_lets_it_go() {
        let mut api = api();
        let mut controller = Runner::new(NamespaceController::default());
        namespace_with_content(&mut api);
        controller.run_once(&mut api, at(1));
        // Everything but the pod on a node is gone; that one waits for its kubelet.
        let left: Vec<String> = api.store().keys_in_namespace("team").map(|k| format!("{}/{}", k.resource, k.name)).collect();
        assert_eq!(left, vec!["pods/running"]);
        assert_eq!(condition(&api, "NamespaceContentRemaining"), ("True".into(), "Some resources are remaining: pods has 1 resource instances".into()));
        assert_eq!(condition(&api, "NamespaceFinalizersRemaining").0, "False");
        assert_eq!(get(&api, "namespaces", "", "team").unwrap()["status"]["phase"], "Terminating");
        finish_deletions(&mut api, at(2));
        controller.run_once(&mut api, at(2));
        assert!(get(&api, "namespaces", "", "team").is_none(), "the namespace is gone");
    }

    #[test]
    fn a_namespace_that_is_not_being_deleted_is_left_alone() {
        let mut api = api();
        let mut controller = Runner::new(NamespaceController::default());
        create(&mut api, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
        create(&mut api, "/api/v1/namespaces/team/configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}));
        controller.run_once(&mut api, at(1));
        assert!(get(&api, "configmaps", "team", "settings").is_some());
        assert!(controller.reconciler().terminating.is_empty());
    }
}
