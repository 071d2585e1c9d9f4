//! How many matching pods each topology domain holds, for every spreading
//! pod's PreFilter and PreScore. Upstream recounts every pod on every node
//! for each pod it schedules, spread over 16 goroutines; a browser tab has
//! one thread, so the per-node counts are kept between cycles instead and
//! recounted only on the nodes the snapshot logged as changed (a pod came
//! or went, the node changed). Pods of one workload share a selector, so a
//! handful of entries serve a whole rollout. The counts are the same as
//! recounting; only the work differs.
//!
//! Domains are numbered, and each node's domain is recorded by its
//! position in the snapshot, so that Filter and Score find a node's count
//! without comparing label strings (costly in wasm, where every string
//! comparison is a call).

use super::{matching_pods, Constraint};
use crate::scheduler::framework::{NodeInfo, PodInfo};
use crate::scheduler::label_selector::Selector;
use crate::scheduler::snapshot::{ChangeCursor, Snapshot};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Selectors remembered at once; the least recently used goes first.
const ENTRIES: usize = 8;
const NO_DOMAIN: u32 = u32::MAX;

/// Where a node stands for one constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// The node lacks the topology key.
    Missing,
    /// The node's domain, by number.
    At(usize),
}

/// One constraint's matching-pod counts, by domain, as of one cycle.
#[derive(Clone, Debug)]
pub struct DomainCounts {
    topology_key: Arc<str>,
    /// Domain names (topology values), by number.
    names: Arc<Vec<String>>,
    /// By node position: the NodeInfo generation read, and its domain.
    node_domains: Arc<Vec<(u64, u32)>>,
    /// Per domain: matching pods on the nodes counted; None when no counted node is in it.
    counts: Vec<Option<i64>>,
}

impl DomainCounts {
    /// The node's domain. Nodes of the snapshot are found by position;
    /// others (preemption's what-if copies) by their label.
    pub fn domain_of(&mut self, node: &NodeInfo) -> Domain {
        if let Some(&(generation, d)) = self.node_domains.get(node.index) {
            if generation == node.generation {
                return if d == NO_DOMAIN { Domain::Missing } else { Domain::At(d as usize) };
            }
        }
        let Some(value) = node.labels().get(&*self.topology_key) else { return Domain::Missing };
        match self.names.iter().position(|n| n == value) {
            Some(d) => Domain::At(d),
            None => {
                Arc::make_mut(&mut self.names).push(value.clone());
                self.counts.push(None);
                Domain::At(self.counts.len() - 1)
            }
        }
    }

    /// The node's domain without learning new ones (Filter and Score):
    /// None if it lacks the key, Some(None) for a value no counted node
    /// has (its count is 0). Inlined: Filter asks it for every node, and
    /// nodes of the snapshot are answered by position.
    #[inline]
    pub fn lookup(&self, node: &NodeInfo) -> Option<Option<usize>> {
        if let Some(&(generation, d)) = self.node_domains.get(node.index) {
            if generation == node.generation {
                return (d != NO_DOMAIN).then_some(Some(d as usize));
            }
        }
        self.lookup_by_label(node)
    }

    /// `lookup` for a node not found by position (a what-if copy).
    #[inline(never)]
    fn lookup_by_label(&self, node: &NodeInfo) -> Option<Option<usize>> {
        let value = node.labels().get(&*self.topology_key)?;
        Some(self.names.iter().position(|n| n == value))
    }

    /// Matching pods in domain `d` (0 if no counted node is in it).
    pub fn count(&self, d: usize) -> i64 {
        self.counts.get(d).copied().flatten().unwrap_or(0)
    }

    pub fn add(&mut self, d: usize, delta: i64) {
        self.counts[d] = Some(self.count(d) + delta);
    }

    /// How many domains hold a counted node.
    pub fn present(&self) -> usize {
        self.counts.iter().filter(|c| c.is_some()).count()
    }

    /// The smallest count among present domains.
    pub fn minimum(&self) -> i64 {
        self.counts.iter().filter_map(|c| *c).min().unwrap_or(i64::MAX)
    }

    /// Keeps only the domains for which `keep` says so (the others become absent).
    pub fn retain(&mut self, keep: &[bool]) {
        for (count, keep) in self.counts.iter_mut().zip(keep) {
            if !keep {
                *count = None;
            }
        }
    }

    pub fn domains(&self) -> usize {
        self.counts.len()
    }
}

