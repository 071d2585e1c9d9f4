//! TaintToleration: a node's NoSchedule and NoExecute taints keep off pods
//! that do not tolerate them. (NotReady and unreachable nodes carry such
//! taints, which is how the scheduler avoids them.)

use crate::scheduler::framework::{FilterPlugin, NodeInfo, PodInfo, Rejection};
use k8s_openapi::api::core::v1::{Taint, Toleration};

pub struct TaintToleration;

/// Whether one toleration matches one taint (Kubernetes' ToleratesTaint).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = toleration.key.as_deref().unwrap_or("");
    let key_ok = key.is_empty() || key == taint.key;
    let value_ok = match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        _ => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
    };
    effect_ok && key_ok && value_ok && (!key.is_empty() || toleration.operator.as_deref() == Some("Exists"))
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
        let tolerations: Vec<&Toleration> = pod.pod.spec.iter().flat_map(|s| s.tolerations.iter().flatten()).collect();
        let untolerated = node
            .node
            .spec
            .iter()
            .flat_map(|s| s.taints.iter().flatten())
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)));
        match untolerated {
            Some(taint) => Err(Rejection::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            ))),
            None => Ok(()),
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
        let tainted = json!({"spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]}});
        let soft = json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "PreferNoSchedule"}]}});
        let cases = [
            (json!({"containers": []}), json!({}), Ok(())),
            (json!({"containers": []}), tainted.clone(), Err("node(s) had untolerated taint {node.kubernetes.io/unreachable: }")),
            (json!({"containers": [], "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]}), tainted.clone(), Ok(())),
            (json!({"containers": [], "tolerations": [{"operator": "Exists"}]}), tainted.clone(), Ok(())),
            (json!({"containers": [], "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]}), tainted, Err("node(s) had untolerated taint {node.kubernetes.io/unreachable: }")),
            (json!({"containers": []}), soft, Ok(())),
        ];
        for (spec, n, want) in cases {
            let got = TaintToleration.filter(&pod(spec.clone()), &node(n.clone(), Default::default())).map_err(|r| r.reasons[0].clone());
            assert_eq!(got, want.map_err(String::from), "{spec} {n}");
        }
    }

    #[test]
    fn equal_operator_compares_values() {
        let taint = Taint { key: "dedicated".into(), value: Some("gpu".into()), effect: "NoSchedule".into(), ..Default::default() };
        let t = |v: &str| Toleration { key: Some("dedicated".into()), value: Some(v.into()), effect: Some("NoSchedule".into()), ..Default::default() };
        assert!(tolerates(&t("gpu"), &taint));
        assert!(!tolerates(&t("cpu"), &taint));
    }
}
