//! The etcd role: versioned objects under one global revision, with a bounded
//! history of changes that watches read from.
//!
//! Objects are kept as JSON (`serde_json::Value`) so that one store serves every
//! resource kind, exactly as etcd stores opaque bytes; typed views
//! (`k8s-openapi`) are made at the edges that need them (validation, scheduler,
//! kubelet). Values are shared behind `Arc` so a list or a watch fan-out clones
//! pointers, not objects.

mod event;
mod key;

pub use event::{EventType, StoreEvent};
pub use key::ObjectKey;

use key::KeyParts;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// How many past changes are kept for watches before the oldest are compacted.
pub const DEFAULT_HISTORY_LIMIT: usize = 100_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(ObjectKey),
    #[error("{0} not found")]
    NotFound(ObjectKey),
    #[error("{key} has resourceVersion {actual}, not {expected}")]
    Conflict { key: ObjectKey, expected: u64, actual: u64 },
    #[error("revision {requested} has been compacted (oldest available is {oldest})")]
    Compacted { requested: u64, oldest: u64 },
}

#[derive(Debug, Clone)]
pub struct Store {
    revision: u64,
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    history: VecDeque<Arc<StoreEvent>>,
    history_limit: usize,
    /// Every revision up to and including this one is gone from `history`.
    compacted_through: u64,
    /// Per resource, the revision of its last write (see `last_write`).
    last_writes: BTreeMap<String, u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_history_limit(DEFAULT_HISTORY_LIMIT)
    }
}

impl Store {
    pub fn with_history_limit(history_limit: usize) -> Self {
        Store {
            revision: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted_through: 0,
            last_writes: BTreeMap::new(),
        }
    }

