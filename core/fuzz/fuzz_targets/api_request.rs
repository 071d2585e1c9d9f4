//! Any request, however malformed, gets a response and never a panic; a
//! request that fails changes nothing (writes are whole or not at all).
//!
//! Inputs are structured (method, a path built from real path pieces, query,
//! content type, body) so the fuzzer spends its time past the router, and a
//! raw-bytes body reaches the JSON decoding of every kind.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;
use tabernetes_core::apiserver::{ApiRequest, ApiServer, Method};
use tabernetes_core::Timestamp;

const SEGMENTS: &[&str] = &[
    "api", "apis", "v1", "apps", "batch", "rbac.authorization.k8s.io", "authorization.k8s.io", "namespaces", "default",
    "kube-system", "pods", "nodes", "services", "configmaps", "secrets", "deployments", "replicasets", "jobs", "cronjobs",
    "events", "roles", "clusterroles", "rolebindings", "selfsubjectaccessreviews", "status", "scale", "binding", "log",
    "eviction", "finalize", "web", "x", "", "..", "%2F",
];
const QUERY_KEYS: &[&str] = &[
    "watch", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "dryRun", "fieldValidation",
    "propagationPolicy", "gracePeriodSeconds", "allowWatchBookmarks", "container", "tailLines", "includeObject",
];
const CONTENT_TYPES: &[&str] = &[
    "application/json", "application/merge-patch+json", "application/json-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml", "text/plain", "",
];

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    segments: Vec<u8>,
    query: Vec<(u8, String)>,
    content_type: u8,
    body: Body,
    admin: bool,
}

#[derive(Arbitrary, Debug)]
enum Body {
    None,
    Raw(Vec<u8>),
    Json(String),
    Pod { name: String, image: String, extra: String },
}

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

/// One cluster with some objects in it, cloned per input.
fn seeded() -> &'static ApiServer {
    static SERVER: OnceLock<ApiServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut api = ApiServer::new(1, now());
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "hello"}]}});
        api.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", pod), now());
        let deployment = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "hello"}]}}}});
        api.handle(&ApiRequest::post("/apis/apps/v1/namespaces/default/deployments", deployment), now());
        api
    })
}

fuzz_target!(|input: Input| {
    let method = [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete][input.method as usize % 5].clone();
    let path: String = input.segments.iter().take(8).map(|i| format!("/{}", SEGMENTS[*i as usize % SEGMENTS.len()])).collect();
    let mut request = ApiRequest::new(method, path);
    for (key, value) in input.query.iter().take(4) {
        request = request.with_query(QUERY_KEYS[*key as usize % QUERY_KEYS.len()], value);
    }
    request.content_type = CONTENT_TYPES[input.content_type as usize % CONTENT_TYPES.len()].to_string();
    request.body = match input.body {
        Body::None => None,
        Body::Raw(bytes) => serde_json::from_slice::<Value>(&bytes).ok(),
        Body::Json(text) => serde_json::from_str::<Value>(&text).ok(),
        Body::Pod { name, image, extra } => Some(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": image}], extra: {}}})),
    };
    if input.admin {
        request = request.as_user("admin").in_groups(&["system:masters"]);
    } else {
        request = request.as_user("viewer").in_groups(&["system:authenticated"]);
    }
    let mut api = seeded().clone();
    let before = api.store().revision();
    let response = api.handle(&request, now()).into_response();
    assert!((200..600).contains(&response.status), "{response:?}");
    if response.status >= 400 {
        assert_eq!(api.store().revision(), before, "a failed request changed the store: {request:?} -> {response:?}");
    }
});
