//! Drives the control plane in the page: delivers API requests and watch
//! events between the control plane, the in-page node's kubelet and any
//! node-hosts that joined, runs the clock, and tells the UI when to redraw.
//!
//! All state lives in one `Cluster` behind `Rc<RefCell<…>>`; every entry
//! point borrows it only for the synchronous part of its work and notifies
//! the UI after the borrow ends, so async work (module fetches, sockets)
//! never holds it.

use crate::node::in_page::{self, Report};
use crate::node_host_link::Link;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use tabernetes_core::apiserver::{ApiRequest, ApiResult, WatchId};
use tabernetes_core::control_plane::ADMIN;
use tabernetes_core::kubelet::agent::{AgentOutput, NodeAgent};
use tabernetes_core::kubelet::node::NodeInfo;
use tabernetes_core::kubelet::runtime::{ContainerLaunch, RuntimeCommand};
use tabernetes_core::protocol::{NodeMessage, PlaneMessage, PROTOCOL_VERSION};
use tabernetes_core::{manifest, ControlPlane, Timestamp};
use yew::Callback;

pub const IN_PAGE_NODE: &str = "in-page";

pub fn now() -> Timestamp {
    Timestamp::from_millisecond(js_sys::Date::now() as i64).expect("the browser clock is in range")
}

/// Where a watch's events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    InPage { request: u64 },
    Link { link: u64, request: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    Connecting,
    Joined,
    Closed(String),
}

pub struct LinkState {
    pub url: String,
    pub node: Option<String>,
    pub status: LinkStatus,
    link: Link,
}

pub struct Cluster {
    pub plane: ControlPlane,
    in_page: NodeAgent,
    /// Pods the in-page node was told to stop; a pending start for them is skipped.
    stopped: std::collections::HashSet<String>,
    pub links: BTreeMap<u64, LinkState>,
    next_link: u64,
    routes: HashMap<WatchId, Route>,
}

/// The UI's handle on the cluster. Equality is by `version`, so components
/// redraw exactly when the cluster changed.
#[derive(Clone)]
pub struct ClusterHandle {
    inner: Rc<RefCell<Cluster>>,
    notify: Rc<RefCell<Option<Callback<()>>>>,
    pub version: u64,
}

impl PartialEq for ClusterHandle {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner) && self.version == other.version
    }
}

