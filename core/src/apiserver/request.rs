//! Requests and responses in the shape of HTTP, so that the same `handle`
//! serves callers inside the page, kubelets over the WebSocket and (relayed by
//! node-host) real HTTP clients such as kubectl.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiRequest {
    pub method: Method,
    /// The URL path, e.g. `/api/v1/namespaces/default/pods/hello/status`.
    pub path: String,
    /// The raw query string without `?`, e.g. `watch=true&fieldSelector=spec.nodeName%3Dn1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Who is asking (`system:node:NAME`, `system:kube-scheduler`, `admin`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The groups the user belongs to (`system:masters`, `system:nodes`…),
    /// set by whoever authenticated the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The body's media type; it tells a PATCH which kind of patch it is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    /// The HTTP `Accept` header; `as=Table` asks for server-side printing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub accept: String,
}

impl ApiRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        ApiRequest {
            method,
            path: path.into(),
            query: String::new(),
            body: None,
            user: String::new(),
            groups: Vec::new(),
            content_type: String::new(),
            accept: String::new(),
        }
    }
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }
    pub fn post(path: impl Into<String>, body: Value) -> Self {
        Self::new(Method::Post, path).with_body(body)
    }
    pub fn put(path: impl Into<String>, body: Value) -> Self {
        Self::new(Method::Put, path).with_body(body)
    }
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    /// Appends one query parameter, percent-encoding its value.
    pub fn with_query(mut self, key: &str, value: &str) -> Self {
        if !self.query.is_empty() {
            self.query.push('&');
        }
        self.query.push_str(key);
        self.query.push('=');
        self.query.push_str(&percent_encode(value));
        self
    }
    pub fn as_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }
    pub fn in_groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }
    pub fn patch(path: impl Into<String>, content_type: &str, body: Value) -> Self {
        let mut request = Self::new(Method::Patch, path).with_body(body);
        request.content_type = content_type.into();
        request
    }
    pub fn accepting(mut self, accept: &str) -> Self {
        self.accept = accept.into();
        self
    }
    /// A boolean query parameter, read as Go's strconv.ParseBool does (the
    /// Python client sends `True`, kubectl `true`).
    pub fn flag(&self, key: &str) -> bool {
        self.query_param(key).is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
    }
    /// Query parameters, decoded. A repeated key keeps its last value.
    pub fn query_param(&self, key: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k) == key).then(|| percent_decode(v))
            })
            .next_back()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "camelCase")]
pub enum Body {
    Json(Value),
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Body,
    /// Sent as `Warning: 299 - "..."` headers; kubectl prints them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ApiResponse {
    pub fn json(status: u16, body: Value) -> Self {
        ApiResponse { status, body: Body::Json(body), warnings: Vec::new() }
    }
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        ApiResponse { status, body: Body::Text(body.into()), warnings: Vec::new() }
    }
    /// The failure as Kubernetes reports it: the error's code and `Status`.
    pub fn error(error: &super::ApiError) -> Self {
        ApiResponse::json(error.code(), error.to_status())
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn json_body(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            Body::Text(_) => None,
        }
    }
    /// The Status `message` of a failed response, for people to read.
    pub fn message(&self) -> String {
        match &self.body {
            Body::Json(v) => v.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            Body::Text(t) => t.clone(),
        }
    }
}

pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips_through_percent_encoding() {
        let req = ApiRequest::get("/api/v1/pods").with_query("fieldSelector", "spec.nodeName=n 1,x!=y");
        assert_eq!(req.query, "fieldSelector=spec.nodeName%3Dn%201%2Cx%21%3Dy");
        assert_eq!(req.query_param("fieldSelector").as_deref(), Some("spec.nodeName=n 1,x!=y"));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn a_truncated_escape_is_kept_literally() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("%é"), "%é", "a multi-byte character after % must not panic");
    }
}
