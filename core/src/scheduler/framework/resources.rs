//! Resource amounts as the scheduler counts them: CPU in millicores,
//! memory and storage in bytes, pod slots, and extended resources by name.

use crate::quantity;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
    /// Extended resources (`example.com/gpu`, `hugepages-2Mi`), by name.
    pub extended: BTreeMap<String, i64>,
}

/// kube-scheduler counts a container without a CPU or memory request as
/// asking for this much when it scores, so that such pods still spread
/// (`DefaultMilliCPURequest`, `DefaultMemoryRequest`). Filtering uses the
/// real requests.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The CPU and memory a pod counts for in scoring (zero requests replaced
/// by the defaults above, container by container).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonZero {
    pub milli_cpu: i64,
    pub memory: i64,
}

impl NonZero {
    pub fn add(&mut self, other: NonZero) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
    }
    pub fn subtract(&mut self, other: NonZero) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
    }
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (k, v) in &other.extended {
            *self.extended.entry(k.clone()).or_default() += v;
        }
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (k, v) in &other.extended {
            *self.extended.entry(k.clone()).or_default() -= v;
        }
    }

    /// An extended resource's amount (0 when absent).
    pub fn extended(&self, name: &str) -> i64 {
        self.extended.get(name).copied().unwrap_or(0)
    }

    fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list.into_iter().flatten() {
            match name.as_str() {
                "cpu" => r.milli_cpu = quantity::parse_milli(&q.0).unwrap_or(0),
                "memory" => r.memory = quantity::parse_units(&q.0).unwrap_or(0),
                "ephemeral-storage" => r.ephemeral_storage = quantity::parse_units(&q.0).unwrap_or(0),
                "pods" => r.pods = quantity::parse_units(&q.0).unwrap_or(0),
                other => {
                    r.extended.insert(other.to_string(), quantity::parse_units(&q.0).unwrap_or(0));
                }
            }
        }
        r
    }

    /// What a pod asks for: the sum of its containers' requests plus its
    /// overhead, counting one pod slot; and the same with zero CPU and
    /// memory requests replaced by the scoring defaults.
    pub fn requested_by(pod: &Pod) -> (Resources, NonZero) {
        let mut total = Resources { pods: 1, ..Default::default() };
        let mut non_zero = NonZero::default();
        let spec = pod.spec.as_ref();
        for c in spec.iter().flat_map(|s| &s.containers) {
            let requests = Resources::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
            non_zero.milli_cpu += if requests.milli_cpu == 0 { DEFAULT_MILLI_CPU_REQUEST } else { requests.milli_cpu };
            non_zero.memory += if requests.memory == 0 { DEFAULT_MEMORY_REQUEST } else { requests.memory };
            total.add(&requests);
        }
        if let Some(overhead) = spec.and_then(|s| s.overhead.as_ref()) {
            let overhead = Resources::from_list(Some(overhead));
            non_zero.milli_cpu += overhead.milli_cpu;
            non_zero.memory += overhead.memory;
            total.add(&overhead);
        }
        (total, non_zero)
    }

    /// What a node offers: its allocatable (else its capacity).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_sum_containers_and_overhead_and_default_zero_requests_for_scoring() {
        let pod: Pod = serde_json::from_value(json!({"spec": {"overhead": {"cpu": "10m"}, "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi", "example.com/gpu": "1"}}},
            {"name": "b"},
        ]}}))
        .unwrap();
        let (requests, non_zero) = Resources::requested_by(&pod);
        assert_eq!((requests.milli_cpu, requests.memory, requests.pods, requests.extended("example.com/gpu")), (260, 64 << 20, 1, 1));
        assert_eq!(non_zero, NonZero { milli_cpu: 250 + 100 + 10, memory: (64 << 20) + DEFAULT_MEMORY_REQUEST });
    }
}
