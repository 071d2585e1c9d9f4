//! Which pods a ReplicaSet deletes first when it has too many: those that
//! cost least to lose. Kubernetes' order (`ActivePodsWithRanks`): pods not
//! yet on a node, then pending before unknown before running, not ready
//! before ready, lower `controller.kubernetes.io/pod-deletion-cost`, pods
//! doubled up on a node with their siblings, the more recently ready, the
//! more restarted, and finally the newer.

use crate::json_path::JsonPath;
use super::pod_readiness::{is_active, is_ready, ready_since};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// `pods` in deletion order, first to go first. `related` are the pods of
/// the same workload (this ReplicaSet's and its siblings'): a pod sharing a
/// node with many of them is a better one to remove.
pub fn in_deletion_order(pods: &[Arc<Value>], related: &[Arc<Value>]) -> Vec<Arc<Value>> {
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(node_of(pod)).or_default() += 1;
    }
    let mut ranked: Vec<(usize, &Arc<Value>)> = pods.iter().map(|p| (on_node.get(node_of(p)).copied().unwrap_or(0), p)).collect();
    // A stable sort: ties keep the caller's order, which is by name.
    ranked.sort_by(|(rank_a, a), (rank_b, b)| compare(a, *rank_a, b, *rank_b));
    ranked.into_iter().map(|(_, p)| p.clone()).collect()
}

fn node_of(pod: &Value) -> &str {
    pod.at(&["spec", "nodeName"]).and_then(Value::as_str).unwrap_or("")
}

fn phase_order(pod: &Value) -> u8 {
    match pod.at(&["status", "phase"]).and_then(Value::as_str) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Value) -> i64 {
    pod.at(&["metadata", "annotations"]).and_then(|a| a.get(DELETION_COST)).and_then(Value::as_str).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn restarts(pod: &Value) -> i64 {
    let statuses = pod.at(&["status", "containerStatuses"]).and_then(Value::as_array);
    statuses.into_iter().flatten().filter_map(|c| c["restartCount"].as_i64()).max().unwrap_or(0)
}

fn created(pod: &Value) -> Option<Timestamp> {
    pod.at(&["metadata", "creationTimestamp"])?.as_str()?.parse().ok()
}

/// "Later first", with an unknown time first of all (as `afterOrZero`).
fn later_first(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// Less is deleted first.
fn compare(a: &Value, rank_a: usize, b: &Value, rank_b: usize) -> Ordering {
    let (node_a, node_b) = (node_of(a), node_of(b));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() { Ordering::Less } else { Ordering::Greater };
    }
    phase_order(a)
        .cmp(&phase_order(b))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| rank_b.cmp(&rank_a))
        .then_with(|| if is_ready(a) && is_ready(b) { later_first(ready_since(a), ready_since(b)) } else { Ordering::Equal })
        .then_with(|| restarts(b).cmp(&restarts(a)))
        .then_with(|| later_first(created(a), created(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> String {
        Timestamp::from_second(1_800_000_000 + s).unwrap().to_string()
    }

    /// A running, ready pod on `node` created at 0 and ready since 0, unless the case changes it.
    fn pod(name: &str, change: impl FnOnce(&mut Value)) -> Arc<Value> {
        let mut p = json!({
            "metadata": {"name": name, "creationTimestamp": at(0)},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": at(0)}],
                "containerStatuses": [{"restartCount": 0}]},
        });
        change(&mut p);
        Arc::new(p)
    }

    fn order(pods: &[Arc<Value>], related: &[Arc<Value>]) -> Vec<String> {
        in_deletion_order(pods, related).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn the_cheapest_pod_to_lose_goes_first() {
        let plain = || pod("plain", |_| {});
        let cases: Vec<(&str, Arc<Value>)> = vec![
            ("unscheduled", pod("unscheduled", |p| p["spec"]["nodeName"] = json!(null))),
            ("pending", pod("pending", |p| p["status"]["phase"] = json!("Pending"))),
            ("unknown", pod("unknown", |p| p["status"]["phase"] = json!("Unknown"))),
            ("not ready", pod("not-ready", |p| p["status"]["conditions"][0]["status"] = json!("False"))),
            ("cheap to delete", pod("cheap", |p| p["metadata"]["annotations"] = json!({DELETION_COST: "-5"}))),
            ("ready more recently", pod("recent", |p| p["status"]["conditions"][0]["lastTransitionTime"] = json!(at(50)))),
            ("restarted more", pod("restarted", |p| p["status"]["containerStatuses"][0]["restartCount"] = json!(3))),
            ("created later", pod("newer", |p| p["metadata"]["creationTimestamp"] = json!(at(9)))),
        ];
        for (why, first) in cases {
            let name = first["metadata"]["name"].as_str().unwrap().to_string();
            assert_eq!(order(&[plain(), first.clone()], &[]), vec![name.clone(), "plain".into()], "{why}");
            assert_eq!(order(&[first, plain()], &[]), vec![name, "plain".into()], "{why}, either way round");
        }
    }

    #[test]
    fn a_pod_doubled_up_with_its_siblings_goes_before_a_lone_one() {
        let crowded = pod("crowded", |_| {});
        let alone = pod("alone", |p| p["spec"]["nodeName"] = json!("n2"));
        let sibling = pod("sibling", |_| {});
        assert_eq!(order(&[alone.clone(), crowded.clone()], &[alone, crowded, sibling]), vec!["crowded", "alone"]);
    }
}
