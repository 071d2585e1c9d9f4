//! The scale subresource (`autoscaling/v1` Scale) of Deployments,
//! ReplicaSets and StatefulSets: what `kubectl scale` and the HPA use.

use crate::json_path::JsonPath;
use super::resources::RequestTarget;
use super::{patch, ApiError, ApiRequest, ApiServer};
use crate::labels::selector_string;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

impl ApiServer {
    pub(super) fn get_scale(&self, target: &RequestTarget) -> Result<Value, ApiError> {
        Ok(scale_of(self.get(target)?.as_ref()))
    }

    pub(super) fn update_scale(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<Value, ApiError> {
        let scale = Self::body(req)?;
        self.write_scale(req, target, scale, now)
    }

    pub(super) fn patch_scale(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<Value, ApiError> {
        let current = self.get_scale(target)?;
        let body = req.body.clone().ok_or_else(|| ApiError::bad_request("the request body is required"))?;
        let patched = patch::apply(&req.content_type, "Scale", &current, &body)?;
        self.write_scale(req, target, patched, now)
    }

    fn write_scale(&mut self, req: &ApiRequest, target: &RequestTarget, scale: Value, now: Timestamp) -> Result<Value, ApiError> {
        let replicas = scale.at(&["spec", "replicas"]).and_then(Value::as_i64).unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::Invalid {
                group: "autoscaling".into(),
                kind: "Scale".into(),
                name: target.name.clone().unwrap_or_default(),
                causes: vec![super::status::FieldError::invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            });
        }
        let mut object = (*self.get(target)?).clone();
        object["spec"]["replicas"] = json!(replicas);
        // A Scale that names a resourceVersion is a conditional write of its parent.
        match scale.at(&["metadata", "resourceVersion"]).and_then(Value::as_str).filter(|rv| !rv.is_empty()) {
            Some(rv) => object["metadata"]["resourceVersion"] = json!(rv),
            None => {
                if let Some(meta) = object["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                }
            }
        }
        let main = RequestTarget { subresource: None, ..target.clone() };
        let update = ApiRequest { body: None, ..req.clone() };
        let updated = self.update(&update, &main, object, now)?;
        Ok(scale_of(&updated.object))
    }
}

/// The Scale view of a workload object.
fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object
        .at(&["spec", "selector"])
        .and_then(|s| serde_json::from_value::<LabelSelector>(s.clone()).ok())
        .map(|s| selector_string(&s))
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object.at(&["spec", "replicas"]).cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.at(&["status", "replicas"]).cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}
