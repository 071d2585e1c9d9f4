//! What the scheduler decided and why, kept for the UI's per-node table and
//! summarised for people the way kube-scheduler says it.

use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Bound { node: String },
    Unschedulable { message: String },
}

/// One node's part in a decision: which filter turned it away and why, or
/// how each score plugin rated it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVerdict {
    pub node: String,
    pub rejected_by: Option<String>,
    pub reasons: Vec<String>,
    pub scores: Vec<(String, i64)>,
    pub total: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub namespace: String,
    pub name: String,
    pub at: Timestamp,
    pub outcome: Outcome,
    pub nodes: Vec<NodeVerdict>,
}

/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {...}.`
/// Reasons are counted across nodes and listed in sorted order, as kube-scheduler's FitError does.
pub fn fit_error_message(verdicts: &[NodeVerdict], node_count: usize) -> String {
    if node_count == 0 {
        return "no nodes available to schedule pods".to_string();
    }
    let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
    for v in verdicts {
        for reason in &v.reasons {
            *histogram.entry(reason.as_str()).or_default() += 1;
        }
    }
    let mut parts: Vec<String> = histogram.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    parts.sort();
    format!("0/{node_count} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(node: &str, reasons: &[&str]) -> NodeVerdict {
        NodeVerdict { node: node.into(), rejected_by: Some("x".into()), reasons: reasons.iter().map(|s| s.to_string()).collect(), scores: vec![], total: 0 }
    }

    #[test]
    fn message_counts_reasons_like_kube_scheduler() {
        let verdicts = [
            rejected("a", &["Insufficient cpu"]),
            rejected("b", &["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]),
            rejected("c", &["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]),
        ];
        assert_eq!(
            fit_error_message(&verdicts, 3),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."
        );
        assert_eq!(fit_error_message(&[], 0), "no nodes available to schedule pods");
    }
}
