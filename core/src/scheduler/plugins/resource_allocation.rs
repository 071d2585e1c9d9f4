//! What NodeResourcesFit's scoring strategies and BalancedAllocation both
//! compute (upstream's `resourceAllocationScorer`): for each scored
//! resource, the node's allocatable and what would be requested on it once
//! the pod is placed.

use crate::scheduler::framework::{NodeInfo, PodInfo};

/// A resource the score looks at (named once, matched per node as a kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
    EphemeralStorage,
    Extended(String),
}

/// A resource the score looks at, and its weight in the average.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceWeight {
    pub resource: Resource,
    pub weight: i64,
}

/// CPU and memory, weighted equally: kube-scheduler's default.
pub fn default_resources() -> Vec<ResourceWeight> {
    vec![ResourceWeight { resource: Resource::Cpu, weight: 1 }, ResourceWeight { resource: Resource::Memory, weight: 1 }]
}

/// The weights of CPU and memory when they are the resources scored, in
/// that order (the default): the scorers' fast path, with the resources
/// known at compile time.
pub fn cpu_and_memory(resources: &[ResourceWeight]) -> Option<(i64, i64)> {
    match resources {
        [ResourceWeight { resource: Resource::Cpu, weight: cpu }, ResourceWeight { resource: Resource::Memory, weight: memory }] => Some((*cpu, *memory)),
        _ => None,
    }
}

/// `(allocatable, requested with the pod)` for one resource, or None when
/// it should not be scored: the node offers none, or it is an extended
/// resource the pod does not ask for. `use_requested` counts real requests;
/// otherwise zero CPU and memory requests count as the scheduler's defaults.
/// Always inlined: the scorers' fast paths pass constant resources, and
/// then the choice of resource folds away.
#[inline(always)]
pub fn allocatable_and_requested(node: &NodeInfo, pod: &PodInfo, resource: &Resource, use_requested: bool) -> Option<(i64, i64)> {
    let (allocatable, requested) = match resource {
        Resource::Cpu if use_requested => (node.allocatable.milli_cpu, node.requested.milli_cpu + pod.requests.milli_cpu),
        Resource::Cpu => (node.allocatable.milli_cpu, node.non_zero_requested.milli_cpu + pod.non_zero.milli_cpu),
        Resource::Memory if use_requested => (node.allocatable.memory, node.requested.memory + pod.requests.memory),
        Resource::Memory => (node.allocatable.memory, node.non_zero_requested.memory + pod.non_zero.memory),
        Resource::EphemeralStorage => (node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod.requests.ephemeral_storage),
        Resource::Extended(name) => return extended(node, pod, name),
    };
    (allocatable != 0).then_some((allocatable, requested))
}

/// The extended-resource case, kept out of line: the CPU and memory cases
/// run for every node of every cycle and stay a few instructions.
#[inline(never)]
fn extended(node: &NodeInfo, pod: &PodInfo, name: &str) -> Option<(i64, i64)> {
    let wanted = pod.requests.extended(name);
    let allocatable = node.allocatable.extended(name);
    (wanted != 0 && allocatable != 0).then(|| (allocatable, node.requested.extended(name) + wanted))
}

/// Whether the pod asks for none of `resources` (a BestEffort pod for CPU and memory).
pub fn requests_nothing(pod: &PodInfo, resources: &[ResourceWeight]) -> bool {
    resources.iter().all(|r| match &r.resource {
        Resource::Cpu => pod.requests.milli_cpu == 0,
        Resource::Memory => pod.requests.memory == 0,
        Resource::EphemeralStorage => pod.requests.ephemeral_storage == 0,
        Resource::Extended(name) => pod.requests.extended(name) == 0,
    })
}
