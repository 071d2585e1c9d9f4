//! The API server: the only way into the store. `handle` is a pure function
//! of the request, the store and `now`; the page and node-host call the same
//! code.

pub mod admission;
pub mod authz;
pub mod decode;
mod delete;
pub mod discovery;
pub mod identity;
pub mod logs;
mod metrics;
pub mod patch;
mod read;
pub mod request;
pub mod resources;
mod reviews;
mod scale;
mod write;
pub mod selectors;
pub mod snapshot;
pub mod status;
pub mod strategy;
pub mod tables;
pub mod watch;

pub use delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
pub use request::{ApiRequest, ApiResponse, Body, Method};
pub use status::ApiError;
pub use watch::WatchId;

use crate::json_path::JsonPath;
use authz::{Attributes, User};
use decode::FieldValidation;
use k8s_openapi::jiff::Timestamp;
use resources::{RequestTarget, ResourceType, NAMESPACES};
use selectors::{FieldSelector, LabelSelector};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;
use watch::Watches;

use crate::metrics_server::{NodeUsage, ResourceMetrics};
use crate::store::{ObjectKey, Store};

/// etcd's default request limit: larger objects are refused.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Namespaces every cluster starts with.
pub const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The PriorityClasses every cluster starts with (the API server's
/// `scheduling/bootstrap-system-priority-classes` hook): name, value, description.
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64, &str)] = &[
    ("system-node-critical", 2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
];

/// What a request produced: a response, or a watch that is now open.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiResult {
    Response(ApiResponse),
    /// `initial` holds the synthetic ADDED events for existing objects (a
    /// watch without a resourceVersion starts with the current state).
    Watch { id: WatchId, initial: Vec<Value> },
}

impl ApiResult {
    /// The response, treating an opened watch as a plain 200.
    pub fn into_response(self) -> ApiResponse {
        match self {
            ApiResult::Response(r) => r,
            ApiResult::Watch { .. } => ApiResponse::json(200, json!({})),
        }
    }
}

/// What a request produced, before it is made into a response: a write's
/// object stays shared with the store, and a binding's Status is not
/// built, until a caller of `handle` asks for them (`submit`'s never do).
enum Reply {
    Done(ApiResult),
    Written(u16, Written),
    Bound(String),
}

/// A write's object as stored (or, for a dry run, as it would be) and its
/// warnings.
pub(super) struct Written {
    object: Arc<Value>,
    warnings: Vec<String>,
}

impl Reply {
    fn into_result(self) -> ApiResult {
        match self {
            Reply::Done(result) => result,
            Reply::Written(status, Written { object, warnings }) => {
                // The store keeps its own reference, so this is a copy (a dry run's object is moved).
                let body = Arc::try_unwrap(object).unwrap_or_else(|shared| (*shared).clone());
                ApiResult::Response(ApiResponse { warnings, ..ApiResponse::json(status, body) })
            }
            Reply::Bound(pod) => ApiResult::Response(ApiResponse::json(201, status::success_status(json!({"name": pod, "kind": "pods"})))),
        }
    }
}

/// Cloning copies the whole state (the fuzz target starts each input from one seeded server).
#[derive(Clone, Debug)]
pub struct ApiServer {
    admission: admission::Admission,
    store: Store,
    watches: Watches,
    logs: logs::Logs,
    /// metrics-server's memory: the latest scrape of each node, served as
    /// `metrics.k8s.io` (never stored, as metrics are not cluster state).
    metrics: ResourceMetrics,
    identity: identity::Identity,
    authorizer: authz::Authorizer,
}

/// A request's verb in RBAC's terms.
fn verb(req: &ApiRequest, target: &RequestTarget) -> &'static str {
    match (&req.method, target.name.is_some()) {
        (Method::Get, false) if is_watch(req) => "watch",
        (Method::Get, false) => "list",
        (Method::Get, true) => "get",
        (Method::Post, _) => "create",
        (Method::Put, _) => "update",
        (Method::Patch, _) => "patch",
        (Method::Delete, true) => "delete",
        (Method::Delete, false) => "deletecollection",
    }
}

