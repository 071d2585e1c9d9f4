use super::ObjectKey;
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change in the store's history. `previous` lets a filtered watch tell
/// an object that stopped matching its selector (sent as DELETED) from one
/// that started to (sent as ADDED), as the Kubernetes watch cache does.
#[derive(Clone, Debug)]
pub struct StoreEvent {
    pub revision: u64,
    pub event_type: EventType,
    pub key: ObjectKey,
    pub object: Arc<Value>,
    pub previous: Option<Arc<Value>>,
}
