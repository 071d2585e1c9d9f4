//! The garbage collector: objects whose owners are gone are deleted, and
//! the propagation policy of a delete is carried out.
//!
//! - Background (the default): the owner goes at once; its dependents, now
//!   without an owner, are deleted afterwards.
//! - Foreground: the owner waits, marked for deletion with the
//!   `foregroundDeletion` finalizer, while its dependents are deleted
//!   (themselves in the foreground when they have dependents); the
//!   finalizer goes when no dependent with `blockOwnerDeletion` is left.
//! - Orphan: the owner waits with the `orphan` finalizer while it is
//!   removed from its dependents' ownerReferences; then it goes, and they
//!   stay.
//!
//! As upstream, an object that still has an owner that is not being
//! deleted (a "solid" owner) is never collected: only the references to
//! missing or foreground-deleting owners are removed from it.

use super::owner_graph::OwnerGraph;
use super::ownership::{finalizers, is_being_deleted, owner_references, path_of, set_owner_references, uid, update};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::by_kind;
use crate::apiserver::{ApiRequest, ApiServer, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct GarbageCollector {
    graph: OwnerGraph,
}

/// How an owner reference stands.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    /// Exists and is not being deleted in the foreground.
    Solid,
    /// Gone, or replaced by another object of the same name.
    Dangling,
    /// Being deleted in the foreground: waiting for its dependents.
    Waiting,
}

impl Reconciler for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        self.graph.apply(event);
        self.note(event, keys);
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        self.graph.rebuild(store);
        store.iter().filter(|(_, object)| !owner_references(object).is_empty() || holds_gc_finalizer(object)).map(|(key, _)| key.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        self.process(ctx.api, key, ctx.now);
        Ok(Action::await_change())
    }
}

impl GarbageCollector {
    /// Queues what a change may have made collectable.
    fn note(&self, event: &StoreEvent, keys: &mut Vec<ObjectKey>) {
        let object = event.object.as_ref();
        let refs = owner_references(object);
        if event.event_type == EventType::Deleted {
            // Its dependents may now be orphans; its owners may be waiting for it.
            keys.extend(self.graph.dependents(uid(object)));
            self.owners(refs, keys);
            return;
        }
        if holds_gc_finalizer(object) {
            keys.push(event.key.clone());
        }
        let before = event.previous.as_deref().map(owner_references).unwrap_or_default();
        if before != refs {
            if !refs.is_empty() {
                keys.push(event.key.clone());
            }
            // An owner this object no longer blocks may be able to go.
            let dropped: Vec<Value> = before.iter().filter(|r| !refs.contains(r)).cloned().collect();
            self.owners(&dropped, keys);
        }
    }

    fn owners(&self, refs: &[Value], keys: &mut Vec<ObjectKey>) {
        for r in refs {
            if let Some(key) = r["uid"].as_str().and_then(|u| self.graph.key_of(u)) {
                keys.push(key.clone());
            }
        }
    }

    fn process(&mut self, api: &mut ApiServer, key: &ObjectKey, now: Timestamp) {
        let Some(object) = api.store().get(key).cloned() else { return };
        if is_being_deleted(&object) {
            let held = finalizers(&object);
            if held.iter().any(|f| f == FOREGROUND_FINALIZER) {
                self.delete_dependents_first(api, key, &object, now);
            } else if held.iter().any(|f| f == ORPHAN_FINALIZER) {
                self.orphan_dependents(api, key, &object, now);
            }
            return;
        }
        if !owner_references(&object).is_empty() {
            self.attempt_to_delete(api, key, now);
        }
    }

    /// Deletes an object none of whose owners remains, or drops its
    /// references to owners that are gone while another one remains.
    fn attempt_to_delete(&mut self, api: &mut ApiServer, key: &ObjectKey, now: Timestamp) {
        let Some(object) = api.store().get(key).cloned() else { return };
        if is_being_deleted(&object) {
            return;
        }
        let refs = owner_references(&object).to_vec();
        let states: Vec<Owner> = refs.iter().map(|r| owner_state(api, key, r)).collect();
        let any = |s: Owner| states.contains(&s);
        if any(Owner::Solid) {
            if any(Owner::Dangling) || any(Owner::Waiting) {
                let kept: Vec<Value> = refs.iter().zip(&states).filter(|(_, s)| **s == Owner::Solid).map(|(r, _)| r.clone()).collect();
                let mut changed = (*object).clone();
                set_owner_references(&mut changed, kept);
                update(api, key, changed, now);
            }
            return;
        }
        // With its owner waiting for it, an object that has dependents of
        // its own must wait for them too: it goes in the foreground.
        let policy = if any(Owner::Waiting) && self.graph.has_dependents(uid(&object)) {
            "Foreground"
        } else {
            let held = finalizers(&object);
            if held.iter().any(|f| f == ORPHAN_FINALIZER) {
                "Orphan"
            } else if held.iter().any(|f| f == FOREGROUND_FINALIZER) {
                "Foreground"
            } else {
                "Background"
            }
        };
        delete(api, key, &object, policy, now);
    }

