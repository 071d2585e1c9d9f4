//! The kubelet's decisions, without I/O: which containers a node must start
//! or stop for the pods bound to it, when to restart them, and how their
//! states become Pod status. The in-page node and node-host both drive this
//! same state machine (through [`agent::NodeAgent`]) and differ only in the
//! runtime that carries out its commands.
//!
//! Deletion is graceful, as in Kubernetes: the API server only marks a pod
//! bound to a node (`deletionTimestamp`, `deletionGracePeriodSeconds`), and
//! the kubelet finishes the job. It tells the runtime to stop the pod, waits
//! for each running container to report its exit (a wasm module cannot catch
//! SIGTERM, so runtimes stop it at once; the grace period only bounds how long
//! the kubelet trusts the runtime to say so), writes the pod's final status,
//! and then deletes it with grace period 0 and its UID as a precondition, so
//! that a namesake created meanwhile is never touched.

pub mod agent;
pub mod node;
pub mod pod_network;
pub mod runtime;
pub mod status;
pub mod usage_sampler;

use crate::metrics_server::{ContainerUsage, PodUsage, RESOLUTION};
use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use runtime::{ContainerLaunch, RuntimeCommand, RuntimeEvent};
use status::{ContainerView, State, Terminated};
use std::collections::{BTreeMap, BTreeSet};

/// Restart back-off, as the kubelet's: 10 s doubling to 5 min.
const BACKOFF_INITIAL_SECS: i64 = 10;
const BACKOFF_MAX_SECS: i64 = 300;

/// The grace period when neither the deletion nor the spec gives one (the API default).
const DEFAULT_GRACE_SECS: i64 = 30;

/// How long to wait before sending the final DELETE again after it failed.
const DELETE_RETRY_SECS: i64 = 10;

/// Exit code of a container the kubelet had to kill: 128 + SIGKILL, as container runtimes report it.
pub const EXIT_CODE_KILLED: i32 = 137;

// Outputs are few and short-lived; boxing the status would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum KubeletOutput {
    Runtime(RuntimeCommand),
    /// Write this status to the pod's status subresource.
    Status { namespace: String, name: String, uid: String, status: PodStatus },
    /// Remove the pod for good (grace period 0, precondition: this UID): it was
    /// being deleted and none of its containers runs any more.
    Delete { namespace: String, name: String, uid: String },
}

#[derive(Clone, Debug)]
struct ContainerWorker {
    launch: ContainerLaunch,
    state: State,
    image_id: Option<String>,
    restart_count: i32,
    last_terminated: Option<Terminated>,
    /// When the next start is due (after a failed pull or a restartable exit).
    retry_at: Option<Timestamp>,
    backoff_secs: i64,
    /// The last usage the runtime measured while it ran: (CPU millicores, memory bytes).
    usage: Option<(i64, i64)>,
}

/// A pod being deleted: the runtime has been told to stop it.
#[derive(Clone, Debug)]
struct Termination {
    /// When the grace period ends: containers still running then are killed
    /// (the runtime is told again) and counted as stopped.
    deadline: Timestamp,
    /// The final DELETE is out; only the watch's DELETED (or a relist
    /// without the pod) ends the worker now.
    delete_sent: bool,
    /// After a failed DELETE, when to try again.
    retry_delete_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct PodWorker {
    pod: Pod,
    containers: Vec<ContainerWorker>,
    start_time: Timestamp,
    reported: Option<PodStatus>,
    termination: Option<Termination>,
    /// The pod's address, once its sandbox runs (its first container started).
    ip: Option<std::net::Ipv4Addr>,
}

impl PodWorker {
    fn restart_policy(&self) -> &str {
        self.pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
    }

    fn views(&self) -> Vec<ContainerView<'_>> {
        self.containers
            .iter()
            .map(|c| ContainerView {
                name: &c.launch.container,
                image: &c.launch.image,
                image_id: c.image_id.as_deref(),
                state: &c.state,
                last_terminated: c.last_terminated.as_ref(),
                restart_count: c.restart_count,
            })
            .collect()
    }

    fn all_stopped(&self) -> bool {
        self.containers.iter().all(|c| matches!(c.state, State::Terminated(_)))
    }

