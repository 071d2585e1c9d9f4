//! The TTL-after-finished controller: a Job with `ttlSecondsAfterFinished`
//! is deleted (in the foreground, so its pods go first) that long after it
//! finished, Complete or Failed.

use crate::json_path::JsonPath;
use super::job::{condition, COMPLETE, FAILED};
use super::ownership::path_of;
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::JOBS;
use crate::apiserver::ApiRequest;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

#[derive(Debug, Default)]
pub struct TtlAfterFinished;

/// When a finished Job with a TTL expires.
pub fn expires_at(job: &Job) -> Option<Timestamp> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let status = job.status.as_ref()?;
    let finished = status.completion_time.as_ref().map(|t| t.0).filter(|_| condition(status, COMPLETE).is_some());
    let finished = finished.or_else(|| condition(status, COMPLETE).or_else(|| condition(status, FAILED)).and_then(|c| c.last_transition_time.as_ref()).map(|t| t.0))?;
    finished.checked_add(SignedDuration::from_secs(i64::from(ttl))).ok()
}

impl Reconciler for TtlAfterFinished {
    fn name(&self) -> &'static str {
        "ttl-after-finished"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        let has_ttl = event.object.at(&["spec", "ttlSecondsAfterFinished"]).is_some();
        if event.key.resource == JOBS.storage_name() && event.event_type != EventType::Deleted && has_ttl {
            keys.push(event.key.clone());
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&JOBS.storage_name(), None).filter(|(_, j)| j.at(&["spec", "ttlSecondsAfterFinished"]).is_some()).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(value) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        let Ok(job) = serde_json::from_value::<Job>((*value).clone()) else { return Ok(Action::await_change()) };
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let Some(expiry) = expires_at(&job) else { return Ok(Action::await_change()) };
        if expiry > ctx.now {
            return Ok(Action::requeue_at(Some(expiry), ctx.now));
        }
        let Some(path) = path_of(key) else { return Ok(Action::await_change()) };
        // The UID precondition: a namesake created meanwhile is never deleted.
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground", "preconditions": {"uid": job.metadata.uid}});
        ctx.api.handle(&ApiRequest::delete(path).with_body(options).as_user(CONTROLLER_MANAGER), ctx.now);
        Ok(Action::await_change())
    }
}
