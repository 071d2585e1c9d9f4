//! InterPodAffinity: places pods relative to other pods. Required affinity
//! terms need a pod they select in the node's domain (`topologyKey`);
//! required anti-affinity terms need none there; and a new pod must not
//! land in the domain of an existing pod whose anti-affinity selects it.
//! Preferred terms (the pod's own and existing pods') score domains up or
//! down by their weights. Terms reach other namespaces through
//! `namespaces` and `namespaceSelector`.

mod filtering;
mod scoring;

use crate::scheduler::framework::{ClusterEvent, EnqueueExtensions, NodeInfo, Plugin, PodInfo, QueueingHint};
use std::collections::BTreeMap;

pub const NAME: &str = "InterPodAffinity";
pub const REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// What an existing pod's required affinity term adds to the score of
/// domains a new pod it selects would join (`hardPodAffinityWeight`).
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

pub struct InterPodAffinity;

/// A number per topology domain (label key → value → number): the count
/// of matching pods for Filter, the accumulated weight for Score. Looked up
/// with borrowed strings, since every node of every cycle asks.
#[derive(Clone, Debug, Default)]
struct TopologyCounts(BTreeMap<String, BTreeMap<String, i64>>);

impl TopologyCounts {
    /// Adds `delta` to the domain `node` is in for `key` (none if the node
    /// lacks the label); a domain back at 0 is dropped, so `is_empty` means
    /// no domain counts.
    fn add(&mut self, node: &NodeInfo, key: &str, delta: i64) {
        let Some(value) = node.labels().get(key) else { return };
        let values = self.0.entry(key.to_string()).or_default();
        let count = values.entry(value.clone()).or_default();
        *count += delta;
        if *count == 0 {
            values.remove(value);
            if values.is_empty() {
                self.0.remove(key);
            }
        }
    }

    /// The number of `node`'s domain for `key` (0 without the label).
    fn of(&self, node: &NodeInfo, key: &str) -> i64 {
        node.labels().get(key).and_then(|value| self.0.get(key)?.get(value)).copied().unwrap_or(0)
    }

    /// The sum over every domain `node` is in.
    fn sum_for(&self, node: &NodeInfo) -> i64 {
        self.0.keys().map(|key| self.of(node, key)).sum()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl EnqueueExtensions for InterPodAffinity {
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        // The other pod's namespace labels are not at hand here; namespace
        // selectors are given the benefit of the doubt (requeue) by matching
        // on the terms' namespaces and selectors with empty labels.
        let no_labels = crate::scheduler::label_selector::NO_LABELS.clone();
        let selected_by_affinity = |other: &PodInfo| pod.required_affinity.iter().any(|t| t.matches(other, &no_labels) || !matches!(t.namespace_selector, crate::scheduler::label_selector::Selector::Nothing));
        let blocks = |other: &PodInfo| {
            pod.required_anti_affinity.iter().any(|t| t.selector.matches(other.labels())) || other.required_anti_affinity.iter().any(|t| t.selector.matches(pod.labels()))
        };
        match event {
            ClusterEvent::AssignedPodAdded { pod: other, .. } => selected_by_affinity(other).into(),
            ClusterEvent::AssignedPodUpdated { new, old, .. } => (selected_by_affinity(new) || blocks(old)).into(),
            ClusterEvent::AssignedPodDeleted { pod: other, .. } => blocks(other).into(),
            ClusterEvent::NodeAdded(_) | ClusterEvent::NamespaceChanged => QueueingHint::Queue,
            ClusterEvent::NodeUpdated { old, new } => (old.labels() != new.labels()).into(),
            ClusterEvent::NodeDeleted(_) => QueueingHint::Skip,
        }
    }
}
