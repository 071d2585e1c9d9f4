//! PodTopologySpread's PreScore, Score and NormalizeScore (`ScheduleAnyway`
//! constraints): a node scores by how many matching pods its domains
//! already hold, weighted by log(number of domains + 2) so that a
//! constraint over few large domains does not drown one over many small
//! ones; fewer is better.

use super::counting::{Domain, DomainCounts};
use super::{constraints, has_all_keys, matching_pods, Constraint, PodTopologySpread, HOSTNAME_LABEL};
use crate::scheduler::framework::{CycleState, NodeInfo, PodInfo, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::scheduler::snapshot::Snapshot;
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    /// Feasible nodes lacking a topology key, by position: not scored.
    ignored: BTreeSet<usize>,
    /// Per constraint, matching pods per domain, for the domains of the
    /// feasible nodes (hostname domains are counted on the node itself).
    counts: Vec<DomainCounts>,
    weights: Vec<f64>,
}

/// Marks ignored nodes between Score and NormalizeScore.
const INVALID_SCORE: i64 = -1;

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, feasible: &[&NodeInfo], snapshot: &Snapshot) -> Result<(), Status> {
        let constraints = constraints(pod, "ScheduleAnyway");
        if constraints.is_empty() || snapshot.is_empty() {
            return Err(Status::skip());
        }
        let ignored: BTreeSet<usize> = feasible.iter().filter(|n| !has_all_keys(n, &constraints)).map(|n| n.index).collect();
        let mut counts = self.domain_counts(snapshot, pod, &constraints);
        let mut weights = Vec::with_capacity(constraints.len());
        for (c, counts) in constraints.iter().zip(counts.iter_mut()) {
            if c.topology_key == HOSTNAME_LABEL {
                weights.push(((feasible.len() - ignored.len() + 2) as f64).ln());
                continue;
            }
            // Only the domains of scored nodes matter (upstream counts only those).
            let mut keep = Vec::new();
            for node in feasible.iter().filter(|n| !ignored.contains(&n.index)) {
                if let Domain::At(d) = counts.domain_of(node) {
                    keep.resize(keep.len().max(d + 1), false);
                    keep[d] = true;
                }
            }
            keep.resize(counts.domains(), false);
            weights.push(((keep.iter().filter(|k| **k).count() + 2) as f64).ln());
            counts.retain(&keep);
        }
        state.write(PreScoreState { constraints, ignored, counts, weights });
        Ok(())
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(s) = state.read::<PreScoreState>() else { return 0 };
        if s.ignored.contains(&node.index) {
            return INVALID_SCORE;
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(domain) = s.counts[i].lookup(node) else { continue };
            let count = if c.topology_key == HOSTNAME_LABEL { matching_pods(node, &c.selector, pod.namespace()) } else { domain.map_or(0, |d| s.counts[i].count(d)) };
            score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    /// Fewest matching pods scores MAX_NODE_SCORE; ignored nodes score 0.
    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        let valid = scores.iter().copied().filter(|s| *s != INVALID_SCORE);
        let (min, max) = valid.fold((i64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        for s in scores.iter_mut() {
            *s = if *s == INVALID_SCORE {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{pod_with, score_in, snapshot};
    use serde_json::json;

    #[test]
    fn emptier_zones_score_higher_and_unlabelled_nodes_are_ignored() {
        let web = |name: &str| pod_with(json!({"name": name, "namespace": "default", "labels": {"app": "web"}}), json!({"containers": []}));
        let zone_node = |name: &str, zone: &str| json!({"metadata": {"name": name, "labels": {"zone": zone}}});
        let cluster = snapshot(&[
            (zone_node("a1", "a"), vec![web("w1"), web("w2")]),
            (zone_node("a2", "a"), vec![]),
            (zone_node("b1", "b"), vec![web("w3")]),
            (zone_node("c1", "c"), vec![]),
            (json!({"metadata": {"name": "bare"}}), vec![]),
        ]);
        let incoming = pod_with(
            json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}),
            json!({"containers": [], "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]}),
        );
        let nodes: Vec<_> = ["a1", "a2", "b1", "c1", "bare"].iter().map(|n| cluster.get(n).unwrap()).collect();
        // Weight ln(3 + 2) = 1.609: a = 2 × 1.609 → 3, b → 2, c → 0; normalised 100 × (3 + 0 - s) / 3.
        assert_eq!(score_in(&PodTopologySpread::default(), Some(&PodTopologySpread::default()), &incoming, &nodes, &cluster), [0, 0, 33, 100, 0]);
    }
}
