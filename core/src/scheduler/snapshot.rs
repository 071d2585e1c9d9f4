//! The scheduler's view of the cluster during a cycle: every node with the
//! pods placed on it, in the order kube-scheduler's node tree visits them,
//! plus the few cluster-wide facts plugins need (namespace labels, how many
//! nodes hold each image).
//!
//! kube-scheduler copies its cache into a snapshot before each cycle. Here
//! the cycle runs to completion before any event is applied, so the cache
//! itself is the snapshot: nothing is copied per pod, and a change touches
//! only the node it concerns.

use super::framework::{NodeInfo, PodInfo};
use super::label_selector::NO_LABELS;
use super::PodKey;
use k8s_openapi::api::core::v1::Node;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

#[derive(Debug, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    /// The positions whose node changed, in order, for caches that would
    /// otherwise compare every node's generation each cycle (see `changes_since`).
    changes: ChangeLog,
    index: BTreeMap<Arc<str>, usize>,
    /// Positions in `nodes`, zone by zone in turn (upstream's NodeTree), so
    /// that sampling a share of the nodes still sees every zone.
    order: Vec<usize>,
    /// Node names by position, shared with the decisions made while the
    /// positions held (see `NodeVerdict::position`).
    names: Arc<[Arc<str>]>,
    order_stale: bool,
    image_nodes: BTreeMap<String, usize>,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    pods_with_required_anti_affinity: usize,
    pods_with_affinity: usize,
    /// How many nodes are cordoned, and how many have NoSchedule or
    /// NoExecute taints: with none, those filters skip the whole cycle.
    cordoned_nodes: usize,
    nodes_with_filtering_taints: usize,
}

/// Changes kept before the log starts over (readers further behind then
/// check every node): at least this many, and at least twice the nodes.
const CHANGES_KEPT: usize = 1024;

/// Which snapshot a `ChangeCursor` belongs to: positions mean nothing in another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SnapshotId(u64);

impl Default for SnapshotId {
    fn default() -> Self {
        SnapshotId(super::framework::node_info::next_generation())
    }
}

#[derive(Debug, Default)]
struct ChangeLog {
    snapshot: SnapshotId,
    /// Node positions, in the order they changed (with repeats).
    positions: Vec<usize>,
    /// How many changes came before `positions[0]`.
    start: u64,
}

/// How far a reader has read a snapshot's changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeCursor {
    snapshot: SnapshotId,
    read: u64,
}

