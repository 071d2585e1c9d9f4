//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new
//! pods, unless the pod tolerates the `node.kubernetes.io/unschedulable`
//! NoSchedule taint.

use super::taint_toleration::tolerates;
use crate::scheduler::framework::{
    ClusterEvent, CycleState, EnqueueExtensions, FilterPlugin, NodeInfo, Plugin, PodInfo, PreFilterPlugin, PreFilterResult, QueueingHint, Status,
};
use super::helper::filter_needed;
use crate::scheduler::snapshot::Snapshot;
use k8s_openapi::api::core::v1::Taint;

pub struct NodeUnschedulable;

pub const NAME: &str = "NodeUnschedulable";
pub const REASON: &str = "node(s) were unschedulable";
pub const TAINT: &str = "node.kubernetes.io/unschedulable";

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for NodeUnschedulable {
    /// Not in upstream: with no node cordoned, Filter could only pass, so
    /// it is skipped instead of asked for every node.
    fn pre_filter(&self, _: &mut CycleState, _: &PodInfo, snapshot: &Snapshot) -> Result<PreFilterResult, Status> {
        filter_needed(snapshot.has_cordoned_nodes())
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        if !node.unschedulable() {
            return Ok(());
        }
        let taint = Taint { key: TAINT.into(), effect: "NoSchedule".into(), ..Default::default() };
        if pod.tolerations().iter().any(|t| tolerates(t, &taint)) {
            Ok(())
        } else {
            Err(Status::unresolvable(REASON))
        }
    }
}

impl EnqueueExtensions for NodeUnschedulable {
    fn queueing_hint(&self, _: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        match event {
            ClusterEvent::NodeAdded(node) => (!node.unschedulable()).into(),
            ClusterEvent::NodeUpdated { old, new } => (old.unschedulable() && !new.unschedulable()).into(),
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
        let tolerant = json!({"containers": [], "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}]});
        let cases = [
            (json!({"containers": []}), json!({}), true),
            (json!({"containers": []}), json!({"spec": {"unschedulable": true}}), false),
            (tolerant, json!({"spec": {"unschedulable": true}}), true),
            (json!({"containers": [], "tolerations": [{"operator": "Exists"}]}), json!({"spec": {"unschedulable": true}}), true),
        ];
        for (spec, n, fits) in cases {
            assert_eq!(NodeUnschedulable.filter(&CycleState::default(), &pod(spec.clone()), &node(n.clone())).is_ok(), fits, "{spec} {n}");
        }
    }

    #[test]
    fn filter_is_skipped_while_no_node_is_cordoned() {
        use crate::scheduler::plugins::testing::snapshot;
        let p = pod(json!({"containers": []}));
        let mut cluster = snapshot(&[(json!({"metadata": {"name": "a"}}), vec![])]);
        assert!(NodeUnschedulable.pre_filter(&mut CycleState::default(), &p, &cluster).is_err_and(|s| s.is_skip()));
        cluster.upsert_node(std::sync::Arc::new(serde_json::from_value(json!({"metadata": {"name": "a"}, "spec": {"unschedulable": true}})).unwrap()));
        assert_eq!(NodeUnschedulable.pre_filter(&mut CycleState::default(), &p, &cluster), Ok(PreFilterResult::AllNodes));
        cluster.remove_node("a");
        assert!(NodeUnschedulable.pre_filter(&mut CycleState::default(), &p, &cluster).is_err_and(|s| s.is_skip()));
    }

    #[test]
    fn uncordoning_requeues() {
        let p = pod(json!({"containers": []}));
        let (cordoned, open) = (node(json!({"spec": {"unschedulable": true}})), node(json!({})));
        assert_eq!(NodeUnschedulable.queueing_hint(&p, &ClusterEvent::NodeUpdated { old: &cordoned, new: &open }), QueueingHint::Queue);
        assert_eq!(NodeUnschedulable.queueing_hint(&p, &ClusterEvent::NodeUpdated { old: &open, new: &cordoned }), QueueingHint::Skip);
    }
}
