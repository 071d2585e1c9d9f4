//! Label selectors (`app=web,tier!=db,env in (a,b),!legacy`) and field
//! selectors (`spec.nodeName=n1`), parsed once per request and matched
//! against stored objects.

use crate::json_path::JsonPath;
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_terms(text)? {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(LabelSelector(requirements))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.at(&["metadata", "labels"]).and_then(Value::as_object);
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, set) => get(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => get(k).is_none_or(|v| !set.contains(v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas that are not inside a `( … )` value set.
fn split_terms(text: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(format!("unbalanced parentheses in selector {text:?}"));
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced parentheses in selector {text:?}"));
    }
    terms.push(&text[start..]);
    Ok(terms)
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(label_key(key.trim())?));
    }
    for (op, build) in [
        ("!=", Requirement::NotEquals as fn(String, String) -> Requirement),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((k, v)) = term.split_once(op) {
            return Ok(build(label_key(k.trim())?, label_value(v.trim())?));
        }
    }
    for (op, notin) in [(" notin ", true), (" in ", false)] {
        if let Some((k, set)) = term.split_once(op) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("expected a parenthesised value set in {term:?}"))?;
            let values = inner
                .split(',')
                .map(|v| label_value(v.trim()))
                .collect::<Result<BTreeSet<_>, _>>()?;
            let key = label_key(k.trim())?;
            return Ok(if notin { Requirement::NotIn(key, values) } else { Requirement::In(key, values) });
        }
    }
    Ok(Requirement::Exists(label_key(term)?))
}

fn label_key(key: &str) -> Result<String, String> {
    if crate::validation::label_key_errors(key).is_empty() {
        Ok(key.to_string())
    } else {
        Err(format!("invalid label key {key:?}"))
    }
}

fn label_value(value: &str) -> Result<String, String> {
    if crate::validation::label_value_errors(value).is_empty() {
        Ok(value.to_string())
    } else {
        Err(format!("invalid label value {value:?}"))
    }
}

/// A conjunction of `field=value` / `field!=value` terms over the fields a
/// resource supports selecting on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<FieldTerm>);

/// `field=value` (or `!=`), with the field already as a JSON pointer
/// (`/spec/nodeName`): matching runs per object per watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldTerm {
    pointer: String,
    equal: bool,
    value: String,
}

/// Fields every resource can be selected on.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

impl FieldSelector {
    /// `supported` lists the resource's selectable fields beyond the common ones.
    pub fn parse(text: &str, supported: &[&str]) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector term {term:?}: expected field=value or field!=value"));
            };
            let field = field.trim();
            if !COMMON_FIELDS.contains(&field) && !supported.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push(FieldTerm { pointer: format!("/{}", field.replace('.', "/")), equal, value: value.trim().to_string() });
        }
        Ok(FieldSelector(terms))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|term| {
            // Numbers and booleans (`status.replicas`, `spec.unschedulable`)
            // compare by their text, as Kubernetes' field sets hold them.
            let same = match object.pointer(&term.pointer) {
                None | Some(Value::Null) => term.value.is_empty(),
                Some(Value::String(s)) => *s == term.value,
                Some(Value::Bool(b)) => b.to_string() == term.value,
                Some(Value::Number(n)) => n.to_string() == term.value,
                Some(_) => false,
            };
            same == term.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "namespace": "default", "labels": labels}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn label_selector_operators() {
        let obj = labelled(json!({"app": "web", "tier": "front", "env": "prod"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("env in (prod, staging)", true),
            ("env in (dev)", false),
            ("env notin (dev)", true),
            ("env notin (prod)", false),
            ("missing notin (prod)", true),
            ("tier", true),
            ("missing", false),
            ("!missing", true),
            ("!tier", false),
            ("app=web,env in (prod,dev),!legacy", true),
            ("app=web,env in (dev,qa)", false),
        ];
        for (selector, want) in cases {
            let parsed = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(parsed.matches(&obj), want, "{selector}");
        }
    }

    #[test]
    fn malformed_label_selectors_are_errors() {
        for bad in ["env in (a", "env in a,b", "a=b)", "bad key!=x", "a=-bad-"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_match_supported_fields_only() {
        let obj = labelled(json!({}));
        let sel = FieldSelector::parse("spec.nodeName=n1,metadata.name!=y", &["spec.nodeName"]).unwrap();
        assert!(sel.matches(&obj));
        assert!(!FieldSelector::parse("spec.nodeName=n2", &["spec.nodeName"]).unwrap().matches(&obj));
        // An unset field compares as the empty string, as in Kubernetes (unscheduled pods: spec.nodeName=).
        assert!(FieldSelector::parse("status.phase=", &["status.phase"]).unwrap().matches(&obj));
        let node = json!({"spec": {"unschedulable": true}, "status": {"replicas": 3}});
        assert!(FieldSelector::parse("spec.unschedulable=true", &["spec.unschedulable"]).unwrap().matches(&node));
        assert!(FieldSelector::parse("status.replicas=3", &["status.replicas"]).unwrap().matches(&node));
        assert!(!FieldSelector::parse("status.replicas!=3", &["status.replicas"]).unwrap().matches(&node));
        let err = FieldSelector::parse("spec.schedulerName=x", &["spec.nodeName"]).unwrap_err();
        assert_eq!(err, "field label not supported: spec.schedulerName");
    }
}
