//! The walking skeleton's spine, end to end inside core: a pod created
//! through the API server is scheduled, picked up by a node agent's watch,
//! "run" by a scripted runtime, and reported back until it has Succeeded
//! with its logs. The same agent code runs in the page and in node-host.

use serde_json::{json, Value};
use tabernetes_core::apiserver::{ApiRequest, ApiResult};
use tabernetes_core::kubelet::agent::{AgentOutput, NodeAgent};
use tabernetes_core::kubelet::node::NodeInfo;
use tabernetes_core::kubelet::runtime::{RuntimeCommand, RuntimeEvent};
use tabernetes_core::{manifest, ControlPlane, Timestamp};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
}

fn info(name: &str, runtime: &str) -> NodeInfo {
    NodeInfo { name: name.into(), runtime: runtime.into(), cpu_millis: 2000, memory_bytes: 2 << 30, max_pods: 110, os: "linux".into(), arch: "x86_64".into(), agent_version: "test".into() }
}

/// Connects agents to a control plane in memory, as the page does for its in-page node.
struct Harness {
    plane: ControlPlane,
    agents: Vec<NodeAgent>,
    /// watch id in the plane -> (agent index, request id)
    watches: Vec<(u64, usize, u64)>,
    started: Vec<(usize, tabernetes_core::kubelet::runtime::ContainerLaunch)>,
    stopped: Vec<String>,
}

impl Harness {
    fn pump(&mut self, now: Timestamp) {
        loop {
            let mut progressed = false;
            for i in 0..self.agents.len() {
                for output in self.agents[i].drain() {
                    progressed = true;
                    match output {
                        AgentOutput::Api { id, request } => match self.plane.handle(&request, now) {
                            ApiResult::Response(r) => self.agents[i].on_response(id, r, now),
                            ApiResult::Watch { id: wid, initial } => {
                                self.watches.push((wid, i, id));
                                for e in initial {
                                    self.agents[i].on_watch_event(id, &e, now);
                                }
                            }
                        },
                        AgentOutput::CancelWatch { .. } => {}
                        AgentOutput::Runtime(RuntimeCommand::Start(launch)) => self.started.push((i, launch)),
                        AgentOutput::Runtime(RuntimeCommand::StopPod { pod_uid }) => self.stopped.push(pod_uid),
                    }
                }
            }
            for (wid, event) in self.plane.pump_watches() {
                progressed = true;
                let (_, agent, request_id) = *self.watches.iter().find(|(w, _, _)| *w == wid).unwrap();
                self.agents[agent].on_watch_event(request_id, &event, now);
            }
            if !progressed {
                break;
            }
        }
    }

    fn pod(&mut self, name: &str) -> Value {
        self.plane.handle(&ApiRequest::get(format!("/api/v1/namespaces/default/pods/{name}")), at(0)).into_response().json_body().unwrap().clone()
    }
}

