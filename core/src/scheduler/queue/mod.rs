//! The scheduling queue, after kube-scheduler's `PriorityQueue`:
//!
//! - the active queue: pods ready to be tried, higher `spec.priority`
//!   first, then the one waiting longest;
//! - the back-off queue: pods that failed and must wait (1 s after the
//!   first attempt, doubling, at most 10 s) before their next try;
//! - the unschedulable pool: pods no node could take. They leave it only
//!   when a cluster event could help them, as judged by the plugins that
//!   rejected them (QueueingHints), or after 5 minutes regardless.
//!
//! Time is only what callers pass in (`now`), so tests run it on a virtual
//! clock and drivers ask `next_wake` when to come back.

mod queued_pod;

pub use queued_pod::{QueueConfig, QueuedPod};

use super::framework::{ClusterEvent, Framework, PodInfo};
use super::PodKey;
use k8s_openapi::jiff::Timestamp;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Active order: priority (highest first), then age, then arrival.
type ActiveKey = (Reverse<i32>, Timestamp, u64);
/// Back-off order: expiry, then as the active queue.
type BackoffKey = (Timestamp, Reverse<i32>, Timestamp, u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active(ActiveKey),
    Backoff(BackoffKey),
    /// Failed with an error: its back-off cannot be cut short.
    ErrorBackoff(BackoffKey),
    Unschedulable,
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    pub config: QueueConfig,
    pods: BTreeMap<PodKey, (QueuedPod, Place)>,
    active: BTreeMap<ActiveKey, PodKey>,
    backoff: BTreeMap<BackoffKey, PodKey>,
    error_backoff: BTreeMap<BackoffKey, PodKey>,
    unschedulable: BTreeSet<PodKey>,
    arrivals: u64,
}

/// How many pods wait where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLengths {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
}

impl SchedulingQueue {
    pub fn new(config: QueueConfig) -> Self {
        SchedulingQueue { config, ..Default::default() }
    }

    pub fn lengths(&self) -> QueueLengths {
        QueueLengths { active: self.active.len(), backoff: self.backoff.len() + self.error_backoff.len(), unschedulable: self.unschedulable.len() }
    }

    fn next_arrival(&mut self) -> u64 {
        self.arrivals += 1;
        self.arrivals
    }

    fn place(&mut self, pod: QueuedPod, place: Place) {
        let key = pod.info.key.clone();
        match place {
            Place::Active(k) => drop(self.active.insert(k, key.clone())),
            Place::Backoff(k) => drop(self.backoff.insert(k, key.clone())),
            Place::ErrorBackoff(k) => drop(self.error_backoff.insert(k, key.clone())),
            Place::Unschedulable => drop(self.unschedulable.insert(key.clone())),
        }
        self.pods.insert(key, (pod, place));
    }

    fn take(&mut self, key: &PodKey) -> Option<QueuedPod> {
        let (pod, place) = self.pods.remove(key)?;
        match place {
            Place::Active(k) => drop(self.active.remove(&k)),
            Place::Backoff(k) => drop(self.backoff.remove(&k)),
            Place::ErrorBackoff(k) => drop(self.error_backoff.remove(&k)),
            Place::Unschedulable => drop(self.unschedulable.remove(key)),
        }
        Some(pod)
    }

    fn make_active(&mut self, pod: QueuedPod) {
        let at = (Reverse(pod.info.priority), pod.timestamp, self.next_arrival());
        self.place(pod, Place::Active(at));
    }

    fn start_backoff(&mut self, pod: QueuedPod) {
        let at = (self.config.backoff_expiry(&pod), Reverse(pod.info.priority), pod.timestamp, self.next_arrival());
        let place = if pod.failed_with_error { Place::ErrorBackoff(at) } else { Place::Backoff(at) };
        self.place(pod, place);
    }

    /// A pod requeued by an event goes to the active queue, or waits out
    /// what remains of its back-off.
    fn requeue(&mut self, pod: QueuedPod, now: Timestamp) {
        if self.config.backoff_expiry(&pod) > now {
            self.start_backoff(pod);
        } else {
            self.make_active(pod);
        }
    }

    /// A new pending pod.
    pub fn add(&mut self, info: Arc<PodInfo>, now: Timestamp) {
        if let Some(mut existing) = self.take(&info.key) {
            existing.info = info;
            self.make_active(existing);
            return;
        }
        self.make_active(QueuedPod::new(info, now));
    }

