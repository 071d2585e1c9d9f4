//! The same scenario with the same seed gives the same history, event for
//! event: the store's whole history, not just its end state.

use crate::support::{active_pods, mins, rollout_done, secs};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;

const WEB: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: web:1}]
";

/// Three nodes, a Deployment, a rollout, a node dying and one joining.
fn scenario(seed: u64) -> Simulation {
    let mut sim = Simulation::new(seed);
    sim.record_history();
    sim.script("web:1", Script { start_after: secs(2), ..Script::serves(100) });
    sim.script("web:2", Script { start_after: secs(3), ..Script::serves(150) });
    for node in ["a", "b", "c"] {
        sim.add_node(node);
    }
    sim.apply(WEB);
    sim.run_for(secs(30));
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/merge-patch+json", patch));
    sim.run_for(secs(40));
    sim.kill_node("b");
    sim.run_for(mins(2));
    sim.add_node("d");
    sim.run_for(mins(10));
    sim
}

#[test]
fn the_same_seed_replays_the_same_history_event_for_event() {
    let (first, second) = (scenario(42), scenario(42));
    assert!(rollout_done(&first, "default", "web"));
    assert_eq!(active_pods(&first, "default").len(), 4);
    assert_eq!(first.history(), second.history());
    assert_eq!(first.history_digest(), second.history_digest());
    assert!(first.history_digest().0 > 100, "a real history: {:?}", first.history_digest());
    // Another seed gives other names (UIDs, generated suffixes), so another history.
    assert_ne!(scenario(43).history_digest(), first.history_digest());
}

#[test]
fn lease_renewals_stay_out_of_the_trace() {
    let mut sim = Simulation::new(1);
    sim.add_node("a");
    sim.run_for(mins(2));
    let leases = sim.plane().trace().steps().filter(|s| s.object.starts_with("Lease")).count();
    assert_eq!(leases, 0);
}
