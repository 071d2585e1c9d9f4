//! Reads: get, list (with selectors, `limit`/`continue` and server-side
//! tables), watch, and container logs.

use crate::json_path::JsonPath;
use super::resources::{RequestTarget, ResourceType};
use super::watch::{event_json, WatchFilter};
use super::{is_watch, tables, ApiError, ApiRequest, ApiResponse, ApiResult, ApiServer, Method};
use crate::store::ObjectKey;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

/// Whether the client asked for a `meta.k8s.io` Table (kubectl get does).
fn wants_table(req: &ApiRequest) -> bool {
    req.accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// A continue token: the list's revision and the last key served, opaque to clients.
fn continue_token(revision: u64, last: &ObjectKey) -> String {
    hex::encode(format!("{revision}\u{0}{}\u{0}{}", last.namespace, last.name))
}

fn parse_continue(token: &str) -> Result<(u64, String, String), ApiError> {
    let invalid = || ApiError::bad_request("continue key is not valid: the token is not one this server issued");
    let text = String::from_utf8(hex::decode(token).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let mut parts = text.split('\u{0}');
    let (Some(rv), Some(ns), Some(name), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return Err(invalid()) };
    Ok((rv.parse().map_err(|_| invalid())?, ns.to_string(), name.to_string()))
}

impl ApiServer {
    pub(super) fn read_target(&self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<ApiResponse, ApiError> {
        match (&req.method, target.name.as_deref(), target.subresource.as_deref()) {
            (Method::Get, None, None) if !is_watch(req) => self.list(req, target, now),
            (Method::Get, Some(_), None | Some("status")) => {
                let object = self.get(target)?;
                if wants_table(req) {
                    let table = tables::table(target.resource.plural, &[&object], now.as_second(), &include_object(req), json!({"resourceVersion": self.store.revision().to_string()}));
                    return Ok(ApiResponse::json(200, table));
                }
                Ok(ApiResponse::json(200, (*object).clone()))
            }
            (Method::Get, Some(_), Some("scale")) => Ok(ApiResponse::json(200, self.get_scale(target)?)),
            (Method::Get, Some(_), Some("log")) => Ok(ApiResponse::text(200, self.read_log(req, target)?)),
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    fn list(&self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<ApiResponse, ApiError> {
        let (labels, fields) = Self::selectors(req, target.resource)?;
        let storage = target.resource.storage_name();
        let limit = match req.query_param("limit").filter(|l| !l.is_empty()) {
            Some(l) => l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
            None => 0,
        };
        // A continued list reports the revision of its first page, so the
        // pages read as one list; objects are served from the current state.
        let (revision, after) = match req.query_param("continue").filter(|c| !c.is_empty()) {
            Some(token) => {
                let (rv, ns, name) = parse_continue(&token)?;
                (rv, Some(ObjectKey::new(storage.clone(), ns, name)))
            }
            None => (self.store.revision(), None),
        };
        let mut items: Vec<&Arc<Value>> = Vec::new();
        let mut last_key = None;
        let mut next = None;
        for (key, object) in self.store.list_after(&storage, target.namespace.as_deref(), after.as_ref()) {
            if !(labels.matches(object) && fields.matches(object)) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                next = last_key.map(|last| continue_token(revision, last));
                break;
            }
            items.push(object);
            last_key = Some(key);
        }
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if let Some(token) = next {
            metadata["continue"] = json!(token);
        }
        if wants_table(req) {
            let objects: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
            return Ok(ApiResponse::json(200, tables::table(target.resource.plural, &objects, now.as_second(), &include_object(req), metadata)));
        }
        Ok(ApiResponse::json(200, list_body(target.resource, metadata, items.iter().map(|o| (***o).clone()).collect())))
    }

    pub(super) fn watch(&mut self, req: &ApiRequest, target: &RequestTarget) -> Result<ApiResult, ApiError> {
        let (labels, fields) = Self::selectors(req, target.resource)?;
        let filter = WatchFilter {
            resource: target.resource.storage_name().into_owned(),
            namespace: target.namespace.clone(),
            labels,
            fields,
        };
        let bookmarks = req
            .flag("allowWatchBookmarks")
            .then(|| (target.resource.api_version(), target.resource.kind.to_string()));
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
        let id = self.watches.open(filter, from, bookmarks, &self.store)?;
        Ok(ApiResult::Watch { id, initial })
    }

    fn read_log(&self, req: &ApiRequest, target: &RequestTarget) -> Result<String, ApiError> {
        let pod = self.get(target)?;
        let pod_name = target.name.as_deref().unwrap_or_default();
        let containers: Vec<&str> = pod
            .at(&["spec", "containers"])
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
        if req.flag("previous") {
            return Err(ApiError::bad_request("previous container logs are not kept by Tabernetes yet"));
        }
        let tail = match req.query_param("tailLines") {
            Some(t) => Some(t.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid tailLines {t:?}")))?),
            None => None,
        };
        let uid = pod.at(&["metadata", "uid"]).and_then(Value::as_str).unwrap_or_default();
        Ok(self.logs.read(uid, &container, tail))
    }
}

fn include_object(req: &ApiRequest) -> String {
    req.query_param("includeObject").filter(|v| !v.is_empty()).unwrap_or_else(|| "Metadata".into())
}

/// A `<Kind>List` of `items`.
pub(super) fn list_body(resource: &ResourceType, metadata: Value, items: Vec<Value>) -> Value {
    json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(), "metadata": metadata, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_foreign_ones_are_refused() {
        let token = continue_token(42, &ObjectKey::new("pods", "default", "web-1"));
        assert_eq!(parse_continue(&token).unwrap(), (42, "default".into(), "web-1".into()));
        assert!(parse_continue("zz").is_err());
        assert!(parse_continue(&hex::encode("nonsense")).is_err());
    }
}
