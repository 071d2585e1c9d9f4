//! The one loop every controller runs in, like kube-runtime's `Controller`
//! or client-go's informer + work queue: read the store's history from the
//! controller's own cursor, turn each change into the keys it concerns,
//! reconcile each due key once (in key order, so runs are reproducible),
//! and keep what each reconcile asked for: a wake-up later, or nothing.
//! A failed reconcile is tried again after a backoff that doubles with each
//! failure in a row (1 s to 5 min).

use super::queue::{Changes, Cursor, WorkQueue};
use super::reconciler::{Action, Context, Reconciler};
use crate::apiserver::ApiServer;
use crate::store::ObjectKey;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

const RETRY_INITIAL: SignedDuration = SignedDuration::from_secs(1);
const RETRY_MAX: SignedDuration = SignedDuration::from_secs(300);

/// A controller as the control plane drives it, whatever it reconciles.
/// `Send` because node-host runs a control plane on a tokio task.
pub trait Controller: Send {
    fn name(&self) -> &'static str;
    /// Reads what changed and reconciles every key that is due.
    fn run(&mut self, ctx: &mut Context<'_>);
    /// When the earliest requeued key falls due.
    fn next_wake(&self) -> Option<Timestamp>;
    /// Whether a key is due at `now` without any new change (a requeue of zero).
    fn has_due(&self, now: Timestamp) -> bool {
        self.next_wake().is_some_and(|t| t <= now)
    }
}

#[derive(Debug)]
pub struct Runner<R> {
    reconciler: R,
    cursor: Cursor,
    started: bool,
    queue: WorkQueue,
    /// Failures in a row, per key, for the retry backoff.
    failures: BTreeMap<ObjectKey, u32>,
}

impl<R: Reconciler> Runner<R> {
    pub fn new(reconciler: R) -> Self {
        Runner { reconciler, cursor: Cursor::default(), started: false, queue: WorkQueue::default(), failures: BTreeMap::new() }
    }

    pub fn reconciler(&self) -> &R {
        &self.reconciler
    }

    /// One pass: what unit tests of one controller use.
    pub fn run_once(&mut self, api: &mut ApiServer, now: Timestamp) {
        self.run(&mut Context { api, now });
    }

    fn observe(&mut self, ctx: &Context<'_>) {
        let store = ctx.api.store();
        let changes = self.cursor.changes(store);
        let relist = !std::mem::replace(&mut self.started, true) || matches!(changes, Changes::Relist);
        if relist {
            for key in self.reconciler.relist(store) {
                self.queue.add(key);
            }
            return;
        }
        let Changes::Events(events) = changes else { return };
        let mut keys = Vec::new();
        for event in events {
            self.reconciler.keys_for(&event, store, &mut keys);
        }
        for key in keys {
            self.queue.add(key);
        }
    }
}

impl<R: Reconciler> Controller for Runner<R> {
    fn name(&self) -> &'static str {
        self.reconciler.name()
    }

    fn run(&mut self, ctx: &mut Context<'_>) {
        self.observe(ctx);
        for key in self.queue.take_due(ctx.now) {
            let action = match self.reconciler.reconcile(&key, ctx) {
                Ok(action) => {
                    self.failures.remove(&key);
                    action
                }
                Err(_) => {
                    let failures = self.failures.entry(key.clone()).or_insert(0);
                    let delay = RETRY_INITIAL.checked_mul(1 << (*failures).min(16)).unwrap_or(RETRY_MAX).min(RETRY_MAX);
                    *failures += 1;
                    Action::requeue_after(delay)
                }
            };
            self.queue.wake_at(&key, action.due(ctx.now));
        }
    }

    fn next_wake(&self) -> Option<Timestamp> {
        self.queue.next_wake()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::reconciler::{ReconcileError, ReconcileResult};
    use crate::store::{Store, StoreEvent};
    use serde_json::json;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// Reconciles config maps; asks to look again in 10 s, or fails while
    /// `failing` says so, and remembers what it saw.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<(String, i64)>,
        failing: bool,
    }

    impl Reconciler for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
            if event.key.resource == "configmaps" {
                keys.push(event.key.clone());
            }
        }
        fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
            store.list("configmaps", None).map(|(k, _)| k.clone()).collect()
        }
        fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
            self.seen.push((key.name.clone(), ctx.now.as_second() - at(0).as_second()));
            if self.failing {
                return Err(ReconcileError::Refused { action: "test".into(), status: 500, message: "no".into() });
            }
            Ok(Action::requeue_after(SignedDuration::from_secs(10)))
        }
    }

    fn config_map(api: &mut ApiServer, name: &str) {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        let request = crate::apiserver::ApiRequest::post("/api/v1/namespaces/default/configmaps", body).as_user("admin");
        assert!(api.handle(&request, at(0)).into_response().is_success());
    }

    #[test]
    fn reconciles_what_changed_then_what_asked_to_be_looked_at_again() {
        let mut api = ApiServer::new(1, at(0));
        config_map(&mut api, "b");
        let mut runner = Runner::new(Recorder::default());
        runner.run_once(&mut api, at(0));
        config_map(&mut api, "a");
        runner.run_once(&mut api, at(1));
        assert_eq!(runner.next_wake(), Some(at(10)));
        runner.run_once(&mut api, at(10));
        runner.run_once(&mut api, at(10));
        assert_eq!(runner.reconciler().seen, vec![("b".into(), 0), ("a".into(), 1), ("b".into(), 10)]);
        assert_eq!(runner.next_wake(), Some(at(11)));
    }

    #[test]
    fn failures_are_retried_with_a_growing_backoff() {
        let mut api = ApiServer::new(1, at(0));
        config_map(&mut api, "c");
        let mut runner = Runner::new(Recorder { failing: true, ..Default::default() });
        let mut wakes = Vec::new();
        let mut now = at(0);
        for _ in 0..4 {
            runner.run_once(&mut api, now);
            now = runner.next_wake().unwrap();
            wakes.push(now.as_second() - at(0).as_second());
        }
        assert_eq!(wakes, vec![1, 3, 7, 15]);
    }
}
