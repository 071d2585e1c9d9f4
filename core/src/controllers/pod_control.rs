//! Creating and deleting a controller's pods, with the Events that
//! upstream's `controller.PodControl` records about the owner for the
//! ReplicaSet, Job and DaemonSet controllers alike (`SuccessfulCreate`,
//! `FailedCreate`, `SuccessfulDelete`, `FailedDelete`). The StatefulSet
//! controller has its own messages, as upstream's does.

use super::events::{EventRecorder, NORMAL, WARNING};
use super::ownership::{name, namespace};
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::PODS;
use crate::apiserver::{ApiRequest, ApiServer};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// Creates `pod` in its owner's namespace. Returns the pod as stored, or
/// the API server's message when it was refused.
pub fn create_pod(api: &mut ApiServer, events: &mut EventRecorder, owner: &Value, pod: Value, now: Timestamp) -> Result<Value, String> {
    let request = ApiRequest::post(PODS.path(Some(namespace(owner)), None), pod).as_user(CONTROLLER_MANAGER);
    let response = api.handle(&request, now).into_response();
    if !response.is_success() {
        let message = response.message();
        events.record(api, owner, WARNING, "FailedCreate", &format!("Error creating: {message}"), now);
        return Err(message);
    }
    let created = response.json_body().cloned().unwrap_or(Value::Null);
    events.record(api, owner, NORMAL, "SuccessfulCreate", &format!("Created pod: {}", name(&created)), now);
    Ok(created)
}

/// Deletes `pod`. A pod already gone counts as deleted, without an Event;
/// a refusal returns the API server's message.
pub fn delete_pod(api: &mut ApiServer, events: &mut EventRecorder, owner: &Value, pod: &Value, now: Timestamp) -> Result<(), String> {
    let pod_name = name(pod);
    let request = ApiRequest::delete(PODS.path(Some(namespace(pod)), Some(pod_name))).as_user(CONTROLLER_MANAGER);
    let response = api.handle(&request, now).into_response();
    if response.status == 404 {
        return Ok(());
    }
    if !response.is_success() {
        let message = response.message();
        events.record(api, owner, WARNING, "FailedDelete", &format!("Error deleting: {message}"), now);
        return Err(message);
    }
    events.record(api, owner, NORMAL, "SuccessfulDelete", &format!("Deleted pod: {pod_name}"), now);
    Ok(())
}
