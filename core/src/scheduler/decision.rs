//! What the scheduler decided and why: for every node it looked at, the
//! filter that turned it away and its reasons, or each score plugin's
//! normalised score and the weighted total. Kept for the UI's per-node
//! table, and summarised for people the way kube-scheduler says it (the
//! FitError message of FailedScheduling events).

use super::framework::{Code, Diagnosis, Reason};
use super::PodKey;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Bound { node: String },
    /// No node fits (the FailedScheduling message), or binding failed.
    Unschedulable { message: String },
}

/// The filter that turned a node away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub plugin: &'static str,
    pub code: Code,
    pub reasons: Vec<Reason>,
}

/// One node's part in a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVerdict {
    /// The node's position in `Decision::node_names` (`Decision::node_name`
    /// reads it). A position rather than the name: a cycle makes hundreds
    /// of verdicts, and sharing each node's name with each of them (a
    /// reference count raised, then dropped when the table goes) was a
    /// tenth of a cycle's time.
    pub position: u32,
    /// Where the node is in its decision's `ScoreTable`; None when it was
    /// not scored (rejected, or the only feasible node).
    pub scored: Option<u32>,
    /// None: the node passed every filter.
    pub rejection: Option<Box<Rejection>>,
}

/// The scores of a decision's scored nodes, a column per score plugin as
/// the plugins wrote them: the cycle hands each plugin its column to fill,
/// and keeps the columns. (Copying each score into its node's verdict was
/// a scattered write per node and plugin, a tenth of a cycle.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScoreTable {
    /// The score plugins that ran, with their weights, in column order.
    pub columns: Vec<(&'static str, i64)>,
    /// Normalised scores (0-100): column after column, each with one
    /// score per scored node.
    pub values: Vec<i64>,
    /// Each scored node's sum of score × weight.
    pub totals: Vec<i64>,
}

impl ScoreTable {
    /// Empties the table, keeping its buffers.
    pub fn clear(&mut self) {
        self.columns.clear();
        self.values.clear();
        self.totals.clear();
    }

    /// The scored node at `at`'s weighted score per plugin, as `(plugin, score × weight)`.
    fn weighted(&self, at: usize) -> impl Iterator<Item = (&'static str, i64)> + '_ {
        let scored = self.totals.len();
        self.columns.iter().zip(self.values.chunks_exact(scored.max(1))).map(move |((plugin, weight), column)| (*plugin, column[at] * weight))
    }
}

/// The victims and node of a preemption the decision started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preemption {
    pub node: String,
    pub victims: Vec<PodKey>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub namespace: String,
    pub name: String,
    pub at: Timestamp,
    pub outcome: Outcome,
    /// Nodes in the cluster when the decision was made.
    pub total_nodes: usize,
    /// How many nodes were filtered, and how many of them passed.
    pub evaluated: usize,
    pub feasible: usize,
    /// The score plugins that ran, and the feasible nodes' scores; emptied with `nodes`.
    pub scores: ScoreTable,
    /// The nodes looked at, in the order they were: kube-scheduler stops
    /// filtering once it has found enough feasible nodes in a large cluster
    /// (see `sampling`), so this may be fewer than `total_nodes`. Emptied
    /// for old decisions (`Scheduler` keeps the tables of recent ones;
    /// `take_table` empties it).
    pub nodes: Vec<NodeVerdict>,
    /// The names of the cluster's nodes by position, as they were when the
    /// decision was made (shared by the decisions of that time); emptied
    /// with `nodes`.
    pub node_names: Arc<[Arc<str>]>,
    pub preemption: Option<Preemption>,
}

impl Decision {
    /// Drops the per-node table, with the names its positions refer to and
    /// the scores, and returns the table's and the scores' buffers for reuse.
    pub fn take_table(&mut self) -> (Vec<NodeVerdict>, ScoreTable) {
        self.node_names = Arc::default();
        (std::mem::take(&mut self.nodes), std::mem::take(&mut self.scores))
    }

    /// The name of the node a verdict is about.
    pub fn node_name(&self, verdict: &NodeVerdict) -> &str {
        &self.node_names[verdict.position as usize]
    }

    /// A node's weighted score per plugin, as `(plugin, score × weight)`
    /// (none when it was not scored).
    pub fn scores_of<'a>(&'a self, verdict: &'a NodeVerdict) -> impl Iterator<Item = (&'static str, i64)> + 'a {
        verdict.scored.into_iter().flat_map(|at| self.scores.weighted(at as usize))
    }

    /// A node's total score, if it was scored.
    pub fn total_of(&self, verdict: &NodeVerdict) -> Option<i64> {
        verdict.scored.map(|at| self.scores.totals[at as usize])
    }
}

/// kube-scheduler's `ErrNoNodesAvailable`.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// The FitError message: `0/3 nodes are available: 1 Insufficient cpu, 2
/// node(s) had untolerated taint {...}.` Reasons are counted across nodes
/// (nodes not evaluated count under the absent status), written as "count
/// reason" and sorted as strings, as kube-scheduler does; a PreFilter's
/// rejection replaces the list.
pub fn fit_error_message(diagnosis: &Diagnosis, node_count: usize) -> String {
    if node_count == 0 {
        return NO_NODES.to_string();
    }
    let mut message = format!("0/{node_count} nodes are available:");
    if let Some(pre_filter) = &diagnosis.pre_filter_message {
        message.push_str(&format!(" {pre_filter}."));
        return message;
    }
    let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
    for status in diagnosis.statuses.values() {
        for reason in &status.reasons {
            *histogram.entry(reason).or_default() += 1;
        }
    }
    let absent = node_count.saturating_sub(diagnosis.statuses.len());
    if let Some(status) = diagnosis.absent.as_ref().filter(|_| absent > 0) {
        for reason in &status.reasons {
            *histogram.entry(reason).or_default() += absent;
        }
    }
    let mut parts: Vec<String> = histogram.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    parts.sort();
    message.push_str(&format!(" {}.", parts.join(", ")));
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::Status;

    #[test]
    fn message_counts_reasons_like_kube_scheduler() {
        let taint = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }";
        let diagnosis = Diagnosis {
            statuses: [("a", Status::unschedulable("Insufficient cpu")), ("b", Status::unresolvable(taint)), ("c", Status::unresolvable(taint))]
                .into_iter()
                .map(|(n, s)| (Arc::from(n), s))
                .collect(),
            ..Default::default()
        };
        assert_eq!(fit_error_message(&diagnosis, 3), format!("0/3 nodes are available: 1 Insufficient cpu, 2 {taint}."));
        assert_eq!(fit_error_message(&Diagnosis::default(), 0), "no nodes available to schedule pods");
        let narrowed = Diagnosis { absent: Some(Status::unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]")), ..diagnosis.clone() };
        assert_eq!(
            fit_error_message(&narrowed, 5),
            format!("0/5 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity], 2 {taint}.")
        );
        let rejected = Diagnosis { pre_filter_message: Some("pod affinity terms conflict".into()), ..Default::default() };
        assert_eq!(fit_error_message(&rejected, 2), "0/2 nodes are available: pod affinity terms conflict.");
    }

    #[test]
    fn counts_sort_as_strings_as_upstream_does() {
        let statuses = (0..12).map(|i| (Arc::from(format!("n{i}")), Status::unschedulable(if i < 10 { "Insufficient memory" } else { "Insufficient cpu" }))).collect();
        assert_eq!(fit_error_message(&Diagnosis { statuses, ..Default::default() }, 12), "0/12 nodes are available: 10 Insufficient memory, 2 Insufficient cpu.");
    }
}
