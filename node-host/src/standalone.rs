//! Standalone mode: node-host runs the control plane itself (no page) and
//! joins this machine to it as a node, for headless labs and tests.
//!
//! One task owns the `ControlPlane`. It serves API requests from the HTTP
//! edge (`kube_api`), talks to the local node loop through the same node
//! protocol a page uses (so the local node is an ordinary node), ticks the
//! controllers, fans watch events out, and saves snapshots.

use crate::kube_api::{ApiCall, ApiReply};
use crate::node::SessionEvent;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tabernetes_core::apiserver::watch::{SharedEvent, BOOKMARK_INTERVAL_SECS};
use tabernetes_core::apiserver::{ApiResult, Method, WatchId};
use tabernetes_core::node_sessions::{NodeSessions, SessionId};
use tabernetes_core::protocol::{self, NodeMessage};
use tabernetes_core::ControlPlane;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

/// The local node's session id in the node loop's numbering.
const LOCAL_SESSION: u64 = 1;
/// How often controllers get a tick (timers, back-offs, heartbeats checks).
const TICK: Duration = Duration::from_millis(500);
/// A changed state is written at most this often, and at shutdown.
const SAVE_EVERY: Duration = Duration::from_secs(5);

pub struct ClusterLoop {
    plane: ControlPlane,
    sessions: NodeSessions,
    local: SessionId,
    to_node: UnboundedSender<SessionEvent>,
    http_watches: HashMap<WatchId, UnboundedSender<SharedEvent>>,
    state_file: Option<PathBuf>,
    saved_revision: u64,
}

impl ClusterLoop {
    /// A cluster, restored from `state_file` if it holds a snapshot.
    pub fn new(seed: u64, state_file: Option<PathBuf>, to_node: UnboundedSender<SessionEvent>) -> anyhow::Result<Self> {
        let mut plane = ControlPlane::new(seed, crate::node::now());
        if let Some(path) = state_file.as_ref().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path)?;
            plane.restore_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            tracing::info!("restored the cluster from {}", path.display());
        }
        let saved_revision = plane.api().store().revision();
        let mut sessions = NodeSessions::default();
        let local = sessions.open();
        Ok(ClusterLoop { plane, sessions, local, to_node, http_watches: HashMap::new(), state_file, saved_revision })
    }

    pub async fn run(mut self, mut calls: UnboundedReceiver<ApiCall>) {
        let (node_out, mut from_node) = mpsc::unbounded_channel::<String>();
        if self.to_node.send(SessionEvent::Opened { id: LOCAL_SESSION, outgoing: node_out }).is_err() {
            return;
        }
        let mut tick = tokio::time::interval(TICK);
        let mut bookmarks = tokio::time::interval(Duration::from_secs(BOOKMARK_INTERVAL_SECS));
        let mut save = tokio::time::interval(SAVE_EVERY);
        loop {
            tokio::select! {
                call = calls.recv() => match call {
                    Some(call) => self.serve(call),
                    None => break,
                },
                Some(text) = from_node.recv() => self.on_node_message(&text),
                _ = tick.tick() => {
                    self.plane.tick(crate::node::now());
                    let gone: Vec<WatchId> = self.http_watches.iter().filter(|(_, tx)| tx.is_closed()).map(|(id, _)| *id).collect();
                    for watch in gone {
                        self.close_http_watch(watch);
                    }
                }
                _ = bookmarks.tick() => {
                    for (watch, event) in self.plane.bookmarks() {
                        self.send_to_watch(watch, event);
                    }
                }
                _ = save.tick() => self.save(),
            }
            self.deliver();
        }
        self.save();
    }

    fn serve(&mut self, call: ApiCall) {
        let now = crate::node::now();
        let is_plain_read = call.request.method == Method::Get && !call.request.flag("watch");
        if is_plain_read {
            let _ = call.reply.send(ApiReply::Response(self.plane.read(&call.request, now)));
            return;
        }
        match self.plane.handle(&call.request, now) {
            ApiResult::Response(response) => {
                let _ = call.reply.send(ApiReply::Response(response));
            }
            ApiResult::Watch { id, initial } => {
                let (tx, events) = mpsc::unbounded_channel();
                self.http_watches.insert(id, tx);
                if call.reply.send(ApiReply::Watch { initial, events }).is_err() {
                    // The client went away before its watch opened.
                    self.close_http_watch(id);
                }
            }
        }
    }

    /// Ends an HTTP watch on both sides: its stream and the control plane's watch.
    fn close_http_watch(&mut self, watch: WatchId) {
        self.http_watches.remove(&watch);
        self.plane.close_watch(watch);
    }

    fn on_node_message(&mut self, text: &str) {
        let message = match protocol::decode::<NodeMessage>(text) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!("the local node sent a malformed message: {e}");
                return;
            }
        };
        for reply in self.sessions.receive(&mut self.plane, self.local, message, crate::node::now()) {
            let _ = self.to_node.send(SessionEvent::Message { id: LOCAL_SESSION, message: reply });
        }
    }

    /// Watch events to whoever holds each watch: the local node or an HTTP stream.
    fn deliver(&mut self) {
        let events = self.plane.pump_watches();
        let (for_nodes, others) = self.sessions.route(events);
        for (_, message) in for_nodes {
            let _ = self.to_node.send(SessionEvent::Message { id: LOCAL_SESSION, message });
        }
        for (watch, event) in others {
            self.send_to_watch(watch, event);
        }
    }

    fn send_to_watch(&mut self, watch: WatchId, event: SharedEvent) {
        let expired = event.get("type").and_then(|t| t.as_str()) == Some("ERROR");
        let delivered = self.http_watches.get(&watch).is_some_and(|tx| tx.send(event).is_ok());
        if !delivered || expired {
            // The client is gone, or the server ended the watch.
            self.close_http_watch(watch);
        }
    }

    /// Writes the snapshot if anything changed, atomically (temp file, then rename).
    fn save(&mut self) {
        let Some(path) = &self.state_file else { return };
        let revision = self.plane.api().store().revision();
        if revision == self.saved_revision {
            return;
        }
        let temp = path.with_extension("tmp");
        let written = std::fs::write(&temp, self.plane.snapshot_json()).and_then(|()| std::fs::rename(&temp, path));
        match written {
            Ok(()) => self.saved_revision = revision,
            Err(e) => tracing::error!("could not save the cluster to {}: {e}", path.display()),
        }
    }
}
