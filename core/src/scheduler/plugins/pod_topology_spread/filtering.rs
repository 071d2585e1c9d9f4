//! PodTopologySpread's PreFilter and Filter (`DoNotSchedule` constraints).

use super::counting::{Domain, DomainCounts};
use super::{constraints, has_all_keys, Constraint, PodTopologySpread, REASON_CONSTRAINTS_NOT_MATCH, REASON_NODE_LABEL_NOT_MATCH};
use crate::scheduler::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo, PreFilterPlugin, PreFilterResult, Status};
use crate::scheduler::snapshot::Snapshot;
use std::sync::Arc;

/// Per constraint, how many matching pods each domain holds.
#[derive(Clone, Debug)]
struct PreFilterState {
    constraints: Arc<Vec<Constraint>>,
    counts: Vec<DomainCounts>,
    /// Per constraint, 1 if the incoming pod matches its own selector.
    self_match: Vec<i64>,
    /// Per constraint and domain, whether placing the pod there would
    /// exceed maxSkew, and the same for a domain no counted node is in:
    /// Filter, which runs for every node, only looks the answer up.
    too_skewed: Vec<Vec<bool>>,
    too_skewed_elsewhere: Vec<bool>,
}

impl PreFilterState {
    /// Recomputes constraint `i`'s verdicts from its counts.
    fn refresh(&mut self, i: usize) {
        let (counts, max_skew, base) = (&self.counts[i], self.constraints[i].max_skew, self.self_match[i] - self.min_match(i));
        self.too_skewed[i] = (0..counts.domains()).map(|d| counts.count(d) + base > max_skew).collect();
        self.too_skewed_elsewhere[i] = base > max_skew;
    }

    /// The global minimum for a constraint: 0 while fewer than `minDomains` domains exist.
    fn min_match(&self, i: usize) -> i64 {
        if (self.counts[i].present() as i64) < self.constraints[i].min_domains {
            0
        } else {
            self.counts[i].minimum()
        }
    }

