//! The API server: the only way into the store. `handle` is a pure function
//! of the request, the store and `now`; the page and node-host call the same
//! code.

pub mod decode;
pub mod identity;
pub mod logs;
pub mod request;
pub mod resources;
pub mod selectors;
pub mod status;
pub mod strategy;
pub mod watch;

pub use request::{ApiRequest, ApiResponse, Body, Method};
pub use status::ApiError;
pub use watch::WatchId;

use decode::FieldValidation;
use k8s_openapi::jiff::Timestamp;
use resources::{RequestTarget, ResourceType, NAMESPACES, PODS};
use selectors::{FieldSelector, LabelSelector};
use serde_json::{json, Value};
use std::sync::Arc;
use strategy::Write;
use watch::{event_json, WatchFilter, Watches};

use crate::store::{resource_version, ObjectKey, Store, StoreError};

/// etcd's default request limit: larger objects are refused.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// Namespaces every cluster starts with.
pub const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

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

#[derive(Debug)]
pub struct ApiServer {
    store: Store,
    watches: Watches,
    logs: logs::Logs,
    identity: identity::Identity,
}

impl ApiServer {
    pub fn new(seed: u64, now: Timestamp) -> Self {
        let mut server = ApiServer {
            store: Store::default(),
            watches: Watches::default(),
            logs: logs::Logs::default(),
            identity: identity::Identity::new(seed),
        };
        for ns in BUILTIN_NAMESPACES {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let created = server.handle(&ApiRequest::post(NAMESPACES.path(None, None), body), now);
            debug_assert!(matches!(created, ApiResult::Response(ref r) if r.status == 201));
        }
        server
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn handle(&mut self, request: &ApiRequest, now: Timestamp) -> ApiResult {
        match self.dispatch(request, now) {
            Ok(result) => result,
            Err(e) => ApiResult::Response(ApiResponse::json(e.code(), e.to_status())),
        }
    }

    /// Changes for every open watch since they were last pumped.
    pub fn pump_watches(&mut self) -> Vec<(WatchId, Value)> {
        self.watches.pump(&self.store)
    }

    pub fn close_watch(&mut self, id: WatchId) {
        self.watches.close(id);
    }

    pub fn append_log(&mut self, pod_uid: &str, container: &str, data: &str) {
        self.logs.append(pod_uid, container, data);
    }

    /// Serves a read (get, list, logs) without changing anything; a watch
    /// or a write is refused here, as they need `handle`.
    pub fn read(&self, req: &ApiRequest) -> ApiResponse {
        let result = resources::parse_path(&req.path).and_then(|target| self.read_target(req, &target));
        match result {
            Ok(response) => response,
            Err(e) => ApiResponse::json(e.code(), e.to_status()),
        }
    }

    fn read_target(&self, req: &ApiRequest, target: &RequestTarget) -> Result<ApiResponse, ApiError> {
        match (&req.method, target.name.as_deref(), target.subresource.as_deref()) {
            (Method::Get, None, None) if !is_watch(req) => Ok(ApiResponse::json(200, self.list(req, target)?)),
            (Method::Get, Some(_), None | Some("status")) => Ok(ApiResponse::json(200, (*self.get(target)?).clone())),
            (Method::Get, Some(_), Some("log")) => Ok(ApiResponse { status: 200, body: Body::Text(self.read_log(req, target)?) }),
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    fn dispatch(&mut self, req: &ApiRequest, now: Timestamp) -> Result<ApiResult, ApiError> {
        let target = resources::parse_path(&req.path)?;
        let respond = |status: u16, body: Value| Ok(ApiResult::Response(ApiResponse::json(status, body)));
        match (&req.method, target.name.as_deref(), target.subresource.as_deref()) {
            (Method::Get, None, None) if is_watch(req) => self.watch(req, &target),
            (Method::Get, _, _) => self.read_target(req, &target).map(ApiResult::Response),
            (Method::Post, None, None) => respond(201, self.create(req, &target, now)?),
            (Method::Post, Some(_), Some("binding")) => respond(201, self.bind(req, &target, now)?),
            (Method::Put, Some(_), None) => respond(200, self.update(req, &target, false, now)?),
            (Method::Put, Some(_), Some("status")) => respond(200, self.update(req, &target, true, now)?),
            (Method::Delete, Some(_), None) => respond(200, self.delete(req, &target)?),
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
        self.store.get(&Self::key(target, name)).cloned().ok_or_else(|| Self::not_found(target.resource, name))
    }

    fn selectors(req: &ApiRequest, resource: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(&req.query_param("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(&req.query_param("fieldSelector").unwrap_or_default(), resource.selectable_fields)
            .map_err(ApiError::bad_request)?;
        Ok((labels, fields))
    }

    fn list(&self, req: &ApiRequest, target: &RequestTarget) -> Result<Value, ApiError> {
        let (labels, fields) = Self::selectors(req, target.resource)?;
        let storage = target.resource.storage_name();
        let items: Vec<Value> = self
            .store
            .list(&storage, target.namespace.as_deref())
            .filter(|(_, o)| labels.matches(o) && fields.matches(o))
            .map(|(_, o)| (**o).clone())
            .collect();
        Ok(json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version(),
            "metadata": {"resourceVersion": self.store.revision().to_string()},
            "items": items,
        }))
    }

    fn watch(&mut self, req: &ApiRequest, target: &RequestTarget) -> Result<ApiResult, ApiError> {
        let (labels, fields) = Self::selectors(req, target.resource)?;
        let filter = WatchFilter {
            resource: target.resource.storage_name(),
            namespace: target.namespace.clone(),
            labels,
            fields,
        };
        let requested = req.query_param("resourceVersion").filter(|rv| !rv.is_empty() && rv != "0");
        let (from, initial) = match requested {
            Some(rv) => {
                let rv = rv.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?;
                (rv, Vec::new())
            }
            None => {
                let initial = self
                    .store
                    .list(&filter.resource, filter.namespace.as_deref())
                    .filter(|(_, o)| filter.matches(o))
                    .map(|(_, o)| event_json("ADDED", o))
                    .collect();
                (self.store.revision(), initial)
            }
        };
        let id = self.watches.open(filter, from, &self.store)?;
        Ok(ApiResult::Watch { id, initial })
    }

    fn body(req: &ApiRequest) -> Result<Value, ApiError> {
        let body = req.body.clone().ok_or_else(|| ApiError::bad_request("the request body is required"))?;
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
        let size = serde_json::to_vec(object).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_OBJECT_BYTES {
            return Err(ApiError::TooLarge { message: format!("object is {size} bytes; the limit is {MAX_OBJECT_BYTES}") });
        }
        Ok(())
    }

    fn check_namespace_usable(&self, target: &RequestTarget) -> Result<(), ApiError> {
        let Some(ns) = target.namespace.as_deref().filter(|_| target.resource.namespaced) else { return Ok(()) };
        let key = ObjectKey::new(NAMESPACES.storage_name(), "", ns);
        match self.store.get(&key) {
            None => Err(Self::not_found(&NAMESPACES, ns)),
            Some(obj) if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") => {
                Err(ApiError::Forbidden {
                    message: format!("unable to create new content in namespace {ns} because it is being terminated"),
                })
            }
            Some(_) => Ok(()),
        }
    }

    fn create(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<Value, ApiError> {
        let mut body = Self::body(req)?;
        Self::check_identity(&mut body, target)?;
        self.check_namespace_usable(target)?;
        let meta = &mut body["metadata"];
        let has_name = meta.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        if !has_name {
            if let Some(prefix) = meta.get("generateName").and_then(Value::as_str).filter(|p| !p.is_empty()) {
                let name = format!("{prefix}{}", self.identity.name_suffix());
                meta["name"] = json!(name);
            }
        }
        for server_owned in ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"] {
            if let Some(m) = body["metadata"].as_object_mut() {
                m.remove(server_owned);
            }
        }
        let validation = FieldValidation::parse(req.query_param("fieldValidation").as_deref())?;
        strategy::prepare(target.resource, &mut body, Write::Create, validation, now)?;
        body["metadata"]["uid"] = json!(self.identity.uid());
        Self::check_size(&body)?;
        let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let key = Self::key(target, &name);
        if is_dry_run(req)? {
            if self.store.get(&key).is_some() {
                return Err(already_exists(target.resource, &name));
            }
            return Ok(body);
        }
        match self.store.create(key, body) {
            Ok(stored) => Ok((*stored).clone()),
            Err(StoreError::AlreadyExists(_)) => Err(already_exists(target.resource, &name)),
            Err(e) => Err(ApiError::bad_request(e.to_string())),
        }
    }

    fn update(&mut self, req: &ApiRequest, target: &RequestTarget, status_only: bool, now: Timestamp) -> Result<Value, ApiError> {
        let name = target.name.clone().unwrap_or_default();
        let mut body = Self::body(req)?;
        Self::check_identity(&mut body, target)?;
        let body_name = body["metadata"].get("name").and_then(Value::as_str).unwrap_or("");
        if body_name.is_empty() {
            body["metadata"]["name"] = json!(name);
        } else if body_name != name {
            return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
        }
        let old = self.get(target)?;
        let expected = match body["metadata"].get("resourceVersion").and_then(Value::as_str) {
            None | Some("") => None,
            Some(rv) => Some(rv.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?),
        };
        let validation = FieldValidation::parse(req.query_param("fieldValidation").as_deref())?;
        let write = if status_only { Write::UpdateStatus { old: &old } } else { Write::Update { old: &old } };
        strategy::prepare(target.resource, &mut body, write, validation, now)?;
        Self::check_size(&body)?;
        if is_dry_run(req)? {
            return Ok(body);
        }
        let key = Self::key(target, &name);
        self.store.update(key, body, expected).map(|v| (*v).clone()).map_err(|e| match e {
            StoreError::Conflict { .. } => ApiError::Conflict {
                resource: target.resource.storage_name(),
                name: name.clone(),
                message: "the object has been modified; please apply your changes to the latest version and try again".into(),
            },
            StoreError::NotFound(_) => Self::not_found(target.resource, &name),
            other => ApiError::bad_request(other.to_string()),
        })
    }

    /// `pods/{name}/binding`: the scheduler's way to set `spec.nodeName`.
    fn bind(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<Value, ApiError> {
        let body = Self::body(req)?;
        let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
        let pod_name = target.name.clone().unwrap_or_default();
        if node.is_empty() {
            return Err(ApiError::Invalid {
                group: String::new(),
                kind: "Binding".into(),
                name: pod_name,
                causes: vec![status::FieldError::required("target.name")],
            });
        }
        let old = self.get(target)?;
        if let Some(current) = old.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return Err(ApiError::Conflict {
                resource: PODS.storage_name(),
                name: pod_name,
                message: format!("pod {} is already assigned to node \"{current}\"", target.name.as_deref().unwrap_or("")),
            });
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::Conflict { resource: PODS.storage_name(), name: pod_name, message: "pod is being deleted".into() });
        }
        let mut pod = (*old).clone();
        pod["spec"]["nodeName"] = json!(node);
        set_condition(&mut pod, json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)}));
        let key = Self::key(target, &pod_name);
        self.store.update(key, pod, resource_version(&old)).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(status::success_status(json!({"name": pod_name, "kind": "pods"})))
    }

    fn delete(&mut self, req: &ApiRequest, target: &RequestTarget) -> Result<Value, ApiError> {
        let name = target.name.clone().unwrap_or_default();
        let old = self.get(target)?;
        if target.resource.plural == NAMESPACES.plural && BUILTIN_NAMESPACES[..3].contains(&name.as_str()) {
            return Err(ApiError::Forbidden { message: format!("namespace \"{name}\" is forbidden: this namespace may not be deleted") });
        }
        if is_dry_run(req)? {
            return Ok((*old).clone());
        }
        if target.resource.plural == NAMESPACES.plural {
            // Until the namespace controller exists, a namespace's contents go with it at once.
            let contents: Vec<ObjectKey> = self.store.keys_in_namespace(&name).cloned().collect();
            for key in contents {
                let _ = self.store.delete(&key, None);
            }
        }
        let key = Self::key(target, &name);
        let deleted = self.store.delete(&key, None).map_err(|_| Self::not_found(target.resource, &name))?;
        if target.resource.plural == PODS.plural {
            if let Some(uid) = deleted.pointer("/metadata/uid").and_then(Value::as_str) {
                self.logs.remove_pod(uid);
            }
        }
        Ok((*deleted).clone())
    }

    fn read_log(&self, req: &ApiRequest, target: &RequestTarget) -> Result<String, ApiError> {
        let pod = self.get(target)?;
        let pod_name = target.name.as_deref().unwrap_or_default();
        let containers: Vec<&str> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let container = match req.query_param("container").filter(|c| !c.is_empty()) {
            Some(c) if containers.contains(&c.as_str()) => c,
            Some(c) => return Err(ApiError::bad_request(format!("container {c} is not valid for pod {pod_name}"))),
            None if containers.len() == 1 => containers[0].to_string(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    containers.join(" ")
                )))
            }
        };
        if req.query_param("previous").is_some_and(|p| p == "true") {
            return Err(ApiError::bad_request("previous container logs are not kept by Tabernetes yet"));
        }
        let tail = match req.query_param("tailLines") {
            Some(t) => Some(t.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid tailLines {t:?}")))?),
            None => None,
        };
        let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
        Ok(self.logs.read(uid, &container, tail))
    }
}

fn already_exists(resource: &ResourceType, name: &str) -> ApiError {
    ApiError::AlreadyExists { group: resource.group.into(), kind: resource.plural.into(), name: name.into() }
}

fn is_watch(req: &ApiRequest) -> bool {
    req.query_param("watch").is_some_and(|w| w == "true" || w == "1")
}

fn is_dry_run(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.query_param("dryRun").as_deref() {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("unsupported dryRun value {other:?}: only \"All\" is supported"))),
    }
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
