//! PodTopologySpread: keeps pods that match a constraint's selector spread
//! evenly over topology domains (zones, nodes, ...). `DoNotSchedule`
//! constraints filter: placing the pod must not make its domain exceed the
//! least-loaded domain by more than `maxSkew`. `ScheduleAnyway` ones only
//! score: fewer matching pods in a node's domains scores higher.
//!
//! Which nodes count as domains follows the constraint's
//! `nodeAffinityPolicy` (default Honor: only nodes the pod could select) and
//! `nodeTaintsPolicy` (default Ignore). `minDomains` makes the global
//! minimum 0 while fewer domains exist. `matchLabelKeys` narrows the
//! selector to pods sharing the incoming pod's values for those keys.
//!
//! Not done: the cluster-level default constraints kube-scheduler applies
//! to pods without any (they need the Services and ReplicaSets selecting a
//! pod); such pods are simply not scored by this plugin.

mod counting;
mod filtering;
mod scoring;

use super::taint_toleration::untolerated_taint;
use crate::scheduler::framework::{ClusterEvent, EnqueueExtensions, NodeInfo, Plugin, PodInfo, QueueingHint};
use crate::scheduler::label_selector::{Operator, Selector};

pub const NAME: &str = "PodTopologySpread";
pub const REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_NODE_LABEL_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints (missing required label)";
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

#[derive(Default)]
pub struct PodTopologySpread {
    /// Matching pods per node, kept between cycles (see `counting`).
    counts: std::sync::Mutex<counting::CountCache>,
}

impl PodTopologySpread {
    fn domain_counts(&self, snapshot: &crate::scheduler::snapshot::Snapshot, pod: &PodInfo, constraints: &[Constraint]) -> Vec<counting::DomainCounts> {
        let mut cache = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.domain_counts(snapshot, pod, constraints)
    }
}

/// One spread constraint, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub selector: Selector,
    pub min_domains: i64,
    pub honor_node_affinity: bool,
    pub honor_node_taints: bool,
}

impl Constraint {
    /// Whether `node` counts as (part of) a domain for `pod` under this
    /// constraint's node inclusion policies.
    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        (!self.honor_node_affinity || pod.required_node_affinity.matches(&node.name, node.labels()))
            && (!self.honor_node_taints || untolerated_taint(node, pod.tolerations()).is_none())
    }
}

/// The pod's constraints with the given `whenUnsatisfiable`.
pub fn constraints(pod: &PodInfo, action: &str) -> Vec<Constraint> {
    let spec = pod.pod.spec.as_ref();
    spec.and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector: Selector::from_api(c.label_selector.as_ref()).with_pod_label_keys(c.match_label_keys.as_deref().unwrap_or_default(), pod.labels(), Operator::In),
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        })
        .collect()
}

/// Whether the node carries every constraint's topology key.
fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| node.labels().contains_key(&c.topology_key))
}

/// How many pods on `node` count for a constraint: same namespace as the
/// incoming pod, matching the selector, and not on their way out.
fn matching_pods(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    node.pods.iter().filter(|p| !p.terminating && p.namespace() == namespace && selector.matches(p.labels())).count() as i64
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl EnqueueExtensions for PodTopologySpread {
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        // Compiled once per event, not once per pod or node it looks at.
        let all: Vec<Constraint> = constraints(pod, "DoNotSchedule").into_iter().chain(constraints(pod, "ScheduleAnyway")).collect();
        let counts = |other: &PodInfo| other.namespace() == pod.namespace() && all.iter().any(|c| c.selector.matches(other.labels()));
        let keys_changed = |old: &NodeInfo, new: &NodeInfo| all.iter().any(|c| old.labels().get(&c.topology_key) != new.labels().get(&c.topology_key)) || old.taints() != new.taints();
        match event {
            ClusterEvent::AssignedPodAdded { pod: other, .. } | ClusterEvent::AssignedPodDeleted { pod: other, .. } => counts(other).into(),
            ClusterEvent::AssignedPodUpdated { old, new, .. } => (counts(old) || counts(new)).into(),
            ClusterEvent::NodeAdded(node) | ClusterEvent::NodeDeleted(node) => has_all_keys(node, &all).into(),
            ClusterEvent::NodeUpdated { old, new } => keys_changed(old, new).into(),
            ClusterEvent::NamespaceChanged => QueueingHint::Skip,
        }
    }
}
