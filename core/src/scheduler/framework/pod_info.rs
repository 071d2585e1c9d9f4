//! PodInfo: a pod with what every cycle needs of it parsed once (requests,
//! priority, affinity terms with their selectors compiled, images), after
//! kube-scheduler's `framework.PodInfo`. Pods already on nodes are kept in
//! this form too, so matching them against a new pod's terms reads no JSON.

use super::resources::{NonZero, Resources};
use crate::scheduler::label_selector::{Operator, Selector, NO_LABELS};
use crate::scheduler::node_selector::RequiredNodeAffinity;
use crate::scheduler::PodKey;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, Toleration, WeightedPodAffinityTerm};
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A pod (anti-)affinity term, compiled: which pods it selects and over
/// which topology. Namespaces: those listed, plus those the namespace
/// selector picks; neither given means the pod's own namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    pub namespaces: BTreeSet<String>,
    pub namespace_selector: Selector,
    pub selector: Selector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn parse(owner: &Pod, term: &PodAffinityTerm) -> Self {
        let own_labels = owner.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(owner.metadata.namespace.clone().unwrap_or_default());
        }
        let selector = Selector::from_api(term.label_selector.as_ref())
            .with_pod_label_keys(term.match_label_keys.as_deref().unwrap_or_default(), own_labels, Operator::In)
            .with_pod_label_keys(term.mismatch_label_keys.as_deref().unwrap_or_default(), own_labels, Operator::NotIn);
        AffinityTerm {
            namespaces,
            namespace_selector: Selector::from_api(term.namespace_selector.as_ref()),
            selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` is one this term selects, given its namespace's labels.
    pub fn matches(&self, pod: &PodInfo, namespace_labels: &BTreeMap<String, String>) -> bool {
        (self.namespaces.contains(pod.namespace()) || self.namespace_selector.matches(namespace_labels)) && self.selector.matches(pod.labels())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    pub term: AffinityTerm,
    pub weight: i64,
}

#[derive(Clone, Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub key: PodKey,
    pub priority: i32,
    /// `preemptionPolicy: Never`: the pod waits rather than evicting others.
    pub never_preempts: bool,
    pub requests: Resources,
    pub non_zero: NonZero,
    pub required_node_affinity: RequiredNodeAffinity,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// Container images, normalised as ImageLocality compares them (`:latest` added).
    pub images: Vec<String>,
    /// Marked for deletion: it still holds its node's resources, but no
    /// longer counts for spreading.
    pub terminating: bool,
    /// When it started running (preemption prefers evicting younger pods).
    pub start_time: Option<Timestamp>,
    /// `status.nominatedNodeName`: where preemption made room for it.
    pub nominated_node: Option<String>,
    /// Preempted by the scheduler and on its way out (DisruptionTarget).
    pub preempted: bool,
}

fn terms(pod: &Pod, terms: Option<&Vec<PodAffinityTerm>>) -> Vec<AffinityTerm> {
    terms.into_iter().flatten().map(|t| AffinityTerm::parse(pod, t)).collect()
}

fn weighted(pod: &Pod, terms: Option<&Vec<WeightedPodAffinityTerm>>) -> Vec<WeightedAffinityTerm> {
    terms
        .into_iter()
        .flatten()
        .map(|t| WeightedAffinityTerm { term: AffinityTerm::parse(pod, &t.pod_affinity_term), weight: i64::from(t.weight) })
        .collect()
}

/// ImageLocality's `normalizedImageName`: an image without a tag is `:latest`.
pub fn normalized_image_name(name: &str) -> String {
    let last = |c: char| name.rfind(c).map_or(-1, |i| i as isize);
    if last(':') <= last('/') {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let (requests, non_zero) = Resources::requested_by(&pod);
        let spec = pod.spec.as_ref();
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pod_affinity = affinity.and_then(|a| a.pod_affinity.as_ref());
        let anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let status = pod.status.as_ref();
        let preempted = status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
            cs.iter().any(|c| c.type_ == "DisruptionTarget" && c.status == "True" && c.reason.as_deref() == Some("PreemptionByScheduler"))
        });
        PodInfo {
            key: (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default()),
            priority: spec.and_then(|s| s.priority).unwrap_or(0),
            never_preempts: spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never"),
            requests,
            non_zero,
            required_node_affinity: RequiredNodeAffinity::of(&pod),
            required_affinity: terms(&pod, pod_affinity.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            required_anti_affinity: terms(&pod, anti.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            preferred_affinity: weighted(&pod, pod_affinity.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())),
            preferred_anti_affinity: weighted(&pod, anti.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())),
            images: spec.iter().flat_map(|s| &s.containers).filter_map(|c| c.image.as_deref()).map(normalized_image_name).collect(),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            start_time: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            nominated_node: status.and_then(|s| s.nominated_node_name.clone()).filter(|n| !n.is_empty()),
            preempted,
            pod,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.key.0
    }

    pub fn name(&self) -> &str {
        &self.key.1
    }

    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or("")
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    pub fn tolerations(&self) -> &[Toleration] {
        self.pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default()
    }

    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty() && self.required_anti_affinity.is_empty() && self.preferred_affinity.is_empty() && self.preferred_anti_affinity.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_names_are_normalised_as_image_locality_compares_them() {
        for (name, want) in [("hello", "hello:latest"), ("hello:1.0", "hello:1.0"), ("registry:5000/app", "registry:5000/app:latest"), ("app@sha256:00", "app@sha256:00")] {
            assert_eq!(normalized_image_name(name), want);
        }
    }

    #[test]
    fn affinity_terms_default_to_the_pods_namespace_and_merge_match_label_keys() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "team", "labels": {"app": "web", "rev": "2"}},
            "spec": {"containers": [], "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["rev"], "topologyKey": "kubernetes.io/hostname"},
                {"labelSelector": {}, "namespaceSelector": {}, "topologyKey": "zone"}]}}}}))
        .unwrap();
        let info = PodInfo::new(Arc::new(pod));
        let [same_ns, every_ns] = &info.required_anti_affinity[..] else { panic!() };
        assert_eq!(same_ns.namespaces, BTreeSet::from(["team".to_string()]));
        assert_eq!(same_ns.namespace_selector, Selector::Nothing);
        let other = |ns: &str, rev: &str| {
            let p: Pod = serde_json::from_value(json!({"metadata": {"name": "o", "namespace": ns, "labels": {"app": "web", "rev": rev}}})).unwrap();
            PodInfo::new(Arc::new(p))
        };
        assert!(same_ns.matches(&other("team", "2"), &NO_LABELS));
        assert!(!same_ns.matches(&other("team", "1"), &NO_LABELS), "matchLabelKeys narrows to the same revision");
        assert!(!same_ns.matches(&other("elsewhere", "2"), &NO_LABELS));
        assert!(every_ns.matches(&other("elsewhere", "1"), &NO_LABELS));
    }
}
