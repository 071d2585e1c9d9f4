//! The control plane as one state machine: the API server (with its store),
//! the scheduler and the controllers, advanced by requests and `tick(now)`.
//! Every request is followed by `settle`, which lets the scheduler and the
//! controllers react to what changed, so a driver only has to deliver
//! requests, watch events and ticks.

use crate::json_path::JsonPath;
use crate::apiserver::admission::Admission;
use crate::apiserver::resources::{self, PODS};
use crate::cluster_config::ClusterConfig;
use crate::apiserver::{ApiError, ApiRequest, ApiResponse, ApiResult, ApiServer, Method, WatchId};
use crate::controllers::node_lifecycle;
use crate::controllers::reconciler::Context;
use crate::controllers::runner::Controller;
use crate::metrics_server::{NodeUsage, ResourceMetrics};
use crate::scheduler::{Outcome, PodKey, Scheduler};
use crate::trace::{Component, Trace};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

pub struct ControlPlane {
    api: ApiServer,
    scheduler: Scheduler,
    /// The controller manager's controllers, in the order each settle round runs them.
    controllers: Vec<Box<dyn Controller>>,
    trace: Trace,
}

/// How many rounds of reactions one settle runs at most. Each round lets
/// every controller act on what the others wrote in the round before (a
/// Deployment's ReplicaSet, then its pods, then their binding); a cluster
/// settles in a few, and the bound stops a pair of controllers that keep
/// undoing each other from hanging the page.
const SETTLE_ROUNDS: usize = 64;


/// The user the page's own editor and buttons act as.
pub const ADMIN: &str = "admin";

impl ControlPlane {
    /// `seed` makes UIDs unique per cluster; the same seed replays the same history.
    pub fn new(seed: u64, now: Timestamp) -> Self {
        Self::with_config(seed, now, &ClusterConfig::default())
    }

    /// A control plane whose components run with `config`'s settings.
    pub fn with_config(seed: u64, now: Timestamp, config: &ClusterConfig) -> Self {
        let mut api = ApiServer::new(seed, now);
        api.set_admission(Admission { default_toleration_seconds: config.default_toleration_seconds });
        ControlPlane {
            api,
            scheduler: Scheduler::default(),
            controllers: crate::controllers::controller_manager(config),
            trace: Trace::default(),
        }
    }

    pub fn api(&self) -> &ApiServer {
        &self.api
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Serves one API request, then lets the cluster react to it.
    pub fn handle(&mut self, request: &ApiRequest, now: Timestamp) -> ApiResult {
        let before = self.api.store().revision();
        let result = self.api.handle(request, now);
        self.record_request(request, &result, before, now);
        self.settle(now);
        result
    }

    /// Serves a read (get, list, logs) without changing anything.
    pub fn read(&self, request: &ApiRequest, now: Timestamp) -> ApiResponse {
        self.api.read(request, now)
    }

    /// Runs the scheduler and controllers until they have nothing left to do.
    pub fn settle(&mut self, now: Timestamp) {
        for _ in 0..SETTLE_ROUNDS {
            let before = self.api.store().revision();
            let mut ctx = Context { api: &mut self.api, now };
            for controller in &mut self.controllers {
                controller.run(&mut ctx);
            }
            for key in self.scheduler.schedule_pending(&mut self.api, now) {
                self.record_decision(&key, now);
            }
            let quiet = self.api.store().revision() == before && !self.controllers.iter().any(|c| c.has_due(now));
            if quiet {
                break;
            }
        }
    }

    /// When the control plane next wants a tick on its own, without being
    /// told of a change: a scheduling back-off ending, or a controller's
    /// delayed work (a backoff, a deadline, a schedule) falling due.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.controllers.iter().filter_map(|c| c.next_wake()).chain(self.scheduler.next_wake()).min()
    }

