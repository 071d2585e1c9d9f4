//! The Job controller, after Kubernetes 1.34's `pkg/controller/job`: runs
//! pods until `completions` of them succeed (or, without completions, until
//! one does), `parallelism` at a time, replacing failed ones after a
//! backoff (`job_backoff`) until more than `backoffLimit` have failed, and
//! fails the Job when it runs longer than `activeDeadlineSeconds`.
//! Indexed Jobs give each pod an index (`completion_index`).
//!
//! Pods are counted with a finalizer, as upstream: every pod is created
//! with `batch.kubernetes.io/job-tracking`; a finished pod goes first into
//! `status.uncountedTerminatedPods`, then loses its finalizer, then moves
//! into `succeeded` or `failed`. So a finished pod deleted by anyone is
//! still counted, exactly once.
//!
//! A Job ends in two steps: the interim `SuccessCriteriaMet` or
//! `FailureTarget` condition as soon as the outcome is known (its active
//! pods are then deleted), and `Complete` or `Failed` once none of its pods
//! is still terminating.

use crate::json_path::JsonPath;
use super::completion_index::{self, ANNOTATION as INDEX_ANNOTATION};
use super::events::{EventRecorder, NORMAL, WARNING};
use super::job_backoff::BackoffRecord;
use super::ownership::{claim, controller_keys, controller_of, controller_ref, finalizers, is_being_deleted, key_of, labels, name, namespace, uid, update, write_status};
use super::pod_control::{create_pod, delete_pod};
use super::pod_ranking::in_deletion_order;
use super::pod_readiness::{is_active, is_ready};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use crate::apiserver::resources::{JOBS, PODS};
use crate::apiserver::ApiServer;
use crate::labels::selector_matches;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus, UncountedTerminatedPods};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const COMPONENT: &str = "job-controller";
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The label that says which Job made a pod (the server puts it in the selector).
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// At most this many pods are created or deleted in one sync (upstream's MaxPodCreateDeletePerSync).
const BURST: usize = 500;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";

#[derive(Debug)]
pub struct JobController {
    events: EventRecorder,
    backoff: BTreeMap<ObjectKey, BackoffRecord>,
}

impl Default for JobController {
    fn default() -> Self {
        JobController { events: EventRecorder::new(COMPONENT), backoff: BTreeMap::new() }
    }
}

impl Reconciler for JobController {
    fn name(&self) -> &'static str {
        "job"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == JOBS.storage_name() {
            keys.push(event.key.clone());
        } else if event.key.resource == PODS.storage_name() {
            controller_keys(event, "Job", &JOBS, keys);
            if event.event_type != EventType::Deleted && is_orphan_with_finalizer(store, &event.object) {
                keys.push(event.key.clone());
            }
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        let (jobs, pods) = (JOBS.storage_name(), PODS.storage_name());
        let orphans = store.list(&pods, None).filter(|(_, p)| is_orphan_with_finalizer(store, p));
        store.list(&jobs, None).chain(orphans).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        if key.resource == PODS.storage_name() {
            release_orphan(ctx.api, key, ctx.now);
            return Ok(Action::await_change());
        }
        let Some(value) = ctx.api.store().get(key).cloned() else {
            self.backoff.remove(key);
            return Ok(Action::await_change());
        };
        let Ok(job) = serde_json::from_value::<Job>((*value).clone()) else { return Ok(Action::await_change()) };
        if is_finished(&job) {
            self.backoff.remove(key);
            return Ok(Action::await_change());
        }
        let record = self.backoff.get(key).copied().unwrap_or_default();
        let mut sync = Sync { api: ctx.api, events: &mut self.events, value, job, now: ctx.now, record, requeue: Action::await_change() };
        sync.run();
        let (record, requeue) = (sync.record, sync.requeue);
        self.backoff.insert(key.clone(), record);
        Ok(requeue)
    }
}

fn has_tracking_finalizer(pod: &Value) -> bool {
    finalizers(pod).iter().any(|f| f == TRACKING_FINALIZER)
}

