//! TaintToleration: a node's NoSchedule and NoExecute taints keep off pods
//! that do not tolerate them (NotReady and unreachable nodes carry such
//! taints, which is how new pods avoid them); PreferNoSchedule taints only
//! lower a node's score.

use super::helper::default_normalize;
use crate::scheduler::framework::{
    ClusterEvent, CycleState, EnqueueExtensions, FilterPlugin, NodeInfo, Plugin, PodInfo, PreFilterPlugin, PreFilterResult, QueueingHint, ScorePlugin, Status,
};
use super::helper::filter_needed;
use crate::scheduler::snapshot::Snapshot;
use k8s_openapi::api::core::v1::{Taint, Toleration};

pub struct TaintToleration;

pub const NAME: &str = "TaintToleration";

/// Whether one toleration matches one taint (Kubernetes' `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key_ok = toleration.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key);
    let value_ok = match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    };
    effect_ok && key_ok && value_ok
}

/// The first NoSchedule or NoExecute taint of `node` no toleration matches.
pub fn untolerated_taint<'a>(node: &'a NodeInfo, tolerations: &[Toleration]) -> Option<&'a Taint> {
    if !node.has_filtering_taints {
        return None;
    }
    node.taints()
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for TaintToleration {
    /// Not in upstream: with no NoSchedule or NoExecute taint on any node,
    /// Filter could only pass, so it is skipped instead of asked for every node.
    fn pre_filter(&self, _: &mut CycleState, _: &PodInfo, snapshot: &Snapshot) -> Result<PreFilterResult, Status> {
        filter_needed(snapshot.has_nodes_with_filtering_taints())
    }
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        match untolerated_taint(node, pod.tolerations()) {
            Some(taint) => Err(Status::unresolvable(format!("node(s) had untolerated taint {{{}: {}}}", taint.key, taint.value.as_deref().unwrap_or("")))),
            None => Ok(()),
        }
    }
}

impl ScorePlugin for TaintToleration {
    /// How many PreferNoSchedule taints the pod does not tolerate (a
    /// toleration for another effect never matches one: see `tolerates`).
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        if !node.has_preference_taints {
            return 0;
        }
        let tolerations = pod.tolerations();
        node.taints().iter().filter(|t| t.effect == "PreferNoSchedule" && !tolerations.iter().any(|tol| tolerates(tol, t))).count() as i64
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, _: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(true, scores);
    }
}

impl EnqueueExtensions for TaintToleration {
    fn queueing_hint(&self, pod: &PodInfo, event: &ClusterEvent<'_>) -> QueueingHint {
        let fits = |node: &NodeInfo| untolerated_taint(node, pod.tolerations()).is_none();
        match event {
            ClusterEvent::NodeAdded(node) => fits(node).into(),
            ClusterEvent::NodeUpdated { old, new } => (!fits(old) && fits(new)).into(),
            _ => QueueingHint::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, score_all};
    use serde_json::json;

    #[test]
    fn filter_table() {
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
            let got = TaintToleration.filter(&CycleState::default(), &pod(spec.clone()), &node(n.clone())).map_err(|r| r.reasons[0].to_string());
            assert_eq!(got, want.map_err(String::from), "{spec} {n}");
        }
    }

    #[test]
    fn filter_is_skipped_while_no_node_has_a_filtering_taint() {
        use crate::scheduler::plugins::testing::snapshot;
        let p = pod(json!({"containers": []}));
        let skips = |cluster: &Snapshot| TaintToleration.pre_filter(&mut CycleState::default(), &p, cluster).is_err_and(|s| s.is_skip());
        let soft = json!({"metadata": {"name": "soft"}, "spec": {"taints": [{"key": "k", "effect": "PreferNoSchedule"}]}});
        let mut cluster = snapshot(&[(soft, vec![])]);
        assert!(skips(&cluster));
        let hard = json!({"metadata": {"name": "soft"}, "spec": {"taints": [{"key": "k", "effect": "NoExecute"}]}});
        cluster.upsert_node(node(hard).node);
        assert!(!skips(&cluster));
        cluster.remove_node("soft");
        assert!(skips(&cluster));
    }

    #[test]
    fn equal_operator_compares_values_and_unknown_operators_match_nothing() {
        let taint = Taint { key: "dedicated".into(), value: Some("gpu".into()), effect: "NoSchedule".into(), ..Default::default() };
        let t = |op: &str, v: &str| Toleration { key: Some("dedicated".into()), operator: Some(op.into()), value: Some(v.into()), effect: Some("NoSchedule".into()), ..Default::default() };
        assert!(tolerates(&t("Equal", "gpu"), &taint));
        assert!(!tolerates(&t("Equal", "cpu"), &taint));
        assert!(tolerates(&t("Exists", ""), &taint));
        assert!(!tolerates(&t("Gt", "gpu"), &taint));
    }

    #[test]
    fn prefer_no_schedule_taints_lower_the_score() {
        let taints = |n: usize| json!({"metadata": {"name": format!("n{n}")}, "spec": {"taints": (0..n).map(|i| json!({"key": format!("k{i}"), "effect": "PreferNoSchedule"})).collect::<Vec<_>>()}});
        let nodes = [node(taints(0)), node(taints(1)), node(taints(2))];
        let scores = score_all(&TaintToleration, None, &pod(json!({"containers": []})), &nodes);
        assert_eq!(scores, [100, 50, 0]);
        let tolerant = pod(json!({"containers": [], "tolerations": [{"key": "k0", "operator": "Exists", "effect": "PreferNoSchedule"}]}));
        assert_eq!(score_all(&TaintToleration, None, &tolerant, &nodes), [100, 100, 0]);
    }
}
