//! Per-resource rules for writes, after Kubernetes' registry strategies:
//! what the server sets on create, what it validates, and what an update
//! may change. Objects arrive and leave as JSON; the typed `k8s-openapi`
//! structs are used in between.

mod node;
pub mod pod;
mod rbac;
mod scheduling_constraints;
mod secret;
mod service;
pub mod workloads;

use crate::json_path::JsonPath;
use super::decode::{decode, FieldValidation};
use super::resources::ResourceType;
use super::status::{ApiError, FieldError};
use crate::validation::validate_object_meta;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Namespace, Node, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
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

/// Resources whose `metadata.generation` counts spec changes (the others
/// have no spec a controller observes).
const GENERATION_TRACKED: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "HorizontalPodAutoscaler",
];

/// Validates and completes `object` for storage. On success the object is
/// what will be stored, minus identity fields the caller sets, and the
/// result holds warnings (unknown fields under `fieldValidation=Warn`).
pub fn prepare(
    resource: &ResourceType,
    object: &mut Value,
    write: Write<'_>,
    validation: FieldValidation,
    now: Timestamp,
) -> Result<Vec<String>, ApiError> {
    let name = object.at(&["metadata", "name"]).and_then(Value::as_str).unwrap_or("").to_string();
    let mut errors = Vec::new();
    validate_object_meta(object, resource.namespaced, &mut errors);
    if let Write::Update { old } | Write::UpdateStatus { old } = write {
        for field in ["uid", "creationTimestamp"] {
            let Some(new_value) = object["metadata"].get(field).filter(|v| !v.is_null()) else { continue };
            let old_value = old["metadata"].get(field);
            // Times compare as instants: clients write `+00:00` for the server's `Z`.
            let same = match (field, new_value.as_str(), old_value.and_then(Value::as_str)) {
                ("creationTimestamp", Some(new), Some(old)) => new.parse::<Timestamp>().ok().zip(old.parse::<Timestamp>().ok()).is_some_and(|(a, b)| a == b),
                _ => Some(new_value) == old_value,
            };
            if !same {
                errors.push(FieldError::invalid(format!("metadata.{field}"), new_value, "field is immutable"));
            }
        }
    }
    let (kind_errors, unknown) = prepare_kind(resource.kind, object, write, validation)?;
    errors.extend(kind_errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid { group: resource.group.to_string(), kind: resource.kind.to_string(), name, causes: errors });
    }
    // Objects are stored without managedFields (server-side apply is not served).
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let tracks_generation = GENERATION_TRACKED.contains(&resource.kind);
    match write {
        Write::Create => {
            object["metadata"]["creationTimestamp"] = json!(Time(now));
            if tracks_generation {
                object["metadata"]["generation"] = json!(1);
            }
        }
        Write::Update { old } => {
            // Status is owned by the status subresource; generation counts spec changes.
            if resource.has_subresource("status") {
                match old.get("status") {
                    Some(status) => object["status"] = status.clone(),
                    None => {
                        if let Some(o) = object.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            if tracks_generation {
                let generation = old.at(&["metadata", "generation"]).and_then(Value::as_i64).unwrap_or(1);
                let spec_changed = object.get("spec") != old.get("spec");
                object["metadata"]["generation"] = json!(generation + i64::from(spec_changed));
            }
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
    Ok(unknown.into_iter().map(|field| format!("unknown field \"{field}\"")).collect())
}

/// The kind's own defaults and validation, through its typed form.
fn prepare_kind(
    kind: &str,
    object: &mut Value,
    write: Write<'_>,
    validation: FieldValidation,
) -> Result<(Vec<FieldError>, Vec<String>), ApiError> {
    match kind {
        "Pod" => typed::<Pod>(object, validation, |pod| pod_rules(pod, write)),
        "Node" => typed::<Node>(object, validation, |node| Ok(node::validate(node))),
        "Namespace" => typed::<Namespace>(object, validation, |ns| {
            if write == Write::Create {
                ns.spec = Some(k8s_openapi::api::core::v1::NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) });
                ns.status = Some(k8s_openapi::api::core::v1::NamespaceStatus { phase: Some("Active".into()), ..Default::default() });
            }
            Ok(Vec::new())
        }),
        "Event" => typed::<Event>(object, validation, |event| {
            let missing = event.involved_object.name.as_deref().unwrap_or("").is_empty();
            Ok(if missing { vec![FieldError::required("involvedObject.name")] } else { Vec::new() })
        }),
        "Service" => typed::<Service>(object, validation, |s| Ok(service::service(s, write))),
        "Endpoints" => typed::<Endpoints>(object, validation, no_rules),
        "ConfigMap" => typed::<ConfigMap>(object, validation, |c| Ok(secret::config_map(c))),
        "Secret" => typed::<Secret>(object, validation, |s| Ok(secret::secret(s, write))),
        "ServiceAccount" => typed::<ServiceAccount>(object, validation, no_rules),
        "Deployment" => typed::<Deployment>(object, validation, |d| Ok(workloads::deployment(d, write))),
        "ReplicaSet" => typed::<ReplicaSet>(object, validation, |r| Ok(workloads::replica_set(r, write))),
        "DaemonSet" => typed::<DaemonSet>(object, validation, |d| Ok(workloads::daemon_set(d, write))),
        "StatefulSet" => typed::<StatefulSet>(object, validation, |s| Ok(workloads::stateful_set(s, write))),
        "ControllerRevision" => typed::<ControllerRevision>(object, validation, no_rules),
        "Job" => typed::<Job>(object, validation, |j| Ok(workloads::job(j, write))),
        "CronJob" => typed::<CronJob>(object, validation, |c| Ok(workloads::cron_job(c))),
        "EndpointSlice" => typed::<EndpointSlice>(object, validation, no_rules),
        "Ingress" => typed::<Ingress>(object, validation, no_rules),
        "HorizontalPodAutoscaler" => typed::<HorizontalPodAutoscaler>(object, validation, |h| {
            let spec = h.spec.get_or_insert_with(Default::default);
            spec.min_replicas.get_or_insert(1);
            let mut errors = workloads::autoscaler_metrics(spec);
            if spec.min_replicas.is_some_and(|m| m < 1) {
                errors.push(FieldError::invalid("spec.minReplicas", spec.min_replicas.unwrap_or(0), "must be greater than or equal to 1"));
            }
            if spec.max_replicas < spec.min_replicas.unwrap_or(1) {
                errors.push(FieldError::invalid("spec.maxReplicas", spec.max_replicas, "must be greater than or equal to `minReplicas`"));
            }
            Ok(errors)
        }),
        "Lease" => typed::<Lease>(object, validation, no_rules),
        "Role" => typed::<Role>(object, validation, |r| Ok(rbac::rules(r.rules.as_deref().unwrap_or_default()))),
        "ClusterRole" => typed::<ClusterRole>(object, validation, |r| Ok(rbac::rules(r.rules.as_deref().unwrap_or_default()))),
        "RoleBinding" => typed::<RoleBinding>(object, validation, |b| Ok(rbac::binding(&b.role_ref, b.subjects.as_deref(), true))),
        "ClusterRoleBinding" => {
            typed::<ClusterRoleBinding>(object, validation, |b| Ok(rbac::binding(&b.role_ref, b.subjects.as_deref(), false)))
        }
        "PriorityClass" => typed::<PriorityClass>(object, validation, |p| {
            p.preemption_policy.get_or_insert_with(|| "PreemptLowerPriority".into());
            let too_high = p.value > 1_000_000_000 && !p.metadata.name.as_deref().unwrap_or("").starts_with("system-");
            Ok(if too_high {
                vec![FieldError::forbidden("value", "maximum allowed value of a user defined priority is 1000000000")]
            } else {
                Vec::new()
            })
        }),
        other => Err(ApiError::bad_request(format!("no write strategy for kind {other}"))),
    }
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

/// For kinds whose typed decode is all the checking they need.
fn no_rules<T>(_: &mut T) -> Result<Vec<FieldError>, ApiError> {
    Ok(Vec::new())
}

/// Decodes into `T`, lets `f` default and check it, and writes it back.
/// Returns `f`'s field errors and the unknown fields found while decoding.
fn typed<T: DeserializeOwned + Serialize>(
    object: &mut Value,
    validation: FieldValidation,
    f: impl FnOnce(&mut T) -> Result<Vec<FieldError>, ApiError>,
) -> Result<(Vec<FieldError>, Vec<String>), ApiError> {
    let (mut typed, unknown) = decode::<T>(object, validation)?;
    let errors = f(&mut typed)?;
    *object = serde_json::to_value(&typed).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let unknown = if validation == FieldValidation::Ignore { Vec::new() } else { unknown };
    Ok((errors, unknown))
}

fn pod_rules(pod: &mut Pod, write: Write<'_>) -> Result<Vec<FieldError>, ApiError> {
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
            pod::keep_priority(pod, &old);
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