    /// A scrape of a joined node's kubelet (what metrics-server does every
    /// 15 s; node-hosts send theirs as `NodeMessage::ResourceMetrics`). A
    /// node speaks only for itself: the report is filed under the session's
    /// node, whatever it names, and keeps only pods bound to that node (by
    /// UID). It is stamped with the cluster's clock, which a learner may have
    /// sped past the node's.
    pub fn record_node_metrics(&mut self, node: &str, mut report: NodeUsage, now: Timestamp) {
        let store = self.api.store();
        report.pods.retain(|pod| {
            let stored = store.get_at(&PODS.storage_name(), &pod.namespace, &pod.name);
            stored.is_some_and(|p| p.at(&["spec", "nodeName"]).and_then(Value::as_str) == Some(node) && p.at(&["metadata", "uid"]).and_then(Value::as_str) == Some(pod.uid.as_str()))
        });
        for pod in &mut report.pods {
            pod.timestamp = now;
        }
        report.node = node.to_string();
        report.timestamp = now;
        self.api.record_metrics(report);
    }

    /// A node's kubelet could not be scraped (it is gone): its metrics go.
    pub fn forget_metrics(&mut self, node: &str) {
        self.api.forget_metrics(node);
    }

    pub fn metrics(&self) -> &ResourceMetrics {
        self.api.metrics()
    }

    pub fn tick(&mut self, now: Timestamp) {
        self.settle(now);
    }

    pub fn pump_watches(&mut self) -> Vec<(WatchId, crate::apiserver::watch::SharedEvent)> {
        self.api.pump_watches()
    }

    /// BOOKMARK events for watches that allow them (a driver sends these every minute or so).
    pub fn bookmarks(&mut self) -> Vec<(WatchId, crate::apiserver::watch::SharedEvent)> {
        self.api.bookmarks()
    }

    /// The whole state, to save; see `apiserver::snapshot`.
    pub fn snapshot_json(&self) -> String {
        self.api.snapshot_json()
    }

    pub fn restore_json(&mut self, text: &str) -> Result<(), crate::apiserver::snapshot::RestoreError> {
        self.api.restore_json(text)
    }

    pub fn close_watch(&mut self, id: WatchId) {
        self.api.close_watch(id);
    }

    pub fn append_log(&mut self, pod_uid: &str, container: &str, data: &str) {
        self.api.append_log(pod_uid, container, data);
    }

    /// A node's agent disconnected: mark it unreachable, as the node lifecycle controller would.
    pub fn node_unreachable(&mut self, name: &str, now: Timestamp) {
        node_lifecycle::mark_unreachable(&mut self.api, name, now);
        self.trace.record(now, Component::Controller, format!("Node {name}"), "node stopped reporting: Ready=Unknown, tainted unreachable", Some(self.api.store().revision()));
        self.settle(now);
    }

    /// Creates each object of a manifest as `user`. All are dry-run first, so
    /// an invalid document changes nothing; the responses come back in order.
    pub fn create_all(&mut self, documents: &[Value], user: &str, now: Timestamp) -> Result<Vec<ApiResponse>, (usize, ApiResponse)> {
        let mut requests = Vec::new();
        for (i, doc) in documents.iter().enumerate() {
            let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let Some(resource) = resources::by_kind(api_version, kind) else {
                let error = ApiError::UnknownKind { kind: kind.into(), api_version: api_version.into(), served: supported_kinds() };
                return Err((i, ApiResponse::error(&error)));
            };
            let namespace = doc.at(&["metadata", "namespace"]).and_then(Value::as_str).unwrap_or("default");
            let path = resource.path(resource.namespaced.then_some(namespace), None);
            requests.push(ApiRequest::post(path, doc.clone()).with_query("fieldValidation", "Strict").as_user(user));
        }
        for (i, request) in requests.iter().enumerate() {
            let dry = request.clone().with_query("dryRun", "All");
            let response = self.api.handle(&dry, now).into_response();
            if !response.is_success() {
                return Err((i, response));
            }
        }
        Ok(requests.iter().map(|r| self.handle(r, now).into_response()).collect())
    }

