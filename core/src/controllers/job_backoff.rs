//! How long a Job waits before replacing a failed pod: 10 s after the
//! first failure since the last success, doubling with each further one,
//! at most 10 minutes (upstream's `MaxJobPodFailureBackOff`; the
//! documentation still says six). The record lives in the controller's
//! memory, as upstream's backoff store does: a restart forgets it.

use crate::json_path::JsonPath;
use super::pod_readiness::ready_since;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

pub const INITIAL: SignedDuration = SignedDuration::from_secs(10);
pub const MAX: SignedDuration = SignedDuration::from_secs(600);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    pub failures_after_last_success: u32,
    pub last_failure: Option<Timestamp>,
}

impl BackoffRecord {
    /// The record after these pods were newly seen to finish.
    pub fn after(self, new_succeeded: &[&Value], new_failed: &[&Value]) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finished_at(p)).collect();
        failed.sort();
        let Some(last_success) = new_succeeded.iter().map(|p| finished_at(p)).max() else {
            let Some(last) = failed.last() else { return self };
            return BackoffRecord { failures_after_last_success: self.failures_after_last_success + failed.len() as u32, last_failure: Some(*last) };
        };
        // A success resets the count; only failures after it count.
        let after: Vec<Timestamp> = failed.into_iter().filter(|t| *t > last_success).collect();
        BackoffRecord { failures_after_last_success: after.len() as u32, last_failure: after.last().copied() }
    }

    /// How long to wait, at `now`, before creating pods again.
    pub fn remaining(&self, now: Timestamp) -> SignedDuration {
        let Some(last) = self.last_failure.filter(|_| self.failures_after_last_success > 0) else { return SignedDuration::ZERO };
        (delay(self.failures_after_last_success) - now.duration_since(last)).max(SignedDuration::ZERO)
    }
}

/// The backoff after `failures` failures in a row.
pub fn delay(failures: u32) -> SignedDuration {
    let mut delay = INITIAL;
    for _ in 1..failures {
        delay = (delay * 2).min(MAX);
    }
    delay
}

/// When a pod finished (upstream's getFinishedTime): its last container's
/// exit, else when it stopped being ready, else when it was deleted, else
/// when it was created.
pub fn finished_at(pod: &Value) -> Timestamp {
    let time = |v: Option<&Value>| v.and_then(Value::as_str).and_then(|s| s.parse::<Timestamp>().ok());
    let statuses = pod.at(&["status", "containerStatuses"]).and_then(Value::as_array);
    let exits: Option<Vec<Timestamp>> = statuses.filter(|s| !s.is_empty()).and_then(|s| s.iter().map(|c| time(c.at(&["state", "terminated", "finishedAt"]))).collect());
    if let Some(latest) = exits.and_then(|e| e.into_iter().max()) {
        return latest;
    }
    let not_ready = pod.at(&["status", "conditions"]).and_then(Value::as_array).and_then(|cs| cs.iter().find(|c| c["type"] == "Ready" && c["status"] == "False"));
    if let Some(t) = time(not_ready.and_then(|c| c.get("lastTransitionTime"))) {
        return t;
    }
    if ready_since(pod).is_none() {
        if let Some(deleted) = time(pod.at(&["metadata", "deletionTimestamp"])) {
            let grace = pod.at(&["metadata", "deletionGracePeriodSeconds"]).and_then(Value::as_i64).unwrap_or(0);
            return deleted - SignedDuration::from_secs(grace);
        }
    }
    time(pod.at(&["metadata", "creationTimestamp"])).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn pod(finished: i64) -> Value {
        json!({"status": {"containerStatuses": [{"state": {"terminated": {"finishedAt": at(finished).to_string()}}}]}})
    }

    #[test]
    fn delays_double_from_ten_seconds_to_ten_minutes() {
        let delays: Vec<i64> = (1..=8).map(|n| delay(n).as_secs()).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 320, 600, 600]);
    }

    #[test]
    fn failures_count_since_the_last_success() {
        let (f1, f2, s3, f4) = (pod(1), pod(2), pod(3), pod(4));
        let record = BackoffRecord::default().after(&[], &[&f1, &f2]);
        assert_eq!(record, BackoffRecord { failures_after_last_success: 2, last_failure: Some(at(2)) });
        assert_eq!(record.remaining(at(12)), SignedDuration::from_secs(10), "20 s after the 2nd failure");
        assert_eq!(record.remaining(at(30)), SignedDuration::ZERO);
        let reset = record.after(&[&s3], &[&f4]);
        assert_eq!(reset, BackoffRecord { failures_after_last_success: 1, last_failure: Some(at(4)) });
        assert_eq!(BackoffRecord::default().remaining(at(0)), SignedDuration::ZERO);
    }
}
