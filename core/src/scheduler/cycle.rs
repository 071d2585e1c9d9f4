//! One scheduling cycle for one pod (kube-scheduler's `schedulePod`):
//! PreFilter; Filter node after node until enough feasible ones are found;
//! PostFilter if none; otherwise PreScore, Score, NormalizeScore and the
//! best total. It only reads the cluster: binding, preemption's evictions
//! and status writes are the caller's (`commit`).

use super::decision::{fit_error_message, NodeVerdict, Rejection, ScoreTable, NO_NODES};
use super::framework::{CycleState, Diagnosis, Framework, NodeInfo, PodInfo, PostFilterContext, PostFilterResult, Status};
use super::nominator::Nominator;
use super::sampling::feasible_nodes_to_find;
use super::snapshot::Snapshot;
use std::collections::BTreeSet;
use std::sync::Arc;

pub enum CycleOutcome {
    /// The pod fits `node`; `state` goes on to Reserve.
    Fits { node: Arc<str>, state: CycleState },
    Unschedulable {
        /// The FailedScheduling message (FitError, then PostFilter's part).
        message: String,
        /// The plugins that rejected the pod (for requeueing).
        rejected_by: BTreeSet<&'static str>,
        /// A preemption to carry out, if PostFilter found one.
        preemption: Option<PostFilterResult>,
    },
}

pub struct Cycle {
    pub outcome: CycleOutcome,
    pub verdicts: Vec<NodeVerdict>,
    pub scores: ScoreTable,
}

impl Cycle {
    /// A cycle that ended before scoring (no node fits, one node fits, or
    /// a PreFilter or PreScore refused the pod).
    fn unscored(outcome: CycleOutcome, verdicts: Vec<NodeVerdict>) -> Self {
        Cycle { outcome, verdicts, scores: ScoreTable::default() }
    }
}

/// Buffers reused from one cycle to the next: a cycle over hundreds of
/// nodes needs arrays of that size, and allocating them anew each time was
/// a large part of a cycle's cost in wasm, whose allocator is slow with
/// large blocks.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Verdict tables given back by decisions that no longer keep theirs.
    pub spare_tables: Vec<Vec<NodeVerdict>>,
    /// Score tables given back likewise.
    spare_scores: Vec<ScoreTable>,
    /// Where each feasible node's verdict is in the table.
    feasible_at: Vec<usize>,
}

/// Spare tables kept at most.
const SPARE_TABLES: usize = 4;

impl Scratch {
    /// Takes back a table and scores a decision no longer needs.
    pub fn give_back(&mut self, mut table: Vec<NodeVerdict>, mut scores: ScoreTable) {
        if self.spare_tables.len() < SPARE_TABLES && table.capacity() > 0 {
            table.clear();
            self.spare_tables.push(table);
        }
        if self.spare_scores.len() < SPARE_TABLES && scores.values.capacity() > 0 {
            scores.clear();
            self.spare_scores.push(scores);
        }
    }
}

/// Reads the cluster for one cycle.
pub struct CycleContext<'a> {
    pub framework: &'a Framework,
    pub snapshot: &'a Snapshot,
    pub nominator: &'a Nominator,
}

fn rejected(node: &NodeInfo, plugin: &'static str, status: Status) -> NodeVerdict {
    NodeVerdict {
        position: node.index as u32,
        scored: None,
        rejection: Some(Box::new(Rejection { plugin, code: status.code, reasons: status.reasons })),
    }
}

fn passed(node: &NodeInfo) -> NodeVerdict {
    NodeVerdict { position: node.index as u32, scored: None, rejection: None }
}