    /// The grace period this deletion grants: the API server's (it may have
    /// been shortened by a second delete), else the spec's.
    fn grace_secs(&self) -> i64 {
        let spec = self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds);
        self.pod.metadata.deletion_grace_period_seconds.or(spec).unwrap_or(DEFAULT_GRACE_SECS).max(0)
    }

    /// Starts (or, with a shorter grace period, hurries) the pod's termination.
    /// Returns whether the runtime must be told to stop the pod.
    fn terminate(&mut self, now: Timestamp) -> bool {
        let deadline = now + SignedDuration::from_secs(self.grace_secs());
        if let Some(t) = &mut self.termination {
            t.deadline = t.deadline.min(deadline);
            return false;
        }
        self.termination = Some(Termination { deadline, delete_sent: false, retry_delete_at: None });
        // Only running containers have something to stop; the others are
        // final now and will never be (re)started.
        for c in &mut self.containers {
            c.retry_at = None;
            if let State::Waiting { .. } = c.state {
                c.state = State::Terminated(match c.last_terminated.take() {
                    // Waiting for a restart: its last run is how it ended.
                    Some(last) => last,
                    None => Terminated {
                        exit_code: EXIT_CODE_KILLED,
                        reason: "ContainerStatusUnknown".into(),
                        message: Some("the pod was deleted before this container started".into()),
                        started_at: None,
                        finished_at: now,
                    },
                });
            }
        }
        true
    }

    /// The grace period is over: containers whose exit the runtime never
    /// reported are killed.
    fn force_stop(&mut self, now: Timestamp) {
        let grace = self.grace_secs();
        for c in &mut self.containers {
            if let State::Running { started_at } = c.state {
                c.state = State::Terminated(Terminated {
                    exit_code: EXIT_CODE_KILLED,
                    reason: "Error".into(),
                    message: Some(format!("killed: still running when the {grace} s grace period ended")),
                    started_at: Some(started_at),
                    finished_at: now,
                });
            }
        }
    }

    fn status(&self, now: Timestamp) -> PodStatus {
        let views = self.views();
        let phase = status::phase(&views, self.restart_policy(), self.termination.is_some());
        let all_ready = views.iter().all(|v| matches!(v.state, State::Running { .. }));
        let started = views.iter().any(|v| v.image_id.is_some());
        let existing = self.pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let previous = self.reported.as_ref().and_then(|s| s.conditions.clone()).unwrap_or(existing.clone());
        let mut base: Vec<_> = existing.into_iter().filter(|c| !status::KUBELET_CONDITIONS.contains(&c.type_.as_str())).collect();
        base.extend(previous.into_iter().filter(|c| status::KUBELET_CONDITIONS.contains(&c.type_.as_str())));
        PodStatus {
            phase: Some(phase.to_string()),
            conditions: Some(status::merge_conditions(&base, &status::conditions(phase, all_ready, started), now)),
            container_statuses: Some(views.iter().map(status::container_status).collect()),
            start_time: Some(Time(self.start_time)),
            pod_ip: self.ip.map(|ip| ip.to_string()),
            pod_ips: self.ip.map(|ip| vec![k8s_openapi::api::core::v1::PodIP { ip: ip.to_string() }]),
            qos_class: self.pod.status.as_ref().and_then(|s| s.qos_class.clone()),
            ..Default::default()
        }
    }
}

fn uid_of(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

/// What to run for a container: `command` (or the image name) as argv[0..],
/// then `args`; env from the spec, after HOSTNAME as container runtimes set it.
pub fn launch_for(pod: &Pod, container: &Container) -> ContainerLaunch {
    let image = container.image.clone().unwrap_or_default();
    let mut argv: Vec<String> = container.command.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| vec![image.clone()]);
    argv.extend(container.args.iter().flatten().cloned());
    let mut env = vec![("HOSTNAME".to_string(), pod.metadata.name.clone().unwrap_or_default())];
    for var in container.env.iter().flatten() {
        env.retain(|(k, _)| *k != var.name);
        env.push((var.name.clone(), var.value.clone().unwrap_or_default()));
    }
    let memory_limit_bytes = container
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| crate::quantity::parse_units(&q.0).ok())
        .map(|b| b as u64);
    ContainerLaunch {
        pod_uid: uid_of(pod).to_string(),
        container: container.name.clone(),
        image,
        argv,
        env,
        memory_limit_bytes,
    }
}

