//! What a Deployment reports about its rollout: the pod counts summed over
//! its ReplicaSets, and the `Available` and `Progressing` conditions with
//! Kubernetes' reasons, which `kubectl rollout status` and
//! `kubectl describe` read. Progress is judged against
//! `progressDeadlineSeconds`: a rollout that makes none for that long is
//! marked `ProgressDeadlineExceeded`.

use super::rollout::{actual_replica_count, available_replica_count, max_unavailable, ready_replica_count, replica_count, replicas};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const RS_CREATE_ERROR: &str = "ReplicaSetCreateError";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// Times as the API stores them: whole seconds. Conditions made in memory
/// must compare equal to the same conditions read back.
pub fn stored_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(stored_time(now)),
        last_transition_time: Some(stored_time(now)),
    }
}

/// Sets a condition. The same status and reason is no change at all; the
/// same status with another reason keeps its transition time.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = self::condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status.conditions.get_or_insert_with(Vec::new).push(condition);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref()?.progress_deadline_seconds.filter(|s| *s != i32::MAX)
}

pub fn has_progress_deadline(d: &Deployment) -> bool {
    progress_deadline(d).is_some()
}

/// Zero counts are left out, as Kubernetes' `omitempty` does.
fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// The counts over all ReplicaSets and the Available condition; other
/// conditions are carried over.
pub fn calculate(d: &Deployment, all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>, now: Timestamp) -> DeploymentStatus {
    let old = d.status.clone().unwrap_or_default();
    let available = available_replica_count(all.iter().copied());
    let unavailable = (replica_count(all.iter().copied()) - available).max(0);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: non_zero(actual_replica_count(all.iter().copied())),
        updated_replicas: non_zero(actual_replica_count(new_rs)),
        ready_replicas: non_zero(ready_replica_count(all.iter().copied())),
        available_replicas: non_zero(available),
        unavailable_replicas: non_zero(unavailable),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(&mut status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.".into(), now));
    } else {
        set_condition(&mut status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.".into(), now));
    }
    status
}

/// Every pod is updated and available, and the latest spec was seen.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Something moved since the last status: more updated, ready or available
/// pods, or fewer old ones.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// When the rollout runs out of time: progressDeadlineSeconds after the
/// last progress was noted.
pub fn deadline(d: &Deployment, status: &DeploymentStatus) -> Option<Timestamp> {
    let seconds = progress_deadline(d)?;
    let cond = condition(status, PROGRESSING)?;
    let from = cond.last_update_time.as_ref()?.0;
    from.checked_add(SignedDuration::from_secs(i64::from(seconds))).ok()
}

pub fn timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    match condition(status, PROGRESSING).and_then(|c| c.reason.as_deref()) {
        None | Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        Some(_) => deadline(d, status).is_some_and(|at| at < now),
    }
}

