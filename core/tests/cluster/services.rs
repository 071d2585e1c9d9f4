//! Services on the simulated cluster: pods get addresses from their node's
//! pod CIDR, and the Endpoints and EndpointSlices of a Service follow its
//! pods, ready or not, with ports resolved by name.

use crate::support::{active_pods, node_of, secs};
use serde_json::{json, Value};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::cluster_config::ClusterConfig;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;
use tabernetes_core::ControlPlane;

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
      containers:
      - name: web
        image: web
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 100m}}
---
apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: front}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
";

fn cluster() -> Simulation {
    let config = ClusterConfig { node_monitor_grace_period_secs: 20, default_toleration_seconds: 30 };
    let mut sim = Simulation::with_plane(|now| ControlPlane::with_config(41, now, &config));
    sim.script("web", Script { start_after: secs(1), ..Script::serves(10) });
    sim.add_node("a");
    sim.add_node("b");
    sim.apply(WEB);
    sim.run_for(secs(15));
    sim
}

fn endpoints(sim: &Simulation) -> Value {
    sim.get("endpoints", "default", "web").unwrap().as_ref().clone()
}

fn ips(list: &Value) -> Vec<String> {
    list.as_array().into_iter().flatten().map(|a| a["ip"].as_str().unwrap().to_string()).collect()
}

fn slices(sim: &Simulation) -> Vec<Value> {
    sim.list("endpointslices.discovery.k8s.io", Some("default")).iter().map(|s| s.as_ref().clone()).collect()
}

#[test]
fn pods_get_addresses_from_their_node_range() {
    let sim = cluster();
    assert_eq!(sim.get("nodes", "", "a").unwrap()["spec"]["podCIDR"], "10.244.0.0/24");
    assert_eq!(sim.get("nodes", "", "b").unwrap()["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
    let pods = active_pods(&sim, "default");
    let mut addresses: Vec<String> = pods.iter().map(|p| p["status"]["podIP"].as_str().unwrap().to_string()).collect();
    for pod in &pods {
        let range = if node_of(pod) == "a" { "10.244.0." } else { "10.244.1." };
        assert!(pod["status"]["podIP"].as_str().unwrap().starts_with(range), "{}", pod["status"]);
        assert_eq!(pod["status"]["podIPs"][0]["ip"], pod["status"]["podIP"]);
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 4, "no address is given twice");
}

#[test]
fn endpoints_list_ready_pods_on_the_named_port_and_follow_readiness() {
    let mut sim = cluster();
    let ep = endpoints(&sim);
    assert_eq!(ep["metadata"]["labels"], json!({"tier": "front"}));
    let subsets = ep["subsets"].as_array().unwrap();
    assert_eq!(subsets.len(), 1);
    assert_eq!(subsets[0]["ports"], json!([{"port": 8080, "protocol": "TCP"}]), "targetPort http is the container's 8080");
    let mut want: Vec<String> = active_pods(&sim, "default").iter().map(|p| p["status"]["podIP"].as_str().unwrap().to_string()).collect();
    want.sort();
    assert_eq!(ips(&subsets[0]["addresses"]), want);
    assert!(subsets[0]["addresses"].as_array().unwrap().iter().all(|a| a["targetRef"]["kind"] == "Pod" && a.get("nodeName").is_some()));
    // Node b dies: once it is noticed, its pods are no longer ready.
    let mut on_b: Vec<String> = active_pods(&sim, "default").iter().filter(|p| node_of(p) == "b").map(|p| p["status"]["podIP"].as_str().unwrap().to_string()).collect();
    on_b.sort();
    assert!(!on_b.is_empty());
    sim.kill_node("b");
    sim.run_for(secs(25));
    let subsets = endpoints(&sim)["subsets"].clone();
    assert_eq!(ips(&subsets[0]["notReadyAddresses"]), on_b);
    let slice = &slices(&sim)[0];
    let not_ready: Vec<&Value> = slice["endpoints"].as_array().unwrap().iter().filter(|e| e["conditions"]["ready"] == false).collect();
    assert_eq!(not_ready.len(), on_b.len());
    // Evicted 30 s later: Endpoints drop them; the slice shows them terminating until they are gone.
    sim.run_for(secs(31));
    let subsets = endpoints(&sim)["subsets"].clone();
    assert!(subsets.as_array().unwrap().iter().all(|s| s.get("notReadyAddresses").is_none()), "{subsets}");
    let mut terminating: Vec<String> = slices(&sim).iter().flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default()).filter(|e| e["conditions"]["terminating"] == true).map(|e| e["addresses"][0].as_str().unwrap().to_string()).collect();
    terminating.sort();
    assert_eq!(terminating, on_b);
    assert!(sim.run_until_true(secs(30), |s| ips(&endpoints(s)["subsets"][0]["addresses"]).len() == 4), "replacements on a are ready endpoints");
}

#[test]
fn endpoint_slices_belong_to_their_service_and_go_with_it() {
    let mut sim = cluster();
    let all = slices(&sim);
    assert_eq!(all.len(), 1);
    let slice = &all[0];
    assert!(slice["metadata"]["name"].as_str().unwrap().starts_with("web-"));
    assert_eq!(slice["metadata"]["labels"]["kubernetes.io/service-name"], "web");
    assert_eq!(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!((slice["addressType"].as_str(), slice["ports"].clone()), (Some("IPv4"), json!([{"name": "", "port": 8080, "protocol": "TCP"}])));
    assert_eq!(slice["endpoints"].as_array().unwrap().len(), 4);
    assert!(slice["endpoints"].as_array().unwrap().iter().all(|e| e["conditions"] == json!({"ready": true, "serving": true, "terminating": false})));
    // Scaled to zero: one empty placeholder slice stays.
    sim.request(ApiRequest::patch("/apis/apps/v1/namespaces/default/deployments/web", "application/merge-patch+json", json!({"spec": {"replicas": 0}})));
    sim.run_for(secs(5));
    let all = slices(&sim);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["endpoints"], json!([]));
    assert_eq!(endpoints(&sim)["subsets"], json!([]));
    sim.request(ApiRequest::delete("/api/v1/namespaces/default/services/web"));
    sim.run_for(secs(1));
    assert!(sim.get("endpoints", "default", "web").is_none());
    assert!(slices(&sim).is_empty(), "the garbage collector took the slices");
}
