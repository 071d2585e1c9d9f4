//! The messages between the control plane (in the page) and a node-host,
//! defined once here and used by both ends. Versioned: each side states the
//! version it speaks when the socket opens, and a mismatch ends the session
//! with a clear reason rather than with undefined behaviour.
//!
//! The node side is a kubelet acting as an API client, so most traffic is
//! API requests and responses; watch events are tagged with the id of the
//! request that opened the watch.
//!
//! A node-host also relays the Kubernetes API for the real `kubectl`
//! (`Relay*` messages): it authenticates the HTTP client by bearer token and
//! forwards the request with that user, the way kube-apiserver trusts an
//! authenticating front proxy. Relayed requests have their own ids, so they
//! never mix with the kubelet's.

use crate::apiserver::{ApiRequest, ApiResponse};
use crate::kubelet::node::NodeInfo;
use crate::metrics_server::NodeUsage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// 2 added the API relay; 3 the nodes' resource metrics.
pub const PROTOCOL_VERSION: u32 = 3;

/// The largest message either side accepts, in bytes. Objects are capped at
/// 1.5 MiB by the API server; a list or a log chunk stays under this.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// From a node to the control plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NodeMessage {
    Hello { protocol: u32, node: NodeInfo },
    Api { id: u64, request: ApiRequest },
    CancelWatch { id: u64 },
    /// An HTTP client's request, made as the user node-host authenticated.
    Relay { id: u64, request: ApiRequest },
    /// The HTTP client of a relayed watch went away.
    RelayCancel { id: u64 },
    #[serde(rename_all = "camelCase")]
    Log { pod_uid: String, container: String, stream: LogStream, data: String },
    /// The node's kubelet scraped, as metrics-server would every 15 s: its
    /// pods' CPU and memory usage, for the HPA and `kubectl top`.
    ResourceMetrics { usage: NodeUsage },
}

/// From the control plane to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlaneMessage {
    Welcome { protocol: u32 },
    /// The plane refuses the node (wrong version, duplicate name); the socket closes after it.
    Reject { reason: String },
    ApiResponse { id: u64, response: ApiResponse },
    WatchEvent { id: u64, event: Value },
    /// The answer to a relayed request that did not open a watch.
    RelayResponse { id: u64, response: ApiResponse },
    /// A relayed watch is open; its events follow as `RelayWatchEvent`s.
    RelayWatch { id: u64 },
    RelayWatchEvent { id: u64, event: Value },
}

/// Decodes a message, refusing oversized or malformed input with a reason.
pub fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(format!("message of {} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit", text.len()));
    }
    serde_json::from_str(text).map_err(|e| format!("malformed message: {e}"))
}

pub fn encode<T: Serialize>(message: &T) -> String {
    serde_json::to_string(message).expect("protocol messages always serialize")
}

/// Encodes a message for the page's socket to a node-host. A relayed
/// response the node-host would refuse as too large becomes an error that
/// says how to ask for less, instead of closing the node's session.
pub fn encode_for_node(message: &PlaneMessage) -> String {
    let text = encode(message);
    match message {
        PlaneMessage::RelayResponse { id, .. } if text.len() > MAX_MESSAGE_BYTES => {
            let error = crate::apiserver::ApiError::Internal {
                message: format!(
                    "the response is {} bytes, more than the {MAX_MESSAGE_BYTES}-byte limit of the relay to the page; \
                     list in pages (kubectl get --chunk-size=500, or limit and continue)",
                    text.len()
                ),
            };
            encode(&PlaneMessage::RelayResponse { id: *id, response: ApiResponse::error(&error) })
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_a_type_tag() {
        let msg = NodeMessage::Log { pod_uid: "u".into(), container: "c".into(), stream: LogStream::Stdout, data: "hi\n".into() };
        let text = encode(&msg);
        assert!(text.starts_with(r#"{"type":"log","podUid":"u""#), "{text}");
        assert_eq!(decode::<NodeMessage>(&text), Ok(msg));
    }

    #[test]
    fn a_relayed_response_too_large_for_the_socket_becomes_an_error_that_says_what_to_do() {
        let small = PlaneMessage::RelayResponse { id: 1, response: ApiResponse::text(200, "fine") };
        assert_eq!(encode_for_node(&small), encode(&small));
        let huge = PlaneMessage::RelayResponse { id: 2, response: ApiResponse::text(200, "x".repeat(MAX_MESSAGE_BYTES)) };
        let Ok(PlaneMessage::RelayResponse { id: 2, response }) = decode::<PlaneMessage>(&encode_for_node(&huge)) else { panic!("not a relayed response") };
        assert_eq!(response.status, 500);
        assert!(response.message().contains("--chunk-size"), "{}", response.message());
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in ["", "{", "null", r#"{"type":"nope"}"#, r#"{"type":"api","id":"x"}"#] {
            assert!(decode::<NodeMessage>(bad).is_err(), "{bad}");
        }
    }
}
