//! NodeName: a pod that names its node fits only there.

use crate::scheduler::framework::{FilterPlugin, NodeInfo, PodInfo, Rejection};

pub struct NodeName;

pub const REASON: &str = "node(s) didn't match the requested node name";

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
        match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
            Some(wanted) if wanted != node.name() => Err(Rejection::unresolvable(REASON)),
            _ => Ok(()),
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
        let cases = [(json!({"containers": []}), true), (json!({"containers": [], "nodeName": "n1"}), true), (json!({"containers": [], "nodeName": "n2"}), false)];
        for (spec, fits) in cases {
            let result = NodeName.filter(&pod(spec.clone()), &node(json!({}), Default::default()));
            assert_eq!(result.is_ok(), fits, "{spec}");
        }
    }
}
