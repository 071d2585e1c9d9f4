//! Deleting an owner, or a namespace, takes what it owns along as its
//! propagation policy says, on a cluster whose kubelets really stop the pods.

use crate::support::{is_active, is_ready, mins, reasons, rollout_done, secs};
use serde_json::json;
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web}]
";

fn deploy_web(ns: &str) -> Simulation {
    let mut sim = Simulation::new(3);
    sim.record_history();
    sim.script("web", Script { start_after: secs(1), ..Script::serves(10) });
    sim.add_node("worker");
    if ns != "default" {
        sim.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"));
    }
    sim.apply(&WEB.replace("NS", ns));
    assert!(sim.run_until_true(mins(1), |s| rollout_done(s, ns, "web")));
    sim
}

fn delete_web(sim: &mut Simulation, policy: Option<&str>) -> u16 {
    let mut request = ApiRequest::delete("/apis/apps/v1/namespaces/default/deployments/web");
    if let Some(policy) = policy {
        request = request.with_body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}));
    }
    let response = sim.request(request);
    assert!(response.is_success(), "{}", response.message());
    response.status
}

/// The revision of each deletion of `resource`, from the recorded history.
fn deleted_at(sim: &Simulation, resource: &str) -> Vec<u64> {
    let prefix = format!(" Deleted {resource}/");
    sim.history().iter().filter(|l| l.contains(&prefix)).map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect()
}

#[test]
fn a_deployment_runs_its_pods_through_a_replica_set() {
    let sim = deploy_web("default");
    let sets = sim.list("replicasets.apps", Some("default"));
    assert_eq!(sets.len(), 1);
    let pods = sim.list("pods", Some("default"));
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| is_ready(p) && p["spec"]["nodeName"] == "worker"));
    let rs_events = reasons(&sim, "default", sets[0]["metadata"]["name"].as_str().unwrap());
    assert_eq!(rs_events.iter().filter(|r| *r == "SuccessfulCreate").count(), 3);
    assert_eq!(reasons(&sim, "default", "web"), vec!["ScalingReplicaSet"]);
}

#[test]
fn a_foreground_delete_removes_the_pods_then_the_replica_set_then_the_deployment() {
    let mut sim = deploy_web("default");
    assert_eq!(delete_web(&mut sim, Some("Foreground")), 202);
    sim.run_for(secs(10));
    assert!(sim.get("deployments.apps", "default", "web").is_none());
    assert!(sim.list("replicasets.apps", None).is_empty() && sim.list("pods", None).is_empty());
    let (pods, sets, deployments) = (deleted_at(&sim, "pods"), deleted_at(&sim, "replicasets.apps"), deleted_at(&sim, "deployments.apps"));
    assert_eq!((pods.len(), sets.len(), deployments.len()), (3, 1, 1));
    assert!(pods.iter().max() < sets.first() && sets.first() < deployments.first(), "pods {pods:?}, rs {sets:?}, deployment {deployments:?}");
}

#[test]
fn a_background_delete_removes_the_deployment_at_once_and_the_rest_after() {
    let mut sim = deploy_web("default");
    assert_eq!(delete_web(&mut sim, None), 200);
    sim.run_for(secs(10));
    assert!(sim.list("replicasets.apps", None).is_empty() && sim.list("pods", None).is_empty());
    let (sets, deployments) = (deleted_at(&sim, "replicasets.apps"), deleted_at(&sim, "deployments.apps"));
    assert!(deployments.first() < sets.first());
}

#[test]
fn an_orphaning_delete_leaves_the_replica_set_and_its_pods_running() {
    let mut sim = deploy_web("default");
    delete_web(&mut sim, Some("Orphan"));
    sim.run_for(secs(10));
    assert!(sim.get("deployments.apps", "default", "web").is_none());
    let sets = sim.list("replicasets.apps", Some("default"));
    assert_eq!(sets.len(), 1);
    assert!(sets[0]["metadata"].get("ownerReferences").is_none(), "{}", sets[0]["metadata"]);
    assert_eq!(sim.list("pods", None).iter().filter(|p| is_active(p) && is_ready(p)).count(), 3, "the pods keep running");
}

#[test]
fn deleting_a_namespace_empties_it_and_removes_it() {
    let mut sim = deploy_web("team");
    sim.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team}\ndata: {a: b}\n");
    let response = sim.request(ApiRequest::delete("/api/v1/namespaces/team"));
    assert_eq!(response.status, 202, "the namespace waits for its content");
    sim.run_for(secs(10));
    assert!(sim.get("namespaces", "", "team").is_none(), "the namespace is gone");
    assert_eq!(sim.plane().api().store().keys_in_namespace("team").count(), 0);
}

const TEAM: &str = "
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: team}
spec:
  schedule: '*/5 * * * *'
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: main, image: long}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: team}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: long}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: team}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: long}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: team}
spec:
  clusterIP: None
  selector: {app: db}
";

fn team() -> Simulation {
    let mut sim = Simulation::new(8);
    sim.script("long", Script::serves(10));
    sim.add_node("a");
    sim.add_node("b");
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n");
    sim.apply(TEAM);
    sim.run_for(mins(6));
    let kinds = ["jobs.batch", "pods", "controllerrevisions.apps", "endpointslices.discovery.k8s.io", "endpoints"];
    assert!(kinds.iter().all(|k| !sim.list(k, Some("team")).is_empty()), "everything is running");
    sim
}

#[test]
fn deleting_a_cron_job_takes_its_jobs_and_their_pods() {
    let mut sim = team();
    sim.request(ApiRequest::delete("/apis/batch/v1/namespaces/team/cronjobs/nightly"));
    sim.run_for(secs(10));
    assert!(sim.list("jobs.batch", Some("team")).is_empty());
    let left: Vec<String> = sim.list("pods", Some("team")).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert!(left.iter().all(|p| !p.starts_with("nightly-")), "the Job pods went too (their tracking finalizers released): {left:?}");
}

#[test]
fn deleting_a_namespace_takes_every_workload_and_goes() {
    let mut sim = team();
    sim.request(ApiRequest::delete("/api/v1/namespaces/team"));
    sim.run_for(secs(30));
    assert!(sim.get("namespaces", "", "team").is_none(), "the namespace is gone");
    assert_eq!(sim.plane().api().store().keys_in_namespace("team").count(), 0);
}