/// The key of a node's zone: region and zone, as upstream's `GetZoneKey`.
fn zone_key(node: &NodeInfo) -> String {
    let labels = node.labels();
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
    format!("{}:\u{0}:{}", get(REGION_LABEL), get(ZONE_LABEL))
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// Every node, in no particular order (for cluster-wide counts).
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Brings the visiting order and the names by position up to date
    /// (after nodes came, went or changed zone); call before a cycle reads
    /// `order` or `names`.
    pub fn prepare(&mut self) {
        if self.order_stale {
            self.rebuild_order();
            self.names = self.nodes.iter().map(|n| n.name.clone()).collect();
        }
    }

    /// Node names by position (see `prepare`).
    pub fn names(&self) -> &Arc<[Arc<str>]> {
        &self.names
    }

    /// Positions of the nodes in visiting order (see `prepare`).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn at(&self, position: usize) -> &NodeInfo {
        &self.nodes[position]
    }

    /// Where the changes made so far end: pass it to `changes_since` later.
    pub fn change_cursor(&self) -> ChangeCursor {
        let log = &self.changes;
        ChangeCursor { snapshot: log.snapshot, read: log.start + log.positions.len() as u64 }
    }

    /// The positions whose node changed since `cursor` (was added,
    /// replaced, gained or lost a pod, or moved there when another was
    /// removed), with repeats; positions past the end are nodes gone. None
    /// when the log no longer reaches back that far or the cursor is from
    /// another snapshot: then every node must be checked.
    pub fn changes_since(&self, cursor: Option<ChangeCursor>) -> Option<&[usize]> {
        let cursor = cursor.filter(|c| c.snapshot == self.changes.snapshot)?;
        let from = usize::try_from(cursor.read.checked_sub(self.changes.start)?).ok()?;
        self.changes.positions.get(from..)
    }

    /// Records the node at `position` as changed (its generation moved).
    fn changed(&mut self, position: usize) {
        let log = &mut self.changes;
        if log.positions.len() >= CHANGES_KEPT.max(2 * self.nodes.len()) {
            log.start += log.positions.len() as u64;
            log.positions.clear();
        }
        log.positions.push(position);
    }

    fn rebuild_order(&mut self) {
        let mut zones: Vec<(String, Vec<usize>)> = Vec::new();
        // Nodes by name within a zone, zones in order of their first node:
        // the same cluster always yields the same order.
        for &i in self.index.values() {
            let key = zone_key(&self.nodes[i]);
            match zones.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => zones.push((key, vec![i])),
            }
        }
        self.order.clear();
        let longest = zones.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
        for round in 0..longest {
            self.order.extend(zones.iter().filter_map(|(_, m)| m.get(round).copied()));
        }
        self.order_stale = false;
    }

    /// Adds or replaces a node, keeping the pods already placed on it.
    /// Returns the previous version.
    pub fn upsert_node(&mut self, node: Arc<Node>) -> Option<NodeInfo> {
        let name: &str = node.metadata.name.as_deref().unwrap_or("");
        match self.index.get(name).copied() {
            Some(i) => {
                let new = NodeInfo::replacing(node, &self.nodes[i]);
                if zone_key(&new) != zone_key(&self.nodes[i]) {
                    self.order_stale = true;
                }
                self.count_images(&self.nodes[i].images.keys().cloned().collect::<Vec<_>>(), false);
                self.count_images(&new.images.keys().cloned().collect::<Vec<_>>(), true);
                self.count_restrictions(i, false);
                let old = std::mem::replace(&mut self.nodes[i], new);
                self.changed(i);
                self.count_restrictions(i, true);
                Some(old)
            }
            None => {
                let mut info = NodeInfo::new(node);
                info.index = self.nodes.len();
                self.count_images(&info.images.keys().cloned().collect::<Vec<_>>(), true);
                self.index.insert(info.name.clone(), self.nodes.len());
                self.nodes.push(info);
                self.changed(self.nodes.len() - 1);
                self.count_restrictions(self.nodes.len() - 1, true);
                self.order_stale = true;
                None
            }
        }
    }

    /// Removes a node and everything placed on it; returns it.
    pub fn remove_node(&mut self, name: &str) -> Option<NodeInfo> {
        let i = self.index.remove(name)?;
        self.count_restrictions(i, false);
        let gone = self.nodes.swap_remove(i);
        if i < self.nodes.len() {
            self.nodes[i].index = i;
            let moved = self.nodes[i].name.clone();
            self.index.insert(moved, i);
            self.changed(i);
        }
        self.count_images(&gone.images.keys().cloned().collect::<Vec<_>>(), false);
        self.pods_with_required_anti_affinity -= gone.pods_with_required_anti_affinity;
        self.pods_with_affinity -= gone.pods_with_affinity;
        self.order_stale = true;
        Some(gone)
    }

    /// Counts the node at `position` in (`add`) or out of the cordoned and tainted totals.
    fn count_restrictions(&mut self, position: usize, add: bool) {
        let node = &self.nodes[position];
        for (count, has) in [(&mut self.cordoned_nodes, node.unschedulable()), (&mut self.nodes_with_filtering_taints, node.has_filtering_taints)] {
            if has {
                *count = if add { *count + 1 } else { *count - 1 };
            }
        }
    }

    /// Whether any node is cordoned.
    pub fn has_cordoned_nodes(&self) -> bool {
        self.cordoned_nodes > 0
    }

    /// Whether any node has a NoSchedule or NoExecute taint.
    pub fn has_nodes_with_filtering_taints(&self) -> bool {
        self.nodes_with_filtering_taints > 0
    }

    fn count_images(&mut self, images: &[String], add: bool) {
        for image in images {
            let count = self.image_nodes.entry(image.clone()).or_default();
            if add {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
            }
        }
    }

    /// How many nodes hold `image` (ImageLocality spreads its score by it).
    pub fn nodes_with_image(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    pub fn add_pod(&mut self, node: &str, pod: Arc<PodInfo>) -> bool {
        let Some(&i) = self.index.get(node) else { return false };
        self.pods_with_required_anti_affinity += usize::from(!pod.required_anti_affinity.is_empty());
        self.pods_with_affinity += usize::from(pod.has_affinity());
        self.nodes[i].add_pod(pod);
        self.changed(i);
        true
    }

    pub fn remove_pod(&mut self, node: &str, key: &PodKey) -> Option<Arc<PodInfo>> {
        let &i = self.index.get(node)?;
        let pod = self.nodes[i].remove_pod(key)?;
        self.changed(i);
        self.pods_with_required_anti_affinity -= usize::from(!pod.required_anti_affinity.is_empty());
        self.pods_with_affinity -= usize::from(pod.has_affinity());
        Some(pod)
    }

    /// Whether any placed pod has a required anti-affinity term (which a
    /// new pod must then be checked against).
    pub fn has_pods_with_required_anti_affinity(&self) -> bool {
        self.pods_with_required_anti_affinity > 0
    }

    /// Whether any placed pod has a pod (anti-)affinity term (which may
    /// score the nodes a new pod could join).
    pub fn has_pods_with_affinity(&self) -> bool {
        self.pods_with_affinity > 0
    }

    pub fn namespace_labels(&self, namespace: &str) -> &BTreeMap<String, String> {
        self.namespace_labels.get(namespace).unwrap_or(&NO_LABELS)
    }

    /// Records a namespace's labels; says whether they changed.
    pub fn set_namespace_labels(&mut self, namespace: &str, labels: Option<BTreeMap<String, String>>) -> bool {
        let labels = labels.unwrap_or_default();
        if self.namespace_labels.get(namespace) == Some(&labels) {
            return false;
        }
        self.namespace_labels.insert(namespace.to_string(), labels);
        true
    }

    pub fn clear(&mut self) {
        *self = Snapshot::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str) -> Arc<Node> {
        Arc::new(serde_json::from_value(json!({"metadata": {"name": name, "labels": {ZONE_LABEL: zone}}})).unwrap())
    }

    #[test]
    fn nodes_are_visited_zone_by_zone_in_turn() {
        let mut snapshot = Snapshot::default();
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"), ("c2", "c")] {
            snapshot.upsert_node(node(name, zone));
        }
        let names = |s: &mut Snapshot| {
            s.prepare();
            s.order().iter().map(|&i| s.at(i).name.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names(&mut snapshot), ["a1", "b1", "c1", "a2", "c2", "a3"]);
        snapshot.remove_node("b1");
        assert_eq!(names(&mut snapshot), ["a1", "c1", "a2", "c2", "a3"]);
        assert_eq!(snapshot.get("c2").unwrap().name.as_ref(), "c2");
    }

    #[test]
    fn the_change_log_names_changed_positions_until_it_starts_over() {
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(node("a", "z"));
        snapshot.upsert_node(node("b", "z"));
        let cursor = snapshot.change_cursor();
        assert_eq!(snapshot.changes_since(Some(cursor)), Some(&[][..]));
        snapshot.upsert_node(node("c", "z"));
        snapshot.remove_node("a");
        // c was added at 2, then moved to 0 when a left.
        assert_eq!(snapshot.changes_since(Some(cursor)), Some(&[2, 0][..]));
        assert_eq!(snapshot.changes_since(None), None);
        assert_eq!(Snapshot::default().changes_since(Some(cursor)), None, "a cursor means nothing in another snapshot");
        for _ in 0..CHANGES_KEPT {
            snapshot.upsert_node(node("b", "z"));
        }
        assert_eq!(snapshot.changes_since(Some(cursor)), None, "forgotten");
        let recent = snapshot.change_cursor();
        snapshot.upsert_node(node("b", "y"));
        assert_eq!(snapshot.changes_since(Some(recent)), Some(&[1][..]));
    }
}