#[derive(Clone, Debug, Default)]
pub struct Kubelet {
    pods: BTreeMap<String, PodWorker>,
    network: pod_network::PodNetwork,
}

impl Kubelet {
    pub fn running_pods(&self) -> usize {
        self.pods.len()
    }

    /// A pod bound to this node was added or changed (or is being deleted).
    pub fn sync_pod(&mut self, pod: Pod, now: Timestamp) -> Vec<KubeletOutput> {
        let uid = uid_of(&pod).to_string();
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let mut out = Vec::new();
        match self.pods.get_mut(&uid) {
            // Idempotent on UID: a pod seen again (a relist, a reconnect) is never started twice.
            Some(worker) => worker.pod = pod,
            None => {
                let containers: Vec<ContainerWorker> = pod
                    .spec
                    .iter()
                    .flat_map(|s| &s.containers)
                    .map(|c| ContainerWorker {
                        launch: launch_for(&pod, c),
                        state: State::Waiting { reason: "ContainerCreating".into(), message: None },
                        image_id: None,
                        restart_count: 0,
                        last_terminated: None,
                        retry_at: None,
                        backoff_secs: BACKOFF_INITIAL_SECS,
                        usage: None,
                    })
                    .collect();
                // A pod first seen already being deleted (it was deleted while
                // this node was away) is never started: it only goes through termination.
                if !deleting {
                    out.extend(containers.iter().map(|c| KubeletOutput::Runtime(RuntimeCommand::Start(c.launch.clone()))));
                }
                self.pods.insert(uid.clone(), PodWorker { pod, containers, start_time: now, reported: None, termination: None, ip: None });
            }
        }
        let worker = self.pods.get_mut(&uid).expect("inserted above");
        if deleting && worker.terminate(now) {
            out.push(KubeletOutput::Runtime(RuntimeCommand::StopPod { pod_uid: uid.clone() }));
        }
        out.extend(self.settle(&uid, now));
        out
    }

    /// The pod is gone from the API server (deleted at once, force-deleted,
    /// or unbound): stop it if that was not already asked, and forget it.
    pub fn remove_pod(&mut self, uid: &str) -> Vec<KubeletOutput> {
        self.network.release(uid);
        match self.pods.remove(uid) {
            Some(worker) if worker.termination.is_none() => vec![KubeletOutput::Runtime(RuntimeCommand::StopPod { pod_uid: uid.to_string() })],
            _ => Vec::new(),
        }
    }

    /// The final DELETE failed: send it again later (or at the next sync).
    pub fn delete_failed(&mut self, uid: &str, now: Timestamp) {
        if let Some(t) = self.pods.get_mut(uid).and_then(|w| w.termination.as_mut()) {
            t.delete_sent = false;
            t.retry_delete_at = Some(now + SignedDuration::from_secs(DELETE_RETRY_SECS));
        }
    }

    /// After a full list: pods not in it are gone, so stop them.
    pub fn retain_only(&mut self, uids: &BTreeSet<String>) -> Vec<KubeletOutput> {
        let gone: Vec<String> = self.pods.keys().filter(|u| !uids.contains(*u)).cloned().collect();
        gone.iter().flat_map(|u| self.remove_pod(u)).collect()
    }

    /// Forgets what was reported and which deletions were sent, so every
    /// pod's status (and final DELETE) is written again after a reconnect,
    /// when requests that were in flight may have been lost.
    pub fn forget_reported(&mut self) {
        for worker in self.pods.values_mut() {
            worker.reported = None;
            if let Some(t) = &mut worker.termination {
                t.delete_sent = false;
                t.retry_delete_at = None;
            }
        }
    }

