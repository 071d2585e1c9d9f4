//! What a controller has left to look at: its place in the store's history
//! (like an informer's resourceVersion) and the objects it has queued, now
//! or from a later time (minReadySeconds, progress deadlines). Controllers
//! read changes, queue the objects they affect, and reconcile only those.

use crate::store::{ObjectKey, Store, StoreEvent};
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A position in the store's history.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    revision: u64,
}

/// What changed since a cursor was last read.
pub enum Changes {
    Events(Vec<Arc<StoreEvent>>),
    /// The history was compacted past the cursor: look at everything again,
    /// as an informer relists after a 410 Gone.
    Relist,
}

impl Cursor {
    /// The changes since the last call, moving the cursor to the present.
    /// A controller's own writes after this call are read on its next one.
    pub fn changes(&mut self, store: &Store) -> Changes {
        let changes = match store.events_since(self.revision) {
            Ok(events) => Changes::Events(events.cloned().collect()),
            Err(_) => Changes::Relist,
        };
        self.revision = store.revision();
        changes
    }
}

/// Keys to reconcile, each once, in key order (so runs are reproducible).
#[derive(Debug, Default)]
pub struct WorkQueue {
    ready: BTreeSet<ObjectKey>,
    later: BTreeMap<ObjectKey, Timestamp>,
}

impl WorkQueue {
    pub fn add(&mut self, key: ObjectKey) {
        self.ready.insert(key);
    }

    /// Replaces `key`'s wake-up with `at` (none when `at` is None): what a
    /// sync decided supersedes what an earlier one asked for.
    pub fn wake_at(&mut self, key: &ObjectKey, at: Option<Timestamp>) {
        match at {
            Some(at) => drop(self.later.insert(key.clone(), at)),
            None => drop(self.later.remove(key)),
        }
    }

    /// Removes and returns every key due at `now`.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<ObjectKey> {
        let due: Vec<ObjectKey> = self.later.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            self.later.remove(&key);
            self.ready.insert(key);
        }
        std::mem::take(&mut self.ready).into_iter().collect()
    }

    /// When the earliest delayed key falls due.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.later.values().min().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.later.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn delayed_keys_come_due_in_time_and_the_latest_decision_wins() {
        let key = |n: &str| ObjectKey::new("pods", "default", n);
        let mut queue = WorkQueue::default();
        queue.add(key("b"));
        queue.add(key("a"));
        queue.add(key("a"));
        queue.wake_at(&key("c"), Some(at(10)));
        queue.wake_at(&key("c"), Some(at(5)));
        queue.wake_at(&key("d"), Some(at(7)));
        assert_eq!(queue.next_wake(), Some(at(5)));
        assert_eq!(queue.take_due(at(0)), vec![key("a"), key("b")]);
        assert!(queue.take_due(at(4)).is_empty());
        assert_eq!(queue.take_due(at(5)), vec![key("c")]);
        queue.wake_at(&key("d"), None);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_compacted_history_asks_for_a_relist() {
        let mut store = Store::with_history_limit(1);
        let mut cursor = Cursor::default();
        store.create(ObjectKey::new("pods", "a", "x"), serde_json::json!({"metadata": {}})).unwrap();
        store.create(ObjectKey::new("pods", "a", "y"), serde_json::json!({"metadata": {}})).unwrap();
        assert!(matches!(cursor.changes(&store), Changes::Relist));
        store.create(ObjectKey::new("pods", "a", "z"), serde_json::json!({"metadata": {}})).unwrap();
        match cursor.changes(&store) {
            Changes::Events(events) => assert_eq!(events.iter().map(|e| e.key.name.as_str()).collect::<Vec<_>>(), vec!["z"]),
            Changes::Relist => panic!("the cursor was up to date"),
        }
    }
}
