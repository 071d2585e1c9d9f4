//! NodeResourcesFit: the pod's requests must fit in what the node has left
//! of its allocatable CPU, memory, ephemeral storage, pod slots and extended
//! resources. It also scores nodes by how much would be allocated, with one
//! of kube-scheduler's strategies: LeastAllocated (the default: spread pods
//! toward emptier nodes) or MostAllocated (pack them).

use super::resource_allocation::{allocatable_and_requested, cpu_and_memory, default_resources, Resource, ResourceWeight};
use crate::scheduler::framework::{
    score_each, ClusterEvent, Code, CycleState, EnqueueExtensions, FilterPlugin, NodeInfo, Plugin, PodInfo, QueueingHint, Reason, ScorePlugin, Status, MAX_NODE_SCORE,
};

pub const NAME: &str = "NodeResourcesFit";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScoringStrategy {
    #[default]
    LeastAllocated,
    MostAllocated,
}

pub struct NodeResourcesFit {
    pub strategy: ScoringStrategy,
    pub resources: Vec<ResourceWeight>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit { strategy: ScoringStrategy::LeastAllocated, resources: default_resources() }
    }
}

/// Whether every request fits in what the node has left (the common
/// answer, found without building any reasons).
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    let (want, have, used) = (&pod.requests, &node.allocatable, &node.requested);
    let room = |wanted: i64, allocatable: i64, requested: i64| wanted <= 0 || wanted <= allocatable - requested;
    (node.pods.len() as i64) < have.pods
        && room(want.milli_cpu, have.milli_cpu, used.milli_cpu)
        && room(want.memory, have.memory, used.memory)
        && room(want.ephemeral_storage, have.ephemeral_storage, used.ephemeral_storage)
        // Checked for emptiness first: starting an iteration over an empty map costs more than the checks above.
        && (want.extended.is_empty() || want.extended.iter().all(|(name, amount)| room(*amount, have.extended(name), used.extended(name))))
}

/// What does not fit, and whether evicting pods could ever make it fit
/// (not when the pod asks for more than the whole node has).
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> (Vec<Reason>, bool) {
    let (want, have, used) = (&pod.requests, &node.allocatable, &node.requested);
    let mut reasons: Vec<Reason> = Vec::new();
    let mut unresolvable = false;
    if node.pods.len() as i64 + 1 > have.pods {
        reasons.push("Too many pods".into());
    }
    let mut check = |wanted: i64, allocatable: i64, requested: i64, reason: Reason| {
        if wanted > 0 && wanted > allocatable - requested {
            reasons.push(reason);
            unresolvable |= wanted > allocatable;
        }
    };
    check(want.milli_cpu, have.milli_cpu, used.milli_cpu, "Insufficient cpu".into());
    check(want.memory, have.memory, used.memory, "Insufficient memory".into());
    check(want.ephemeral_storage, have.ephemeral_storage, used.ephemeral_storage, "Insufficient ephemeral-storage".into());
    for (name, amount) in &want.extended {
        check(*amount, have.extended(name), used.extended(name), format!("Insufficient {name}").into());
    }
    (reasons, unresolvable)
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        if fits(pod, node) {
            return Ok(());
        }
        let (reasons, unresolvable) = insufficient(pod, node);
        let code = if unresolvable { Code::UnschedulableAndUnresolvable } else { Code::Unschedulable };
        Err(Status { code, reasons })
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if requested > capacity {
        0
    } else {
        (capacity - requested) * MAX_NODE_SCORE / capacity
    }
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

impl NodeResourcesFit {
    /// The weighted average over `resources` of the share left free
    /// (LeastAllocated) or used (MostAllocated) once the pod is placed.
    /// Inlined so that, given the resources as constants, the choice of
    /// resource folds away.
    #[inline(always)]
    fn average<'r>(&self, pod: &PodInfo, node: &NodeInfo, resources: impl IntoIterator<Item = (&'r Resource, i64)>) -> i64 {
        let (mut total, mut weights) = (0, 0);
        for (resource, weight) in resources {
            let Some((allocatable, requested)) = allocatable_and_requested(node, pod, resource, false) else { continue };
            let score = match self.strategy {
                ScoringStrategy::LeastAllocated => least_requested(requested, allocatable),
                ScoringStrategy::MostAllocated => most_requested(requested, allocatable),
            };
            total += score * weight;
            weights += weight;
        }
        if weights == 0 {
            0
        } else {
            total / weights
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        self.average(pod, node, self.resources.iter().map(|r| (&r.resource, r.weight)))
    }

    fn score_nodes(&self, state: &CycleState, pod: &PodInfo, nodes: &[&NodeInfo], scores: &mut [i64]) {
        let Some((cpu, memory)) = cpu_and_memory(&self.resources) else {
            return score_each(self, state, pod, nodes, scores);
        };
        let resources = [(&Resource::Cpu, cpu), (&Resource::Memory, memory)];
        for (node, score) in nodes.iter().zip(scores) {
            *score = self.average(pod, node, resources);
        }
    }
}

