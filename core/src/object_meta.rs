//! Reading an object's metadata from its stored JSON: what the API server's
//! deletion and every controller ask of any object, whatever its kind.

use crate::json_path::JsonPath;
use serde_json::Value;
use std::collections::BTreeMap;

pub fn uid(object: &Value) -> &str {
    object.at(&["metadata", "uid"]).and_then(Value::as_str).unwrap_or("")
}

pub fn name(object: &Value) -> &str {
    object.at(&["metadata", "name"]).and_then(Value::as_str).unwrap_or("")
}

pub fn namespace(object: &Value) -> &str {
    object.at(&["metadata", "namespace"]).and_then(Value::as_str).unwrap_or("")
}

pub fn is_being_deleted(object: &Value) -> bool {
    object.at(&["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null())
}

pub fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .at(&["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .at(&["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Whether something still holds the object back from deletion: a metadata
/// finalizer, or (a Namespace) one of its `spec.finalizers`.
pub fn is_held(object: &Value) -> bool {
    let namespace_finalizers = object.get("kind").and_then(Value::as_str) == Some("Namespace")
        && object.at(&["spec", "finalizers"]).and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    !finalizers(object).is_empty() || namespace_finalizers
}
