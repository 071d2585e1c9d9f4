//! Drives the control plane in the page: delivers API requests and watch
//! events between the control plane, the in-page node's kubelet and any
//! node-hosts that joined, runs the clock, and tells the UI when to redraw.
//!
//! All state lives in one `Cluster` behind `Rc<RefCell<…>>`; every entry
//! point borrows it only for the synchronous part of its work and notifies
//! the UI after the borrow ends, so async work (module fetches, sockets)
//! never holds it.

use crate::node::compute_meter::ComputeMeter;
use crate::node::in_page::{self, Report};
use crate::node::wasi::performance_now;
use crate::node_host_link::Link;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use tabernetes_core::apiserver::watch::BOOKMARK_INTERVAL_SECS;
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::control_plane::ADMIN;
use tabernetes_core::kubelet::agent::{AgentOutput, NodeAgent};
use tabernetes_core::kubelet::node::NodeInfo;
use tabernetes_core::kubelet::runtime::{ContainerLaunch, RuntimeCommand, RuntimeEvent};
use tabernetes_core::kubelet::usage_sampler::UsageSampler;
use tabernetes_core::node_sessions::{NodeSessions, SessionId};
use tabernetes_core::protocol::{NodeMessage, PlaneMessage};
use tabernetes_core::clock::Clock;
use tabernetes_core::{manifest, ControlPlane, SignedDuration, Timestamp};
use yew::Callback;

pub const IN_PAGE_NODE: &str = "in-page";

/// The browser's wall clock; the cluster runs on its virtual `Clock`, which follows it.
fn real_now() -> Timestamp {
    Timestamp::from_millisecond(js_sys::Date::now() as i64).expect("the browser clock is in range")
}

/// `performance.now()` in nanoseconds: the monotonic clock usage is sampled on.
fn performance_nanos() -> u64 {
    (performance_now() * 1e6) as u64
}

/// The most wake-ups one step of the clock runs through, so a long step
/// (a busy CronJob over an hour) cannot freeze the page.
const MAX_WAKES_PER_STEP: usize = 10_000;

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
    sessions: NodeSessions,
    in_page: NodeAgent,
    in_page_session: SessionId,
    /// Pods the in-page node was told to stop; a pending start for them is skipped.
    stopped: HashSet<String>,
    /// What the in-page node's running containers use (on the
    /// `performance.now()` clock, in nanoseconds).
    usage: UsageSampler<Rc<ComputeMeter>>,
    /// node-host links, by their session.
    pub links: BTreeMap<SessionId, LinkState>,
    /// The cluster's time: real time by default; a learner can pause, step
    /// and speed it up (node-hosts keep real time for their own work).
    pub clock: Clock,
    /// The store revision last written to IndexedDB.
    pub saved_revision: Option<u64>,
    /// Something about keeping the cluster that a person should know.
    pub notice: Option<String>,
    saving: bool,
    /// When watches (kubectl's, through a relay) last got BOOKMARK events.
    bookmarked: Timestamp,
    /// The saved cluster is being forgotten; nothing may save it again.
    resetting: bool,
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

impl Cluster {
    /// The cluster's time now, moved on by the real time since it was last read.
    fn now(&mut self) -> Timestamp {
        self.clock.follow(real_now())
    }

    /// When the control plane or the in-page kubelet next has something to do.
    pub fn next_wake(&self) -> Option<Timestamp> {
        [self.plane.next_wake(), self.in_page.next_wake()].into_iter().flatten().min()
    }

