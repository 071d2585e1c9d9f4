//! The garbage collector's picture of ownership: where each uid is stored,
//! and for each owner uid the objects naming it in their ownerReferences.
//! It is kept from the store's history (and rebuilt from a full list after
//! a compaction), so finding an owner's dependents never scans the store.

use super::ownership::{owner_references, uid};
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct OwnerGraph {
    keys: BTreeMap<String, ObjectKey>,
    dependents: BTreeMap<String, BTreeSet<ObjectKey>>,
}

impl OwnerGraph {
    pub fn rebuild(&mut self, store: &Store) {
        self.keys.clear();
        self.dependents.clear();
        for (key, object) in store.iter() {
            self.add(key, object);
        }
    }

    pub fn apply(&mut self, event: &StoreEvent) {
        if let Some(previous) = &event.previous {
            self.remove(&event.key, previous);
        }
        match event.event_type {
            EventType::Deleted => self.remove(&event.key, &event.object),
            EventType::Added | EventType::Modified => self.add(&event.key, &event.object),
        }
    }

    fn add(&mut self, key: &ObjectKey, object: &Value) {
        let id = uid(object);
        if !id.is_empty() {
            self.keys.insert(id.to_string(), key.clone());
        }
        for owner in owner_references(object) {
            if let Some(owner_uid) = owner["uid"].as_str() {
                self.dependents.entry(owner_uid.to_string()).or_default().insert(key.clone());
            }
        }
    }

    fn remove(&mut self, key: &ObjectKey, object: &Value) {
        let id = uid(object);
        if self.keys.get(id) == Some(key) {
            self.keys.remove(id);
        }
        for owner in owner_references(object) {
            let Some(owner_uid) = owner["uid"].as_str() else { continue };
            if let Some(set) = self.dependents.get_mut(owner_uid) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(owner_uid);
                }
            }
        }
    }

    /// The objects naming `owner_uid` as an owner, in key order.
    pub fn dependents(&self, owner_uid: &str) -> Vec<ObjectKey> {
        self.dependents.get(owner_uid).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn has_dependents(&self, owner_uid: &str) -> bool {
        self.dependents.contains_key(owner_uid)
    }

    /// Where the object with this uid is stored, if it exists.
    pub fn key_of(&self, uid: &str) -> Option<&ObjectKey> {
        self.keys.get(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(uid: &str, owners: &[&str]) -> Value {
        let refs: Vec<Value> = owners.iter().map(|o| json!({"uid": o, "kind": "ReplicaSet", "name": o, "apiVersion": "apps/v1"})).collect();
        json!({"metadata": {"uid": uid, "ownerReferences": refs}})
    }

    #[test]
    fn follows_owner_references_through_history_and_after_a_relist() {
        let mut store = Store::default();
        let mut graph = OwnerGraph::default();
        let (a, b) = (ObjectKey::new("pods", "ns", "a"), ObjectKey::new("pods", "ns", "b"));
        // (step, dependents of rs1, dependents of rs2)
        type Step = Box<dyn Fn(&mut Store)>;
        let mut steps: Vec<(Step, Vec<ObjectKey>, Vec<ObjectKey>)> = vec![
            (Box::new(|s: &mut Store| drop(s.create(ObjectKey::new("pods", "ns", "a"), object("pa", &["rs1"])))), vec![a.clone()], vec![]),
            (Box::new(|s: &mut Store| drop(s.create(ObjectKey::new("pods", "ns", "b"), object("pb", &["rs1", "rs2"])))), vec![a.clone(), b.clone()], vec![b.clone()]),
            (Box::new(|s: &mut Store| drop(s.update(ObjectKey::new("pods", "ns", "b"), object("pb", &["rs2"]), None))), vec![a.clone()], vec![b.clone()]),
            (Box::new(|s: &mut Store| drop(s.delete(&ObjectKey::new("pods", "ns", "a"), None))), vec![], vec![b.clone()]),
        ];
        let mut cursor = 0;
        for (i, (step, rs1, rs2)) in steps.drain(..).enumerate() {
            step(&mut store);
            for event in store.events_since(cursor).unwrap() {
                graph.apply(event);
            }
            cursor = store.revision();
            assert_eq!((graph.dependents("rs1"), graph.dependents("rs2")), (rs1.clone(), rs2.clone()), "step {i}");
            let mut relisted = OwnerGraph::default();
            relisted.rebuild(&store);
            assert_eq!((relisted.dependents("rs1"), relisted.dependents("rs2")), (rs1, rs2), "step {i} relisted");
        }
        assert_eq!(graph.key_of("pb"), Some(&b));
        assert_eq!(graph.key_of("pa"), None);
    }
}
