//! OpenAPI v3, as much as kubectl needs: `apply` and `edit` look for the
//! `fieldValidation` parameter on each kind's PATCH to validate on the
//! server, and `explain` walks the schemas. Schemas come from k8s-openapi's
//! `schemars` support (descriptions included); paths and the
//! `x-kubernetes-group-version-kind` extensions are added here from the
//! served resource table. `/openapi/v2` is not served (kubectl reads it only
//! as protobuf), and kubectl falls back from it cleanly.

use k8s_openapi::api::{apps, autoscaling, batch, coordination, core, discovery, networking, rbac, scheduling};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tabernetes_core::apiserver::resources::{group_versions, ResourceType, ALL};

/// The schema of a kind, registered in `generator`; None for kinds that are not stored.
fn schema_for(kind: &str, generator: &mut SchemaGenerator) -> Option<()> {
    macro_rules! kinds {
        ($($name:literal => $ty:ty),* $(,)?) => {
            match kind {
                $($name => { generator.subschema_for::<$ty>(); })*
                _ => return None,
            }
        };
    }
    kinds! {
        "Pod" => core::v1::Pod, "Node" => core::v1::Node, "Namespace" => core::v1::Namespace, "Event" => core::v1::Event,
        "Service" => core::v1::Service, "Endpoints" => core::v1::Endpoints, "ConfigMap" => core::v1::ConfigMap,
        "Secret" => core::v1::Secret, "ServiceAccount" => core::v1::ServiceAccount,
        "Deployment" => apps::v1::Deployment, "ReplicaSet" => apps::v1::ReplicaSet, "DaemonSet" => apps::v1::DaemonSet,
        "StatefulSet" => apps::v1::StatefulSet, "ControllerRevision" => apps::v1::ControllerRevision,
        "Job" => batch::v1::Job, "CronJob" => batch::v1::CronJob, "EndpointSlice" => discovery::v1::EndpointSlice,
        "Ingress" => networking::v1::Ingress, "HorizontalPodAutoscaler" => autoscaling::v2::HorizontalPodAutoscaler,
        "Lease" => coordination::v1::Lease, "Role" => rbac::v1::Role, "ClusterRole" => rbac::v1::ClusterRole,
        "RoleBinding" => rbac::v1::RoleBinding, "ClusterRoleBinding" => rbac::v1::ClusterRoleBinding,
        "PriorityClass" => scheduling::v1::PriorityClass,
    }
    Some(())
}

fn gvk(r: &ResourceType) -> Value {
    json!({"group": r.group, "version": r.version, "kind": r.kind})
}

/// The `{package}.{Kind}` name k8s-openapi gives a kind's schema.
fn schema_name(r: &ResourceType) -> String {
    let package = match r.group {
        "" => "core".to_string(),
        "rbac.authorization.k8s.io" => "rbac".to_string(),
        g => g.split('.').next().unwrap_or(g).to_string(),
    };
    format!("io.k8s.api.{package}.{}.{}", r.version, r.kind)
}

/// The operations of one path: every verb names the kind; writes take `fieldValidation`.
fn operations(r: &ResourceType, item: bool) -> Value {
    let field_validation = json!([{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}]);
    let body = |content: &[&str]| {
        let content: Map<String, Value> = content.iter().map(|c| (c.to_string(), json!({"schema": {"$ref": format!("#/components/schemas/{}", schema_name(r))}}))).collect();
        json!({"content": content})
    };
    let mut ops = Map::new();
    ops.insert("get".into(), json!({"x-kubernetes-group-version-kind": gvk(r), "x-kubernetes-action": if item { "get" } else { "list" }}));
    if item {
        ops.insert("put".into(), json!({"x-kubernetes-group-version-kind": gvk(r), "parameters": field_validation, "requestBody": body(&["application/json"])}));
        // Leaving strategic merge out of the patch body types makes kubectl compute
        // strategic patches from its compiled-in types, which carry the merge keys.
        ops.insert("patch".into(), json!({"x-kubernetes-group-version-kind": gvk(r), "parameters": field_validation, "requestBody": body(&["application/merge-patch+json", "application/json-patch+json"])}));
        ops.insert("delete".into(), json!({"x-kubernetes-group-version-kind": gvk(r)}));
    } else {
        ops.insert("post".into(), json!({"x-kubernetes-group-version-kind": gvk(r), "parameters": field_validation, "requestBody": body(&["application/json"])}));
    }
    Value::Object(ops)
}

