//! When a pod counts: active (not finished, not being deleted), ready (its
//! `Ready` condition is True) and available (ready for minReadySeconds).
//! ReplicaSet status, and through it every rollout decision, is made of
//! these three counts.

use crate::json_path::JsonPath;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// Counted by its controller: not Succeeded or Failed, not being deleted.
pub fn is_active(pod: &Value) -> bool {
    let phase = pod.at(&["status", "phase"]).and_then(Value::as_str);
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.at(&["metadata", "deletionTimestamp"]).is_none_or(Value::is_null)
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    pod.at(&["status", "conditions"])?.as_array()?.iter().find(|c| c["type"] == "Ready")
}

pub fn is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| c["status"] == "True")
}

/// When a ready pod became ready.
pub fn ready_since(pod: &Value) -> Option<Timestamp> {
    let condition = ready_condition(pod).filter(|c| c["status"] == "True")?;
    condition.get("lastTransitionTime")?.as_str()?.parse().ok()
}

/// When a ready pod is (or was) first available: minReadySeconds after it
/// became ready. Kubernetes compares strictly (`ready + min < now`), so
/// the instant itself is one millisecond later.
pub fn available_from(pod: &Value, min_ready_seconds: i32) -> Option<Timestamp> {
    if !is_ready(pod) {
        return None;
    }
    if min_ready_seconds <= 0 {
        return Some(Timestamp::MIN);
    }
    let since = ready_since(pod)?;
    since.checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)) + SignedDuration::from_millis(1)).ok()
}

pub fn is_available(pod: &Value, min_ready_seconds: i32, now: Timestamp) -> bool {
    available_from(pod, min_ready_seconds).is_some_and(|t| t <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn pod(phase: &str, ready: Option<(&str, i64)>, deleting: bool) -> Value {
        let conditions: Vec<Value> = ready.into_iter().map(|(s, t)| json!({"type": "Ready", "status": s, "lastTransitionTime": at(t).to_string()})).collect();
        let mut p = json!({"metadata": {}, "status": {"phase": phase, "conditions": conditions}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!(at(0).to_string());
        }
        p
    }

    #[test]
    fn activity_readiness_and_availability() {
        // (pod, minReadySeconds, now, active, ready, available)
        let cases = [
            (pod("Pending", None, false), 0, 0, true, false, false),
            (pod("Running", Some(("False", 0)), false), 0, 0, true, false, false),
            (pod("Running", Some(("True", 0)), false), 0, 0, true, true, true),
            (pod("Running", Some(("True", 0)), false), 10, 10, true, true, false),
            (pod("Running", Some(("True", 0)), false), 10, 11, true, true, true),
            (pod("Running", Some(("True", 0)), true), 0, 0, false, true, true),
            (pod("Succeeded", None, false), 0, 0, false, false, false),
            (pod("Failed", None, false), 0, 0, false, false, false),
        ];
        for (i, (p, min_ready, now, active, ready, available)) in cases.iter().enumerate() {
            assert_eq!((is_active(p), is_ready(p), is_available(p, *min_ready, at(*now))), (*active, *ready, *available), "case {i}");
        }
    }
}