    /// Counts `other` in (delta 1) or out (-1) of its node's domains.
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if other.namespace() != pod.namespace() || !has_all_keys(node, &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selector.matches(other.labels()) || !c.includes(pod, node) {
                continue;
            }
            if let Domain::At(d) = self.counts[i].domain_of(node) {
                self.counts[i].add(d, delta);
                self.refresh(i);
            }
        }
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Result<PreFilterResult, Status> {
        let constraints = constraints(pod, "DoNotSchedule");
        if constraints.is_empty() {
            return Err(Status::skip());
        }
        let counts = self.domain_counts(snapshot, pod, &constraints);
        let self_match = constraints.iter().map(|c| i64::from(c.selector.matches(pod.labels()))).collect();
        let n = constraints.len();
        let mut s = PreFilterState {
            constraints: Arc::new(constraints),
            counts,
            self_match,
            too_skewed: vec![Vec::new(); n],
            too_skewed_elsewhere: vec![false; n],
        };
        for i in 0..n {
            s.refresh(i);
        }
        state.write(s);
        Ok(PreFilterResult::AllNodes)
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo, _: &Snapshot) {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.update(pod, added, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &PodInfo, node: &NodeInfo, _: &Snapshot) {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.update(pod, removed, node, -1);
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    /// Placing the pod here must keep `matching + self - global minimum <= maxSkew`
    /// (worked out per domain in `refresh`).
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let Some(s) = state.read::<PreFilterState>() else { return Ok(()) };
        for ((counts, too_skewed), &elsewhere) in s.counts.iter().zip(&s.too_skewed).zip(&s.too_skewed_elsewhere) {
            let Some(domain) = counts.lookup(node) else { return Err(Status::unresolvable(REASON_NODE_LABEL_NOT_MATCH)) };
            if domain.map_or(elsewhere, |d| too_skewed.get(d).copied().unwrap_or(elsewhere)) {
                return Err(Status::unschedulable(REASON_CONSTRAINTS_NOT_MATCH));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::Code;
    use crate::scheduler::plugins::testing::{pod_with, snapshot};
    use serde_json::{json, Value};

    fn spread(extra: Value) -> Value {
        let mut c = json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"containers": [], "topologySpreadConstraints": [c]})
    }

    fn web(name: &str) -> PodInfo {
        pod_with(json!({"name": name, "namespace": "default", "labels": {"app": "web"}}), json!({"containers": []}))
    }

    fn zone_node(name: &str, zone: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"zone": zone, "kubernetes.io/hostname": name}}})
    }

    /// Runs PreFilter and Filter on every node; returns each node's verdict.
    fn verdicts(incoming: &PodInfo, snapshot: &Snapshot, names: &[&str]) -> Vec<Result<(), Code>> {
        let mut state = CycleState::default();
        PodTopologySpread::default().pre_filter(&mut state, incoming, snapshot).unwrap();
        names.iter().map(|n| PodTopologySpread::default().filter(&state, incoming, snapshot.get(n).unwrap()).map_err(|s| s.code)).collect()
    }

    #[test]
    fn filter_table() {
        let incoming = |extra| pod_with(json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}), spread(extra));
        let cluster = || snapshot(&[(zone_node("a1", "a"), vec![web("w1"), web("w2")]), (zone_node("b1", "b"), vec![web("w3")]), (json!({"metadata": {"name": "bare"}}), vec![])]);
        let (ok, skewed, unlabelled) = (Ok(()), Err(Code::Unschedulable), Err(Code::UnschedulableAndUnresolvable));
        let cases: Vec<(Value, Vec<Result<(), Code>>)> = vec![
            // a holds 2, b holds 1: a would reach 3 - 1 = 2 > 1.
            (json!({}), vec![skewed, ok, unlabelled]),
            (json!({"maxSkew": 2}), vec![ok, ok, unlabelled]),
            // With 3 domains required and 2 present, the minimum counts as 0.
            (json!({"minDomains": 3}), vec![skewed, skewed, unlabelled]),
        ];
        for (extra, want) in cases {
            assert_eq!(verdicts(&incoming(extra.clone()), &cluster(), &["a1", "b1", "bare"]), want, "{extra}");
        }
    }

    #[test]
    fn terminating_pods_and_other_namespaces_do_not_count_and_node_affinity_limits_domains() {
        let mut leaving = web("w3");
        leaving.terminating = true;
        let elsewhere = pod_with(json!({"name": "w4", "namespace": "other", "labels": {"app": "web"}}), json!({"containers": []}));
        let cluster = snapshot(&[(zone_node("a1", "a"), vec![web("w1")]), (zone_node("b1", "b"), vec![leaving, elsewhere]), (zone_node("c1", "c"), vec![])]);
        let incoming = pod_with(json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}), spread(json!({})));
        assert_eq!(verdicts(&incoming, &cluster, &["a1", "b1", "c1"]), [Err(Code::Unschedulable), Ok(()), Ok(())]);
        // Only zones a and b are eligible for a pod that avoids c: b (0) is the minimum.
        let mut avoid_c = spread(json!({}));
        avoid_c["nodeSelector"] = json!({});
        avoid_c["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["c"]}]}]}}});
        let picky = pod_with(json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}), avoid_c);
        assert_eq!(verdicts(&picky, &cluster, &["a1", "b1"]), [Err(Code::Unschedulable), Ok(())]);
    }

    #[test]
    fn removing_a_pod_in_a_what_if_updates_the_counts() {
        let cluster = snapshot(&[(zone_node("a1", "a"), vec![web("w1"), web("w2")]), (zone_node("b1", "b"), vec![web("w3")])]);
        let incoming = pod_with(json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}), spread(json!({})));
        let mut state = CycleState::default();
        PodTopologySpread::default().pre_filter(&mut state, &incoming, &cluster).unwrap();
        let a1 = cluster.get("a1").unwrap();
        assert!(PodTopologySpread::default().filter(&state, &incoming, a1).is_err());
        PodTopologySpread::default().remove_pod(&mut state, &incoming, &web("w1"), a1, &cluster);
        assert!(PodTopologySpread::default().filter(&state, &incoming, a1).is_ok());
    }
}
