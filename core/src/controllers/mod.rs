//! The controller manager: each controller keeps one kind of desired state,
//! in its own file, as `reconcile(key, context) -> Result<Action>`
//! (`reconciler`), run by one generic loop (`runner`) that reads the
//! store's history, queues the keys a change concerns, and honours each
//! reconcile's requeue-after. `ControlPlane::settle` runs them all in turn;
//! `ControlPlane::next_wake` is the earliest requeue of any.
//!
//! Workloads:
//! - `deployment`: Deployments roll out through ReplicaSets (arithmetic in
//!   `rollout`, reported status in `rollout_status`, names in
//!   `pod_template_hash`).
//! - `replica_set`: ReplicaSets keep their number of pods (which pods go
//!   first in `pod_ranking`, what counts as ready in `pod_readiness`).
//! - `daemon_set`: one pod per fitting node (`daemon_placement`), rolling updates.
//! - `stateful_set`: pods with stable names, in order, with partitions.
//!   Both keep their template history as ControllerRevisions (`controller_history`).
//! - `job`: pods until enough succeed, retries after a backoff
//!   (`job_backoff`), deadlines, Indexed completion (`completion_index`).
//! - `cron_job`: Jobs on a cron schedule in a time zone (`crate::cron_schedule`).
//! - `ttl_after_finished`: finished Jobs are deleted after their TTL.
//! - `horizontal_pod_autoscaler`: scale from measured usage
//!   (`replica_calculator`, then `scaling_behavior`).
//!
//! Services: `endpoints` and `endpoint_slice` list a Service's pods
//! (`service_backends`).
//!
//! Nodes: `node_ipam` gives each node its pod CIDR; `node_lifecycle` notices
//! nodes that stop renewing their lease, marks them Unknown and taints them;
//! `taint_eviction` evicts pods whose tolerations run out; `pod_gc` removes
//! pods of nodes that are gone.
//!
//! Object lifecycle: `garbage_collector` (dependents follow their owners, its
//! index in `owner_graph`); `namespace` (a deleted namespace is emptied, then goes).
//!
//! Shared pieces: `queue` (cursor and work queue), `ownership`
//! (ownerReferences and claiming), `events` (Events about objects, as each
//! upstream controller records them), `pod_control` (creating and deleting
//! a controller's pods, with their Events).

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
pub mod pod_control;
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
