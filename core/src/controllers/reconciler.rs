//! The shape of every controller, after kube-runtime's: a controller says
//! which objects a change in the store concerns (their keys), and reconciles
//! one key at a time against what is stored now, returning what it wants
//! next as data: nothing until something changes, or a look again after a
//! delay (minReadySeconds, a backoff, a deadline, a schedule). The queue,
//! the place in the store's history and the wake-ups are the
//! [`Runner`](super::runner::Runner)'s, written once for all controllers.
//!
//! Reconciling is level-based: a controller reads the current state of the
//! object and everything related to it, so seeing a key twice, or late, is
//! harmless. That is why the watch half only returns keys.

use crate::apiserver::ApiServer;
use crate::store::{ObjectKey, Store, StoreEvent};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What a reconcile has to work with: the API server (to read the store and
/// to write, as the controller manager), the pod metrics the nodes
/// reported, and the time.
pub struct Context<'a> {
    pub api: &'a mut ApiServer,
    pub now: Timestamp,
}

/// What a reconcile wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until one of the objects it watches changes.
    AwaitChange,
    /// Look again after this long (zero: in the next round), whether or not
    /// anything changed.
    RequeueAfter(SignedDuration),
}

impl Action {
    pub fn await_change() -> Action {
        Action::AwaitChange
    }

    pub fn requeue_after(delay: SignedDuration) -> Action {
        Action::RequeueAfter(delay.max(SignedDuration::ZERO))
    }

    /// A look again at `at` (at once if it has passed), or none.
    pub fn requeue_at(at: Option<Timestamp>, now: Timestamp) -> Action {
        match at {
            Some(at) => Action::requeue_after(at.duration_since(now)),
            None => Action::AwaitChange,
        }
    }

    /// The sooner of two wishes: a controller with several timers keeps the first.
    pub fn or_sooner(self, other: Action) -> Action {
        match (self, other) {
            (Action::RequeueAfter(a), Action::RequeueAfter(b)) => Action::RequeueAfter(a.min(b)),
            (Action::AwaitChange, other) => other,
            (this, Action::AwaitChange) => this,
        }
    }

    /// When, on a clock at `now`, the look again is due.
    pub fn due(self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Action::AwaitChange => None,
            Action::RequeueAfter(delay) => Some(now.checked_add(delay).unwrap_or(Timestamp::MAX)),
        }
    }
}

/// Why a reconcile could not finish. The runner tries the key again after a
/// backoff that grows with each failure in a row, as client-go's rate
/// limiting queue does.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReconcileError {
    #[error("the API server refused to {action}: {message} ({status})")]
    Refused { action: String, status: u16, message: String },
}

pub type ReconcileResult = Result<Action, ReconcileError>;

pub trait Reconciler: Send {
    /// The controller's name, as `kube-controller-manager --controllers` lists it.
    fn name(&self) -> &'static str;

    /// The keys a change in the store concerns (the changed object itself,
    /// its owner, the owners that may adopt it…). It may also keep the
    /// controller's own caches up to date (the garbage collector's graph).
    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>);

    /// Every key to look at when the history the controller was reading
    /// was compacted away (an informer's relist after a 410 Gone), and at
    /// the start.
    fn relist(&mut self, store: &Store) -> Vec<ObjectKey>;

    /// Brings the world in line with the object under `key`, which may be gone.
    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn actions_keep_the_sooner_wish_and_never_look_back() {
        let secs = |s| Action::requeue_after(SignedDuration::from_secs(s));
        assert_eq!(secs(5).or_sooner(secs(3)), secs(3));
        assert_eq!(Action::await_change().or_sooner(secs(3)), secs(3));
        assert_eq!(secs(3).or_sooner(Action::await_change()), secs(3));
        assert_eq!(Action::requeue_at(Some(at(10)), at(4)), secs(6));
        assert_eq!(Action::requeue_at(Some(at(1)), at(4)), secs(0), "a past time means at once");
        assert_eq!(Action::requeue_at(None, at(4)), Action::AwaitChange);
        assert_eq!(secs(6).due(at(4)), Some(at(10)));
    }
}
