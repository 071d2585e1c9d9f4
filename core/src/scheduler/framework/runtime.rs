//! Framework: one scheduling profile's plugins, in order, per extension
//! point, and the rules for running them (kube-scheduler's
//! `frameworkImpl`): which statuses stop a phase, Skip bookkeeping, and
//! filtering with nominated pods counted in.

use super::{
    BindPlugin, ClusterEvent, CycleState, EnqueueExtensions, FilterPlugin, NodeInfo, PodInfo, PostFilterPlugin, PreFilterPlugin, PreFilterResult,
    PreScorePlugin, QueueingHint, ReservePlugin, ScorePlugin, Status,
};
use crate::scheduler::nominator::Nominator;
use crate::scheduler::snapshot::Snapshot;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Default)]
pub struct Framework {
    pub pre_filters: Vec<Arc<dyn PreFilterPlugin>>,
    pub filters: Vec<Arc<dyn FilterPlugin>>,
    pub post_filters: Vec<Arc<dyn PostFilterPlugin>>,
    pub pre_scores: Vec<Arc<dyn PreScorePlugin>>,
    /// Score plugins with their weights.
    pub scorers: Vec<(Arc<dyn ScorePlugin>, i64)>,
    pub reserves: Vec<Arc<dyn ReservePlugin>>,
    pub binders: Vec<Arc<dyn BindPlugin>>,
    pub enqueue_extensions: Vec<Arc<dyn EnqueueExtensions>>,
    /// `percentageOfNodesToScore`: 0 lets the scheduler pick (see `sampling`).
    pub percentage_of_nodes_to_score: u32,
}

/// A plugin's rejection, with the plugin's name.
pub type Rejected = (&'static str, Status);

/// The nodes PreFilter narrowed a cycle to, and the plugins that did.
pub struct Narrowed {
    pub nodes: BTreeSet<String>,
    pub by: Vec<&'static str>,
}

impl Framework {
    /// Runs every PreFilter. Returns the nodes the cycle is narrowed to and
    /// the plugins that narrowed it (None: all nodes), or the first rejection.
    pub fn run_pre_filters(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Result<Option<Narrowed>, Rejected> {
        let mut narrowed: Option<Narrowed> = None;
        for plugin in &self.pre_filters {
            match plugin.pre_filter(state, pod, snapshot) {
                Ok(PreFilterResult::AllNodes) => {}
                Ok(PreFilterResult::Nodes(nodes)) => {
                    narrowed = Some(match narrowed {
                        None => Narrowed { nodes, by: vec![plugin.name()] },
                        Some(mut previous) => {
                            previous.nodes = previous.nodes.intersection(&nodes).cloned().collect();
                            previous.by.push(plugin.name());
                            previous
                        }
                    });
                }
                Err(status) if status.is_skip() => state.skip_filter(plugin.name()),
                Err(status) => return Err((plugin.name(), status)),
            }
        }
        Ok(narrowed)
    }

    /// The filters that run this cycle (their PreFilter did not skip), to
    /// be used with `run_active_filters` on every node.
    pub fn active_filters(&self, state: &CycleState) -> Vec<&dyn FilterPlugin> {
        self.filters.iter().filter(|f| !state.skips_filter(f.name())).map(|f| f.as_ref()).collect()
    }

    /// Runs `filters` (what `active_filters` listed for this cycle) on one
    /// node; the first rejection wins, as upstream.
    pub fn run_active_filters(filters: &[&dyn FilterPlugin], state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejected> {
        for plugin in filters {
            plugin.filter(state, pod, node).map_err(|status| (plugin.name(), status))?;
        }
        Ok(())
    }

    /// Filters with the pods nominated to this node counted in, when any of
    /// them has at least this pod's priority: the pod must not take room
    /// that preemption freed for them. Like upstream, it passes only if it
    /// fits both with and without them (affinity may need them absent).
    pub fn run_filters_with_nominated(
        &self,
        active: &[&dyn FilterPlugin],
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        snapshot: &Snapshot,
        nominator: &Nominator,
    ) -> Result<(), Rejected> {
        if nominator.is_empty() {
            return Self::run_active_filters(active, state, pod, node);
        }
        let nominated: Vec<&Arc<PodInfo>> = nominator.pods_on(&node.name).filter(|p| p.priority >= pod.priority && p.key != pod.key).collect();
        if nominated.is_empty() {
            return Self::run_active_filters(active, state, pod, node);
        }
        let mut with_state = state.clone();
        let mut with_node = node.clone();
        for added in nominated {
            self.run_add_pod(&mut with_state, pod, added, &with_node, snapshot);
            with_node.add_pod(added.clone());
        }
        Self::run_active_filters(active, &with_state, pod, &with_node)?;
        Self::run_active_filters(active, state, pod, node)
    }

    pub fn run_add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) {
        for plugin in &self.pre_filters {
            if !state.skips_filter(plugin.name()) {
                plugin.add_pod(state, pod, added, node, snapshot);
            }
        }
    }

    pub fn run_remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) {
        for plugin in &self.pre_filters {
            if !state.skips_filter(plugin.name()) {
                plugin.remove_pod(state, pod, removed, node, snapshot);
            }
        }
    }

    /// Runs every PreScore; plugins that skip are left out of scoring.
    pub fn run_pre_scores(&self, state: &mut CycleState, pod: &PodInfo, feasible: &[&NodeInfo], snapshot: &Snapshot) -> Result<(), Rejected> {
        for plugin in &self.pre_scores {
            match plugin.pre_score(state, pod, feasible, snapshot) {
                Ok(()) => {}
                Err(status) if status.is_skip() => state.skip_score(plugin.name()),
                Err(status) => return Err((plugin.name(), status)),
            }
        }
        Ok(())
    }

    /// The score plugins that run for this cycle, with their weights.
    pub fn active_scorers<'a>(&'a self, state: &'a CycleState) -> impl Iterator<Item = &'a (Arc<dyn ScorePlugin>, i64)> + 'a {
        self.scorers.iter().filter(|(plugin, _)| !state.skips_score(plugin.name()))
    }

    /// Whether `event` could help `pod`, given the plugins that rejected it.
    /// A pod no plugin rejected (it failed for another reason) is always retried.
    pub fn worth_requeuing(&self, pod: &PodInfo, rejected_by: &BTreeSet<&'static str>, event: &ClusterEvent<'_>) -> bool {
        if rejected_by.is_empty() {
            return true;
        }
        self.enqueue_extensions
            .iter()
            .filter(|p| rejected_by.contains(p.name()))
            .any(|p| p.queueing_hint(pod, event) == QueueingHint::Queue)
    }
}