    /// A pending pod changed in a way that may matter (spec, labels): an
    /// unschedulable one gets another chance; elsewhere it is just refreshed.
    pub fn update(&mut self, info: Arc<PodInfo>, now: Timestamp) {
        let Some((_, place)) = self.pods.get(&info.key) else { return self.add(info, now) };
        let place = *place;
        let mut pod = self.take(&info.key).expect("present");
        pod.info = info;
        match place {
            Place::Unschedulable => self.requeue(pod, now),
            other => self.place(pod, other),
        }
    }

    /// Replaces a waiting pod's info without moving it (a status change).
    pub fn refresh(&mut self, info: Arc<PodInfo>) {
        if let Some((pod, _)) = self.pods.get_mut(&info.key) {
            pod.info = info;
        }
    }

    pub fn delete(&mut self, key: &PodKey) {
        self.take(key);
    }

    /// Moves pods whose back-off has ended to the active queue.
    fn flush_backoff(&mut self, now: Timestamp) {
        for queue in [true, false] {
            loop {
                let map = if queue { &self.backoff } else { &self.error_backoff };
                let Some((&(expiry, ..), key)) = map.first_key_value() else { break };
                if expiry > now {
                    break;
                }
                let key = key.clone();
                let pod = self.take(&key).expect("queued");
                self.make_active(pod);
            }
        }
    }

    /// The next pod to try: the head of the active queue, or (when nothing
    /// is ready and `pop_from_backoff` is on) the next pod in back-off.
    pub fn pop(&mut self, now: Timestamp) -> Option<QueuedPod> {
        self.flush_backoff(now);
        let key = match self.active.first_key_value() {
            Some((_, key)) => key.clone(),
            None if self.config.pop_from_backoff => self.backoff.first_key_value()?.1.clone(),
            None => return None,
        };
        let mut pod = self.take(&key).expect("queued");
        pod.attempts += 1;
        Some(pod)
    }

    /// Puts back a pod whose attempt failed: an error waits out its
    /// back-off; a rejection waits in the unschedulable pool for an event.
    pub fn add_unschedulable(&mut self, mut pod: QueuedPod, rejected_by: BTreeSet<&'static str>, error: bool, now: Timestamp) {
        pod.timestamp = now;
        pod.rejected_by = rejected_by;
        pod.failed_with_error = error;
        if error {
            self.start_backoff(pod);
        } else {
            self.place(pod, Place::Unschedulable);
        }
    }

    /// Offers a cluster event to the unschedulable pods: each one whose
    /// rejecting plugins say it could help moves on (after its back-off).
    /// Returns how many moved.
    pub fn on_event(&mut self, framework: &Framework, event: &ClusterEvent<'_>, now: Timestamp) -> usize {
        let moved: Vec<PodKey> = self
            .unschedulable
            .iter()
            .filter(|key| {
                let (pod, _) = &self.pods[*key];
                framework.worth_requeuing(&pod.info, &pod.rejected_by, event)
            })
            .cloned()
            .collect();
        for key in &moved {
            let pod = self.take(key).expect("queued");
            self.requeue(pod, now);
        }
        moved.len()
    }

    /// Retries pods that have waited in the unschedulable pool longer than
    /// `max_in_unschedulable`, in case an event that could help was missed.
    pub fn flush_unschedulable_leftover(&mut self, now: Timestamp) {
        let limit = self.config.max_in_unschedulable;
        let stale: Vec<PodKey> = self
            .unschedulable
            .iter()
            .filter(|key| self.pods[*key].0.timestamp.checked_add(limit).is_ok_and(|t| t < now))
            .cloned()
            .collect();
        for key in stale {
            let pod = self.take(&key).expect("queued");
            self.requeue(pod, now);
        }
    }

    /// When the queue next has something to do on its own: a back-off
    /// ending, or an unschedulable pod's 5 minutes running out.
    pub fn next_wake(&self) -> Option<Timestamp> {
        let backoff = self.backoff.keys().chain(self.error_backoff.keys()).map(|k| k.0).min();
        let limit = self.config.max_in_unschedulable;
        let leftover = self.unschedulable.iter().filter_map(|k| self.pods[k].0.timestamp.checked_add(limit).ok()).min();
        // The flush happens once the limit is passed, not at it.
        let leftover = leftover.and_then(|t| t.checked_add(k8s_openapi::jiff::SignedDuration::from_millis(1)).ok());
        [backoff, leftover].into_iter().flatten().min()
    }

    pub fn clear(&mut self) {
        let config = self.config.clone();
        *self = SchedulingQueue::new(config);
    }
}

#[cfg(test)]
mod tests;
