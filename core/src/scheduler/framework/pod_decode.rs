//! Decoding a stored pod for the scheduler: only the fields scheduling
//! reads (identity, labels, requests, images, priority, node selection,
//! affinity, tolerations, spreading, nomination) become a `Pod`. The
//! scheduler keeps every pod of the cluster in its cache; a full decode of
//! each cost more time than the rest of its scheduling cycle, and several
//! times the memory.

use k8s_openapi::api::core::v1::{
    Affinity, Container, Pod, PodCondition, PodSpec, PodStatus, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    deletion_timestamp: Option<Time>,
}

#[derive(Deserialize, Default)]
struct Requests {
    requests: Option<BTreeMap<String, Quantity>>,
}

#[derive(Deserialize, Default)]
struct ContainerFields {
    #[serde(default)]
    name: String,
    image: Option<String>,
    resources: Option<Requests>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    containers: Vec<ContainerFields>,
    node_name: Option<String>,
    scheduler_name: Option<String>,
    priority: Option<i32>,
    preemption_policy: Option<String>,
    node_selector: Option<BTreeMap<String, String>>,
    affinity: Option<Affinity>,
    tolerations: Option<Vec<Toleration>>,
    topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    overhead: Option<BTreeMap<String, Quantity>>,
}

#[derive(Deserialize, Default)]
struct Condition {
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    status: String,
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Status {
    nominated_node_name: Option<String>,
    start_time: Option<Time>,
    conditions: Option<Vec<Condition>>,
}

#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    metadata: Meta,
    spec: Option<Spec>,
    status: Option<Status>,
}

/// The pod as the scheduler needs it, or None if the object is not a pod.
pub fn decode(object: &Value) -> Option<Pod> {
    let Fields { metadata, spec, status } = Fields::deserialize(object).ok()?;
    let spec = spec.map(|s| PodSpec {
        containers: s
            .containers
            .into_iter()
            .map(|c| Container { name: c.name, image: c.image, resources: c.resources.map(|r| ResourceRequirements { requests: r.requests, ..Default::default() }), ..Default::default() })
            .collect(),
        node_name: s.node_name,
        scheduler_name: s.scheduler_name,
        priority: s.priority,
        preemption_policy: s.preemption_policy,
        node_selector: s.node_selector,
        affinity: s.affinity,
        tolerations: s.tolerations,
        topology_spread_constraints: s.topology_spread_constraints,
        overhead: s.overhead,
        ..Default::default()
    });
    let status = status.map(|s| PodStatus {
        nominated_node_name: s.nominated_node_name,
        start_time: s.start_time,
        conditions: s.conditions.map(|cs| cs.into_iter().map(|c| PodCondition { type_: c.type_, status: c.status, reason: c.reason, ..Default::default() }).collect()),
        ..Default::default()
    });
    let metadata = ObjectMeta {
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        labels: metadata.labels,
        deletion_timestamp: metadata.deletion_timestamp,
        ..Default::default()
    };
    Some(Pod { metadata, spec, status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::PodInfo;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn what_scheduling_reads_survives_the_lean_decode() {
        let object = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "team", "uid": "u1", "labels": {"app": "web"}, "annotations": {"a": "b"}, "deletionTimestamp": "2027-01-01T00:00:00Z"},
            "spec": {"priority": 7, "preemptionPolicy": "Never", "nodeSelector": {"disk": "ssd"}, "overhead": {"cpu": "10m"},
                "containers": [{"name": "c", "image": "hello", "imagePullPolicy": "Always", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}}],
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}},
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {}}]},
            "status": {"phase": "Pending", "nominatedNodeName": "n1", "startTime": "2027-01-01T00:00:00Z",
                "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler", "message": "m"}]}});
        let lean = PodInfo::new(Arc::new(decode(&object).unwrap()));
        let full = PodInfo::new(Arc::new(serde_json::from_value(object).unwrap()));
        assert_eq!(
            (lean.key.clone(), lean.uid(), lean.labels(), lean.priority, lean.never_preempts, lean.requests.clone(), lean.non_zero, lean.images.clone()),
            (full.key.clone(), full.uid(), full.labels(), full.priority, full.never_preempts, full.requests.clone(), full.non_zero, full.images.clone())
        );
        assert_eq!((lean.terminating, lean.preempted, lean.nominated_node.clone(), lean.start_time), (full.terminating, full.preempted, full.nominated_node.clone(), full.start_time));
        assert_eq!((&lean.required_node_affinity, &lean.required_anti_affinity, lean.tolerations()), (&full.required_node_affinity, &full.required_anti_affinity, full.tolerations()));
        assert_eq!(lean.pod.spec.as_ref().unwrap().topology_spread_constraints, full.pod.spec.as_ref().unwrap().topology_spread_constraints);
    }
}