    /// Hands the plane's replies to the in-page agent or the link they belong to.
    fn route(&mut self, session: SessionId, message: PlaneMessage, now: Timestamp) {
        if session == self.in_page_session {
            match message {
                PlaneMessage::ApiResponse { id, response } => self.in_page.on_response(id, response, now),
                PlaneMessage::WatchEvent { id, event } => self.in_page.on_watch_event(id, &event, now),
                // The in-page node has no handshake and relays no HTTP clients.
                PlaneMessage::Welcome { .. }
                | PlaneMessage::Reject { .. }
                | PlaneMessage::RelayResponse { .. }
                | PlaneMessage::RelayWatch { .. }
                | PlaneMessage::RelayWatchEvent { .. } => {}
            }
        } else if let Some(state) = self.links.get_mut(&session) {
            state.link.send(&message);
            match message {
                PlaneMessage::Welcome { .. } => {
                    state.status = LinkStatus::Joined;
                    state.node = self.sessions.node(session).map(String::from);
                }
                PlaneMessage::Reject { reason } => {
                    state.link.close(1008, &reason);
                    state.status = LinkStatus::Closed(reason);
                }
                _ => {}
            }
        }
    }

    fn receive(&mut self, session: SessionId, message: NodeMessage, now: Timestamp) {
        for reply in self.sessions.receive(&mut self.plane, session, message, now) {
            self.route(session, reply, now);
        }
    }
}

