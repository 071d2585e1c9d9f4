//! InterPodAffinity's PreFilter and Filter: the counts of matching pods per
//! topology domain are gathered once per pod, so each node's check is a
//! few map lookups.

use super::{InterPodAffinity, TopologyCounts, REASON_AFFINITY, REASON_ANTI_AFFINITY, REASON_EXISTING_ANTI_AFFINITY};
use crate::scheduler::framework::{AffinityTerm, CycleState, FilterPlugin, NodeInfo, PodInfo, PreFilterPlugin, PreFilterResult, Status};
use crate::scheduler::snapshot::Snapshot;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
struct PreFilterState {
    /// Domains holding existing pods whose required anti-affinity selects the new pod.
    existing_anti_affinity: TopologyCounts,
    /// Domains holding pods that match all the new pod's required affinity terms.
    affinity: TopologyCounts,
    /// Domains holding pods that match one of the new pod's anti-affinity terms.
    anti_affinity: TopologyCounts,
    /// The new pod's namespace labels, for existing pods' namespace selectors.
    namespace_labels: BTreeMap<String, String>,
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, namespace_labels: &BTreeMap<String, String>) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, namespace_labels))
}

impl PreFilterState {
    /// Counts `other`, placed on `node`, in (delta 1) or out (-1).
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, other_ns_labels: &BTreeMap<String, String>, delta: i64) {
        for term in &other.required_anti_affinity {
            if term.matches(pod, &self.namespace_labels) {
                self.existing_anti_affinity.add(node, &term.topology_key, delta);
            }
        }
        if matches_all(&pod.required_affinity, other, other_ns_labels) {
            for term in &pod.required_affinity {
                self.affinity.add(node, &term.topology_key, delta);
            }
        }
        for term in &pod.required_anti_affinity {
            if term.matches(other, other_ns_labels) {
                self.anti_affinity.add(node, &term.topology_key, delta);
            }
        }
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Result<PreFilterResult, Status> {
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !own_terms && !snapshot.has_pods_with_required_anti_affinity() {
            return Err(Status::skip());
        }
        let mut s = PreFilterState { namespace_labels: snapshot.namespace_labels(pod.namespace()).clone(), ..Default::default() };
        for node in snapshot.nodes() {
            if node.pods_with_required_anti_affinity == 0 && !own_terms {
                continue;
            }
            for other in &node.pods {
                s.update(pod, other, node, snapshot.namespace_labels(other.namespace()), 1);
            }
        }
        state.write(s);
        Ok(PreFilterResult::AllNodes)
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.update(pod, added, node, snapshot.namespace_labels(added.namespace()), 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.update(pod, removed, node, snapshot.namespace_labels(removed.namespace()), -1);
        }
    }
}

fn satisfies_affinity(s: &PreFilterState, pod: &PodInfo, node: &NodeInfo) -> bool {
    let mut pods_exist = true;
    for term in &pod.required_affinity {
        if !node.labels().contains_key(&term.topology_key) {
            return false;
        }
        if s.affinity.of(node, &term.topology_key) <= 0 {
            pods_exist = false;
        }
    }
    // The first pod of a group with affinity to itself has nothing to join:
    // let it in if nothing else matches and it matches its own terms.
    pods_exist || (s.affinity.is_empty() && matches_all(&pod.required_affinity, pod, &s.namespace_labels))
}

fn satisfies_anti_affinity(s: &PreFilterState, pod: &PodInfo, node: &NodeInfo) -> bool {
    s.anti_affinity.is_empty() || pod.required_anti_affinity.iter().all(|term| s.anti_affinity.of(node, &term.topology_key) <= 0)
}

