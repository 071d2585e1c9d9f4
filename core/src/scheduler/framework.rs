//! The scheduling framework's extension points, after kube-scheduler's: a
//! plugin is a small struct implementing one trait per point it extends.
//! Later plugins (affinity, spreading, preemption) add implementations, not
//! changes to the cycle.

use crate::quantity;
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::BTreeMap;
use std::sync::Arc;

/// CPU in millicores and memory in bytes; extended resources by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub pods: i64,
    pub extended: BTreeMap<String, i64>,
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.pods += other.pods;
        for (k, v) in &other.extended {
            *self.extended.entry(k.clone()).or_default() += v;
        }
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.pods -= other.pods;
        for (k, v) in &other.extended {
            *self.extended.entry(k.clone()).or_default() -= v;
        }
    }

    fn from_list(list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list.into_iter().flatten() {
            match name.as_str() {
                "cpu" => r.milli_cpu = quantity::parse_milli(&q.0).unwrap_or(0),
                "memory" => r.memory = quantity::parse_units(&q.0).unwrap_or(0),
                "pods" => r.pods = quantity::parse_units(&q.0).unwrap_or(0),
                "ephemeral-storage" => {}
                other => {
                    r.extended.insert(other.to_string(), quantity::parse_units(&q.0).unwrap_or(0));
                }
            }
        }
        r
    }

    /// What a pod asks for: the sum of its containers' requests, counting one pod.
    pub fn requested_by(pod: &Pod) -> Resources {
        let mut total = Resources { pods: 1, ..Default::default() };
        for c in pod.spec.iter().flat_map(|s| &s.containers) {
            total.add(&Resources::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref())));
        }
        total
    }

    pub fn allocatable_of(node: &Node) -> Resources {
        let status = node.status.as_ref();
        let list = status.and_then(|s| s.allocatable.as_ref()).or_else(|| status.and_then(|s| s.capacity.as_ref()));
        let mut r = Resources::from_list(list);
        if list.is_none_or(|l| !l.contains_key("pods")) {
            r.pods = 110; // the kubelet's default maxPods
        }
        r
    }
}

/// A pod being scheduled, with what the cycle needs precomputed.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub requests: Resources,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let requests = Resources::requested_by(&pod);
        PodInfo { pod, requests }
    }
}

/// A node and what is already placed on it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub allocatable: Resources,
    pub requested: Resources,
}

impl NodeInfo {
    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }
}

/// Why a node cannot take a pod. `resolvable` says whether evicting other
/// pods (preemption) could change the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reasons: Vec<String>,
    pub resolvable: bool,
}

impl Rejection {
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Rejection { reasons: vec![reason.into()], resolvable: true }
    }
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Rejection { reasons: vec![reason.into()], resolvable: false }
    }
}

pub trait FilterPlugin: Send {
    fn name(&self) -> &'static str;
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection>;
}

/// Highest score a plugin gives a node, as in kube-scheduler.
pub const MAX_NODE_SCORE: i64 = 100;

pub trait ScorePlugin: Send {
    fn name(&self) -> &'static str;
    fn weight(&self) -> i64 {
        1
    }
    /// A score from 0 to MAX_NODE_SCORE.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64;
}
