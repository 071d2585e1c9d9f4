//! The control plane's side of its nodes' connections: the handshake, API
//! requests made as the node's own identity, and the routing of each watch's
//! events back to the session and request that opened it.
//!
//! A node-host may also relay HTTP clients' requests (kubectl against the
//! cluster in the tab); those are made as the user the node-host
//! authenticated, never anonymously, and their answers and watch events go
//! back tagged as relayed.
//!
//! The page uses it for node-hosts (over WebSockets) and for its in-page
//! node (in process, without a handshake), so every node is served by the
//! same rules.

use crate::apiserver::watch::SharedEvent;
use crate::apiserver::{authz, ApiError, ApiRequest, ApiResponse, ApiResult, WatchId};
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

/// Who asked for a watch on a session: its kubelet, or a relayed HTTP client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asker {
    Kubelet(u64),
    Relay(u64),
}

impl Asker {
    fn event(self, event: serde_json::Value) -> PlaneMessage {
        match self {
            Asker::Kubelet(id) => PlaneMessage::WatchEvent { id, event },
            Asker::Relay(id) => PlaneMessage::RelayWatchEvent { id, event },
        }
    }

    fn response(self, response: ApiResponse) -> PlaneMessage {
        match self {
            Asker::Kubelet(id) => PlaneMessage::ApiResponse { id, response },
            Asker::Relay(id) => PlaneMessage::RelayResponse { id, response },
        }
    }
}