/// A pod holding the Job finalizer whose Job is gone (or that no Job
/// controls): nobody else would ever let it go.
fn is_orphan_with_finalizer(store: &Store, pod: &Value) -> bool {
    if !has_tracking_finalizer(pod) {
        return false;
    }
    match controller_of(pod).filter(|r| r["kind"] == "Job") {
        None => true,
        Some(job) => {
            let key = ObjectKey::new(JOBS.storage_name(), namespace(pod), job["name"].as_str().unwrap_or(""));
            store.get(&key).is_none_or(|j| j["metadata"]["uid"] != job["uid"])
        }
    }
}

fn release_orphan(api: &mut ApiServer, key: &ObjectKey, now: Timestamp) {
    let Some(pod) = api.store().get(key).cloned() else { return };
    if is_orphan_with_finalizer(api.store(), &pod) {
        remove_tracking_finalizer(api, &pod, now);
    }
}

/// Removes the tracking finalizer; true if it is gone (or the pod is).
fn remove_tracking_finalizer(api: &mut ApiServer, pod: &Value, now: Timestamp) -> bool {
    let mut changed = pod.clone();
    let kept: Vec<String> = finalizers(pod).into_iter().filter(|f| f != TRACKING_FINALIZER).collect();
    match changed["metadata"].as_object_mut() {
        Some(meta) if kept.is_empty() => drop(meta.remove("finalizers")),
        Some(meta) => drop(meta.insert("finalizers".into(), json!(kept))),
        None => return false,
    }
    let key = key_of(&PODS, pod);
    update(api, &key, changed, now).is_some() || api.store().get(&key).is_none_or(|p| p["metadata"]["uid"] != pod["metadata"]["uid"])
}

pub fn condition<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == type_ && c.status == "True")
}

/// Complete or Failed: nothing more will happen to it.
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| condition(s, COMPLETE).is_some() || condition(s, FAILED).is_some())
}

fn new_condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()).filter(|r: &String| !r.is_empty()),
        message: Some(message.into()).filter(|m: &String| !m.is_empty()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets a condition's status, reason and message, appending it unless it
/// would be a new False one (upstream's ensureJobConditionStatus). True if changed.
fn ensure_condition(status: &mut JobStatus, type_: &str, value: &str, reason: &str, message: &str, now: Timestamp) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let wanted = JobCondition { status: value.into(), ..new_condition(type_, reason, message, now) };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status != value || c.reason != wanted.reason || c.message != wanted.message => {
            *c = wanted;
            true
        }
        Some(_) => false,
        None if value != "False" => {
            conditions.push(wanted);
            true
        }
        None => false,
    }
}

fn phase(pod: &Value) -> &str {
    pod.at(&["status", "phase"]).and_then(Value::as_str).unwrap_or("")
}

/// One sync of one Job.
struct Sync<'a> {
    api: &'a mut ApiServer,
    events: &'a mut EventRecorder,
    value: Arc<Value>,
    job: Job,
    now: Timestamp,
    record: BackoffRecord,
    requeue: Action,
}

/// What a sync found and decided, upstream's syncJobCtx.
struct Counts {
    pods: Vec<Arc<Value>>,
    active: Vec<Arc<Value>>,
    ready: i32,
    terminating: i32,
    succeeded: i32,
    failed: i32,
    succeeded_indexes: BTreeSet<i32>,
    finished: Option<JobCondition>,
}

