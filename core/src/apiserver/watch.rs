//! Open watches and the delivery of store changes to them.
//!
//! Each watch keeps a cursor (the last revision it has seen) and filters the
//! store's history by resource, namespace and selectors. An object that starts
//! or stops matching a selector is sent as ADDED or DELETED, as a real API
//! server does, so a kubelet watching `spec.nodeName=X` sees a pod appear when
//! it is bound.

use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use crate::store::{EventType, Store, StoreError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub type WatchId = u64;

#[derive(Clone, Debug)]
pub struct WatchFilter {
    /// Storage name of the resource (`pods`).
    pub resource: String,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl WatchFilter {
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

#[derive(Debug)]
struct OpenWatch {
    filter: WatchFilter,
    cursor: u64,
    /// `apiVersion` and `kind` for BOOKMARK events, if the client allows them.
    bookmarks: Option<(String, String)>,
}

#[derive(Debug, Default)]
pub struct Watches {
    next_id: WatchId,
    open: BTreeMap<WatchId, OpenWatch>,
}

/// A watch event as it goes on the wire: `{"type": "ADDED", "object": {...}}`.
pub fn event_json(event_type: &str, object: &Value) -> Value {
    json!({"type": event_type, "object": object})
}

impl Watches {
    /// Starts a watch that will see every change after `from_revision`.
    pub fn open(&mut self, filter: WatchFilter, from_revision: u64, bookmarks: Option<(String, String)>, store: &Store) -> Result<WatchId, ApiError> {
        if let Err(StoreError::Compacted { requested, oldest }) = store.events_since(from_revision).map(|_| ()) {
            return Err(ApiError::Gone { requested, oldest });
        }
        self.next_id += 1;
        self.open.insert(self.next_id, OpenWatch { filter, cursor: from_revision, bookmarks });
        Ok(self.next_id)
    }

    /// A BOOKMARK at the store's revision for each watch that allows them and
    /// is up to date, so it can resume from there after a disconnect.
    pub fn bookmarks(&mut self, store: &Store) -> Vec<(WatchId, Value)> {
        let revision = store.revision();
        self.open
            .iter_mut()
            .filter(|(_, w)| w.cursor == revision)
            .filter_map(|(id, w)| {
                let (api_version, kind) = w.bookmarks.as_ref()?;
                let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": revision.to_string()}});
                Some((*id, event_json("BOOKMARK", &object)))
            })
            .collect()
    }

    pub fn close(&mut self, id: WatchId) {
        self.open.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Delivers every change since each watch's cursor. A watch that fell
    /// behind the compacted history gets an ERROR event (410 Expired) and is
    /// closed; the client relists.
    pub fn pump(&mut self, store: &Store) -> Vec<(WatchId, Value)> {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for (id, watch) in &mut self.open {
            let events = match store.events_since(watch.cursor) {
                Ok(events) => events,
                Err(StoreError::Compacted { requested, oldest }) => {
                    out.push((*id, event_json("ERROR", &ApiError::Gone { requested, oldest }.to_status())));
                    expired.push(*id);
                    continue;
                }
                Err(_) => continue,
            };
            for event in events {
                watch.cursor = event.revision;
                if event.key.resource != watch.filter.resource
                    || watch.filter.namespace.as_ref().is_some_and(|ns| *ns != event.key.namespace)
                {
                    continue;
                }
                if let Some(kind) = visible_change(&watch.filter, event.event_type, &event.object, event.previous.as_ref()) {
                    out.push((*id, event_json(kind, &event.object)));
                }
            }
        }
        for id in expired {
            self.open.remove(&id);
        }
        out
    }
}

/// How a change looks through a filter: None if the watcher sees nothing.
fn visible_change(filter: &WatchFilter, event_type: EventType, object: &Value, previous: Option<&Arc<Value>>) -> Option<&'static str> {
    let now = filter.matches(object);
    let before = previous.is_some_and(|p| filter.matches(p));
    match event_type {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => before.then_some("DELETED"),
        EventType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}
