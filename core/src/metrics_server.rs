//! The resource metrics pipeline, in the place of metrics-server: the
//! latest CPU and memory usage of each pod and node, as their kubelets
//! measured it. In Kubernetes, metrics-server scrapes every kubelet's
//! `/metrics/resource` every 15 s and serves the result as the
//! `metrics.k8s.io` API, which the HorizontalPodAutoscaler and `kubectl top`
//! read. Here the driver plays the scraper: it asks each node agent for its
//! [`NodeUsage`] (`NodeAgent::resource_metrics`) and hands it to the control
//! plane (`ControlPlane::record_node_metrics`), which keeps it in this store. The
//! store is memory only, as metrics-server's: usage is not cluster state and
//! is never written to the object store or its history.

use crate::object_meta;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How often metrics-server scrapes the kubelets (its `--metric-resolution`).
pub const RESOLUTION: SignedDuration = SignedDuration::from_secs(15);

// Serializable because node-hosts send their kubelet's scrape to the page
// (`NodeMessage::ResourceMetrics`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerUsage {
    pub name: String,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

/// One pod's usage, averaged over `window` ending at `timestamp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub timestamp: Timestamp,
    pub window: SignedDuration,
    pub containers: Vec<ContainerUsage>,
}

impl PodUsage {
    pub fn cpu_millis(&self) -> i64 {
        self.containers.iter().map(|c| c.cpu_millis).sum()
    }

    pub fn memory_bytes(&self) -> i64 {
        self.containers.iter().map(|c| c.memory_bytes).sum()
    }
}

/// What a kubelet reports in one scrape: its pods' usage and its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeUsage {
    pub node: String,
    pub timestamp: Timestamp,
    pub window: SignedDuration,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: Vec<PodUsage>,
}

/// The latest scrape of every node, indexed by pod.
#[derive(Clone, Debug, Default)]
pub struct ResourceMetrics {
    nodes: BTreeMap<String, NodeUsage>,
    /// (namespace, name) → the node whose report has the pod.
    pods: BTreeMap<(String, String), String>,
}

impl ResourceMetrics {
    /// Replaces what `report.node` reported before: a pod it no longer
    /// reports has no metrics any more.
    pub fn record(&mut self, report: NodeUsage) {
        self.forget_node(&report.node);
        for pod in &report.pods {
            self.pods.insert((pod.namespace.clone(), pod.name.clone()), report.node.clone());
        }
        self.nodes.insert(report.node.clone(), report);
    }

    /// A node that is gone (or stopped answering scrapes) has no metrics.
    pub fn forget_node(&mut self, node: &str) {
        if self.nodes.remove(node).is_some() {
            self.pods.retain(|_, n| n != node);
        }
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodUsage> {
        let node = self.pods.get(&(namespace.to_string(), name.to_string()))?;
        self.nodes.get(node)?.pods.iter().find(|p| p.namespace == namespace && p.name == name)
    }

    /// The usage of this pod object: none for a namesake the scrape did
    /// not see (another UID).
    pub fn usage_of(&self, pod: &serde_json::Value) -> Option<&PodUsage> {
        self.pod(object_meta::namespace(pod), object_meta::name(pod)).filter(|usage| usage.uid == object_meta::uid(pod))
    }

    pub fn node(&self, name: &str) -> Option<&NodeUsage> {
        self.nodes.get(name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeUsage> {
        self.nodes.values()
    }

    /// Every pod's usage, node by node.
    pub fn pods(&self) -> impl Iterator<Item = &PodUsage> {
        self.nodes.values().flat_map(|n| &n.pods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(node: &str, pods: &[(&str, i64)]) -> NodeUsage {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let pods = pods
            .iter()
            .map(|(name, cpu)| PodUsage {
                namespace: "default".into(),
                name: name.to_string(),
                uid: format!("uid-{name}"),
                timestamp: at,
                window: RESOLUTION,
                containers: vec![ContainerUsage { name: "c".into(), cpu_millis: *cpu, memory_bytes: 0 }],
            })
            .collect();
        NodeUsage { node: node.into(), timestamp: at, window: RESOLUTION, cpu_millis: 0, memory_bytes: 0, pods }
    }

    #[test]
    fn a_new_report_replaces_what_its_node_said_before() {
        let mut metrics = ResourceMetrics::default();
        metrics.record(report("a", &[("web-1", 200), ("web-2", 300)]));
        metrics.record(report("b", &[("web-3", 100)]));
        assert_eq!(metrics.pod("default", "web-2").map(PodUsage::cpu_millis), Some(300));
        metrics.record(report("a", &[("web-1", 250)]));
        assert_eq!(metrics.pod("default", "web-1").map(PodUsage::cpu_millis), Some(250));
        assert_eq!(metrics.pod("default", "web-2"), None, "no longer reported");
        metrics.forget_node("b");
        assert_eq!(metrics.pod("default", "web-3"), None);
    }
}
