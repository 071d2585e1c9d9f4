//! Which nodes a DaemonSet's pod belongs on, after upstream's
//! NodeShouldRunDaemonPod: the template's `nodeName`, `nodeSelector` and
//! required node affinity must match the node, and its taints must be
//! tolerated. A daemon pod already running stays on a node whose NoSchedule
//! taints it does not tolerate, and only goes for a NoExecute one.
//!
//! Daemon pods tolerate what makes a node unfit for ordinary pods (not
//! ready, unreachable, under pressure, cordoned): a DaemonSet is how a
//! cluster runs its node agents, which must keep running there.

use crate::json_path::JsonPath;
use crate::object_meta::{labels, name};
use crate::scheduler::node_selector::RequiredNodeAffinity;
use crate::scheduler::plugins::taint_toleration::tolerates;
use k8s_openapi::api::core::v1::{PodSpec, Taint, Toleration};
use serde::Deserialize;
use serde_json::Value;

/// The tolerations every daemon pod gets (upstream's AddOrUpdateDaemonPodTolerations).
const DAEMON_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Adds the daemon tolerations a pod spec does not have yet (and, for host
/// networking, network-unavailable). Without tolerationSeconds: forever.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let network = spec.host_network == Some(true);
    let wanted = DAEMON_TOLERATIONS.iter().copied().chain(network.then_some(("node.kubernetes.io/network-unavailable", "NoSchedule")));
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        tolerations.retain(|t| !(t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect)));
        tolerations.push(Toleration { key: Some(key.into()), operator: Some("Exists".into()), effect: Some(effect.into()), ..Default::default() });
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// A daemon pod should be started on the node.
    pub should_run: bool,
    /// A daemon pod already there may stay.
    pub should_continue_running: bool,
}

/// A daemon pod's spec (tolerations added), compiled once per sync and
/// matched against each node. The node selector and required node affinity
/// are matched as the scheduler matches them (`scheduler::node_selector`).
pub struct DaemonFit<'a> {
    spec: &'a PodSpec,
    affinity: RequiredNodeAffinity,
}

impl<'a> DaemonFit<'a> {
    pub fn new(spec: &'a PodSpec) -> Self {
        DaemonFit { spec, affinity: RequiredNodeAffinity::of_spec(spec) }
    }

    /// Where the daemon pod may run, on a stored Node (only its name,
    /// labels and taints are read).
    pub fn placement(&self, node: &Value) -> Placement {
        let node_name = name(node);
        let nowhere = Placement { should_run: false, should_continue_running: false };
        if self.spec.node_name.as_deref().is_some_and(|n| !n.is_empty() && n != node_name) || !self.affinity.matches(node_name, &labels(node)) {
            return nowhere;
        }
        let taints = node.at(&["spec", "taints"]).and_then(|t| Vec::<Taint>::deserialize(t).ok()).unwrap_or_default();
        let tolerations = self.spec.tolerations.as_deref().unwrap_or_default();
        let untolerated = |effects: &[&str]| -> bool {
            taints.iter().filter(|t| effects.contains(&t.effect.as_str())).any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
        };
        if untolerated(&["NoSchedule", "NoExecute"]) {
            return Placement { should_run: false, should_continue_running: !untolerated(&["NoExecute"]) };
        }
        Placement { should_run: true, should_continue_running: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: serde_json::Value, taints: serde_json::Value) -> Value {
        json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints}})
    }

    fn spec(extra: serde_json::Value) -> PodSpec {
        let mut base = json!({"containers": [{"name": "c", "image": "i"}]});
        for (key, value) in extra.as_object().unwrap() {
            base[key] = value.clone();
        }
        let mut spec: PodSpec = serde_json::from_value(base).unwrap();
        add_daemon_tolerations(&mut spec);
        spec
    }

    #[test]
    fn table() {
        let (run, stay, away) = ((true, true), (false, true), (false, false));
        let taint = |key: &str, effect: &str| json!([{"key": key, "effect": effect}]);
        let affinity = |op: &str, values: Vec<&str>| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": op, "values": values}]}]}}}});
        let pinned = |n: &str| json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [n]}]}]}}}});
        // (pod spec, node labels, node taints, (should run, should continue running))
        let cases = [
            (json!({}), json!({}), json!([]), run),
            (json!({"nodeSelector": {"disk": "ssd"}}), json!({"disk": "ssd"}), json!([]), run),
            (json!({"nodeSelector": {"disk": "ssd"}}), json!({"disk": "hdd"}), json!([]), away),
            (json!({"nodeName": "n2"}), json!({}), json!([]), away),
            (affinity("In", vec!["ssd"]), json!({"disk": "ssd"}), json!([]), run),
            (affinity("NotIn", vec!["ssd"]), json!({"disk": "ssd"}), json!([]), away),
            (pinned("n1"), json!({}), json!([]), run),
            (pinned("n2"), json!({}), json!([]), away),
            // Daemon pods tolerate an unready, unreachable or cordoned node.
            (json!({}), json!({}), taint("node.kubernetes.io/unreachable", "NoExecute"), run),
            (json!({}), json!({}), taint("node.kubernetes.io/unschedulable", "NoSchedule"), run),
            // Others: a NoSchedule taint only keeps new ones off; NoExecute evicts.
            (json!({}), json!({}), taint("dedicated", "NoSchedule"), stay),
            (json!({}), json!({}), taint("dedicated", "NoExecute"), away),
            (json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]}), json!({}), taint("dedicated", "NoExecute"), run),
        ];
        for (extra, labels, taints, (should_run, should_continue_running)) in cases {
            let spec = spec(extra.clone());
            let got = DaemonFit::new(&spec).placement(&node(labels.clone(), taints.clone()));
            assert_eq!(got, Placement { should_run, should_continue_running }, "{extra} on {labels} {taints}");
        }
    }
}
