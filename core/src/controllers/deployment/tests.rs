//! The Deployment controller against a real API server, with the
//! ReplicaSet controller and a stand-in kubelet, step by step.

use crate::json_path::JsonPath;
use super::*;
use crate::controllers::events::events_about;
use crate::controllers::replica_set::ReplicaSetController;
use crate::controllers::runner::{Controller, Runner};
use crate::controllers::rollout_status::{AVAILABLE, NEW_RS_AVAILABLE, RS_UPDATED};
use crate::controllers::testing::{api, at, create, finish_deletions, get, pods, run_pod};

/// A Deployment, its ReplicaSets' controller and a kubelet that runs every
/// new pod, Ready or not as `ready` says.
struct Cluster {
    api: ApiServer,
    deployments: Runner<DeploymentController>,
    replica_sets: Runner<ReplicaSetController>,
    ready: bool,
}

impl Cluster {
    fn new() -> Self {
        Cluster { api: api(), deployments: Runner::new(DeploymentController::default()), replica_sets: Runner::new(ReplicaSetController::default()), ready: true }
    }

    /// One round: each controller once, then the kubelet.
    fn step(&mut self, now: Timestamp) {
        self.deployments.run_once(&mut self.api, now);
        self.replica_sets.run_once(&mut self.api, now);
        let unbound: Vec<String> = pods(&self.api, "default")
            .iter()
            .filter(|p| p.at(&["spec", "nodeName"]).is_none() && !is_being_deleted(p))
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        for pod in unbound {
            run_pod(&mut self.api, "default", &pod, self.ready, now);
        }
        finish_deletions(&mut self.api, now);
    }

    fn settle(&mut self, now: Timestamp) {
        for _ in 0..50 {
            let before = self.api.store().revision();
            self.step(now);
            if self.api.store().revision() == before {
                return;
            }
        }
        panic!("the cluster did not settle");
    }

    fn patch(&mut self, body: Value, now: Timestamp) {
        let request = ApiRequest::patch(DEPLOYMENTS.path(Some("default"), Some("web")), "application/merge-patch+json", body);
        let response = self.api.handle(&request.as_user("admin"), now).into_response();
        assert!(response.is_success(), "{}", response.message());
    }

    fn deployment(&self) -> Arc<Value> {
        get(&self.api, "deployments.apps", "default", "web").unwrap()
    }

    /// (name, spec.replicas, revision) of each ReplicaSet, oldest revision first.
    fn replica_sets(&self) -> Vec<(String, i64, String)> {
        let mut all: Vec<(String, i64, String)> = self
            .api
            .store()
            .list("replicasets.apps", Some("default"))
            .map(|(k, rs)| {
                let revision = rs.at(&["metadata", "annotations"]).and_then(|a| a.get(REVISION)).and_then(Value::as_str).unwrap_or("").to_string();
                (k.name.clone(), rs["spec"]["replicas"].as_i64().unwrap(), revision)
            })
            .collect();
        all.sort_by_key(|(_, _, r)| r.parse::<i64>().unwrap_or(0));
        all
    }

    fn condition_reason(&self, type_: &str) -> String {
        let d = self.deployment();
        let conditions = d.at(&["status", "conditions"]).and_then(Value::as_array).cloned().unwrap_or_default();
        conditions.iter().find(|c| c["type"] == type_).and_then(|c| c["reason"].as_str()).unwrap_or("").to_string()
    }
}

fn web(replicas: i64, strategy: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "strategy": strategy,
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "hello:1"}]}}}})
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

fn image(tag: &str) -> Value {
    json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": format!("hello:{tag}")}]}}}})
}

const PATH: &str = "/apis/apps/v1/namespaces/default/deployments";

