//! Kubernetes' rules for names and labels, shared by every resource's
//! validation. Messages follow apimachinery's wording so learners see what
//! a real cluster would say.

use crate::apiserver::status::FieldError;
use serde_json::Value;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// Lowercase alphanumerics and '-', starting and ending with an alphanumeric (any length).
fn has_dns_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Errors for a DNS-1123 subdomain (most object names).
pub fn dns_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(|l| has_dns_label_shape(l) && l.len() <= 63) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// Errors for a DNS-1123 label (container names, namespace names).
pub fn dns_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !has_dns_label_shape(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// Alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric (any length).
fn has_qualified_name_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Errors for a label or annotation key: `[prefix/]name`.
pub fn label_key_errors(key: &str) -> Vec<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut errs = Vec::new();
    if let Some(prefix) = prefix {
        errs.extend(dns_subdomain_errors(prefix).into_iter().map(|e| format!("prefix part {e}")));
    }
    if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !has_qualified_name_shape(name) {
        errs.push(QUALIFIED_NAME_MSG.to_string());
    }
    errs
}

pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !has_qualified_name_shape(value) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Kubernetes' ValidatePathSegmentName, for kinds whose names only have to
/// fit in a URL (RBAC objects, whose names contain `:`).
pub fn path_segment_errors(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    ["/", "%"].iter().filter(|c| s.contains(*c)).map(|c| format!("may not contain '{c}'")).collect()
}

/// Kubernetes' DNS-1035 label, required of Service names (they become DNS names that must not start with a digit).
pub fn dns1035_label_errors(s: &str) -> Vec<String> {
    let mut errs = dns_label_errors(s);
    if errs.is_empty() && !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into());
    }
    errs
}

/// Validates `metadata`: name (by the kind's rule), namespace presence, labels.
pub fn validate_object_meta(object: &Value, namespaced: bool, errors: &mut Vec<FieldError>) {
    let meta = object.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let name_errors = match kind {
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => path_segment_errors,
        "Namespace" => dns_label_errors,
        "Service" => dns1035_label_errors,
        _ => dns_subdomain_errors,
    };
    if name.is_empty() {
        errors.push(FieldError::required("metadata.name"));
    } else {
        for e in name_errors(name) {
            errors.push(FieldError::invalid("metadata.name", name, e));
        }
    }
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("");
    if namespaced && namespace.is_empty() {
        errors.push(FieldError::required("metadata.namespace"));
    }
    if !namespaced && !namespace.is_empty() {
        errors.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    for (field, check_values) in [("labels", true), ("annotations", false)] {
        let Some(map) = meta.and_then(|m| m.get(field)).and_then(Value::as_object) else { continue };
        for (key, value) in map {
            for e in label_key_errors(key) {
                errors.push(FieldError::invalid(format!("metadata.{field}"), key, e));
            }
            let value = value.as_str().unwrap_or("");
            if check_values {
                for e in label_value_errors(value) {
                    errors.push(FieldError::invalid(format!("metadata.{field}"), value, e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            ("hello", true, true),
            ("hello-1.web", true, false),
            ("Hello", false, false),
            ("-hello", false, false),
            ("hello-", false, false),
            ("", false, false),
            ("a_b", false, false),
        ];
        for (name, subdomain_ok, label_ok) in cases {
            assert_eq!(dns_subdomain_errors(name).is_empty(), subdomain_ok, "subdomain {name:?}");
            assert_eq!(dns_label_errors(name).is_empty(), label_ok, "label {name:?}");
        }
        assert!(!dns_label_errors(&"a".repeat(64)).is_empty());
        assert!(dns_subdomain_errors(&"a".repeat(253)).len() == 1, "a 253-char single label is too long a label");
    }

    #[test]
    fn label_keys_and_values() {
        for (key, ok) in [("app", true), ("tabernetes.io/runtime", true), ("a/b/c", false), ("Bad_Prefix/x", false), ("x_", false), ("", false)] {
            assert_eq!(label_key_errors(key).is_empty(), ok, "{key:?}");
        }
        for (value, ok) in [("", true), ("web", true), ("My_Value.1", true), ("-x", false), ("a b", false)] {
            assert_eq!(label_value_errors(value).is_empty(), ok, "{value:?}");
        }
        assert!(!label_value_errors(&"v".repeat(64)).is_empty());
    }
}
