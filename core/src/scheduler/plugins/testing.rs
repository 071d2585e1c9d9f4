//! Builders for plugin tests: pods and nodes from JSON, and a helper that
//! runs one score plugin over nodes as the framework would.

use crate::scheduler::framework::{CycleState, NodeInfo, PodInfo, PreScorePlugin, ScorePlugin};
use crate::scheduler::snapshot::Snapshot;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use std::sync::Arc;

/// A pod in `default` named `p` with this spec.
pub fn pod(spec: Value) -> PodInfo {
    pod_with(json!({"name": "p", "namespace": "default"}), spec)
}

pub fn pod_with(metadata: Value, spec: Value) -> PodInfo {
    let pod: Pod = serde_json::from_value(json!({"metadata": metadata, "spec": spec})).unwrap();
    PodInfo::new(Arc::new(pod))
}

/// A node (named `n1` unless the JSON names it).
pub fn node(node: Value) -> NodeInfo {
    let mut node = node;
    if node.get("metadata").is_none() {
        node["metadata"] = json!({"name": "n1"});
    }
    let node: Node = serde_json::from_value(node).unwrap();
    NodeInfo::new(Arc::new(node))
}

/// A snapshot holding these nodes and, on each, the pods given with it.
pub fn snapshot(nodes: &[(Value, Vec<PodInfo>)]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (n, pods) in nodes {
        let info = node(n.clone());
        let name = info.name.to_string();
        snapshot.upsert_node(info.node.clone());
        for p in pods {
            snapshot.add_pod(&name, Arc::new(p.clone()));
        }
    }
    snapshot
}

/// Runs PreScore (if given), Score and NormalizeScore over `nodes`.
pub fn score_all(scorer: &dyn ScorePlugin, pre: Option<&dyn PreScorePlugin>, pod: &PodInfo, nodes: &[NodeInfo]) -> Vec<i64> {
    let snapshot = Snapshot::default();
    score_in(scorer, pre, pod, &nodes.iter().collect::<Vec<_>>(), &snapshot)
}

pub fn score_in(scorer: &dyn ScorePlugin, pre: Option<&dyn PreScorePlugin>, pod: &PodInfo, nodes: &[&NodeInfo], snapshot: &Snapshot) -> Vec<i64> {
    let mut state = CycleState::default();
    if let Some(pre) = pre {
        if pre.pre_score(&mut state, pod, nodes, snapshot).is_err() {
            return vec![0; nodes.len()];
        }
    }
    let mut scores = vec![0; nodes.len()];
    scorer.score_nodes(&state, pod, nodes, &mut scores);
    let one_by_one: Vec<i64> = nodes.iter().map(|n| scorer.score(&state, pod, n)).collect();
    assert_eq!(scores, one_by_one, "{}: score_nodes gives what score gives", scorer.name());
    scorer.normalize(&state, pod, nodes, &mut scores);
    scores
}