#[derive(Debug)]
struct Entry {
    namespace: String,
    selector: Selector,
    topology_key: Arc<str>,
    names: Arc<Vec<String>>,
    index: BTreeMap<String, u32>,
    node_domains: Arc<Vec<(u64, u32)>>,
    /// Matching pods, by node position.
    matching: Vec<u32>,
    /// Per domain, the nodes in it and their matching pods, kept up to
    /// date node by node: the usual count reads these instead of adding
    /// up every node of the cluster each cycle.
    domain_nodes: Vec<u32>,
    domain_pods: Vec<i64>,
    /// How far the snapshot's change log has been read (None: not yet).
    read: Option<ChangeCursor>,
}

impl Entry {
    /// Adds (`sign` 1) or takes away (-1) what the node at `position` counts for.
    fn tally(&mut self, position: usize, sign: i64) {
        let domain = self.node_domains[position].1;
        if domain != NO_DOMAIN {
            let d = domain as usize;
            self.domain_nodes[d] = (i64::from(self.domain_nodes[d]) + sign) as u32;
            self.domain_pods[d] += sign * i64::from(self.matching[position]);
        }
    }

    fn refresh(&mut self, snapshot: &Snapshot) {
        let nodes = snapshot.nodes();
        // Positions past the end are nodes gone: they stop counting.
        for position in nodes.len()..self.matching.len() {
            self.tally(position, -1);
        }
        self.matching.resize(nodes.len(), 0);
        Arc::make_mut(&mut self.node_domains).resize(nodes.len(), (0, NO_DOMAIN));
        // Only the nodes the snapshot logged as changed since the last
        // refresh are looked at, or every node when its log does not reach
        // back that far.
        match snapshot.changes_since(self.read) {
            Some(positions) => {
                for &position in positions.iter().filter(|&&p| p < nodes.len()) {
                    self.recount(position, &nodes[position]);
                }
            }
            None => {
                for (position, node) in nodes.iter().enumerate() {
                    self.recount(position, node);
                }
            }
        }
        self.read = Some(snapshot.change_cursor());
    }

    /// Counts the node now at `position` instead of what was there, unless
    /// it is unchanged since (its generation is the one read).
    fn recount(&mut self, position: usize, node: &NodeInfo) {
        if self.node_domains[position].0 == node.generation {
            return;
        }
        self.tally(position, -1);
        let domain = match node.labels().get(&*self.topology_key) {
            Some(value) => match self.index.get(value) {
                Some(&d) => d,
                None => {
                    let names = Arc::make_mut(&mut self.names);
                    names.push(value.clone());
                    self.domain_nodes.push(0);
                    self.domain_pods.push(0);
                    let d = (names.len() - 1) as u32;
                    self.index.insert(value.clone(), d);
                    d
                }
            },
            None => NO_DOMAIN,
        };
        Arc::make_mut(&mut self.node_domains)[position] = (node.generation, domain);
        self.matching[position] = matching_pods(node, &self.selector, &self.namespace) as u32;
        self.tally(position, 1);
    }
}

#[derive(Debug, Default)]
pub struct CountCache {
    entries: Vec<Entry>,
}

