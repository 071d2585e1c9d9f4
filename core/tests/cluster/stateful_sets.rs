//! StatefulSets on the simulated cluster: stable names created in order,
//! removed highest first, Parallel management, rolling updates down to a
//! partition, OnDelete, and volumeClaimTemplates refused.

use crate::support::{active_pods, is_ready, mins, name, secs};
use serde_json::{json, Value};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;
use tabernetes_core::Timestamp;

const DB: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: db:1}]
";

fn cluster(manifest: &str) -> Simulation {
    let mut sim = Simulation::new(13);
    sim.record_history();
    sim.script("db:1", Script { start_after: secs(5), ..Script::serves(10) });
    sim.script("db:2", Script { start_after: secs(5), ..Script::serves(10) });
    sim.add_node("a");
    sim.add_node("b");
    sim.apply(manifest);
    sim
}

fn created_at(sim: &Simulation, pod: &str) -> Timestamp {
    sim.get("pods", "default", pod).unwrap()["metadata"]["creationTimestamp"].as_str().unwrap().parse().unwrap()
}

fn members(sim: &Simulation) -> Vec<String> {
    let mut names: Vec<String> = active_pods(sim, "default").iter().map(|p| name(p).to_string()).collect();
    names.sort();
    names
}

fn status(sim: &Simulation) -> Value {
    sim.get("statefulsets.apps", "default", "db").unwrap()["status"].clone()
}

fn all_ready(sim: &Simulation, n: usize) -> bool {
    let pods = active_pods(sim, "default");
    pods.len() == n && pods.iter().all(|p| is_ready(p))
}

fn patch(sim: &mut Simulation, body: Value) {
    let response = sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/statefulsets/db", "application/merge-patch+json", body));
    assert!(response.is_success(), "{}", response.message());
}

/// Pods deleted, in the order the store saw them go.
fn deletions(sim: &Simulation) -> Vec<String> {
    sim.history().iter().filter(|l| l.contains(" Deleted pods/")).map(|l| l.split('/').nth(2).unwrap().split(' ').next().unwrap().to_string()).collect()
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time_with_stable_names() {
    let mut sim = cluster(DB);
    assert!(sim.run_until_true(mins(1), |s| all_ready(s, 3)));
    assert_eq!(members(&sim), vec!["db-0", "db-1", "db-2"]);
    // Each waits for the one before to start (5 s).
    let (t0, t1, t2) = (created_at(&sim, "db-0"), created_at(&sim, "db-1"), created_at(&sim, "db-2"));
    assert_eq!((t1.duration_since(t0), t2.duration_since(t1)), (secs(5), secs(5)));
    let pod = sim.get("pods", "default", "db-1").unwrap();
    assert_eq!((pod["spec"]["hostname"].clone(), pod["spec"]["subdomain"].clone()), (json!("db-1"), json!("db")));
    assert_eq!(pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "db-1");
    assert_eq!(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "1");
    let s = status(&sim);
    assert_eq!((s["replicas"].clone(), s["readyReplicas"].clone(), s["currentReplicas"].clone()), (json!(3), json!(3), json!(3)));
    assert_eq!(s["currentRevision"], s["updateRevision"]);
}

#[test]
fn scaling_down_removes_the_highest_ordinals_first() {
    let mut sim = cluster(&DB.replace("replicas: 3", "replicas: 4"));
    assert!(sim.run_until_true(mins(1), |s| all_ready(s, 4)));
    patch(&mut sim, json!({"spec": {"replicas": 1}}));
    assert!(sim.run_until_true(mins(1), |s| members(s) == vec!["db-0"]));
    assert_eq!(deletions(&sim), vec!["db-3", "db-2", "db-1"]);
}

#[test]
fn parallel_creates_every_pod_at_once() {
    let mut sim = cluster(&DB.replace("  serviceName: db\n", "  serviceName: db\n  podManagementPolicy: Parallel\n"));
    sim.run_for(secs(1));
    assert_eq!(members(&sim), vec!["db-0", "db-1", "db-2"]);
    assert!(["db-0", "db-1", "db-2"].iter().all(|p| created_at(&sim, p) == created_at(&sim, "db-0")));
}

fn image(sim: &Simulation, pod: &str) -> String {
    sim.get("pods", "default", pod).map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string()).unwrap_or_default()
}

#[test]
fn a_rolling_update_stops_at_its_partition_then_finishes() {
    let mut sim = cluster(&DB.replace("  serviceName: db\n", "  serviceName: db\n  updateStrategy:\n    rollingUpdate: {partition: 1}\n"));
    assert!(sim.run_until_true(mins(1), |s| all_ready(s, 3)));
    let old_revision = status(&sim)["currentRevision"].clone();
    patch(&mut sim, json!({"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "db:2"}]}}}}));
    assert!(sim.run_until_true(mins(2), |s| image(s, "db-1") == "db:2" && all_ready(s, 3)));
    sim.run_for(secs(30));
    assert_eq!((image(&sim, "db-0"), image(&sim, "db-1"), image(&sim, "db-2")), ("db:1".into(), "db:2".into(), "db:2".into()));
    assert_eq!(deletions(&sim), vec!["db-2", "db-1"], "from the highest ordinal down");
    let s = status(&sim);
    assert_eq!((s["currentRevision"].clone(), s["currentReplicas"].clone(), s["updatedReplicas"].clone()), (old_revision, json!(1), json!(2)));
    assert_ne!(s["currentRevision"], s["updateRevision"]);
    // Lowering the partition finishes the rollout; the new revision becomes current.
    patch(&mut sim, json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}));
    assert!(sim.run_until_true(mins(2), |s| image(s, "db-0") == "db:2" && all_ready(s, 3)));
    sim.run_for(secs(1));
    let s = status(&sim);
    assert_eq!(s["currentRevision"], s["updateRevision"]);
    assert_eq!(s["currentReplicas"], 3);
}

#[test]
fn on_delete_updates_only_the_pods_that_are_deleted() {
    let mut sim = cluster(&DB.replace("  serviceName: db\n", "  serviceName: db\n  updateStrategy: {type: OnDelete}\n"));
    assert!(sim.run_until_true(mins(1), |s| all_ready(s, 3)));
    patch(&mut sim, json!({"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "db:2"}]}}}}));
    sim.run_for(mins(1));
    assert!(["db-0", "db-1", "db-2"].iter().all(|p| image(&sim, p) == "db:1"));
    sim.request(ApiRequest::delete("/api/v1/namespaces/default/pods/db-1"));
    assert!(sim.run_until_true(mins(1), |s| image(s, "db-1") == "db:2" && all_ready(s, 3)));
    assert_eq!((image(&sim, "db-0"), image(&sim, "db-2")), ("db:1".into(), "db:1".into()));
    assert_eq!(status(&sim)["updatedReplicas"], 1);
}

#[test]
fn volume_claim_templates_are_refused() {
    let mut sim = Simulation::new(1);
    let manifest = format!("{DB}  volumeClaimTemplates:\n  - metadata: {{name: data}}\n    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}\n");
    let docs = tabernetes_core::manifest::parse_documents(&manifest).unwrap();
    let now = sim.now();
    let (_, response) = sim.plane_mut().create_all(&docs, "admin", now).unwrap_err();
    assert_eq!(response.status, 422);
    assert!(response.message().contains("spec.volumeClaimTemplates: Forbidden: persistent volumes are not supported"), "{}", response.message());
}
