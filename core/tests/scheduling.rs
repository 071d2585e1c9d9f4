//! Scheduling through the whole control plane: preemption from the
//! preemptor's creation to its binding once its victim is gone.

use serde_json::{json, Value};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::scheduler::Outcome;
use tabernetes_core::{ControlPlane, Timestamp};

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn create(plane: &mut ControlPlane, path: &str, object: Value, now: Timestamp) {
    let response = plane.handle(&ApiRequest::post(path, object).as_user("admin"), now).into_response();
    assert!(response.is_success(), "{}", response.message());
}

fn pod(plane: &ControlPlane, name: &str) -> Value {
    plane.read(&ApiRequest::get(format!("/api/v1/namespaces/default/pods/{name}")), at(0)).json_body().unwrap().clone()
}

fn events(plane: &ControlPlane, reason: &str) -> Vec<(String, String)> {
    let list = plane.read(&ApiRequest::get("/api/v1/namespaces/default/events"), at(0));
    list.json_body().unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| (e["involvedObject"]["name"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

/// A Ready node with one CPU.
fn node() -> Value {
    json!({"metadata": {"name": "node-1"}, "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn requesting(name: &str, cpu: &str, class: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "hello", "resources": {"requests": {"cpu": cpu}}}]});
    if let Some(class) = class {
        spec["priorityClassName"] = json!(class);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

#[test]
fn a_high_priority_pod_evicts_a_lower_one_and_binds_once_it_is_gone() {
    let mut plane = ControlPlane::new(3, at(0));
    create(&mut plane, "/apis/scheduling.k8s.io/v1/priorityclasses", json!({"metadata": {"name": "critical"}, "value": 1000}), at(0));
    create(&mut plane, "/api/v1/nodes", node(), at(0));
    create(&mut plane, "/api/v1/namespaces/default/pods", requesting("batch", "800m", None), at(1));
    assert_eq!(pod(&plane, "batch")["spec"]["nodeName"], "node-1");

    create(&mut plane, "/api/v1/namespaces/default/pods", requesting("urgent", "800m", Some("critical")), at(2));
    // The victim is marked and deleted gracefully: it is still there while its kubelet stops it.
    let victim = pod(&plane, "batch");
    assert!(victim["metadata"]["deletionTimestamp"].is_string());
    let disruption = victim["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "DisruptionTarget").unwrap().clone();
    assert_eq!((disruption["reason"].as_str(), disruption["status"].as_str()), (Some("PreemptionByScheduler"), Some("True")));
    let urgent = pod(&plane, "urgent");
    assert_eq!(urgent["status"]["nominatedNodeName"], "node-1");
    assert!(urgent["spec"]["nodeName"].is_null());
    let uid = urgent["metadata"]["uid"].as_str().unwrap();
    assert_eq!(events(&plane, "Preempted"), [("batch".to_string(), format!("Preempted by pod {uid} on node node-1"))]);
    assert_eq!(events(&plane, "FailedScheduling"), [("urgent".to_string(), "0/1 nodes are available: 1 Insufficient cpu.".to_string())]);
    let decision = plane.scheduler().decision("default", "urgent").unwrap();
    assert_eq!(decision.preemption.as_ref().map(|p| (p.node.as_str(), p.victims.len())), Some(("node-1", 1)));
    let steps: Vec<&str> = plane.trace().about("Pod default/urgent").map(|s| s.text.as_str()).collect();
    assert!(steps.iter().any(|s| s.ends_with("preempting 1 pod(s) on node-1")), "{steps:#?}");

    // Meanwhile a pod of lower priority may not take the room being made.
    create(&mut plane, "/api/v1/namespaces/default/pods", requesting("sneaky", "100m", None), at(3));
    assert!(pod(&plane, "sneaky")["spec"]["nodeName"].is_null());

    // The victim stops and is removed (as its kubelet would): the preemptor is bound.
    let gone = ApiRequest::delete("/api/v1/namespaces/default/pods/batch").with_query("gracePeriodSeconds", "0").as_user("admin");
    assert!(plane.handle(&gone, at(10)).into_response().is_success());
    assert_eq!(pod(&plane, "urgent")["spec"]["nodeName"], "node-1");
    assert_eq!(plane.scheduler().decision("default", "urgent").unwrap().outcome, Outcome::Bound { node: "node-1".into() });
    assert!(events(&plane, "Scheduled").contains(&("urgent".to_string(), "Successfully assigned default/urgent to node-1".to_string())));
}

#[test]
fn a_pod_that_never_preempts_waits() {
    let mut plane = ControlPlane::new(3, at(0));
    create(&mut plane, "/apis/scheduling.k8s.io/v1/priorityclasses", json!({"metadata": {"name": "polite"}, "value": 1000, "preemptionPolicy": "Never"}), at(0));
    create(&mut plane, "/api/v1/nodes", node(), at(0));
    create(&mut plane, "/api/v1/namespaces/default/pods", requesting("batch", "800m", None), at(1));
    create(&mut plane, "/api/v1/namespaces/default/pods", requesting("polite", "800m", Some("polite")), at(2));
    assert!(pod(&plane, "batch")["metadata"]["deletionTimestamp"].is_null());
    assert_eq!(
        pod(&plane, "polite")["status"]["conditions"][0]["message"],
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
}
