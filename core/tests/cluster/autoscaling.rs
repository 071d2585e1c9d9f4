//! A HorizontalPodAutoscaler on the simulated cluster: kubelets report the
//! CPU their pods use, the load is shared by however many pods there are,
//! and the autoscaler scales up under load (as fast as its policies allow,
//! up to maxReplicas) and back down only after the stabilization window.

use crate::support::{active_pods, is_ready, secs};
use serde_json::Value;
use tabernetes_core::controllers::events::events_about;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;
use tabernetes_core::Timestamp;

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web, resources: {requests: {cpu: 200m}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 8
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
";

fn replicas(sim: &Simulation) -> i64 {
    sim.get("deployments.apps", "default", "web").unwrap()["spec"]["replicas"].as_i64().unwrap()
}

fn hpa(sim: &Simulation) -> Value {
    sim.get("horizontalpodautoscalers.autoscaling", "default", "web").unwrap()["status"].clone()
}

fn condition(sim: &Simulation, type_: &str) -> (String, String) {
    let status = hpa(sim);
    let c = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap().clone();
    (c["status"].as_str().unwrap().to_string(), c["reason"].as_str().unwrap().to_string())
}

/// Runs with a total load of `total_millis` shared by the ready pods,
/// re-spread every 5 s, until `until`; returns the times the scale changed.
fn run_with_load(sim: &mut Simulation, total_millis: i64, until: Timestamp) -> Vec<(i64, i64)> {
    let mut changes = Vec::new();
    let mut last = replicas(sim);
    while sim.now() < until {
        let ready = active_pods(sim, "default").iter().filter(|p| is_ready(p)).count().max(1) as i64;
        sim.set_cpu("web", total_millis / ready);
        sim.run_for(secs(5));
        let now = replicas(sim);
        if now != last {
            changes.push((sim.elapsed_secs(), now));
            last = now;
        }
    }
    changes
}

#[test]
fn scales_up_under_load_and_down_after_the_stabilization_window() {
    let mut sim = Simulation::new(23);
    sim.script("web", Script { start_after: secs(2), ..Script::serves(0) });
    for node in ["a", "b", "c"] {
        sim.add_node(node);
    }
    sim.apply(WEB);
    // 1000m of load against 50% of 200m per pod wants 10 pods: 2 → 6 (at most +4 or +100% per 15 s) → 8 (maxReplicas).
    let until = sim.now() + secs(120);
    let up = run_with_load(&mut sim, 1000, until);
    assert_eq!(up.iter().map(|(_, r)| *r).collect::<Vec<_>>(), vec![6, 8], "{up:?}");
    assert_eq!(condition(&sim, "ScalingLimited"), ("True".into(), "TooManyReplicas".into()));
    assert_eq!(condition(&sim, "ScalingActive"), ("True".into(), "ValidMetricFound".into()));
    let status = hpa(&sim);
    assert_eq!((status["currentReplicas"].as_i64(), status["desiredReplicas"].as_i64()), (Some(8), Some(8)));
    assert_eq!(status["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 62, "1000m over 8 pods of 200m");
    // The load drops to 100m: the count holds for the 300 s window after the last high recommendation.
    let quiet_from = sim.elapsed_secs();
    let until = sim.now() + secs(400);
    let down = run_with_load(&mut sim, 100, until);
    assert_eq!(down.len(), 1, "{down:?}");
    let (at, to) = down[0];
    assert_eq!(to, 1, "down to minReplicas at once after the window (100% per 15 s allowed)");
    assert!((300..=330).contains(&(at - quiet_from)), "scaled down {} s after the load dropped", at - quiet_from);
    let rescales: Vec<String> = events_about(sim.plane().api(), "default", "web").into_iter().filter(|e| e.1 == "SuccessfulRescale").map(|e| e.2).collect();
    assert_eq!(rescales, vec![
        "New size: 6; reason: cpu resource utilization (percentage of request) above target",
        "New size: 8; reason: cpu resource utilization (percentage of request) above target",
        "New size: 1; reason: All metrics below target",
    ]);
}
