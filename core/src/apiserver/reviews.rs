//! SelfSubjectAccessReview and SelfSubjectRulesReview: the authorizer's
//! answers as API objects, which `kubectl auth can-i` asks for. They are
//! computed per request and never stored.

use super::authz::{Attributes, User};
use super::resources::RequestTarget;
use super::{ApiError, ApiRequest, ApiResponse, ApiServer};
use serde_json::{json, Value};

impl ApiServer {
    pub(super) fn review(&mut self, req: &ApiRequest, target: &RequestTarget) -> Result<ApiResponse, ApiError> {
        let mut review = Self::body(req)?;
        let spec = review.get("spec").cloned().unwrap_or(Value::Null);
        let user = User::of(req);
        let status = match target.resource.kind {
            "SelfSubjectAccessReview" => {
                let text = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string().into();
                let attributes = match (spec.get("resourceAttributes"), spec.get("nonResourceAttributes")) {
                    (Some(r), _) => Attributes::Resource {
                        verb: text(r, "verb"),
                        group: text(r, "group"),
                        resource: text(r, "resource"),
                        subresource: text(r, "subresource"),
                        namespace: text(r, "namespace"),
                        name: text(r, "name"),
                    },
                    (None, Some(n)) => Attributes::NonResource { verb: text(n, "verb"), path: text(n, "path") },
                    (None, None) => {
                        return Err(ApiError::Invalid {
                            group: "authorization.k8s.io".into(),
                            kind: "SelfSubjectAccessReview".into(),
                            name: String::new(),
                            causes: vec![super::status::FieldError::required("spec.resourceAttributes")],
                        })
                    }
                };
                let allowed = self.authorizer.allowed(&self.store, &user, &attributes);
                let mut status = json!({"allowed": allowed});
                if allowed {
                    status["reason"] = json!("allowed by RBAC");
                }
                status
            }
            _ => {
                let namespace = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
                let rules = self.authorizer.rules_for(&self.store, &user, namespace);
                let resource_rules: Vec<Value> = rules.iter().filter(|r| r.resources.is_some()).map(|r| json!({
                    "verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources, "resourceNames": r.resource_names,
                })).collect();
                let non_resource_rules: Vec<Value> = rules.iter().filter(|r| r.non_resource_urls.is_some()).map(|r| json!({
                    "verbs": r.verbs, "nonResourceURLs": r.non_resource_urls,
                })).collect();
                json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false})
            }
        };
        review["apiVersion"] = json!(target.resource.api_version());
        review["kind"] = json!(target.resource.kind);
        if !review.get("metadata").is_some_and(Value::is_object) {
            review["metadata"] = json!({});
        }
        review["status"] = status;
        Ok(ApiResponse::json(201, review))
    }
}
