//! PATCH: the three patch types kubectl sends. JSON merge patch (RFC 7396)
//! and JSON patch (RFC 6902) come from the `json-patch` crate; strategic
//! merge patch, Kubernetes' own, is in `strategic`.

pub mod strategic;

use crate::json_path::JsonPath;
use super::resources::RequestTarget;
use super::{ApiError, ApiRequest, ApiServer, Written};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

pub const MERGE: &str = "application/merge-patch+json";
pub const JSON: &str = "application/json-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const APPLY: &str = "application/apply-patch+yaml";

/// Applies a patch of the given media type to `original`, a `kind` object.
pub fn apply(content_type: &str, kind: &str, original: &Value, patch: &Value) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        MERGE => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a JSON merge patch must be a JSON object"));
            }
            let mut patched = original.clone();
            json_patch::merge(&mut patched, patch);
            Ok(patched)
        }
        JSON => {
            let operations: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is invalid: {e}")))?;
            let mut patched = original.clone();
            json_patch::patch(&mut patched, &operations).map_err(|e| ApiError::Unprocessable { message: format!("the JSON patch could not be applied: {e}") })?;
            Ok(patched)
        }
        STRATEGIC => strategic::apply(kind, original, patch).map_err(|e| ApiError::bad_request(format!("the strategic merge patch could not be applied: {e}"))),
        APPLY => Err(ApiError::UnsupportedMediaType {
            message: "server-side apply is not supported by Tabernetes yet; use client-side `kubectl apply` (the default)".into(),
        }),
        other => Err(ApiError::UnsupportedMediaType {
            message: format!("the body of the request was in an unknown format - accepted media types include: {JSON}, {MERGE}, {STRATEGIC} (got {other:?})"),
        }),
    }
}

impl ApiServer {
    /// Reads the object, patches it and writes the result as an update (of
    /// the status for `/status`), conditional on the revision it was read at
    /// unless the patch itself names one.
    pub(super) fn patch(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<Written, ApiError> {
        let name = target.name.clone().unwrap_or_default();
        let current = self.get(target)?;
        let body = req.body.clone().ok_or_else(|| ApiError::bad_request("the request body is required"))?;
        let mut patched = apply(&req.content_type, target.resource.kind, &current, &body)?;
        if !patched.is_object() {
            return Err(ApiError::bad_request("the patch did not produce an object"));
        }
        if patched.at(&["metadata", "resourceVersion"]).is_none_or(Value::is_null) {
            patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        }
        for (field, want) in [("name", name.as_str()), ("namespace", target.namespace.as_deref().unwrap_or(""))] {
            let have = patched.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).unwrap_or("");
            if have != want && !(field == "namespace" && !target.resource.namespaced && have.is_empty()) {
                return Err(ApiError::bad_request(format!("metadata.{field} may not be changed by a patch ({have:?} instead of {want:?})")));
            }
        }
        self.update(req, target, patched, now)
    }
}