impl CycleContext<'_> {
    /// Runs the cycle. `next_start` is where the previous cycle stopped
    /// filtering (so every node gets its turn); it is moved on.
    pub fn schedule(&self, pod: &PodInfo, next_start: &mut usize, scratch: &mut Scratch) -> Cycle {
        if self.snapshot.is_empty() {
            // Upstream treats this as an error, retried after its back-off; it is
            // handled as a rejection here so that the first node to join takes it.
            let outcome = CycleOutcome::Unschedulable { message: NO_NODES.into(), rejected_by: BTreeSet::new(), preemption: None };
            return Cycle::unscored(outcome, Vec::new());
        }
        let mut state = CycleState::default();
        let narrowed = match self.framework.run_pre_filters(&mut state, pod, self.snapshot) {
            Ok(narrowed) => narrowed,
            Err((plugin, status)) => return self.pre_filter_rejection(&state, pod, plugin, status),
        };
        let (mut verdicts, feasible_nodes) = self.find_feasible(&state, pod, narrowed.as_ref().map(|n| &n.nodes), next_start, scratch);
        if feasible_nodes.is_empty() {
            let mut diagnosis = Diagnosis::default();
            for v in &verdicts {
                let r = v.rejection.as_ref().expect("no feasible node");
                diagnosis.statuses.insert(self.name_of(v), Status { code: r.code, reasons: r.reasons.clone() });
                diagnosis.unschedulable_plugins.insert(r.plugin);
            }
            if let Some(narrowed) = &narrowed {
                diagnosis.absent = Some(Status::unresolvable(format!("node(s) didn't satisfy plugin(s) [{}]", narrowed.by.join(" "))));
            }
            let outcome = self.post_filter(&state, pod, diagnosis);
            return Cycle::unscored(outcome, verdicts);
        }
        if feasible_nodes.len() == 1 {
            // One candidate: nothing to compare, so nothing is scored (as upstream).
            return Cycle::unscored(CycleOutcome::Fits { node: feasible_nodes[0].name.clone(), state }, verdicts);
        }
        if let Err((plugin, status)) = self.framework.run_pre_scores(&mut state, pod, &feasible_nodes, self.snapshot) {
            let message = format!("running PreScore plugin {plugin}: {}", status.message());
            return Cycle::unscored(CycleOutcome::Unschedulable { message, rejected_by: BTreeSet::new(), preemption: None }, verdicts);
        }
        let count = feasible_nodes.len();
        let mut scores = scratch.spare_scores.pop().unwrap_or_default();
        scores.totals.resize(count, 0);
        for (plugin, weight) in self.framework.active_scorers(&state) {
            let start = scores.values.len();
            scores.values.resize(start + count, 0);
            let column = &mut scores.values[start..];
            plugin.score_nodes(&state, pod, &feasible_nodes, column);
            plugin.normalize(&state, pod, &feasible_nodes, column);
            for (total, &score) in scores.totals.iter_mut().zip(column.iter()) {
                *total += score * weight;
            }
            scores.columns.push((plugin.name(), *weight));
        }
        for (scored, &at) in scratch.feasible_at.iter().enumerate() {
            verdicts[at].scored = Some(scored as u32);
        }
        // The highest total wins; ties go to the node looked at first.
        let totals = &scores.totals;
        let best = (1..count).fold(0, |best, at| if totals[at] > totals[best] { at } else { best });
        let node = feasible_nodes[best].name.clone();
        Cycle { outcome: CycleOutcome::Fits { node, state }, verdicts, scores }
    }

    /// Filters nodes in turn, from `next_start`, until enough fit. Returns
    /// every verdict made and the feasible nodes (whose verdicts'
    /// positions are left in `scratch.feasible_at`).
    fn find_feasible<'s>(&'s self, state: &CycleState, pod: &PodInfo, narrowed: Option<&BTreeSet<String>>, next_start: &mut usize, scratch: &mut Scratch) -> (Vec<NodeVerdict>, Vec<&'s NodeInfo>) {
        let expected = feasible_nodes_to_find(self.framework.percentage_of_nodes_to_score, self.snapshot.len());
        let mut verdicts = scratch.spare_tables.pop().unwrap_or_else(|| Vec::with_capacity(expected + 1));
        let mut feasible = Vec::with_capacity(expected + 1);
        let feasible_at = &mut scratch.feasible_at;
        feasible_at.clear();
        // The filters that run this cycle, listed once instead of checked per node.
        let active = self.framework.active_filters(state);
        let run = |node: &NodeInfo| self.framework.run_filters_with_nominated(&active, state, pod, node, self.snapshot, self.nominator);
        let mut check = |node: &'s NodeInfo, verdicts: &mut Vec<NodeVerdict>, feasible: &mut Vec<&'s NodeInfo>| match run(node) {
            Ok(()) => {
                feasible_at.push(verdicts.len());
                feasible.push(node);
                verdicts.push(passed(node));
                true
            }
            Err((plugin, status)) => {
                verdicts.push(rejected(node, plugin, status));
                false
            }
        };
        // A pod that preemption made room for tries that node first.
        if let Some(nominated) = pod.nominated_node.as_deref().and_then(|n| self.snapshot.get(n)) {
            if narrowed.is_none_or(|names| names.contains(&*nominated.name)) && check(nominated, &mut verdicts, &mut feasible) {
                return (verdicts, feasible);
            }
            verdicts.clear();
        }
        // Narrowed cycles visit the named nodes; others every node in the node tree's order.
        let named: Vec<&NodeInfo> = narrowed.map(|names| names.iter().filter_map(|n| self.snapshot.get(n)).collect()).unwrap_or_default();
        let order = self.snapshot.order();
        let count = if narrowed.is_some() { named.len() } else { order.len() };
        let node_at = |i: usize| if narrowed.is_some() { named[i] } else { self.snapshot.at(order[i]) };
        if count == 0 {
            return (verdicts, feasible);
        }
        let wanted = feasible_nodes_to_find(self.framework.percentage_of_nodes_to_score, count);
        let start = *next_start % count;
        // The position wraps by comparison: a remainder per node was a division per node.
        let mut at = start;
        for _ in 0..count {
            let node = node_at(at);
            at = if at + 1 == count { 0 } else { at + 1 };
            if check(node, &mut verdicts, &mut feasible) && feasible.len() >= wanted {
                break;
            }
        }
        *next_start = at;
        (verdicts, feasible)
    }

    /// The name of the node a verdict of this cycle is about.
    fn name_of(&self, verdict: &NodeVerdict) -> Arc<str> {
        self.snapshot.names()[verdict.position as usize].clone()
    }

    /// A PreFilter rejected the pod: every node shares that verdict.
    fn pre_filter_rejection(&self, state: &CycleState, pod: &PodInfo, plugin: &'static str, status: Status) -> Cycle {
        let verdicts: Vec<NodeVerdict> = self.snapshot.order().iter().map(|&i| rejected(self.snapshot.at(i), plugin, status.clone())).collect();
        let diagnosis = Diagnosis {
            statuses: verdicts.iter().map(|v| (self.name_of(v), status.clone())).collect(),
            pre_filter_message: Some(status.message()),
            unschedulable_plugins: [plugin].into(),
            ..Default::default()
        };
        let outcome = if status.is_rejection() {
            self.post_filter(state, pod, diagnosis)
        } else {
            CycleOutcome::Unschedulable { message: format!("running PreFilter plugin {plugin}: {}", status.message()), rejected_by: BTreeSet::new(), preemption: None }
        };
        Cycle::unscored(outcome, verdicts)
    }

    /// Runs the PostFilters (preemption) and composes the FailedScheduling message.
    fn post_filter(&self, state: &CycleState, pod: &PodInfo, diagnosis: Diagnosis) -> CycleOutcome {
        let mut message = fit_error_message(&diagnosis, self.snapshot.len());
        let ctx = PostFilterContext { framework: self.framework, snapshot: self.snapshot, nominator: self.nominator };
        let mut preemption = None;
        for plugin in &self.framework.post_filters {
            match plugin.post_filter(&ctx, state, pod, &diagnosis) {
                Ok(result) => {
                    preemption = Some(result);
                    break;
                }
                Err(status) if status.is_rejection() => message.push_str(&format!(" {}", status.message())),
                Err(_) => {}
            }
        }
        CycleOutcome::Unschedulable { message, rejected_by: diagnosis.unschedulable_plugins, preemption }
    }
}

