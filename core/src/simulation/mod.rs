//! A whole cluster inside core, on a virtual clock: the control plane (API
//! server, scheduler, controllers), and nodes that are real kubelet agents
//! (`kubelet::agent::NodeAgent`, the code the page and node-host run)
//! joined through the same node sessions, each with a scripted container
//! runtime. A metrics-server scrape of every node runs every 15 s.
//!
//! Time only moves when the simulation is told to run: it jumps from one
//! wake-up to the next (a controller's requeue, a kubelet's heartbeat or
//! back-off, a container's scripted exit), so a simulated day takes
//! moments, and the same seed and steps give the same history, event for
//! event (`history_digest`).
//!
//! Nodes can join, leave (`remove_node`: the Node object is deleted too)
//! and die (`kill_node`: the agent stops without a word, as a machine that
//! loses power; the control plane only notices its heartbeats and lease
//! stopping).

pub mod rng;
pub mod runtime;

use crate::apiserver::{ApiRequest, ApiResponse, ApiResult};
use crate::clock::Clock;
use crate::controllers::queue::{Changes, Cursor};
use crate::kubelet::agent::{AgentOutput, NodeAgent};
use crate::kubelet::node::NodeInfo;
use crate::metrics_server::RESOLUTION;
use crate::node_sessions::{NodeSessions, SessionId};
use crate::protocol::{NodeMessage, PlaneMessage};
use crate::store::ObjectKey;
use crate::{manifest, ControlPlane, Timestamp};
use k8s_openapi::jiff::SignedDuration;
use runtime::{Script, Scripts, SimRuntime};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where every simulation's clock starts (2027-01-15T08:00:00Z).
pub const EPOCH_SECONDS: i64 = 1_800_000_000;

/// The user the simulation's own requests are made as.
pub const ADMIN: &str = crate::control_plane::ADMIN;

/// How many steps may happen at one instant before the simulation calls it
/// a livelock (two components undoing each other without time passing).
const STEPS_PER_INSTANT: usize = 1000;

/// The size of a simulated node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSize {
    pub cpu_millis: i64,
    pub memory_bytes: u64,
    pub max_pods: u32,
}

impl Default for NodeSize {
    fn default() -> Self {
        NodeSize { cpu_millis: 4000, memory_bytes: 8 << 30, max_pods: 110 }
    }
}

struct SimNode {
    session: SessionId,
    agent: NodeAgent,
    runtime: SimRuntime,
    /// False once killed: the agent neither acts nor hears anything.
    alive: bool,
}

pub struct Simulation {
    plane: ControlPlane,
    sessions: NodeSessions,
    nodes: BTreeMap<String, SimNode>,
    clock: Clock,
    scripts: Scripts,
    next_scrape: Timestamp,
    history: Cursor,
    digest: Sha256,
    events_seen: u64,
    recorded: Option<Vec<String>>,
}

impl Simulation {
    pub fn new(seed: u64) -> Self {
        Self::with_plane(|now| ControlPlane::new(seed, now))
    }

