//! Discovery: `/version`, `/api`, `/apis` and each group/version's resource
//! list, in the legacy (non-aggregated) JSON form that kubectl and client
//! libraries fall back to. A group or version not listed is a 404, so clients
//! learn up front what this server does not serve.

use super::request::ApiResponse;
use super::resources::{group_versions, ALL};
use serde_json::{json, Value};

/// The Kubernetes version whose API this server follows (k8s-openapi's `v1_34`).
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "34");

/// The response for a non-resource path, or None if the path names a resource.
pub fn serve(path: &str) -> Option<ApiResponse> {
    let path = path.trim_end_matches('/');
    let ok = |body: Value| Some(ApiResponse::json(200, body));
    match path {
        "/version" => ok(json!({
            "major": KUBERNETES_VERSION.0,
            "minor": KUBERNETES_VERSION.1,
            "gitVersion": format!("v{}.{}.0-tabernetes", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1),
            "gitCommit": "",
            "gitTreeState": "clean",
            "buildDate": "",
            "goVersion": "",
            "compiler": "rustc",
            "platform": if cfg!(target_arch = "wasm32") { "browser/wasm32" } else { "native" },
        })),
        "/healthz" | "/livez" | "/readyz" => Some(ApiResponse::text(200, "ok")),
        "/api" => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        })),
        "/apis" => ok(json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": group_versions().into_iter().filter(|(g, _)| !g.is_empty()).map(|(group, version)| {
                let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
                json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
            }).collect::<Vec<_>>(),
        })),
        "/api/v1" => ok(resource_list("", "v1")),
        _ => {
            let rest = path.strip_prefix("/apis/")?;
            match rest.split('/').collect::<Vec<_>>().as_slice() {
                [group] if group_versions().iter().any(|(g, _)| g == group) => {
                    let version = group_versions().into_iter().find(|(g, _)| g == group).map(|(_, v)| v).unwrap_or_default();
                    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
                    ok(json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv.clone()], "preferredVersion": gv}))
                }
                [group, version] if group_versions().contains(&(group, version)) => ok(resource_list(group, version)),
                _ => None,
            }
        }
    }
}

/// The APIResourceList of one group/version, subresources included.
fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in ALL.iter().filter(|r| r.group == group && r.version == version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for sub in r.subresources {
            let (kind, group_version, verbs): (&str, Option<(&str, &str)>, &[&str]) = match *sub {
                "status" => (r.kind, None, &["get", "patch", "update"]),
                "scale" => ("Scale", Some(("autoscaling", "v1")), &["get", "patch", "update"]),
                "log" => ("Pod", None, &["get"]),
                "binding" => ("Binding", None, &["create"]),
                "eviction" => ("Eviction", Some(("policy", "v1")), &["create"]),
                "finalize" => ("Namespace", None, &["update"]),
                _ => continue,
            };
            let mut entry = json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
            if let Some((g, v)) = group_version {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(path: &str) -> Value {
        serve(path).and_then(|r| r.json_body().cloned()).unwrap_or_else(|| panic!("{path} is not served"))
    }

    #[test]
    fn every_served_resource_is_discoverable_with_its_kind() {
        for r in ALL {
            let list = body(&r.group_version_path());
            let found = list["resources"].as_array().unwrap().iter().any(|e| e["name"] == r.plural && e["kind"] == r.kind);
            assert!(found, "{} missing from {}", r.plural, r.group_version_path());
        }
        let groups = body("/apis");
        let names: Vec<&str> = groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"apps") && names.contains(&"rbac.authorization.k8s.io"), "{names:?}");
        assert!(!names.contains(&""), "the core group is served under /api, not /apis");
    }

    #[test]
    fn unserved_groups_and_versions_are_not_found() {
        assert!(serve("/apis/apps/v1beta1").is_none());
        assert!(serve("/apis/widgets.example.com/v1").is_none());
        assert!(serve("/api/v2").is_none());
    }

    #[test]
    fn scale_is_an_autoscaling_v1_subresource() {
        let apps = body("/apis/apps/v1");
        let scale = apps["resources"].as_array().unwrap().iter().find(|e| e["name"] == "deployments/scale").unwrap();
        assert_eq!((scale["group"].as_str(), scale["version"].as_str(), scale["kind"].as_str()), (Some("autoscaling"), Some("v1"), Some("Scale")));
    }
}
