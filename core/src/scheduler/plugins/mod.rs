//! The default plugins, one per file, each with table-driven tests.

pub mod node_affinity;
pub mod node_name;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod taint_toleration;

use super::framework::{FilterPlugin, ScorePlugin};

/// The filters of the default profile, in kube-scheduler's order.
pub fn default_filters() -> Vec<Box<dyn FilterPlugin>> {
    vec![
        Box::new(node_unschedulable::NodeUnschedulable),
        Box::new(node_name::NodeName),
        Box::new(taint_toleration::TaintToleration),
        Box::new(node_affinity::NodeAffinity),
        Box::new(node_resources_fit::NodeResourcesFit),
    ]
}

pub fn default_scorers() -> Vec<Box<dyn ScorePlugin>> {
    vec![Box::new(node_resources_fit::LeastAllocated)]
}

#[cfg(test)]
pub(crate) mod testing {
    use super::super::framework::{NodeInfo, PodInfo, Resources};
    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::{json, Value};
    use std::sync::Arc;

    pub fn pod(spec: Value) -> PodInfo {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec})).unwrap();
        PodInfo::new(Arc::new(pod))
    }

    pub fn node(node: Value, requested: Resources) -> NodeInfo {
        let mut node = node;
        if node.get("metadata").is_none() {
            node["metadata"] = json!({"name": "n1"});
        }
        let node: Node = serde_json::from_value(node).unwrap();
        let allocatable = Resources::allocatable_of(&node);
        NodeInfo { node: Arc::new(node), allocatable, requested }
    }
}
