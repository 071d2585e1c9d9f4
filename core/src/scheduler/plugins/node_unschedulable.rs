//! NodeUnschedulable: a cordoned node takes no new pods, unless the pod
//! tolerates the `node.kubernetes.io/unschedulable` taint.

use crate::scheduler::framework::{FilterPlugin, NodeInfo, PodInfo, Rejection};

pub struct NodeUnschedulable;

pub const REASON: &str = "node(s) were unschedulable";

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
        let cordoned = node.node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
        let tolerated = pod.pod.spec.iter().flat_map(|s| s.tolerations.iter().flatten()).any(|t| {
            let key_ok = t.key.as_deref() == Some("node.kubernetes.io/unschedulable")
                || (t.key.as_deref().unwrap_or("").is_empty() && t.operator.as_deref() == Some("Exists"));
            key_ok && t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "NoSchedule")
        });
        if cordoned && !tolerated {
            Err(Rejection::unresolvable(REASON))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn table() {
        let tolerant = json!({"containers": [], "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]});
        let cases = [
            (json!({"containers": []}), json!({}), true),
            (json!({"containers": []}), json!({"spec": {"unschedulable": true}}), false),
            (tolerant, json!({"spec": {"unschedulable": true}}), true),
        ];
        for (spec, n, fits) in cases {
            assert_eq!(NodeUnschedulable.filter(&pod(spec.clone()), &node(n.clone(), Default::default())).is_ok(), fits, "{spec} {n}");
        }
    }
}
