//! API errors, and their mapping to a Kubernetes `Status` at the API edge.

use serde_json::{json, Value};

/// One invalid field, as Kubernetes reports it in `details.causes[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, `FieldValueForbidden`, `FieldValueDuplicate`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.containers[0].image`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        FieldError { reason: "FieldValueRequired", field: field.into(), message: "Required value".into() }
    }
    pub fn invalid(field: impl Into<String>, value: impl std::fmt::Display, why: impl Into<String>) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: \"{value}\": {}", why.into()),
        }
    }
    pub fn not_supported(field: impl Into<String>, value: impl std::fmt::Display, supported: &[&str]) -> Self {
        let list = supported.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!("Unsupported value: \"{value}\": supported values: {list}"),
        }
    }
    pub fn forbidden(field: impl Into<String>, why: impl Into<String>) -> Self {
        FieldError { reason: "FieldValueForbidden", field: field.into(), message: format!("Forbidden: {}", why.into()) }
    }
    /// The same error for a spec nested under `prefix` (a pod template's
    /// `spec.template.spec` instead of a pod's `spec`).
    pub fn under(mut self, prefix: &str) -> Self {
        if let Some(rest) = self.field.strip_prefix("spec") {
            self.field = format!("{prefix}{rest}");
        }
        self
    }
    pub fn duplicate(field: impl Into<String>, value: impl std::fmt::Display) -> Self {
        FieldError { reason: "FieldValueDuplicate", field: field.into(), message: format!("Duplicate value: \"{value}\"") }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{kind} \"{name}\" not found")]
    NotFound { group: String, kind: String, name: String },
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// A manifest names a kind this server does not serve.
    #[error("the server doesn't have a resource type for {kind} in {api_version}; Tabernetes serves {served}")]
    UnknownKind { kind: String, api_version: String, served: String },
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { group: String, kind: String, name: String },
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {message}")]
    Conflict { resource: String, name: String, message: String },
    #[error("{kind} \"{name}\" is invalid: {}", summarize(.causes))]
    Invalid { group: String, kind: String, name: String, causes: Vec<FieldError> },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("{message}")]
    TooLarge { message: String },
    /// A patch that is well-formed but cannot apply (a failed `test` op).
    #[error("{message}")]
    Unprocessable { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// No credentials, or credentials nobody issued.
    #[error("{message}")]
    Unauthorized { message: String },
    /// The server cannot produce this response (one too large to relay).
    #[error("{message}")]
    Internal { message: String },
    /// Whoever serves this request is not there (no page behind a relay).
    #[error("{message}")]
    ServiceUnavailable { message: String },
}

fn summarize(causes: &[FieldError]) -> String {
    let parts: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into() }
    }

    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } | ApiError::NoSuchResource | ApiError::UnknownKind { .. } => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Gone { .. } => 410,
            ApiError::TooLarge { .. } => 413,
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => 422,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Internal { .. } => 500,
            ApiError::ServiceUnavailable { .. } => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::Unauthorized { .. } => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound { .. } | ApiError::NoSuchResource | ApiError::UnknownKind { .. } => "NotFound",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Gone { .. } => "Expired",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => "Invalid",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::Internal { .. } => "InternalError",
            ApiError::ServiceUnavailable { .. } => "ServiceUnavailable",
        }
    }

    /// The `Status` object Kubernetes clients expect in the response body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            ApiError::NotFound { group, kind, name } | ApiError::AlreadyExists { group, kind, name } => {
                Some(json!({"name": name, "group": group, "kind": kind}))
            }
            ApiError::Conflict { resource, name, .. } => Some(json!({"name": name, "kind": resource})),
            ApiError::Invalid { group, kind, name, causes } => Some(json!({
                "name": name,
                "group": group,
                "kind": kind,
                "causes": causes.iter().map(|c| json!({
                    "reason": c.reason, "message": c.message, "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        status
    }
}

/// The `Status` returned by a successful delete of a resource that has no
/// object to return.
pub fn success_status(details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
