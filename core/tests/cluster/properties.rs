//! Randomised scenarios with a seeded generator: Deployments created,
//! scaled, updated and deleted while nodes die, come back, join and leave,
//! with time passing in between. Whatever happens, no pod runs on two nodes
//! or changes node, and once things calm down every Deployment has exactly
//! its replicas ready and nothing is left without its owner. A failing seed
//! is a reproducible case: the same seed replays the same history.

use crate::support::{active_pods, is_ready, mins, name, rollout_done, secs};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::cluster_config::ClusterConfig;
use tabernetes_core::simulation::rng::Rng;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;
use tabernetes_core::ControlPlane;

const SEEDS: u64 = 6;
const STEPS: usize = 25;

fn deployment(name: &str, replicas: u64, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers: [{{name: main, image: {image}, resources: {{requests: {{cpu: 50m}}}}}}]\n"
    )
}

/// What the invariants remember between steps.
#[derive(Default)]
struct Watch {
    /// Pod UID → the node it was first seen bound to.
    bound: BTreeMap<String, String>,
}

impl Watch {
    fn check(&mut self, sim: &Simulation, seed: u64, step: usize) {
        let mut running = BTreeSet::new();
        for (node, uid) in sim.running_pods() {
            assert!(running.insert(uid.clone()), "seed {seed} step {step}: pod {uid} runs on two nodes (one is {node})");
        }
        for pod in sim.list("pods", None) {
            let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) else { continue };
            let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
            let first = self.bound.entry(uid).or_insert_with(|| node.to_string());
            assert_eq!(first, node, "seed {seed} step {step}: pod {} moved from {first} to {node}", name(&pod));
        }
    }
}

/// Nothing that is not being deleted has lost all of its owners.
fn assert_no_orphans(sim: &Simulation, seed: u64) {
    let uids: BTreeSet<String> = sim.plane().api().store().iter().filter_map(|(_, o)| o.pointer("/metadata/uid").and_then(Value::as_str).map(String::from)).collect();
    for (key, object) in sim.plane().api().store().iter() {
        let owners = object.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default();
        let deleting = object.pointer("/metadata/deletionTimestamp").is_some();
        if owners.is_empty() || deleting {
            continue;
        }
        assert!(owners.iter().any(|o| uids.contains(o["uid"].as_str().unwrap_or(""))), "seed {seed}: {key:?} outlived its owners {owners:?}");
    }
}

fn random_step(sim: &mut Simulation, rng: &mut Rng, deployments: &mut BTreeSet<String>, next: &mut usize) {
    let existing: Vec<String> = deployments.iter().cloned().collect();
    let live = sim.live_nodes();
    let dead: Vec<String> = sim.node_names().into_iter().filter(|n| !live.contains(n)).collect();
    match rng.below(8) {
        0 | 1 => {
            *next += 1;
            let d = format!("app{next}");
            sim.apply(&deployment(&d, rng.below(5), "v1"));
            deployments.insert(d);
        }
        2 => {
            if let Some(d) = rng.pick(&existing) {
                let body = json!({"spec": {"replicas": rng.below(6)}});
                sim.request(ApiRequest::patch(format!("/apis/apps/v1/namespaces/default/deployments/{d}"), "application/merge-patch+json", body));
            }
        }
        3 => {
            if let Some(d) = rng.pick(&existing).cloned() {
                let policy = *rng.pick(&["Background", "Foreground", "Orphan"]).unwrap();
                let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
                sim.request(ApiRequest::delete(format!("/apis/apps/v1/namespaces/default/deployments/{d}")).with_body(options));
                deployments.remove(&d);
            }
        }
        4 => {
            if let Some(d) = rng.pick(&existing) {
                let image = *rng.pick(&["v1", "v2", "v3"]).unwrap();
                let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}});
                sim.request(ApiRequest::patch(format!("/apis/apps/v1/namespaces/default/deployments/{d}"), "application/merge-patch+json", body));
            }
        }
        5 if live.len() > 1 => {
            let node = rng.pick(&live).unwrap().clone();
            sim.kill_node(&node);
        }
        6 => match rng.pick(&dead).cloned() {
            Some(node) => sim.restart_node(&node),
            None => {
                *next += 1;
                sim.add_node(&format!("node{next}"));
            }
        },
        _ => {
            if let Some(node) = rng.pick(&dead).cloned() {
                sim.remove_node(&node);
            }
        }
    }
}

#[test]
fn random_operations_keep_the_cluster_consistent_and_converge() {
    for seed in 0..SEEDS {
        let config = ClusterConfig { node_monitor_grace_period_secs: 20, default_toleration_seconds: 30 };
        let mut sim = Simulation::with_plane(|now| ControlPlane::with_config(seed, now, &config));
        for image in ["v1", "v2", "v3"] {
            sim.script(image, Script { start_after: secs(2), ..Script::serves(10) });
        }
        for node in ["node0", "node1", "node2"] {
            sim.add_node(node);
        }
        let mut rng = Rng::seeded(seed);
        let (mut deployments, mut next, mut watch) = (BTreeSet::new(), 0, Watch::default());
        for step in 0..STEPS {
            random_step(&mut sim, &mut rng, &mut deployments, &mut next);
            sim.run_for(secs(rng.below(45) as i64 + 1));
            watch.check(&sim, seed, step);
        }
        // Calm: dead nodes are noticed, their pods evicted and replaced, rollouts finish.
        sim.run_for(mins(5));
        watch.check(&sim, seed, STEPS);
        for d in &deployments {
            let want = sim.get("deployments.apps", "default", d).unwrap()["spec"]["replicas"].as_u64().unwrap() as usize;
            let pods: Vec<_> = active_pods(&sim, "default").into_iter().filter(|p| p["metadata"]["labels"]["app"] == d.as_str()).collect();
            let ready = pods.iter().filter(|p| is_ready(p)).count();
            assert_eq!((pods.len(), ready), (want, want), "seed {seed}: {d} has {} pods, {ready} ready, wants {want}", pods.len());
            assert!(rollout_done(&sim, "default", d), "seed {seed}: {d}'s rollout finished");
        }
        assert_no_orphans(&sim, seed);
    }
}
