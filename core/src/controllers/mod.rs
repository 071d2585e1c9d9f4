//! Controllers: each keeps one kind of desired state, in its own file.
//!
//! - `deployment`: Deployments roll out through ReplicaSets (arithmetic in
//!   `rollout`, reported status in `rollout_status`, names in
//!   `pod_template_hash`).
//! - `replica_set`: ReplicaSets keep their number of pods (which pods go
//!   first in `pod_ranking`, what counts as ready in `pod_readiness`).
//! - `garbage_collector`: dependents follow their owners (its index in
//!   `owner_graph`).
//! - `namespace`: a deleted namespace is emptied, then goes.
//! - `node_lifecycle`: nodes that stop being Ready are tainted.
//!
//! Shared pieces: `queue` (what each controller still has to look at),
//! `ownership` (ownerReferences and claiming), `events` (Events about objects).

pub mod completion_index;
pub mod controller_history;
pub mod cron_job;
pub mod daemon_placement;
pub mod daemon_set;
pub mod deployment;
pub mod endpoint_slice;
pub mod endpoints;
pub mod events;
pub mod garbage_collector;
pub mod horizontal_pod_autoscaler;
pub mod job;
pub mod job_backoff;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod owner_graph;
pub mod ownership;
pub mod pod_gc;
pub mod pod_ranking;
pub mod pod_readiness;
pub mod pod_template_hash;
pub mod queue;
pub mod replica_calculator;
pub mod reconciler;
pub mod replica_set;
pub mod rollout;
pub mod rollout_status;
pub mod runner;
pub mod scaling_behavior;
pub mod service_backends;
pub mod stateful_set;
pub mod taint_eviction;
pub mod ttl_after_finished;
#[cfg(test)]
mod testing;

/// The user the controller manager's controllers act as (bound to a
/// full-access role by the bootstrap policy).
pub const CONTROLLER_MANAGER: &str = "system:kube-controller-manager";

/// The controllers of the controller manager, in the order each settle
/// round runs them: workloads first, so that the pods they create are
/// scheduled in the same round.
pub fn controller_manager(config: &crate::cluster_config::ClusterConfig) -> Vec<Box<dyn runner::Controller>> {
    vec![
        Box::new(runner::Runner::new(deployment::DeploymentController::default())),
        Box::new(runner::Runner::new(replica_set::ReplicaSetController::default())),
        Box::new(runner::Runner::new(daemon_set::DaemonSetController::default())),
        Box::new(runner::Runner::new(stateful_set::StatefulSetController::default())),
        Box::new(runner::Runner::new(cron_job::CronJobController::default())),
        Box::new(runner::Runner::new(job::JobController::default())),
        Box::new(runner::Runner::new(ttl_after_finished::TtlAfterFinished)),
        Box::new(runner::Runner::new(horizontal_pod_autoscaler::HorizontalPodAutoscalerController::default())),
        Box::new(runner::Runner::new(endpoints::EndpointsController)),
        Box::new(runner::Runner::new(endpoint_slice::EndpointSliceController)),
        Box::new(runner::Runner::new(garbage_collector::GarbageCollector::default())),
        Box::new(runner::Runner::new(namespace::NamespaceController::default())),
        Box::new(runner::Runner::new(node_ipam::NodeIpam::default())),
        Box::new(runner::Runner::new(node_lifecycle::NodeLifecycle::new(config.node_monitor_grace_period()))),
        Box::new(runner::Runner::new(taint_eviction::TaintEviction::default())),
        Box::new(runner::Runner::new(pod_gc::PodGarbageCollector::default())),
    ]
}
