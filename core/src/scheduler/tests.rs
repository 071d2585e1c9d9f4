use super::*;
use crate::store::ObjectKey;
use serde_json::Value;
use crate::apiserver::{ApiRequest, ApiServer};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

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
    let plugins: Vec<&str> = table.scores.columns.iter().map(|(p, _)| *p).collect();
    assert_eq!(plugins, ["TaintToleration", "NodeResourcesFit", "NodeResourcesBalancedAllocation", "ImageLocality"]);
    let big = table.nodes.iter().find(|v| table.node_name(v) == "big").unwrap();
    assert_eq!(table.total_of(big), Some(table.scores_of(big).map(|(_, s)| s).sum::<i64>()));
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
    let a = table.nodes.iter().find(|v| table.node_name(v) == "a").unwrap().rejection.as_ref().unwrap();
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

fn at(ms: i64) -> Timestamp {
    now().checked_add(k8s_openapi::jiff::SignedDuration::from_millis(ms)).unwrap()
}

fn create(api: &mut ApiServer, path: &str, object: Value, when: Timestamp) {
    let response = api.handle(&ApiRequest::post(path, object), when).into_response();
    assert!(response.is_success(), "{}", response.message());
}

fn node_object(name: &str, cpu: &str, labels: Value, taints: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "10"}}})
}

fn pod_object(name: &str, labels: Value, spec: Value) -> Value {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "c", "image": "hello", "resources": {"requests": {"cpu": spec.get("cpu").cloned().unwrap_or(json!("100m"))}}}]);
    spec.as_object_mut().unwrap().remove("cpu");
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec})
}

fn events(api: &ApiServer, reason: &str) -> Vec<(String, String)> {
    api.store()
        .list("events", Some("default"))
        .filter(|(_, e)| e["reason"] == reason)
        .map(|(_, e)| (e["involvedObject"]["name"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn the_failed_scheduling_message_is_kube_schedulers() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    let control_plane = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    create(&mut api, "/api/v1/nodes", node_object("node-1", "1", json!({}), json!([])), now());
    create(&mut api, "/api/v1/nodes", node_object("cp-1", "8", json!({}), control_plane.clone()), now());
    create(&mut api, "/api/v1/nodes", node_object("cp-2", "8", json!({}), control_plane), now());
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("p", json!({}), json!({"cpu": "2"})), now());
    scheduler.schedule_pending(&mut api, now());
    let message = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    assert_eq!(events(&api, "FailedScheduling"), [("p".to_string(), message.to_string())]);
    assert_eq!(pod(&api, "p")["status"]["conditions"][0]["message"], message);
    // The per-node table says the same, node by node.
    let table = scheduler.decision("default", "p").unwrap();
    let rejected: Vec<(&str, &str)> = table.nodes.iter().map(|v| (table.node_name(v), v.rejection.as_ref().unwrap().plugin)).collect();
    assert_eq!(rejected, [("cp-1", "TaintToleration"), ("cp-2", "TaintToleration"), ("node-1", "NodeResourcesFit")]);
}

#[test]
fn an_unschedulable_pod_is_requeued_by_a_node_that_could_take_it_not_by_unrelated_changes() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    create(&mut api, "/api/v1/nodes", node_object("small", "1", json!({}), json!([])), now());
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("p", json!({}), json!({"cpu": "2"})), now());
    assert_eq!(scheduler.schedule_pending(&mut api, now()).len(), 1);
    let waiting = QueueLengths { active: 0, backoff: 0, unschedulable: 1 };
    // Relabelling a node, and a node too small, cannot help NodeResourcesFit.
    let mut small = pod_free_node(&api, "small");
    small["metadata"]["labels"] = json!({"disk": "ssd"});
    api.handle(&ApiRequest::put("/api/v1/nodes/small", small), at(10));
    create(&mut api, "/api/v1/nodes", node_object("tiny", "500m", json!({}), json!([])), at(20));
    assert!(scheduler.schedule_pending(&mut api, at(30)).is_empty(), "no attempt without a helpful event");
    assert_eq!(scheduler.queue_lengths(), waiting);
    // A node with room does.
    create(&mut api, "/api/v1/nodes", node_object("big", "4", json!({}), json!([])), at(40));
    assert_eq!(scheduler.schedule_pending(&mut api, at(50)).len(), 1);
    assert_eq!(pod(&api, "p")["spec"]["nodeName"], "big");
}