#[test]
fn a_new_deployment_gets_a_replica_set_named_by_its_template_hash() {
    let mut c = Cluster::new();
    let d = create(&mut c.api, PATH, web(3, rolling(json!(1), json!(0))));
    c.settle(at(1));
    let sets = c.replica_sets();
    assert_eq!(sets.len(), 1);
    let (name, replicas, revision) = sets[0].clone();
    let hash = name.strip_prefix("web-").unwrap().to_string();
    assert_eq!((replicas, revision.as_str()), (3, "1"));
    let rs = get(&c.api, "replicasets.apps", "default", &name).unwrap();
    assert_eq!(rs["spec"]["selector"]["matchLabels"], json!({"app": "web", "pod-template-hash": hash}));
    assert_eq!(rs["spec"]["template"]["metadata"]["labels"], json!({"app": "web", "pod-template-hash": hash}));
    assert_eq!(rs["metadata"]["labels"], json!({"app": "web", "pod-template-hash": hash}));
    assert_eq!(rs["metadata"]["annotations"][DESIRED_REPLICAS], "3");
    assert_eq!(rs["metadata"]["annotations"][MAX_REPLICAS], "4");
    let owner = controller_of(&rs).unwrap();
    assert_eq!((&owner["kind"], &owner["uid"]), (&json!("Deployment"), &d["metadata"]["uid"]));
    let deployment = c.deployment();
    assert_eq!(deployment["metadata"]["annotations"][REVISION], "1");
    let status = &deployment["status"];
    assert_eq!((&status["observedGeneration"], &status["replicas"], &status["updatedReplicas"], &status["readyReplicas"], &status["availableReplicas"]), (&json!(1), &json!(3), &json!(3), &json!(3), &json!(3)));
    assert_eq!((c.condition_reason(AVAILABLE), c.condition_reason(PROGRESSING)), ("MinimumReplicasAvailable".into(), NEW_RS_AVAILABLE.into()));
    let events: Vec<String> = events_about(&c.api, "default", "web").into_iter().map(|(_, r, m, _)| format!("{r}: {m}")).collect();
    assert_eq!(events, vec![format!("ScalingReplicaSet: Scaled up replica set {name} from 0 to 3")]);
}

#[test]
fn the_first_step_of_a_rolling_update_respects_surge_and_unavailability() {
    // (replicas, maxSurge, maxUnavailable, (old, new) sizes after the first settle with new pods never ready)
    let cases = [
        (3, json!(1), json!(0), (3, 1)),
        (3, json!(0), json!(1), (2, 1)),
        (4, json!("25%"), json!("25%"), (3, 2)),
        (10, json!("25%"), json!("25%"), (8, 5)),
        (2, json!("50%"), json!(0), (2, 1)),
    ];
    for (replicas, surge, unavailable, want) in cases {
        let mut c = Cluster::new();
        create(&mut c.api, PATH, web(replicas, rolling(surge.clone(), unavailable.clone())));
        c.settle(at(1));
        c.ready = false;
        c.patch(image("2"), at(2));
        c.settle(at(2));
        let sets = c.replica_sets();
        assert_eq!((sets[0].1, sets[1].1), want, "{replicas} replicas, surge {surge}, unavailable {unavailable}");
    }
}

#[test]
fn a_rolling_update_finishes_with_only_the_new_replica_set() {
    let mut c = Cluster::new();
    create(&mut c.api, PATH, web(3, rolling(json!(1), json!(1))));
    c.settle(at(1));
    c.patch(image("2"), at(2));
    c.settle(at(2));
    let sets = c.replica_sets();
    assert_eq!((sets[0].1, sets[0].2.as_str(), sets[1].1, sets[1].2.as_str()), (0, "1", 3, "2"));
    let d = c.deployment();
    assert_eq!((&d["status"]["updatedReplicas"], &d["status"]["replicas"], &d["status"]["availableReplicas"]), (&json!(3), &json!(3), &json!(3)));
    assert_eq!(d["metadata"]["annotations"][REVISION], "2");
    assert_eq!(c.condition_reason(PROGRESSING), NEW_RS_AVAILABLE);
    assert!(pods(&c.api, "default").iter().all(|p| p["metadata"]["labels"]["pod-template-hash"] == sets[1].0.strip_prefix("web-").unwrap()));
}

#[test]
fn recreate_empties_the_old_replica_set_before_starting_the_new_one() {
    let mut c = Cluster::new();
    create(&mut c.api, PATH, web(2, json!({"type": "Recreate"})));
    c.settle(at(1));
    c.patch(image("2"), at(2));
    // One round: the old ReplicaSet is emptied and no new one exists yet.
    c.deployments.run_once(&mut c.api, at(2));
    assert_eq!(c.replica_sets().iter().map(|(_, n, _)| *n).collect::<Vec<_>>(), vec![0]);
    c.replica_sets.run_once(&mut c.api, at(2));
    c.deployments.run_once(&mut c.api, at(2));
    assert_eq!(c.replica_sets().len(), 1, "the old pods are still terminating");
    c.settle(at(3));
    let sets = c.replica_sets();
    assert_eq!((sets[0].1, sets[1].1), (0, 2));
}

