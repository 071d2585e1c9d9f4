//! NodeName: a pod that names its node fits only there.

use crate::scheduler::framework::{
    ClusterEvent, CycleState, EnqueueExtensions, FilterPlugin, NodeInfo, Plugin, PodInfo, PreFilterPlugin, PreFilterResult, QueueingHint, Status,
};
use super::helper::filter_needed;
use crate::scheduler::snapshot::Snapshot;

pub struct NodeName;

pub const NAME: &str = "NodeName";
pub const REASON: &str = "node(s) didn't match the requested node name";

fn wanted(pod: &PodInfo) -> Option<&str> {
    pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for NodeName {
    /// Not in upstream: a pod that names no node passes every node's
    /// Filter, so Filter is skipped instead of asked for every node.
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Result<PreFilterResult, Status> {
        filter_needed(wanted(pod).is_some())
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        match wanted(pod) {
            Some(name) if name != &*node.name => Err(Status::unresolvable(REASON)),
            _ => Ok(()),
        }
    }
}

impl EnqueueExtensions for NodeName {
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        match event {
            ClusterEvent::NodeAdded(node) => (wanted(pod) == Some(&node.name)).into(),
            _ => QueueingHint::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn table() {
        let cases = [(json!({"containers": []}), true), (json!({"containers": [], "nodeName": "n1"}), true), (json!({"containers": [], "nodeName": "n2"}), false)];
        for (spec, fits) in cases {
            let result = NodeName.filter(&CycleState::default(), &pod(spec.clone()), &node(json!({})));
            assert_eq!(result.is_ok(), fits, "{spec}");
            let skipped = NodeName.pre_filter(&mut CycleState::default(), &pod(spec.clone()), &Snapshot::default()).is_err_and(|s| s.is_skip());
            assert_eq!(skipped, spec.get("nodeName").is_none(), "{spec}");
        }
    }
}
