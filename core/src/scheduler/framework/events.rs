//! Cluster events that may make a waiting pod schedulable, and the answer a
//! plugin gives for one (kube-scheduler's QueueingHints): a pod that some
//! plugins rejected goes back to the queue only when one of those plugins
//! says the event could change its verdict.

use super::node_info::NodeInfo;
use super::pod_info::PodInfo;

#[derive(Clone, Copy, Debug)]
pub enum ClusterEvent<'a> {
    NodeAdded(&'a NodeInfo),
    /// A change to what plugins read of a node (labels, taints, allocatable,
    /// `spec.unschedulable`); heartbeats never get here.
    NodeUpdated { old: &'a NodeInfo, new: &'a NodeInfo },
    /// A node went away (fewer domains can let spreading pods fit).
    NodeDeleted(&'a NodeInfo),
    /// A pod was bound or placed on a node.
    AssignedPodAdded { pod: &'a PodInfo, node: &'a NodeInfo },
    /// A placed pod's labels or termination changed.
    AssignedPodUpdated { old: &'a PodInfo, new: &'a PodInfo, node: &'a NodeInfo },
    /// A placed pod was deleted or finished, freeing its share of `node`.
    AssignedPodDeleted { pod: &'a PodInfo, node: Option<&'a NodeInfo> },
    /// A namespace's labels changed (affinity terms' namespace selectors).
    NamespaceChanged,
}

/// A plugin's answer for one rejected pod and one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueingHint {
    /// The event may make the pod schedulable: retry it (after its back-off).
    Queue,
    /// The event cannot change this plugin's verdict.
    Skip,
}

impl From<bool> for QueueingHint {
    fn from(queue: bool) -> Self {
        if queue {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        }
    }
}
