//! The Kubernetes API over HTTP, so the real `kubectl` and client libraries
//! work: authentication by bearer token, a size cap checked before a body is
//! parsed, JSON or YAML bodies, and watch streams as newline-delimited JSON.
//! Everything else is the control plane's `handle`, reached through
//! an `ApiCall` to whoever serves the cluster: `standalone`'s control plane,
//! or the node loop's `relay` to the page's.

use crate::security::Guard;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method as HttpMethod, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tabernetes_core::apiserver::authz::{AUTHENTICATED, MASTERS, VIEWER};
use tabernetes_core::apiserver::watch::SharedEvent;
use tabernetes_core::apiserver::{ApiRequest, ApiResponse, Body as ApiBody, Method, MAX_OBJECT_BYTES};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

/// Request bodies above this are refused unread: the largest object the
/// store takes, plus room for a patch's or a list's framing.
pub const MAX_REQUEST_BYTES: usize = 2 * MAX_OBJECT_BYTES;
/// The longest a watch stays open when the client sets no `timeoutSeconds`
/// (Kubernetes picks 30–60 minutes); clients reconnect from their last revision.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// A request from the HTTP edge, already authenticated.
pub struct ApiCall {
    pub request: ApiRequest,
    pub reply: oneshot::Sender<ApiReply>,
}

pub enum ApiReply {
    Response(ApiResponse),
    /// An open watch: the current state (when no resourceVersion was given),
    /// then events as they happen. The stream ends when the server closes the
    /// watch (410 after compaction); dropping `events` closes it server-side.
    Watch { initial: Vec<serde_json::Value>, events: UnboundedReceiver<SharedEvent> },
}

/// A bearer token and who it authenticates.
#[derive(Clone)]
pub struct Credential {
    pub token: String,
    pub user: String,
    pub groups: Vec<String>,
}

/// The users a new cluster has: an administrator, and a read-only viewer.
pub fn default_credentials() -> Vec<Credential> {
    vec![
        Credential { token: crate::security::new_token(), user: "admin".into(), groups: vec![MASTERS.into(), AUTHENTICATED.into()] },
        Credential { token: crate::security::new_token(), user: VIEWER.into(), groups: vec![AUTHENTICATED.into()] },
    ]
}

#[derive(Clone)]
pub struct KubeApi {
    pub calls: UnboundedSender<ApiCall>,
    pub credentials: Arc<Vec<Credential>>,
    pub guard: Arc<Guard>,
}

fn status(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message.into(), "reason": reason, "code": code});
    json_response(code, &body, &[])
}

fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response {
    let mut response = (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for warning in warnings {
        // RFC 7234 warn-code 299, the form kubectl prints as "Warning: ...".
        let text = format!("299 - \"{}\"", warning.replace('"', "'"));
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.append(header::WARNING, value);
        }
    }
    response
}

impl KubeApi {
    fn authenticate(&self, headers: &HeaderMap) -> Option<&Credential> {
        let presented = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?.trim();
        self.credentials.iter().find(|c| bool::from(c.token.as_bytes().ct_eq(presented.as_bytes())))
    }
}

/// Serves one Kubernetes API request.
pub async fn serve(State(api): State<KubeApi>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let origin = parts.headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let Err(refusal) = api.guard.check_origin(origin) {
        return status(403, "Forbidden", refusal.to_string());
    }
    let Some(credential) = api.authenticate(&parts.headers) else {
        return status(401, "Unauthorized", "Unauthorized: a valid bearer token is required (see the kubeconfig node-host wrote)");
    };
    if parts.uri.path().starts_with("/openapi/") {
        // Served here rather than by the control plane: the documents are
        // large, generated once, and the same for every cluster.
        return match crate::openapi::serve(parts.uri.path()) {
            Some(text) => {
                let mut r = (StatusCode::OK, text).into_response();
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            None => status(404, "NotFound", "the server could not find the requested resource"),
        };
    }
    let method = match parts.method {
        HttpMethod::GET | HttpMethod::HEAD => Method::Get,
        HttpMethod::POST => Method::Post,
        HttpMethod::PUT => Method::Put,
        HttpMethod::PATCH => Method::Patch,
        HttpMethod::DELETE => Method::Delete,
        _ => return status(405, "MethodNotAllowed", format!("method {} is not supported", parts.method)),
    };
    // The cap applies before anything is parsed; a larger body is never read whole.
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return status(413, "RequestEntityTooLarge", format!("the request body is larger than the limit of {MAX_REQUEST_BYTES} bytes")),
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = if bytes.is_empty() {
        None
    } else if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        match crate::protobuf::decode(&bytes) {
            Ok(value) => Some(value),
            Err(e) => return status(415, "UnsupportedMediaType", e),
        }
    } else if content_type.starts_with("application/yaml") {
        match yaml_body(&bytes) {
            Ok(value) => Some(value),
            Err(e) => return status(400, "BadRequest", e),
        }
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Some(value),
            Err(e) => return status(400, "BadRequest", format!("the request body is not valid JSON: {e}")),
        }
    };
    let header_text = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut request = ApiRequest::new(method, parts.uri.path());
    request.query = parts.uri.query().unwrap_or("").to_string();
    request.body = body;
    request.user = credential.user.clone();
    request.groups = credential.groups.clone();
    request.content_type = header_text(header::CONTENT_TYPE);
    request.accept = header_text(header::ACCEPT);
    let watch_timeout = request
        .query_param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let (reply_tx, reply_rx) = oneshot::channel();
    if api.calls.send(ApiCall { request, reply: reply_tx }).is_err() {
        return status(503, "ServiceUnavailable", "the control plane has stopped");
    }
    match reply_rx.await {
        Ok(ApiReply::Response(response)) => respond(response),
        Ok(ApiReply::Watch { initial, events }) => watch_stream(initial, events, watch_timeout),
        Err(_) => status(503, "ServiceUnavailable", "the control plane has stopped"),
    }
}

/// A YAML request body (Kubernetes accepts `application/yaml`): one object,
/// or a 400 that says where the YAML is wrong.
fn yaml_body(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the request body is not UTF-8: {e}"))?;
    let mut documents = tabernetes_core::manifest::parse_documents(text).map_err(|e| format!("the request body is not valid YAML: {e}"))?;
    match documents.len() {
        1 => Ok(documents.remove(0)),
        n => Err(format!("a YAML request body must hold exactly one object, not {n}")),
    }
}

fn respond(response: ApiResponse) -> Response {
    match &response.body {
        ApiBody::Json(value) => json_response(response.status, value, &response.warnings),
        ApiBody::Text(text) => {
            let mut r = (StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK), text.clone()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            r
        }
    }
}

/// One JSON event per line, flushed as it happens; the stream ends at the
/// timeout or when the server closes the watch.
fn watch_stream(initial: Vec<Value>, events: UnboundedReceiver<SharedEvent>, timeout: Duration) -> Response {
    let live = tokio_stream_of(events).take_until(tokio::time::sleep(timeout));
    let lines = futures_util::stream::iter(initial.into_iter().map(Arc::new)).chain(live).map(|event| Ok::<_, std::convert::Infallible>(Bytes::from(format!("{event}\n"))));
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn tokio_stream_of(mut rx: UnboundedReceiver<SharedEvent>) -> impl futures_util::Stream<Item = SharedEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
