//! DaemonSets on the simulated cluster: one pod per fitting node as nodes
//! join, leave and change labels, and a rolling update node by node.

use crate::support::{active_pods, is_ready, mins, node_of, reasons, secs};
use serde_json::{json, Value};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;

const AGENT: &str = "
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy:
    rollingUpdate: {maxUnavailable: 1}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent:1}]
";

fn cluster(nodes: &[&str]) -> Simulation {
    let mut sim = Simulation::new(17);
    sim.script("agent:1", Script { start_after: secs(2), ..Script::serves(20) });
    sim.script("agent:2", Script { start_after: secs(5), ..Script::serves(20) });
    for node in nodes {
        sim.add_node(node);
    }
    sim
}

/// The nodes that run an active agent pod, sorted.
fn covered(sim: &Simulation) -> Vec<String> {
    let mut nodes: Vec<String> = active_pods(sim, "default").iter().map(|p| node_of(p).to_string()).collect();
    nodes.sort();
    nodes
}

fn status(sim: &Simulation) -> Value {
    sim.get("daemonsets.apps", "default", "agent").unwrap()["status"].clone()
}

fn label_node(sim: &mut Simulation, node: &str, labels: Value) {
    let response = sim.request(ApiRequest::patch(format!("/api/v1/nodes/{node}"), "application/merge-patch+json", json!({"metadata": {"labels": labels}})));
    assert!(response.is_success(), "{}", response.message());
}

#[test]
fn a_daemon_set_follows_nodes_joining_and_leaving() {
    let mut sim = cluster(&["a", "b"]);
    sim.apply(AGENT);
    sim.run_for(secs(10));
    assert_eq!(covered(&sim), vec!["a", "b"]);
    assert!(active_pods(&sim, "default").iter().all(|p| is_ready(p)));
    sim.add_node("c");
    sim.run_for(secs(10));
    assert_eq!(covered(&sim), vec!["a", "b", "c"]);
    let s = status(&sim);
    assert_eq!((s["desiredNumberScheduled"].clone(), s["currentNumberScheduled"].clone(), s["numberReady"].clone(), s["numberAvailable"].clone()), (json!(3), json!(3), json!(3), json!(3)));
    // A node that leaves takes its daemon pod with it (the pod GC collects it after 40 s).
    sim.remove_node("b");
    sim.run_for(secs(41));
    assert_eq!(covered(&sim), vec!["a", "c"]);
    assert!(sim.list("pods", Some("default")).iter().all(|p| node_of(p) != "b"), "the pod of the gone node was collected");
    assert_eq!(status(&sim)["desiredNumberScheduled"], 2);
    assert_eq!(reasons(&sim, "default", "agent").iter().filter(|r| *r == "SuccessfulCreate").count(), 3);
    // Daemon pods tolerate what evicts others: unreachable, not ready, cordoned.
    let tolerations = &active_pods(&sim, "default")[0]["spec"]["tolerations"];
    let keys: Vec<&str> = tolerations.as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert!(keys.contains(&"node.kubernetes.io/unreachable") && keys.contains(&"node.kubernetes.io/unschedulable"), "{keys:?}");
}

#[test]
fn a_node_selector_picks_the_nodes_and_relabelling_moves_the_pods() {
    let mut sim = cluster(&["a", "b", "c"]);
    label_node(&mut sim, "a", json!({"disk": "ssd"}));
    sim.apply(&AGENT.replace("    spec:\n      containers", "    spec:\n      nodeSelector: {disk: ssd}\n      containers"));
    sim.run_for(secs(10));
    assert_eq!(covered(&sim), vec!["a"]);
    label_node(&mut sim, "c", json!({"disk": "ssd"}));
    label_node(&mut sim, "a", json!({"disk": null}));
    sim.run_for(secs(10));
    assert_eq!(covered(&sim), vec!["c"]);
    assert_eq!(status(&sim)["desiredNumberScheduled"], 1);
}

#[test]
fn a_rolling_update_replaces_one_node_at_a_time_and_keeps_history() {
    let mut sim = cluster(&["a", "b", "c", "d"]);
    sim.apply(AGENT);
    sim.run_for(secs(10));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}});
    sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/daemonsets/agent", "application/merge-patch+json", patch));
    let image = |p: &Value| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string();
    let mut fewest_ready = usize::MAX;
    assert!(sim.run_until_true(mins(3), |s| {
        let pods = active_pods(s, "default");
        fewest_ready = fewest_ready.min(pods.iter().filter(|p| is_ready(p)).count());
        pods.len() == 4 && pods.iter().all(|p| image(p) == "agent:2" && is_ready(p))
    }));
    assert_eq!(fewest_ready, 3, "maxUnavailable 1: never fewer than 3 of 4 nodes served");
    assert_eq!(covered(&sim), vec!["a", "b", "c", "d"]);
    assert_eq!(status(&sim)["updatedNumberScheduled"], 4);
    let mut revisions: Vec<(i64, String)> = sim.list("controllerrevisions.apps", Some("default")).iter().map(|r| (r["revision"].as_i64().unwrap(), r["data"]["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string())).collect();
    revisions.sort();
    assert_eq!(revisions, vec![(1, "agent:1".to_string()), (2, "agent:2".to_string())]);
    let hash = sim.list("controllerrevisions.apps", Some("default")).into_iter().find(|r| r["revision"] == 2).unwrap()["metadata"]["labels"]["controller-revision-hash"].clone();
    assert!(active_pods(&sim, "default").iter().all(|p| p["metadata"]["labels"]["controller-revision-hash"] == hash));
}

#[test]
fn with_max_surge_the_new_pod_starts_before_the_old_one_goes() {
    let mut sim = cluster(&["a", "b"]);
    sim.apply(&AGENT.replace("{maxUnavailable: 1}", "{maxUnavailable: 0, maxSurge: 1}"));
    sim.run_for(secs(10));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}});
    sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/daemonsets/agent", "application/merge-patch+json", patch));
    let (mut fewest_ready, mut most) = (usize::MAX, 0);
    assert!(sim.run_until_true(mins(3), |s| {
        let pods = active_pods(s, "default");
        fewest_ready = fewest_ready.min(pods.iter().filter(|p| is_ready(p)).count());
        most = most.max(pods.len());
        status(s)["updatedNumberScheduled"] == 2 && status(s)["numberAvailable"] == 2 && pods.len() == 2
    }));
    assert_eq!((fewest_ready, most), (2, 3), "every node stays served; one surge pod at a time");
}
