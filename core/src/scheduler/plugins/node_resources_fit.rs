//! NodeResourcesFit: the pod's requests must fit in what the node has left
//! of its allocatable CPU, memory, pod slots and extended resources; and the
//! LeastAllocated score, which spreads pods toward emptier nodes.

use crate::scheduler::framework::{FilterPlugin, NodeInfo, PodInfo, Rejection, ScorePlugin, MAX_NODE_SCORE};

pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
        let (want, have, used) = (&pod.requests, &node.allocatable, &node.requested);
        let mut reasons = Vec::new();
        if used.pods + 1 > have.pods {
            reasons.push("Too many pods".to_string());
        }
        if want.milli_cpu > 0 && used.milli_cpu + want.milli_cpu > have.milli_cpu {
            reasons.push("Insufficient cpu".to_string());
        }
        if want.memory > 0 && used.memory + want.memory > have.memory {
            reasons.push("Insufficient memory".to_string());
        }
        for (name, amount) in &want.extended {
            let free = have.extended.get(name).copied().unwrap_or(0) - used.extended.get(name).copied().unwrap_or(0);
            if *amount > 0 && *amount > free {
                reasons.push(format!("Insufficient {name}"));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Rejection { reasons, resolvable: true })
        }
    }
}

/// Scores a node by the share of CPU and memory left free after placing the
/// pod (equal weights), as kube-scheduler's default LeastAllocated strategy.
pub struct LeastAllocated;

/// kube-scheduler counts pods without requests as asking for this much, so
/// that they still spread (DefaultMilliCPURequest, DefaultMemoryRequest).
const DEFAULT_MILLI_CPU: i64 = 100;
const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

fn free_share(capacity: i64, requested: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        0
    } else {
        (capacity - requested) * MAX_NODE_SCORE / capacity
    }
}

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let cpu = if pod.requests.milli_cpu == 0 { DEFAULT_MILLI_CPU } else { pod.requests.milli_cpu };
        let mem = if pod.requests.memory == 0 { DEFAULT_MEMORY } else { pod.requests.memory };
        let cpu_score = free_share(node.allocatable.milli_cpu, node.requested.milli_cpu + cpu);
        let mem_score = free_share(node.allocatable.memory, node.requested.memory + mem);
        (cpu_score + mem_score) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::Resources;
    use crate::scheduler::plugins::testing::{node, pod};
    use serde_json::json;

    fn small_node() -> serde_json::Value {
        json!({"status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "3", "example.com/gpu": "1"}}})
    }

    fn requesting(cpu: &str, memory: &str) -> serde_json::Value {
        json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]})
    }

    #[test]
    fn filter_table() {
        let used = |cpu, mem, pods| Resources { milli_cpu: cpu, memory: mem, pods, ..Default::default() };
        let gpu = json!({"containers": [{"name": "c", "resources": {"requests": {"example.com/gpu": "2"}}}]});
        type Case<'a> = (serde_json::Value, Resources, Result<(), Vec<&'a str>>);
        let cases: Vec<Case> = vec![
            (requesting("1", "512Mi"), used(0, 0, 0), Ok(())),
            (requesting("1", "512Mi"), used(1000, 512 << 20, 1), Ok(())),
            (requesting("1500m", "512Mi"), used(1000, 0, 1), Err(vec!["Insufficient cpu"])),
            (requesting("1", "2Gi"), used(0, 0, 0), Err(vec!["Insufficient memory"])),
            (requesting("3", "2Gi"), used(0, 0, 3), Err(vec!["Too many pods", "Insufficient cpu", "Insufficient memory"])),
            (json!({"containers": [{"name": "c"}]}), used(2000, 1 << 30, 0), Ok(())),
            (gpu, used(0, 0, 0), Err(vec!["Insufficient example.com/gpu"])),
        ];
        for (spec, requested, want) in cases {
            let got = NodeResourcesFit.filter(&pod(spec.clone()), &node(small_node(), requested.clone())).map_err(|r| r.reasons);
            let want = want.map_err(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{spec} on {requested:?}");
        }
    }

    #[test]
    fn least_allocated_prefers_emptier_nodes() {
        let p = pod(requesting("500m", "256Mi"));
        let empty = LeastAllocated.score(&p, &node(small_node(), Resources::default()));
        let busy = LeastAllocated.score(&p, &node(small_node(), Resources { milli_cpu: 1000, memory: 512 << 20, ..Default::default() }));
        assert_eq!(empty, 75); // (1.5/2 free cpu = 75) + (768/1024 free memory = 75), halved
        assert_eq!(busy, 25);
        assert!(empty > busy);
    }
}
