//! Pods nominated to nodes: a preemptor waits for its victims to go with
//! `status.nominatedNodeName` set, and other pods of no higher priority
//! must leave that room free (kube-scheduler's nominator).

use super::framework::PodInfo;
use super::PodKey;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Nominator {
    by_node: BTreeMap<String, Vec<Arc<PodInfo>>>,
    by_pod: BTreeMap<PodKey, String>,
}

impl Nominator {
    /// Records (or updates, or clears) a pending pod's nomination.
    pub fn set(&mut self, pod: &Arc<PodInfo>) {
        self.remove(&pod.key);
        if let Some(node) = &pod.nominated_node {
            self.by_node.entry(node.clone()).or_default().push(pod.clone());
            self.by_pod.insert(pod.key.clone(), node.clone());
        }
    }

    pub fn remove(&mut self, key: &PodKey) {
        let Some(node) = self.by_pod.remove(key) else { return };
        if let Some(pods) = self.by_node.get_mut(&node) {
            pods.retain(|p| &p.key != key);
            if pods.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    pub fn pods_on<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Arc<PodInfo>> + 'a {
        self.by_node.get(node).into_iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }

    pub fn clear(&mut self) {
        self.by_node.clear();
        self.by_pod.clear();
    }
}