#[derive(Debug, Default)]
pub struct NodeSessions {
    next: SessionId,
    sessions: BTreeMap<SessionId, State>,
    /// Which session and request each open watch answers.
    routes: HashMap<WatchId, (SessionId, Asker)>,
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
                let request = ApiRequest {
                    user: format!("system:node:{node}"),
                    groups: vec![authz::NODES_GROUP.into(), authz::AUTHENTICATED.into()],
                    ..request
                };
                self.serve(plane, session, Asker::Kubelet(id), &request, now)
            }
            (State::Joined { .. }, NodeMessage::Relay { id, request }) => {
                // An empty user is the page itself, which may do anything: a relay must name someone.
                if request.user.is_empty() {
                    let refused = ApiError::Unauthorized { message: "a relayed request must carry the user node-host authenticated".into() };
                    return vec![Asker::Relay(id).response(ApiResponse::error(&refused))];
                }
                self.serve(plane, session, Asker::Relay(id), &request, now)
            }
            (State::Joined { .. }, NodeMessage::CancelWatch { id }) => {
                self.cancel(plane, session, Asker::Kubelet(id));
                Vec::new()
            }
            (State::Joined { .. }, NodeMessage::RelayCancel { id }) => {
                self.cancel(plane, session, Asker::Relay(id));
                Vec::new()
            }
            (State::Joined { .. }, NodeMessage::Log { pod_uid, container, data, .. }) => {
                plane.append_log(&pod_uid, &container, &data);
                Vec::new()
            }
            (State::Joined { node }, NodeMessage::ResourceMetrics { usage }) => {
                plane.record_node_metrics(&node, usage, now);
                Vec::new()
            }
            // Anything out of order (API before Hello, a second Hello, a refused node) is ignored.
            _ => Vec::new(),
        }
    }

    /// Serves a request for `asker`: its response, or a watch routed to it.
    fn serve(&mut self, plane: &mut ControlPlane, session: SessionId, asker: Asker, request: &ApiRequest, now: Timestamp) -> Vec<PlaneMessage> {
        match plane.handle(request, now) {
            ApiResult::Response(response) => vec![asker.response(response)],
            ApiResult::Watch { id: watch, initial } => self.opened(session, watch, asker, initial),
        }
    }

    /// Routes a new watch's events to its asker; a relayed watch is first announced as open.
    fn opened(&mut self, session: SessionId, watch: WatchId, asker: Asker, initial: Vec<serde_json::Value>) -> Vec<PlaneMessage> {
        self.routes.insert(watch, (session, asker));
        let announce = match asker {
            Asker::Relay(id) => Some(PlaneMessage::RelayWatch { id }),
            Asker::Kubelet(_) => None,
        };
        announce.into_iter().chain(initial.into_iter().map(|event| asker.event(event))).collect()
    }

    fn cancel(&mut self, plane: &mut ControlPlane, session: SessionId, asker: Asker) {
        if let Some((&watch, _)) = self.routes.iter().find(|(_, r)| **r == (session, asker)) {
            self.routes.remove(&watch);
            plane.close_watch(watch);
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
                Some(&(session, asker)) => routed.push((session, asker.event((*event).clone()))),
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
            plane.forget_metrics(&node);
            plane.node_unreachable(&node, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_path::JsonPath;
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

    fn joined(plane: &mut ControlPlane, sessions: &mut NodeSessions) -> SessionId {
        let s = sessions.open();
        sessions.receive(plane, s, hello("host", PROTOCOL_VERSION), now());
        s
    }

    fn relay_status(reply: &[PlaneMessage]) -> (u64, u16) {
        match reply {
            [PlaneMessage::RelayResponse { id, response }] => (*id, response.status),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn relayed_requests_are_made_as_the_authenticated_user_and_never_anonymously() {
        let mut plane = ControlPlane::new(1, now());
        let mut sessions = NodeSessions::default();
        let s = sessions.open();
        let ns = |n: &str| ApiRequest::post("/api/v1/namespaces", serde_json::json!({"metadata": {"name": n}}));
        assert!(sessions.receive(&mut plane, s, NodeMessage::Relay { id: 1, request: ns("early").as_user("admin") }, now()).is_empty(), "no relay before Hello");
        sessions.receive(&mut plane, s, hello("host", PROTOCOL_VERSION), now());
        assert_eq!(relay_status(&sessions.receive(&mut plane, s, NodeMessage::Relay { id: 2, request: ns("anon") }, now())), (2, 401));
        let viewer = ns("v").as_user(authz::VIEWER).in_groups(&[authz::AUTHENTICATED]);
        assert_eq!(relay_status(&sessions.receive(&mut plane, s, NodeMessage::Relay { id: 3, request: viewer }, now())), (3, 403));
        let admin = ns("a").as_user("admin").in_groups(&[authz::MASTERS, authz::AUTHENTICATED]);
        assert_eq!(relay_status(&sessions.receive(&mut plane, s, NodeMessage::Relay { id: 4, request: admin }, now())), (4, 201));
        assert!(plane.read(&ApiRequest::get("/api/v1/namespaces/a"), now()).is_success());
    }

    #[test]
    fn relayed_watches_are_announced_and_kept_apart_from_the_kubelets() {
        let mut plane = ControlPlane::new(1, now());
        let mut sessions = NodeSessions::default();
        let s = joined(&mut plane, &mut sessions);
        let from = plane.api().store().revision().to_string();
        let watch = || ApiRequest::get("/api/v1/nodes").with_query("watch", "true").with_query("resourceVersion", &from);
        // The same id, once from the kubelet and once relayed.
        assert!(sessions.receive(&mut plane, s, NodeMessage::Api { id: 9, request: watch() }, now()).is_empty());
        let opened = sessions.receive(&mut plane, s, NodeMessage::Relay { id: 9, request: watch().as_user("admin").in_groups(&[authz::MASTERS]) }, now());
        assert_eq!(opened, vec![PlaneMessage::RelayWatch { id: 9 }]);
        plane.handle(&ApiRequest::post("/api/v1/nodes", serde_json::json!({"metadata": {"name": "one"}})), now());
        let delivered = sessions.deliver(&mut plane);
        assert!(delivered.iter().any(|(_, m)| matches!(m, PlaneMessage::WatchEvent { id: 9, .. })), "{delivered:?}");
        assert!(delivered.iter().any(|(_, m)| matches!(m, PlaneMessage::RelayWatchEvent { id: 9, event } if event["object"]["metadata"]["name"] == "one")), "{delivered:?}");
        // Cancelling the relayed watch leaves the kubelet's open.
        sessions.receive(&mut plane, s, NodeMessage::RelayCancel { id: 9 }, now());
        plane.handle(&ApiRequest::post("/api/v1/nodes", serde_json::json!({"metadata": {"name": "two"}})), now());
        let delivered = sessions.deliver(&mut plane);
        assert!(!delivered.is_empty() && delivered.iter().all(|(_, m)| matches!(m, PlaneMessage::WatchEvent { id: 9, .. })), "{delivered:?}");
    }

    #[test]
    fn a_node_reports_metrics_only_for_its_own_pods_and_they_go_with_it() {
        use crate::metrics_server::{ContainerUsage, NodeUsage, PodUsage, RESOLUTION};
        let mut plane = ControlPlane::new(1, now());
        let mut sessions = NodeSessions::default();
        let s = joined(&mut plane, &mut sessions);
        let mut uids = Vec::new();
        for (pod, node) in [("mine", "host"), ("theirs", "other")] {
            let body = serde_json::json!({"metadata": {"name": pod}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "hello"}]}});
            let created = plane.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", body), now());
            let ApiResult::Response(created) = created else { panic!("a watch?") };
            assert!(created.is_success(), "{}", created.message());
            uids.push(created.json_body().and_then(|b| b.at(&["metadata", "uid"])).and_then(serde_json::Value::as_str).unwrap().to_string());
        }
        let node_clock = Timestamp::from_second(1_000_000_000).unwrap();
        let pod = |name: &str, uid: &str| PodUsage {
            namespace: "default".into(),
            name: name.into(),
            uid: uid.into(),
            timestamp: node_clock,
            window: RESOLUTION,
            containers: vec![ContainerUsage { name: "c".into(), cpu_millis: 250, memory_bytes: 1 << 20 }],
        };
        // It names another node, and pods that are not its own or not that pod any more.
        let pods = vec![pod("mine", &uids[0]), pod("theirs", &uids[1]), pod("mine", "an-older-uid")];
        let usage = NodeUsage { node: "other".into(), timestamp: node_clock, window: RESOLUTION, cpu_millis: 750, memory_bytes: 3 << 20, pods };
        assert!(sessions.receive(&mut plane, s, NodeMessage::ResourceMetrics { usage }, now()).is_empty());
        let metrics = plane.metrics();
        let mine = metrics.pod("default", "mine").expect("its own pod's usage is kept");
        assert_eq!((mine.cpu_millis(), mine.uid.as_str(), mine.timestamp), (250, uids[0].as_str(), now()));
        assert_eq!(metrics.node("host").map(|n| n.pods.len()), Some(1));
        assert!(metrics.pod("default", "theirs").is_none(), "a node cannot speak for another's pod");
        assert!(metrics.node("other").is_none(), "filed under the session's node");
        sessions.close(&mut plane, s, now());
        assert!(plane.metrics().node("host").is_none(), "a node that left has no metrics");
    }
}
