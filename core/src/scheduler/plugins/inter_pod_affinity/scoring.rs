//! InterPodAffinity's PreScore, Score and NormalizeScore: every existing
//! pod adds weight to the domains of its node when the new pod's preferred
//! terms select it (anti-affinity subtracts), and when its own terms select
//! the new pod; a node scores the sum over its domains, scaled so the best
//! is 100 and the worst 0.

use super::{InterPodAffinity, TopologyCounts, HARD_POD_AFFINITY_WEIGHT};
use crate::scheduler::framework::{CycleState, NodeInfo, PodInfo, PreScorePlugin, ScorePlugin, Status, WeightedAffinityTerm, MAX_NODE_SCORE};
use crate::scheduler::snapshot::Snapshot;
use std::collections::BTreeMap;

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[&NodeInfo], snapshot: &Snapshot) -> Result<(), Status> {
        let own_preferences = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let any_existing = snapshot.has_pods_with_affinity();
        if !own_preferences && !any_existing {
            return Err(Status::skip());
        }
        let own_ns = snapshot.namespace_labels(pod.namespace());
        let mut scores = TopologyCounts::default();
        let weighted = |scores: &mut TopologyCounts, terms: &[WeightedAffinityTerm], target: &PodInfo, ns: &BTreeMap<String, String>, node: &NodeInfo, sign: i64| {
            for t in terms {
                if t.term.matches(target, ns) {
                    scores.add(node, &t.term.topology_key, sign * t.weight);
                }
            }
        };
        for node in snapshot.nodes() {
            if node.labels().is_empty() || (!own_preferences && node.pods_with_affinity == 0) {
                continue;
            }
            for existing in &node.pods {
                let existing_ns = snapshot.namespace_labels(existing.namespace());
                weighted(&mut scores, &pod.preferred_affinity, existing, existing_ns, node, 1);
                weighted(&mut scores, &pod.preferred_anti_affinity, existing, existing_ns, node, -1);
                for t in &existing.required_affinity {
                    if t.matches(pod, own_ns) {
                        scores.add(node, &t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                    }
                }
                weighted(&mut scores, &existing.preferred_affinity, pod, own_ns, node, 1);
                weighted(&mut scores, &existing.preferred_anti_affinity, pod, own_ns, node, -1);
            }
        }
        state.write(scores);
        Ok(())
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
        state.read::<TopologyCounts>().map_or(0, |scores| scores.sum_for(node))
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        let (min, max) = scores.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        let spread = max.saturating_sub(min);
        for s in scores.iter_mut() {
            *s = if spread > 0 { (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / spread as f64)) as i64 } else { 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{pod_with, score_in, snapshot};
    use serde_json::json;

    #[test]
    fn preferred_terms_pull_toward_and_push_away_from_domains() {
        let pod = |name: &str, labels, spec| pod_with(json!({"name": name, "namespace": "default", "labels": labels}), spec);
        let plain = |name: &str, app: &str| pod(name, json!({"app": app}), json!({"containers": []}));
        let zone_node = |name: &str, zone: &str| json!({"metadata": {"name": name, "labels": {"zone": zone}}});
        let cluster = snapshot(&[(zone_node("a1", "a"), vec![plain("c1", "cache")]), (zone_node("b1", "b"), vec![plain("w1", "web")]), (zone_node("c1", "c"), vec![])]);
        let preferred = |kind: &str, app: &str, weight: i64| json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": weight, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "zone"}}]}});
        let mut affinity = preferred("podAffinity", "cache", 50);
        affinity.as_object_mut().unwrap().extend(preferred("podAntiAffinity", "web", 100).as_object().unwrap().clone());
        let incoming = pod("p", json!({"app": "web"}), json!({"containers": [], "affinity": affinity}));
        let nodes: Vec<_> = ["a1", "b1", "c1"].iter().map(|n| cluster.get(n).unwrap()).collect();
        // a: +50, b: -100, c: 0 → scaled over [-100, 50].
        assert_eq!(score_in(&InterPodAffinity, Some(&InterPodAffinity), &incoming, &nodes, &cluster), [100, 0, 66]);
    }
}
