//! The control plane's side of its nodes' connections: the handshake, API
//! requests made as the node's own identity, and the routing of each watch's
//! events back to the session and request that opened it.
//!
//! The page uses it for node-hosts (over WebSockets) and for its in-page
//! node (in process, without a handshake), so every node is served by the
//! same rules.

use crate::apiserver::watch::SharedEvent;
use crate::apiserver::{authz, ApiResult, WatchId};
use crate::protocol::{NodeMessage, PlaneMessage, PROTOCOL_VERSION};
use crate::{ControlPlane, Timestamp};
use std::collections::{BTreeMap, HashMap};

pub type SessionId = u64;

/// A watch event for a watch that no node session holds.
pub type WatchDelivery = (WatchId, SharedEvent);

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the node's Hello.
    Handshake,
    Joined { node: String },
    Refused,
}

#[derive(Debug, Default)]
pub struct NodeSessions {
    next: SessionId,
    sessions: BTreeMap<SessionId, State>,
    /// Which session and request each open watch answers.
    routes: HashMap<WatchId, (SessionId, u64)>,
}

impl NodeSessions {
    /// A connection that must introduce itself with Hello.
    pub fn open(&mut self) -> SessionId {
        self.next += 1;
        self.sessions.insert(self.next, State::Handshake);
        self.next
    }

    /// A node in the same process, known by name: no handshake.
    pub fn open_local(&mut self, node: &str) -> SessionId {
        let id = self.open();
        self.sessions.insert(id, State::Joined { node: node.to_string() });
        id
    }

    /// The node a session joined as.
    pub fn node(&self, session: SessionId) -> Option<&str> {
        match self.sessions.get(&session) {
            Some(State::Joined { node }) => Some(node),
            _ => None,
        }
    }

    fn name_taken(&self, name: &str) -> bool {
        self.sessions.values().any(|s| matches!(s, State::Joined { node } if node == name))
    }

    /// Handles one message from a node; returns the replies for that session.
    /// A `Reject` among them means the caller should close the connection.
    pub fn receive(&mut self, plane: &mut ControlPlane, session: SessionId, message: NodeMessage, now: Timestamp) -> Vec<PlaneMessage> {
        let Some(state) = self.sessions.get(&session).cloned() else { return Vec::new() };
        match (state, message) {
            (State::Handshake, NodeMessage::Hello { protocol, node }) => {
                let refusal = if protocol != PROTOCOL_VERSION {
                    Some(format!("this control plane speaks protocol {PROTOCOL_VERSION}, the node {protocol}"))
                } else if self.name_taken(&node.name) {
                    Some(format!("a node named {:?} is already joined", node.name))
                } else {
                    None
                };
                match refusal {
                    Some(reason) => {
                        self.sessions.insert(session, State::Refused);
                        vec![PlaneMessage::Reject { reason }]
                    }
                    None => {
                        self.sessions.insert(session, State::Joined { node: node.name });
                        vec![PlaneMessage::Welcome { protocol: PROTOCOL_VERSION }]
                    }
                }
            }
            (State::Joined { node }, NodeMessage::Api { id, request }) => {
                // The session is authenticated as its node: that, not the message, says who asks.
                let request = crate::apiserver::ApiRequest {
                    user: format!("system:node:{node}"),
                    groups: vec![authz::NODES_GROUP.into(), authz::AUTHENTICATED.into()],
                    ..request
                };
                match plane.handle(&request, now) {
                    ApiResult::Response(response) => vec![PlaneMessage::ApiResponse { id, response }],
                    ApiResult::Watch { id: watch, initial } => {
                        self.routes.insert(watch, (session, id));
                        initial.into_iter().map(|event| PlaneMessage::WatchEvent { id, event }).collect()
                    }
                }
            }
            (State::Joined { .. }, NodeMessage::CancelWatch { id }) => {
                if let Some((&watch, _)) = self.routes.iter().find(|(_, r)| **r == (session, id)) {
                    self.routes.remove(&watch);
                    plane.close_watch(watch);
                }
                Vec::new()
            }
            (State::Joined { .. }, NodeMessage::Log { pod_uid, container, data, .. }) => {
                plane.append_log(&pod_uid, &container, &data);
                Vec::new()
            }
            // Anything out of order (API before Hello, a second Hello, a refused node) is ignored.
            _ => Vec::new(),
        }
    }

    /// Watch events for every session, in order. Watches no session owns
    /// are closed (use `route` when other kinds of clients hold watches too).
    pub fn deliver(&mut self, plane: &mut ControlPlane) -> Vec<(SessionId, PlaneMessage)> {
        let (routed, unrouted) = self.route(plane.pump_watches());
        for (watch, _) in unrouted {
            plane.close_watch(watch);
        }
        routed
    }

