//! Browser mode's Kubernetes API: node-host authenticates the HTTP client
//! (`kube_api`), and the node loop relays each request to the control plane
//! in the page over the node's WebSocket, then relays the answer back,
//! watch streams included. So the real `kubectl` works against the cluster
//! in the tab.
//!
//! This holds the relay's bookkeeping: which HTTP call waits for which
//! relayed id, and which open watch streams go where.

use crate::kube_api::{ApiCall, ApiReply};
use std::collections::HashMap;
use std::sync::Arc;
use tabernetes_core::apiserver::watch::SharedEvent;
use tabernetes_core::apiserver::{ApiError, ApiResponse};
use tabernetes_core::protocol::{NodeMessage, PlaneMessage};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::oneshot;

/// The answer while no page drives this node.
fn no_page() -> ApiResponse {
    ApiResponse::error(&ApiError::ServiceUnavailable {
        message: "no playground page is connected to this node-host: open its join URL in a browser, then retry".into(),
    })
}

#[derive(Default)]
pub struct Relay {
    next_id: u64,
    /// Calls waiting for their response, or for their watch to open.
    waiting: HashMap<u64, oneshot::Sender<ApiReply>>,
    /// Open watch streams, by relayed id.
    watches: HashMap<u64, UnboundedSender<SharedEvent>>,
}

impl Relay {
    /// An HTTP call: the message to send to the page, or, with no page
    /// joined, nothing (the call is answered 503 at once).
    pub fn call(&mut self, call: ApiCall, joined: bool) -> Option<NodeMessage> {
        if !joined {
            let _ = call.reply.send(ApiReply::Response(no_page()));
            return None;
        }
        self.next_id += 1;
        self.waiting.insert(self.next_id, call.reply);
        Some(NodeMessage::Relay { id: self.next_id, request: call.request })
    }

    /// A relay message from the page; returns a cancellation to send back
    /// when the stream it was for has no reader any more.
    pub fn on_message(&mut self, message: PlaneMessage) -> Option<NodeMessage> {
        match message {
            PlaneMessage::RelayResponse { id, response } => {
                if let Some(reply) = self.waiting.remove(&id) {
                    let _ = reply.send(ApiReply::Response(response));
                }
                None
            }
            PlaneMessage::RelayWatch { id } => {
                let reply = self.waiting.remove(&id)?;
                let (events, stream) = mpsc::unbounded_channel();
                if reply.send(ApiReply::Watch { initial: Vec::new(), events: stream }).is_err() {
                    return Some(NodeMessage::RelayCancel { id });
                }
                self.watches.insert(id, events);
                None
            }
            PlaneMessage::RelayWatchEvent { id, event } => {
                // The server ends a watch with an ERROR event (410 after compaction).
                let ends = event.get("type").and_then(|t| t.as_str()) == Some("ERROR");
                let delivered = self.watches.get(&id).is_some_and(|tx| tx.send(Arc::new(event)).is_ok());
                if !delivered || ends {
                    self.watches.remove(&id);
                    return Some(NodeMessage::RelayCancel { id });
                }
                None
            }
            _ => None,
        }
    }

    /// Watches whose HTTP client disconnected, as cancellations for the
    /// page (the node loop sweeps every second: a quiet watch has no send
    /// to fail on).
    pub fn sweep(&mut self) -> Vec<NodeMessage> {
        let gone: Vec<u64> = self.watches.iter().filter(|(_, tx)| tx.is_closed()).map(|(id, _)| *id).collect();
        gone.into_iter()
            .map(|id| {
                self.watches.remove(&id);
                NodeMessage::RelayCancel { id }
            })
            .collect()
    }

    /// The page went away: waiting calls get 503, and open watch streams end
    /// (clients such as kubectl's reflectors then relist and watch again).
    pub fn page_gone(&mut self) {
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(ApiReply::Response(no_page()));
        }
        self.watches.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tabernetes_core::apiserver::ApiRequest;

    fn call() -> (ApiCall, oneshot::Receiver<ApiReply>) {
        let (reply, answer) = oneshot::channel();
        (ApiCall { request: ApiRequest::get("/api/v1/pods").as_user("admin"), reply }, answer)
    }

    #[tokio::test]
    async fn without_a_page_calls_get_503_with_what_to_do() {
        let mut relay = Relay::default();
        let (c, answer) = call();
        assert!(relay.call(c, false).is_none());
        let Ok(ApiReply::Response(response)) = answer.await else { panic!("no response") };
        assert_eq!(response.status, 503);
        assert!(response.message().contains("join URL"), "{}", response.message());
    }

    #[tokio::test]
    async fn responses_reach_their_caller_and_a_lost_page_fails_the_rest() {
        let mut relay = Relay::default();
        let (first, first_answer) = call();
        let (second, second_answer) = call();
        let Some(NodeMessage::Relay { id: a, .. }) = relay.call(first, true) else { panic!() };
        let Some(NodeMessage::Relay { id: b, .. }) = relay.call(second, true) else { panic!() };
        assert_ne!(a, b);
        relay.on_message(PlaneMessage::RelayResponse { id: b, response: ApiResponse::json(200, json!({"n": 2})) });
        let Ok(ApiReply::Response(r)) = second_answer.await else { panic!() };
        assert_eq!(r.json_body(), Some(&json!({"n": 2})));
        relay.page_gone();
        let Ok(ApiReply::Response(r)) = first_answer.await else { panic!() };
        assert_eq!(r.status, 503);
    }

    #[tokio::test]
    async fn watch_events_stream_until_the_client_leaves_then_the_page_is_told() {
        let mut relay = Relay::default();
        let (c, answer) = call();
        let Some(NodeMessage::Relay { id, .. }) = relay.call(c, true) else { panic!() };
        assert!(relay.on_message(PlaneMessage::RelayWatch { id }).is_none());
        let Ok(ApiReply::Watch { initial, mut events }) = answer.await else { panic!("not a watch") };
        assert!(initial.is_empty());
        relay.on_message(PlaneMessage::RelayWatchEvent { id, event: json!({"type": "ADDED", "object": {}}) });
        assert_eq!(events.recv().await.unwrap()["type"], "ADDED");
        assert!(relay.sweep().is_empty(), "the client is still reading");
        drop(events);
        assert_eq!(relay.sweep(), vec![NodeMessage::RelayCancel { id }]);
        assert!(relay.sweep().is_empty(), "told once");
    }

    #[tokio::test]
    async fn an_error_event_ends_the_stream_and_the_watch() {
        let mut relay = Relay::default();
        let (c, answer) = call();
        let Some(NodeMessage::Relay { id, .. }) = relay.call(c, true) else { panic!() };
        relay.on_message(PlaneMessage::RelayWatch { id });
        let Ok(ApiReply::Watch { mut events, .. }) = answer.await else { panic!() };
        let cancel = relay.on_message(PlaneMessage::RelayWatchEvent { id, event: json!({"type": "ERROR", "object": {"code": 410}}) });
        assert_eq!(cancel, Some(NodeMessage::RelayCancel { id }));
        assert_eq!(events.recv().await.unwrap()["type"], "ERROR");
        assert!(events.recv().await.is_none(), "the stream ends after the error");
    }
}
