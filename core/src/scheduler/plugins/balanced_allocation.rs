//! NodeResourcesBalancedAllocation: prefers nodes whose CPU and memory would
//! be used in similar proportions once the pod is placed, so that neither
//! runs out while the other sits idle. Score: (1 - standard deviation of
//! the used fractions) × 100.

use super::resource_allocation::{allocatable_and_requested, cpu_and_memory, default_resources, requests_nothing, Resource, ResourceWeight};
use crate::scheduler::framework::{score_each, CycleState, NodeInfo, Plugin, PodInfo, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::scheduler::snapshot::Snapshot;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation {
    pub resources: Vec<ResourceWeight>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation { resources: default_resources() }
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreScorePlugin for BalancedAllocation {
    /// A pod that requests nothing cannot unbalance anything: not scored.
    fn pre_score(&self, _: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], _: &Snapshot) -> Result<(), Status> {
        if requests_nothing(pod, &self.resources) {
            Err(Status::skip())
        } else {
            Ok(())
        }
    }
}

/// The share of a resource's allocatable the node would have requested,
/// capped at 1. Compared rather than `f64::min`: the node offers some of
/// the resource, so the share is never NaN, and `f64::min`'s rule for NaN
/// is not wasm's `f64.min`, so as wasm it is a call to `fmin` (once per
/// resource per node).
#[inline(always)]
fn fraction(node: &NodeInfo, pod: &PodInfo, resource: &Resource) -> Option<f64> {
    let (allocatable, requested) = allocatable_and_requested(node, pod, resource, true)?;
    let share = requested as f64 / allocatable as f64;
    Some(if share > 1.0 { 1.0 } else { share })
}

/// (1 - the standard deviation of the shares) × 100.
#[inline(always)]
fn balance(shares: &[f64]) -> i64 {
    let std = match shares {
        [] | [_] => 0.0,
        // The deviation of two values is half their difference.
        [a, b] => ((a - b) / 2.0).abs(),
        _ => {
            let mean = shares.iter().sum::<f64>() / shares.len() as f64;
            (shares.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / shares.len() as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let shares: Vec<f64> = self.resources.iter().filter_map(|r| fraction(node, pod, &r.resource)).collect();
        balance(&shares)
    }

    fn score_nodes(&self, state: &CycleState, pod: &PodInfo, nodes: &[&NodeInfo], scores: &mut [i64]) {
        if cpu_and_memory(&self.resources).is_none() {
            return score_each(self, state, pod, nodes, scores);
        }
        for (node, score) in nodes.iter().zip(scores) {
            *score = match [fraction(node, pod, &Resource::Cpu), fraction(node, pod, &Resource::Memory)] {
                [Some(cpu), Some(memory)] => balance(&[cpu, memory]),
                // A node offering only one of them: nothing to compare it with.
                _ => balance(&[]),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, score_all};
    use serde_json::json;

    #[test]
    fn table() {
        let n = node(json!({"status": {"allocatable": {"cpu": "4", "memory": "4Gi"}}}));
        let requesting = |cpu: &str, mem: &str| pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}));
        let ba = BalancedAllocation::default();
        let cases = [
            (requesting("2", "2Gi"), 100), // 1/2 and 1/2
            (requesting("2", "1Gi"), 87),  // 1/2 and 1/4: std 1/8
            (requesting("4", "0"), 50),    // 1 and 0: std 1/2
        ];
        for (p, want) in cases {
            assert_eq!(score_all(&ba, Some(&ba), &p, std::slice::from_ref(&n)), [want]);
        }
        assert_eq!(score_all(&ba, Some(&ba), &pod(json!({"containers": [{"name": "c"}]})), &[n]), [0], "best-effort pods are not scored");
    }
}
