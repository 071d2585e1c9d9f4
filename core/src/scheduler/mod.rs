//! The scheduler: binds each unscheduled pod to a node, the way
//! kube-scheduler does, and explains every decision.
//!
//! - `informer`: it reads the cluster like kube-scheduler's informers (the
//!   store's change history, from its own cursor) into a cache of nodes
//!   with their pods (`snapshot`), and turns changes into cluster events
//!   for the queue.
//! - `queue`: pending pods by priority, with back-off, and an
//!   unschedulable pool left only on events that could help.
//! - `framework` and `plugins`: the scheduling framework's extension
//!   points and kube-scheduler's default plugins, one per file.
//! - `cycle`: one scheduling cycle (filter, score, or preempt), with
//!   `sampling` of large clusters.
//! - `commit`: everything written back, only through the API server:
//!   bindings, PodScheduled conditions, `nominatedNodeName`, preemption's
//!   evictions, and Scheduled / FailedScheduling / Preempted events.
//! - `decision`: the per-node explanation kept for the UI, and the
//!   FailedScheduling message in kube-scheduler's words.

mod commit;
pub mod cycle;
pub mod decision;
pub mod framework;
mod informer;
pub mod label_selector;
pub mod node_selector;
pub mod nominator;
pub mod plugins;
pub mod queue;
pub mod sampling;
pub mod snapshot;

pub use decision::{Decision, NodeVerdict, Outcome, Rejection, ScoreTable};
pub use queue::{QueueConfig, QueueLengths};

use crate::apiserver::resources::{NAMESPACES, NODES, PODS};
use crate::apiserver::ApiServer;
use cycle::CycleContext;
use framework::{Framework, PodInfo};
use k8s_openapi::jiff::Timestamp;
use nominator::Nominator;
use queue::SchedulingQueue;
use serde_json::Value;
use snapshot::Snapshot;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub const SCHEDULER_NAME: &str = "default-scheduler";
pub const USER: &str = "system:kube-scheduler";

/// A pod's namespace and name.
pub type PodKey = (String, String);

/// How many recent decisions keep their per-node table: a decision in a
/// large cluster explains hundreds of nodes, and older ones are rarely
/// looked at. Older decisions keep their outcome and counts.
pub const DECISION_TABLES_KEPT: usize = 256;

/// A pending pod as last seen: the stored object (to tell a spec change
/// from a status write) and its parsed form.
struct PendingPod {
    object: Arc<Value>,
    info: Arc<PodInfo>,
}

pub struct Scheduler {
    framework: Framework,
    queue: SchedulingQueue,
    snapshot: Snapshot,
    nominator: Nominator,
    /// The last store revision read.
    cursor: u64,
    /// Pods on nodes, and which node.
    placed: BTreeMap<PodKey, Arc<str>>,
    /// Unscheduled pods of this scheduler.
    pending: BTreeMap<PodKey, PendingPod>,
    decisions: BTreeMap<PodKey, Decision>,
    /// Decisions still holding their per-node table, oldest first.
    tables: VecDeque<PodKey>,
    /// Where the next cycle starts filtering (so every node gets its turn).
    next_start_node: usize,
    /// The store names of the resources it follows: pods, nodes, namespaces.
    watched: [Arc<str>; 3],
    scratch: cycle::Scratch,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new(plugins::default_framework(), QueueConfig::default())
    }
}

impl Scheduler {
    pub fn new(framework: Framework, queue: QueueConfig) -> Self {
        Scheduler {
            framework,
            queue: SchedulingQueue::new(queue),
            snapshot: Snapshot::default(),
            nominator: Nominator::default(),
            cursor: 0,
            placed: BTreeMap::new(),
            pending: BTreeMap::new(),
            decisions: BTreeMap::new(),
            tables: VecDeque::new(),
            next_start_node: 0,
            watched: [&PODS, &NODES, &NAMESPACES].map(|r| r.storage_name().into()),
            scratch: cycle::Scratch::default(),
        }
    }

    /// The latest decision for a pod: every node's verdict and scores.
    pub fn decision(&self, namespace: &str, name: &str) -> Option<&Decision> {
        self.decision_of(&(namespace.to_string(), name.to_string()))
    }

    /// As `decision`, by the key `schedule_pending` returned.
    pub fn decision_of(&self, key: &PodKey) -> Option<&Decision> {
        self.decisions.get(key)
    }

    /// Pods waiting: in the active queue, backing off, and unschedulable.
    pub fn queue_lengths(&self) -> QueueLengths {
        self.queue.lengths()
    }

    /// When the scheduler next has work of its own (a back-off ending, the
    /// 5-minute retry of unschedulable pods); the driver ticks then.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.queue.next_wake()
    }

    /// Schedules every pod that is ready at `now`. Returns the pods decided
    /// on, in order; their decisions are in `decision`.
    pub fn schedule_pending(&mut self, api: &mut ApiServer, now: Timestamp) -> Vec<PodKey> {
        let mut decided = Vec::new();
        self.observe(api, now);
        self.queue.flush_unschedulable_leftover(now);
        while let Some(queued) = self.queue.pop(now) {
            let key = queued.info.key.clone();
            if !self.pending.contains_key(&key) {
                continue;
            }
            self.snapshot.prepare();
            let cycle = CycleContext { framework: &self.framework, snapshot: &self.snapshot, nominator: &self.nominator }.schedule(&queued.info, &mut self.next_start_node, &mut self.scratch);
            let decision = self.commit(api, queued, cycle, now);
            self.remember(key.clone(), decision);
            decided.push(key);
            self.observe(api, now);
        }
        decided
    }

    fn remember(&mut self, key: PodKey, decision: Decision) {
        if self.decisions.insert(key.clone(), decision).is_some() {
            self.tables.retain(|k| k != &key);
        }
        self.tables.push_back(key);
        while self.tables.len() > DECISION_TABLES_KEPT {
            let old = self.tables.pop_front().expect("over the limit");
            if let Some(d) = self.decisions.get_mut(&old) {
                let (table, scores) = d.take_table();
                self.scratch.give_back(table, scores);
            }
        }
    }
}

#[cfg(test)]
mod tests;