    /// Splits pumped watch events into those for node sessions and the rest.
    pub fn route(&self, events: Vec<(WatchId, SharedEvent)>) -> (Vec<(SessionId, PlaneMessage)>, Vec<WatchDelivery>) {
        let mut routed = Vec::new();
        let mut unrouted = Vec::new();
        for (watch, event) in events {
            match self.routes.get(&watch) {
                Some(&(session, id)) => routed.push((session, PlaneMessage::WatchEvent { id, event: (*event).clone() })),
                None => unrouted.push((watch, event)),
            }
        }
        (routed, unrouted)
    }

    /// The connection is gone: its watches close, and a joined node becomes unreachable.
    pub fn close(&mut self, plane: &mut ControlPlane, session: SessionId, now: Timestamp) {
        let watches: Vec<WatchId> = self.routes.iter().filter(|(_, (s, _))| *s == session).map(|(w, _)| *w).collect();
        for watch in watches {
            self.routes.remove(&watch);
            plane.close_watch(watch);
        }
        if let Some(State::Joined { node }) = self.sessions.remove(&session) {
            plane.node_unreachable(&node, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::ApiRequest;
    use crate::kubelet::node::NodeInfo;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn hello(name: &str, protocol: u32) -> NodeMessage {
        let node = NodeInfo { name: name.into(), runtime: "wasmtime".into(), cpu_millis: 1000, memory_bytes: 1 << 30, max_pods: 10, os: "linux".into(), arch: "x86_64".into(), agent_version: "t".into() };
        NodeMessage::Hello { protocol, node }
    }

    #[test]
    fn handshake_then_requests_as_the_node() {
        let mut plane = ControlPlane::new(1, now());
        let mut sessions = NodeSessions::default();
        let s = sessions.open();
        let early = NodeMessage::Api { id: 1, request: ApiRequest::get("/api/v1/nodes") };
        assert!(sessions.receive(&mut plane, s, early.clone(), now()).is_empty(), "no API before Hello");
        assert_eq!(sessions.receive(&mut plane, s, hello("n1", PROTOCOL_VERSION), now()), vec![PlaneMessage::Welcome { protocol: PROTOCOL_VERSION }]);
        // A request claiming to be the admin is made as the node, which may not create namespaces.
        let create = NodeMessage::Api { id: 2, request: ApiRequest::post("/api/v1/namespaces", serde_json::json!({"metadata": {"name": "x"}})).as_user("admin").in_groups(&["system:masters"]) };
        let reply = sessions.receive(&mut plane, s, create, now());
        let [PlaneMessage::ApiResponse { response, .. }] = reply.as_slice() else { panic!("{reply:?}") };
        assert_eq!(response.status, 403);
        assert!(response.message().contains("User \"system:node:n1\" cannot create resource \"namespaces\""), "{}", response.message());
    }

    #[test]
    fn wrong_protocol_and_duplicate_names_are_rejected() {
        let mut plane = ControlPlane::new(1, now());
        let mut sessions = NodeSessions::default();
        let old = sessions.open();
        assert!(matches!(sessions.receive(&mut plane, old, hello("n1", PROTOCOL_VERSION + 1), now())[0], PlaneMessage::Reject { .. }));
        sessions.open_local("in-page");
        let dup = sessions.open();
        let reply = sessions.receive(&mut plane, dup, hello("in-page", PROTOCOL_VERSION), now());
        assert_eq!(reply, vec![PlaneMessage::Reject { reason: "a node named \"in-page\" is already joined".into() }]);
        assert_eq!(sessions.node(dup), None);
    }

    #[test]
    fn watch_events_go_to_the_session_that_asked_and_stop_when_it_closes() {
        let mut plane = ControlPlane::new(1, now());
        let mut sessions = NodeSessions::default();
        let a = sessions.open_local("a");
        let b = sessions.open_local("b");
        let watch = ApiRequest::get("/api/v1/nodes").with_query("watch", "true").with_query("resourceVersion", &plane.api().store().revision().to_string());
        sessions.receive(&mut plane, a, NodeMessage::Api { id: 7, request: watch }, now());
        plane.handle(&ApiRequest::post("/api/v1/nodes", serde_json::json!({"metadata": {"name": "x"}})), now());
        let delivered = sessions.deliver(&mut plane);
        assert!(!delivered.is_empty());
        assert!(delivered.iter().all(|(session, message)| *session == a && matches!(message, PlaneMessage::WatchEvent { id: 7, .. })), "{delivered:?}");
        sessions.close(&mut plane, a, now());
        plane.handle(&ApiRequest::post("/api/v1/nodes", serde_json::json!({"metadata": {"name": "y"}})), now());
        assert!(sessions.deliver(&mut plane).iter().all(|(s, _)| *s == b));
    }
}
