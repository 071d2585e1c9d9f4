//! The node loop: one task owns the kubelet agent and the pods, and talks to
//! whichever page is connected. Pods keep running across page reloads and
//! reconnects; the agent matches them again by UID, so none runs twice.
//! The loop also relays HTTP clients' Kubernetes API calls to the page
//! (`relay`), since the page's socket is this node's.

use crate::kube_api::ApiCall;
use crate::pods::{PodReport, Pods};
use crate::relay::Relay;
use std::time::{Duration, SystemTime};
use tabernetes_core::kubelet::agent::{AgentOutput, NodeAgent};
use tabernetes_core::kubelet::node::NodeInfo;
use tabernetes_core::kubelet::runtime::RuntimeCommand;
use tabernetes_core::metrics_server;
use tabernetes_core::protocol::{self, NodeMessage, PlaneMessage, PROTOCOL_VERSION};
use tabernetes_core::Timestamp;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

pub type SessionId = u64;

/// What the socket tasks tell the node loop.
#[derive(Debug)]
pub enum SessionEvent {
    /// A page joined; `outgoing` carries text frames to it. Dropping it closes that socket.
    Opened { id: SessionId, outgoing: UnboundedSender<String> },
    Message { id: SessionId, message: PlaneMessage },
    Closed { id: SessionId },
}

pub fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    Timestamp::from_millisecond(ms).expect("the clock is within jiff's range")
}

struct Session {
    id: SessionId,
    outgoing: UnboundedSender<String>,
    welcomed: bool,
}

pub struct NodeLoop {
    agent: NodeAgent,
    pods: Pods,
    session: Option<Session>,
    relay: Relay,
}

/// How often relayed watches are checked for HTTP clients that left.
const RELAY_SWEEP: Duration = Duration::from_secs(1);

impl NodeLoop {
    pub fn new(info: NodeInfo, pods: Pods) -> Self {
        NodeLoop { agent: NodeAgent::new(info), pods, session: None, relay: Relay::default() }
    }

    /// Serves until `sessions` closes. `calls` are Kubernetes API calls to
    /// relay to the page (browser mode); nothing needs to send any.
    pub async fn run(mut self, mut sessions: UnboundedReceiver<SessionEvent>, mut reports: UnboundedReceiver<PodReport>, mut calls: UnboundedReceiver<ApiCall>) {
        let mut sweep = tokio::time::interval(RELAY_SWEEP);
        let scrape_every = metrics_server::RESOLUTION.unsigned_abs();
        let mut scrape = tokio::time::interval_at(tokio::time::Instant::now() + scrape_every, scrape_every);
        loop {
            let wake = self.agent.next_wake().map(|t| {
                let ms = t.as_millisecond() - now().as_millisecond();
                Duration::from_millis(ms.max(0) as u64)
            });
            tokio::select! {
                event = sessions.recv() => match event {
                    Some(event) => self.on_session(event),
                    None => return,
                },
                Some(report) = reports.recv() => self.on_report(report),
                Some(call) = calls.recv() => {
                    let joined = self.session.as_ref().is_some_and(|s| s.welcomed);
                    if let Some(message) = self.relay.call(call, joined) {
                        self.send(&message);
                    }
                }
                _ = sweep.tick() => {
                    for cancel in self.relay.sweep() {
                        self.send(&cancel);
                    }
                }
                _ = scrape.tick() => self.scrape(),
                _ = sleep_or_forever(wake) => self.agent.tick(now()),
            }
            self.flush();
        }
    }

    /// What metrics-server would get from this kubelet: each running
    /// container's usage over the last window, sent to the page (which keeps
    /// it for the HPA and `kubectl top`).
    fn scrape(&mut self) {
        let t = now();
        for usage in self.pods.sample_usage() {
            self.agent.on_runtime_event(usage, t);
        }
        self.send(&NodeMessage::ResourceMetrics { usage: self.agent.resource_metrics(t) });
    }

    fn send(&self, message: &NodeMessage) {
        if let Some(session) = self.session.as_ref().filter(|s| s.welcomed || matches!(message, NodeMessage::Hello { .. })) {
            let _ = session.outgoing.send(protocol::encode(message));
        }
    }

    fn on_session(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Opened { id, outgoing } => {
                // One page drives this node at a time: a new one replaces the old (dropping its sender closes it).
                if self.session.is_some() {
                    self.agent.disconnect();
                    self.relay.page_gone();
                }
                self.session = Some(Session { id, outgoing, welcomed: false });
                self.send(&NodeMessage::Hello { protocol: PROTOCOL_VERSION, node: self.agent.info().clone() });
            }
            SessionEvent::Closed { id } => {
                if self.session.as_ref().is_some_and(|s| s.id == id) {
                    self.session = None;
                    self.agent.disconnect();
                    self.relay.page_gone();
                    tracing::info!("page disconnected; pods keep running until a page reconnects");
                }
            }
            SessionEvent::Message { id, message } => {
                if self.session.as_ref().is_none_or(|s| s.id != id) {
                    return;
                }
                let t = now();
                match message {
                    PlaneMessage::Welcome { protocol } if protocol == PROTOCOL_VERSION => {
                        if let Some(s) = self.session.as_mut() {
                            s.welcomed = true;
                        }
                        tracing::info!(node = self.agent.node_name(), "joined the control plane");
                        self.agent.connect(t);
                    }
                    PlaneMessage::Welcome { protocol } => {
                        tracing::warn!("the page speaks protocol {protocol}, this node-host {PROTOCOL_VERSION}; closing");
                        self.session = None;
                    }
                    PlaneMessage::Reject { reason } => {
                        tracing::warn!("the page refused this node: {reason}");
                        self.session = None;
                        self.agent.disconnect();
                    }
                    PlaneMessage::ApiResponse { id, response } => self.agent.on_response(id, response, t),
                    PlaneMessage::WatchEvent { id, event } => self.agent.on_watch_event(id, &event, t),
                    relayed @ (PlaneMessage::RelayResponse { .. } | PlaneMessage::RelayWatch { .. } | PlaneMessage::RelayWatchEvent { .. }) => {
                        if let Some(cancel) = self.relay.on_message(relayed) {
                            self.send(&cancel);
                        }
                    }
                }
            }
        }
    }

    fn on_report(&mut self, report: PodReport) {
        match report {
            PodReport::Event(event) => self.agent.on_runtime_event(event, now()),
            PodReport::Log { pod_uid, container, stream, data } => {
                self.send(&NodeMessage::Log { pod_uid, container, stream, data });
            }
        }
    }

    fn flush(&mut self) {
        for output in self.agent.drain() {
            match output {
                AgentOutput::Api { id, request } => self.send(&NodeMessage::Api { id, request }),
                AgentOutput::CancelWatch { id } => self.send(&NodeMessage::CancelWatch { id }),
                AgentOutput::Runtime(RuntimeCommand::Start(launch)) => self.pods.start(launch),
                AgentOutput::Runtime(RuntimeCommand::StopPod { pod_uid }) => self.pods.stop(&pod_uid),
            }
        }
    }
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Channels for a node loop.
pub fn channels() -> (UnboundedSender<SessionEvent>, UnboundedReceiver<SessionEvent>) {
    mpsc::unbounded_channel()
}
