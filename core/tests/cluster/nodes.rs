//! Nodes dying and coming back: leases, Unknown after the grace period,
//! unreachable taints, and pods evicted once their toleration runs out, so
//! their controllers start them elsewhere.

use crate::support::{active_pods, is_ready, mins, node_of, secs};
use serde_json::Value;
use tabernetes_core::cluster_config::ClusterConfig;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;
use tabernetes_core::{ControlPlane, Timestamp};

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      # Requests make the scheduler spread the pods over the nodes.
      containers: [{name: web, image: web, resources: {requests: {cpu: 100m}}}]
";

fn cluster(config: ClusterConfig) -> Simulation {
    let mut sim = Simulation::with_plane(|now| ControlPlane::with_config(31, now, &config));
    sim.script("web", Script { start_after: secs(1), ..Script::serves(10) });
    for node in ["a", "b", "c"] {
        sim.add_node(node);
    }
    sim.apply(WEB);
    sim.run_for(secs(20));
    sim
}

fn ready_condition(sim: &Simulation, node: &str) -> Value {
    let node = sim.get("nodes", "", node).unwrap();
    node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone()
}

fn taints(sim: &Simulation, node: &str) -> Vec<String> {
    let node = sim.get("nodes", "", node).unwrap();
    node["spec"]["taints"].as_array().into_iter().flatten().map(|t| format!("{}:{}", t["key"].as_str().unwrap(), t["effect"].as_str().unwrap())).collect()
}

fn time(v: &Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

/// Ready pods per node, for nodes a, b, c.
fn spread(sim: &Simulation) -> [usize; 3] {
    let pods = active_pods(sim, "default");
    ["a", "b", "c"].map(|n| pods.iter().filter(|p| node_of(p) == n && is_ready(p)).count())
}

#[test]
fn nodes_renew_their_lease_every_ten_seconds() {
    let mut sim = cluster(ClusterConfig::default());
    let renewed = |s: &Simulation| time(&s.get("leases.coordination.k8s.io", "kube-node-lease", "b").unwrap()["spec"]["renewTime"]);
    let first = renewed(&sim);
    sim.run_for(secs(10));
    assert_eq!(renewed(&sim).duration_since(first), secs(10));
    let lease = sim.get("leases.coordination.k8s.io", "kube-node-lease", "b").unwrap();
    assert_eq!((lease["spec"]["holderIdentity"].as_str(), lease["spec"]["leaseDurationSeconds"].as_i64()), (Some("b"), Some(40)));
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node", "the lease goes with its node");
}

#[test]
fn a_dead_node_loses_its_pods_to_the_others_after_their_toleration() {
    let mut sim = cluster(ClusterConfig::default());
    assert_eq!(spread(&sim).iter().sum::<usize>(), 6);
    let on_b = spread(&sim)[1];
    assert!(on_b > 0);
    let killed = sim.now();
    sim.kill_node("b");
    // Within the 40 s grace period nothing changes.
    sim.run_for(secs(29));
    assert_eq!(ready_condition(&sim, "b")["status"], "True");
    sim.run_for(secs(12));
    let ready = ready_condition(&sim, "b");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("Unknown"), Some("NodeStatusUnknown")));
    let unknown_at = time(&ready["lastTransitionTime"]);
    assert!(unknown_at.duration_since(killed) <= secs(40), "noticed within the grace period after the last renewal");
    assert_eq!(taints(&sim, "b"), vec!["node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"]);
    assert_eq!(spread(&sim)[1], 0, "its pods are marked not ready at once");
    // They tolerate unreachable for 300 s; then the taint manager evicts them.
    sim.run_until(unknown_at + secs(299));
    assert!(sim.list("pods", Some("default")).iter().all(|p| p["metadata"].get("deletionTimestamp").is_none()));
    sim.run_until(unknown_at + secs(301));
    let evicted: Vec<_> = sim.list("pods", Some("default")).into_iter().filter(|p| node_of(p) == "b").collect();
    assert_eq!(evicted.len(), on_b);
    for pod in &evicted {
        assert!(pod["metadata"].get("deletionTimestamp").is_some(), "evicted, and Terminating while nobody can stop it");
        let target = pod["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "DisruptionTarget").unwrap();
        assert_eq!(target["reason"], "DeletionByTaintManager");
        assert_eq!(time(&target["lastTransitionTime"]).duration_since(unknown_at), secs(300));
    }
    // The ReplicaSet made replacements, which run on a and c.
    assert!(sim.run_until_true(mins(1), |s| spread(s)[0] + spread(s)[2] == 6));
    // The node comes back: its taints go, and its kubelet finishes the evicted pods.
    sim.restart_node("b");
    sim.run_for(secs(5));
    assert_eq!(ready_condition(&sim, "b")["status"], "True");
    assert!(taints(&sim, "b").is_empty());
    assert!(sim.list("pods", Some("default")).iter().all(|p| node_of(p) != "b"), "the evicted pods are gone");
}

#[test]
fn a_shorter_grace_period_and_toleration_move_pods_within_a_minute() {
    let mut sim = cluster(ClusterConfig { node_monitor_grace_period_secs: 20, default_toleration_seconds: 30 });
    let pod = active_pods(&sim, "default").into_iter().find(|p| node_of(p) == "b").unwrap();
    assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().iter().find(|t| t["key"] == "node.kubernetes.io/unreachable").unwrap()["tolerationSeconds"], 30);
    sim.kill_node("b");
    assert!(sim.run_until_true(secs(60), |s| spread(s)[0] + spread(s)[2] == 6));
    assert!(sim.elapsed_secs() - 20 <= 60);
}