impl CountCache {
    fn position(&self, namespace: &str, c: &Constraint) -> Option<usize> {
        self.entries.iter().position(|e| e.namespace == namespace && *e.topology_key == *c.topology_key && e.selector == c.selector)
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
                    topology_key: c.topology_key.as_str().into(),
                    names: Arc::default(),
                    index: BTreeMap::new(),
                    node_domains: Arc::default(),
                    matching: Vec::new(),
                    domain_nodes: Vec::new(),
                    domain_pods: Vec::new(),
                    read: None,
                }
            }
        };
        self.entries.push(entry);
        self.entries.last_mut().expect("just pushed").refresh(snapshot);
    }

    /// Per constraint, each domain's count of matching pods, over the nodes
    /// that have every constraint's topology key and that the constraint's
    /// node inclusion policies admit for `pod`.
    pub fn domain_counts(&mut self, snapshot: &Snapshot, pod: &PodInfo, constraints: &[Constraint]) -> Vec<DomainCounts> {
        let limit = ENTRIES.max(constraints.len());
        for c in constraints {
            self.refresh(pod.namespace(), c, snapshot, limit);
        }
        let at: Vec<usize> = constraints.iter().map(|c| self.position(pod.namespace(), c).expect("refreshed")).collect();
        // Without node constraints on the pod and with taints ignored, every
        // node with the keys is included: no per-node policy check needed.
        let everywhere = pod.required_node_affinity.is_empty() && constraints.iter().all(|c| !c.honor_node_taints);
        let mut counts: Vec<Vec<Option<i64>>> = at.iter().map(|&e| vec![None; self.entries[e].names.len()]).collect();
        if everywhere && at.len() == 1 {
            // The usual case: every node with the key counts, as tallied.
            let entry = &self.entries[at[0]];
            counts[0] = entry.domain_nodes.iter().zip(&entry.domain_pods).map(|(&nodes, &pods)| (nodes > 0).then_some(pods)).collect();
        } else {
            for (position, node) in snapshot.nodes().iter().enumerate() {
                if at.iter().any(|&e| self.entries[e].node_domains[position].1 == NO_DOMAIN) {
                    continue;
                }
                for (k, c) in constraints.iter().enumerate() {
                    if !everywhere && !c.includes(pod, node) {
                        continue;
                    }
                    let entry = &self.entries[at[k]];
                    let slot = &mut counts[k][entry.node_domains[position].1 as usize];
                    *slot = Some(slot.unwrap_or(0) + i64::from(entry.matching[position]));
                }
            }
        }
        at.iter()
            .zip(counts)
            .map(|(&e, counts)| {
                let entry = &self.entries[e];
                DomainCounts { topology_key: entry.topology_key.clone(), names: entry.names.clone(), node_domains: entry.node_domains.clone(), counts }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::pod_topology_spread::constraints;
    use crate::scheduler::plugins::testing::{pod_with, snapshot};
    use serde_json::json;

    fn by_name(counts: &DomainCounts) -> Vec<(String, i64)> {
        counts.names.iter().enumerate().filter_map(|(d, n)| counts.counts[d].map(|c| (n.clone(), c))).collect()
    }

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
        let counts = |cache: &mut CountCache, cluster: &Snapshot| by_name(&cache.domain_counts(cluster, &incoming, &c)[0]);
        assert_eq!(counts(&mut cache, &cluster), [("a".to_string(), 1), ("b".to_string(), 0)]);
        cluster.add_pod("b1", Arc::new(web("w2")));
        cluster.add_pod("b1", Arc::new(web("w3")));
        assert_eq!(counts(&mut cache, &cluster), [("a".to_string(), 1), ("b".to_string(), 2)]);
        cluster.remove_node("a1");
        cluster.upsert_node(Arc::new(serde_json::from_value(zone_node("c1", "c")).unwrap()));
        assert_eq!(counts(&mut cache, &cluster), [("b".to_string(), 2), ("c".to_string(), 0)]);
        // A node is found by position while unchanged, and by label once it is a modified copy.
        let mut dc = cache.domain_counts(&cluster, &incoming, &c).remove(0);
        let b1 = cluster.get("b1").unwrap();
        let b = dc.domain_of(b1);
        let mut copy = b1.clone();
        copy.remove_pod(&("default".to_string(), "w2".to_string()));
        assert_eq!(dc.domain_of(&copy), b);
    }

    #[test]
    fn tallies_kept_between_cycles_equal_a_count_from_scratch() {
        let web = |name: &str| pod_with(json!({"name": name, "namespace": "default", "labels": {"app": "web"}}), json!({"containers": []}));
        let zone_node = |name: &str, zone: &str| Arc::new(serde_json::from_value(json!({"metadata": {"name": name, "labels": {"zone": zone}}})).unwrap());
        let incoming = pod_with(
            json!({"name": "p", "namespace": "default", "labels": {"app": "web"}}),
            json!({"containers": [], "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}),
        );
        let c = constraints(&incoming, "DoNotSchedule");
        let mut cluster = snapshot(&[]);
        let mut cache = CountCache::default();
        let mut check = |cluster: &Snapshot, expected: &[(&str, i64)]| {
            let sorted = |counts: &DomainCounts| {
                let mut v = by_name(counts);
                v.sort();
                v
            };
            let kept = sorted(&cache.domain_counts(cluster, &incoming, &c)[0]);
            assert_eq!(kept, sorted(&CountCache::default().domain_counts(cluster, &incoming, &c)[0]));
            assert_eq!(kept, expected.iter().map(|(d, n)| (d.to_string(), *n)).collect::<Vec<_>>());
        };
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c")] {
            cluster.upsert_node(zone_node(name, zone));
        }
        cluster.add_pod("a1", Arc::new(web("w1")));
        cluster.add_pod("b1", Arc::new(web("w2")));
        check(&cluster, &[("a", 1), ("b", 1), ("c", 0)]);
        // The last node moves into the removed one's position.
        cluster.remove_node("a1");
        check(&cluster, &[("a", 0), ("b", 1), ("c", 0)]);
        cluster.remove_node("c1");
        check(&cluster, &[("a", 0), ("b", 1)]);
        cluster.add_pod("a2", Arc::new(web("w3")));
        cluster.upsert_node(zone_node("b1", "c"));
        check(&cluster, &[("a", 1), ("c", 1)]);
        cluster.remove_node("a2");
        cluster.remove_node("b1");
        check(&cluster, &[]);
    }
}