    fn record_request(&mut self, request: &ApiRequest, result: &ApiResult, before: u64, now: Timestamp) {
        let response = match result {
            ApiResult::Response(r) => r,
            ApiResult::Watch { .. } => return,
        };
        if request.method == Method::Get {
            return;
        }
        let Ok(target) = resources::parse_path(&request.path) else { return };
        let component = Component::of_user(&request.user);
        let body = response.json_body();
        let name = target.name.clone().or_else(|| body.and_then(|b| b.at(&["metadata", "name"])).and_then(Value::as_str).map(String::from)).unwrap_or_default();
        let object = match &target.namespace {
            Some(ns) => format!("{} {ns}/{name}", target.resource.kind),
            None => format!("{} {name}", target.resource.kind),
        };
        // Heartbeats, lease renewals and events would drown the steps people come to see.
        let heartbeat = component == Component::Kubelet && response.is_success() && (target.resource.plural == resources::LEASES.plural || (target.resource.plural == resources::NODES.plural && target.subresource.is_some()));
        if target.resource.plural == resources::EVENTS.plural || heartbeat {
            return;
        }
        let revision = self.api.store().revision();
        let wrote = revision > before;
        let who = who(request);
        let text = if !response.is_success() {
            format!("{who}: {} {} refused by the API server ({}): {}", method_verb(request), target.resource.singular, response.status, response.message())
        } else {
            let stored = if wrote { format!("; the store is now at revision {revision}") } else { String::new() };
            let action = match (&request.method, target.subresource.as_deref()) {
                (Method::Put, Some("status")) => {
                    let phase = request.body.as_ref().and_then(|b| b.at(&["status", "phase"])).and_then(Value::as_str);
                    match phase {
                        Some(p) if target.resource.plural == PODS.plural => format!("reported status: phase {p}"),
                        _ => "reported status".to_string(),
                    }
                }
                (Method::Post, None) => "created it; the API server validated and stored it".to_string(),
                (Method::Put, None) => "updated it".to_string(),
                (Method::Delete, _) => "deleted it".to_string(),
                _ => method_verb(request).to_string(),
            };
            format!("{who} {action}{stored}")
        };
        self.trace.record(now, component, object, text, wrote.then_some(revision));
    }

    fn record_decision(&mut self, key: &PodKey, now: Timestamp) {
        let Some(decision) = self.scheduler.decision_of(key) else { return };
        let object = format!("Pod {}/{}", key.0, key.1);
        let text = match (&decision.outcome, &decision.preemption) {
            (Outcome::Bound { node }, _) => format!("filtered {} node(s), {} feasible; bound to {node}", decision.evaluated, decision.feasible),
            (Outcome::Unschedulable { message }, Some(p)) => format!("unschedulable: {message}; preempting {} pod(s) on {}", p.victims.len(), p.node),
            (Outcome::Unschedulable { message }, None) => format!("unschedulable: {message}"),
        };
        self.trace.record(now, Component::Scheduler, object, text, None);
    }
}

/// A request's user as a learner would say it: `kubelet on in-page`, `admin`.
fn who(request: &ApiRequest) -> String {
    match request.user.as_str() {
        "" => "anonymous".to_string(),
        user => match user.strip_prefix("system:node:") {
            Some(node) => format!("kubelet on {node}"),
            None if user == crate::scheduler::USER => "scheduler".to_string(),
            None => user.to_string(),
        },
    }
}

fn method_verb(request: &ApiRequest) -> &'static str {
    match request.method {
        Method::Get => "get",
        Method::Post => "create",
        Method::Put => "update",
        Method::Patch => "patch",
        Method::Delete => "delete",
    }
}

fn supported_kinds() -> String {
    resources::ALL.iter().map(|r| format!("{} ({})", r.kind, r.api_version())).collect::<Vec<_>>().join(", ")
}
