//! RBAC objects: a rule needs verbs, and a binding must name a role kind it
//! can reference (a RoleBinding may name a Role or a ClusterRole; a
//! ClusterRoleBinding only a ClusterRole).

use crate::apiserver::status::FieldError;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};

pub fn rules(rules: &[PolicyRule]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.verbs.is_empty() {
            errors.push(FieldError::required(format!("rules[{i}].verbs")));
        }
        let has_resources = rule.resources.as_ref().is_some_and(|r| !r.is_empty());
        let has_urls = rule.non_resource_urls.as_ref().is_some_and(|r| !r.is_empty());
        if has_resources && rule.api_groups.is_none() {
            errors.push(FieldError::required(format!("rules[{i}].apiGroups")));
        }
        if !has_resources && !has_urls {
            errors.push(FieldError::required(format!("rules[{i}].resources")));
        }
    }
    errors
}

pub fn binding(role_ref: &RoleRef, subjects: Option<&[Subject]>, namespaced: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if role_ref.api_group != "rbac.authorization.k8s.io" {
        errors.push(FieldError::not_supported("roleRef.apiGroup", &role_ref.api_group, &["rbac.authorization.k8s.io"]));
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errors.push(FieldError::not_supported("roleRef.kind", &role_ref.kind, kinds));
    }
    if role_ref.name.is_empty() {
        errors.push(FieldError::required("roleRef.name"));
    }
    for (i, subject) in subjects.unwrap_or_default().iter().enumerate() {
        let allowed = ["User", "Group", "ServiceAccount"];
        if !allowed.contains(&subject.kind.as_str()) {
            errors.push(FieldError::not_supported(format!("subjects[{i}].kind"), &subject.kind, &allowed));
        }
        if subject.name.is_empty() {
            errors.push(FieldError::required(format!("subjects[{i}].name")));
        }
    }
    errors
}