    pub fn runtime_event(&mut self, event: RuntimeEvent, now: Timestamp) -> Vec<KubeletOutput> {
        let uid = event.pod_uid().to_string();
        let Some(worker) = self.pods.get_mut(&uid) else { return Vec::new() };
        let restart_policy = worker.restart_policy().to_string();
        let terminating = worker.termination.is_some();
        let find = |worker: &mut PodWorker, name: &str| worker.containers.iter_mut().position(|c| c.launch.container == name);
        match event {
            // Stopping: only exits of containers still running matter; a late
            // pull failure or start (already stopped by the runtime) changes nothing.
            RuntimeEvent::Usage { container, cpu_millis, memory_bytes, .. } => {
                // Usage is not status: it is read by scrapes (`usage`), never reported.
                if let Some(c) = worker.containers.iter_mut().find(|c| c.launch.container == container && matches!(c.state, State::Running { .. })) {
                    c.usage = Some((cpu_millis, memory_bytes));
                }
                return Vec::new();
            }
            RuntimeEvent::PullFailed { .. } | RuntimeEvent::Started { .. } if terminating => return Vec::new(),
            RuntimeEvent::PullFailed { container, message, .. } => {
                let Some(i) = find(worker, &container) else { return Vec::new() };
                let c = &mut worker.containers[i];
                c.state = State::Waiting { reason: "ErrImagePull".into(), message: Some(message) };
                c.retry_at = Some(now + SignedDuration::from_secs(c.backoff_secs));
                c.backoff_secs = (c.backoff_secs * 2).min(BACKOFF_MAX_SECS);
            }
            RuntimeEvent::Started { container, image_id, .. } => {
                let Some(i) = find(worker, &container) else { return Vec::new() };
                let c = &mut worker.containers[i];
                c.state = State::Running { started_at: now };
                c.image_id = Some(image_id);
                // The pod's network comes up with its first container.
                worker.ip = worker.ip.or_else(|| self.network.allocate(&uid));
            }
            RuntimeEvent::Exited { container, exit_code, message, .. } => {
                let Some(i) = find(worker, &container) else { return Vec::new() };
                let c = &mut worker.containers[i];
                c.usage = None;
                let started_at = match &c.state {
                    State::Running { started_at } => Some(*started_at),
                    _ => None,
                };
                let term = Terminated {
                    exit_code,
                    reason: if exit_code == 0 { "Completed".into() } else { "Error".into() },
                    message,
                    started_at,
                    finished_at: now,
                };
                if matches!(c.state, State::Terminated(_)) {
                    // Already final (killed after the grace period): keep the first account.
                    return Vec::new();
                }
                let restart = !terminating && (restart_policy == "Always" || (restart_policy == "OnFailure" && exit_code != 0));
                if restart {
                    c.state = State::Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: Some(format!(
                            "back-off {}s restarting failed container={} pod={}",
                            c.backoff_secs,
                            c.launch.container,
                            worker.pod.metadata.name.as_deref().unwrap_or("")
                        )),
                    };
                    c.last_terminated = Some(term);
                    c.retry_at = Some(now + SignedDuration::from_secs(c.backoff_secs));
                    c.backoff_secs = (c.backoff_secs * 2).min(BACKOFF_MAX_SECS);
                } else {
                    c.state = State::Terminated(term);
                }
            }
        }
        self.settle(&uid, now)
    }

    /// Starts containers whose back-off has elapsed, kills those whose
    /// grace period is over, and retries failed deletions.
    pub fn tick(&mut self, now: Timestamp) -> Vec<KubeletOutput> {
        let mut out = Vec::new();
        let uids: Vec<String> = self.pods.keys().cloned().collect();
        for uid in uids {
            let worker = self.pods.get_mut(&uid).expect("listed");
            if let Some(t) = &worker.termination {
                if t.deadline <= now && !worker.all_stopped() {
                    worker.force_stop(now);
                    // Said again in case the runtime missed it: stopping is idempotent.
                    out.push(KubeletOutput::Runtime(RuntimeCommand::StopPod { pod_uid: uid.clone() }));
                }
                out.extend(self.settle(&uid, now));
                continue;
            }
            let mut changed = false;
            for c in &mut worker.containers {
                if c.retry_at.is_some_and(|t| t <= now) {
                    c.retry_at = None;
                    if c.last_terminated.is_some() && matches!(c.state, State::Waiting { ref reason, .. } if reason == "CrashLoopBackOff") {
                        c.restart_count += 1;
                    }
                    c.state = State::Waiting { reason: "ContainerCreating".into(), message: None };
                    out.push(KubeletOutput::Runtime(RuntimeCommand::Start(c.launch.clone())));
                    changed = true;
                }
            }
            if changed {
                out.extend(self.report(&uid, now));
            }
        }
        out
    }

    /// The node's pod CIDR is known (or changed): pods already running get
    /// their addresses now.
    pub fn set_pod_cidr(&mut self, cidr: &str, now: Timestamp) -> Vec<KubeletOutput> {
        if !self.network.set_cidr(cidr) {
            return Vec::new();
        }
        let waiting: Vec<String> =
            self.pods.iter().filter(|(_, w)| w.ip.is_none() && w.termination.is_none() && w.containers.iter().any(|c| c.image_id.is_some())).map(|(u, _)| u.clone()).collect();
        let mut out = Vec::new();
        for uid in waiting {
            let ip = self.network.allocate(&uid);
            if let Some(worker) = self.pods.get_mut(&uid) {
                worker.ip = ip;
            }
            out.extend(self.report(&uid, now));
        }
        out
    }

    pub fn has_pod_cidr(&self) -> bool {
        self.network.has_cidr()
    }

    /// The usage of each pod with a running container, as a kubelet's
    /// `/metrics/resource` gives it to a scrape.
    pub fn usage(&self, now: Timestamp) -> Vec<PodUsage> {
        self.pods
            .values()
            .filter(|w| w.termination.is_none())
            .filter_map(|w| {
                let containers: Vec<ContainerUsage> = w
                    .containers
                    .iter()
                    .filter_map(|c| c.usage.map(|(cpu, memory)| ContainerUsage { name: c.launch.container.clone(), cpu_millis: cpu, memory_bytes: memory }))
                    .collect();
                (!containers.is_empty()).then(|| PodUsage {
                    namespace: w.pod.metadata.namespace.clone().unwrap_or_default(),
                    name: w.pod.metadata.name.clone().unwrap_or_default(),
                    uid: uid_of(&w.pod).to_string(),
                    timestamp: now,
                    window: RESOLUTION,
                    containers,
                })
            })
            .collect()
    }

    /// When the kubelet next needs `tick`.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.pods
            .values()
            .flat_map(|w| {
                let termination = w.termination.as_ref().and_then(|t| match t.retry_delete_at {
                    Some(retry) if !t.delete_sent => Some(retry),
                    _ if !w.all_stopped() => Some(t.deadline),
                    _ => None,
                });
                w.containers.iter().filter_map(|c| c.retry_at).chain(termination)
            })
            .min()
    }

    /// Reports the pod's status if it changed, then, if it is being deleted
    /// and nothing of it runs any more, deletes it. In that order: the final
    /// status (why each container stopped) is written before the pod goes.
    fn settle(&mut self, uid: &str, now: Timestamp) -> Vec<KubeletOutput> {
        let mut out = self.report(uid, now);
        let Some(worker) = self.pods.get_mut(uid) else { return out };
        let all_stopped = worker.all_stopped();
        let Some(t) = &mut worker.termination else { return out };
        if all_stopped && !t.delete_sent && t.retry_delete_at.is_none_or(|r| r <= now) {
            t.delete_sent = true;
            t.retry_delete_at = None;
            out.push(KubeletOutput::Delete {
                namespace: worker.pod.metadata.namespace.clone().unwrap_or_default(),
                name: worker.pod.metadata.name.clone().unwrap_or_default(),
                uid: uid.to_string(),
            });
        }
        out
    }

    fn report(&mut self, uid: &str, now: Timestamp) -> Vec<KubeletOutput> {
        let Some(worker) = self.pods.get_mut(uid) else { return Vec::new() };
        let status = worker.status(now);
        if worker.reported.as_ref() == Some(&status) {
            return Vec::new();
        }
        worker.reported = Some(status.clone());
        vec![KubeletOutput::Status {
            namespace: worker.pod.metadata.namespace.clone().unwrap_or_default(),
            name: worker.pod.metadata.name.clone().unwrap_or_default(),
            uid: uid.to_string(),
            status,
        }]
    }
}

#[cfg(test)]
mod tests;
