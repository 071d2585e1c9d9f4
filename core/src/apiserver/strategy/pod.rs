//! Pods: defaulting as the API server and its admission plugins do it,
//! validation with Kubernetes' field paths, and which updates are allowed.

use crate::json_path::JsonPath;
use super::scheduling_constraints;
use crate::apiserver::status::{ApiError, FieldError};
use crate::quantity;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Fields that a real cluster honours and Tabernetes does not (yet). They are
/// refused with a clear message rather than stored and silently ignored.
fn unsupported_fields(spec: &PodSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut refuse = |present: bool, field: String, what: &str| {
        if present {
            errors.push(FieldError::forbidden(field, format!("{what} are not supported by Tabernetes yet")));
        }
    };
    refuse(spec.init_containers.as_ref().is_some_and(|c| !c.is_empty()), "spec.initContainers".into(), "init containers");
    refuse(spec.ephemeral_containers.as_ref().is_some_and(|c| !c.is_empty()), "spec.ephemeralContainers".into(), "ephemeral containers");
    refuse(spec.volumes.as_ref().is_some_and(|v| !v.is_empty()), "spec.volumes".into(), "volumes");
    refuse(spec.host_network == Some(true), "spec.hostNetwork".into(), "host networking settings");
    for (i, c) in spec.containers.iter().enumerate() {
        let at = |f: &str| format!("spec.containers[{i}].{f}");
        refuse(c.volume_mounts.as_ref().is_some_and(|v| !v.is_empty()), at("volumeMounts"), "volume mounts");
        refuse(c.liveness_probe.is_some(), at("livenessProbe"), "probes");
        refuse(c.readiness_probe.is_some(), at("readinessProbe"), "probes");
        refuse(c.startup_probe.is_some(), at("startupProbe"), "probes");
        refuse(c.lifecycle.is_some(), at("lifecycle"), "lifecycle hooks");
        refuse(c.env_from.as_ref().is_some_and(|v| !v.is_empty()), at("envFrom"), "envFrom sources");
        for (j, env) in c.env.iter().flatten().enumerate() {
            refuse(env.value_from.is_some(), at(&format!("env[{j}].valueFrom")), "valueFrom sources");
        }
    }
    errors
}

/// Applies the defaults a real API server would (SetDefaults_Pod; the
/// DefaultTolerationSeconds admission plugin is in `apiserver::admission`).
pub fn default_pod(pod: &mut Pod) {
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    spec.priority.get_or_insert(0);
}

/// The spec defaults, shared by pods and the pod templates of workloads.
pub fn default_pod_spec(spec: &mut PodSpec) {
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
    spec.security_context.get_or_insert_with(Default::default);
    for container in &mut spec.containers {
        default_container(container);
    }
}

fn default_container(c: &mut Container) {
    let tag_is_latest = match c.image.as_deref().unwrap_or("").rsplit_once(':') {
        Some((_, tag)) => tag == "latest" || tag.contains('/'),
        None => true,
    };
    c.image_pull_policy
        .get_or_insert_with(|| if tag_is_latest { "Always".into() } else { "IfNotPresent".into() });
    c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
    c.termination_message_policy.get_or_insert_with(|| "File".into());
    let resources = c.resources.get_or_insert_with(Default::default);
    // Requests default to limits, so a pod with only limits is scheduled by them.
    if let Some(limits) = resources.limits.clone() {
        let requests = resources.requests.get_or_insert_with(Default::default);
        for (name, value) in limits {
            requests.entry(name).or_insert(value);
        }
    }
}

/// The QoS class a pod's resources put it in.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in &spec.containers {
        let r = c.resources.as_ref();
        let requests = r.and_then(|r| r.requests.as_ref());
        let limits = r.and_then(|r| r.limits.as_ref());
        any |= requests.is_some_and(|m| !m.is_empty()) || limits.is_some_and(|m| !m.is_empty());
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            let request = requests.and_then(|l| l.get(res));
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// A fresh pod's status: the client's is discarded, as on a real cluster.
pub fn initial_status(pod: &Pod) -> PodStatus {
    PodStatus {
        phase: Some("Pending".into()),
        qos_class: pod.spec.as_ref().map(|s| qos_class(s).to_string()),
        ..Default::default()
    }
}