    /// Foreground deletion: delete the dependents that block the owner, and
    /// let the owner go when none is left.
    fn delete_dependents_first(&mut self, api: &mut ApiServer, key: &ObjectKey, owner: &Arc<Value>, now: Timestamp) {
        let owner_uid = uid(owner).to_string();
        let blocking: Vec<ObjectKey> = self
            .graph
            .dependents(&owner_uid)
            .into_iter()
            .filter(|k| {
                api.store().get(k).is_some_and(|d| owner_references(d).iter().any(|r| r["uid"] == owner_uid.as_str() && r["blockOwnerDeletion"] == true))
            })
            .collect();
        if blocking.is_empty() {
            remove_finalizer(api, key, owner, FOREGROUND_FINALIZER, now);
            return;
        }
        for dependent in blocking {
            let deleting_its_own = api.store().get(&dependent).is_some_and(|d| is_being_deleted(d) && finalizers(d).iter().any(|f| f == FOREGROUND_FINALIZER));
            if !deleting_its_own {
                self.attempt_to_delete(api, &dependent, now);
            }
        }
    }

    /// Orphan deletion: remove the owner from every dependent, then let it go.
    fn orphan_dependents(&mut self, api: &mut ApiServer, key: &ObjectKey, owner: &Arc<Value>, now: Timestamp) {
        let owner_uid = uid(owner).to_string();
        for dependent in self.graph.dependents(&owner_uid) {
            let Some(object) = api.store().get(&dependent).cloned() else { continue };
            let kept: Vec<Value> = owner_references(&object).iter().filter(|r| r["uid"] != owner_uid.as_str()).cloned().collect();
            let mut changed = (*object).clone();
            set_owner_references(&mut changed, kept);
            update(api, &dependent, changed, now);
        }
        remove_finalizer(api, key, owner, ORPHAN_FINALIZER, now);
    }
}

fn holds_gc_finalizer(object: &Value) -> bool {
    is_being_deleted(object) && finalizers(object).iter().any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER)
}

/// Looks the owner up where it must live: its kind's resource, in the
/// dependent's namespace unless the kind is cluster-scoped. An owner of a
/// kind this cluster does not serve cannot be checked, so counts as solid.
fn owner_state(api: &ApiServer, dependent: &ObjectKey, reference: &Value) -> Owner {
    let (api_version, kind) = (reference["apiVersion"].as_str().unwrap_or(""), reference["kind"].as_str().unwrap_or(""));
    let Some(resource) = by_kind(api_version, kind) else { return Owner::Solid };
    let namespace = if resource.namespaced { dependent.namespace.as_str() } else { "" };
    let owner_key = ObjectKey::new(resource.storage_name(), namespace, reference["name"].as_str().unwrap_or(""));
    match api.store().get(&owner_key) {
        Some(owner) if owner["metadata"]["uid"] == reference["uid"] => {
            if is_being_deleted(owner) && finalizers(owner).iter().any(|f| f == FOREGROUND_FINALIZER) {
                Owner::Waiting
            } else {
                Owner::Solid
            }
        }
        _ => Owner::Dangling,
    }
}

/// Deletes with a propagation policy, only if it is still the same object.
fn delete(api: &mut ApiServer, key: &ObjectKey, object: &Value, policy: &str, now: Timestamp) {
    let Some(path) = path_of(key) else { return };
    let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy, "preconditions": {"uid": uid(object)}});
    api.handle(&ApiRequest::delete(path).with_body(options).as_user(CONTROLLER_MANAGER), now);
}

