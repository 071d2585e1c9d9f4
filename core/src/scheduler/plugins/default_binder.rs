//! DefaultBinder: binds the pod by creating its `binding` subresource
//! through the API server, which sets `spec.nodeName` and the
//! PodScheduled condition.

use crate::apiserver::resources::PODS;
use crate::apiserver::{ApiRequest, ApiServer};
use crate::scheduler::framework::{BindPlugin, Plugin, PodInfo, Status};
use crate::scheduler::USER;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

pub const NAME: &str = "DefaultBinder";

pub struct DefaultBinder;

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl BindPlugin for DefaultBinder {
    fn bind(&self, api: &mut ApiServer, pod: &PodInfo, node: &str, now: Timestamp) -> Result<(), Status> {
        let (ns, name) = (pod.namespace(), pod.name());
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns, "uid": pod.uid()}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        let mut path = PODS.path(Some(ns), Some(name));
        path.push_str("/binding");
        api.submit(ApiRequest::post(path, binding).as_user(USER), now).map_err(|response| Status::error(response.message()))
    }
}
