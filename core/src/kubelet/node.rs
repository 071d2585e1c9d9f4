//! The Node object a kubelet registers: its capacity, labels and readiness.

use crate::quantity::format_kibibytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Label that says which engine runs a node's pods: `browser` or `wasmtime`.
/// Pods pick a kind of node with `nodeSelector` on it.
pub const RUNTIME_LABEL: &str = "tabernetes.io/runtime";

/// What a node reports about itself when it joins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub name: String,
    /// `browser` or `wasmtime`.
    pub runtime: String,
    pub cpu_millis: i64,
    pub memory_bytes: u64,
    pub max_pods: u32,
    /// The host's OS and architecture, for nodeInfo (pods themselves are wasm32).
    pub os: String,
    pub arch: String,
    pub agent_version: String,
}

fn ready_condition(ready: bool, now: Timestamp) -> Value {
    json!({
        "type": "Ready",
        "status": if ready { "True" } else { "False" },
        "reason": if ready { "KubeletReady" } else { "KubeletNotReady" },
        "message": if ready { "kubelet is posting ready status" } else { "kubelet is not ready" },
        "lastHeartbeatTime": Time(now),
        "lastTransitionTime": Time(now),
    })
}

/// The Node object, as the kubelet creates it on registration.
pub fn registration(info: &NodeInfo, now: Timestamp) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": info.name,
            "labels": {
                "kubernetes.io/hostname": info.name,
                "kubernetes.io/os": "wasi",
                "kubernetes.io/arch": "wasm32",
                RUNTIME_LABEL: info.runtime,
            },
        },
        "spec": {},
        "status": status(info, now),
    })
}

/// The node's status: capacity, allocatable, Ready, nodeInfo.
pub fn status(info: &NodeInfo, now: Timestamp) -> Value {
    let capacity = json!({
        "cpu": format!("{}m", info.cpu_millis),
        "memory": format_kibibytes(info.memory_bytes),
        "pods": info.max_pods.to_string(),
    });
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [ready_condition(true, now)],
        "addresses": [{"type": "Hostname", "address": info.name}],
        "nodeInfo": {
            "architecture": info.arch,
            "operatingSystem": info.os,
            "osImage": format!("Tabernetes {} node", info.runtime),
            "kernelVersion": "",
            "kubeletVersion": info.agent_version,
            "kubeProxyVersion": "",
            "containerRuntimeVersion": format!("{}://wasm32-wasip1", info.runtime),
            "machineID": "", "systemUUID": "", "bootID": "",
        },
    })
}

/// Keeps the Ready condition's lastTransitionTime when a heartbeat does not change readiness.
pub fn heartbeat(previous: Option<&Value>, info: &NodeInfo, now: Timestamp) -> Value {
    let mut status = status(info, now);
    let was_ready = previous
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    if let Some(prev) = was_ready.filter(|c| c["status"] == "True") {
        status["conditions"][0]["lastTransitionTime"] = prev["lastTransitionTime"].clone();
    }
    status
}
