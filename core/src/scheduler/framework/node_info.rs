//! NodeInfo: a node and what the scheduler has placed on it, after
//! kube-scheduler's `framework.NodeInfo`: the pods (parsed), their summed
//! requests, and the node's fields the plugins read, decoded once per node
//! change instead of once per pod per node.

use super::pod_info::PodInfo;
use super::resources::{NonZero, Resources};
use crate::scheduler::label_selector::NO_LABELS;
use k8s_openapi::api::core::v1::{Node, Taint};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A number no NodeInfo state has had before (upstream's `nextGeneration`):
/// caches keyed by it know a node is unchanged without comparing it.
pub(crate) fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub name: Arc<str>,
    pub allocatable: Resources,
    /// What the pods on it request (filtering).
    pub requested: Resources,
    /// The same with default requests for containers without any (scoring).
    pub non_zero_requested: NonZero,
    pub pods: Vec<Arc<PodInfo>>,
    /// How many of `pods` have any pod (anti-)affinity term, and how many a
    /// required anti-affinity term: InterPodAffinity skips nodes with none.
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
    /// Image name → size in bytes, from `status.images`.
    pub images: BTreeMap<String, i64>,
    /// `spec.unschedulable`, and whether the node has taints that filter
    /// (NoSchedule, NoExecute) or score (PreferNoSchedule): every cycle asks
    /// for hundreds of nodes, and these answers avoid reading each Node
    /// object (a cache miss apiece) when, as usual, there is nothing there.
    cordoned: bool,
    pub has_filtering_taints: bool,
    pub has_preference_taints: bool,
    /// Changes whenever the node or its pods do.
    pub generation: u64,
    /// Its position in the snapshot's node list, for plugins that keep
    /// per-node data in arrays (valid for nodes handed out by the snapshot).
    pub index: usize,
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> Self {
        let name: Arc<str> = node.metadata.name.as_deref().unwrap_or("").into();
        let images = node
            .status
            .iter()
            .flat_map(|s| s.images.iter().flatten())
            .flat_map(|image| image.names.iter().flatten().map(move |n| (n.clone(), image.size_bytes.unwrap_or(0))))
            .collect();
        let spec = node.spec.as_ref();
        let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
        NodeInfo {
            cordoned: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            has_filtering_taints: taints.iter().any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute"),
            has_preference_taints: taints.iter().any(|t| t.effect == "PreferNoSchedule"),
            generation: next_generation(),
            index: 0,
            allocatable: Resources::allocatable_of(&node),
            requested: Resources::default(),
            non_zero_requested: NonZero::default(),
            pods: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            images,
            name,
            node,
        }
    }

    /// The same node object with the pods already placed on `previous`
    /// (a node update keeps what the scheduler knows is running there).
    pub fn replacing(node: Arc<Node>, previous: &NodeInfo) -> Self {
        let mut info = NodeInfo::new(node);
        info.index = previous.index;
        info.requested = previous.requested.clone();
        info.non_zero_requested = previous.non_zero_requested;
        info.pods = previous.pods.clone();
        info.pods_with_affinity = previous.pods_with_affinity;
        info.pods_with_required_anti_affinity = previous.pods_with_required_anti_affinity;
        info
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    pub fn taints(&self) -> &[Taint] {
        self.node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default()
    }

    pub fn unschedulable(&self) -> bool {
        self.cordoned
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(pod.non_zero);
        self.pods_with_affinity += usize::from(pod.has_affinity());
        self.pods_with_required_anti_affinity += usize::from(!pod.required_anti_affinity.is_empty());
        self.pods.push(pod);
        self.generation = next_generation();
    }

    /// Removes the pod with `key`, returning it if it was here.
    pub fn remove_pod(&mut self, key: &crate::scheduler::PodKey) -> Option<Arc<PodInfo>> {
        let at = self.pods.iter().position(|p| &p.key == key)?;
        let pod = self.pods.swap_remove(at);
        self.requested.subtract(&pod.requests);
        self.non_zero_requested.subtract(pod.non_zero);
        self.pods_with_affinity -= usize::from(pod.has_affinity());
        self.pods_with_required_anti_affinity -= usize::from(!pod.required_anti_affinity.is_empty());
        self.generation = next_generation();
        Some(pod)
    }
}