/// The document of one group/version (`api/v1`, `apis/apps/v1`).
fn group_version_document(group: &str, version: &str) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut paths = Map::new();
    let mut served = Vec::new();
    for r in ALL.iter().filter(|r| r.group == group && r.version == version && r.is_stored()) {
        if schema_for(r.kind, &mut generator).is_none() {
            continue;
        }
        served.push(r);
        let base = r.group_version_path();
        let collection = if r.namespaced { format!("{base}/namespaces/{{namespace}}/{}", r.plural) } else { format!("{base}/{}", r.plural) };
        paths.insert(collection.clone(), operations(r, false));
        paths.insert(format!("{collection}/{{name}}"), operations(r, true));
        for sub in r.subresources.iter().filter(|s| **s == "status") {
            paths.insert(format!("{collection}/{{name}}/{sub}"), operations(r, true));
        }
    }
    let mut schemas = generator.take_definitions(true);
    for r in served {
        if let Some(schema) = schemas.get_mut(&schema_name(r)).and_then(Value::as_object_mut) {
            schema.insert("x-kubernetes-group-version-kind".into(), json!([gvk(r)]));
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Tabernetes", "version": tabernetes_core::apiserver::discovery::KUBERNETES_VERSION.1},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

struct Documents {
    root: String,
    by_path: BTreeMap<String, String>,
}

fn documents() -> &'static Documents {
    static DOCUMENTS: OnceLock<Documents> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let mut by_path = BTreeMap::new();
        let mut root = Map::new();
        for (group, version) in group_versions() {
            let key = if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
            let text = group_version_document(group, version).to_string();
            let hash = hex::encode(&Sha256::digest(text.as_bytes())[..16]);
            root.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}));
            by_path.insert(key, text);
        }
        Documents { root: json!({"paths": root}).to_string(), by_path }
    })
}

/// The body for `/openapi/...`, or None (404) for anything else.
pub fn serve(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/openapi/v3")?.trim_matches('/');
    if rest.is_empty() {
        return Some(&documents().root);
    }
    documents().by_path.get(rest).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_kind_has_a_schema_that_names_its_kind() {
        let root: Value = serde_json::from_str(serve("/openapi/v3").unwrap()).unwrap();
        for r in ALL.iter().filter(|r| r.is_stored()) {
            let key = r.group_version_path().trim_start_matches('/').to_string();
            assert!(root["paths"][&key]["serverRelativeURL"].as_str().is_some(), "{key} missing from the root");
            let doc: Value = serde_json::from_str(serve(&format!("/openapi/v3/{key}")).unwrap()).unwrap();
            let schema = &doc["components"]["schemas"][schema_name(r)];
            assert_eq!(schema["x-kubernetes-group-version-kind"][0], gvk(r), "{}", r.kind);
            assert!(schema["description"].as_str().is_some_and(|d| !d.is_empty()), "{} has a description", r.kind);
            let collection = if r.namespaced { format!("{}/namespaces/{{namespace}}/{}/{{name}}", r.group_version_path(), r.plural) } else { format!("{}/{}/{{name}}", r.group_version_path(), r.plural) };
            let patch = &doc["paths"][&collection]["patch"];
            assert_eq!(patch["x-kubernetes-group-version-kind"], gvk(r));
            assert_eq!(patch["parameters"][0]["name"], "fieldValidation", "kubectl validates on the server only if PATCH takes fieldValidation");
        }
        assert!(serve("/openapi/v2").is_none());
        assert!(serve("/openapi/v3/apis/widgets.example.com/v1").is_none());
    }
}
