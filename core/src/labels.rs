//! `metav1.LabelSelector` as controllers and validation use it: matching a
//! label map, and the string form (`app=web,tier in (a,b)`) that the scale
//! subresource and `kubectl` show.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// The set-based operators of label selectors (and of node selector
/// requirements, which add `Gt` and `Lt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl Operator {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "In" => Some(Operator::In),
            "NotIn" => Some(Operator::NotIn),
            "Exists" => Some(Operator::Exists),
            "DoesNotExist" => Some(Operator::DoesNotExist),
            _ => None,
        }
    }

    /// Whether a label's `value` (None: the object lacks it) satisfies
    /// `key <operator> values`.
    pub fn admits(self, value: Option<&String>, values: &[String]) -> bool {
        match self {
            Operator::In => value.is_some_and(|v| values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// Whether `labels` satisfy every matchLabels pair and every matchExpression.
/// An empty selector matches everything, as in Kubernetes; an unknown
/// operator matches nothing.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    pairs
        && selector.match_expressions.iter().flatten().all(|e| {
            Operator::parse(&e.operator).is_some_and(|operator| operator.admits(labels.get(&e.key), e.values.as_deref().unwrap_or_default()))
        })
}

/// The selector in the text form of `labelSelector=` query parameters.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = selector.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    terms.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn selectors_match_as_kubernetes_defines() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (LabelSelector::default(), true),
            (LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() }, true),
            (LabelSelector { match_labels: Some(labels(&[("app", "db")])), ..Default::default() }, false),
            (LabelSelector { match_expressions: Some(vec![expression("tier", "In", &["front", "back"])]), ..Default::default() }, true),
            (LabelSelector { match_expressions: Some(vec![expression("tier", "NotIn", &["front"])]), ..Default::default() }, false),
            (LabelSelector { match_expressions: Some(vec![expression("zone", "NotIn", &["a"])]), ..Default::default() }, true),
            (LabelSelector { match_expressions: Some(vec![expression("app", "Exists", &[])]), ..Default::default() }, true),
            (LabelSelector { match_expressions: Some(vec![expression("app", "DoesNotExist", &[])]), ..Default::default() }, false),
            (LabelSelector { match_expressions: Some(vec![expression("app", "Bogus", &[])]), ..Default::default() }, false),
        ];
        for (selector, want) in cases {
            assert_eq!(selector_matches(&selector, &web), want, "{selector:?}");
        }
    }

    #[test]
    fn selector_strings_parse_back_as_query_selectors() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![expression("tier", "In", &["a", "b"]), expression("canary", "DoesNotExist", &[])]),
        };
        let text = selector_string(&selector);
        assert_eq!(text, "app=web,tier in (a,b),!canary");
        let parsed = crate::apiserver::selectors::LabelSelector::parse(&text).unwrap();
        let object = serde_json::json!({"metadata": {"labels": {"app": "web", "tier": "b"}}});
        assert!(parsed.matches(&object));
    }
}
