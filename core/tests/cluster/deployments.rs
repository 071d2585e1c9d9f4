//! Deployments on the simulated cluster: a rolling update stays within its
//! bounds at every instant, and a rollback brings the old template back.

use crate::support::{active_pods, is_ready, mins, rollout_done, secs};
use serde_json::json;
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  strategy:
    rollingUpdate: {maxSurge: 2, maxUnavailable: 1}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1}]
";

fn cluster() -> Simulation {
    let mut sim = Simulation::new(5);
    // Each version takes a while to start, so the rollout goes in steps.
    sim.script("web:1", Script { start_after: secs(3), ..Script::serves(50) });
    sim.script("web:2", Script { start_after: secs(7), ..Script::serves(50) });
    for node in ["a", "b", "c"] {
        sim.add_node(node);
    }
    sim.apply(WEB);
    assert!(sim.run_until_true(mins(2), |s| rollout_done(s, "default", "web")));
    sim
}

fn set_image(sim: &mut Simulation, image: &str) {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
    let response = sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/merge-patch+json", patch));
    assert!(response.is_success(), "{}", response.message());
}

fn images(sim: &Simulation) -> Vec<String> {
    active_pods(sim, "default").iter().map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_rolling_update_never_leaves_its_bounds() {
    let mut sim = cluster();
    set_image(&mut sim, "web:2");
    let (replicas, surge, unavailable) = (6, 2, 1);
    let (mut most, mut fewest_ready) = (0, usize::MAX);
    let done = sim.run_until_true(mins(5), |s| {
        let pods = active_pods(s, "default");
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        most = most.max(pods.len());
        fewest_ready = fewest_ready.min(ready);
        rollout_done(s, "default", "web") && images(s).iter().all(|i| i == "web:2")
    });
    assert!(done, "the rollout finished");
    assert!(most <= replicas + surge, "at most {} pods at once, saw {most}", replicas + surge);
    assert!(fewest_ready >= replicas - unavailable, "at least {} ready at all times, saw {fewest_ready}", replicas - unavailable);
    // The bounds were reached, so they were tested.
    assert_eq!((most, fewest_ready), (replicas + surge, replicas - unavailable));
}

#[test]
fn a_rollback_restores_the_previous_template() {
    let mut sim = cluster();
    set_image(&mut sim, "web:2");
    assert!(sim.run_until_true(mins(5), |s| rollout_done(s, "default", "web") && images(s).iter().all(|i| i == "web:2")));
    // `kubectl rollout undo`: the template of the previous revision, as a patch.
    let old = sim.list("replicasets.apps", Some("default")).into_iter().find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1").unwrap();
    let mut template = old["spec"]["template"].clone();
    template["metadata"]["labels"].as_object_mut().unwrap().remove("pod-template-hash");
    sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/json-patch+json", json!([{"op": "replace", "path": "/spec/template", "value": template}])));
    assert!(sim.run_until_true(mins(5), |s| rollout_done(s, "default", "web") && images(s).iter().all(|i| i == "web:1")));
    assert_eq!(images(&sim).len(), 6);
    let restored = sim.get("replicasets.apps", "default", old["metadata"]["name"].as_str().unwrap()).unwrap();
    assert_eq!(restored["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3", "the old ReplicaSet is reused as revision 3");
    assert_eq!(sim.list("replicasets.apps", Some("default")).len(), 2);
}