impl ClusterHandle {
    /// A cluster, restored from `saved` (what `saved_state::load` found)
    /// when that holds a snapshot; a new one otherwise, with a notice saying why.
    pub fn new(saved: &Result<Option<String>, String>) -> Self {
        let seed = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        let now = real_now();
        let mut clock = Clock::starting_at(now);
        clock.follow(now);
        let mut plane = ControlPlane::new(seed, now);
        let mut saved_revision = None;
        let notice = match saved {
            Ok(Some(snapshot)) => match plane.restore_json(snapshot) {
                Ok(()) => {
                    saved_revision = Some(plane.api().store().revision());
                    None
                }
                Err(e) => {
                    plane = ControlPlane::new(seed, now);
                    Some(format!("The saved cluster could not be restored ({e}); this is a new one."))
                }
            },
            Ok(None) => None,
            Err(e) => Some(format!("This cluster cannot be kept across reloads: {e}")),
        };
        // The plane is restored before the in-page node connects, so its kubelet sees the restored pods.
        let mut in_page = NodeAgent::new(in_page_info());
        in_page.connect(now);
        let mut sessions = NodeSessions::default();
        let in_page_session = sessions.open_local(IN_PAGE_NODE);
        let cluster = Cluster {
            plane,
            sessions,
            in_page,
            in_page_session,
            stopped: HashSet::new(),
            usage: UsageSampler::default(),
            links: BTreeMap::new(),
            clock,
            saved_revision,
            notice,
            saving: false,
            bookmarked: now,
            resetting: false,
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

    /// Delivers everything pending (see `deliver`), then tells the UI.
    fn pump(&self) {
        self.deliver();
        self.changed();
    }

    /// Delivers everything pending between the plane, the in-page kubelet and
    /// the node-host links, until nothing moves. Starts pods afterwards.
    fn deliver(&self) {
        let mut starts: Vec<ContainerLaunch> = Vec::new();
        {
            let mut guard = self.inner.borrow_mut();
            let c = &mut *guard;
            let now = c.now();
            loop {
                let mut moved = false;
                for output in c.in_page.drain() {
                    moved = true;
                    match output {
                        AgentOutput::Api { id, request } => c.receive(c.in_page_session, NodeMessage::Api { id, request }, now),
                        AgentOutput::CancelWatch { id } => c.receive(c.in_page_session, NodeMessage::CancelWatch { id }, now),
                        AgentOutput::Runtime(RuntimeCommand::Start(launch)) => {
                            c.stopped.remove(&launch.pod_uid);
                            starts.push(launch);
                        }
                        AgentOutput::Runtime(RuntimeCommand::StopPod { pod_uid }) => {
                            c.stopped.insert(pod_uid);
                        }
                    }
                }
                for (session, message) in c.sessions.deliver(&mut c.plane) {
                    moved = true;
                    c.route(session, message, now);
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
            let meter = Rc::new(ComputeMeter::default());
            let counted = meter.clone();
            in_page::start(
                launch,
                move || cancelled_handle.inner.borrow().stopped.contains(&uid),
                move |report| handle.on_in_page_report(report, &counted),
                meter,
            );
        }
    }

    /// A report from an in-page container, which `meter` measures.
    fn on_in_page_report(&self, report: Report, meter: &Rc<ComputeMeter>) {
        {
            let mut c = self.inner.borrow_mut();
            match report {
                Report::Event(event) => {
                    let now = c.now();
                    // Usage is counted from Started to the exit, as node-host
                    // counts its run: a container cancelled before it started
                    // reports neither, so it is never counted.
                    match &event {
                        RuntimeEvent::Started { pod_uid, container, .. } => c.usage.started(pod_uid, container, meter.clone(), performance_nanos()),
                        RuntimeEvent::Exited { pod_uid, container, .. } | RuntimeEvent::PullFailed { pod_uid, container, .. } => c.usage.stopped(pod_uid, container),
                        _ => {}
                    }
                    c.in_page.on_runtime_event(event, now)
                }
                Report::Log { pod_uid, container, data } => c.plane.append_log(&pod_uid, &container, &data),
            }
        }
        self.pump();
    }

    /// metrics-server's scrape of the in-page kubelet (node-hosts send their
    /// own): each running container's usage since the last one. Called every
    /// 15 s of real time, whatever the cluster's clock, since usage is a rate.
    pub fn scrape_in_page(&self) {
        let mut guard = self.inner.borrow_mut();
        let c = &mut *guard;
        let now = c.now();
        for usage in c.usage.sample(performance_nanos()) {
            c.in_page.on_runtime_event(usage, now);
        }
        let usage = c.in_page.resource_metrics(now);
        c.receive(c.in_page_session, NodeMessage::ResourceMetrics { usage }, now);
    }

    /// Advances the clock: controllers, kubelet back-offs, heartbeats, and
    /// about once a minute bookmarks for watches that asked for them.
    pub fn tick(&self) {
        self.advance();
        self.changed();
    }

    /// `tick` without telling the UI (a step runs many in a row).
    fn advance(&self) {
        {
            let mut guard = self.inner.borrow_mut();
            let c = &mut *guard;
            let now = c.now();
            c.plane.tick(now);
            c.in_page.tick(now);
            if now.duration_since(c.bookmarked).as_secs() >= BOOKMARK_INTERVAL_SECS as i64 {
                c.bookmarked = now;
                // A bookmark is only sent to a watch that has every event before it.
                for (session, message) in c.sessions.deliver(&mut c.plane) {
                    c.route(session, message, now);
                }
                let (for_sessions, _) = c.sessions.route(c.plane.bookmarks());
                for (session, message) in for_sessions {
                    c.route(session, message, now);
                }
            }
        }
        self.deliver();
    }

    pub fn pause(&self, paused: bool) {
        {
            let mut c = self.inner.borrow_mut();
            // Time until now passes at the old setting.
            c.now();
            if paused {
                c.clock.pause();
            } else {
                c.clock.resume();
            }
        }
        self.changed();
    }

    pub fn set_speed(&self, factor: f64) {
        {
            let mut c = self.inner.borrow_mut();
            // Time until now passes at the old speed.
            c.now();
            c.clock.set_speed(factor);
        }
        self.changed();
    }

    /// Moves the cluster's time on by `seconds`, through every wake-up on
    /// the way, so timers fire in order and at their own times.
    pub fn step(&self, seconds: i64) {
        let target = {
            let mut c = self.inner.borrow_mut();
            c.now().checked_add(SignedDuration::from_secs(seconds)).unwrap_or(Timestamp::MAX)
        };
        self.advance_to(target);
    }

    /// Moves the cluster's time on to the next moment something is due.
    pub fn step_to_next_wake(&self) {
        let next = self.inner.borrow().next_wake();
        if let Some(next) = next {
            self.advance_to(next);
        }
    }

    fn advance_to(&self, target: Timestamp) {
        for _ in 0..MAX_WAKES_PER_STEP {
            {
                let mut c = self.inner.borrow_mut();
                let now = c.now();
                if target <= now {
                    break;
                }
                let next = c.next_wake().filter(|wake| *wake > now && *wake < target).unwrap_or(target);
                c.clock.step_to(Some(next));
            }
            self.advance();
        }
        self.changed();
    }

    /// Writes the snapshot to IndexedDB if the store changed since the last
    /// write; one write at a time.
    pub fn save(&self) {
        let (snapshot, revision) = {
            let mut c = self.inner.borrow_mut();
            let revision = c.plane.api().store().revision();
            if c.saving || c.resetting || c.saved_revision == Some(revision) {
                return;
            }
            c.saving = true;
            (c.plane.snapshot_json(), revision)
        };
        let handle = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = crate::saved_state::save(&snapshot).await;
            {
                let mut c = handle.inner.borrow_mut();
                c.saving = false;
                match result {
                    Ok(()) => c.saved_revision = Some(revision),
                    Err(e) => c.notice = Some(format!("The cluster could not be saved in this browser: {e}")),
                }
            }
            handle.changed();
        });
    }

    /// Forgets the saved cluster and reloads the page into a new one.
    pub fn reset(&self) {
        self.inner.borrow_mut().resetting = true;
        let handle = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match crate::saved_state::clear().await {
                Ok(()) => {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().reload();
                    }
                }
                Err(e) => {
                    {
                        let mut c = handle.inner.borrow_mut();
                        c.resetting = false;
                        c.notice = Some(e);
                    }
                    handle.changed();
                }
            }
        });
    }

    /// Parses a manifest and creates its objects. Nothing changes unless every
    /// document is valid. Returns what was created, or a message for people.
    pub fn apply(&self, yaml: &str) -> Result<Vec<String>, String> {
        let documents = manifest::parse_documents(yaml).map_err(|e| e.to_string())?;
        if documents.is_empty() {
            return Err("the manifest has no objects".into());
        }
        let result = {
            let mut c = self.inner.borrow_mut();
            let now = c.now();
            c.plane.create_all(&documents, ADMIN, now)
        };
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
        let response = {
            let mut c = self.inner.borrow_mut();
            let now = c.now();
            c.plane.handle(&ApiRequest::delete(path).as_user(ADMIN), now).into_response()
        };
        self.pump();
        if response.is_success() {
            Ok(())
        } else {
            Err(response.message())
        }
    }

    /// Opens a link to a node-host's WebSocket (`ws://host:port/node?token=…`).
    pub fn join(&self, url: String) {
        let session = self.inner.borrow_mut().sessions.open();
        let on_message = {
            let handle = self.clone();
            move |message: Result<NodeMessage, String>| handle.on_link_message(session, message)
        };
        let on_closed = {
            let handle = self.clone();
            move |reason: String| handle.on_link_closed(session, reason)
        };
        let (link, status) = match Link::open(&url, on_message, on_closed) {
            Ok(link) => (link, LinkStatus::Connecting),
            Err(e) => (Link::closed(), LinkStatus::Closed(e)),
        };
        self.inner.borrow_mut().links.insert(session, LinkState { url, node: None, status, link });
        self.changed();
    }

    fn on_link_message(&self, session: SessionId, message: Result<NodeMessage, String>) {
        {
            let mut c = self.inner.borrow_mut();
            match message {
                Ok(message) => {
                    let now = c.now();
                    c.receive(session, message, now)
                }
                Err(reason) => {
                    // A malformed message ends this link only.
                    if let Some(state) = c.links.get(&session) {
                        state.link.close(1007, &reason);
                    }
                }
            }
        }
        self.pump();
    }

    fn on_link_closed(&self, session: SessionId, reason: String) {
        {
            let mut guard = self.inner.borrow_mut();
            let c = &mut *guard;
            let now = c.now();
            c.sessions.close(&mut c.plane, session, now);
            if let Some(state) = c.links.get_mut(&session) {
                if !matches!(state.status, LinkStatus::Closed(_)) {
                    state.status = LinkStatus::Closed(reason);
                }
            }
        }
        self.pump();
    }
}

