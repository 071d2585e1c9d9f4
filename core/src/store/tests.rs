use super::*;
use serde_json::json;

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}})
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("pods", "default", name)
}

#[test]
fn every_write_takes_the_next_global_revision_as_its_resource_version() {
    let mut store = Store::default();
    let a = store.create(key("a"), pod("a")).unwrap();
    let b = store.create(ObjectKey::new("nodes", "", "n1"), json!({"metadata": {"name": "n1"}})).unwrap();
    let a2 = store.update(key("a"), pod("a"), Some(1)).unwrap();
    assert_eq!(resource_version(&a), Some(1));
    assert_eq!(resource_version(&b), Some(2));
    assert_eq!(resource_version(&a2), Some(3));
    assert_eq!(store.revision(), 3);
}

#[test]
fn stale_update_is_a_conflict_and_changes_nothing() {
    let mut store = Store::default();
    store.create(key("a"), pod("a")).unwrap();
    store.update(key("a"), pod("a"), Some(1)).unwrap();
    let err = store.update(key("a"), pod("a"), Some(1)).unwrap_err();
    assert_eq!(err, StoreError::Conflict { key: key("a"), expected: 1, actual: 2 });
    assert_eq!(store.revision(), 2);
}

#[test]
fn create_of_existing_and_update_of_missing_fail() {
    let mut store = Store::default();
    store.create(key("a"), pod("a")).unwrap();
    assert!(matches!(store.create(key("a"), pod("a")), Err(StoreError::AlreadyExists(_))));
    assert!(matches!(store.update(key("b"), pod("b"), None), Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete(&key("b"), None), Err(StoreError::NotFound(_))));
}

#[test]
fn list_is_scoped_to_resource_and_namespace() {
    let mut store = Store::default();
    store.create(key("a"), pod("a")).unwrap();
    store.create(ObjectKey::new("pods", "other", "b"), pod("b")).unwrap();
    store.create(ObjectKey::new("podsx", "default", "c"), pod("c")).unwrap();
    let names = |ns| store.list("pods", ns).map(|(k, _)| k.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(Some("default")), vec!["a"]);
    assert_eq!(names(None), vec!["a", "b"]);
}

#[test]
fn watch_from_a_revision_sees_each_later_change_once_in_order() {
    let mut store = Store::default();
    store.create(key("a"), pod("a")).unwrap();
    store.create(key("b"), pod("b")).unwrap();
    store.update(key("a"), pod("a"), None).unwrap();
    store.delete(&key("b"), None).unwrap();
    let seen: Vec<(u64, EventType, String)> = store
        .events_since(1)
        .unwrap()
        .map(|e| (e.revision, e.event_type, e.key.name.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (2, EventType::Added, "b".into()),
            (3, EventType::Modified, "a".into()),
            (4, EventType::Deleted, "b".into()),
        ]
    );
    assert_eq!(store.events_since(4).unwrap().count(), 0);
}

#[test]
fn deleted_event_carries_the_last_state_at_the_deletion_revision() {
    let mut store = Store::default();
    store.create(key("a"), pod("a")).unwrap();
    let last = store.delete(&key("a"), Some(1)).unwrap();
    assert_eq!(resource_version(&last), Some(2));
    let event = (**store.events_since(1).unwrap().next().unwrap()).clone();
    assert_eq!(event.event_type, EventType::Deleted);
    assert_eq!(resource_version(&event.previous.unwrap()), Some(1));
}

#[test]
fn history_beyond_the_limit_is_compacted_and_reading_it_fails() {
    let mut store = Store::with_history_limit(2);
    for name in ["a", "b", "c"] {
        store.create(key(name), pod(name)).unwrap();
    }
    assert_eq!(store.events_since(0).err(), Some(StoreError::Compacted { requested: 0, oldest: 2 }));
    assert_eq!(store.events_since(1).unwrap().count(), 2);
    store.compact(2);
    assert!(store.events_since(1).is_err());
    assert_eq!(store.events_since(2).unwrap().count(), 1);
}

#[test]
fn lookups_by_parts_find_what_lookups_by_key_find() {
    let mut store = Store::default();
    for (resource, namespace, name) in [("pods", "default", "a"), ("pods", "default", "ab"), ("pods", "dev", "a"), ("pods.x", "default", "a"), ("pod", "default", "a")] {
        store.create(ObjectKey::new(resource, namespace, name), pod(name)).unwrap();
    }
    assert_eq!(store.get_at("pods", "default", "a"), store.get(&key("a")));
    assert_eq!(store.get_at("pods", "default", "ab"), store.get(&key("ab")));
    assert!(store.get_at("pods", "default", "b").is_none());
    assert!(store.get_at("pods", "", "a").is_none());
    let names = |ns| store.list("pods", ns).map(|(k, _)| format!("{}/{}", k.namespace, k.name)).collect::<Vec<_>>();
    assert_eq!(names(None), ["default/a", "default/ab", "dev/a"]);
    assert_eq!(names(Some("default")), ["default/a", "default/ab"]);
}

#[test]
fn last_write_follows_each_resource_through_creates_updates_and_deletes() {
    let mut store = Store::default();
    assert_eq!(store.last_write("pods"), 0);
    store.create(key("a"), pod("a")).unwrap();
    store.create(ObjectKey::new("nodes", "", "n1"), json!({"metadata": {"name": "n1"}})).unwrap();
    assert_eq!((store.last_write("pods"), store.last_write("nodes")), (1, 2));
    store.update(key("a"), pod("a"), None).unwrap();
    assert_eq!(store.last_write("pods"), 3);
    store.delete(&key("a"), None).unwrap();
    assert_eq!((store.last_write("pods"), store.last_write("nodes")), (4, 2));
    let restored = Store::restored(9, [(ObjectKey::new("nodes", "", "n1"), json!({}))].into());
    assert_eq!((restored.last_write("nodes"), restored.last_write("pods")), (9, 0));
}
