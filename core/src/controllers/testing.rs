//! Helpers for the controllers' unit tests: a real API server, objects
//! created as an admin would, and a stand-in kubelet that runs pods (marks
//! them Running and Ready) and finishes their graceful deletion.

use crate::json_path::JsonPath;
use crate::apiserver::resources::PODS;
use crate::apiserver::{ApiRequest, ApiServer};
use crate::store::ObjectKey;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

pub const NODE: &str = "n1";

pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

pub fn api() -> ApiServer {
    ApiServer::new(1, at(0))
}

/// Creates `body` at `collection` as the admin; panics unless created.
pub fn create(api: &mut ApiServer, collection: &str, body: Value) -> Value {
    let response = api.handle(&ApiRequest::post(collection, body).as_user("admin"), at(0)).into_response();
    assert_eq!(response.status, 201, "{}", response.message());
    response.json_body().unwrap().clone()
}

pub fn get(api: &ApiServer, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
    api.store().get(&ObjectKey::new(resource, ns, name)).cloned()
}

/// Active and terminating pods in `ns`, by name.
pub fn pods(api: &ApiServer, ns: &str) -> Vec<Arc<Value>> {
    api.store().list("pods", Some(ns)).map(|(_, p)| p.clone()).collect()
}

pub fn name(object: &Value) -> String {
    object["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

/// A ReplicaSet of `replicas` pods labelled `app: <name>`.
pub fn replica_set(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "hello"}]}}}})
}

/// Binds the pod to the test node and reports it Running and Ready (or not ready).
pub fn run_pod(api: &mut ApiServer, ns: &str, pod: &str, ready: bool, now: Timestamp) {
    let path = PODS.path(Some(ns), Some(pod));
    let bound = api.store().get(&ObjectKey::new("pods", ns, pod)).is_some_and(|p| p.at(&["spec", "nodeName"]).is_some());
    if !bound {
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}, "target": {"kind": "Node", "name": NODE}});
        let response = api.handle(&ApiRequest::post(format!("{path}/binding"), binding).as_user("admin"), now).into_response();
        assert!(response.is_success(), "{}", response.message());
    }
    let mut object = (**api.store().get(&ObjectKey::new("pods", ns, pod)).unwrap()).clone();
    let status = if ready { "True" } else { "False" };
    object["status"]["phase"] = json!("Running");
    object["status"]["conditions"] = json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": Time(now)},
        {"type": "Ready", "status": status, "lastTransitionTime": Time(now)},
    ]);
    let node_user = format!("system:node:{NODE}");
    let response = api.handle(&ApiRequest::put(format!("{path}/status"), object).as_user(node_user).in_groups(&["system:nodes"]), now).into_response();
    assert!(response.is_success(), "{}", response.message());
}

/// What the kubelet does for pods marked for deletion: stops them and
/// deletes them for good.
pub fn finish_deletions(api: &mut ApiServer, now: Timestamp) {
    let doomed: Vec<(String, String)> = api
        .store()
        .list("pods", None)
        .filter(|(_, p)| p.at(&["metadata", "deletionTimestamp"]).is_some())
        .map(|(k, _)| (k.namespace.clone(), k.name.clone()))
        .collect();
    for (ns, pod) in doomed {
        let request = ApiRequest::delete(PODS.path(Some(&ns), Some(&pod))).with_query("gracePeriodSeconds", "0");
        api.handle(&request.as_user(format!("system:node:{NODE}")).in_groups(&["system:nodes"]), now);
    }
}
