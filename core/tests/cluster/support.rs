//! What the scenarios share: reading objects the way `kubectl get` shows them.

// Each scenario module uses a different part of this.
#![allow(dead_code)]

use serde_json::Value;
use std::sync::Arc;
use tabernetes_core::simulation::Simulation;

pub use k8s_openapi::jiff::SignedDuration;

pub fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

pub fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

pub fn name(object: &Value) -> &str {
    object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

pub fn is_active(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    pod.pointer("/metadata/deletionTimestamp").is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

pub fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// The pods in `ns` that are not being deleted and have not finished.
pub fn active_pods(sim: &Simulation, ns: &str) -> Vec<Arc<Value>> {
    sim.list("pods", Some(ns)).into_iter().filter(|p| is_active(p)).collect()
}

pub fn node_of(pod: &Value) -> &str {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("")
}

/// Event reasons about `name` in `ns`, oldest first.
pub fn reasons(sim: &Simulation, ns: &str, name: &str) -> Vec<String> {
    tabernetes_core::controllers::events::events_about(sim.plane().api(), ns, name).into_iter().map(|(_, reason, _, _)| reason).collect()
}

/// Whether a Deployment's rollout is done, as `kubectl rollout status` decides.
pub fn rollout_done(sim: &Simulation, ns: &str, name: &str) -> bool {
    let Some(d) = sim.get("deployments.apps", ns, name) else { return false };
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    let status = &d["status"];
    n(&d["metadata"]["generation"]) <= n(&status["observedGeneration"])
        && n(&status["updatedReplicas"]) >= n(&d["spec"]["replicas"])
        && n(&status["replicas"]) <= n(&status["updatedReplicas"])
        && n(&status["availableReplicas"]) >= n(&status["updatedReplicas"])
}
