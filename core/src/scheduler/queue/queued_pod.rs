//! A pod waiting in the scheduling queue, with what the queue needs to
//! order it and to decide when it may be retried (kube-scheduler's
//! `QueuedPodInfo`).

use crate::scheduler::framework::PodInfo;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct QueuedPod {
    pub info: Arc<PodInfo>,
    /// When it entered the queue, or last failed: among pods of equal
    /// priority, the older goes first.
    pub timestamp: Timestamp,
    /// Scheduling attempts so far: each failure doubles its back-off.
    pub attempts: u32,
    /// The plugins that rejected it in its last attempt.
    pub rejected_by: BTreeSet<&'static str>,
    /// Its last attempt failed for another reason (binding failed): it
    /// waits out its back-off before any retry.
    pub failed_with_error: bool,
}

impl QueuedPod {
    pub fn new(info: Arc<PodInfo>, now: Timestamp) -> Self {
        QueuedPod { info, timestamp: now, attempts: 0, rejected_by: BTreeSet::new(), failed_with_error: false }
    }
}

/// How long pods wait between attempts, and for how long an unschedulable
/// pod waits for a helpful event before it is retried anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// `podInitialBackoffSeconds`: 1 s.
    pub initial_backoff: SignedDuration,
    /// `podMaxBackoffSeconds`: 10 s.
    pub max_backoff: SignedDuration,
    /// `podMaxInUnschedulablePodsDuration`: 5 min.
    pub max_in_unschedulable: SignedDuration,
    /// kube-scheduler's SchedulerPopFromBackoffQ (on by default since 1.33):
    /// when no pod is ready, a pod still backing off after a plugin
    /// rejection is tried rather than leaving the scheduler idle. Pods that
    /// failed with an error always wait out their back-off.
    pub pop_from_backoff: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: SignedDuration::from_secs(1),
            max_backoff: SignedDuration::from_secs(10),
            max_in_unschedulable: SignedDuration::from_mins(5),
            pop_from_backoff: true,
        }
    }
}

impl QueueConfig {
    /// 1 s after the first attempt, doubling per attempt, at most 10 s.
    pub fn backoff(&self, attempts: u32) -> SignedDuration {
        if attempts == 0 {
            return SignedDuration::ZERO;
        }
        let mut duration = self.initial_backoff;
        for _ in 1..attempts {
            duration = duration.checked_mul(2).unwrap_or(self.max_backoff);
            if duration >= self.max_backoff {
                return self.max_backoff;
            }
        }
        duration.min(self.max_backoff)
    }

    /// When `pod`'s back-off ends.
    pub fn backoff_expiry(&self, pod: &QueuedPod) -> Timestamp {
        pod.timestamp.checked_add(self.backoff(pod.attempts)).unwrap_or(pod.timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_ten() {
        let config = QueueConfig::default();
        let seconds: Vec<i64> = (0..7).map(|a| config.backoff(a).as_secs()).collect();
        assert_eq!(seconds, [0, 1, 2, 4, 8, 10, 10]);
    }
}
