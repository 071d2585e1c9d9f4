//! The workload controllers inside a whole control plane: Deployments roll
//! out through ReplicaSets to pods that the scheduler binds and a simulated
//! kubelet runs; deletes propagate as their policy says; a deleted
//! namespace empties and goes. Everything runs on a virtual clock.

use serde_json::{json, Value};
use std::sync::Arc;
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::store::{EventType, ObjectKey};
use tabernetes_core::{manifest, ControlPlane, Timestamp};

const NODE: &str = "worker";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

/// A control plane with one Ready node, and a kubelet for it that does
/// what it is told: run pods (Ready at once, or one per step) and finish
/// their deletion.
struct Cluster {
    plane: ControlPlane,
    now: i64,
}

impl Cluster {
    fn new() -> Self {
        let mut plane = ControlPlane::new(11, at(0));
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
            "status": {"allocatable": {"cpu": "8", "memory": "8Gi", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}});
        let created = plane.handle(&ApiRequest::post("/api/v1/nodes", node).as_user(format!("system:node:{NODE}")).in_groups(&["system:nodes"]), at(0));
        assert!(created.into_response().is_success());
        Cluster { plane, now: 0 }
    }

    fn tick(&mut self) -> Timestamp {
        self.now += 1;
        at(self.now)
    }

    fn apply(&mut self, yaml: &str) {
        let now = self.tick();
        let docs = manifest::parse_documents(yaml).unwrap();
        self.plane.create_all(&docs, "admin", now).unwrap();
    }

    fn request(&mut self, request: ApiRequest) -> u16 {
        let now = self.tick();
        let response = self.plane.handle(&request.as_user("admin"), now).into_response();
        assert!(response.is_success(), "{}", response.message());
        response.status
    }

    fn kubelet(&self, request: ApiRequest) -> ApiRequest {
        request.as_user(format!("system:node:{NODE}")).in_groups(&["system:nodes"])
    }

    fn pods(&self) -> Vec<Arc<Value>> {
        self.plane.api().store().list("pods", None).map(|(_, p)| p.clone()).collect()
    }

    fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.plane.api().store().get(&ObjectKey::new(resource, ns, name)).cloned()
    }

    fn list(&self, resource: &str, ns: &str) -> Vec<Arc<Value>> {
        self.plane.api().store().list(resource, Some(ns)).map(|(_, o)| o.clone()).collect()
    }

    /// One kubelet step: finishes every pending deletion, and reports at
    /// most `start` bound pods Running and Ready. True if it did anything.
    fn kubelet_step(&mut self, start: usize) -> bool {
        let now = self.tick();
        let mut acted = false;
        for pod in self.pods() {
            let (ns, name) = (pod["metadata"]["namespace"].as_str().unwrap().to_string(), pod["metadata"]["name"].as_str().unwrap().to_string());
            if pod["metadata"].get("deletionTimestamp").is_some() && pod["spec"]["nodeName"] == NODE {
                let delete = ApiRequest::delete(format!("/api/v1/namespaces/{ns}/pods/{name}")).with_query("gracePeriodSeconds", "0");
                self.plane.handle(&self.kubelet(delete), now);
                acted = true;
            }
        }
        let mut started = 0;
        for pod in self.pods() {
            if started == start {
                break;
            }
            let bound = pod["spec"]["nodeName"] == NODE;
            if !bound || pod["metadata"].get("deletionTimestamp").is_some() || pod["status"]["phase"] == "Running" {
                continue;
            }
            let mut running = (*pod).clone();
            running["status"]["phase"] = json!("Running");
            running["status"]["conditions"] = json!([
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now.to_string()},
                {"type": "Ready", "status": "True", "lastTransitionTime": now.to_string()},
            ]);
            let (ns, name) = (pod["metadata"]["namespace"].as_str().unwrap(), pod["metadata"]["name"].as_str().unwrap());
            let put = ApiRequest::put(format!("/api/v1/namespaces/{ns}/pods/{name}/status"), running);
            assert!(self.plane.handle(&self.kubelet(put), now).into_response().is_success());
            started += 1;
            acted = true;
        }
        acted
    }

    /// Lets the kubelet run everything until nothing changes.
    fn run_all(&mut self) {
        for _ in 0..100 {
            if !self.kubelet_step(usize::MAX) {
                return;
            }
        }
        panic!("the kubelet never ran out of work");
    }

    /// `kubectl rollout status`'s test for a finished rollout.
    fn rollout_done(&self, ns: &str, name: &str) -> bool {
        let d = self.get("deployments.apps", ns, name).unwrap();
        let n = |v: &Value| v.as_i64().unwrap_or(0);
        let status = &d["status"];
        n(&d["metadata"]["generation"]) <= n(&status["observedGeneration"])
            && n(&status["updatedReplicas"]) >= n(&d["spec"]["replicas"])
            && n(&status["replicas"]) <= n(&status["updatedReplicas"])
            && n(&status["availableReplicas"]) >= n(&status["updatedReplicas"])
    }

    /// The revision of each object's deletion, from the store's history.
    fn deleted_at(&self, resource: &str) -> Vec<u64> {
        let events = self.plane.api().store().events_since(0).unwrap();
        events.filter(|e| e.event_type == EventType::Deleted && e.key.resource == resource).map(|e| e.revision).collect()
    }
}

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: hello:1
";

