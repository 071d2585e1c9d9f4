//! The walking skeleton's spine, end to end inside core: a pod created
//! through the API server is scheduled, picked up by a node agent's watch,
//! "run" by a scripted runtime, and reported back until it has Succeeded
//! with its logs. The same agent code runs in the page and in node-host.

use serde_json::{json, Value};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::node_sessions::{NodeSessions, SessionId};
use tabernetes_core::protocol::{NodeMessage, PlaneMessage};
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

/// Connects agents to a control plane in memory, through the same node
/// sessions the page uses for its in-page node.
struct Harness {
    plane: ControlPlane,
    sessions: NodeSessions,
    agents: Vec<(SessionId, NodeAgent)>,
    started: Vec<(usize, tabernetes_core::kubelet::runtime::ContainerLaunch)>,
    stopped: Vec<String>,
}

impl Harness {
    fn new(seed: u64, nodes: &[(&str, &str)]) -> Self {
        let mut sessions = NodeSessions::default();
        let agents = nodes.iter().map(|(name, runtime)| (sessions.open_local(name), NodeAgent::new(info(name, runtime)))).collect();
        Harness { plane: ControlPlane::new(seed, at(0)), sessions, agents, started: vec![], stopped: vec![] }
    }

    fn deliver(&mut self, session: SessionId, reply: PlaneMessage, now: Timestamp) {
        let agent = &mut self.agents.iter_mut().find(|(s, _)| *s == session).unwrap().1;
        match reply {
            PlaneMessage::ApiResponse { id, response } => agent.on_response(id, response, now),
            PlaneMessage::WatchEvent { id, event } => agent.on_watch_event(id, &event, now),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn pump(&mut self, now: Timestamp) {
        loop {
            let mut progressed = false;
            for i in 0..self.agents.len() {
                let session = self.agents[i].0;
                for output in self.agents[i].1.drain() {
                    progressed = true;
                    let message = match output {
                        AgentOutput::Api { id, request } => NodeMessage::Api { id, request },
                        AgentOutput::CancelWatch { id } => NodeMessage::CancelWatch { id },
                        AgentOutput::Runtime(RuntimeCommand::Start(launch)) => {
                            self.started.push((i, launch));
                            continue;
                        }
                        AgentOutput::Runtime(RuntimeCommand::StopPod { pod_uid }) => {
                            self.stopped.push(pod_uid);
                            continue;
                        }
                    };
                    for reply in self.sessions.receive(&mut self.plane, session, message, now) {
                        self.deliver(session, reply, now);
                    }
                }
            }
            for (session, reply) in self.sessions.deliver(&mut self.plane) {
                progressed = true;
                self.deliver(session, reply, now);
            }
            if !progressed {
                break;
            }
        }
    }

    fn pod(&mut self, name: &str) -> Value {
        self.plane.read(&ApiRequest::get(format!("/api/v1/namespaces/default/pods/{name}")), at(0)).json_body().unwrap().clone()
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
    let mut h = Harness::new(7, &[("in-page", "browser"), ("laptop", "wasmtime")]);
    for (_, agent) in &mut h.agents {
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

    h.agents[1].1.on_runtime_event(RuntimeEvent::Started { pod_uid: launch.pod_uid.clone(), container: "hello".into(), image_id: "sha256:00".into() }, at(20));
    h.pump(at(20));
    assert_eq!(h.pod("hello")["status"]["phase"], "Running");

    h.plane.append_log(&launch.pod_uid, "hello", "Hello, Ada!\n");
    h.agents[1].1.on_runtime_event(RuntimeEvent::Exited { pod_uid: launch.pod_uid.clone(), container: "hello".into(), exit_code: 0, message: None }, at(30));
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
    let mut h = Harness::new(7, &[("laptop", "wasmtime")]);
    h.agents[0].1.connect(at(0));
    h.pump(at(0));
    h.agents[0].1.disconnect();
    h.plane.node_unreachable("laptop", at(5));
    let docs = manifest::parse_documents(HELLO).unwrap();
    h.plane.create_all(&docs, "admin", at(6)).unwrap();
    let pod = h.pod("hello");
    assert_eq!(
        pod["status"]["conditions"][0]["message"],
        "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    );
    // It comes back: the taint goes and the pod is scheduled.
    h.agents[0].1.connect(at(10));
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
    let (_, unknown) = plane.create_all(&[json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "d"}})], "admin", at(1)).unwrap_err();
    assert_eq!(unknown.status, 404);
    assert!(unknown.message().contains("doesn't have a resource type for Widget"), "{}", unknown.message());
}

#[test]
fn same_seed_same_history() {
    let run = || {
        let mut h = Harness::new(99, &[("n", "wasmtime")]);
        h.agents[0].1.connect(at(0));
        h.pump(at(0));
        h.plane.create_all(&manifest::parse_documents(HELLO).unwrap(), "admin", at(1)).unwrap();
        h.pump(at(1));
        h.pod("hello")
    };
    assert_eq!(run(), run());
}

#[test]
fn deleting_a_running_pod_stops_it_on_its_node_before_it_goes() {
    let mut h = Harness::new(7, &[("laptop", "wasmtime")]);
    h.agents[0].1.connect(at(0));
    h.pump(at(0));
    h.plane.create_all(&manifest::parse_documents(&HELLO.replace("Never", "Always")).unwrap(), "admin", at(10)).unwrap();
    h.pump(at(10));
    let (_, launch) = h.started[0].clone();
    h.agents[0].1.on_runtime_event(RuntimeEvent::Started { pod_uid: launch.pod_uid.clone(), container: "hello".into(), image_id: "sha256:00".into() }, at(20));
    h.pump(at(20));
    assert_eq!(h.pod("hello")["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap()["status"], "True");

    // The API server only marks it; the kubelet stops it.
    let response = h.plane.handle(&ApiRequest::delete("/api/v1/namespaces/default/pods/hello"), at(30)).into_response();
    assert_eq!(response.status, 202);
    h.pump(at(30));
    assert_eq!(h.stopped, vec![launch.pod_uid.clone()]);
    let pod = h.pod("hello");
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30);
    assert_eq!(pod["status"]["phase"], "Running", "still there while its container runs");

    // The runtime reports the kill: the final status is written, then the
    // kubelet's DELETE (grace 0, UID precondition) removes the pod.
    h.agents[0].1.on_runtime_event(RuntimeEvent::Exited { pod_uid: launch.pod_uid.clone(), container: "hello".into(), exit_code: 137, message: Some("stopped because its pod was deleted".into()) }, at(31));
    h.pump(at(31));
    let gone = h.plane.read(&ApiRequest::get("/api/v1/namespaces/default/pods/hello"), at(31));
    assert_eq!(gone.status, 404, "{:?}", gone.json_body());
    assert_eq!(h.agents[0].1.pod_count(), 0);
    assert_eq!(h.stopped.len(), 1, "stopped once");
    let steps: Vec<String> = h.plane.trace().about("Pod default/hello").map(|s| format!("{} {}", s.component.label(), s.text)).collect();
    assert!(steps.iter().any(|s| s.starts_with("kubelet") && s.contains("phase Failed")), "{steps:#?}");
}
