//! Validation of a pod's scheduling constraints, as Kubernetes validates
//! them (`validateAffinity`, `validateTopologySpreadConstraints`), with its
//! field paths and messages: node affinity (node selector terms, every
//! operator, `matchFields`), pod (anti-)affinity terms and their selectors,
//! and topology spread constraints.

use crate::apiserver::status::FieldError;
use crate::validation::{dns_subdomain_errors, label_key_errors, label_value_errors};
use k8s_openapi::api::core::v1::{
    Affinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, PreferredSchedulingTerm, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeSet;

/// `field.Required` with a detail, as upstream words it.
fn required(field: String, detail: &str) -> FieldError {
    FieldError { message: format!("Required value: {detail}"), ..FieldError::required(field) }
}

/// `ValidateLabelName`: a qualified name, with an optional DNS prefix.
fn label_name(key: &str, field: &str, errors: &mut Vec<FieldError>) {
    errors.extend(label_key_errors(key).into_iter().map(|e| FieldError::invalid(field, key, e)));
}

/// `ValidateLabelSelector` (selector values must be valid label values).
fn label_selector(selector: Option<&LabelSelector>, at: &str, errors: &mut Vec<FieldError>) {
    let Some(selector) = selector else { return };
    for (k, v) in selector.match_labels.iter().flatten() {
        label_name(k, &format!("{at}.matchLabels"), errors);
        errors.extend(label_value_errors(v).into_iter().map(|e| FieldError::invalid(format!("{at}.matchLabels"), v, e)));
    }
    for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
        let at = format!("{at}.matchExpressions[{i}]");
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errors.push(required(format!("{at}.values"), "must be specified when `operator` is 'In' or 'NotIn'")),
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errors.push(FieldError::forbidden(format!("{at}.values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(FieldError::invalid(format!("{at}.operator"), other, "not a valid selector operator")),
        }
        label_name(&e.key, &format!("{at}.key"), errors);
        for (j, v) in values.iter().enumerate() {
            errors.extend(label_value_errors(v).into_iter().map(|m| FieldError::invalid(format!("{at}.values[{j}]"), v, m)));
        }
    }
}

/// `ValidateNodeSelectorRequirement`.
fn node_selector_requirement(r: &NodeSelectorRequirement, check_values: bool, at: &str, errors: &mut Vec<FieldError>) {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" | "NotIn" if values.is_empty() => errors.push(required(format!("{at}.values"), "must be specified when `operator` is 'In' or 'NotIn'")),
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            errors.push(FieldError::forbidden(format!("{at}.values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        }
        "Gt" | "Lt" if values.len() != 1 => errors.push(required(format!("{at}.values"), "must be specified single value when `operator` is 'Lt' or 'Gt'")),
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        other => errors.push(FieldError::invalid(format!("{at}.operator"), other, "not a valid selector operator")),
    }
    label_name(&r.key, &format!("{at}.key"), errors);
    if check_values {
        for (i, v) in values.iter().enumerate() {
            errors.extend(label_value_errors(v).into_iter().map(|m| FieldError::invalid(format!("{at}.values[{i}]"), v, m)));
        }
    }
}

/// `ValidateNodeFieldSelectorRequirement`: only `metadata.name`, one value.
fn node_field_requirement(r: &NodeSelectorRequirement, at: &str, errors: &mut Vec<FieldError>) {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" | "NotIn" if values.len() != 1 => {
            errors.push(required(format!("{at}.values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
        }
        "In" | "NotIn" => {}
        other => errors.push(FieldError::invalid(format!("{at}.operator"), other, "not a valid selector operator")),
    }
    if r.key != "metadata.name" {
        errors.push(FieldError::invalid(format!("{at}.key"), &r.key, "not a valid field selector key"));
    } else {
        for (i, v) in values.iter().enumerate() {
            errors.extend(dns_subdomain_errors(v).into_iter().map(|m| FieldError::invalid(format!("{at}.values[{i}]"), v, m)));
        }
    }
}

fn node_selector_term(term: &NodeSelectorTerm, check_values: bool, at: &str, errors: &mut Vec<FieldError>) {
    for (j, r) in term.match_expressions.iter().flatten().enumerate() {
        node_selector_requirement(r, check_values, &format!("{at}.matchExpressions[{j}]"), errors);
    }
    for (j, r) in term.match_fields.iter().flatten().enumerate() {
        node_field_requirement(r, &format!("{at}.matchFields[{j}]"), errors);
    }
}

fn node_selector(selector: &NodeSelector, at: &str, errors: &mut Vec<FieldError>) {
    let at = format!("{at}.nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        errors.push(required(at, "must have at least one node selector term"));
        return;
    }
    for (i, term) in selector.node_selector_terms.iter().enumerate() {
        node_selector_term(term, true, &format!("{at}[{i}]"), errors);
    }
}

fn weight(weight: i32, at: &str, errors: &mut Vec<FieldError>) {
    if !(1..=100).contains(&weight) {
        errors.push(FieldError::invalid(format!("{at}.weight"), weight, "must be in the range 1-100"));
    }
}

fn preferred_scheduling_terms(terms: &[PreferredSchedulingTerm], at: &str, errors: &mut Vec<FieldError>) {
    for (i, term) in terms.iter().enumerate() {
        let at = format!("{at}[{i}]");
        weight(term.weight, &at, errors);
        // Invalid label values are allowed in preferences: they just never match.
        node_selector_term(&term.preference, false, &format!("{at}.preference"), errors);
    }
}

/// `validateLabelKeys` for match/mismatchLabelKeys, and their overlaps.
fn label_keys(term: &PodAffinityTerm, at: &str, errors: &mut Vec<FieldError>) {
    for (field, keys) in [("matchLabelKeys", &term.match_label_keys), ("mismatchLabelKeys", &term.mismatch_label_keys)] {
        let keys = keys.as_deref().unwrap_or_default();
        if keys.is_empty() {
            continue;
        }
        if term.label_selector.is_none() {
            errors.push(FieldError::forbidden(format!("{at}.{field}"), "must not be specified when labelSelector is not set"));
            continue;
        }
        for (i, key) in keys.iter().enumerate() {
            label_name(key, &format!("{at}.{field}[{i}]"), errors);
        }
    }
    let mismatch: BTreeSet<&String> = term.mismatch_label_keys.iter().flatten().collect();
    for (i, key) in term.match_label_keys.iter().flatten().enumerate() {
        if mismatch.contains(key) {
            errors.push(FieldError::invalid(format!("{at}.matchLabelKeys[{i}]"), key, "exists in both matchLabelKeys and mismatchLabelKeys"));
        }
    }
}

fn pod_affinity_term(term: &PodAffinityTerm, at: &str, errors: &mut Vec<FieldError>) {
    label_selector(term.label_selector.as_ref(), &format!("{at}.labelSelector"), errors);
    label_selector(term.namespace_selector.as_ref(), &format!("{at}.namespaceSelector"), errors);
    for name in term.namespaces.iter().flatten() {
        // Upstream reports these under `namespace`, singular.
        errors.extend(crate::validation::dns_label_errors(name).into_iter().map(|m| FieldError::invalid(format!("{at}.namespace"), name, m)));
    }
    label_keys(term, at, errors);
    if term.topology_key.is_empty() {
        errors.push(required(format!("{at}.topologyKey"), "can not be empty"));
    }
    label_name(&term.topology_key, &format!("{at}.topologyKey"), errors);
}

fn pod_affinity_terms(required: Option<&Vec<PodAffinityTerm>>, preferred: Option<&Vec<WeightedPodAffinityTerm>>, at: &str, errors: &mut Vec<FieldError>) {
    for (i, term) in required.into_iter().flatten().enumerate() {
        pod_affinity_term(term, &format!("{at}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"), errors);
    }
    for (i, term) in preferred.into_iter().flatten().enumerate() {
        let at = format!("{at}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
        weight(term.weight, &at, errors);
        pod_affinity_term(&term.pod_affinity_term, &format!("{at}.podAffinityTerm"), errors);
    }
}

/// `validateAffinity`, under `spec.affinity`.
pub fn validate_affinity(affinity: &Affinity) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(node) = &affinity.node_affinity {
        let at = "spec.affinity.nodeAffinity";
        if let Some(required) = &node.required_during_scheduling_ignored_during_execution {
            node_selector(required, &format!("{at}.requiredDuringSchedulingIgnoredDuringExecution"), &mut errors);
        }
        preferred_scheduling_terms(node.preferred_during_scheduling_ignored_during_execution.as_deref().unwrap_or_default(), &format!("{at}.preferredDuringSchedulingIgnoredDuringExecution"), &mut errors);
    }
    if let Some(a) = &affinity.pod_affinity {
        let (required, preferred) = (a.required_during_scheduling_ignored_during_execution.as_ref(), a.preferred_during_scheduling_ignored_during_execution.as_ref());
        pod_affinity_terms(required, preferred, "spec.affinity.podAffinity", &mut errors);
    }
    if let Some(a) = &affinity.pod_anti_affinity {
        let (required, preferred) = (a.required_during_scheduling_ignored_during_execution.as_ref(), a.preferred_during_scheduling_ignored_during_execution.as_ref());
        pod_affinity_terms(required, preferred, "spec.affinity.podAntiAffinity", &mut errors);
    }
    errors
}

/// `validateTopologySpreadConstraints`, under `spec.topologySpreadConstraints`.
pub fn validate_topology_spread_constraints(constraints: &[TopologySpreadConstraint]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let at = format!("spec.topologySpreadConstraints[{i}]");
        if c.max_skew <= 0 {
            errors.push(FieldError::invalid(format!("{at}.maxSkew"), c.max_skew, "must be greater than zero"));
        }
        if c.topology_key.is_empty() {
            errors.push(required(format!("{at}.topologyKey"), "can not be empty"));
        }
        let actions = ["DoNotSchedule", "ScheduleAnyway"];
        if !actions.contains(&c.when_unsatisfiable.as_str()) {
            errors.push(FieldError::not_supported(format!("{at}.whenUnsatisfiable"), &c.when_unsatisfiable, &actions));
        }
        // {topologyKey, whenUnsatisfiable} names one kind of constraint.
        if constraints[i + 1..].iter().any(|o| o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable) {
            errors.push(FieldError::duplicate(format!("{at}.{{topologyKey, whenUnsatisfiable}}"), format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable)));
        }
        if let Some(min) = c.min_domains {
            if min <= 0 {
                errors.push(FieldError::invalid(format!("{at}.minDomains"), min, "must be greater than zero"));
            }
            if c.when_unsatisfiable != "DoNotSchedule" {
                errors.push(FieldError::invalid(format!("{at}.minDomains"), min, format!("can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {}", c.when_unsatisfiable)));
            }
        }
        for (field, policy) in [("nodeAffinityPolicy", &c.node_affinity_policy), ("nodeTaintsPolicy", &c.node_taints_policy)] {
            if let Some(p) = policy.as_deref().filter(|p| !["Honor", "Ignore"].contains(p)) {
                errors.push(FieldError::not_supported(format!("{at}.{field}"), p, &["Honor", "Ignore"]));
            }
        }
        let keys = c.match_label_keys.as_deref().unwrap_or_default();
        if !keys.is_empty() {
            let selector_keys: BTreeSet<&String> = match &c.label_selector {
                Some(s) => s.match_labels.iter().flat_map(|m| m.keys()).chain(s.match_expressions.iter().flatten().map(|e| &e.key)).collect(),
                None => {
                    errors.push(FieldError::forbidden(format!("{at}.matchLabelKeys"), "must not be specified when labelSelector is not set"));
                    BTreeSet::new()
                }
            };
            for (j, key) in keys.iter().enumerate() {
                label_name(key, &format!("{at}.matchLabelKeys[{j}]"), &mut errors);
                if selector_keys.contains(key) {
                    errors.push(FieldError::invalid(format!("{at}.matchLabelKeys[{j}]"), key, "exists in both matchLabelKeys and labelSelector"));
                }
            }
        }
        label_selector(c.label_selector.as_ref(), &format!("{at}.labelSelector"), &mut errors);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Each case: the field, and the (field path, message start) of every error wanted.
    fn check<T: serde::de::DeserializeOwned>(validate: impl Fn(&T) -> Vec<FieldError>, cases: Vec<(Value, Vec<(String, &str)>)>) {
        for (value, want) in cases {
            let typed: T = serde_json::from_value(value.clone()).unwrap();
            let got: Vec<(String, String)> = validate(&typed).into_iter().map(|e| (e.field, e.message)).collect();
            assert_eq!(got.len(), want.len(), "{value}: {got:#?}");
            for ((field, message), (want_field, want_message)) in got.iter().zip(&want) {
                assert_eq!(field, want_field, "{value}");
                assert!(message.starts_with(want_message), "{value}: {message} should start with {want_message}");
            }
        }
    }

    #[test]
    fn affinity_table() {
        let required = |terms: Value| json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}});
        let na = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
        let cases: Vec<(Value, Vec<(String, &str)>)> = vec![
            (required(json!([{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "cores", "operator": "Gt", "values": ["4"]}]}])), vec![]),
            (required(json!([])), vec![(na.to_string(), "Required value: must have at least one node selector term")]),
            (required(json!([{"matchExpressions": [{"key": "zone", "operator": "In"}]}])), vec![(format!("{na}[0].matchExpressions[0].values"), "Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
            (required(json!([{"matchExpressions": [{"key": "zone", "operator": "Exists", "values": ["a"]}]}])), vec![(format!("{na}[0].matchExpressions[0].values"), "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")]),
            (required(json!([{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["1", "2"]}]}])), vec![(format!("{na}[0].matchExpressions[0].values"), "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'")]),
            (required(json!([{"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}])), vec![(format!("{na}[0].matchExpressions[0].operator"), "Invalid value: \"Near\": not a valid selector operator")]),
            (required(json!([{"matchFields": [{"key": "metadata.uid", "operator": "In", "values": ["x"]}]}])), vec![(format!("{na}[0].matchFields[0].key"), "Invalid value: \"metadata.uid\": not a valid field selector key")]),
            (required(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]}])), vec![(format!("{na}[0].matchFields[0].values"), "Required value: must be only one value")]),
            (json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["not valid!"]}]}}]}}), vec![("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight".to_string(), "Invalid value: \"0\": must be in the range 1-100")]),
            (json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": ""}]}}), vec![
                ("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey".to_string(), "Required value: can not be empty"),
                ("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey".to_string(), "Invalid value"),
            ]),
            (json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 101, "podAffinityTerm": {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}, "namespaces": ["Bad_NS"], "topologyKey": "zone"}}]}}), vec![
                ("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight".to_string(), "Invalid value: \"101\""),
                ("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchExpressions[0].values".to_string(), "Required value"),
                ("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.namespace".to_string(), "Invalid value: \"Bad_NS\""),
            ]),
            (json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"matchLabelKeys": ["rev"], "topologyKey": "zone"}]}}), vec![("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys".to_string(), "Forbidden: must not be specified when labelSelector is not set")]),
        ];
        check(validate_affinity, cases);
    }

    #[test]
    fn topology_spread_table() {
        let c = |extra: Value| {
            let mut base = json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}});
            base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            base
        };
        let at = "spec.topologySpreadConstraints[0]";
        let field = |f: &str| format!("{at}.{f}");
        let cases: Vec<(Value, Vec<(String, &str)>)> = vec![
            (json!([c(json!({"minDomains": 2, "matchLabelKeys": ["pod-template-hash"], "nodeTaintsPolicy": "Honor"}))]), vec![]),
            (json!([c(json!({"maxSkew": 0}))]), vec![(field("maxSkew"), "Invalid value: \"0\": must be greater than zero")]),
            (json!([c(json!({"topologyKey": ""}))]), vec![(field("topologyKey"), "Required value: can not be empty")]),
            (json!([c(json!({"whenUnsatisfiable": "Maybe"}))]), vec![(field("whenUnsatisfiable"), "Unsupported value: \"Maybe\"")]),
            (json!([c(json!({})), c(json!({"maxSkew": 2}))]), vec![(field("{topologyKey, whenUnsatisfiable}"), "Duplicate value: \"{zone, DoNotSchedule}\"")]),
            (json!([c(json!({"minDomains": 0, "whenUnsatisfiable": "ScheduleAnyway"}))]), vec![
                (field("minDomains"), "Invalid value: \"0\": must be greater than zero"),
                (field("minDomains"), "Invalid value: \"0\": can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"),
            ]),
            (json!([c(json!({"nodeAffinityPolicy": "Sometimes"}))]), vec![(field("nodeAffinityPolicy"), "Unsupported value: \"Sometimes\"")]),
            (json!([c(json!({"matchLabelKeys": ["app"]}))]), vec![(field("matchLabelKeys[0]"), "Invalid value: \"app\": exists in both matchLabelKeys and labelSelector")]),
        ];
        check(|c: &Vec<TopologySpreadConstraint>| validate_topology_spread_constraints(c), cases);
    }
}
