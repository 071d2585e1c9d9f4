//! The few Kubernetes protobuf bodies that kubectl sends with no JSON
//! fallback: its typed authorization client posts SelfSubjectAccessReview
//! and SelfSubjectRulesReview as `application/vnd.kubernetes.protobuf`.
//! They are decoded here (with prost, from the field numbers in
//! Kubernetes' `generated.proto`) into the JSON the control plane speaks.
//! Any other protobuf body is refused with 415.

use prost::Message;
use serde_json::{json, Value};

/// Kubernetes' protobuf envelope starts with these four bytes.
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    raw: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, tag = "1")]
    api_version: String,
    #[prost(string, tag = "2")]
    kind: String,
}

#[derive(Clone, PartialEq, Message)]
struct SelfSubjectAccessReview {
    #[prost(message, optional, tag = "2")]
    spec: Option<AccessReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct AccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, Message)]
struct ResourceAttributes {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(string, tag = "2")]
    verb: String,
    #[prost(string, tag = "3")]
    group: String,
    #[prost(string, tag = "4")]
    version: String,
    #[prost(string, tag = "5")]
    resource: String,
    #[prost(string, tag = "6")]
    subresource: String,
    #[prost(string, tag = "7")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct NonResourceAttributes {
    #[prost(string, tag = "1")]
    path: String,
    #[prost(string, tag = "2")]
    verb: String,
}

#[derive(Clone, PartialEq, Message)]
struct SelfSubjectRulesReview {
    #[prost(message, optional, tag = "2")]
    spec: Option<RulesReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct RulesReviewSpec {
    #[prost(string, tag = "1")]
    namespace: String,
}

/// The JSON form of a protobuf request body, for the kinds listed above.
pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let body = bytes.strip_prefix(MAGIC).ok_or("a Kubernetes protobuf body starts with \"k8s\\0\"")?;
    let envelope = Unknown::decode(body).map_err(|e| format!("malformed protobuf envelope: {e}"))?;
    let meta = envelope.type_meta.unwrap_or_default();
    let spec = match meta.kind.as_str() {
        "SelfSubjectAccessReview" => {
            let review = SelfSubjectAccessReview::decode(envelope.raw.as_slice()).map_err(|e| format!("malformed {}: {e}", meta.kind))?;
            let spec = review.spec.unwrap_or_default();
            let mut out = json!({});
            if let Some(r) = spec.resource_attributes {
                out["resourceAttributes"] = json!({
                    "namespace": r.namespace, "verb": r.verb, "group": r.group, "version": r.version,
                    "resource": r.resource, "subresource": r.subresource, "name": r.name,
                });
            }
            if let Some(n) = spec.non_resource_attributes {
                out["nonResourceAttributes"] = json!({"path": n.path, "verb": n.verb});
            }
            out
        }
        "SelfSubjectRulesReview" => {
            let review = SelfSubjectRulesReview::decode(envelope.raw.as_slice()).map_err(|e| format!("malformed {}: {e}", meta.kind))?;
            json!({"namespace": review.spec.unwrap_or_default().namespace})
        }
        other => {
            return Err(format!(
                "Tabernetes reads protobuf bodies only for access reviews, not {other:?}; send JSON. \
                 (`kubectl create <kind>` sends protobuf: use `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`, or a manifest with `kubectl apply`)"
            ))
        }
    };
    Ok(json!({"apiVersion": meta.api_version, "kind": meta.kind, "metadata": {}, "spec": spec}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown { type_meta: Some(TypeMeta { api_version: "authorization.k8s.io/v1".into(), kind: kind.into() }), raw };
        [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
    }

    #[test]
    fn access_reviews_decode_to_their_json_form() {
        let review = SelfSubjectAccessReview {
            spec: Some(AccessReviewSpec {
                resource_attributes: Some(ResourceAttributes { namespace: "default".into(), verb: "create".into(), resource: "pods".into(), ..Default::default() }),
                non_resource_attributes: None,
            }),
        };
        let json = decode(&envelope("SelfSubjectAccessReview", review.encode_to_vec())).unwrap();
        assert_eq!(json["kind"], "SelfSubjectAccessReview");
        assert_eq!(json["spec"]["resourceAttributes"]["verb"], "create");
        assert_eq!(json["spec"]["resourceAttributes"]["namespace"], "default");
        let rules = SelfSubjectRulesReview { spec: Some(RulesReviewSpec { namespace: "team".into() }) };
        assert_eq!(decode(&envelope("SelfSubjectRulesReview", rules.encode_to_vec())).unwrap()["spec"]["namespace"], "team");
    }

    #[test]
    fn other_kinds_and_garbage_are_errors_not_panics() {
        assert!(decode(&envelope("Pod", vec![])).unwrap_err().contains("send JSON"));
        assert!(decode(b"k8s\0\xff\xff\xff").is_err());
        assert!(decode(b"{}").is_err());
        assert!(decode(b"").is_err());
    }
}
