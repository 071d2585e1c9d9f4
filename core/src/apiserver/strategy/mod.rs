//! Per-resource rules for writes, after Kubernetes' registry strategies:
//! what the server sets on create, what it validates, and what an update
//! may change. Objects arrive and leave as JSON; the typed `k8s-openapi`
//! structs are used in between.

mod node;
pub mod pod;

use super::decode::{decode, FieldValidation};
use super::resources::{ResourceType, EVENTS, NAMESPACES, NODES, PODS};
use super::status::{ApiError, FieldError};
use crate::validation::validate_object_meta;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// Which write is being prepared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write<'a> {
    Create,
    /// The main resource: spec and metadata change, status is kept.
    Update { old: &'a Value },
    /// The status subresource: only status changes.
    UpdateStatus { old: &'a Value },
}

/// Validates and completes `object` for storage. On success the object is
/// what will be stored, minus identity fields the caller sets.
pub fn prepare(
    resource: &ResourceType,
    object: &mut Value,
    write: Write<'_>,
    validation: FieldValidation,
    now: Timestamp,
) -> Result<(), ApiError> {
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let invalid = |causes: Vec<FieldError>| ApiError::Invalid {
        group: resource.group.to_string(),
        kind: resource.kind.to_string(),
        name: name.clone(),
        causes,
    };
    let mut errors = Vec::new();
    validate_object_meta(object, resource.namespaced, &mut errors);
    if let Write::Update { old } | Write::UpdateStatus { old } = write {
        for field in ["uid", "creationTimestamp"] {
            let new_value = object["metadata"].get(field);
            if new_value.is_some_and(|v| !v.is_null()) && new_value != old["metadata"].get(field) {
                errors.push(FieldError::invalid(format!("metadata.{field}"), new_value.unwrap(), "field is immutable"));
            }
        }
    }
    match resource.plural {
        p if p == PODS.plural => typed::<Pod>(object, validation, |pod| {
            errors.extend(pod_rules(pod, write, now)?);
            Ok(())
        })?,
        p if p == NODES.plural => typed::<Node>(object, validation, |node| {
            errors.extend(node::validate(node));
            Ok(())
        })?,
        p if p == NAMESPACES.plural => typed::<Namespace>(object, validation, |ns| {
            if write == Write::Create {
                ns.spec = Some(k8s_openapi::api::core::v1::NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) });
                ns.status = Some(k8s_openapi::api::core::v1::NamespaceStatus { phase: Some("Active".into()), ..Default::default() });
            }
            if let Some(name) = ns.metadata.name.as_deref() {
                for e in crate::validation::dns_label_errors(name) {
                    errors.push(FieldError::invalid("metadata.name", name, e));
                }
            }
            Ok(())
        })?,
        p if p == EVENTS.plural => typed::<Event>(object, validation, |event| {
            if event.involved_object.name.as_deref().unwrap_or("").is_empty() {
                errors.push(FieldError::required("involvedObject.name"));
            }
            Ok(())
        })?,
        _ => {}
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    // Objects are stored without managedFields (server-side apply is not served).
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    match write {
        Write::Create => {
            object["metadata"]["creationTimestamp"] = json!(Time(now));
            object["metadata"]["generation"] = json!(1);
        }
        Write::Update { old } => {
            // Status is owned by the status subresource; generation counts spec changes.
            if let Some(status) = old.get("status") {
                object["status"] = status.clone();
            }
            let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            let spec_changed = object.get("spec") != old.get("spec");
            object["metadata"]["generation"] = json!(generation + i64::from(spec_changed));
            copy_identity(old, object);
        }
        Write::UpdateStatus { old } => {
            let status = object.get("status").cloned();
            *object = old.clone();
            match status {
                Some(status) => object["status"] = status,
                None => {
                    if let Some(o) = object.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
    }
    Ok(())
}

fn copy_identity(old: &Value, object: &mut Value) {
    for field in ["uid", "creationTimestamp", "namespace", "deletionTimestamp"] {
        match old["metadata"].get(field) {
            Some(v) => object["metadata"][field] = v.clone(),
            None => {
                if let Some(meta) = object["metadata"].as_object_mut() {
                    meta.remove(field);
                }
            }
        }
    }
}

/// Decodes into `T`, lets `f` check and change it, and writes it back.
fn typed<T: DeserializeOwned + Serialize>(
    object: &mut Value,
    validation: FieldValidation,
    f: impl FnOnce(&mut T) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let (mut typed, _unknown) = decode::<T>(object, validation)?;
    f(&mut typed)?;
    *object = serde_json::to_value(&typed).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(())
}

fn pod_rules(pod: &mut Pod, write: Write<'_>, _now: Timestamp) -> Result<Vec<FieldError>, ApiError> {
    let mut errors = Vec::new();
    match write {
        Write::Create => {
            pod::default_pod(pod);
            pod.status = Some(pod::initial_status(pod));
            errors.extend(pod::validate_pod_spec(pod.spec.as_ref().expect("defaulted")));
        }
        Write::Update { old } => {
            let old: Pod = serde_json::from_value(old.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?;
            // Fields the client left out keep their defaults, as on a real server.
            pod::default_pod(pod);
            errors.extend(pod::validate_pod_spec(pod.spec.as_ref().expect("defaulted")));
            if let (Some(old_spec), Some(new_spec)) = (&old.spec, &pod.spec) {
                errors.extend(pod::validate_spec_update(old_spec, new_spec));
            }
        }
        Write::UpdateStatus { .. } => {}
    }
    Ok(errors)
}

#[cfg(test)]
mod tests;
