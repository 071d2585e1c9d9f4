//! The EndpointSlice controller, after upstream's `endpointslice`: for every
//! Service with a selector, EndpointSlices (named `<service>-<suffix>`,
//! owned by the Service) listing its pods, at most 100 per slice, one set of
//! slices per distinct port mapping. Each endpoint says whether it is
//! `ready`, `serving` and `terminating`: unlike Endpoints, a terminating pod
//! stays listed (not ready) until it is gone. A Service with no pods keeps
//! one empty placeholder slice.

use crate::json_path::JsonPath;
use super::ownership::{controller_of, controller_ref, labels, name, namespace, path_of, uid};
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::service_backends::{by_ports, selector, services_for_pod, Backend};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{ENDPOINT_SLICES, PODS, SERVICES};
use crate::apiserver::{ApiRequest, ApiServer};
use crate::store::{ObjectKey, Store, StoreEvent};
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// kube-controller-manager's `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

#[derive(Debug, Default)]
pub struct EndpointSliceController;

impl Reconciler for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    fn keys_for(&mut self, event: &StoreEvent, store: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == SERVICES.storage_name() {
            keys.push(event.key.clone());
        } else if event.key.resource == PODS.storage_name() {
            services_for_pod(event, store, keys);
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&SERVICES.storage_name(), None).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        // A deleted Service's slices are its dependents: the garbage collector takes them.
        let Some(service) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        let existing: Vec<Arc<Value>> = ctx
            .api
            .store()
            .list(&ENDPOINT_SLICES.storage_name(), Some(&key.namespace))
            .filter(|(_, s)| labels(s).get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY) && controller_of(s).is_some_and(|r| r["uid"] == uid(&service)))
            .map(|(_, s)| s.clone())
            .collect();
        let wanted = if selector(&service).is_some() { desired_slices(ctx.api.store(), &service) } else { Vec::new() };
        apply(ctx.api, &service, existing, wanted, ctx.now);
        Ok(Action::await_change())
    }
}

/// (ports, endpoints) of each slice the Service should have.
fn desired_slices(store: &Store, service: &Value) -> Vec<(Value, Vec<Value>)> {
    let groups = by_ports(store, service, true);
    if groups.is_empty() {
        return vec![(json!([]), Vec::new())];
    }
    let mut slices = Vec::new();
    for (ports, backends) in groups {
        let ports: Vec<Value> = ports.into_iter().map(|(name, port, protocol)| json!({"name": name, "port": port, "protocol": protocol})).collect();
        let endpoints: Vec<Value> = backends.iter().map(endpoint).collect();
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slices.push((json!(ports), chunk.to_vec()));
        }
    }
    slices
}

fn endpoint(backend: &Backend) -> Value {
    let mut endpoint = json!({
        "addresses": [backend.ip],
        "conditions": {"ready": backend.ready && !backend.terminating, "serving": backend.ready, "terminating": backend.terminating},
        "targetRef": backend.target_ref,
    });
    if let Some(node) = &backend.node_name {
        endpoint["nodeName"] = json!(node);
    }
    if let Some(hostname) = &backend.hostname {
        endpoint["hostname"] = json!(hostname);
    }
    endpoint
}

/// Updates the existing slices in place (in name order), creates what is
/// missing and deletes what is left over.
fn apply(api: &mut ApiServer, service: &Value, existing: Vec<Arc<Value>>, wanted: Vec<(Value, Vec<Value>)>, now: Timestamp) {
    let mut slice_labels = labels(service);
    slice_labels.insert(SERVICE_NAME_LABEL.into(), name(service).to_string());
    slice_labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    if service.at(&["spec", "clusterIP"]) == Some(&json!("None")) {
        slice_labels.insert(super::endpoints::HEADLESS_LABEL.into(), String::new());
    }
    let mut existing = existing.into_iter();
    for (ports, endpoints) in wanted {
        match existing.next() {
            Some(slice) => {
                let same = slice.get("ports").unwrap_or(&json!([])) == &ports && slice.get("endpoints").unwrap_or(&json!([])) == &json!(endpoints) && labels(&slice) == slice_labels;
                if !same {
                    let mut updated = (*slice).clone();
                    updated["metadata"]["labels"] = json!(slice_labels);
                    updated["ports"] = ports;
                    updated["endpoints"] = json!(endpoints);
                    let path = ENDPOINT_SLICES.path(Some(namespace(&slice)), Some(name(&slice)));
                    api.handle(&ApiRequest::put(path, updated).as_user(CONTROLLER_MANAGER), now);
                }
            }
            None => {
                let slice = json!({
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {"generateName": format!("{}-", name(service)), "namespace": namespace(service), "labels": slice_labels, "ownerReferences": [controller_ref(service)]},
                    "addressType": "IPv4",
                    "ports": ports,
                    "endpoints": endpoints,
                });
                api.handle(&ApiRequest::post(ENDPOINT_SLICES.path(Some(namespace(service)), None), slice).as_user(CONTROLLER_MANAGER), now);
            }
        }
    }
    for leftover in existing {
        if let Some(path) = path_of(&ObjectKey::new(ENDPOINT_SLICES.storage_name(), namespace(&leftover), name(&leftover))) {
            api.handle(&ApiRequest::delete(path).as_user(CONTROLLER_MANAGER), now);
        }
    }
}