impl EnqueueExtensions for NodeResourcesFit {
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        match event {
            ClusterEvent::NodeAdded(node) => fits(pod, node).into(),
            ClusterEvent::NodeUpdated { old, new } => (!fits(pod, old) && fits(pod, new)).into(),
            // Any placed pod going frees room somewhere.
            ClusterEvent::AssignedPodDeleted { .. } => QueueingHint::Queue,
            _ => QueueingHint::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::{Code, PodInfo};
    use crate::scheduler::plugins::testing::{node, pod, score_all};
    use serde_json::json;
    use std::sync::Arc;

    fn small_node() -> serde_json::Value {
        json!({"status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "3", "example.com/gpu": "1"}}})
    }

    fn requesting(cpu: &str, memory: &str) -> serde_json::Value {
        json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]})
    }

    /// A node from `small_node` already running pods that request `cpu` and `memory` in total.
    fn busy(pods: usize, cpu: &str, memory: &str) -> NodeInfo {
        let mut n = node(small_node());
        for i in 0..pods {
            let spec = if i == 0 { requesting(cpu, memory) } else { json!({"containers": [{"name": "c"}]}) };
            n.add_pod(Arc::new(PodInfo { key: ("default".into(), format!("x{i}")), ..pod(spec) }));
        }
        n
    }

    #[test]
    fn filter_table() {
        let gpu = json!({"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "2"}}}]});
        type Case<'a> = (serde_json::Value, NodeInfo, Result<(), (Code, Vec<&'a str>)>);
        let cases: Vec<Case> = vec![
            (requesting("1", "512Mi"), busy(0, "0", "0"), Ok(())),
            (requesting("1", "512Mi"), busy(1, "1", "512Mi"), Ok(())),
            (requesting("1500m", "512Mi"), busy(1, "1", "0"), Err((Code::Unschedulable, vec!["Insufficient cpu"]))),
            (requesting("1", "2Gi"), busy(0, "0", "0"), Err((Code::UnschedulableAndUnresolvable, vec!["Insufficient memory"]))),
            (requesting("3", "2Gi"), busy(3, "0", "0"), Err((Code::UnschedulableAndUnresolvable, vec!["Too many pods", "Insufficient cpu", "Insufficient memory"]))),
            (json!({"containers": [{"name": "c"}]}), busy(1, "2", "1Gi"), Ok(())),
            (gpu, busy(0, "0", "0"), Err((Code::UnschedulableAndUnresolvable, vec!["Insufficient example.com/gpu"]))),
        ];
        for (spec, n, want) in cases {
            let got = NodeResourcesFit::default().filter(&CycleState::default(), &pod(spec.clone()), &n).map_err(|s| (s.code, s.reasons));
            let want = want.map_err(|(c, v)| (c, v.into_iter().map(Reason::from).collect::<Vec<_>>()));
            assert_eq!(got, want, "{spec} on {:?}", n.requested);
        }
    }

    #[test]
    fn scoring_strategies() {
        let p = pod(requesting("500m", "256Mi"));
        let nodes = [busy(0, "0", "0"), busy(1, "1", "512Mi")];
        let least = NodeResourcesFit::default();
        // (1.5/2 free cpu = 75) + (768/1024 free memory = 75), halved; then 25 for the busy one.
        assert_eq!(score_all(&least, None, &p, &nodes), [75, 25]);
        let most = NodeResourcesFit { strategy: ScoringStrategy::MostAllocated, ..Default::default() };
        assert_eq!(score_all(&most, None, &p, &nodes), [25, 75]);
        // A pod without requests counts as 100m and 200Mi when scoring.
        assert_eq!(score_all(&least, None, &pod(json!({"containers": [{"name": "c"}]})), &nodes[..1]), [(95 + 80) / 2]);
    }

    #[test]
    fn weights_order_and_missing_resources() {
        let p = pod(requesting("500m", "256Mi"));
        // 25 free for CPU, 55 for memory (the placed pod's zero request counts
        // as the default 200Mi); a node offering no memory is scored on CPU alone.
        let nodes = [busy(1, "1", "0"), node(json!({"status": {"allocatable": {"cpu": "2", "pods": "3"}}}))];
        let weight = |resource, weight| ResourceWeight { resource, weight };
        let cpu_first = NodeResourcesFit { resources: vec![weight(Resource::Cpu, 3), weight(Resource::Memory, 1)], ..Default::default() };
        assert_eq!(score_all(&cpu_first, None, &p, &nodes), [(3 * 25 + 55) / 4, 75]);
        // Not the default pair: scored one node at a time, to the same figures.
        let memory_first = NodeResourcesFit { resources: vec![weight(Resource::Memory, 1), weight(Resource::Cpu, 3)], ..Default::default() };
        assert_eq!(score_all(&memory_first, None, &p, &nodes), [(3 * 25 + 55) / 4, 75]);
    }
}
