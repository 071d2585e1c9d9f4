//! The Endpoints controller, after upstream's `pkg/controller/endpoint`:
//! for every Service with a selector, an Endpoints object of the same name
//! listing its pods' addresses — ready ones under `addresses`, others under
//! `notReadyAddresses` — grouped by the ports they serve. Terminating pods
//! are left out. A Service without a selector keeps the Endpoints its user
//! writes; a deleted Service's Endpoints go.

use crate::json_path::JsonPath;
use super::ownership::{labels, name, namespace, path_of};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::service_backends::{by_ports, selector, services_for_pod};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{ENDPOINTS, PODS, SERVICES};
use crate::apiserver::ApiRequest;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use serde_json::{json, Value};

pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

#[derive(Debug, Default)]
pub struct EndpointsController;

impl Reconciler for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoint"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == SERVICES.storage_name() {
            keys.push(event.key.clone());
        } else if event.key.resource == PODS.storage_name() {
            services_for_pod(event, store, keys);
        } else if event.key.resource == ENDPOINTS.storage_name() && event.event_type == EventType::Deleted {
            // Someone deleted managed Endpoints: they come back.
            keys.push(ObjectKey::new(SERVICES.storage_name(), event.key.namespace.as_str(), event.key.name.as_str()));
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&SERVICES.storage_name(), None).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let endpoints_key = ObjectKey::new(ENDPOINTS.storage_name(), key.namespace.as_str(), key.name.as_str());
        let existing = ctx.api.store().get(&endpoints_key).cloned();
        let Some(service) = ctx.api.store().get(key).cloned() else {
            if let (Some(_), Some(path)) = (existing, path_of(&endpoints_key)) {
                ctx.api.handle(&ApiRequest::delete(path).as_user(CONTROLLER_MANAGER), ctx.now);
            }
            return Ok(Action::await_change());
        };
        if selector(&service).is_none() {
            return Ok(Action::await_change());
        }
        let subsets = subsets(ctx.api.store(), &service);
        let mut endpoint_labels = labels(&service);
        if service.at(&["spec", "clusterIP"]) == Some(&json!("None")) {
            endpoint_labels.insert(HEADLESS_LABEL.into(), String::new());
        }
        let unchanged = existing.as_ref().is_some_and(|e| e.get("subsets").unwrap_or(&json!([])) == &subsets && labels(e) == endpoint_labels);
        if unchanged {
            return Ok(Action::await_change());
        }
        let mut endpoints = match &existing {
            Some(e) => (**e).clone(),
            None => json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name(&service), "namespace": namespace(&service)}}),
        };
        endpoints["metadata"]["labels"] = json!(endpoint_labels);
        endpoints["subsets"] = subsets;
        let request = match existing {
            Some(_) => ApiRequest::put(ENDPOINTS.path(Some(&key.namespace), Some(&key.name)), endpoints),
            None => ApiRequest::post(ENDPOINTS.path(Some(&key.namespace), None), endpoints),
        };
        ctx.api.handle(&request.as_user(CONTROLLER_MANAGER), ctx.now);
        Ok(Action::await_change())
    }
}

/// The Service's subsets: addresses grouped by the ports they serve
/// (upstream's RepackSubsets), ports and addresses in a stable order.
fn subsets(store: &Store, service: &Value) -> Value {
    let subsets: Vec<Value> = by_ports(store, service, false)
        .into_iter()
        .map(|(ports, group)| {
            let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
            for backend in group {
                let mut address = json!({"ip": backend.ip, "targetRef": backend.target_ref});
                if let Some(node) = &backend.node_name {
                    address["nodeName"] = json!(node);
                }
                if let Some(hostname) = &backend.hostname {
                    address["hostname"] = json!(hostname);
                }
                if backend.ready { &mut ready } else { &mut not_ready }.push(address);
            }
            let mut subset = json!({});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            if !ports.is_empty() {
                let ports: Vec<Value> = ports.into_iter().map(|(name, port, protocol)| {
                    let mut p = json!({"port": port, "protocol": protocol});
                    if !name.is_empty() {
                        p["name"] = json!(name);
                    }
                    p
                }).collect();
                subset["ports"] = json!(ports);
            }
            subset
        })
        .collect();
    json!(subsets)
}