#[test]
fn going_back_to_an_old_template_reuses_its_replica_set_with_the_next_revision() {
    let mut c = Cluster::new();
    create(&mut c.api, PATH, web(2, rolling(json!(1), json!(0))));
    c.settle(at(1));
    let first = c.replica_sets()[0].0.clone();
    c.patch(image("2"), at(2));
    c.settle(at(2));
    // What `kubectl rollout undo` does: the deployment's template becomes the old ReplicaSet's, without the hash label.
    let rs = get(&c.api, "replicasets.apps", "default", &first).unwrap();
    let mut template = rs["spec"]["template"].clone();
    template["metadata"]["labels"].as_object_mut().unwrap().remove("pod-template-hash");
    let undo = ApiRequest::patch(DEPLOYMENTS.path(Some("default"), Some("web")), "application/json-patch+json", json!([{"op": "replace", "path": "/spec/template", "value": template}]));
    assert!(c.api.handle(&undo.as_user("admin"), at(3)).into_response().is_success());
    c.settle(at(3));
    let sets = c.replica_sets();
    assert_eq!(sets.len(), 2, "no third ReplicaSet");
    assert_eq!(sets[1], (first.clone(), 2, "3".to_string()));
    assert_eq!(sets[0].1, 0);
    let rs = get(&c.api, "replicasets.apps", "default", &first).unwrap();
    assert_eq!(rs["metadata"]["annotations"][REVISION_HISTORY], "1");
    assert_eq!(c.deployment()["metadata"]["annotations"][REVISION], "3");
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out() {
    let mut c = Cluster::new();
    create(&mut c.api, PATH, web(2, rolling(json!(1), json!(0))));
    c.settle(at(1));
    c.patch(json!({"spec": {"paused": true}}), at(2));
    c.patch(image("2"), at(2));
    c.patch(json!({"spec": {"replicas": 3}}), at(2));
    c.settle(at(2));
    assert_eq!(c.replica_sets().iter().map(|(_, n, _)| *n).collect::<Vec<_>>(), vec![3]);
    assert_eq!(c.condition_reason(PROGRESSING), "DeploymentPaused");
    assert_eq!(c.deployment()["status"]["observedGeneration"], c.deployment()["metadata"]["generation"]);
    c.patch(json!({"spec": {"paused": false}}), at(3));
    c.settle(at(3));
    assert_eq!(c.replica_sets().iter().map(|(_, n, _)| *n).collect::<Vec<_>>(), vec![0, 3]);
}

#[test]
fn scaling_mid_rollout_shares_the_change_in_proportion() {
    let mut c = Cluster::new();
    create(&mut c.api, PATH, web(10, rolling(json!(3), json!(2))));
    c.settle(at(1));
    c.ready = false;
    c.patch(image("2"), at(2));
    c.settle(at(2));
    // Stuck half way: 8 old, 5 new (13 = 10 + surge 3).
    assert_eq!(c.replica_sets().iter().map(|(_, n, _)| *n).collect::<Vec<_>>(), vec![8, 5]);
    c.patch(json!({"spec": {"replicas": 20}}), at(3));
    c.settle(at(3));
    // 23 allowed, shared 8:5 → 14 and 9 (leftover to the larger).
    assert_eq!(c.replica_sets().iter().map(|(_, n, _)| *n).collect::<Vec<_>>(), vec![14, 9]);
}

#[test]
fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let mut c = Cluster::new();
    let mut d = web(1, rolling(json!(1), json!(0)));
    d["spec"]["revisionHistoryLimit"] = json!(1);
    create(&mut c.api, PATH, d);
    c.settle(at(1));
    for (i, tag) in ["2", "3", "4"].into_iter().enumerate() {
        c.patch(image(tag), at(2 + i as i64));
        c.settle(at(2 + i as i64));
    }
    let revisions: Vec<String> = c.replica_sets().into_iter().map(|(_, _, r)| r).collect();
    assert_eq!(revisions, vec!["3", "4"]);
}

#[test]
fn a_rollout_without_progress_exceeds_its_deadline() {
    let mut c = Cluster::new();
    let mut d = web(1, rolling(json!(1), json!(0)));
    d["spec"]["progressDeadlineSeconds"] = json!(10);
    create(&mut c.api, PATH, d);
    c.settle(at(1));
    c.ready = false;
    c.patch(image("2"), at(2));
    c.settle(at(2));
    // The new pod was created (progress) but never becomes ready.
    assert_eq!(c.condition_reason(PROGRESSING), RS_UPDATED);
    assert_eq!(c.deployments.next_wake(), Some(at(13)));
    c.settle(at(12));
    assert_eq!(c.condition_reason(PROGRESSING), RS_UPDATED, "within the deadline");
    c.settle(at(13));
    assert_eq!(c.condition_reason(PROGRESSING), "ProgressDeadlineExceeded");
    let message = c.deployment()["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Progressing").unwrap()["message"].clone();
    assert!(message.as_str().unwrap().ends_with("has timed out progressing."), "{message}");
}