fn remove_finalizer(api: &mut ApiServer, key: &ObjectKey, object: &Value, finalizer: &str, now: Timestamp) {
    let kept: Vec<String> = finalizers(object).into_iter().filter(|f| f != finalizer).collect();
    let mut changed = object.clone();
    match changed["metadata"].as_object_mut() {
        Some(meta) if kept.is_empty() => drop(meta.remove("finalizers")),
        Some(meta) => drop(meta.insert("finalizers".into(), json!(kept))),
        None => return,
    }
    update(api, key, changed, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::ownership::controller_ref;
    use crate::controllers::runner::Runner;
    use crate::controllers::testing::{api, at, create, finish_deletions, get, run_pod};

    /// An RS named `rs` with pods `rs-0`, `rs-1` it controls (made by hand:
    /// no ReplicaSet controller runs here). The pods are bound and running.
    fn family(api: &mut ApiServer) -> Value {
        let rs = create(api, "/apis/apps/v1/namespaces/default/replicasets", crate::controllers::testing::replica_set("rs", 2));
        for i in 0..2 {
            create(api, "/api/v1/namespaces/default/pods", json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("rs-{i}"), "labels": {"app": "rs"}, "ownerReferences": [controller_ref(&rs)]},
                "spec": {"containers": [{"name": "c", "image": "hello"}]}}));
            run_pod(api, "default", &format!("rs-{i}"), true, at(0));
        }
        rs
    }

    fn delete_rs(api: &mut ApiServer, policy: &str) -> u16 {
        let request = ApiRequest::delete("/apis/apps/v1/namespaces/default/replicasets/rs").with_query("propagationPolicy", policy);
        api.handle(&request.as_user("admin"), at(1)).into_response().status
    }

    /// (what is left of rs, rs-0, rs-1): "gone", "deleting", "owned", "orphan".
    fn state(api: &ApiServer) -> Vec<&'static str> {
        let one = |resource: &str, name: &str| match get(api, resource, "default", name) {
            None => "gone",
            Some(o) if is_being_deleted(&o) => "deleting",
            Some(o) if owner_references(&o).is_empty() => "orphan",
            Some(_) => "owned",
        };
        vec![one("replicasets.apps", "rs"), one("pods", "rs-0"), one("pods", "rs-1")]
    }

    #[test]
    fn carries_out_each_propagation_policy() {
        // (policy, status of the DELETE, state after the collector ran, state after the kubelet finished)
        let cases = [
            ("Background", 200, ["gone", "deleting", "deleting"], ["gone", "gone", "gone"]),
            ("Foreground", 202, ["deleting", "deleting", "deleting"], ["gone", "gone", "gone"]),
            ("Orphan", 202, ["gone", "orphan", "orphan"], ["gone", "orphan", "orphan"]),
        ];
        for (policy, code, collected, finished) in cases {
            let mut api = api();
            let mut gc = Runner::new(GarbageCollector::default());
            family(&mut api);
            gc.run_once(&mut api, at(0));
            assert_eq!(delete_rs(&mut api, policy), code, "{policy}");
            for _ in 0..3 {
                gc.run_once(&mut api, at(1));
            }
            assert_eq!(state(&api), collected, "{policy}: after collecting");
            finish_deletions(&mut api, at(2));
            for _ in 0..3 {
                gc.run_once(&mut api, at(2));
            }
            assert_eq!(state(&api), finished, "{policy}: after the kubelet");
        }
    }

    #[test]
    fn a_dependent_with_another_live_owner_only_loses_the_dead_reference() {
        let mut api = api();
        let mut gc = Runner::new(GarbageCollector::default());
        let rs = family(&mut api);
        let keeper = create(&mut api, "/api/v1/namespaces/default/configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keeper"}}));
        let mut pod = (*get(&api, "pods", "default", "rs-0").unwrap()).clone();
        pod["metadata"]["ownerReferences"] = json!([controller_ref(&rs), {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": keeper["metadata"]["uid"]}]);
        update(&mut api, &ObjectKey::new("pods", "default", "rs-0"), pod, at(0)).unwrap();
        delete_rs(&mut api, "Background");
        gc.run_once(&mut api, at(1));
        let survivor = get(&api, "pods", "default", "rs-0").unwrap();
        assert!(!is_being_deleted(&survivor));
        let owners: Vec<&str> = owner_references(&survivor).iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(owners, vec!["keeper"]);
        assert!(is_being_deleted(&get(&api, "pods", "default", "rs-1").unwrap()));
    }

    #[test]
    fn an_object_created_with_a_missing_owner_is_collected() {
        let mut api = api();
        let mut gc = Runner::new(GarbageCollector::default());
        gc.run_once(&mut api, at(0));
        create(&mut api, "/api/v1/namespaces/default/configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "stray", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nope", "uid": "no-such-uid"}]}}));
        gc.run_once(&mut api, at(1));
        assert!(get(&api, "configmaps", "default", "stray").is_none());
    }
}