fn pod_free_node(api: &ApiServer, name: &str) -> Value {
    (**api.store().get(&ObjectKey::new("nodes", "", name)).unwrap()).clone()
}

#[test]
fn back_off_holds_a_requeued_pod_until_it_expires_on_the_virtual_clock() {
    let mut api = ApiServer::new(1, now());
    // Without popping from the back-off queue when idle, the back-off is what decides.
    let mut scheduler = Scheduler::new(plugins::default_framework(), QueueConfig { pop_from_backoff: false, ..QueueConfig::default() });
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("p", json!({}), json!({})), now());
    scheduler.schedule_pending(&mut api, now());
    create(&mut api, "/api/v1/nodes", node_object("n", "1", json!({}), json!([])), at(100));
    assert!(scheduler.schedule_pending(&mut api, at(100)).is_empty());
    assert_eq!(scheduler.queue_lengths(), QueueLengths { active: 0, backoff: 1, unschedulable: 0 });
    assert_eq!(scheduler.next_wake(), Some(at(1000)), "1 s after the first attempt");
    assert!(scheduler.schedule_pending(&mut api, at(999)).is_empty());
    assert_eq!(scheduler.schedule_pending(&mut api, at(1000)).len(), 1);
    assert_eq!(pod(&api, "p")["spec"]["nodeName"], "n");
    assert_eq!(scheduler.next_wake(), None);
}

#[test]
fn topology_spread_keeps_zones_even() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    // Zone a has three nodes, b and c one each: without the constraint, pods would crowd into a.
    for (name, zone) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c")] {
        create(&mut api, "/api/v1/nodes", node_object(name, "4", json!({"topology.kubernetes.io/zone": zone}), json!([])), now());
    }
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
    for i in 0..6 {
        create(&mut api, "/api/v1/namespaces/default/pods", pod_object(&format!("web-{i}"), json!({"app": "web"}), spread.clone()), now());
    }
    scheduler.schedule_pending(&mut api, now());
    let mut per_zone = BTreeMap::new();
    for i in 0..6 {
        let node = pod(&api, &format!("web-{i}"))["spec"]["nodeName"].as_str().unwrap().to_string();
        *per_zone.entry(node[..1].to_string()).or_insert(0) += 1;
    }
    assert_eq!(per_zone, BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 2), ("c".to_string(), 2)]));
}

#[test]
fn required_anti_affinity_puts_each_replica_on_its_own_node() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    for name in ["n1", "n2", "n3"] {
        create(&mut api, "/api/v1/nodes", node_object(name, "4", json!({"kubernetes.io/hostname": name}), json!([])), now());
    }
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    for i in 0..4 {
        create(&mut api, "/api/v1/namespaces/default/pods", pod_object(&format!("db-{i}"), json!({"app": "db"}), anti.clone()), now());
    }
    scheduler.schedule_pending(&mut api, now());
    let nodes: BTreeSet<String> = (0..3).map(|i| pod(&api, &format!("db-{i}"))["spec"]["nodeName"].as_str().unwrap().to_string()).collect();
    assert_eq!(nodes.len(), 3);
    assert_eq!(
        pod(&api, "db-3")["status"]["conditions"][0]["message"],
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );
    // One replica going frees its node for the waiting one.
    api.handle(&ApiRequest::delete("/api/v1/namespaces/default/pods/db-0").with_query("gracePeriodSeconds", "0"), at(10));
    assert_eq!(scheduler.schedule_pending(&mut api, at(20)).len(), 1);
    assert!(pod(&api, "db-3")["spec"]["nodeName"].is_string());
}

