//! Events as controllers report them, for `kubectl describe` and the
//! dashboard to show under the object they are about. A repeat of the same
//! event is counted on the Event already written instead of piling up new
//! ones, as client-go's event correlator does.

use crate::json_path::JsonPath;
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::EVENTS;
use crate::apiserver::{ApiRequest, ApiServer};
use crate::store::ObjectKey;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Beyond this many remembered events the memory is dropped: a repeat of an
/// old event then starts a new Event, which is harmless.
const REMEMBERED: usize = 4096;

pub const NORMAL: &str = "Normal";
pub const WARNING: &str = "Warning";

#[derive(Debug)]
pub struct EventRecorder {
    /// `source.component`: `deployment-controller`, `replicaset-controller`…
    component: &'static str,
    /// The Event each (object uid, type, reason, message) was written to.
    written: BTreeMap<(String, String, String, String), (String, String)>,
}

impl EventRecorder {
    pub fn new(component: &'static str) -> Self {
        EventRecorder { component, written: BTreeMap::new() }
    }

    /// Records an event about `involved` (a stored object). Failures are
    /// ignored, as an event recorder does: events are best effort.
    pub fn record(&mut self, api: &mut ApiServer, involved: &Value, type_: &str, reason: &str, message: &str, now: Timestamp) {
        let meta = &involved["metadata"];
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        // Events about cluster-scoped objects live in `default`, as in Kubernetes.
        let namespace = meta.get("namespace").and_then(Value::as_str).filter(|ns| !ns.is_empty()).unwrap_or("default").to_string();
        let name = text(&meta["name"]);
        let seen = (text(&meta["uid"]), type_.to_string(), reason.to_string(), message.to_string());
        if let Some((ns, event_name)) = self.written.get(&seen) {
            if let Some(existing) = api.store().get(&ObjectKey::new(EVENTS.storage_name(), ns.as_str(), event_name.as_str())) {
                let mut event = (**existing).clone();
                event["count"] = json!(event["count"].as_i64().unwrap_or(1) + 1);
                event["lastTimestamp"] = json!(Time(now));
                let request = ApiRequest::put(EVENTS.path(Some(ns), Some(event_name)), event).as_user(CONTROLLER_MANAGER);
                if api.handle(&request, now).into_response().is_success() {
                    return;
                }
            }
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{name}."), "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": name,
                "namespace": meta.get("namespace").cloned().unwrap_or(Value::Null),
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "firstTimestamp": Time(now),
            "lastTimestamp": Time(now),
            "count": 1,
        });
        let request = ApiRequest::post(EVENTS.path(Some(&namespace), None), event).as_user(CONTROLLER_MANAGER);
        let response = api.handle(&request, now).into_response();
        if let Some(written) = response.json_body().and_then(|b| b.at(&["metadata", "name"])).and_then(Value::as_str) {
            if self.written.len() >= REMEMBERED {
                self.written.clear();
            }
            self.written.insert(seen, (namespace, written.to_string()));
        }
    }
}

/// Events about one object in the order they were last written:
/// `(type, reason, message, count)`.
/// For tests and for people reading a scenario's outcome.
pub fn events_about(api: &ApiServer, namespace: &str, name: &str) -> Vec<(String, String, String, i64)> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let resource = EVENTS.storage_name();
    let mut events: Vec<&Value> = api
        .store()
        .list(&resource, Some(namespace))
        .map(|(_, e)| e.as_ref())
        .filter(|e| e.at(&["involvedObject", "name"]).and_then(Value::as_str) == Some(name))
        .collect();
    events.sort_by_key(|e| e.at(&["metadata", "resourceVersion"]).and_then(Value::as_str).and_then(|r| r.parse::<u64>().ok()));
    events.iter().map(|e| (text(&e["type"]), text(&e["reason"]), text(&e["message"]), e["count"].as_i64().unwrap_or(1))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn a_repeated_event_is_counted_on_one_event() {
        let mut api = ApiServer::new(1, now());
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}});
        let stored = api.handle(&ApiRequest::post("/api/v1/namespaces/default/configmaps", cm).as_user(CONTROLLER_MANAGER), now()).into_response();
        let stored = stored.json_body().unwrap().clone();
        let mut recorder = EventRecorder::new("test-controller");
        recorder.record(&mut api, &stored, NORMAL, "Seen", "seen once", now());
        recorder.record(&mut api, &stored, NORMAL, "Seen", "seen once", now());
        recorder.record(&mut api, &stored, WARNING, "Odd", "something else", now());
        let events = events_about(&api, "default", "c");
        assert_eq!(events, vec![
            ("Normal".into(), "Seen".into(), "seen once".into(), 2),
            ("Warning".into(), "Odd".into(), "something else".into(), 1),
        ]);
    }
}