    /// A simulation around a control plane made by `make` (with its own
    /// settings), starting at [`EPOCH_SECONDS`].
    pub fn with_plane(make: impl FnOnce(Timestamp) -> ControlPlane) -> Self {
        let start = Timestamp::from_second(EPOCH_SECONDS).expect("a valid instant");
        Simulation {
            plane: make(start),
            sessions: NodeSessions::default(),
            nodes: BTreeMap::new(),
            clock: Clock::starting_at(start),
            scripts: Scripts::default(),
            next_scrape: start + RESOLUTION,
            history: Cursor::default(),
            digest: Sha256::new(),
            events_seen: 0,
            recorded: None,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Seconds since the simulation started.
    pub fn elapsed_secs(&self) -> i64 {
        self.now().as_second() - EPOCH_SECONDS
    }

    pub fn plane(&self) -> &ControlPlane {
        &self.plane
    }

    pub fn plane_mut(&mut self) -> &mut ControlPlane {
        &mut self.plane
    }

    /// Keeps every store event as a line (revision, type, key, digest of
    /// the object), readable with `history`.
    pub fn record_history(&mut self) {
        self.recorded.get_or_insert_with(Vec::new);
    }

    pub fn history(&self) -> &[String] {
        self.recorded.as_deref().unwrap_or_default()
    }

    /// A digest of every store event so far (type, key and the object as
    /// stored), and their number: equal digests mean equal histories.
    pub fn history_digest(&self) -> (u64, String) {
        (self.events_seen, hex::encode(self.digest.clone().finalize()))
    }

    pub fn script(&mut self, image: &str, script: Script) {
        self.scripts.set(image, script);
    }

    /// Changes the CPU every container of `image` uses from now on (load).
    pub fn set_cpu(&mut self, image: &str, cpu_millis: i64) {
        self.scripts.set_cpu(image, cpu_millis);
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// The nodes whose agents run (not killed).
    pub fn live_nodes(&self) -> Vec<String> {
        self.nodes.iter().filter(|(_, n)| n.alive).map(|(name, _)| name.clone()).collect()
    }

    /// (node, pod UID) of every pod with a container running on a live node.
    pub fn running_pods(&self) -> Vec<(String, String)> {
        self.nodes.iter().filter(|(_, n)| n.alive).flat_map(|(name, n)| n.runtime.running_pods().into_iter().map(move |uid| (name.clone(), uid))).collect()
    }

    pub fn add_node(&mut self, name: &str) {
        self.add_node_sized(name, NodeSize::default());
    }

    /// A new node joins: its agent registers it and starts watching its pods.
    pub fn add_node_sized(&mut self, name: &str, size: NodeSize) {
        let info = NodeInfo {
            name: name.to_string(),
            runtime: "wasmtime".into(),
            cpu_millis: size.cpu_millis,
            memory_bytes: size.memory_bytes,
            max_pods: size.max_pods,
            os: "linux".into(),
            arch: "x86_64".into(),
            agent_version: "simulated".into(),
        };
        let session = self.sessions.open_local(name);
        let mut agent = NodeAgent::new(info);
        agent.connect(self.now());
        self.nodes.insert(name.to_string(), SimNode { session, agent, runtime: SimRuntime::default(), alive: true });
        self.pump();
    }

    /// The node dies: its kubelet stops heartbeating and renewing its
    /// lease, its containers are gone, and nothing tells the control plane.
    pub fn kill_node(&mut self, name: &str) {
        if let Some(node) = self.nodes.get_mut(name) {
            node.alive = false;
            node.runtime = SimRuntime::default();
        }
    }

    /// A killed node boots again: a fresh kubelet joins as the same node.
    pub fn restart_node(&mut self, name: &str) {
        let Some(node) = self.nodes.get_mut(name) else { return };
        let info = node.agent.info().clone();
        node.agent = NodeAgent::new(info);
        node.agent.connect(self.clock.now());
        node.alive = true;
        self.pump();
    }

    /// The node leaves for good: it is shut down and its Node object
    /// deleted (`kubectl delete node`).
    pub fn remove_node(&mut self, name: &str) {
        let Some(node) = self.nodes.remove(name) else { return };
        let now = self.now();
        self.sessions.close(&mut self.plane, node.session, now);
        self.request(ApiRequest::delete(format!("/api/v1/nodes/{name}")));
    }

    /// Creates every object of a YAML manifest as the admin; panics if one is refused.
    pub fn apply(&mut self, yaml: &str) -> Vec<ApiResponse> {
        let docs = manifest::parse_documents(yaml).expect("a valid manifest");
        let now = self.now();
        let responses = match self.plane.create_all(&docs, ADMIN, now) {
            Ok(responses) => responses,
            Err((i, response)) => panic!("document {i} refused: {}", response.message()),
        };
        self.pump();
        responses
    }

    /// Serves a request (as the admin unless it says otherwise) and lets the cluster react.
    pub fn request(&mut self, request: ApiRequest) -> ApiResponse {
        let request = if request.user.is_empty() { request.as_user(ADMIN) } else { request };
        let now = self.now();
        let response = match self.plane.handle(&request, now) {
            ApiResult::Response(response) => response,
            ApiResult::Watch { .. } => panic!("the simulation does not hold watches"),
        };
        self.pump();
        response
    }

    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.plane.api().store().get(&ObjectKey::new(resource, namespace, name)).cloned()
    }

    /// Objects of a resource (`pods`, `jobs.batch`…) in a namespace, or everywhere.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.plane.api().store().list(resource, namespace).map(|(_, o)| o.clone()).collect()
    }

    pub fn run_for(&mut self, duration: SignedDuration) {
        let until = self.now() + duration;
        self.run_until(until);
    }

    /// Runs every wake-up up to `until`, then sets the clock there.
    pub fn run_until(&mut self, until: Timestamp) {
        self.run_while(until, |_| true);
    }

    /// Runs until `done` holds (checked after each instant) or `limit` is
    /// reached; says whether `done` held.
    pub fn run_until_true(&mut self, limit: SignedDuration, mut done: impl FnMut(&Simulation) -> bool) -> bool {
        let until = self.now() + limit;
        self.run_while(until, |sim| !done(sim));
        done(self)
    }

    /// Runs instant by instant up to `until` while `go_on` holds.
    pub fn run_while(&mut self, until: Timestamp, mut go_on: impl FnMut(&Simulation) -> bool) {
        self.pump();
        let mut at_instant = 0;
        while go_on(self) {
            let Some(next) = self.next_wake().filter(|t| *t <= until) else {
                self.clock.step_to(Some(until));
                self.wake();
                return;
            };
            if next <= self.now() {
                at_instant += 1;
                assert!(at_instant < STEPS_PER_INSTANT, "livelock at {}: something is due again and again without time passing", self.now());
            } else {
                at_instant = 0;
            }
            self.clock.step_to(Some(next));
            self.wake();
        }
    }

    /// The earliest time anything in the cluster wants to act.
    fn next_wake(&self) -> Option<Timestamp> {
        let nodes = self.nodes.values().filter(|n| n.alive).flat_map(|n| [n.agent.next_wake(), n.runtime.next_event()]);
        nodes.chain([self.plane.next_wake(), Some(self.next_scrape)]).flatten().min()
    }

    /// Lets everything that is due at the current time act.
    fn wake(&mut self) {
        let now = self.now();
        for node in self.nodes.values_mut().filter(|n| n.alive) {
            if node.agent.next_wake().is_some_and(|t| t <= now) {
                node.agent.tick(now);
            }
        }
        self.plane.tick(now);
        if self.next_scrape <= now {
            self.scrape(now);
            self.next_scrape = now + RESOLUTION;
        }
        self.pump();
    }

    /// metrics-server's scrape: each live kubelet's usage; dead ones have none.
    fn scrape(&mut self, now: Timestamp) {
        for (name, node) in &mut self.nodes {
            if !node.alive {
                self.plane.forget_metrics(name);
                continue;
            }
            for event in node.runtime.usage(&self.scripts) {
                node.agent.on_runtime_event(event, now);
            }
            // Sent through the node's session, as a node-host sends it.
            let usage = node.agent.resource_metrics(now);
            self.sessions.receive(&mut self.plane, node.session, NodeMessage::ResourceMetrics { usage }, now);
        }
    }

    /// Carries messages between the agents, their runtimes and the control
    /// plane until nobody has anything more to say at this instant.
    fn pump(&mut self) {
        let now = self.now();
        for _ in 0..STEPS_PER_INSTANT {
            let mut progressed = false;
            for node in self.nodes.values_mut().filter(|n| n.alive) {
                for event in node.runtime.take_due(now) {
                    progressed = true;
                    node.agent.on_runtime_event(event, now);
                }
                for output in node.agent.drain() {
                    progressed = true;
                    let message = match output {
                        AgentOutput::Api { id, request } => NodeMessage::Api { id, request },
                        AgentOutput::CancelWatch { id } => NodeMessage::CancelWatch { id },
                        AgentOutput::Runtime(command) => {
                            node.runtime.command(command, &mut self.scripts, now);
                            continue;
                        }
                    };
                    for reply in self.sessions.receive(&mut self.plane, node.session, message, now) {
                        deliver(&mut node.agent, reply, now);
                    }
                }
            }
            for (session, reply) in self.sessions.deliver(&mut self.plane) {
                progressed = true;
                if let Some(node) = self.nodes.values_mut().find(|n| n.session == session && n.alive) {
                    deliver(&mut node.agent, reply, now);
                }
            }
            self.follow_history();
            if !progressed {
                return;
            }
        }
        panic!("livelock at {now}: the nodes and the control plane never stop talking");
    }

    fn follow_history(&mut self) {
        let store = self.plane.api().store();
        let Changes::Events(events) = self.history.changes(store) else {
            panic!("the simulation fell behind the store's history");
        };
        for event in events {
            let object = event.object.to_string();
            let line = format!("{} {:?} {}/{}/{} {}", event.revision, event.event_type, event.key.resource, event.key.namespace, event.key.name, object);
            self.digest.update(line.as_bytes());
            self.events_seen += 1;
            if let Some(recorded) = &mut self.recorded {
                let short = hex::encode(&Sha256::digest(object.as_bytes())[..6]);
                recorded.push(format!("{} {:?} {}/{}/{} {short}", event.revision, event.event_type, event.key.resource, event.key.namespace, event.key.name));
            }
        }
    }
}

fn deliver(agent: &mut NodeAgent, reply: PlaneMessage, now: Timestamp) {
    match reply {
        PlaneMessage::ApiResponse { id, response } => agent.on_response(id, response, now),
        PlaneMessage::WatchEvent { id, event } => agent.on_watch_event(id, &event, now),
        _ => {}
    }
}