pub fn validate_pod_spec(spec: &PodSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.containers.is_empty() {
        errors.push(FieldError::required("spec.containers"));
    }
    let mut names = BTreeSet::new();
    for (i, c) in spec.containers.iter().enumerate() {
        let at = |f: &str| format!("spec.containers[{i}].{f}");
        if c.name.is_empty() {
            errors.push(FieldError::required(at("name")));
        } else {
            for e in crate::validation::dns_label_errors(&c.name) {
                errors.push(FieldError::invalid(at("name"), &c.name, e));
            }
            if !names.insert(c.name.as_str()) {
                errors.push(FieldError::duplicate(at("name"), &c.name));
            }
        }
        if c.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
            errors.push(FieldError::required(at("image")));
        }
        if let Some(policy) = c.image_pull_policy.as_deref() {
            if !["Always", "IfNotPresent", "Never"].contains(&policy) {
                errors.push(FieldError::not_supported(at("imagePullPolicy"), policy, &["Always", "IfNotPresent", "Never"]));
            }
        }
        for (j, env) in c.env.iter().flatten().enumerate() {
            if env.name.is_empty() {
                errors.push(FieldError::required(at(&format!("env[{j}].name"))));
            }
        }
        validate_resources(c, &at("resources"), &mut errors);
    }
    if let Some(policy) = spec.restart_policy.as_deref() {
        if !["Always", "OnFailure", "Never"].contains(&policy) {
            errors.push(FieldError::not_supported("spec.restartPolicy", policy, &["Always", "OnFailure", "Never"]));
        }
    }
    if let Some(seconds) = spec.termination_grace_period_seconds {
        if seconds < 0 {
            errors.push(FieldError::invalid("spec.terminationGracePeriodSeconds", seconds, "must be greater than or equal to 0"));
        }
    }
    for (key, value) in spec.node_selector.iter().flatten() {
        for e in crate::validation::label_key_errors(key) {
            errors.push(FieldError::invalid("spec.nodeSelector", key, e));
        }
        for e in crate::validation::label_value_errors(value) {
            errors.push(FieldError::invalid("spec.nodeSelector", value, e));
        }
    }
    if let Some(affinity) = &spec.affinity {
        errors.extend(scheduling_constraints::validate_affinity(affinity));
    }
    errors.extend(scheduling_constraints::validate_topology_spread_constraints(spec.topology_spread_constraints.as_deref().unwrap_or_default()));
    if let Some(policy) = spec.preemption_policy.as_deref() {
        if !["Never", "PreemptLowerPriority"].contains(&policy) {
            errors.push(FieldError::not_supported("spec.preemptionPolicy", policy, &["Never", "PreemptLowerPriority"]));
        }
    }
    errors.extend(unsupported_fields(spec));
    errors
}

fn validate_resources(c: &Container, at: &str, errors: &mut Vec<FieldError>) {
    let Some(resources) = &c.resources else { return };
    for (kind, list) in [("requests", &resources.requests), ("limits", &resources.limits)] {
        for (name, q) in list.iter().flatten() {
            if let Err(e) = quantity::parse_resource(name, &q.0) {
                errors.push(FieldError::invalid(format!("{at}.{kind}[{name}]"), &q.0, e.to_string()));
            }
        }
    }
    for name in ["cpu", "memory"] {
        let request = resources.requests.as_ref().and_then(|r| r.get(name));
        let limit = resources.limits.as_ref().and_then(|r| r.get(name));
        let parse = |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| quantity::parse_resource(name, &q.0).ok();
        if let (Some(request), Some(limit)) = (request, limit) {
            if let (Some(r), Some(l)) = (parse(request), parse(limit)) {
                if r > l {
                    errors.push(FieldError::invalid(
                        format!("{at}.requests"),
                        &request.0,
                        format!("must be less than or equal to {name} limit of {}", limit.0),
                    ));
                }
            }
        }
    }
}