impl Sync<'_> {
    fn spec(&self) -> JobSpec {
        self.job.spec.clone().unwrap_or_default()
    }

    fn suspended(&self) -> bool {
        self.spec().suspend == Some(true)
    }

    fn indexed(&self) -> bool {
        self.spec().completion_mode.as_deref() == Some("Indexed")
    }

    fn only_replace_failed(&self) -> bool {
        self.spec().pod_replacement_policy.as_deref() == Some("Failed")
    }

    /// Failed, or (unless only failed pods are replaced) deleted before it succeeded.
    fn is_pod_failed(&self, pod: &Value) -> bool {
        phase(pod) == "Failed" || (!self.only_replace_failed() && is_being_deleted(pod) && phase(pod) != "Succeeded")
    }

    fn event(&mut self, type_: &str, reason: &str, message: &str) {
        let value = self.value.clone();
        self.events.record(self.api, &value, type_, reason, message, self.now);
    }

    fn run(&mut self) {
        let spec = self.spec();
        let status = self.job.status.get_or_insert_with(Default::default);
        let uncounted = status.uncounted_terminated_pods.get_or_insert_with(Default::default);
        let uncounted_succeeded: BTreeSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
        let uncounted_failed: BTreeSet<String> = uncounted.failed.iter().flatten().cloned().collect();
        let pods = self.claim_pods();
        let completions = spec.completions.unwrap_or(0);
        let indexed = self.indexed();
        let valid = |p: &Value| !indexed || completion_index::of(p, completions).is_some();
        let active: Vec<Arc<Value>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
        let new_succeeded: Vec<&Value> =
            pods.iter().map(|p| p.as_ref()).filter(|p| has_tracking_finalizer(p) && !uncounted_succeeded.contains(uid(p)) && valid(p) && phase(p) == "Succeeded").collect();
        let new_failed: Vec<&Value> =
            pods.iter().map(|p| p.as_ref()).filter(|p| has_tracking_finalizer(p) && !uncounted_failed.contains(uid(p)) && valid(p) && self.is_pod_failed(p)).collect();
        let status = self.job.status.clone().unwrap_or_default();
        let mut counts = Counts {
            ready: active.iter().filter(|p| is_ready(p)).count() as i32,
            terminating: pods.iter().filter(|p| is_being_deleted(p) && !matches!(phase(p), "Succeeded" | "Failed")).count() as i32,
            succeeded: status.succeeded.unwrap_or(0) + new_succeeded.len() as i32 + uncounted_succeeded.len() as i32,
            failed: status.failed.unwrap_or(0) + new_failed.len() as i32 + uncounted_failed.len() as i32,
            succeeded_indexes: BTreeSet::new(),
            finished: None,
            active,
            pods: Vec::new(),
        };
        self.record = self.record.after(&new_succeeded, &new_failed);
        counts.pods = pods;
        if status.start_time.is_none() && !self.suspended() {
            self.job.status.get_or_insert_with(Default::default).start_time = Some(Time(self.now));
        }
        counts.finished = self.finished_condition(&counts);
        if indexed {
            let mut indexes = completion_index::parse(status.completed_indexes.as_deref().unwrap_or(""), completions);
            indexes.extend(counts.pods.iter().filter(|p| phase(p) == "Succeeded").filter_map(|p| completion_index::of(p, completions)));
            counts.succeeded = indexes.len() as i32;
            counts.succeeded_indexes = indexes;
        }
        if counts.finished.is_some() {
            let active = std::mem::take(&mut counts.active);
            let (deleted_ready, deleted) = self.delete_pods(&active, false);
            counts.ready -= deleted_ready;
            counts.terminating += deleted;
            if deleted as usize != active.len() {
                counts.finished = None;
            }
        } else {
            let managed = !is_being_deleted(&self.value);
            if managed {
                self.manage(&mut counts);
            }
            let active = counts.active.len() as i32;
            let complete = match spec.completions {
                None => counts.succeeded > 0 && active == 0,
                Some(c) => counts.succeeded >= c && active == 0,
            };
            if complete {
                counts.finished = Some(new_condition(SUCCESS_CRITERIA_MET, "CompletionsReached", "Reached expected number of succeeded pods", self.now));
            } else if managed {
                self.sync_suspended();
            }
        }
        let status = self.job.status.get_or_insert_with(Default::default);
        status.active = Some(counts.active.len() as i32).filter(|a| *a > 0);
        status.ready = Some(counts.ready);
        status.terminating = Some(counts.terminating);
        self.track_and_remove_finalizers(counts);
    }

    /// The pods this Job controls, adopting matching orphans.
    fn claim_pods(&mut self) -> Vec<Arc<Value>> {
        let Some(selector) = self.spec().selector else { return Vec::new() };
        let ns = namespace(&self.value).to_string();
        let candidates: Vec<Arc<Value>> = self.api.store().list(&PODS.storage_name(), Some(&ns)).map(|(_, p)| p.clone()).collect();
        let owner = self.value.clone();
        claim(self.api, &owner, &PODS, candidates, |p| selector_matches(&selector, &labels(p)), self.now)
    }

    /// The outcome, if it is known: a condition already reached, too many
    /// failures, or the deadline passed. Requeues for the deadline otherwise.
    fn finished_condition(&mut self, counts: &Counts) -> Option<JobCondition> {
        let status = self.job.status.clone().unwrap_or_default();
        if let Some(met) = condition(&status, SUCCESS_CRITERIA_MET) {
            return Some(met.clone());
        }
        if let Some(target) = condition(&status, FAILURE_TARGET) {
            return Some(new_condition(FAILED, target.reason.as_deref().unwrap_or(""), target.message.as_deref().unwrap_or(""), self.now));
        }
        let spec = self.spec();
        let backoff_limit = spec.backoff_limit.unwrap_or(6);
        if counts.failed > backoff_limit || self.past_backoff_limit_on_failure(&counts.pods, backoff_limit) {
            return Some(new_condition(FAILURE_TARGET, "BackoffLimitExceeded", "Job has reached the specified backoff limit", self.now));
        }
        let deadline = spec.active_deadline_seconds.zip(status.start_time.as_ref()).map(|(secs, start)| start.0 + SignedDuration::from_secs(secs));
        match deadline {
            Some(deadline) if !self.suspended() && deadline <= self.now => {
                Some(new_condition(FAILURE_TARGET, "DeadlineExceeded", "Job was active longer than specified deadline", self.now))
            }
            Some(deadline) if !self.suspended() => {
                self.requeue = self.requeue.or_sooner(Action::requeue_at(Some(deadline), self.now));
                None
            }
            _ => None,
        }
    }

    /// Under restartPolicy OnFailure failures are container restarts, summed
    /// over the running pods.
    fn past_backoff_limit_on_failure(&self, pods: &[Arc<Value>], limit: i32) -> bool {
        let on_failure = self.spec().template.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("OnFailure");
        if !on_failure {
            return false;
        }
        let restarts: i64 = pods
            .iter()
            .filter(|p| matches!(phase(p), "Running" | "Pending"))
            .flat_map(|p| p.at(&["status", "containerStatuses"]).and_then(Value::as_array).cloned().unwrap_or_default())
            .map(|c| c["restartCount"].as_i64().unwrap_or(0))
            .sum();
        if limit == 0 {
            restarts > 0
        } else {
            restarts >= i64::from(limit)
        }
    }

    /// Creates or deletes pods so that the right number runs (manageJob).
    fn manage(&mut self, counts: &mut Counts) {
        let spec = self.spec();
        let parallelism = spec.parallelism.unwrap_or(1);
        let active = counts.active.len() as i32;
        if self.suspended() {
            let all = counts.active.clone();
            let (ready, deleted) = self.delete_pods(&all, true);
            self.forget_deleted(counts, deleted, ready);
            return;
        }
        let want = match spec.completions {
            None if counts.succeeded > 0 => active,
            None => parallelism,
            Some(c) => (c - counts.succeeded).clamp(0, parallelism),
        };
        let mut doomed = Vec::new();
        if self.indexed() {
            doomed = self.misplaced_indexed_pods(counts);
        }
        let excess = (active - doomed.len() as i32 - want).max(0) as usize;
        if excess > 0 {
            let kept: Vec<Arc<Value>> = counts.active.iter().filter(|p| !doomed.iter().any(|d| uid(d) == uid(p))).cloned().collect();
            doomed.extend(in_deletion_order(&kept, &[]).into_iter().take(excess));
        }
        if !doomed.is_empty() {
            doomed.truncate(BURST);
            let (ready, deleted) = self.delete_pods(&doomed, true);
            self.forget_deleted(counts, deleted, ready);
            return;
        }
        let terminating = if self.only_replace_failed() { counts.terminating } else { 0 };
        let missing = (want - terminating - active).max(0) as usize;
        if missing == 0 {
            return;
        }
        let wait = self.record.remaining(self.now);
        if wait > SignedDuration::ZERO {
            self.requeue = self.requeue.or_sooner(Action::requeue_after(wait));
            return;
        }
        let indexes: Vec<Option<i32>> = if self.indexed() {
            self.pending_indexes(counts, missing).into_iter().map(Some).collect()
        } else {
            vec![None; missing.min(BURST)]
        };
        for index in indexes {
            match self.create_pod(index) {
                Some(pod) => counts.active.push(Arc::new(pod)),
                None => break,
            }
        }
    }

    /// Deleted pods no longer count as active (upstream subtracts them).
    fn forget_deleted(&self, counts: &mut Counts, deleted: i32, ready: i32) {
        let remaining: Vec<Arc<Value>> = counts.active.iter().filter(|p| self.api.store().get(&key_of(&PODS, p)).is_some_and(|s| is_active(s))).cloned().collect();
        counts.active = remaining;
        counts.terminating += deleted;
        counts.ready -= ready;
    }

    /// Active pods of an Indexed Job without a valid index, or repeating one.
    fn misplaced_indexed_pods(&self, counts: &Counts) -> Vec<Arc<Value>> {
        let completions = self.spec().completions.unwrap_or(0);
        let mut seen = BTreeSet::new();
        let mut by_age = counts.active.clone();
        by_age.sort_by_key(|p| (p.at(&["metadata", "creationTimestamp"]).and_then(Value::as_str).map(String::from), name(p).to_string()));
        by_age
            .into_iter()
            .filter(|p| match completion_index::of(p, completions) {
                Some(i) => counts.succeeded_indexes.contains(&i) || !seen.insert(i),
                None => true,
            })
            .collect()
    }

    /// The lowest indexes that have neither succeeded nor a pod running.
    fn pending_indexes(&self, counts: &Counts, count: usize) -> Vec<i32> {
        let completions = self.spec().completions.unwrap_or(0);
        let running: BTreeSet<i32> = counts.active.iter().filter_map(|p| completion_index::of(p, completions)).collect();
        (0..completions).filter(|i| !counts.succeeded_indexes.contains(i) && !running.contains(i)).take(count.min(BURST)).collect()
    }

    fn create_pod(&mut self, index: Option<i32>) -> Option<Value> {
        let job_name = name(&self.value).to_string();
        let ns = namespace(&self.value).to_string();
        // The stored template, as it is: no typed round trip for every pod.
        let job = self.value.clone();
        let template = job.at(&["spec", "template"]).unwrap_or(&Value::Null);
        let mut metadata = json!({"namespace": ns, "ownerReferences": [controller_ref(&self.value)]});
        for field in ["labels", "annotations"] {
            if let Some(value) = template.pointer(&format!("/metadata/{field}")) {
                metadata[field] = value.clone();
            }
        }
        let mut held = template.at(&["metadata", "finalizers"]).and_then(Value::as_array).cloned().unwrap_or_default();
        held.push(json!(TRACKING_FINALIZER));
        metadata["finalizers"] = json!(held);
        let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
        match index {
            Some(i) => {
                metadata["generateName"] = json!(format!("{job_name}-{i}-"));
                metadata["annotations"][INDEX_ANNOTATION] = json!(i.to_string());
                metadata["labels"][INDEX_ANNOTATION] = json!(i.to_string());
                spec["hostname"] = json!(format!("{job_name}-{i}"));
                // Upstream takes it from the annotation through the downward
                // API (valueFrom), which this cluster does not serve: the
                // value itself is written.
                for container in spec["containers"].as_array_mut().into_iter().flatten() {
                    let env = container["env"].as_array().cloned().unwrap_or_default();
                    if !env.iter().any(|e| e["name"] == "JOB_COMPLETION_INDEX") {
                        let mut env = env;
                        env.push(json!({"name": "JOB_COMPLETION_INDEX", "value": i.to_string()}));
                        container["env"] = json!(env);
                    }
                }
            }
            None => metadata["generateName"] = json!(format!("{job_name}-")),
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
        let owner = self.value.clone();
        create_pod(self.api, self.events, &owner, pod, self.now).ok()
    }

    /// Deletes pods (removing the tracking finalizer first when `release`,
    /// as upstream's deleteJobPods does); returns (ready ones, all) deleted.
    fn delete_pods(&mut self, pods: &[Arc<Value>], release: bool) -> (i32, i32) {
        let (mut ready, mut deleted) = (0, 0);
        let owner = self.value.clone();
        for pod in pods {
            if release && has_tracking_finalizer(pod) && !remove_tracking_finalizer(self.api, pod, self.now) {
                continue;
            }
            if delete_pod(self.api, self.events, &owner, pod, self.now).is_err() {
                continue;
            }
            deleted += 1;
            ready += i32::from(is_ready(pod));
        }
        (ready, deleted)
    }

    /// The Suspended condition follows spec.suspend; resuming restarts the
    /// clock of activeDeadlineSeconds.
    fn sync_suspended(&mut self) {
        let now = self.now;
        let suspended = self.suspended();
        let status = self.job.status.get_or_insert_with(Default::default);
        let changed = if suspended {
            ensure_condition(status, SUSPENDED, "True", "JobSuspended", "Job suspended", now)
        } else {
            ensure_condition(status, SUSPENDED, "False", "JobResumed", "Job resumed", now)
        };
        if changed && suspended {
            self.event(NORMAL, "Suspended", "Job suspended");
        } else if changed {
            self.job.status.get_or_insert_with(Default::default).start_time = Some(Time(now));
            self.event(NORMAL, "Resumed", "Job resumed");
        }
    }

    /// Counts finished pods through `uncountedTerminatedPods` and their
    /// finalizers, then sets the final condition once nothing is left to
    /// count or terminating (trackJobStatusAndRemoveFinalizers). Each
    /// status write happens only if the status changed.
    fn track_and_remove_finalizers(&mut self, counts: Counts) {
        let deleting = is_being_deleted(&self.value);
        let indexed = self.indexed();
        let mut finished = counts.finished.clone();
        let mut with_finalizer: BTreeSet<String> = counts.pods.iter().filter(|p| has_tracking_finalizer(p)).map(|p| uid(p).to_string()).collect();
        let status = self.job.status.get_or_insert_with(Default::default);
        move_counted(status, &with_finalizer);
        let failed: Vec<bool> = counts.pods.iter().map(|p| self.is_pod_failed(p)).collect();
        let status = self.job.status.get_or_insert_with(Default::default);
        let mut to_release = Vec::new();
        let uncounted = status.uncounted_terminated_pods.get_or_insert_with(Default::default);
        let succeeded = uncounted.succeeded.get_or_insert_with(Vec::new);
        let failed_so_far: BTreeSet<String> = uncounted.failed.iter().flatten().cloned().collect();
        let mut newly_failed = Vec::new();
        for (pod, considered_failed) in counts.pods.iter().zip(failed).filter(|(p, _)| has_tracking_finalizer(p)) {
            if !(deleting || finished.is_some() || phase(pod) == "Succeeded" || considered_failed) {
                continue;
            }
            to_release.push(pod.clone());
            let id = uid(pod).to_string();
            if phase(pod) == "Succeeded" && !failed_so_far.contains(&id) {
                if !indexed && !succeeded.contains(&id) {
                    succeeded.push(id);
                }
            } else if (considered_failed || finished.as_ref().is_some_and(|f| f.type_ != SUCCESS_CRITERIA_MET)) && !failed_so_far.contains(&id) {
                newly_failed.push(id);
            }
        }
        uncounted.failed.get_or_insert_with(Vec::new).extend(newly_failed);
        if indexed {
            let completed = completion_index::format(&counts.succeeded_indexes);
            status.succeeded = Some(counts.succeeded_indexes.len() as i32).filter(|n| *n > 0);
            status.completed_indexes = Some(completed);
        }
        // The interim condition is written before any finalizer goes.
        if let Some(f) = finished.clone() {
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            if f.type_ == FAILURE_TARGET {
                conditions.push(f.clone());
                finished = Some(new_condition(FAILED, f.reason.as_deref().unwrap_or(""), f.message.as_deref().unwrap_or(""), self.now));
            } else if f.type_ == SUCCESS_CRITERIA_MET {
                if !conditions.iter().any(|c| c.type_ == SUCCESS_CRITERIA_MET) {
                    conditions.push(f.clone());
                }
                finished = Some(new_condition(COMPLETE, f.reason.as_deref().unwrap_or(""), f.message.as_deref().unwrap_or(""), self.now));
            }
        }
        self.write_status();
        for pod in &to_release {
            if remove_tracking_finalizer(self.api, pod, self.now) {
                with_finalizer.remove(uid(pod));
            }
        }
        let status = self.job.status.get_or_insert_with(Default::default);
        move_counted(status, &with_finalizer);
        let nothing_uncounted = status.uncounted_terminated_pods.as_ref().is_none_or(|u| u.succeeded.iter().flatten().chain(u.failed.iter().flatten()).next().is_none());
        let mut completed = None;
        if let Some(f) = finished.filter(|_| nothing_uncounted && counts.terminating == 0) {
            let now = self.now;
            ensure_condition(status, &f.type_, "True", f.reason.as_deref().unwrap_or(""), f.message.as_deref().unwrap_or(""), now);
            if f.type_ == COMPLETE {
                status.completion_time = Some(Time(now));
            }
            completed = Some(f);
        }
        self.write_status();
        if let Some(f) = completed {
            if f.type_ == COMPLETE {
                self.event(NORMAL, "Completed", "Job completed");
            } else {
                self.event(WARNING, f.reason.as_deref().unwrap_or(""), f.message.as_deref().unwrap_or(""));
            }
        }
    }

    /// Writes the status as it stands, on the latest stored Job.
    fn write_status(&mut self) {
        let mut status = self.job.status.clone().unwrap_or_default();
        // Empty lists are left out, as Go's omitempty does, so that the
        // same status always reads the same.
        status.conditions = status.conditions.filter(|c| !c.is_empty());
        if let Some(uncounted) = &mut status.uncounted_terminated_pods {
            uncounted.succeeded = uncounted.succeeded.take().filter(|u| !u.is_empty());
            uncounted.failed = uncounted.failed.take().filter(|u| !u.is_empty());
        }
        let status = serde_json::to_value(status).unwrap_or(Value::Null);
        if let Some(stored) = write_status(self.api, &JOBS, &self.value, status, self.now) {
            self.value = stored;
        }
    }
}

/// Moves the uncounted pods that no longer hold the finalizer into the
/// counters (cleanUncountedPodsWithoutFinalizers).
fn move_counted(status: &mut JobStatus, with_finalizer: &BTreeSet<String>) {
    let uncounted = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    for (list, counter) in [(&mut uncounted.succeeded, &mut status.succeeded), (&mut uncounted.failed, &mut status.failed)] {
        let before = list.as_ref().map_or(0, Vec::len);
        let kept: Vec<String> = list.iter().flatten().filter(|u| with_finalizer.contains(*u)).cloned().collect();
        let gone = before - kept.len();
        if gone > 0 {
            *counter = Some(counter.unwrap_or(0) + gone as i32);
        }
        *list = Some(kept).filter(|k| !k.is_empty());
    }
}