fn is_active(pod: &Value) -> bool {
    pod["metadata"].get("deletionTimestamp").is_none()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn image_of(pod: &Value) -> String {
    pod["spec"]["containers"][0]["image"].as_str().unwrap().to_string()
}

fn deploy_web() -> Cluster {
    let mut cluster = Cluster::new();
    cluster.apply(WEB);
    cluster.run_all();
    cluster
}

#[test]
fn a_deployment_creates_a_replica_set_and_three_running_pods() {
    let cluster = deploy_web();
    let sets = cluster.list("replicasets.apps", "default");
    assert_eq!(sets.len(), 1);
    let rs_name = sets[0]["metadata"]["name"].as_str().unwrap();
    let pods = cluster.pods();
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        assert!(pod["metadata"]["name"].as_str().unwrap().starts_with(&format!("{rs_name}-")));
        assert_eq!(pod["spec"]["nodeName"], NODE);
        assert!(is_ready(pod));
    }
    assert!(cluster.rollout_done("default", "web"));
    let reasons: Vec<String> = cluster.list("events", "default").iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "SuccessfulCreate").count(), 3);
    assert_eq!(reasons.iter().filter(|r| *r == "ScalingReplicaSet").count(), 1);
    assert_eq!(reasons.iter().filter(|r| *r == "Scheduled").count(), 3);
}

#[test]
fn an_image_change_rolls_out_within_max_surge_and_max_unavailable() {
    let mut cluster = deploy_web();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "hello:2"}]}}}});
    cluster.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/merge-patch+json", patch));
    // The kubelet starts one pod per step, so the rollout goes step by step.
    let (replicas, surge, unavailable) = (3, 1, 1);
    let (mut steps, mut most_pods, mut fewest_ready) = (0, 0, usize::MAX);
    while !cluster.rollout_done("default", "web") {
        let active: Vec<Arc<Value>> = cluster.pods().into_iter().filter(|p| is_active(p)).collect();
        let ready = active.iter().filter(|p| is_ready(p)).count();
        assert!(active.len() <= replicas + surge, "step {steps}: {} pods", active.len());
        assert!(ready >= replicas - unavailable, "step {steps}: only {ready} ready");
        (most_pods, fewest_ready) = (most_pods.max(active.len()), fewest_ready.min(ready));
        cluster.kubelet_step(1);
        steps += 1;
        assert!(steps < 50, "the rollout never finished");
    }
    // The rollout used all the room it had, so the bounds above were tested.
    assert_eq!((most_pods, fewest_ready), (replicas + surge, replicas - unavailable));
    cluster.run_all();
    let pods = cluster.pods();
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| image_of(p) == "hello:2" && is_ready(p)));
    let sets = cluster.list("replicasets.apps", "default");
    let sizes: Vec<(i64, String)> = sets.iter().map(|rs| (rs["spec"]["replicas"].as_i64().unwrap(), rs["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string())).collect();
    assert!(sizes.contains(&(0, "hello:1".into())) && sizes.contains(&(3, "hello:2".into())), "{sizes:?}");
}

#[test]
fn rollout_undo_brings_back_the_old_replica_set() {
    let mut cluster = deploy_web();
    let first = cluster.list("replicasets.apps", "default")[0].clone();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "hello:2"}]}}}});
    cluster.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/merge-patch+json", patch));
    cluster.run_all();
    // `kubectl rollout undo`: the previous revision's template, without its hash label, as a JSON patch.
    let mut template = first["spec"]["template"].clone();
    template["metadata"]["labels"].as_object_mut().unwrap().remove("pod-template-hash");
    let undo = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
    cluster.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/json-patch+json", undo));
    cluster.run_all();
    assert!(cluster.rollout_done("default", "web"));
    let sets = cluster.list("replicasets.apps", "default");
    assert_eq!(sets.len(), 2, "the old ReplicaSet is reused, not copied");
    let restored = cluster.get("replicasets.apps", "default", first["metadata"]["name"].as_str().unwrap()).unwrap();
    assert_eq!(restored["spec"]["replicas"], 3);
    assert_eq!(restored["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    let d = cluster.get("deployments.apps", "default", "web").unwrap();
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    assert!(cluster.pods().iter().all(|p| image_of(p) == "hello:1"));
}

fn delete_web(cluster: &mut Cluster, policy: Option<&str>) -> u16 {
    let mut request = ApiRequest::delete("/apis/apps/v1/namespaces/default/deployments/web");
    if let Some(policy) = policy {
        request = request.with_body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}));
    }
    cluster.request(request)
}