impl ApiServer {
    pub fn new(seed: u64, now: Timestamp) -> Self {
        let mut server = ApiServer {
            admission: admission::Admission::default(),
            store: Store::default(),
            watches: Watches::default(),
            logs: logs::Logs::default(),
            metrics: ResourceMetrics::default(),
            identity: identity::Identity::new(seed),
            authorizer: authz::Authorizer::default(),
        };
        let namespaces = BUILTIN_NAMESPACES.iter().map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        let priority_classes = SYSTEM_PRIORITY_CLASSES
            .iter()
            .map(|(name, value, description)| json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value, "description": description}));
        for object in namespaces.chain(priority_classes).chain(authz::bootstrap_policy()) {
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            let resource = resources::by_kind(api_version, object["kind"].as_str().unwrap_or_default()).expect("bootstrap kinds are served");
            let created = server.handle(&ApiRequest::post(resource.path(None, None), object.clone()), now);
            debug_assert!(matches!(created, ApiResult::Response(ref r) if r.status == 201), "{created:?}");
        }
        server
    }

    /// The admission plugins' settings (DefaultTolerationSeconds).
    pub fn set_admission(&mut self, admission: admission::Admission) {
        self.admission = admission;
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn handle(&mut self, request: &ApiRequest, now: Timestamp) -> ApiResult {
        match self.dispatch(Cow::Borrowed(request), now) {
            Ok(reply) => reply.into_result(),
            Err(e) => ApiResult::Response(ApiResponse::error(&e)),
        }
    }

    /// As `handle`, for a writer that hands the request over and needs only
    /// to know whether it succeeded (the scheduler's bindings, status
    /// writes and events): the body is moved into the store instead of
    /// copied, and no response is made from a copy of the stored object.
    /// Fails with the response `handle` would have given. Not for watches
    /// (their id would be lost).
    pub fn submit(&mut self, request: ApiRequest, now: Timestamp) -> Result<(), ApiResponse> {
        match self.dispatch(Cow::Owned(request), now) {
            Ok(Reply::Done(ApiResult::Response(response))) if !response.is_success() => Err(response),
            Ok(_) => Ok(()),
            Err(e) => Err(ApiResponse::error(&e)),
        }
    }

    /// Changes for every open watch since they were last pumped.
    pub fn pump_watches(&mut self) -> Vec<(WatchId, watch::SharedEvent)> {
        self.watches.pump(&self.store)
    }

    /// A BOOKMARK for every watch that asked for them (`allowWatchBookmarks`),
    /// so a client can resume from a recent revision without a relist.
    pub fn bookmarks(&mut self) -> Vec<(WatchId, watch::SharedEvent)> {
        self.watches.bookmarks(&self.store)
    }

    pub fn close_watch(&mut self, id: WatchId) {
        self.watches.close(id);
    }

    pub fn append_log(&mut self, pod_uid: &str, container: &str, data: &str) {
        self.logs.append(pod_uid, container, data);
    }

    /// Serves a read (discovery, get, list, logs) without changing anything;
    /// a watch or a write is refused here, as they need `handle`.
    pub fn read(&self, req: &ApiRequest, now: Timestamp) -> ApiResponse {
        let result = match self.non_resource(req) {
            Some(result) => result,
            None => self.authorize_path(req).and_then(|target| match target.resource.aggregated {
                true => self.serve_metrics(req, &target),
                false => self.read_target(req, &target, now),
            }),
        };
        result.unwrap_or_else(|e| ApiResponse::error(&e))
    }

    /// Parses a resource request's path and checks that its user may make it.
    fn authorize_path(&self, req: &ApiRequest) -> Result<RequestTarget, ApiError> {
        let target = resources::parse_path(&req.path)?;
        self.authorize(req, &target)?;
        Ok(target)
    }

    /// A scrape of one node's resource usage (what metrics-server does every
    /// 15 s), for the HorizontalPodAutoscaler and `kubectl top`.
    pub fn record_metrics(&mut self, report: NodeUsage) {
        self.metrics.record(report);
    }

    /// A node's kubelet could not be scraped (it is gone): its metrics go.
    pub fn forget_metrics(&mut self, node: &str) {
        self.metrics.forget_node(node);
    }

    pub fn metrics(&self) -> &ResourceMetrics {
        &self.metrics
    }

    /// Discovery, `/version` and health: paths that name no resource.
    fn non_resource(&self, req: &ApiRequest) -> Option<Result<ApiResponse, ApiError>> {
        let response = discovery::serve(&req.path)?;
        let attributes = Attributes::NonResource { verb: "get".into(), path: req.path.as_str().into() };
        if req.method != Method::Get {
            return Some(Err(ApiError::MethodNotAllowed));
        }
        if !self.authorizer.allowed(&self.store, &User::of(req), &attributes) {
            return Some(Err(ApiError::Forbidden { message: format!("forbidden: User \"{}\" cannot get path \"{}\"", req.user, req.path) }));
        }
        Some(Ok(response))
    }

    fn authorize(&self, req: &ApiRequest, target: &RequestTarget) -> Result<(), ApiError> {
        let verb = verb(req, target);
        let resource = target.resource;
        let attributes = Attributes::Resource {
            verb: verb.into(),
            group: resource.group.into(),
            resource: resource.plural.into(),
            subresource: target.subresource.as_deref().unwrap_or_default().into(),
            namespace: target.namespace.as_deref().unwrap_or_default().into(),
            name: target.name.as_deref().unwrap_or_default().into(),
        };
        if self.authorizer.allowed(&self.store, &User::of(req), &attributes) {
            return Ok(());
        }
        let what = match &target.subresource {
            Some(sub) => format!("{}/{sub}", resource.plural),
            None => resource.plural.to_string(),
        };
        let group = if resource.group.is_empty() { String::new() } else { format!(" in API group \"{}\"", resource.group) };
        let scope = match &target.namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_string(),
        };
        let subject = match &target.name {
            Some(name) => format!("{what} \"{name}\" is forbidden"),
            None => format!("{what} is forbidden"),
        };
        Err(ApiError::Forbidden {
            message: format!("{subject}: User \"{}\" cannot {verb} resource \"{what}\"{group}{scope}", req.user),
        })
    }

    /// Serves a request lent by `handle` (`Cow::Borrowed`) or handed over
    /// by `submit` (`Cow::Owned`, whose body a write takes instead of copying).
    fn dispatch(&mut self, mut req: Cow<'_, ApiRequest>, now: Timestamp) -> Result<Reply, ApiError> {
        let done = |result: ApiResult| Ok(Reply::Done(result));
        if let Some(result) = self.non_resource(&req) {
            return done(ApiResult::Response(result?));
        }
        let target = self.authorize_path(&req)?;
        if target.resource.aggregated {
            return done(ApiResult::Response(self.serve_metrics(&req, &target)?));
        }
        if !target.resource.is_stored() {
            return match req.method {
                Method::Post => done(ApiResult::Response(self.review(&req, &target)?)),
                _ => Err(ApiError::MethodNotAllowed),
            };
        }
        let respond = |status: u16, body: Value| done(ApiResult::Response(ApiResponse::json(status, body)));
        let subresource = target.subresource.as_deref();
        match (req.method.clone(), target.name.as_deref(), subresource) {
            (Method::Get, None, None) if is_watch(&req) => done(self.watch(&req, &target)?),
            (Method::Get, _, _) => done(ApiResult::Response(self.read_target(&req, &target, now)?)),
            (Method::Post, None, None) => {
                let body = Self::take_body(&mut req)?;
                Ok(Reply::Written(201, self.create(&req, &target, body, now)?))
            }
            (Method::Post, Some(pod), Some("binding")) => {
                self.bind(&req, &target, now)?;
                Ok(Reply::Bound(pod.to_string()))
            }
            (Method::Post, Some(_), Some("eviction")) => respond(201, self.evict(&req, &target, now)?),
            (Method::Put, Some(_), Some("scale")) => respond(200, self.update_scale(&req, &target, now)?),
            (Method::Put, Some(_), None | Some("status") | Some("finalize")) => {
                let body = Self::take_body(&mut req)?;
                Ok(Reply::Written(200, self.update(&req, &target, body, now)?))
            }
            (Method::Patch, Some(_), Some("scale")) => respond(200, self.patch_scale(&req, &target, now)?),
            (Method::Patch, Some(_), None | Some("status")) => Ok(Reply::Written(200, self.patch(&req, &target, now)?)),
            (Method::Delete, Some(_), None) => done(ApiResult::Response(self.delete(&req, &target, now)?)),
            (Method::Delete, None, None) => done(ApiResult::Response(self.delete_collection(&req, &target, now)?)),
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    fn key(target: &RequestTarget, name: &str) -> ObjectKey {
        ObjectKey::new(target.resource.storage_name(), target.namespace.clone().unwrap_or_default(), name)
    }

    fn not_found(resource: &ResourceType, name: &str) -> ApiError {
        ApiError::NotFound { group: resource.group.into(), kind: resource.plural.into(), name: name.into() }
    }

    fn get(&self, target: &RequestTarget) -> Result<Arc<Value>, ApiError> {
        let name = target.name.as_deref().unwrap_or_default();
        let namespace = target.namespace.as_deref().unwrap_or_default();
        self.store.get_at(&target.resource.storage_name(), namespace, name).cloned().ok_or_else(|| Self::not_found(target.resource, name))
    }

    fn selectors(req: &ApiRequest, resource: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(&req.query_param("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(&req.query_param("fieldSelector").unwrap_or_default(), resource.selectable_fields)
            .map_err(ApiError::bad_request)?;
        Ok((labels, fields))
    }

    fn body(req: &ApiRequest) -> Result<Value, ApiError> {
        Self::body_ref(req).cloned()
    }

    /// The body of a write, which the store will keep: moved out of a
    /// request handed over (`submit`), copied from one lent (`handle`).
    fn take_body(req: &mut Cow<'_, ApiRequest>) -> Result<Value, ApiError> {
        match req {
            Cow::Borrowed(req) => Self::body(req),
            Cow::Owned(req) => {
                Self::body_ref(req)?;
                Ok(req.body.take().expect("checked by body_ref"))
            }
        }
    }

    /// The request body, read in place (for requests that only read it).
    fn body_ref(req: &ApiRequest) -> Result<&Value, ApiError> {
        let body = req.body.as_ref().ok_or_else(|| ApiError::bad_request("the request body is required"))?;
        if !body.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        Ok(body)
    }

    /// Checks apiVersion/kind and reconciles the body's namespace with the URL's.
    fn check_identity(body: &mut Value, target: &RequestTarget) -> Result<(), ApiError> {
        let resource = target.resource;
        for (field, want) in [("apiVersion", resource.api_version()), ("kind", resource.kind.to_string())] {
            match body.get(field).and_then(Value::as_str) {
                None | Some("") => body[field] = json!(want),
                Some(have) if have != want => {
                    return Err(ApiError::bad_request(format!(
                        "the {field} of the object ({have}) does not match the {field} of the URL ({want})"
                    )))
                }
                Some(_) => {}
            }
        }
        if !body.get("metadata").is_some_and(Value::is_object) {
            body["metadata"] = json!({});
        }
        if resource.namespaced {
            let url_ns = target.namespace.clone().ok_or_else(|| ApiError::bad_request("a namespace is required in the URL"))?;
            match body["metadata"].get("namespace").and_then(Value::as_str) {
                None | Some("") => body["metadata"]["namespace"] = json!(url_ns),
                Some(ns) if ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn check_size(object: &Value) -> Result<(), ApiError> {
        /// Counts the bytes of the encoding without keeping them.
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        let size = serde_json::to_writer(&mut count, object).map(|()| count.0).unwrap_or(usize::MAX);
        if size > MAX_OBJECT_BYTES {
            return Err(ApiError::TooLarge { message: format!("object is {size} bytes; the limit is {MAX_OBJECT_BYTES}") });
        }
        Ok(())
    }

    fn check_namespace_usable(&self, target: &RequestTarget) -> Result<(), ApiError> {
        let Some(ns) = target.namespace.as_deref().filter(|_| target.resource.namespaced) else { return Ok(()) };
        match self.store.get_at(&NAMESPACES.storage_name(), "", ns) {
            None => Err(Self::not_found(&NAMESPACES, ns)),
            Some(obj) if obj.at(&["status", "phase"]).and_then(Value::as_str) == Some("Terminating") => {
                Err(ApiError::Forbidden {
                    message: format!("unable to create new content in namespace {ns} because it is being terminated"),
                })
            }
            Some(_) => Ok(()),
        }
    }

}

fn already_exists(resource: &ResourceType, name: &str) -> ApiError {
    ApiError::AlreadyExists { group: resource.group.into(), kind: resource.plural.into(), name: name.into() }
}

fn is_watch(req: &ApiRequest) -> bool {
    req.flag("watch")
}

fn is_dry_run(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.query_param("dryRun").as_deref() {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("unsupported dryRun value {other:?}: only \"All\" is supported"))),
    }
}

/// When a condition of `type_` took on `status`: its time in `previous`
/// (an object's old conditions) if it already had that status, else `now`.
/// A condition's lastTransitionTime moves only when its status does.
pub fn transition_time(previous: &[Value], type_: &str, status: &str, now: Timestamp) -> Value {
    let kept = previous.iter().find(|c| c["type"] == type_ && c["status"] == status).map(|c| c["lastTransitionTime"].clone());
    kept.unwrap_or_else(|| json!(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)))
}

/// Replaces (or adds) the condition of the same type in `status.conditions`.
pub fn set_condition(object: &mut Value, condition: Value) {
    if !object.get("status").is_some_and(Value::is_object) {
        object["status"] = json!({});
    }
    let conditions = object["status"].as_object_mut().unwrap().entry("conditions").or_insert_with(|| json!([]));
    let Some(list) = conditions.as_array_mut() else { return };
    match list.iter_mut().find(|c| c.get("type") == condition.get("type")) {
        Some(existing) => *existing = condition,
        None => list.push(condition),
    }
}

#[cfg(test)]
mod tests;