/// The status a rollout step ends with: the counts, and the Progressing
/// condition moved on by what happened (`syncRolloutStatus`).
pub fn rollout(d: &Deployment, all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>, now: Timestamp) -> DeploymentStatus {
    let mut status = calculate(d, all, new_rs, now);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, PROGRESSING);
    }
    let old = d.status.clone().unwrap_or_default();
    let current = condition(&old, PROGRESSING).cloned();
    let already_complete = status.replicas == status.updated_replicas && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    let rs_name = new_rs.and_then(|rs| rs.metadata.name.clone());
    if has_progress_deadline(d) && !already_complete {
        if complete(d, &status) {
            let message = match &rs_name {
                Some(name) => format!("ReplicaSet \"{name}\" has successfully progressed."),
                None => "Deployment has successfully progressed.".to_string(),
            };
            set_condition(&mut status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now));
        } else if progressing(d, &status) {
            let message = match &rs_name {
                Some(name) => format!("ReplicaSet \"{name}\" is progressing."),
                None => format!("Deployment \"{}\" is progressing.", d.metadata.name.as_deref().unwrap_or("")),
            };
            let mut cond = new_condition(PROGRESSING, "True", RS_UPDATED, message, now);
            // Progress refreshes lastUpdateTime even when the reason stays
            // the same, which set_condition alone would not do.
            if let Some(current) = &current {
                if current.status == "True" {
                    cond.last_transition_time = current.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, cond);
        } else if timed_out(d, &status, now) {
            let message = match &rs_name {
                Some(name) => format!("ReplicaSet \"{name}\" has timed out progressing."),
                None => format!("Deployment \"{}\" has timed out progressing.", d.metadata.name.as_deref().unwrap_or("")),
            };
            set_condition(&mut status, new_condition(PROGRESSING, "False", TIMED_OUT, message, now));
        }
    }
    // A ReplicaSet's failure to create or delete pods is the Deployment's too.
    let failure = new_rs.into_iter().chain(all.iter().copied()).find_map(|rs| {
        rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == REPLICA_FAILURE).cloned()
    });
    match failure {
        Some(f) => set_condition(&mut status, DeploymentCondition {
            type_: REPLICA_FAILURE.into(),
            status: f.status,
            reason: f.reason,
            message: f.message,
            last_update_time: f.last_transition_time.clone(),
            last_transition_time: f.last_transition_time,
        }),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn deployment(replicas: i32, generation: i64, status: Value) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "web", "generation": generation}, "spec": {"replicas": replicas, "selector": {},
            "progressDeadlineSeconds": 600, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, "template": {}},
            "status": status}))
        .unwrap()
    }

    fn rs(name: &str, replicas: i32, ready: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"replicas": replicas, "selector": {}},
            "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": available}}))
        .unwrap()
    }

    fn progressing_since(reason: &str, s: i64) -> Value {
        json!({"type": "Progressing", "status": "True", "reason": reason, "message": "m", "lastUpdateTime": at(s).to_string(), "lastTransitionTime": at(s).to_string()})
    }

    fn reason(status: &DeploymentStatus, type_: &str) -> String {
        condition(status, type_).and_then(|c| c.reason.clone()).unwrap_or_default()
    }

    #[test]
    fn the_progressing_condition_follows_the_rollout() {
        let old_status = |updated: i32, available: i32, cond: Value| json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": updated, "readyReplicas": available, "availableReplicas": available, "conditions": [cond]});
        // (why, deployment status before, old rs, new rs, now, want Progressing reason, want Available reason)
        let cases = [
            ("new pods became available", old_status(1, 3, progressing_since(NEW_RS_CREATED, 0)), rs("old", 1, 1, 1), rs("new", 2, 2, 2), 10, RS_UPDATED, MIN_AVAILABLE),
            ("all updated and available", old_status(2, 3, progressing_since(RS_UPDATED, 0)), rs("old", 0, 0, 0), rs("new", 3, 3, 3), 10, NEW_RS_AVAILABLE, MIN_AVAILABLE),
            ("stuck, within the deadline", old_status(1, 3, progressing_since(RS_UPDATED, 0)), rs("old", 3, 3, 3), rs("new", 1, 0, 0), 600, RS_UPDATED, MIN_AVAILABLE),
            ("stuck past the deadline", old_status(1, 3, progressing_since(RS_UPDATED, 0)), rs("old", 3, 3, 3), rs("new", 1, 0, 0), 601, TIMED_OUT, MIN_AVAILABLE),
            ("too few available", old_status(1, 3, progressing_since(RS_UPDATED, 0)), rs("old", 1, 1, 1), rs("new", 1, 0, 0), 5, RS_UPDATED, MIN_UNAVAILABLE),
        ];
        for (why, before, old, new, now, want_progressing, want_available) in cases {
            let d = deployment(3, 2, before);
            let status = rollout(&d, &[&old, &new], Some(&new), at(now));
            assert_eq!((reason(&status, PROGRESSING), reason(&status, AVAILABLE)), (want_progressing.to_string(), want_available.to_string()), "{why}");
        }
    }

    #[test]
    fn progress_moves_the_update_time_but_not_the_transition() {
        let d = deployment(3, 1, json!({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 3, "conditions": [progressing_since(RS_UPDATED, 0)]}));
        let status = rollout(&d, &[&rs("old", 1, 1, 1), &rs("new", 2, 2, 2)], None, at(30));
        let cond = condition(&status, PROGRESSING).unwrap();
        assert_eq!((cond.last_transition_time.clone().unwrap().0, cond.last_update_time.clone().unwrap().0), (at(0), at(30)));
        assert_eq!(deadline(&d, &status), Some(at(630)));
    }

    #[test]
    fn counts_leave_zeroes_out() {
        let d = deployment(2, 1, json!({}));
        let status = calculate(&d, &[&rs("new", 2, 0, 0)], None, at(0));
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(value["replicas"], 2);
        assert_eq!(value["unavailableReplicas"], 2);
        assert!(value.get("updatedReplicas").is_none() && value.get("availableReplicas").is_none(), "{value}");
    }
}
