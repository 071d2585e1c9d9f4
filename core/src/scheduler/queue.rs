//! The active queue: pods waiting for a scheduling cycle, in arrival order,
//! each at most once. Membership is a set so that enqueueing, which happens
//! on every pod event and every requeue, stays O(log n).

use super::PodKey;
use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Default)]
pub struct ActiveQueue {
    order: VecDeque<PodKey>,
    members: BTreeSet<PodKey>,
}

impl ActiveQueue {
    /// Adds a pod unless it is already waiting.
    pub fn push(&mut self, key: PodKey) {
        if self.members.insert(key.clone()) {
            self.order.push_back(key);
        }
    }

    pub fn pop(&mut self) -> Option<PodKey> {
        let key = self.order.pop_front()?;
        self.members.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PodKey {
        ("default".into(), name.into())
    }

    #[test]
    fn fifo_without_duplicates() {
        let mut q = ActiveQueue::default();
        q.push(key("a"));
        q.push(key("b"));
        q.push(key("a"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(key("a")));
        q.push(key("a"));
        assert_eq!(q.pop(), Some(key("b")));
        assert_eq!(q.pop(), Some(key("a")));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }
}
