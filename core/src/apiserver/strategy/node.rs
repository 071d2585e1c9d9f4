//! Nodes: taints must name a known effect; capacity must be quantities.

use crate::apiserver::status::FieldError;
use crate::quantity;
use k8s_openapi::api::core::v1::Node;

pub fn validate(node: &Node) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
    for (i, taint) in node.spec.iter().flat_map(|s| s.taints.iter().flatten()).enumerate() {
        if taint.key.is_empty() {
            errors.push(FieldError::required(format!("spec.taints[{i}].key")));
        }
        if !effects.contains(&taint.effect.as_str()) {
            errors.push(FieldError::not_supported(format!("spec.taints[{i}].effect"), &taint.effect, &effects));
        }
    }
    let status = node.status.as_ref();
    for (field, list) in [("capacity", status.and_then(|s| s.capacity.as_ref())), ("allocatable", status.and_then(|s| s.allocatable.as_ref()))] {
        for (name, q) in list.into_iter().flatten() {
            if quantity::parse_resource(name, &q.0).is_err() {
                errors.push(FieldError::invalid(format!("status.{field}[{name}]"), &q.0, "must be a quantity"));
            }
        }
    }
    errors
}
