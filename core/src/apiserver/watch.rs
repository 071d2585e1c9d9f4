//! Open watches and the delivery of store changes to them.
//!
//! Each watch keeps a cursor (the last revision it has seen) and filters the
//! store's history by resource, namespace and selectors. An object that starts
//! or stops matching a selector is sent as ADDED or DELETED, as a real API
//! server does, so a kubelet watching `spec.nodeName=X` sees a pod appear when
//! it is bound.

use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use crate::store::{EventType, ObjectKey, Store, StoreError, StoreEvent};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// How often drivers send BOOKMARK events (Kubernetes sends them about once a minute).
pub const BOOKMARK_INTERVAL_SECS: u64 = 60;

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
    /// Whether an object under `key` is of this watch's resource and namespace.
    fn covers(&self, key: &ObjectKey) -> bool {
        key.resource == self.resource && self.namespace.as_ref().is_none_or(|ns| *ns == key.namespace)
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// No selectors: every object of the resource (and namespace) is seen.
    fn selects_all(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

#[derive(Clone, Debug)]
struct OpenWatch {
    filter: WatchFilter,
    /// The last revision this watch has been given (or decided to skip).
    cursor: u64,
    /// `apiVersion` and `kind` for BOOKMARK events, if the client allows them.
    bookmarks: Option<(String, String)>,
}

/// A watch event as delivered: built once per store event and shared by
/// every watcher that sees it the same way, so fan-out copies pointers.
pub type SharedEvent = Arc<Value>;

/// Open watches. Those that are caught up are indexed by resource, and one
/// pass over new store events reaches them all; a watch opened at an older
/// revision catches up on its own first, then joins the index.
#[derive(Clone, Debug, Default)]
pub struct Watches {
    next_id: WatchId,
    /// Looked up once per watcher per event: a hash map, not a tree.
    open: HashMap<WatchId, OpenWatch>,
    /// Caught-up watches by storage resource name.
    by_resource: HashMap<String, Vec<WatchId>>,
    /// Opened behind `pumped_through`; delivered individually until caught up.
    lagging: BTreeSet<WatchId>,
    /// Every indexed watch has seen the store up to here.
    pumped_through: u64,
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
        let id = self.next_id;
        // The shared pass starts where it left off, so a watch from exactly
        // there (the usual case: "now") joins it directly.
        if self.open.is_empty() && self.lagging.is_empty() {
            self.pumped_through = store.revision();
        }
        if from_revision == self.pumped_through {
            self.by_resource.entry(filter.resource.clone()).or_default().push(id);
        } else {
            self.lagging.insert(id);
        }
        self.open.insert(id, OpenWatch { filter, cursor: from_revision, bookmarks });
        Ok(id)
    }

    /// A BOOKMARK at the store's revision for each watch that allows them and
    /// is up to date, so it can resume from there after a disconnect.
    pub fn bookmarks(&mut self, store: &Store) -> Vec<(WatchId, SharedEvent)> {
        let revision = store.revision();
        let mut ids: Vec<WatchId> = self.open.keys().copied().filter(|id| !self.lagging.contains(id) && self.pumped_through == revision).collect();
        // In id order, so the same history gives the same events.
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| {
                let (api_version, kind) = self.open[&id].bookmarks.as_ref()?;
                let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": revision.to_string()}});
                Some((id, Arc::new(event_json("BOOKMARK", &object))))
            })
            .collect()
    }

    pub fn close(&mut self, id: WatchId) {
        if let Some(watch) = self.open.remove(&id) {
            if !self.lagging.remove(&id) {
                if let Some(ids) = self.by_resource.get_mut(&watch.filter.resource) {
                    ids.retain(|w| *w != id);
                    if ids.is_empty() {
                        self.by_resource.remove(&watch.filter.resource);
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Delivers every change since each watch's cursor, in revision order per
    /// watch. A watch that fell behind the compacted history gets an ERROR
    /// event (410 Expired) and is closed; the client relists.
    pub fn pump(&mut self, store: &Store) -> Vec<(WatchId, SharedEvent)> {
        let mut out = Vec::new();
        let head = store.revision();
        // Lagging watches first: each catches up to where the shared pass is.
        let lagging: Vec<WatchId> = self.lagging.iter().copied().collect();
        for id in lagging {
            let watch = self.open.get_mut(&id).expect("lagging watches are open");
            match store.events_since(watch.cursor) {
                Ok(events) => {
                    for event in events.take_while(|e| e.revision <= self.pumped_through) {
                        watch.cursor = event.revision;
                        if !watch.filter.covers(&event.key) {
                            continue;
                        }
                        if let Some(shared) = visible(&watch.filter, event, &mut Default::default()) {
                            out.push((id, shared));
                        }
                    }
                    // A watch opened after the shared pass (at "now") skips what it has not asked for.
                    watch.cursor = watch.cursor.max(self.pumped_through);
                    self.lagging.remove(&id);
                    self.by_resource.entry(watch.filter.resource.clone()).or_default().push(id);
                }
                Err(StoreError::Compacted { requested, oldest }) => {
                    out.push((id, Arc::new(event_json("ERROR", &ApiError::Gone { requested, oldest }.to_status()))));
                    self.close(id);
                }
                Err(_) => {}
            }
        }
        if head == self.pumped_through {
            return out;
        }
        match store.events_since(self.pumped_through) {
            Ok(events) => {
                for event in events {
                    let Some(ids) = self.by_resource.get(&event.key.resource) else { continue };
                    // One JSON event per way of seeing this change, shared by all watchers.
                    let mut shared = Default::default();
                    out.reserve(ids.len());
                    for id in ids {
                        let watch = &self.open[id];
                        // Indexed by resource already; the namespace and the
                        // watch's start revision remain to check.
                        if event.revision <= watch.cursor || watch.filter.namespace.as_ref().is_some_and(|ns| *ns != event.key.namespace) {
                            continue;
                        }
                        if let Some(e) = visible(&watch.filter, event, &mut shared) {
                            out.push((*id, e));
                        }
                    }
                }
            }
            Err(StoreError::Compacted { requested, oldest }) => {
                // The whole index fell behind compaction: every watch relists.
                let ids: Vec<WatchId> = self.by_resource.values().flatten().copied().collect();
                for id in ids {
                    out.push((id, Arc::new(event_json("ERROR", &ApiError::Gone { requested, oldest }.to_status()))));
                    self.close(id);
                }
            }
            Err(_) => {}
        }
        // Indexed watches' cursors are implicitly `pumped_through` from here on.
        self.pumped_through = head;
        out
    }
}

/// The events already built for one store event, by kind (ADDED, MODIFIED, DELETED).
type Built = [Option<SharedEvent>; 3];

/// The event `filter` sees for a store event, reusing one already built for the same kind.
fn visible(filter: &WatchFilter, event: &StoreEvent, built: &mut Built) -> Option<SharedEvent> {
    let kind = if filter.selects_all() {
        match event.event_type {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    } else {
        visible_change(filter, event.event_type, &event.object, event.previous.as_ref())?
    };
    let slot = match kind {
        "ADDED" => 0,
        "MODIFIED" => 1,
        _ => 2,
    };
    // Leaving a selection is a DELETED of the object as it now is, like Kubernetes.
    Some(built[slot].get_or_insert_with(|| Arc::new(event_json(kind, &event.object))).clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(resource: &str, namespace: Option<&str>) -> WatchFilter {
        WatchFilter {
            resource: resource.into(),
            namespace: namespace.map(String::from),
            labels: LabelSelector::parse("").unwrap(),
            fields: FieldSelector::parse("", &[]).unwrap(),
        }
    }

    fn write(store: &mut Store, namespace: &str, name: &str) {
        let object = json!({"metadata": {"name": name, "namespace": namespace}});
        store.create(ObjectKey::new("pods", namespace, name), object).unwrap();
    }

    fn names(events: &[(WatchId, SharedEvent)], id: WatchId) -> Vec<String> {
        events.iter().filter(|(w, _)| *w == id).map(|(_, e)| e["object"]["metadata"]["name"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn old_and_new_watches_see_each_change_once_and_in_order() {
        let mut store = Store::default();
        let mut watches = Watches::default();
        write(&mut store, "a", "p1");
        let from_start = watches.open(filter("pods", None), 0, None, &store).unwrap();
        let pumped = watches.pump(&store);
        assert_eq!(names(&pumped, from_start), vec!["p1"]);
        write(&mut store, "a", "p2");
        // Opened at "now", after a write the shared pass has not delivered yet.
        let from_now = watches.open(filter("pods", None), store.revision(), None, &store).unwrap();
        let namespaced = watches.open(filter("pods", Some("b")), 0, None, &store).unwrap();
        write(&mut store, "b", "p3");
        let pumped = watches.pump(&store);
        assert_eq!(names(&pumped, from_start), vec!["p2", "p3"]);
        assert_eq!(names(&pumped, from_now), vec!["p3"]);
        assert_eq!(names(&pumped, namespaced), vec!["p3"]);
        let shared: Vec<&SharedEvent> = pumped.iter().filter(|(_, e)| e["object"]["metadata"]["name"] == "p3").map(|(_, e)| e).collect();
        assert!(Arc::ptr_eq(shared[0], shared[1]) && Arc::ptr_eq(shared[1], shared[2]), "one event object for all watchers");
        assert!(watches.pump(&store).is_empty(), "nothing twice");
        watches.close(from_start);
        write(&mut store, "a", "p4");
        let pumped = watches.pump(&store);
        assert!(names(&pumped, from_start).is_empty());
        assert_eq!(names(&pumped, from_now), vec!["p4"]);
    }

    #[test]
    fn a_watch_behind_compaction_gets_410_and_closes() {
        let mut store = Store::with_history_limit(2);
        let mut watches = Watches::default();
        let id = watches.open(filter("pods", None), 0, None, &store).unwrap();
        for name in ["a", "b", "c", "d"] {
            write(&mut store, "x", name);
        }
        let pumped = watches.pump(&store);
        assert_eq!(pumped.len(), 1);
        assert_eq!(pumped[0].0, id);
        assert_eq!(pumped[0].1["type"], "ERROR");
        assert_eq!(pumped[0].1["object"]["code"], 410);
        assert!(watches.is_empty());
    }
}
