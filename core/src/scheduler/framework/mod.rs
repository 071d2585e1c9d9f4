//! The scheduling framework, after kube-scheduler's: one trait per
//! extension point, and a plugin is a small struct implementing the traits
//! of the points it extends. A scheduling cycle runs, for one pod:
//!
//! 1. PreFilter: per-pod work done once (requests, affinity counts); may
//!    narrow the nodes to consider, reject the pod, or skip the plugin;
//! 2. Filter: can this node take the pod? (the first rejection wins);
//! 3. PostFilter, only when no node passed: make room (preemption);
//! 4. PreScore and Score, on the nodes that passed; NormalizeScore brings
//!    each plugin's scores to 0-100 before its weight is applied;
//! 5. Reserve, then Bind (the binding cycle).
//!
//! Plugins also say which cluster events could change their verdict for a
//! pod they rejected (EnqueueExtensions), so that waiting pods are retried
//! only when it could help.

pub mod cycle_state;
pub mod events;
pub mod node_info;
pub mod pod_decode;
pub mod pod_info;
pub mod resources;
pub mod runtime;
pub mod status;

pub use cycle_state::CycleState;
pub use events::{ClusterEvent, QueueingHint};
pub use node_info::NodeInfo;
pub use pod_info::{AffinityTerm, PodInfo, WeightedAffinityTerm};
pub use resources::{NonZero, Resources};
pub use runtime::Framework;
pub use status::{Code, Reason, Status};

use super::nominator::Nominator;
use super::snapshot::Snapshot;
use crate::apiserver::ApiServer;
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Highest score a plugin gives a node, as in kube-scheduler.
pub const MAX_NODE_SCORE: i64 = 100;

/// Every plugin has a name: it is what explanations and events show.
pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
}

/// Which nodes a PreFilter leaves in play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreFilterResult {
    AllNodes,
    /// Only these (NodeAffinity's `matchFields` on `metadata.name`).
    Nodes(BTreeSet<String>),
}

pub trait PreFilterPlugin: Plugin {
    /// `Err` with `Code::Skip` means this plugin's Filter has nothing to do
    /// for the pod; any other `Err` rejects the pod on every node.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Result<PreFilterResult, Status>;

    /// Updates this plugin's PreFilter state as if `added` ran on `node`
    /// (nominated pods, and preemption's what-ifs). Plugins whose state does
    /// not depend on other pods keep the default.
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _added: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) {}

    /// The reverse of `add_pod`: as if `removed` were gone from `node`.
    fn remove_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _removed: &PodInfo, _node: &NodeInfo, _snapshot: &Snapshot) {}
}

pub trait FilterPlugin: Plugin {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status>;
}

/// Each node's verdict from the Filter phase, for PostFilter (which nodes
/// preemption could help on) and for the FitError message.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    pub statuses: BTreeMap<Arc<str>, Status>,
    /// The status of nodes not evaluated at all (a PreFilter narrowed the
    /// cycle to others, or rejected the pod everywhere).
    pub absent: Option<Status>,
    /// A PreFilter's rejection message, shown instead of per-node reasons.
    pub pre_filter_message: Option<String>,
    /// Plugins that rejected the pod somewhere: only events they care about requeue it.
    pub unschedulable_plugins: BTreeSet<&'static str>,
}

/// What a PostFilter did to make the pod fit: the node it nominates and the
/// pods that must go. The scheduler carries it out through the API server.
#[derive(Clone, Debug)]
pub struct PostFilterResult {
    pub nominated_node: String,
    pub victims: Vec<Arc<PodInfo>>,
    /// Lower-priority pods nominated to the same node, which lose their nomination.
    pub displaced_nominations: Vec<Arc<PodInfo>>,
}

pub trait PostFilterPlugin: Plugin {
    /// `Err` carries the message appended to the FitError (`preemption: ...`).
    fn post_filter(&self, ctx: &PostFilterContext<'_>, state: &CycleState, pod: &PodInfo, diagnosis: &Diagnosis) -> Result<PostFilterResult, Status>;
}

/// What a PostFilter may consult: the cluster, the plugins (to re-run
/// filters on what-if nodes) and the pods nominated to each node.
pub struct PostFilterContext<'a> {
    pub framework: &'a Framework,
    pub snapshot: &'a Snapshot,
    pub nominator: &'a Nominator,
}

pub trait PreScorePlugin: Plugin {
    /// `Err` with `Code::Skip` means this plugin does not score this pod.
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, feasible: &[&NodeInfo], snapshot: &Snapshot) -> Result<(), Status>;
}

pub trait ScorePlugin: Plugin {
    /// The raw score for one feasible node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64;

    /// `score` for each of `nodes`, into `scores` (as long): what the
    /// cycle calls. Plugins whose score is a few lines of arithmetic
    /// override it to run their loop themselves, where the call per node
    /// and the choices made the same way for every node (which resources,
    /// which strategy) would cost more than the arithmetic. An override
    /// must give what `score` gives.
    fn score_nodes(&self, state: &CycleState, pod: &PodInfo, nodes: &[&NodeInfo], scores: &mut [i64]) {
        score_each(self, state, pod, nodes, scores);
    }

    /// Brings raw scores to 0..=MAX_NODE_SCORE (NormalizeScore); scores
    /// already in range are left alone.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

/// `score_nodes` by calling `score` for each node: the default, and the
/// overrides' fallback for configurations their fast path does not cover.
pub fn score_each<P: ScorePlugin + ?Sized>(plugin: &P, state: &CycleState, pod: &PodInfo, nodes: &[&NodeInfo], scores: &mut [i64]) {
    for (score, node) in scores.iter_mut().zip(nodes) {
        *score = plugin.score(state, pod, node);
    }
}

pub trait ReservePlugin: Plugin {
    /// Claims what the pod will use on `node` before it is bound.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Result<(), Status>;
    /// Gives it back when binding fails.
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

pub trait BindPlugin: Plugin {
    /// Binds the pod; `Err` with `Code::Skip` leaves it to the next binder.
    fn bind(&self, api: &mut ApiServer, pod: &PodInfo, node: &str, now: Timestamp) -> Result<(), Status>;
}

pub trait EnqueueExtensions: Plugin {
    /// Whether `event` could make `pod`, which this plugin rejected, schedulable.
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint;
}
