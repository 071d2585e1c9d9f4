//! What a plugin says about a pod at one extension point, after
//! kube-scheduler's `Status`: success is `Ok(())`; everything else is a
//! `Status` whose code tells the framework what to do next.

use std::borrow::Cow;

/// Why a plugin did not simply succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// The pod does not fit now, but evicting lower-priority pods (preemption) might help.
    Unschedulable,
    /// The pod does not fit, and no preemption on this node could change that.
    UnschedulableAndUnresolvable,
    /// The plugin has nothing to do for this pod (PreFilter, PreScore, Bind):
    /// its later extension points are skipped for this cycle.
    Skip,
    /// Something went wrong that is no verdict on the pod (an API write failed).
    Error,
}

/// A reason as people read it in `kubectl describe`: most are fixed
/// strings, so they are borrowed and cost nothing on the hot path.
pub type Reason = Cow<'static, str>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<Reason>,
}

impl Status {
    pub fn new(code: Code, reason: impl Into<Reason>) -> Self {
        Status { code, reasons: vec![reason.into()] }
    }
    pub fn unschedulable(reason: impl Into<Reason>) -> Self {
        Status::new(Code::Unschedulable, reason)
    }
    pub fn unresolvable(reason: impl Into<Reason>) -> Self {
        Status::new(Code::UnschedulableAndUnresolvable, reason)
    }
    pub fn skip() -> Self {
        Status { code: Code::Skip, reasons: Vec::new() }
    }
    pub fn error(reason: impl Into<Reason>) -> Self {
        Status::new(Code::Error, reason)
    }
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }
    /// Whether the pod was turned away (as opposed to skipped or failed).
    pub fn is_rejection(&self) -> bool {
        matches!(self.code, Code::Unschedulable | Code::UnschedulableAndUnresolvable)
    }
    /// The reasons joined as kube-scheduler's `Status.Message()` does.
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}