    /// A store holding `objects` as of `revision`, with an empty history
    /// (a restore: watches from before it must relist).
    pub fn restored(revision: u64, objects: BTreeMap<ObjectKey, Value>) -> Self {
        // What was written before the restore is unknown: every resource
        // present counts as written at its revision.
        let last_writes = objects.keys().map(|k| (k.resource.clone(), revision)).collect();
        Store {
            revision,
            last_writes,
            objects: objects.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            compacted_through: revision,
            ..Self::default()
        }
    }

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &Arc<Value>)> {
        self.objects.iter()
    }

    /// The revision of the last write (0 for an empty store).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The revision of the last create, update or delete of any object of
    /// `resource` (0 if none): what caches derived from a few resources
    /// (the authorizer's, from RBAC's four) compare to know they still hold.
    pub fn last_write(&self, resource: &str) -> u64 {
        self.last_writes.get(resource).copied().unwrap_or(0)
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Value>> {
        self.objects.get(key)
    }

    /// As `get`, by the key's parts (nothing is allocated to look it up).
    pub fn get_at(&self, resource: &str, namespace: &str, name: &str) -> Option<&Arc<Value>> {
        self.objects.get(&(resource, namespace, name) as &dyn KeyParts)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Objects of one resource, in one namespace or (None) all of them, in key order.
    pub fn list<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        self.list_after(resource, namespace, None)
    }

    /// As `list`, starting after `after` (a page's last key), so paging
    /// through a list does not re-read the pages before.
    pub fn list_after<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let first = (resource, namespace.unwrap_or(""), "");
        let start: std::ops::Bound<&dyn KeyParts> = match after {
            Some(key) => Excluded(key),
            None => Included(&first),
        };
        self.objects
            .range::<dyn KeyParts, _>((start, Unbounded))
            .take_while(move |(k, _)| {
                k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns)
            })
    }

    /// Keys of every object, of any resource, in one namespace.
    pub fn keys_in_namespace<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a ObjectKey> + 'a {
        self.objects.keys().filter(move |k| k.namespace == namespace)
    }

    pub fn create(&mut self, key: ObjectKey, object: Value) -> Result<Arc<Value>, StoreError> {
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists(key));
        }
        Ok(self.write(key, object, None, EventType::Added))
    }

    /// Replaces an object. `expected` is the resourceVersion the writer read;
    /// `None` means an unconditional write (allowed for some resources).
    pub fn update(
        &mut self,
        key: ObjectKey,
        object: Value,
        expected: Option<u64>,
    ) -> Result<Arc<Value>, StoreError> {
        let previous = self.check(&key, expected)?;
        Ok(self.write(key, object, Some(previous), EventType::Modified))
    }

    /// Removes an object; the returned value carries the deletion's revision.
    pub fn delete(&mut self, key: &ObjectKey, expected: Option<u64>) -> Result<Arc<Value>, StoreError> {
        let previous = self.check(key, expected)?;
        self.objects.remove(key);
        self.revision += 1;
        self.note_write(&key.resource);
        let mut last = (*previous).clone();
        set_resource_version(&mut last, self.revision);
        let last = Arc::new(last);
        self.record(StoreEvent {
            revision: self.revision,
            event_type: EventType::Deleted,
            key: key.clone(),
            object: last.clone(),
            previous: Some(previous),
        });
        Ok(last)
    }

    /// Changes after `revision`, oldest first. Fails if some of them were compacted.
    pub fn events_since(
        &self,
        revision: u64,
    ) -> Result<impl Iterator<Item = &Arc<StoreEvent>>, StoreError> {
        if revision < self.compacted_through {
            return Err(StoreError::Compacted { requested: revision, oldest: self.compacted_through + 1 });
        }
        // History holds consecutive revisions, so the start is found by arithmetic.
        let first = self.history.front().map_or(self.revision + 1, |e| e.revision);
        let skip = (revision + 1).saturating_sub(first) as usize;
        Ok(self.history.iter().skip(skip))
    }

    /// Drops history up to and including `revision` (etcd's compaction).
    pub fn compact(&mut self, revision: u64) {
        while self.history.front().is_some_and(|e| e.revision <= revision) {
            let gone = self.history.pop_front().expect("front exists");
            self.compacted_through = gone.revision;
        }
        self.compacted_through = self.compacted_through.max(revision.min(self.revision));
    }

    fn check(&self, key: &ObjectKey, expected: Option<u64>) -> Result<Arc<Value>, StoreError> {
        let current = self.objects.get(key).ok_or_else(|| StoreError::NotFound(key.clone()))?;
        if let Some(expected) = expected {
            let actual = resource_version(current).unwrap_or(0);
            if actual != expected {
                return Err(StoreError::Conflict { key: key.clone(), expected, actual });
            }
        }
        Ok(current.clone())
    }

    fn write(&mut self, key: ObjectKey, mut object: Value, previous: Option<Arc<Value>>, event_type: EventType) -> Arc<Value> {
        self.revision += 1;
        self.note_write(&key.resource);
        set_resource_version(&mut object, self.revision);
        let object = Arc::new(object);
        // A replaced object keeps its entry: only a new one needs a copy of the key.
        if previous.is_some() {
            *self.objects.get_mut(&key).expect("an update replaces a stored object") = object.clone();
        } else {
            self.objects.insert(key.clone(), object.clone());
        }
        self.record(StoreEvent { revision: self.revision, event_type, key, object: object.clone(), previous });
        object
    }

    fn note_write(&mut self, resource: &str) {
        match self.last_writes.get_mut(resource) {
            Some(revision) => *revision = self.revision,
            None => drop(self.last_writes.insert(resource.to_string(), self.revision)),
        }
    }

    fn record(&mut self, event: StoreEvent) {
        self.history.push_back(Arc::new(event));
        if self.history.len() > self.history_limit {
            let gone = self.history.pop_front().expect("history is not empty");
            self.compacted_through = gone.revision;
        }
    }
}

/// The object's `metadata.resourceVersion` as a number.
pub fn resource_version(object: &Value) -> Option<u64> {
    // Read with `get`: `Value::pointer` allocates to unescape each segment.
    object.get("metadata")?.get("resourceVersion")?.as_str()?.parse().ok()
}

fn set_resource_version(object: &mut Value, revision: u64) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("resourceVersion".into(), Value::String(revision.to_string()));
    }
}

#[cfg(test)]
mod tests;