const HELLO: &str = "
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  restartPolicy: Never
  nodeSelector:
    tabernetes.io/runtime: wasmtime
  containers:
  - name: hello
    image: hello
    args: [\"Ada\"]
";

#[test]
fn hello_pod_travels_from_the_api_to_a_node_and_succeeds_with_its_logs() {
    let mut h = Harness { plane: ControlPlane::new(7, at(0)), agents: vec![NodeAgent::new(info("in-page", "browser")), NodeAgent::new(info("laptop", "wasmtime"))], watches: vec![], started: vec![], stopped: vec![] };
    for agent in &mut h.agents {
        agent.connect(at(0));
    }
    h.pump(at(0));
    let nodes = h.plane.handle(&ApiRequest::get("/api/v1/nodes"), at(0)).into_response();
    assert_eq!(nodes.json_body().unwrap()["items"].as_array().unwrap().len(), 2);

    let docs = manifest::parse_documents(HELLO).unwrap();
    let created = h.plane.create_all(&docs, "admin", at(10)).unwrap();
    assert_eq!(created[0].status, 201);
    h.pump(at(10));

    // The scheduler bound it by nodeSelector, and only the wasmtime node's agent started it.
    assert_eq!(h.pod("hello")["spec"]["nodeName"], "laptop");
    assert_eq!(h.started.len(), 1);
    let (agent, launch) = h.started[0].clone();
    assert_eq!(agent, 1);
    assert_eq!(launch.argv, vec!["hello", "Ada"]);
    assert_eq!(h.pod("hello")["status"]["phase"], "Pending");

    h.agents[1].on_runtime_event(RuntimeEvent::Started { pod_uid: launch.pod_uid.clone(), container: "hello".into(), image_id: "sha256:00".into() }, at(20));
    h.pump(at(20));
    assert_eq!(h.pod("hello")["status"]["phase"], "Running");

    h.plane.append_log(&launch.pod_uid, "hello", "Hello, Ada!\n");
    h.agents[1].on_runtime_event(RuntimeEvent::Exited { pod_uid: launch.pod_uid.clone(), container: "hello".into(), exit_code: 0, message: None }, at(30));
    h.pump(at(30));
    let pod = h.pod("hello");
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    let log = h.plane.handle(&ApiRequest::get("/api/v1/namespaces/default/pods/hello/log"), at(30)).into_response();
    assert_eq!(log.body, tabernetes_core::apiserver::Body::Text("Hello, Ada!\n".into()));

    // The trace shows the path step by step.
    let steps: Vec<String> = h.plane.trace().about("Pod default/hello").map(|s| format!("{} {}", s.component.label(), s.text)).collect();
    assert!(steps[0].starts_with("client admin created it; the API server validated and stored it"), "{steps:#?}");
    assert!(steps.iter().any(|s| s.starts_with("scheduler filtered 2 node(s), 1 feasible; bound to laptop")), "{steps:#?}");
    assert!(steps.iter().any(|s| s.contains("phase Running")), "{steps:#?}");
    assert!(steps.last().unwrap().contains("phase Succeeded"), "{steps:#?}");

    // Deleting the pod stops it on its node.
    h.plane.handle(&ApiRequest::delete("/api/v1/namespaces/default/pods/hello"), at(40));
    h.pump(at(40));
    assert_eq!(h.stopped, vec![launch.pod_uid]);
}

#[test]
fn a_disconnected_node_is_tainted_and_gets_no_new_pods() {
    let mut h = Harness { plane: ControlPlane::new(7, at(0)), agents: vec![NodeAgent::new(info("laptop", "wasmtime"))], watches: vec![], started: vec![], stopped: vec![] };
    h.agents[0].connect(at(0));
    h.pump(at(0));
    h.agents[0].disconnect();
    h.plane.node_unreachable("laptop", at(5));
    let docs = manifest::parse_documents(HELLO).unwrap();
    h.plane.create_all(&docs, "admin", at(6)).unwrap();
    let pod = h.pod("hello");
    assert_eq!(pod["status"]["conditions"][0]["message"], "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.");
    // It comes back: the taint goes and the pod is scheduled.
    h.agents[0].connect(at(10));
    h.pump(at(10));
    assert_eq!(h.pod("hello")["spec"]["nodeName"], "laptop");
    assert_eq!(h.started.len(), 1);
}

#[test]
fn an_invalid_manifest_changes_nothing() {
    let mut plane = ControlPlane::new(7, at(0));
    let before = plane.api().store().revision();
    let docs = manifest::parse_documents("apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c, image: hello}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: []}\n").unwrap();
    let (index, response) = plane.create_all(&docs, "admin", at(1)).unwrap_err();
    assert_eq!((index, response.status), (1, 422));
    assert_eq!(plane.api().store().revision(), before, "the valid first document was not created either");
    let (_, unknown) = plane.create_all(&[json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}})], "admin", at(1)).unwrap_err();
    assert_eq!(unknown.status, 404);
    assert!(unknown.message().contains("doesn't have a resource type for Deployment"), "{}", unknown.message());
}

#[test]
fn same_seed_same_history() {
    let run = || {
        let mut h = Harness { plane: ControlPlane::new(99, at(0)), agents: vec![NodeAgent::new(info("n", "wasmtime"))], watches: vec![], started: vec![], stopped: vec![] };
        h.agents[0].connect(at(0));
        h.pump(at(0));
        h.plane.create_all(&manifest::parse_documents(HELLO).unwrap(), "admin", at(1)).unwrap();
        h.pump(at(1));
        h.pod("hello")
    };
    assert_eq!(run(), run());
}