#[test]
fn higher_priority_pods_are_scheduled_first() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    create(&mut api, "/apis/scheduling.k8s.io/v1/priorityclasses", json!({"metadata": {"name": "high"}, "value": 100}), now());
    create(&mut api, "/api/v1/nodes", node_object("n", "1", json!({}), json!([])), now());
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("first-low", json!({}), json!({"cpu": "600m"})), now());
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("later-high", json!({}), json!({"cpu": "600m", "priorityClassName": "high"})), at(1));
    let decided = scheduler.schedule_pending(&mut api, at(2));
    assert_eq!(decided[0].1, "later-high");
    assert_eq!(pod(&api, "later-high")["spec"]["nodeName"], "n");
    assert!(pod(&api, "first-low")["spec"]["nodeName"].is_null());
}

#[test]
fn sampling_filters_only_enough_nodes_in_a_large_cluster_and_moves_on() {
    let mut api = ApiServer::new(1, now());
    let mut scheduler = Scheduler::default();
    for i in 0..500 {
        create(&mut api, "/api/v1/nodes", node_object(&format!("n{i:03}"), "4", json!({}), json!([])), now());
    }
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("p1", json!({}), json!({})), now());
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("p2", json!({}), json!({})), now());
    scheduler.schedule_pending(&mut api, now());
    // 500 nodes: 50 - 500/125 = 46% → 230 nodes filtered per pod, the next pod starting where this one stopped.
    let (first, second) = (scheduler.decision("default", "p1").unwrap(), scheduler.decision("default", "p2").unwrap());
    assert_eq!((first.evaluated, first.feasible, first.total_nodes), (230, 230, 500));
    assert_eq!(second.evaluated, 230);
    assert_ne!(first.node_name(&first.nodes[0]), second.node_name(&second.nodes[0]));
}

#[test]
fn the_scheduler_can_move_between_threads() {
    // node-host runs the control plane on an async runtime's threads.
    fn send<T: Send>() {}
    send::<Scheduler>();
    send::<crate::ControlPlane>();
}

/// A Reserve plugin that refuses every pod and records what it gave back.
struct Refusing(std::sync::Mutex<Vec<String>>);

impl framework::Plugin for Refusing {
    fn name(&self) -> &'static str {
        "Refusing"
    }
}

impl framework::ReservePlugin for Refusing {
    fn reserve(&self, _: &mut framework::CycleState, _: &PodInfo, node: &str) -> Result<(), framework::Status> {
        Err(framework::Status::error(format!("no room left on {node}")))
    }
    fn unreserve(&self, _: &mut framework::CycleState, pod: &PodInfo, node: &str) {
        self.0.lock().unwrap().push(format!("{} from {node}", pod.name()));
    }
}

#[test]
fn a_failed_reserve_is_unreserved_and_the_pod_backs_off_without_binding() {
    let mut api = ApiServer::new(1, now());
    let refusing = std::sync::Arc::new(Refusing(Default::default()));
    let mut framework = plugins::default_framework();
    framework.reserves.push(refusing.clone());
    let mut scheduler = Scheduler::new(framework, QueueConfig::default());
    create(&mut api, "/api/v1/nodes", node_object("n", "1", json!({}), json!([])), now());
    create(&mut api, "/api/v1/namespaces/default/pods", pod_object("p", json!({}), json!({})), now());
    scheduler.schedule_pending(&mut api, now());
    assert!(pod(&api, "p")["spec"]["nodeName"].is_null());
    assert_eq!(*refusing.0.lock().unwrap(), ["p from n"]);
    assert_eq!(events(&api, "FailedScheduling"), [("p".to_string(), "binding rejected: no room left on n".to_string())]);
    // An error is retried only after its back-off, even with the scheduler idle.
    assert_eq!(scheduler.queue_lengths(), QueueLengths { active: 0, backoff: 1, unschedulable: 0 });
    assert_eq!(scheduler.next_wake(), Some(at(1000)));
}