/// A pod's spec is immutable but for a few fields (Kubernetes' rule); the
/// images of its containers may change, and tolerations may be added.
pub fn validate_spec_update(old: &PodSpec, new: &PodSpec) -> Vec<FieldError> {
    let mut masked = new.clone();
    for (c, old_c) in masked.containers.iter_mut().zip(&old.containers) {
        c.image = old_c.image.clone();
    }
    masked.active_deadline_seconds = old.active_deadline_seconds;
    let tolerations_only_added = old.tolerations.iter().flatten().all(|t| new.tolerations.iter().flatten().any(|n| n == t));
    if tolerations_only_added {
        masked.tolerations = old.tolerations.clone();
    }
    if &masked == old {
        Vec::new()
    } else {
        vec![FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)",
        )]
    }
}


/// What the Priority admission plugin reads of a PriorityClass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityClassInfo {
    pub name: String,
    pub value: i64,
    pub global_default: bool,
    pub preemption_policy: Option<String>,
}

impl PriorityClassInfo {
    /// From a stored PriorityClass object.
    pub fn of(object: &Value) -> Self {
        PriorityClassInfo {
            name: object.at(&["metadata", "name"]).and_then(Value::as_str).unwrap_or("").to_string(),
            value: object.get("value").and_then(Value::as_i64).unwrap_or(0),
            global_default: object.get("globalDefault").and_then(Value::as_bool).unwrap_or(false),
            preemption_policy: object.get("preemptionPolicy").and_then(Value::as_str).map(String::from),
        }
    }
}

/// The Priority admission plugin, on a pod being created: `spec.priority`
/// (and `preemptionPolicy`) come from the PriorityClass the pod names, or
/// from the cluster's `globalDefault` class (the lowest, if several), or
/// are 0 and PreemptLowerPriority. A pod may not name a class that does
/// not exist, nor state a priority or policy other than its class's.
pub fn admit_priority(pod: &mut Value, classes: &[PriorityClassInfo]) -> Result<(), ApiError> {
    let name = pod.at(&["metadata", "name"]).and_then(Value::as_str).unwrap_or("").to_string();
    let forbidden = |why: String| ApiError::Forbidden { message: format!("pods \"{name}\" is forbidden: {why}") };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
    let wanted = spec.get("priorityClassName").and_then(Value::as_str).unwrap_or("").to_string();
    let (class_name, priority, policy) = if wanted.is_empty() {
        let default = classes.iter().filter(|c| c.global_default).min_by_key(|c| c.value);
        match default {
            Some(c) => (c.name.clone(), c.value, c.preemption_policy.clone()),
            None => (String::new(), 0, Some("PreemptLowerPriority".to_string())),
        }
    } else {
        let class = classes.iter().find(|c| c.name == wanted).ok_or_else(|| forbidden(format!("no PriorityClass with name {wanted} was found")))?;
        (class.name.clone(), class.value, class.preemption_policy.clone())
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64).filter(|p| *p != priority) {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        )));
    }
    spec.insert("priority".into(), json!(priority));
    if let Some(policy) = policy {
        if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str).filter(|p| *p != policy) {
            return Err(forbidden(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
            )));
        }
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    if !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    Ok(())
}

/// On update, a pod keeps the priority admission gave it (both fields are
/// immutable; a client that leaves them out means "unchanged").
pub fn keep_priority(pod: &mut Pod, old: &Pod) {
    if let (Some(spec), Some(old)) = (pod.spec.as_mut(), old.spec.as_ref()) {
        if spec.priority.is_none() {
            spec.priority = old.priority;
        }
        if spec.preemption_policy.is_none() {
            spec.preemption_policy = old.preemption_policy.clone();
        }
    }
}