#[test]
fn an_orphaning_delete_leaves_the_replica_set_without_its_owner() {
    let mut cluster = deploy_web();
    delete_web(&mut cluster, Some("Orphan"));
    cluster.run_all();
    assert!(cluster.get("deployments.apps", "default", "web").is_none());
    let sets = cluster.list("replicasets.apps", "default");
    assert_eq!(sets.len(), 1);
    assert!(sets[0]["metadata"].get("ownerReferences").is_none(), "{}", sets[0]["metadata"]);
    assert_eq!(cluster.pods().iter().filter(|p| is_active(p) && is_ready(p)).count(), 3, "the pods keep running");
}

#[test]
fn a_foreground_delete_removes_the_pods_then_the_replica_set_then_the_deployment() {
    let mut cluster = deploy_web();
    assert_eq!(delete_web(&mut cluster, Some("Foreground")), 202);
    let d = cluster.get("deployments.apps", "default", "web").unwrap();
    assert_eq!(d["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert!(cluster.pods().iter().all(|p| !is_active(p)), "every pod is terminating");
    cluster.run_all();
    assert!(cluster.get("deployments.apps", "default", "web").is_none());
    assert!(cluster.list("replicasets.apps", "default").is_empty());
    assert!(cluster.pods().is_empty());
    let (pods, sets, deployments) = (cluster.deleted_at("pods"), cluster.deleted_at("replicasets.apps"), cluster.deleted_at("deployments.apps"));
    assert_eq!((pods.len(), sets.len(), deployments.len()), (3, 1, 1));
    assert!(pods.iter().max() < sets.first() && sets.first() < deployments.first(), "pods {pods:?}, rs {sets:?}, deployment {deployments:?}");
}

#[test]
fn a_background_delete_removes_the_deployment_at_once_and_the_rest_after() {
    let mut cluster = deploy_web();
    assert_eq!(delete_web(&mut cluster, None), 200);
    assert!(cluster.get("deployments.apps", "default", "web").is_none(), "gone at once");
    assert!(cluster.list("replicasets.apps", "default").is_empty(), "the collector took the ReplicaSet");
    assert_eq!(cluster.pods().len(), 3, "the pods wait for their kubelet");
    assert!(cluster.pods().iter().all(|p| !is_active(p)));
    cluster.run_all();
    assert!(cluster.pods().is_empty());
    let (sets, deployments) = (cluster.deleted_at("replicasets.apps"), cluster.deleted_at("deployments.apps"));
    assert!(deployments.first() < sets.first());
}

#[test]
fn deleting_a_namespace_empties_it_and_removes_it() {
    let mut cluster = Cluster::new();
    cluster.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n");
    cluster.apply(&WEB.replace("name: web\nspec:", "name: web\n  namespace: team\nspec:"));
    cluster.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team}\ndata: {a: b}\n");
    cluster.run_all();
    assert_eq!(cluster.list("pods", "team").len(), 3);
    cluster.request(ApiRequest::delete("/api/v1/namespaces/team"));
    let ns = cluster.get("namespaces", "", "team").unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(cluster.list("deployments.apps", "team").is_empty() && cluster.list("configmaps", "team").is_empty());
    cluster.run_all();
    assert!(cluster.get("namespaces", "", "team").is_none(), "the namespace is gone");
    assert_eq!(cluster.plane.api().store().keys_in_namespace("team").count(), 0);
}