fn in_page_info() -> NodeInfo {
    let navigator = web_sys::window().map(|w| w.navigator());
    let cpus = navigator.as_ref().map(|n| n.hardware_concurrency() as i64).filter(|n| *n > 0).unwrap_or(2);
    // navigator.deviceMemory (GiB, Chromium only) is not in web-sys's stable API.
    let memory_gib = navigator
        .as_ref()
        .and_then(|n| js_sys::Reflect::get(n, &"deviceMemory".into()).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or(2.0);
    NodeInfo {
        name: IN_PAGE_NODE.into(),
        runtime: "browser".into(),
        cpu_millis: cpus * 1000,
        memory_bytes: (memory_gib * 1024.0 * 1024.0 * 1024.0) as u64,
        max_pods: 110,
        os: "browser".into(),
        arch: "wasm32".into(),
        agent_version: concat!("tabernetes-web/", env!("CARGO_PKG_VERSION")).into(),
    }
}

impl ClusterHandle {
    pub fn new() -> Self {
        let seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let now = now();
        let mut in_page = NodeAgent::new(in_page_info());
        in_page.connect(now);
        let cluster = Cluster {
            plane: ControlPlane::new(seed, now),
            in_page,
            stopped: Default::default(),
            links: BTreeMap::new(),
            next_link: 0,
            routes: HashMap::new(),
        };
        let handle = ClusterHandle { inner: Rc::new(RefCell::new(cluster)), notify: Rc::default(), version: 0 };
        handle.pump();
        handle
    }

    /// The UI registers how to be told of changes.
    pub fn on_change(&self, callback: Callback<()>) {
        *self.notify.borrow_mut() = Some(callback);
    }

    pub fn with_version(&self, version: u64) -> Self {
        ClusterHandle { version, ..self.clone() }
    }

    pub fn borrow(&self) -> std::cell::Ref<'_, Cluster> {
        self.inner.borrow()
    }

    fn changed(&self) {
        let callback = self.notify.borrow().clone();
        if let Some(callback) = callback {
            callback.emit(());
        }
    }

    /// Delivers everything pending between the plane, the in-page kubelet and
    /// the node-host links, until nothing moves. Starts pods afterwards.
    fn pump(&self) {
        let mut starts: Vec<ContainerLaunch> = Vec::new();
        {
            let mut guard = self.inner.borrow_mut();
            let c = &mut *guard;
            let now = now();
            loop {
                let mut moved = false;
                for output in c.in_page.drain() {
                    moved = true;
                    match output {
                        AgentOutput::Api { id, request } => match c.plane.handle(&request, now) {
                            ApiResult::Response(response) => c.in_page.on_response(id, response, now),
                            ApiResult::Watch { id: watch, initial } => {
                                c.routes.insert(watch, Route::InPage { request: id });
                                for event in initial {
                                    c.in_page.on_watch_event(id, &event, now);
                                }
                            }
                        },
                        AgentOutput::CancelWatch { id } => c.close_route(Route::InPage { request: id }),
                        AgentOutput::Runtime(RuntimeCommand::Start(launch)) => {
                            c.stopped.remove(&launch.pod_uid);
                            starts.push(launch);
                        }
                        AgentOutput::Runtime(RuntimeCommand::StopPod { pod_uid }) => {
                            c.stopped.insert(pod_uid);
                        }
                    }
                }
                for (watch, event) in c.plane.pump_watches() {
                    moved = true;
                    match c.routes.get(&watch).copied() {
                        Some(Route::InPage { request }) => c.in_page.on_watch_event(request, &event, now),
                        Some(Route::Link { link, request }) => {
                            if let Some(state) = c.links.get(&link) {
                                state.link.send(&PlaneMessage::WatchEvent { id: request, event });
                            }
                        }
                        None => c.plane.close_watch(watch),
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        for launch in starts {
            let handle = self.clone();
            let cancelled_handle = self.clone();
            let uid = launch.pod_uid.clone();
            in_page::start(
                launch,
                move || cancelled_handle.inner.borrow().stopped.contains(&uid),
                move |report| handle.on_in_page_report(report),
            );
        }
        self.changed();
    }

    fn on_in_page_report(&self, report: Report) {
        {
            let mut c = self.inner.borrow_mut();
            match report {
                Report::Event(event) => c.in_page.on_runtime_event(event, now()),
                Report::Log { pod_uid, container, data } => c.plane.append_log(&pod_uid, &container, &data),
            }
        }
        self.pump();
    }

    /// Advances the clock: controllers, kubelet back-offs, heartbeats.
    pub fn tick(&self) {
        {
            let mut c = self.inner.borrow_mut();
            let now = now();
            c.plane.tick(now);
            c.in_page.tick(now);
        }
        self.pump();
    }

    /// Parses a manifest and creates its objects. Nothing changes unless every
    /// document is valid. Returns what was created, or a message for people.
    pub fn apply(&self, yaml: &str) -> Result<Vec<String>, String> {
        let documents = manifest::parse_documents(yaml).map_err(|e| e.to_string())?;
        if documents.is_empty() {
            return Err("the manifest has no objects".into());
        }
        let result = self.inner.borrow_mut().plane.create_all(&documents, ADMIN, now());
        self.pump();
        match result {
            Ok(responses) => Ok(responses
                .iter()
                .filter_map(|r| r.json_body())
                .map(|o| format!("{} {} created", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or("")))
                .collect()),
            Err((index, response)) => Err(if documents.len() > 1 {
                format!("document {}: {} (nothing was created)", index + 1, response.message())
            } else {
                response.message()
            }),
        }
    }

    pub fn delete(&self, path: &str) -> Result<(), String> {
        let response = self.inner.borrow_mut().plane.handle(&ApiRequest::delete(path).as_user(ADMIN), now()).into_response();
        self.pump();
        if response.is_success() {
            Ok(())
        } else {
            Err(response.message())
        }
    }

    /// Opens a link to a node-host's WebSocket (`ws://host:port/node?token=…`).
    pub fn join(&self, url: String) {
        let id = {
            let mut c = self.inner.borrow_mut();
            c.next_link += 1;
            c.next_link
        };
        let on_message = {
            let handle = self.clone();
            move |message: Result<NodeMessage, String>| handle.on_link_message(id, message)
        };
        let on_closed = {
            let handle = self.clone();
            move |reason: String| handle.on_link_closed(id, reason)
        };
        match Link::open(&url, on_message, on_closed) {
            Ok(link) => {
                self.inner.borrow_mut().links.insert(id, LinkState { url, node: None, status: LinkStatus::Connecting, link });
            }
            Err(e) => {
                let link = Link::closed();
                self.inner.borrow_mut().links.insert(id, LinkState { url, node: None, status: LinkStatus::Closed(e), link });
            }
        }
        self.changed();
    }

    fn on_link_message(&self, id: u64, message: Result<NodeMessage, String>) {
        {
            let mut guard = self.inner.borrow_mut();
            let c = &mut *guard;
            let now = now();
            let Some(state) = c.links.get(&id) else { return };
            let message = match message {
                Ok(m) => m,
                Err(reason) => {
                    state.link.close(1007, &reason);
                    return;
                }
            };
            match message {
                NodeMessage::Hello { protocol, node } => {
                    let taken = node.name == IN_PAGE_NODE || c.links.iter().any(|(other, s)| *other != id && s.status == LinkStatus::Joined && s.node.as_deref() == Some(&node.name));
                    let refusal = if protocol != PROTOCOL_VERSION {
                        Some(format!("this page speaks protocol {PROTOCOL_VERSION}, the node {protocol}"))
                    } else if taken {
                        Some(format!("a node named {:?} is already joined", node.name))
                    } else {
                        None
                    };
                    let state = c.links.get_mut(&id).expect("checked above");
                    match refusal {
                        Some(reason) => {
                            state.link.send(&PlaneMessage::Reject { reason: reason.clone() });
                            state.link.close(1008, &reason);
                            state.status = LinkStatus::Closed(reason);
                        }
                        None => {
                            state.node = Some(node.name);
                            state.status = LinkStatus::Joined;
                            state.link.send(&PlaneMessage::Welcome { protocol: PROTOCOL_VERSION });
                        }
                    }
                }
                NodeMessage::Api { id: request_id, request } => {
                    // The link is authenticated as its node: that, not the message, says who is asking.
                    let Some(node) = state.node.clone().filter(|_| state.status == LinkStatus::Joined) else { return };
                    let request = ApiRequest { user: format!("system:node:{node}"), ..request };
                    match c.plane.handle(&request, now) {
                        ApiResult::Response(response) => state.link.send(&PlaneMessage::ApiResponse { id: request_id, response }),
                        ApiResult::Watch { id: watch, initial } => {
                            for event in initial {
                                state.link.send(&PlaneMessage::WatchEvent { id: request_id, event });
                            }
                            c.routes.insert(watch, Route::Link { link: id, request: request_id });
                        }
                    }
                }
                NodeMessage::CancelWatch { id: request_id } => c.close_route(Route::Link { link: id, request: request_id }),
                NodeMessage::Log { pod_uid, container, data, .. } => {
                    if state.status == LinkStatus::Joined {
                        c.plane.append_log(&pod_uid, &container, &data);
                    }
                }
            }
        }
        self.pump();
    }

    fn on_link_closed(&self, id: u64, reason: String) {
        {
            let mut guard = self.inner.borrow_mut();
            let c = &mut *guard;
            let watches: Vec<WatchId> = c.routes.iter().filter(|(_, r)| matches!(r, Route::Link { link, .. } if *link == id)).map(|(w, _)| *w).collect();
            for watch in watches {
                c.routes.remove(&watch);
                c.plane.close_watch(watch);
            }
            let Some(state) = c.links.get_mut(&id) else { return };
            let was_joined = state.status == LinkStatus::Joined;
            if !matches!(state.status, LinkStatus::Closed(_)) {
                state.status = LinkStatus::Closed(reason);
            }
            if let (true, Some(node)) = (was_joined, state.node.clone()) {
                c.plane.node_unreachable(&node, now());
            }
        }
        self.pump();
    }
}

impl Default for ClusterHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    fn close_route(&mut self, route: Route) {
        if let Some((&watch, _)) = self.routes.iter().find(|(_, r)| **r == route) {
            self.routes.remove(&watch);
            self.plane.close_watch(watch);
        }
    }
}
