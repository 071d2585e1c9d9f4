//! The CronJob controller, after Kubernetes' `cronjob_controllerv2`: at
//! each time its schedule fires (`cron_schedule`), a CronJob creates a Job
//! from its template, named `<cronjob>-<minutes since the epoch>` so the
//! same time never makes two. `concurrencyPolicy` decides what happens when
//! the last Job still runs (Allow: start another; Forbid: skip this time;
//! Replace: delete it first); a time missed by more than
//! `startingDeadlineSeconds` is skipped; finished Jobs beyond the history
//! limits are deleted, oldest first. It wakes up at the next scheduled
//! time, not on a poll.

use crate::json_path::JsonPath;
use super::events::{EventRecorder, NORMAL, WARNING};
use super::job::{condition, COMPLETE, FAILED};
use super::ownership::{controller_keys, controller_of, controller_ref, name, namespace, uid, write_status};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{CRON_JOBS, JOBS};
use crate::apiserver::{ApiRequest, ApiServer};
use crate::cron_schedule::Schedule;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::sync::Arc;

pub const COMPONENT: &str = "cronjob-controller";
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Past this many missed times the controller warns (and still starts the latest).
const MANY_MISSED: i64 = 100;

/// Upstream wakes 100 ms after a scheduled time, against clock skew.
const NEXT_SCHEDULE_DELTA: SignedDuration = SignedDuration::from_millis(100);

#[derive(Debug)]
pub struct CronJobController {
    events: EventRecorder,
}

impl Default for CronJobController {
    fn default() -> Self {
        CronJobController { events: EventRecorder::new(COMPONENT) }
    }
}

impl Reconciler for CronJobController {
    fn name(&self) -> &'static str {
        "cronjob"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == CRON_JOBS.storage_name() && event.event_type != EventType::Deleted {
            keys.push(event.key.clone());
        } else if event.key.resource == JOBS.storage_name() {
            controller_keys(event, "CronJob", &CRON_JOBS, keys);
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&CRON_JOBS.storage_name(), None).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(value) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        let Ok(cron_job) = serde_json::from_value::<CronJob>((*value).clone()) else { return Ok(Action::await_change()) };
        let jobs: Vec<Arc<Value>> = ctx
            .api
            .store()
            .list(&JOBS.storage_name(), Some(&key.namespace))
            .filter(|(_, j)| controller_of(j).is_some_and(|r| r["uid"] == uid(&value)))
            .map(|(_, j)| j.clone())
            .collect();
        let mut sync = Sync { api: ctx.api, events: &mut self.events, value, cj: cron_job, now: ctx.now };
        let requeue = sync.sync(&jobs);
        if sync.cj.metadata.deletion_timestamp.is_none() {
            sync.clean_up_finished(&jobs);
        }
        sync.write_status();
        Ok(requeue)
    }
}

fn is_finished(job: &Job) -> Option<&'static str> {
    let status = job.status.as_ref()?;
    if condition(status, COMPLETE).is_some() {
        Some(COMPLETE)
    } else if condition(status, FAILED).is_some() {
        Some(FAILED)
    } else {
        None
    }
}

/// The last time the schedule fires after `from` and not after `now`.
fn latest_until(schedule: &Schedule, from: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let mut latest = None;
    let mut from = from;
    for _ in 0..100_000 {
        match schedule.next_after(from).filter(|t| *t <= now) {
            Some(t) => {
                latest = Some(t);
                from = t;
            }
            None => break,
        }
    }
    latest
}

fn typed(job: &Value) -> Job {
    serde_json::from_value(job.clone()).unwrap_or_default()
}

struct Sync<'a> {
    api: &'a mut ApiServer,
    events: &'a mut EventRecorder,
    value: Arc<Value>,
    cj: CronJob,
    now: Timestamp,
}

