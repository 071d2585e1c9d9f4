//! The cluster kept in the browser's IndexedDB: the control plane's
//! snapshot (every object and the revision), saved as the cluster changes and
//! restored when the page loads, so a reload or a closed tab loses nothing.

use rexie::{ObjectStore, Rexie, TransactionMode};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;

const DATABASE: &str = "tabernetes";
const STORE: &str = "snapshots";
/// One cluster per origin: the playground has one.
const KEY: &str = "cluster";

thread_local! {
    /// The database, opened once: the page saves every few seconds.
    static OPENED: RefCell<Option<Rc<Rexie>>> = const { RefCell::new(None) };
}

async fn open() -> Result<Rc<Rexie>, String> {
    if let Some(db) = OPENED.with_borrow(Clone::clone) {
        return Ok(db);
    }
    let db = Rexie::builder(DATABASE)
        .version(1)
        .add_object_store(ObjectStore::new(STORE))
        .build()
        .await
        .map_err(|e| format!("IndexedDB is not available: {e}"))?;
    let db = Rc::new(db);
    OPENED.with_borrow_mut(|opened| *opened = Some(db.clone()));
    Ok(db)
}

fn failed(what: &str) -> impl Fn(rexie::Error) -> String + '_ {
    move |e| format!("IndexedDB {what} failed: {e}")
}

/// The saved snapshot, if there is one.
pub async fn load() -> Result<Option<String>, String> {
    let db = open().await?;
    let transaction = db.transaction(&[STORE], TransactionMode::ReadOnly).map_err(failed("read"))?;
    let store = transaction.store(STORE).map_err(failed("read"))?;
    let value = store.get(JsValue::from_str(KEY)).await.map_err(failed("read"))?;
    Ok(value.and_then(|v| v.as_string()))
}

/// Replaces the saved snapshot; resolves once the write is durable.
pub async fn save(snapshot: &str) -> Result<(), String> {
    let db = open().await?;
    let transaction = db.transaction(&[STORE], TransactionMode::ReadWrite).map_err(failed("write"))?;
    let store = transaction.store(STORE).map_err(failed("write"))?;
    store.put(&JsValue::from_str(snapshot), Some(&JsValue::from_str(KEY))).await.map_err(failed("write"))?;
    transaction.done().await.map_err(failed("write"))?;
    Ok(())
}

/// Forgets the saved cluster (the next load starts a new one).
pub async fn clear() -> Result<(), String> {
    let db = open().await?;
    let transaction = db.transaction(&[STORE], TransactionMode::ReadWrite).map_err(failed("delete"))?;
    let store = transaction.store(STORE).map_err(failed("delete"))?;
    store.delete(JsValue::from_str(KEY)).await.map_err(failed("delete"))?;
    transaction.done().await.map_err(failed("delete"))?;
    Ok(())
}
