//! Snapshots: the whole store (objects and revision) as one JSON document
//! that restores exactly, for the page's IndexedDB and node-host's file.
//! Watch history is not kept: a restored server starts with an empty window,
//! so clients that resume from an older revision get 410 and relist, as they
//! would after an etcd restore.

use super::{ApiServer, Watches};
use crate::store::{ObjectKey, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when the layout changes, so an old snapshot is refused, not misread.
pub const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub revision: u64,
    pub objects: Vec<SnapshotEntry>,
}

#[derive(Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub object: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("snapshot is not valid JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("snapshot format {found} is not the supported format {FORMAT}")]
    Format { found: u32 },
    #[error("snapshot holds {0} twice")]
    Duplicate(ObjectKey),
}

impl ApiServer {
    pub fn snapshot(&self) -> Snapshot {
        let objects = self
            .store
            .iter()
            .map(|(k, o)| SnapshotEntry { resource: k.resource.clone(), namespace: k.namespace.clone(), name: k.name.clone(), object: (**o).clone() })
            .collect();
        Snapshot { format: FORMAT, revision: self.store.revision(), objects }
    }

    /// Replaces the whole state with the snapshot's; open watches are closed.
    pub fn restore(&mut self, snapshot: Snapshot) -> Result<(), RestoreError> {
        if snapshot.format != FORMAT {
            return Err(RestoreError::Format { found: snapshot.format });
        }
        let mut objects = std::collections::BTreeMap::new();
        for entry in snapshot.objects {
            let key = ObjectKey::new(entry.resource, entry.namespace, entry.name);
            if objects.insert(key.clone(), entry.object).is_some() {
                return Err(RestoreError::Duplicate(key));
            }
        }
        self.store = Store::restored(snapshot.revision, objects);
        // What the authorizer cached belongs to the store replaced.
        self.authorizer = Default::default();
        self.watches = Watches::default();
        Ok(())
    }

    pub fn snapshot_json(&self) -> String {
        serde_json::to_string(&self.snapshot()).expect("a snapshot is plain JSON")
    }

    pub fn restore_json(&mut self, text: &str) -> Result<(), RestoreError> {
        self.restore(serde_json::from_str(text)?)
    }
}
