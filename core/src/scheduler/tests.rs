use super::*;
use crate::store::ObjectKey;
use serde_json::Value;
use crate::apiserver::{ApiRequest, ApiServer};
use serde_json::json;

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn add_node(api: &mut ApiServer, name: &str, cpu: &str, labels: Value) {
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}, "conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(api.handle(&ApiRequest::post("/api/v1/nodes", node), now()).into_response().status, 201);
}

fn add_pod(api: &mut ApiServer, name: &str, cpu: &str, selector: Value) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeSelector": selector, "containers": [{"name": "c", "image": "hello", "resources": {"requests": {"cpu": cpu}}}]}});
    let response = api.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", pod), now()).into_response();
    assert_eq!(response.status, 201, "{}", response.message());
}

fn pod(api: &ApiServer, name: &str) -> Value {
    (**api.store().get(&ObjectKey::new("pods", "default", name)).unwrap()).clone()
}

#[test]
fn binds_to_the_least_allocated_fitting_node_and_records_why() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    add_node(&mut api, "small", "1", json!({}));
    add_node(&mut api, "big", "4", json!({}));
    add_pod(&mut api, "p", "500m", json!({}));
    let decided = scheduler.schedule_pending(&mut api, now());
    assert_eq!(decided, [("default".to_string(), "p".to_string())]);
    let table = scheduler.decision("default", "p").unwrap();
    assert_eq!(table.outcome, Outcome::Bound { node: "big".into() });
    assert_eq!(pod(&api, "p")["spec"]["nodeName"], "big");
    assert_eq!(table.nodes.len(), 2);
    assert!(table.nodes.iter().all(|v| v.rejection.is_none()));
    let plugins: Vec<&str> = table.score_columns.iter().map(|(p, _)| *p).collect();
    assert_eq!(plugins, ["TaintToleration", "NodeResourcesFit", "NodeResourcesBalancedAllocation", "ImageLocality"]);
    let big = table.nodes.iter().find(|v| &*v.node == "big").unwrap();
    assert_eq!(big.total, table.scores_of(big).map(|(_, s)| s).sum::<i64>());
    let events: Vec<String> = api.store().list("events", Some("default")).map(|(_, e)| e["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(events, vec!["Scheduled"]);
}

#[test]
fn a_pod_that_fits_nowhere_stays_pending_with_the_kubernetes_message() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    add_node(&mut api, "a", "1", json!({"tabernetes.io/runtime": "browser"}));
    add_node(&mut api, "b", "1", json!({"tabernetes.io/runtime": "wasmtime"}));
    add_pod(&mut api, "p", "2", json!({"tabernetes.io/runtime": "browser"}));
    scheduler.schedule_pending(&mut api, now());
    let p = pod(&api, "p");
    assert_eq!(p["spec"].get("nodeName"), None);
    let condition = &p["status"]["conditions"][0];
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(
        condition["message"],
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    let table = scheduler.decision("default", "p").unwrap();
    let a = table.nodes.iter().find(|v| &*v.node == "a").unwrap().rejection.as_ref().unwrap();
    assert_eq!((a.plugin, a.reasons.join(", ")), ("NodeResourcesFit", "Insufficient cpu".to_string()));
    assert_eq!(scheduler.queue_lengths(), QueueLengths { active: 0, backoff: 0, unschedulable: 1 });
    // Its own status write does not requeue it.
    assert!(scheduler.schedule_pending(&mut api, now()).is_empty());
}

#[test]
fn a_new_node_requeues_unschedulable_pods() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    add_pod(&mut api, "p", "100m", json!({}));
    scheduler.schedule_pending(&mut api, now());
    assert_eq!(scheduler.decision("default", "p").unwrap().outcome, Outcome::Unschedulable { message: "no nodes available to schedule pods".into() });
    add_node(&mut api, "late", "1", json!({}));
    scheduler.schedule_pending(&mut api, now());
    assert_eq!(scheduler.decision("default", "p").unwrap().outcome, Outcome::Bound { node: "late".into() });
}

#[test]
fn deleting_a_pod_frees_its_share_of_the_node() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    add_node(&mut api, "n", "1", json!({}));
    add_pod(&mut api, "first", "800m", json!({}));
    add_pod(&mut api, "second", "800m", json!({}));
    scheduler.schedule_pending(&mut api, now());
    assert_eq!(pod(&api, "first")["spec"]["nodeName"], "n");
    assert_eq!(pod(&api, "second")["spec"].get("nodeName"), None);
    api.handle(&ApiRequest::delete("/api/v1/namespaces/default/pods/first").with_query("gracePeriodSeconds", "0"), now());
    scheduler.schedule_pending(&mut api, now());
    assert_eq!(pod(&api, "second")["spec"]["nodeName"], "n");
}

#[test]
fn relists_after_its_history_was_compacted() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    add_node(&mut api, "n", "2", json!({}));
    scheduler.schedule_pending(&mut api, now());
    // Simulate falling behind: a fresh scheduler with a cursor of 0 against a store whose history starts later.
    let mut behind = Scheduler::default();
    add_pod(&mut api, "p", "100m", json!({}));
    behind.relist(&api, now());
    assert_eq!(behind.snapshot.len(), 1);
    assert_eq!(behind.pending.len(), 1);
}