impl Sync<'_> {
    fn event(&mut self, type_: &str, reason: &str, message: &str) {
        let value = self.value.clone();
        self.events.record(self.api, &value, type_, reason, message, self.now);
    }

    fn status(&mut self) -> &mut CronJobStatus {
        self.cj.status.get_or_insert_with(Default::default)
    }

    fn in_active(&self, job_uid: &str) -> bool {
        self.cj.status.as_ref().and_then(|s| s.active.as_ref()).is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == Some(job_uid)))
    }

    fn forget_active(&mut self, job_uid: &str) {
        if let Some(active) = self.status().active.as_mut() {
            active.retain(|r| r.uid.as_deref() != Some(job_uid));
        }
    }

    /// syncCronJob: brings status.active in line with the Jobs, then starts
    /// the Job of the most recent unmet time, if any. Returns when to look again.
    fn sync(&mut self, jobs: &[Arc<Value>]) -> Action {
        for job_value in jobs {
            let job = typed(job_value);
            let job_uid = uid(job_value).to_string();
            let found = self.in_active(&job_uid);
            match is_finished(&job) {
                None if !found => {
                    self.event(WARNING, "UnexpectedJob", &format!("Saw a job that the controller did not create or forgot: {}", name(job_value)));
                }
                Some(outcome) if found => {
                    self.forget_active(&job_uid);
                    self.event(NORMAL, "SawCompletedJob", &format!("Saw completed job: {}, status: {outcome}", name(job_value)));
                }
                _ => {}
            }
            if is_finished(&job) == Some(COMPLETE) {
                let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
                let last = self.status().last_successful_time.clone();
                if completed.is_some() && (last.is_none() || completed.as_ref().map(|t| t.0) > last.map(|t| t.0)) {
                    self.status().last_successful_time = completed;
                }
            }
        }
        let missing: Vec<ObjectReference> = self
            .cj
            .status
            .as_ref()
            .and_then(|s| s.active.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !jobs.iter().any(|j| Some(uid(j)) == r.uid.as_deref()))
            .collect();
        for reference in missing {
            self.event(NORMAL, "MissingJob", &format!("Active job went missing: {}", reference.name.as_deref().unwrap_or("")));
            self.forget_active(reference.uid.as_deref().unwrap_or(""));
        }
        if self.cj.metadata.deletion_timestamp.is_some() {
            return Action::await_change();
        }
        let spec = self.cj.spec.clone().unwrap_or_default();
        let schedule = match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
            Ok(schedule) => schedule,
            Err(e) => {
                // Validation refuses these; an object stored before this
                // version could still hold one. Wait for a fix of the spec.
                self.event(WARNING, "UnparseableSchedule", &format!("unparseable schedule: {:?} : {e}", spec.schedule));
                return Action::await_change();
            }
        };
        if spec.suspend == Some(true) {
            return Action::await_change();
        }
        let Some(scheduled) = self.most_recent_unmet(&schedule, true, true) else {
            return self.next_wake(&schedule);
        };
        if let Some(deadline) = spec.starting_deadline_seconds {
            if scheduled + SignedDuration::from_secs(deadline) < self.now {
                let text = scheduled.strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
                self.event(WARNING, "MissSchedule", &format!("Missed scheduled time to start a job: {text}"));
                return self.next_wake(&schedule);
            }
        }
        let job_name = format!("{}-{}", name(&self.value), scheduled.as_second() / 60);
        let already = self.cj.status.as_ref().and_then(|s| s.active.as_ref()).is_some_and(|a| a.iter().any(|r| r.name.as_deref() == Some(job_name.as_str())));
        let last = self.cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0);
        if already || last == Some(scheduled) {
            return self.next_wake(&schedule);
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        let active = self.cj.status.as_ref().and_then(|s| s.active.clone()).unwrap_or_default();
        if policy == "Forbid" && !active.is_empty() {
            self.event(NORMAL, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
            return self.next_wake(&schedule);
        }
        if policy == "Replace" {
            for reference in active {
                let Some(job) = jobs.iter().find(|j| Some(uid(j)) == reference.uid.as_deref()).cloned() else { continue };
                if !self.delete_job(&job) {
                    return Action::requeue_after(SignedDuration::from_secs(1));
                }
            }
        }
        match self.create_job(&job_name, scheduled, &schedule) {
            Some(job) => {
                let reference = ObjectReference {
                    api_version: Some("batch/v1".into()),
                    kind: Some("Job".into()),
                    name: Some(name(&job).to_string()),
                    namespace: Some(namespace(&job).to_string()),
                    uid: Some(uid(&job).to_string()),
                    resource_version: job.at(&["metadata", "resourceVersion"]).and_then(Value::as_str).map(String::from),
                    ..Default::default()
                };
                let status = self.status();
                status.active.get_or_insert_with(Vec::new).push(reference);
                status.last_schedule_time = Some(Time(scheduled));
            }
            None => return Action::requeue_after(SignedDuration::from_secs(1)),
        }
        self.next_wake(&schedule)
    }

    /// mostRecentScheduleTime: the latest time the schedule fired after the
    /// last scheduled time (or creation) and not after now, if any; warns
    /// when more than a hundred were missed (`warn`).
    fn most_recent_unmet(&mut self, schedule: &Schedule, include_deadline: bool, warn: bool) -> Option<Timestamp> {
        let created = self.cj.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(self.now);
        let mut earliest = self.cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0).unwrap_or(created);
        let deadline = self.cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds);
        if let Some(deadline) = deadline.filter(|_| include_deadline) {
            earliest = earliest.max(self.now - SignedDuration::from_secs(deadline));
        }
        let t1 = schedule.next_after(earliest)?;
        if self.now < t1 {
            return None;
        }
        let Some(t2) = schedule.next_after(t1).filter(|t2| self.now >= *t2) else { return Some(t1) };
        // Counted by arithmetic on the interval, as upstream, rather than by
        // walking decades of missed times.
        let interval = t2.duration_since(t1).as_secs().max(1);
        let missed = self.now.duration_since(t1).as_secs() / interval + 1;
        if missed > MANY_MISSED && warn {
            self.event(WARNING, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
        }
        let estimate = t1 + SignedDuration::from_secs((missed - 2).max(0) * interval);
        // An irregular schedule (weekdays only) can make the estimate
        // overshoot; then the walk starts from the first missed time.
        [estimate, t1].into_iter().find_map(|start| latest_until(schedule, start, self.now)).or(Some(t1))
    }

    /// nextScheduleTimeDuration: a wake-up just after the next scheduled time.
    fn next_wake(&mut self, schedule: &Schedule) -> Action {
        let last = self.cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0);
        let created = self.cj.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(self.now);
        let from = match self.most_recent_unmet(schedule, false, false) {
            Some(recent) => recent,
            None => last.unwrap_or(created),
        };
        Action::requeue_at(schedule.next_after(from).map(|t| t + NEXT_SCHEDULE_DELTA), self.now)
    }

    fn create_job(&mut self, job_name: &str, scheduled: Timestamp, schedule: &Schedule) -> Option<Value> {
        let spec = self.cj.spec.clone().unwrap_or_default();
        let template = serde_json::to_value(&spec.job_template).unwrap_or(json!({}));
        let ns = namespace(&self.value).to_string();
        let mut annotations = template.at(&["metadata", "annotations"]).cloned().unwrap_or(json!({}));
        annotations[SCHEDULED_TIMESTAMP] = json!(schedule.wall_clock(scheduled));
        let mut metadata = json!({"name": job_name, "namespace": ns, "annotations": annotations, "ownerReferences": [controller_ref(&self.value)]});
        if let Some(labels) = template.at(&["metadata", "labels"]) {
            metadata["labels"] = labels.clone();
        }
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
        let request = ApiRequest::post(JOBS.path(Some(&ns), None), job).as_user(CONTROLLER_MANAGER);
        let response = self.api.handle(&request, self.now).into_response();
        if response.status == 409 {
            // Made before, but the status missed it: take it into active if it is ours.
            let existing = self.api.store().get(&ObjectKey::new(JOBS.storage_name(), ns.as_str(), job_name)).cloned()?;
            let ours = controller_of(&existing).is_some_and(|r| r["uid"] == uid(&self.value));
            return (ours && !self.in_active(uid(&existing))).then(|| (*existing).clone());
        }
        if !response.is_success() {
            self.event(WARNING, "FailedCreate", &format!("Error creating job: {}", response.message()));
            return None;
        }
        let created = response.json_body().cloned()?;
        self.event(NORMAL, "SuccessfulCreate", &format!("Created job {}", name(&created)));
        Some(created)
    }

    /// Deletes a Job (its pods in the background) and forgets it as active.
    fn delete_job(&mut self, job: &Value) -> bool {
        let path = JOBS.path(Some(namespace(job)), Some(name(job)));
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        let response = self.api.handle(&ApiRequest::delete(path).with_body(options).as_user(CONTROLLER_MANAGER), self.now).into_response();
        if !response.is_success() && response.status != 404 {
            self.event(WARNING, "FailedDelete", &format!("Deleted job: {}", response.message()));
            return false;
        }
        self.forget_active(uid(job));
        self.event(NORMAL, "SuccessfulDelete", &format!("Deleted job {}", name(job)));
        true
    }

    /// Deletes the oldest finished Jobs beyond the history limits.
    fn clean_up_finished(&mut self, jobs: &[Arc<Value>]) {
        let spec = self.cj.spec.clone().unwrap_or_default();
        for (outcome, limit) in [(COMPLETE, spec.successful_jobs_history_limit), (FAILED, spec.failed_jobs_history_limit)] {
            let Some(limit) = limit else { continue };
            let mut finished: Vec<(Job, Arc<Value>)> = jobs.iter().map(|j| (typed(j), j.clone())).filter(|(j, _)| is_finished(j) == Some(outcome)).collect();
            let excess = finished.len() as i64 - i64::from(limit);
            if excess <= 0 {
                continue;
            }
            // By start time, unstarted last, then by name (byJobStartTime).
            finished.sort_by_key(|(j, v)| (j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0).unwrap_or(Timestamp::MAX), name(v).to_string()));
            for (_, job) in finished.into_iter().take(excess as usize) {
                self.delete_job(&job);
            }
        }
    }

    fn write_status(&mut self) {
        let mut status = self.cj.status.clone().unwrap_or_default();
        status.active = status.active.filter(|a| !a.is_empty());
        let status = serde_json::to_value(status).unwrap_or(Value::Null);
        // An empty status is what a new CronJob has already.
        if status != json!({}) || self.value.get("status").is_some_and(|s| s != &json!({})) {
            write_status(self.api, &CRON_JOBS, &self.value, status, self.now);
        }
    }
}
