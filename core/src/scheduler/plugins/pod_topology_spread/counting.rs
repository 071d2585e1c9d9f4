//! How many matching pods each topology domain holds, for every spreading
//! pod's PreFilter and PreScore. Upstream recounts every pod on every node
//! for each pod it schedules, spread over 16 goroutines; a browser tab has
//! one thread, so the per-node counts are kept between cycles instead and
//! recounted only on nodes whose generation changed (a pod came or went,
//! the node changed). Pods of one workload share a selector, so a handful
//! of entries serve a whole rollout. The counts are the same as
//! recounting; only the work differs.

use super::{matching_pods, Constraint};
use crate::scheduler::framework::PodInfo;
use crate::scheduler::label_selector::Selector;
use crate::scheduler::snapshot::Snapshot;
use std::collections::BTreeMap;

/// Selectors remembered at once; the least recently used goes first.
const ENTRIES: usize = 8;
const NO_DOMAIN: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, Default)]
struct NodeCount {
    /// The NodeInfo generation this was counted at (0: never).
    generation: u64,
    /// The node's value for the topology key, as an index into `domains`.
    domain: u32,
    matching: u32,
}

#[derive(Debug)]
struct Entry {
    namespace: String,
    selector: Selector,
    topology_key: String,
    domains: Vec<String>,
    domain_index: BTreeMap<String, u32>,
    /// By position in the snapshot's node list.
    nodes: Vec<NodeCount>,
}

impl Entry {
    fn refresh(&mut self, snapshot: &Snapshot) {
        self.nodes.resize(snapshot.len(), NodeCount::default());
        for (count, node) in self.nodes.iter_mut().zip(snapshot.nodes()) {
            if count.generation == node.generation {
                continue;
            }
            let domain = match node.labels().get(&self.topology_key) {
                Some(value) => match self.domain_index.get(value) {
                    Some(&i) => i,
                    None => {
                        self.domains.push(value.clone());
                        let i = (self.domains.len() - 1) as u32;
                        self.domain_index.insert(value.clone(), i);
                        i
                    }
                },
                None => NO_DOMAIN,
            };
            let matching = matching_pods(node, &self.selector, &self.namespace) as u32;
            *count = NodeCount { generation: node.generation, domain, matching };
        }
    }
}

#[derive(Debug, Default)]
pub struct CountCache {
    entries: Vec<Entry>,
}

impl CountCache {
    fn position(&self, namespace: &str, c: &Constraint) -> Option<usize> {
        self.entries.iter().position(|e| e.namespace == namespace && e.topology_key == c.topology_key && e.selector == c.selector)
    }

    /// Brings the entry for pods of `namespace` matching the constraint's
    /// selector over its topology key up to date, creating it if needed,
    /// and makes it the most recently used. `limit` is at least the number
    /// of constraints being counted, so none of them is evicted meanwhile.
    fn refresh(&mut self, namespace: &str, c: &Constraint, snapshot: &Snapshot, limit: usize) {
        let entry = match self.position(namespace, c) {
            Some(at) => self.entries.remove(at),
            None => {
                if self.entries.len() >= limit {
                    self.entries.remove(0);
                }
                Entry {
                    namespace: namespace.to_string(),
                    selector: c.selector.clone(),
                    topology_key: c.topology_key.clone(),
                    domains: Vec::new(),
                    domain_index: BTreeMap::new(),
                    nodes: Vec::new(),
                }
            }
        };
        self.entries.push(entry);
        self.entries.last_mut().expect("just pushed").refresh(snapshot);
    }

    /// Per constraint, each domain's count of matching pods, over the nodes
    /// that have every constraint's topology key and that the constraint's
    /// node inclusion policies admit for `pod`.
    pub fn domain_counts(&mut self, snapshot: &Snapshot, pod: &PodInfo, constraints: &[Constraint]) -> Vec<BTreeMap<String, i64>> {
        let limit = ENTRIES.max(constraints.len());
        for c in constraints {
            self.refresh(pod.namespace(), c, snapshot, limit);
        }
        let at: Vec<usize> = constraints.iter().map(|c| self.position(pod.namespace(), c).expect("refreshed")).collect();
        // Without node constraints on the pod and with taints ignored, every
        // node with the keys is included: no per-node policy check needed.
        let everywhere = pod.required_node_affinity.is_empty() && constraints.iter().all(|c| !c.honor_node_taints);
        let mut per_domain: Vec<Vec<Option<i64>>> = at.iter().map(|&e| vec![None; self.entries[e].domains.len()]).collect();
        for (position, node) in snapshot.nodes().iter().enumerate() {
            if at.iter().any(|&e| self.entries[e].nodes[position].domain == NO_DOMAIN) {
                continue;
            }
            for (k, c) in constraints.iter().enumerate() {
                if !everywhere && !c.includes(pod, node) {
                    continue;
                }
                let count = self.entries[at[k]].nodes[position];
                let slot = &mut per_domain[k][count.domain as usize];
                *slot = Some(slot.unwrap_or(0) + i64::from(count.matching));
            }
        }
        per_domain
            .into_iter()
            .zip(&at)
            .map(|(domains, &e)| domains.into_iter().enumerate().filter_map(|(i, n)| n.map(|n| (self.entries[e].domains[i].clone(), n))).collect())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::pod_topology_spread::constraints;
    use crate::scheduler::plugins::testing::{pod_with, snapshot};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn counts_follow_pods_and_nodes_between_cycles() {
        let web = |name: &str| pod_with(json!({"name": name, "namespace": "default", "labels": {"app": "web"}}), json!({"containers": []}));
        let zone_node = |name: &str, zone: &str| json!({"metadata": {"name": name, "labels": {"zone": zone}}});
        let mut cluster = snapshot(&[(zone_node("a1", "a"), vec![web("w1")]), (zone_node("b1", "b"), vec![])]);
        let incoming = pod_with(
            json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}),
            json!({"containers": [], "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}),
        );
        let c = constraints(&incoming, "DoNotSchedule");
        let mut cache = CountCache::default();
        let counts = |cache: &mut CountCache, cluster: &Snapshot| cache.domain_counts(cluster, &incoming, &c)[0].clone().into_iter().collect::<Vec<_>>();
        assert_eq!(counts(&mut cache, &cluster), [("a".to_string(), 1), ("b".to_string(), 0)]);
        cluster.add_pod("b1", Arc::new(web("w2")));
        cluster.add_pod("b1", Arc::new(web("w3")));
        assert_eq!(counts(&mut cache, &cluster), [("a".to_string(), 1), ("b".to_string(), 2)]);
        cluster.remove_node("a1");
        cluster.upsert_node(Arc::new(serde_json::from_value(zone_node("c1", "c")).unwrap()));
        assert_eq!(counts(&mut cache, &cluster), [("b".to_string(), 2), ("c".to_string(), 0)]);
    }
}
