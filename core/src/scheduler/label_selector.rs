//! A `metav1.LabelSelector` compiled once per pod for the many matches a
//! scheduling cycle makes (every existing pod on every node, for spreading
//! and affinity), after apimachinery's `labels.Selector`.
//!
//! Kubernetes distinguishes a missing selector, which selects nothing
//! (`labels.Nothing()`), from an empty one, which selects everything.

pub use crate::labels::Operator;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.operator.admits(labels.get(&self.key), &self.values)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Selects no object (a missing selector, or one that did not parse).
    Nothing,
    /// Selects objects meeting every requirement (none: everything).
    All(Vec<Requirement>),
}

impl Selector {
    /// `metav1.LabelSelectorAsSelector`: None selects nothing; an operator
    /// validation would have refused also selects nothing.
    pub fn from_api(selector: Option<&LabelSelector>) -> Self {
        let Some(selector) = selector else { return Selector::Nothing };
        let mut requirements: Vec<Requirement> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement { key: k.clone(), operator: Operator::In, values: vec![v.clone()] })
            .collect();
        for e in selector.match_expressions.iter().flatten() {
            let Some(operator) = Operator::parse(&e.operator) else { return Selector::Nothing };
            requirements.push(Requirement { key: e.key.clone(), operator, values: e.values.clone().unwrap_or_default() });
        }
        Selector::All(requirements)
    }

    /// Adds `key In (value)` for each of `keys` the pod has (matchLabelKeys),
    /// or `key NotIn (value)` (mismatchLabelKeys): the pod's own values
    /// narrow the selector to its revision or group.
    pub fn with_pod_label_keys(mut self, keys: &[String], pod_labels: &BTreeMap<String, String>, operator: Operator) -> Self {
        if let Selector::All(requirements) = &mut self {
            for key in keys {
                if let Some(value) = pod_labels.get(key) {
                    requirements.push(Requirement { key: key.clone(), operator, values: vec![value.clone()] });
                }
            }
        }
        self
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(requirements) => requirements.iter().all(|r| r.matches(labels)),
        }
    }
}

/// Labels of an object that has none.
pub static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn table() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (None, false),
            (Some(json!({})), true),
            (Some(json!({"matchLabels": {"app": "web"}})), true),
            (Some(json!({"matchLabels": {"app": "db"}})), false),
            (Some(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]})), true),
            (Some(json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]})), true),
            (Some(json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]})), false),
            (Some(json!({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]})), false),
        ];
        for (selector, want) in cases {
            let parsed: Option<LabelSelector> = selector.clone().map(|s| serde_json::from_value(s).unwrap());
            assert_eq!(Selector::from_api(parsed.as_ref()).matches(&web), want, "{selector:?}");
        }
    }

    #[test]
    fn match_label_keys_narrow_to_the_pods_own_values() {
        let selector = Selector::All(Vec::new()).with_pod_label_keys(&["pod-template-hash".into(), "absent".into()], &labels(&[("pod-template-hash", "v1")]), Operator::In);
        assert!(selector.matches(&labels(&[("pod-template-hash", "v1")])));
        assert!(!selector.matches(&labels(&[("pod-template-hash", "v2")])));
        let mismatch = Selector::All(Vec::new()).with_pod_label_keys(&["tenant".into()], &labels(&[("tenant", "a")]), Operator::NotIn);
        assert!(!mismatch.matches(&labels(&[("tenant", "a")])));
        assert!(mismatch.matches(&labels(&[("tenant", "b")])));
    }
}
