//! Which nodes a pod's `nodeSelector` and node affinity terms select, after
//! component-helpers' `nodeaffinity` package: terms are ORed, the
//! requirements within a term ANDed; `Gt` and `Lt` compare integers;
//! `matchFields` can only name the node (`metadata.name`).

use crate::labels::Operator;
use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Test {
    /// In, NotIn, Exists, DoesNotExist: as label selectors have them.
    Set(Operator, Vec<String>),
    Gt(i64),
    Lt(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    test: Test,
}

impl LabelRequirement {
    fn parse(r: &NodeSelectorRequirement) -> Option<Self> {
        let values = r.values.clone().unwrap_or_default();
        let single_integer = || if values.len() == 1 { values[0].parse::<i64>().ok() } else { None };
        let test = match r.operator.as_str() {
            "Gt" => Test::Gt(single_integer()?),
            "Lt" => Test::Lt(single_integer()?),
            other => Test::Set(Operator::parse(other)?, values),
        };
        Some(LabelRequirement { key: r.key.clone(), test })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.test {
            Test::Set(operator, values) => operator.admits(value, values),
            Test::Gt(bound) => value.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v > *bound),
            Test::Lt(bound) => value.and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v < *bound),
        }
    }
}

/// `matchFields` on `metadata.name`, the only field Kubernetes allows.
#[derive(Clone, Debug, PartialEq, Eq)]
struct NameRequirement {
    not_in: bool,
    names: Vec<String>,
}

/// One node selector term, compiled. A term that did not parse (or names a
/// field other than `metadata.name`) matches no node, as upstream ignores
/// such terms' errors and treats them as not matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    labels: Vec<LabelRequirement>,
    names: Vec<NameRequirement>,
    valid: bool,
}

impl Term {
    pub fn parse(term: &NodeSelectorTerm) -> Self {
        let expressions = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        let labels: Option<Vec<LabelRequirement>> = expressions.iter().map(LabelRequirement::parse).collect();
        let names: Option<Vec<NameRequirement>> = fields
            .iter()
            .map(|f| match (f.key.as_str(), f.operator.as_str()) {
                ("metadata.name", "In") => Some(NameRequirement { not_in: false, names: f.values.clone().unwrap_or_default() }),
                ("metadata.name", "NotIn") => Some(NameRequirement { not_in: true, names: f.values.clone().unwrap_or_default() }),
                _ => None,
            })
            .collect();
        let valid = labels.is_some() && names.is_some() && !(expressions.is_empty() && fields.is_empty());
        Term { labels: labels.unwrap_or_default(), names: names.unwrap_or_default(), valid }
    }

    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.valid
            && self.labels.iter().all(|r| r.matches(labels))
            && self.names.iter().all(|r| r.names.iter().any(|n| n == node_name) != r.not_in)
    }

    /// The node names this term is limited to by `metadata.name In`, if any
    /// (NodeAffinity's PreFilter narrows the cycle to them).
    pub fn named_nodes(&self) -> Option<Vec<&str>> {
        let mut result: Option<Vec<&str>> = None;
        for r in self.names.iter().filter(|r| !r.not_in) {
            let names: Vec<&str> = r.names.iter().map(String::as_str).collect();
            result = Some(match result {
                None => names,
                Some(previous) => previous.into_iter().filter(|n| names.contains(n)).collect(),
            });
        }
        result
    }
}

/// A pod's hard node constraints: its `nodeSelector` and its required
/// node affinity terms, both of which a node must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequiredNodeAffinity {
    node_selector: Option<BTreeMap<String, String>>,
    terms: Option<Vec<Term>>,
}

impl RequiredNodeAffinity {
    pub fn of(pod: &Pod) -> Self {
        pod.spec.as_ref().map(Self::of_spec).unwrap_or_default()
    }

    /// The same of a pod spec (a DaemonSet's template, placing its pods).
    pub fn of_spec(spec: &PodSpec) -> Self {
        let node_selector = spec.node_selector.clone().filter(|s| !s.is_empty());
        let required = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()).and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref());
        let terms = required.map(|r| r.node_selector_terms.iter().map(Term::parse).collect());
        RequiredNodeAffinity { node_selector, terms }
    }

    pub fn is_empty(&self) -> bool {
        self.node_selector.is_none() && self.terms.is_none()
    }

    pub fn terms(&self) -> &[Term] {
        self.terms.as_deref().unwrap_or_default()
    }

    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        let selected = self.node_selector.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
        selected && self.terms.as_ref().is_none_or(|terms| terms.iter().any(|t| t.matches(node_name, labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn term(value: serde_json::Value) -> Term {
        Term::parse(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn operators_table() {
        let labels: BTreeMap<String, String> = [("zone", "a"), ("cores", "8"), ("disk", "ssd")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let expr = |key: &str, op: &str, values: &[&str]| json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]});
        let cases = [
            (expr("zone", "In", &["a", "b"]), true),
            (expr("zone", "In", &["b"]), false),
            (expr("zone", "NotIn", &["b"]), true),
            (expr("gpu", "NotIn", &["x"]), true),
            (json!({"matchExpressions": [{"key": "disk", "operator": "Exists"}]}), true),
            (json!({"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}), false),
            (expr("cores", "Gt", &["4"]), true),
            (expr("cores", "Gt", &["8"]), false),
            (expr("cores", "Lt", &["16"]), true),
            (expr("zone", "Gt", &["1"]), false),
            (expr("cores", "Gt", &["four"]), false),
            (expr("cores", "Bogus", &["1"]), false),
            (json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}), true),
            (json!({"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}), false),
            (json!({"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["n1"]}]}), false),
            (json!({}), false),
            (json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}], "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}), false),
        ];
        for (t, want) in cases {
            assert_eq!(term(t.clone()).matches("n1", &labels), want, "{t}");
        }
    }

    #[test]
    fn named_nodes_intersect_within_a_term() {
        let t = term(json!({"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a", "b"]},
            {"key": "metadata.name", "operator": "In", "values": ["b", "c"]}]}));
        assert_eq!(t.named_nodes(), Some(vec!["b"]));
        assert_eq!(term(json!({"matchExpressions": [{"key": "k", "operator": "Exists"}]})).named_nodes(), None);
    }
}
