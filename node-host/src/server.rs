//! The HTTP side: serves the built playground and the `/node` WebSocket a
//! page joins through, behind the Host/Origin/token checks.

use crate::node::{SessionEvent, SessionId};
use crate::security::{Guard, Refusal};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tabernetes_core::protocol::{self, PlaneMessage, MAX_MESSAGE_BYTES};
use tokio::sync::mpsc::{self, UnboundedSender};
use tower_http::services::ServeDir;

/// Close codes (RFC 6455): 1007 invalid payload, 1008 policy violation.
const CLOSE_INVALID: u16 = 1007;
const CLOSE_POLICY: u16 = 1008;

#[derive(Clone)]
pub struct AppState {
    pub guard: Arc<Guard>,
    pub sessions: UnboundedSender<SessionEvent>,
    next_session: Arc<AtomicU64>,
}

pub fn router(guard: Guard, sessions: UnboundedSender<SessionEvent>, dist: PathBuf) -> Router {
    let state = AppState { guard: Arc::new(guard), sessions, next_session: Arc::default() };
    Router::new()
        .route("/node", get(join))
        .fallback_service(ServeDir::new(dist).append_index_html_on_directories(true))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .with_state(state)
}

/// Standalone mode: the Kubernetes API, and the playground's files beside it.
pub fn api_router(guard: Arc<Guard>, api: crate::kube_api::KubeApi, dist: PathBuf) -> Router {
    let state = AppState { guard, sessions: mpsc::unbounded_channel().0, next_session: Arc::default() };
    let kube = Router::new()
        .route("/api", any(crate::kube_api::serve))
        .route("/api/{*rest}", any(crate::kube_api::serve))
        .route("/apis", any(crate::kube_api::serve))
        .route("/apis/{*rest}", any(crate::kube_api::serve))
        .route("/version", any(crate::kube_api::serve))
        .route("/healthz", any(crate::kube_api::serve))
        .route("/livez", any(crate::kube_api::serve))
        .route("/readyz", any(crate::kube_api::serve))
        .route("/openapi/{*rest}", any(crate::kube_api::serve))
        .with_state(api);
    kube.fallback_service(ServeDir::new(dist).append_index_html_on_directories(true))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
}

fn refuse(refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::Host(_) => StatusCode::MISDIRECTED_REQUEST,
        Refusal::Origin(_) => StatusCode::FORBIDDEN,
        Refusal::Token => StatusCode::UNAUTHORIZED,
    };
    tracing::warn!("refused: {refusal}");
    (status, refusal.to_string()).into_response()
}

/// Every request must name us by an allowed Host (DNS rebinding defence).
async fn check_host(State(state): State<AppState>, request: axum::extract::Request, next: Next) -> Response {
    // HTTP/2 (kubectl over TLS) names the host in `:authority`, which is the URI's.
    let authority = request.uri().authority().map(|a| a.as_str().to_string());
    let host = authority.as_deref().or_else(|| request.headers().get(header::HOST).and_then(|h| h.to_str().ok()));
    match state.guard.check_host(host) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refuse(refusal),
    }
}

async fn join(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<HashMap<String, String>>, upgrade: WebSocketUpgrade) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let Err(refusal) = state.guard.check_origin(origin).and_then(|()| state.guard.check_token(query.get("token").map(String::as_str))) {
        return refuse(refusal);
    }
    let id = state.next_session.fetch_add(1, Ordering::Relaxed) + 1;
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(socket, id, state.sessions))
}

/// Relays one page's socket to the node loop. A malformed message closes
/// this socket with a reason; nothing else is affected.
async fn session(socket: WebSocket, id: SessionId, sessions: UnboundedSender<SessionEvent>) {
    let (mut sink, mut stream) = socket.split();
    let (outgoing, mut to_page) = mpsc::unbounded_channel::<String>();
    let (close_tx, mut close_rx) = mpsc::unbounded_channel::<(u16, String)>();
    if sessions.send(SessionEvent::Opened { id, outgoing }).is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                text = to_page.recv() => match text {
                    Some(text) => if sink.send(Message::Text(text.into())).await.is_err() { break },
                    // The node loop dropped us (another page took over).
                    None => {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: CLOSE_POLICY, reason: "another page joined this node".into() }))).await;
                        break;
                    }
                },
                Some((code, reason)) = close_rx.recv() => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
            }
        }
    });
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                let _ = close_tx.send((CLOSE_INVALID, "binary messages are not part of the protocol".into()));
                break;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        match protocol::decode::<PlaneMessage>(&text) {
            Ok(message) => {
                if sessions.send(SessionEvent::Message { id, message }).is_err() {
                    break;
                }
            }
            Err(reason) => {
                tracing::warn!("closing session {id}: {reason}");
                let mut reason = reason;
                reason.truncate(120); // a close frame's reason must fit in 123 bytes
                let _ = close_tx.send((CLOSE_INVALID, reason));
                break;
            }
        }
    }
    let _ = sessions.send(SessionEvent::Closed { id });
    let _ = writer.await;
}
