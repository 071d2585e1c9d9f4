//! kube-scheduler's default plugins, one per file, each with table-driven
//! tests, and the default profile that puts them in order.

pub mod balanced_allocation;
pub mod default_binder;
pub mod default_preemption;
pub mod helper;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod resource_allocation;
pub mod taint_toleration;

#[cfg(test)]
pub(crate) mod testing;

use super::framework::Framework;
use balanced_allocation::BalancedAllocation;
use default_binder::DefaultBinder;
use default_preemption::DefaultPreemption;
use image_locality::ImageLocality;
use inter_pod_affinity::InterPodAffinity;
use node_affinity::NodeAffinity;
use node_name::NodeName;
use node_resources_fit::NodeResourcesFit;
use node_unschedulable::NodeUnschedulable;
use pod_topology_spread::PodTopologySpread;
use std::sync::Arc;
use taint_toleration::TaintToleration;

/// The default profile: kube-scheduler's plugins at each extension point,
/// in its order, with its score weights (TaintToleration 3, NodeAffinity,
/// PodTopologySpread and InterPodAffinity 2, the others 1). NodeUnschedulable,
/// NodeName and TaintToleration also have a PreFilter here, which only
/// skips their Filter for cycles in which it could reject no node.
pub fn default_framework() -> Framework {
    let (unschedulable, name, taints, affinity) = (Arc::new(NodeUnschedulable), Arc::new(NodeName), Arc::new(TaintToleration), Arc::new(NodeAffinity));
    let (fit, spread, pod_affinity) = (Arc::new(NodeResourcesFit::default()), Arc::new(PodTopologySpread::default()), Arc::new(InterPodAffinity));
    let (balanced, images) = (Arc::new(BalancedAllocation::default()), Arc::new(ImageLocality));
    Framework {
        pre_filters: vec![unschedulable.clone(), name.clone(), taints.clone(), affinity.clone(), spread.clone(), pod_affinity.clone()],
        filters: vec![unschedulable.clone(), name.clone(), taints.clone(), affinity.clone(), fit.clone(), spread.clone(), pod_affinity.clone()],
        post_filters: vec![Arc::new(DefaultPreemption)],
        pre_scores: vec![affinity.clone(), spread.clone(), pod_affinity.clone(), balanced.clone(), images.clone()],
        scorers: vec![(taints.clone(), 3), (affinity.clone(), 2), (fit.clone(), 1), (spread.clone(), 2), (pod_affinity.clone(), 2), (balanced, 1), (images, 1)],
        reserves: Vec::new(),
        binders: vec![Arc::new(DefaultBinder)],
        enqueue_extensions: vec![unschedulable, name, taints, affinity, fit, spread, pod_affinity],
        percentage_of_nodes_to_score: 0,
    }
}
