//! A step-by-step record of what the control plane did, for the page to
//! show: the path of a pod from the API server through the store, the
//! scheduler and the kubelet is what a learner comes to see.

use k8s_openapi::jiff::Timestamp;
use std::collections::VecDeque;

/// How many steps are kept.
pub const TRACE_CAPACITY: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    ApiServer,
    Scheduler,
    Kubelet,
    Controller,
    Client,
}

impl Component {
    pub fn label(self) -> &'static str {
        match self {
            Component::ApiServer => "api-server",
            Component::Scheduler => "scheduler",
            Component::Kubelet => "kubelet",
            Component::Controller => "controller",
            Component::Client => "client",
        }
    }

    /// Who a request's user is, by Kubernetes' naming conventions.
    pub fn of_user(user: &str) -> Component {
        if user.starts_with("system:node:") {
            Component::Kubelet
        } else if user == crate::scheduler::USER {
            Component::Scheduler
        } else if user.starts_with("system:serviceaccount:kube-system:") {
            Component::Controller
        } else {
            Component::Client
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub seq: u64,
    pub at: Timestamp,
    pub component: Component,
    /// The object the step is about, as `kind namespace/name`.
    pub object: String,
    pub text: String,
    /// The store revision after the step, if it wrote.
    pub revision: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    next_seq: u64,
    steps: VecDeque<Step>,
}

impl Trace {
    pub fn record(&mut self, at: Timestamp, component: Component, object: impl Into<String>, text: impl Into<String>, revision: Option<u64>) {
        self.next_seq += 1;
        self.steps.push_back(Step { seq: self.next_seq, at, component, object: object.into(), text: text.into(), revision });
        if self.steps.len() > TRACE_CAPACITY {
            self.steps.pop_front();
        }
    }

    pub fn steps(&self) -> impl DoubleEndedIterator<Item = &Step> {
        self.steps.iter()
    }

    /// Steps about one object, oldest first.
    pub fn about<'a>(&'a self, object: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        self.steps.iter().filter(move |s| s.object == object)
    }
}
