//! ControllerRevisions: the history of a DaemonSet's or StatefulSet's pod
//! template, after upstream's `pkg/controller/history`. Each template the
//! owner has had is stored once, as a ControllerRevision it controls, named
//! `<owner>-<hash of the template>` and numbered in order; pods carry the
//! hash in their `controller-revision-hash` label, so a controller tells
//! which pods are up to date and can roll back to an older template by
//! reusing its revision. Old revisions no pod uses are pruned beyond
//! `revisionHistoryLimit`.

use crate::json_path::JsonPath;
use super::ownership::{controller_of, controller_ref, key_of, labels, name, namespace, uid};
use super::pod_template_hash;
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::CONTROLLER_REVISIONS;
use crate::apiserver::{ApiRequest, ApiServer};
use crate::store::Store;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

pub const HASH_LABEL: &str = "controller-revision-hash";

/// How many name collisions to try before giving up for this sync.
const MAX_COLLISIONS: i32 = 10;

/// The revisions `owner` controls, oldest revision first.
pub fn revisions_of(store: &Store, owner: &Value) -> Vec<Arc<Value>> {
    let owner_uid = uid(owner);
    let mut revisions: Vec<Arc<Value>> = store
        .list(&CONTROLLER_REVISIONS.storage_name(), Some(namespace(owner)))
        .filter(|(_, r)| controller_of(r).is_some_and(|c| c["uid"] == owner_uid))
        .map(|(_, r)| r.clone())
        .collect();
    revisions.sort_by_key(|r| (number(r), name(r).to_string()));
    revisions
}

pub fn number(revision: &Value) -> i64 {
    revision["revision"].as_i64().unwrap_or(0)
}

/// The template a revision holds.
pub fn template_of(revision: &Value) -> Option<PodTemplateSpec> {
    serde_json::from_value(revision.at(&["data", "spec", "template"])?.clone()).ok()
}

/// The hash a revision's pods are labelled with.
pub fn hash_of(revision: &Value) -> String {
    labels(revision).get(HASH_LABEL).cloned().unwrap_or_default()
}

/// What a revision stores: the template, as a patch that replaces it
/// (upstream's getPatch), without the hash label.
fn data(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(pod_template_hash::without_hash(template)).unwrap_or(json!({}));
    if let Some(labels) = template.at_mut(&["metadata", "labels"]).and_then(Value::as_object_mut) {
        labels.remove(HASH_LABEL);
    }
    template["$patch"] = json!("replace");
    json!({"spec": {"template": template}})
}

/// The outcome of bringing the history up to date.
pub struct History {
    /// The revision of the current template.
    pub current: Arc<Value>,
    /// The owner's collision count after any name collision.
    pub collision_count: i32,
}

/// Finds or creates the revision of `template`, making it the newest.
/// `collision_count` is the owner's `status.collisionCount`.
pub fn sync_current(api: &mut ApiServer, owner: &Value, template: &PodTemplateSpec, collision_count: i32, now: Timestamp) -> Option<History> {
    let revisions = revisions_of(api.store(), owner);
    let wanted = data(template);
    let newest = revisions.iter().map(|r| number(r)).max().unwrap_or(0);
    if let Some(existing) = revisions.iter().rev().find(|r| r.get("data") == Some(&wanted)).cloned() {
        // Duplicates of the same template (from a race upstream) keep only the newest.
        for duplicate in revisions.iter().filter(|r| r.get("data") == Some(&wanted) && uid(r) != uid(&existing)) {
            delete(api, duplicate, now);
        }
        if number(&existing) == newest {
            return Some(History { current: existing, collision_count });
        }
        // Rolling back to an older template makes its revision the newest.
        let mut renumbered = (*existing).clone();
        renumbered["revision"] = json!(newest + 1);
        let path = CONTROLLER_REVISIONS.path(Some(namespace(owner)), Some(name(&existing)));
        let response = api.handle(&ApiRequest::put(path, renumbered).as_user(CONTROLLER_MANAGER), now).into_response();
        return response.json_body().filter(|_| response.is_success()).map(|v| History { current: Arc::new(v.clone()), collision_count });
    }
    for collision_count in collision_count..collision_count + MAX_COLLISIONS {
        let hash = pod_template_hash::compute(template, Some(collision_count).filter(|c| *c > 0));
        let mut revision_labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        revision_labels.insert(HASH_LABEL.into(), hash.clone());
        let body = json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": format!("{}-{hash}", name(owner)), "namespace": namespace(owner), "labels": revision_labels, "ownerReferences": [controller_ref(owner)]},
            "data": wanted,
            "revision": newest + 1,
        });
        let response = api.handle(&ApiRequest::post(CONTROLLER_REVISIONS.path(Some(namespace(owner)), None), body).as_user(CONTROLLER_MANAGER), now).into_response();
        if response.is_success() {
            return response.json_body().map(|v| History { current: Arc::new(v.clone()), collision_count });
        }
        if response.status != 409 {
            return None;
        }
        // A revision of that name holds another template: hash again with
        // the next collision count.
    }
    None
}

/// Deletes the oldest revisions beyond `limit`, never the current one nor
/// one that a live pod still uses.
pub fn prune(api: &mut ApiServer, owner: &Value, limit: i32, keep: &BTreeSet<String>, now: Timestamp) {
    let revisions = revisions_of(api.store(), owner);
    let old: Vec<&Arc<Value>> = revisions.iter().filter(|r| !keep.contains(&hash_of(r)) && !keep.contains(name(r))).collect();
    let excess = old.len() as i64 - i64::from(limit.max(0));
    for revision in old.into_iter().take(excess.max(0) as usize) {
        delete(api, revision, now);
    }
}

fn delete(api: &mut ApiServer, revision: &Value, now: Timestamp) {
    let key = key_of(&CONTROLLER_REVISIONS, revision);
    let path = CONTROLLER_REVISIONS.path(Some(&key.namespace), Some(&key.name));
    api.handle(&ApiRequest::delete(path).as_user(CONTROLLER_MANAGER), now);
}