fn satisfies_existing_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    // Only the domains that hold such pods, not every label of the node.
    s.existing_anti_affinity.is_empty() || s.existing_anti_affinity.0.keys().all(|key| s.existing_anti_affinity.of(node, key) <= 0)
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let Some(s) = state.read::<PreFilterState>() else { return Ok(()) };
        if !satisfies_affinity(s, pod, node) {
            return Err(Status::unresolvable(REASON_AFFINITY));
        }
        if !satisfies_anti_affinity(s, pod, node) {
            return Err(Status::unschedulable(REASON_ANTI_AFFINITY));
        }
        if !satisfies_existing_anti_affinity(s, node) {
            return Err(Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{pod_with, snapshot};
    use serde_json::{json, Value};

    fn labelled(name: &str, namespace: &str, labels: Value, spec: Value) -> PodInfo {
        pod_with(json!({"name": name, "namespace": namespace, "labels": labels}), spec)
    }

    fn term(selector: Value, key: &str) -> Value {
        json!({"labelSelector": {"matchLabels": selector}, "topologyKey": key})
    }

    fn with_affinity(kind: &str, terms: Vec<Value>) -> Value {
        json!({"containers": [], "affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": terms}}})
    }

    fn verdicts(incoming: &PodInfo, snapshot: &Snapshot, names: &[&str]) -> Vec<Result<(), String>> {
        let mut state = CycleState::default();
        if InterPodAffinity.pre_filter(&mut state, incoming, snapshot).is_err() {
            return names.iter().map(|_| Ok(())).collect();
        }
        names.iter().map(|n| InterPodAffinity.filter(&state, incoming, snapshot.get(n).unwrap()).map_err(|s| s.message())).collect()
    }

    fn zone_node(name: &str, zone: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"zone": zone, "kubernetes.io/hostname": name}}})
    }

    #[test]
    fn filter_table() {
        let db = || labelled("db", "default", json!({"app": "db"}), json!({"containers": []}));
        let guard = || labelled("guard", "default", json!({"app": "guard"}), with_affinity("podAntiAffinity", vec![term(json!({"app": "web"}), "kubernetes.io/hostname")]));
        let cluster = snapshot(&[(zone_node("a1", "a"), vec![db()]), (zone_node("a2", "a"), vec![guard()]), (zone_node("b1", "b"), vec![])]);
        let web = |spec| labelled("p", "default", json!({"app": "web"}), spec);
        let no = |r: &str| Err(r.to_string());
        let cases = [
            // Near the database's zone.
            (web(with_affinity("podAffinity", vec![term(json!({"app": "db"}), "zone")])), vec![Ok(()), no(REASON_EXISTING_ANTI_AFFINITY), no(REASON_AFFINITY)]),
            // Away from the database's node; and the guard keeps web pods off its own.
            (web(with_affinity("podAntiAffinity", vec![term(json!({"app": "db"}), "kubernetes.io/hostname")])), vec![no(REASON_ANTI_AFFINITY), no(REASON_EXISTING_ANTI_AFFINITY), Ok(())]),
            // Away from the database's zone.
            (web(with_affinity("podAntiAffinity", vec![term(json!({"app": "db"}), "zone")])), vec![no(REASON_ANTI_AFFINITY), no(REASON_ANTI_AFFINITY), Ok(())]),
            // Affinity to pods that do not exist, and the pod does not match itself: nowhere.
            (web(with_affinity("podAffinity", vec![term(json!({"app": "cache"}), "zone")])), vec![no(REASON_AFFINITY), no(REASON_AFFINITY), no(REASON_AFFINITY)]),
            // The first of a group with affinity to itself goes anywhere its anti-affinity neighbours allow.
            (web(with_affinity("podAffinity", vec![term(json!({"app": "web"}), "zone")])), vec![Ok(()), no(REASON_EXISTING_ANTI_AFFINITY), Ok(())]),
        ];
        for (incoming, want) in cases {
            assert_eq!(verdicts(&incoming, &cluster, &["a1", "a2", "b1"]), want, "{:?}", incoming.pod.spec.as_ref().unwrap().affinity);
        }
    }

    #[test]
    fn namespaces_and_namespace_selectors_reach_other_namespaces() {
        let mut cluster = snapshot(&[(zone_node("a1", "a"), vec![labelled("db", "data", json!({"app": "db"}), json!({"containers": []}))]), (zone_node("b1", "b"), vec![])]);
        cluster.set_namespace_labels("data", Some([("team".to_string(), "storage".to_string())].into()));
        let with_term = |extra: Value| {
            let mut t = term(json!({"app": "db"}), "zone");
            t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            labelled("p", "default", json!({}), with_affinity("podAffinity", vec![t]))
        };
        let no = Err(REASON_AFFINITY.to_string());
        assert_eq!(verdicts(&with_term(json!({})), &cluster, &["a1", "b1"]), [no.clone(), no.clone()], "own namespace only");
        assert_eq!(verdicts(&with_term(json!({"namespaces": ["data"]})), &cluster, &["a1", "b1"]), [Ok(()), no.clone()]);
        assert_eq!(verdicts(&with_term(json!({"namespaceSelector": {"matchLabels": {"team": "storage"}}})), &cluster, &["a1", "b1"]), [Ok(()), no.clone()]);
        assert_eq!(verdicts(&with_term(json!({"namespaceSelector": {"matchLabels": {"team": "web"}}})), &cluster, &["a1", "b1"]), [no.clone(), no]);
    }
}
