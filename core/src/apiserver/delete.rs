//! Deletion as Kubernetes' generic registry does it: preconditions, grace
//! periods (pods on a node are marked and the kubelet finishes the job),
//! finalizers that hold an object until its controllers let go, and the
//! propagation policy that the garbage collector carries out.

use crate::json_path::JsonPath;
use super::resources::{RequestTarget, NAMESPACES, PODS};
use super::{is_dry_run, ApiError, ApiRequest, ApiResponse, ApiServer, BUILTIN_NAMESPACES};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use crate::object_meta;
use crate::store::ObjectKey;
use serde_json::{json, Value};
use std::sync::Arc;

/// Held by an owner while the garbage collector deletes its dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Held by an owner while the garbage collector removes it from its dependents' ownerReferences.
pub const ORPHAN_FINALIZER: &str = "orphan";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Foreground,
    Background,
    Orphan,
}

/// DeleteOptions, from the body or the query (kubectl uses both).
#[derive(Debug, Default)]
struct Options {
    grace_period: Option<i64>,
    propagation: Option<Propagation>,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl Options {
    fn of(req: &ApiRequest) -> Result<Self, ApiError> {
        let body = req.body.clone().unwrap_or(Value::Null);
        let text = |field: &str| body.get(field).and_then(Value::as_str).map(String::from).or_else(|| req.query_param(field)).filter(|s| !s.is_empty());
        let grace_period = match body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            Some(g) => Some(g),
            None => match text("gracePeriodSeconds") {
                Some(g) => Some(g.parse().map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}")))?),
                None => None,
            },
        };
        let orphan = body.get("orphanDependents").and_then(Value::as_bool).or_else(|| text("orphanDependents").map(|_| req.flag("orphanDependents")));
        let propagation = match (text("propagationPolicy").as_deref(), orphan) {
            (Some("Foreground"), _) => Some(Propagation::Foreground),
            (Some("Background"), _) => Some(Propagation::Background),
            (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
            (None, _) => None,
            (Some(other), _) => {
                return Err(ApiError::Invalid {
                    group: "meta.k8s.io".into(),
                    kind: "DeleteOptions".into(),
                    name: String::new(),
                    causes: vec![super::status::FieldError::not_supported("propagationPolicy", other, &["Foreground", "Background", "Orphan"])],
                })
            }
        };
        let preconditions = body.get("preconditions").cloned().unwrap_or(Value::Null);
        let pre = |f: &str| preconditions.get(f).and_then(Value::as_str).map(String::from);
        Ok(Options { grace_period, propagation, uid: pre("uid"), resource_version: pre("resourceVersion") })
    }
}

impl ApiServer {
    pub(super) fn delete(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<ApiResponse, ApiError> {
        let name = target.name.clone().unwrap_or_default();
        let old = self.get(target)?;
        let options = Options::of(req)?;
        let conflict = |what: &str, want: &str, have: &str| ApiError::Conflict {
            resource: target.resource.storage_name().into_owned(),
            name: name.clone(),
            message: format!("Precondition failed: {what} in precondition: {want}, {what} in object meta: {have}"),
        };
        let meta = &old["metadata"];
        let field = |f: &str| meta.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(uid) = options.uid.as_deref().filter(|u| *u != field("uid")) {
            return Err(conflict("UID", uid, &field("uid")));
        }
        if let Some(rv) = options.resource_version.as_deref().filter(|r| *r != field("resourceVersion")) {
            return Err(conflict("ResourceVersion", rv, &field("resourceVersion")));
        }
        if target.resource.plural == NAMESPACES.plural && BUILTIN_NAMESPACES[..3].contains(&name.as_str()) {
            return Err(ApiError::Forbidden { message: format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted") });
        }
        let mut object = (*old).clone();
        let grace = self.grace_period(target, &old, options.grace_period);
        let mut finalizers = object_meta::finalizers(&old);
        // The policy becomes a finalizer the garbage collector acts on.
        let propagation = options.propagation.unwrap_or(Propagation::Background);
        let policy_finalizer = match propagation {
            Propagation::Foreground => Some(FOREGROUND_FINALIZER),
            Propagation::Orphan => Some(ORPHAN_FINALIZER),
            Propagation::Background => None,
        };
        if let Some(f) = policy_finalizer {
            finalizers.retain(|x| x != FOREGROUND_FINALIZER && x != ORPHAN_FINALIZER);
            finalizers.push(f.to_string());
        }
        if !finalizers.is_empty() {
            object["metadata"]["finalizers"] = json!(finalizers);
        }
        let already_marked = object_meta::is_being_deleted(&old);
        if !object_meta::is_held(&object) && grace == 0 {
            if is_dry_run(req)? {
                return Ok(ApiResponse::json(200, object));
            }
            let deleted = self.store.delete(&Self::key(target, &name), None).map_err(|e| Self::write_error(target, &name, e))?;
            self.forget(target, &deleted);
            return Ok(ApiResponse::json(200, (*deleted).clone()));
        }
        // Deletion is pending: mark the object and let its owner of the
        // finalizer (or the kubelet, for a grace period) finish it.
        let previous_grace = meta.get("deletionGracePeriodSeconds").and_then(Value::as_i64);
        if !already_marked || previous_grace.is_some_and(|p| grace < p) {
            let deadline = now.checked_add(SignedDuration::from_secs(grace)).unwrap_or(now);
            object["metadata"]["deletionTimestamp"] = json!(Time(deadline));
            object["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        }
        if target.resource.plural == NAMESPACES.plural {
            object["status"]["phase"] = json!("Terminating");
        }
        if is_dry_run(req)? {
            return Ok(ApiResponse::json(200, object));
        }
        if object == *old {
            return Ok(ApiResponse::json(200, object));
        }
        let stored = self.store.update(Self::key(target, &name), object, None).map_err(|e| Self::write_error(target, &name, e))?;
        // 202: accepted, the object is still there until its deletion completes.
        Ok(ApiResponse::json(202, (*stored).clone()))
    }

    /// How long a deleted object waits: only pods that may still run on a node
    /// get a grace period (the request's, else their spec's); the rest go at once.
    fn grace_period(&self, target: &RequestTarget, object: &Value, requested: Option<i64>) -> i64 {
        if target.resource.plural != PODS.plural {
            return 0;
        }
        let on_node = object.at(&["spec", "nodeName"]).and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        let finished = matches!(object.at(&["status", "phase"]).and_then(Value::as_str), Some("Succeeded" | "Failed"));
        if !on_node || finished {
            return 0;
        }
        let spec_grace = object.at(&["spec", "terminationGracePeriodSeconds"]).and_then(Value::as_i64).unwrap_or(30);
        // A grace of 0 from a client means "as soon as possible"; only a forced
        // delete with 0 skips the kubelet, and kubectl sends 1 for --now.
        requested.unwrap_or(spec_grace).max(0)
    }

    /// Drops what the API server keeps beside a deleted object.
    pub(super) fn forget(&mut self, target: &RequestTarget, deleted: &Arc<Value>) {
        if target.resource.plural == PODS.plural {
            if let Some(uid) = deleted.at(&["metadata", "uid"]).and_then(Value::as_str) {
                self.logs.remove_pod(uid);
            }
        }
    }

    pub(super) fn delete_collection(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<ApiResponse, ApiError> {
        let (labels, fields) = Self::selectors(req, target.resource)?;
        // Keys, not names: a collection across namespaces deletes in each.
        let keys: Vec<ObjectKey> = self
            .store
            .list(&target.resource.storage_name(), target.namespace.as_deref())
            .filter(|(_, o)| labels.matches(o) && fields.matches(o))
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::new();
        for key in keys {
            let namespace = (!key.namespace.is_empty()).then_some(key.namespace);
            let one = RequestTarget { name: Some(key.name), namespace, ..target.clone() };
            let response = self.delete(req, &one, now)?;
            items.extend(response.json_body().cloned());
        }
        Ok(ApiResponse::json(200, json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version(),
            "metadata": {"resourceVersion": self.store.revision().to_string()},
            "items": items,
        })))
    }
}
