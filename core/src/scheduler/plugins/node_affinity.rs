//! NodeAffinity: `spec.nodeSelector` labels must all be on the node.
//! (Required and preferred affinity terms are refused at admission until
//! this plugin evaluates them.)

use crate::scheduler::framework::{FilterPlugin, NodeInfo, PodInfo, Rejection};

pub struct NodeAffinity;

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
        let labels = node.node.metadata.labels.as_ref();
        let fits = pod
            .pod
            .spec
            .iter()
            .flat_map(|s| s.node_selector.iter().flatten())
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if fits {
            Ok(())
        } else {
            Err(Rejection::unresolvable(REASON))
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
        let labelled = json!({"metadata": {"name": "n1", "labels": {"tabernetes.io/runtime": "browser", "zone": "a"}}});
        let cases = [
            (json!({"containers": []}), true),
            (json!({"containers": [], "nodeSelector": {"tabernetes.io/runtime": "browser"}}), true),
            (json!({"containers": [], "nodeSelector": {"tabernetes.io/runtime": "browser", "zone": "a"}}), true),
            (json!({"containers": [], "nodeSelector": {"tabernetes.io/runtime": "wasmtime"}}), false),
            (json!({"containers": [], "nodeSelector": {"disk": "ssd"}}), false),
        ];
        for (spec, fits) in cases {
            assert_eq!(NodeAffinity.filter(&pod(spec.clone()), &node(labelled.clone(), Default::default())).is_ok(), fits, "{spec}");
        }
    }
}
