//! NodeAffinity: the pod's `nodeSelector` and required node affinity terms
//! must select the node (every operator, `matchFields` on the node's name);
//! preferred terms add their weights to the nodes they select.

use super::helper::default_normalize;
use crate::scheduler::framework::{
    ClusterEvent, CycleState, EnqueueExtensions, FilterPlugin, NodeInfo, Plugin, PodInfo, PreFilterPlugin, PreFilterResult, PreScorePlugin,
    QueueingHint, ScorePlugin, Status,
};
use crate::scheduler::node_selector::Term;
use crate::scheduler::snapshot::Snapshot;
use std::collections::BTreeSet;

pub struct NodeAffinity;

pub const NAME: &str = "NodeAffinity";
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";
/// Every term names nodes, and no node is named by all of a term's fields.
pub const REASON_CONFLICT: &str = "pod affinity terms conflict";

fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.required_node_affinity.matches(&node.name, node.labels())
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for NodeAffinity {
    /// Skips pods without node constraints; narrows the cycle to the nodes
    /// named by `matchFields` when every term names some.
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> Result<PreFilterResult, Status> {
        let affinity = &pod.required_node_affinity;
        if affinity.is_empty() {
            return Err(Status::skip());
        }
        if affinity.terms().is_empty() {
            return Ok(PreFilterResult::AllNodes);
        }
        let mut names = BTreeSet::new();
        for term in affinity.terms() {
            // A term without names lets every node through (terms are ORed).
            let Some(term_names) = term.named_nodes() else { return Ok(PreFilterResult::AllNodes) };
            names.extend(term_names.into_iter().map(String::from));
        }
        if names.is_empty() {
            return Err(Status::unresolvable(REASON_CONFLICT));
        }
        Ok(PreFilterResult::Nodes(names))
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        if fits(pod, node) {
            Ok(())
        } else {
            Err(Status::unresolvable(REASON))
        }
    }
}

/// The pod's preferred terms, compiled once per cycle.
#[derive(Clone)]
struct Preferred(Vec<(i64, Term)>);

impl PreScorePlugin for NodeAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], _: &Snapshot) -> Result<(), Status> {
        let terms: Vec<(i64, Term)> = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| n.preferred_during_scheduling_ignored_during_execution.as_ref())
            .into_iter()
            .flatten()
            .map(|t| (i64::from(t.weight), Term::parse(&t.preference)))
            .collect();
        if terms.is_empty() {
            return Err(Status::skip());
        }
        state.write(Preferred(terms));
        Ok(())
    }
}

impl ScorePlugin for NodeAffinity {
    /// The sum of the weights of the preferred terms that select the node.
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(Preferred(terms)) = state.read::<Preferred>() else { return 0 };
        terms.iter().filter(|(_, t)| t.matches(&node.name, node.labels())).map(|(w, _)| w).sum()
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(false, scores);
    }
}

impl EnqueueExtensions for NodeAffinity {
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        match event {
            ClusterEvent::NodeAdded(node) => fits(pod, node).into(),
            ClusterEvent::NodeUpdated { old, new } => (!fits(pod, old) && fits(pod, new)).into(),
            _ => QueueingHint::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, score_all};
    use serde_json::json;

    fn required(terms: serde_json::Value) -> serde_json::Value {
        json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
    }

    #[test]
    fn filter_table() {
        let labelled = json!({"metadata": {"name": "n1", "labels": {"tabernetes.io/runtime": "browser", "zone": "a", "cores": "8"}}});
        let cases = [
            (json!({"containers": []}), true),
            (json!({"containers": [], "nodeSelector": {"tabernetes.io/runtime": "browser"}}), true),
            (json!({"containers": [], "nodeSelector": {"tabernetes.io/runtime": "browser", "zone": "a"}}), true),
            (json!({"containers": [], "nodeSelector": {"tabernetes.io/runtime": "wasmtime"}}), false),
            (json!({"containers": [], "nodeSelector": {"disk": "ssd"}}), false),
            (required(json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}, {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}])), true),
            (required(json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "cores", "operator": "Lt", "values": ["4"]}]}])), false),
            (required(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])), true),
            (required(json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}])), false),
        ];
        for (spec, fits) in cases {
            let result = NodeAffinity.filter(&CycleState::default(), &pod(spec.clone()), &node(labelled.clone()));
            assert_eq!(result.is_ok(), fits, "{spec}");
        }
    }

    #[test]
    fn pre_filter_narrows_to_named_nodes() {
        let pre = |spec| NodeAffinity.pre_filter(&mut CycleState::default(), &pod(spec), &Snapshot::default());
        assert_eq!(pre(json!({"containers": []})), Err(Status::skip()));
        assert_eq!(pre(json!({"containers": [], "nodeSelector": {"a": "b"}})), Ok(PreFilterResult::AllNodes));
        let named = required(json!([
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n3"]}]}]));
        assert_eq!(pre(named), Ok(PreFilterResult::Nodes(["n1", "n2", "n3"].map(String::from).into())));
        let conflict = required(json!([{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]},
            {"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]));
        assert_eq!(pre(conflict), Err(Status::unresolvable(REASON_CONFLICT)));
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let p = pod(json!({"containers": [], "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 80, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
            {"weight": 20, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}]}}}));
        let n = |name: &str, labels| node(json!({"metadata": {"name": name, "labels": labels}}));
        let nodes = [n("both", json!({"disk": "ssd", "zone": "a"})), n("ssd", json!({"disk": "ssd"})), n("zone", json!({"zone": "b"})), n("none", json!({}))];
        assert_eq!(score_all(&NodeAffinity, Some(&NodeAffinity), &p, &nodes), [100, 80, 20, 0]);
    }
}
