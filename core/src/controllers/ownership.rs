//! Who controls what. An object's `ownerReferences` name its owners; at most
//! one of them is its controller. A controller claims the objects its
//! selector matches: it adopts orphans and releases objects it controls that
//! no longer match, as client-go's ControllerRefManager does, so that
//! relabelling a pod takes it out of its ReplicaSet and a bare pod with the
//! right labels is taken in.

use crate::json_path::JsonPath;
use super::CONTROLLER_MANAGER;
pub use crate::object_meta::{finalizers, is_being_deleted, labels, name, namespace, uid};
use crate::apiserver::resources::{ResourceType, ALL};
use crate::apiserver::{ApiRequest, ApiServer};
use crate::store::{ObjectKey, StoreEvent};
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn owner_references(object: &Value) -> &[Value] {
    object.at(&["metadata", "ownerReferences"]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The owner reference marked `controller: true`, if any.
pub fn controller_of(object: &Value) -> Option<&Value> {
    owner_references(object).iter().find(|r| r["controller"] == true)
}

/// The reference an owner puts on what it creates or adopts. It blocks the
/// owner's foreground deletion until the dependent is gone.
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The resource stored under `storage_name` (`pods`, `replicasets.apps`).
pub fn resource_named(storage_name: &str) -> Option<&'static ResourceType> {
    ALL.iter().find(|r| r.is_stored() && r.storage_name() == storage_name)
}

/// The URL of a stored object.
pub fn path_of(key: &ObjectKey) -> Option<String> {
    let resource = resource_named(&key.resource)?;
    Some(resource.path(resource.namespaced.then_some(key.namespace.as_str()), Some(&key.name)))
}

pub fn key_of(resource: &ResourceType, object: &Value) -> ObjectKey {
    let ns = if resource.namespaced { namespace(object) } else { "" };
    ObjectKey::new(resource.storage_name(), ns, name(object))
}

/// Writes a changed object back, conditional on the resourceVersion it was
/// read at, and returns what was stored (None if the write was refused,
/// e.g. because the object changed meanwhile: its next event requeues it).
pub fn update(api: &mut ApiServer, key: &ObjectKey, object: Value, now: Timestamp) -> Option<Arc<Value>> {
    let path = path_of(key)?;
    let response = api.handle(&ApiRequest::put(path, object).as_user(CONTROLLER_MANAGER), now).into_response();
    if !response.is_success() {
        return None;
    }
    response.json_body().cloned().map(Arc::new)
}

/// The key of the `kind` owner (stored as `owner`) that controls the
/// changed object, before and after the change: a controller's sync is due
/// when one of its children changes.
pub fn controller_keys(event: &StoreEvent, kind: &str, owner: &ResourceType, keys: &mut Vec<ObjectKey>) {
    for object in [event.previous.as_deref(), Some(event.object.as_ref())].into_iter().flatten() {
        if let Some(reference) = controller_of(object).filter(|r| r["kind"] == kind) {
            keys.push(ObjectKey::new(owner.storage_name(), event.key.namespace.as_str(), reference["name"].as_str().unwrap_or("")));
        }
    }
}

/// Writes `status` onto the latest stored version of `object` through its
/// status subresource, unless it is already what is stored. Returns what
/// was stored.
pub fn write_status(api: &mut ApiServer, resource: &ResourceType, object: &Value, status: Value, now: Timestamp) -> Option<Arc<Value>> {
    let key = key_of(resource, object);
    let latest = api.store().get(&key).cloned()?;
    if latest.get("status") == Some(&status) {
        return Some(latest);
    }
    let mut body = (*latest).clone();
    body["status"] = status;
    let path = format!("{}/status", path_of(&key)?);
    let response = api.handle(&ApiRequest::put(path, body).as_user(CONTROLLER_MANAGER), now).into_response();
    response.json_body().filter(|_| response.is_success()).map(|b| Arc::new(b.clone()))
}

/// The objects among `candidates` (all in the owner's namespace) that
/// `owner` controls after adopting matching orphans and releasing what it
/// controls but no longer matches. An owner being deleted adopts nothing
/// and releases nothing, so its dependents stay with it for the garbage
/// collector.
pub fn claim(
    api: &mut ApiServer,
    owner: &Value,
    resource: &ResourceType,
    candidates: Vec<Arc<Value>>,
    matches: impl Fn(&Value) -> bool,
    now: Timestamp,
) -> Vec<Arc<Value>> {
    let owner_uid = uid(owner).to_string();
    let owner_deleting = is_being_deleted(owner);
    let mut claimed = Vec::new();
    for candidate in candidates {
        let key = key_of(resource, &candidate);
        match controller_of(&candidate) {
            Some(r) if r["uid"] != owner_uid.as_str() => {}
            Some(_) if matches(&candidate) => claimed.push(candidate),
            Some(_) if owner_deleting => {}
            Some(_) => {
                let mut released = (*candidate).clone();
                let kept: Vec<Value> = owner_references(&candidate).iter().filter(|r| r["uid"] != owner_uid.as_str()).cloned().collect();
                set_owner_references(&mut released, kept);
                update(api, &key, released, now);
            }
            None if owner_deleting || is_being_deleted(&candidate) || !matches(&candidate) => {}
            None => {
                let mut adopted = (*candidate).clone();
                let mut refs = owner_references(&candidate).to_vec();
                refs.push(controller_ref(owner));
                set_owner_references(&mut adopted, refs);
                if let Some(stored) = update(api, &key, adopted, now) {
                    claimed.push(stored);
                }
            }
        }
    }
    claimed
}

/// Sets `metadata.ownerReferences`, leaving the field out when empty.
pub fn set_owner_references(object: &mut Value, refs: Vec<Value>) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if refs.is_empty() {
        meta.remove("ownerReferences");
    } else {
        meta.insert("ownerReferences".into(), Value::Array(refs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn pod(api: &mut ApiServer, name: &str, app: &str, owner: Option<&Value>) -> Arc<Value> {
        let refs = owner.map(|o| vec![controller_ref(o)]).unwrap_or_default();
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}, "ownerReferences": refs},
            "spec": {"containers": [{"name": "c", "image": "hello"}]}});
        let response = api.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", body).as_user(CONTROLLER_MANAGER), now()).into_response();
        assert_eq!(response.status, 201, "{}", response.message());
        Arc::new(response.json_body().unwrap().clone())
    }

    #[test]
    fn claims_adopt_matching_orphans_and_release_strays() {
        let owner = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default", "uid": "owner-uid"}});
        let other = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "other", "namespace": "default", "uid": "other-uid"}});
        // (pod, its app label, its controller, whether the owner ends up controlling it)
        let cases = [
            ("orphan-match", "web", None, true),
            ("orphan-other", "db", None, false),
            ("ours-match", "web", Some(&owner), true),
            ("ours-stray", "db", Some(&owner), false),
            ("theirs-match", "web", Some(&other), false),
        ];
        let mut api = ApiServer::new(1, now());
        let pods: Vec<Arc<Value>> = cases.iter().map(|(n, app, o, _)| pod(&mut api, n, app, *o)).collect();
        let claimed = claim(&mut api, &owner, &crate::apiserver::resources::PODS, pods, |p| labels(p).get("app").map(String::as_str) == Some("web"), now());
        let names: Vec<&str> = claimed.iter().map(|p| name(p)).collect();
        for (pod_name, _, _, want) in cases {
            assert_eq!(names.contains(&pod_name), want, "{pod_name}");
            let stored = api.store().get(&ObjectKey::new("pods", "default", pod_name)).unwrap();
            let controlled = controller_of(stored).is_some_and(|r| r["uid"] == "owner-uid");
            assert_eq!(controlled, want, "{pod_name} in the store");
        }
    }
}
