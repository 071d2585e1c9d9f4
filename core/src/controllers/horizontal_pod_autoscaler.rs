//! The HorizontalPodAutoscaler controller (autoscaling/v2), after upstream's
//! `pkg/controller/podautoscaler`: every 15 s it reads the usage of the
//! target's pods from the resource metrics (`metrics_server`, what the
//! kubelets measured), asks each metric how many replicas it wants
//! (`replica_calculator`), takes the most, lets `scaling_behavior`
//! stabilize and rate-limit that, and sets the target's scale. Its
//! conditions say whether it could (AbleToScale), whether its metrics
//! worked (ScalingActive) and whether a bound held it (ScalingLimited).
//!
//! Resource metrics (cpu, memory) are served, as Utilization of the pods'
//! requests or as AverageValue; other metric types are refused at the API.

use crate::json_path::JsonPath;
use crate::apiserver::transition_time;
use super::events::{EventRecorder, NORMAL, WARNING};
use super::ownership::{is_being_deleted, labels, name, namespace, write_status};
use super::pod_readiness::is_ready;
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use super::replica_calculator::{desired_replicas, PodSample, Target};
use super::replica_set::selector_of;
use super::scaling_behavior::History;
use super::CONTROLLER_MANAGER;
use crate::apiserver::resources::{by_kind, HORIZONTAL_POD_AUTOSCALERS, PODS};
use crate::apiserver::ApiRequest;
use crate::labels::selector_matches;
use crate::metrics_server::ResourceMetrics;
use crate::quantity;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::jiff::SignedDuration;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const COMPONENT: &str = "horizontal-pod-autoscaler";

/// `--horizontal-pod-autoscaler-sync-period`.
pub const SYNC_PERIOD: SignedDuration = SignedDuration::from_secs(15);

#[derive(Debug)]
pub struct HorizontalPodAutoscalerController {
    events: EventRecorder,
    history: BTreeMap<ObjectKey, History>,
}

impl Default for HorizontalPodAutoscalerController {
    fn default() -> Self {
        HorizontalPodAutoscalerController { events: EventRecorder::new(COMPONENT), history: BTreeMap::new() }
    }
}

impl Reconciler for HorizontalPodAutoscalerController {
    fn name(&self) -> &'static str {
        "horizontalpodautoscaling"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == HORIZONTAL_POD_AUTOSCALERS.storage_name() {
            if event.event_type == EventType::Deleted {
                // Its reconcile forgets its history (as after a relist that missed the deletion).
                keys.push(event.key.clone());
            } else if event.previous.as_deref().is_none_or(|p| p.get("spec") != event.object.get("spec")) {
                // Only a new or changed spec: status writes are the controller's own.
                keys.push(event.key.clone());
            }
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&HORIZONTAL_POD_AUTOSCALERS.storage_name(), None).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(value) = ctx.api.store().get(key).cloned() else {
            self.history.remove(key);
            return Ok(Action::await_change());
        };
        let Ok(hpa) = serde_json::from_value::<HorizontalPodAutoscaler>((*value).clone()) else { return Ok(Action::await_change()) };
        let history = self.history.entry(key.clone()).or_default();
        let mut sync = Sync { ctx, events: &mut self.events, history, value, hpa, conditions: Vec::new(), metrics: Vec::new() };
        sync.run();
        Ok(Action::requeue_after(SYNC_PERIOD))
    }
}

/// The scale of the target: its replicas and the selector of its pods.
struct Scale {
    path: String,
    replicas: i32,
    selector: LabelSelector,
}

struct Sync<'a, 'b> {
    ctx: &'a mut Context<'b>,
    events: &'a mut EventRecorder,
    history: &'a mut History,
    value: Arc<Value>,
    hpa: HorizontalPodAutoscaler,
    /// (type, status, reason, message), in the order they are shown.
    conditions: Vec<(&'static str, &'static str, String, String)>,
    metrics: Vec<Value>,
}

impl Sync<'_, '_> {
    fn event(&mut self, type_: &str, reason: &str, message: &str) {
        let value = self.value.clone();
        self.events.record(self.ctx.api, &value, type_, reason, message, self.ctx.now);
    }

    /// Sets a condition in place, so they keep the order they were first set in.
    fn condition(&mut self, type_: &'static str, status: &'static str, reason: &str, message: String) {
        let condition = (type_, status, reason.to_string(), message);
        match self.conditions.iter_mut().find(|c| c.0 == type_) {
            Some(existing) => *existing = condition,
            None => self.conditions.push(condition),
        }
    }

    fn scale(&self) -> Result<Scale, String> {
        let spec = self.hpa.spec.clone().unwrap_or_default();
        let reference = &spec.scale_target_ref;
        let api_version = reference.api_version.clone().unwrap_or_default();
        let resource = by_kind(&api_version, &reference.kind).filter(|r| r.has_subresource("scale")).ok_or_else(|| format!("no scale subresource for {}/{}", api_version, reference.kind))?;
        let ns = namespace(&self.value);
        let target = self
            .ctx
            .api
            .store()
            .get(&ObjectKey::new(resource.storage_name(), ns, reference.name.as_str()))
            .ok_or_else(|| format!("{}.{} \"{}\" not found", resource.plural, resource.group, reference.name))?;
        let selector = selector_of(target).unwrap_or_default();
        let replicas = target.at(&["spec", "replicas"]).and_then(Value::as_i64).unwrap_or(1) as i32;
        Ok(Scale { path: format!("{}/scale", resource.path(Some(ns), Some(&reference.name))), replicas, selector })
    }

    fn run(&mut self) {
        let now = self.ctx.now;
        let spec = self.hpa.spec.clone().unwrap_or_default();
        let (min, max) = (spec.min_replicas.unwrap_or(1), spec.max_replicas);
        let scale = match self.scale() {
            Ok(scale) => scale,
            Err(e) => {
                let message = format!("the HPA controller was unable to get the target's current scale: {e}");
                self.condition("AbleToScale", "False", "FailedGetScale", message.clone());
                self.event(WARNING, "FailedGetScale", &e);
                self.write_status(None, None, false);
                return;
            }
        };
        self.condition("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale".into());
        let current = scale.replicas;
        let (desired, reason) = if current == 0 && min != 0 {
            self.condition("ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero".into());
            (0, None)
        } else if current > max {
            (max, Some("Current number of replicas above Spec.MaxReplicas".to_string()))
        } else if current < min {
            (min, Some("Current number of replicas below Spec.MinReplicas".to_string()))
        } else {
            let Some((wanted, metric)) = self.replicas_for_metrics(&scale, &spec.metrics.clone().unwrap_or_default()) else {
                self.write_status(Some(current), None, false);
                return;
            };
            let reason = if wanted > current { Some(format!("{metric} above target")) } else if wanted < current { Some("All metrics below target".to_string()) } else { None };
            let normalized = self.history.normalize(spec.behavior.as_ref(), current, wanted, min, max, now);
            self.condition("AbleToScale", "True", normalized.able_reason, normalized.able_message.into());
            let limited = if normalized.limited { "True" } else { "False" };
            self.condition("ScalingLimited", limited, normalized.limited_reason, normalized.limited_message.into());
            (normalized.replicas, reason)
        };
        let rescale = desired != current && (current != 0 || min == 0);
        if rescale {
            let patch = json!({"spec": {"replicas": desired}});
            let request = ApiRequest::patch(&scale.path, "application/merge-patch+json", patch).as_user(CONTROLLER_MANAGER);
            let response = self.ctx.api.handle(&request, now).into_response();
            if !response.is_success() {
                let message = format!("the HPA controller was unable to update the target scale: {}", response.message());
                self.condition("AbleToScale", "False", "FailedUpdateScale", message);
                self.event(WARNING, "FailedRescale", &format!("New size: {desired}; reason: {}; error: {}", reason.as_deref().unwrap_or(""), response.message()));
                self.write_status(Some(current), Some(current), false);
                return;
            }
            self.condition("AbleToScale", "True", "SucceededRescale", format!("the HPA controller was able to update the target scale to {desired}"));
            self.event(NORMAL, "SuccessfulRescale", &format!("New size: {desired}; reason: {}", reason.as_deref().unwrap_or("")));
            self.history.record_rescale(current, desired, now);
        }
        self.write_status(Some(current), Some(desired), rescale);
    }

    /// The most replicas any metric asks for, and that metric's name; None
    /// (with ScalingActive False) if no metric could be computed.
    fn replicas_for_metrics(&mut self, scale: &Scale, metrics: &[MetricSpec]) -> Option<(i32, String)> {
        let ns = namespace(&self.value).to_string();
        let pods: Vec<Arc<Value>> = self.ctx.api.store().list(&PODS.storage_name(), Some(&ns)).filter(|(_, p)| selector_matches(&scale.selector, &labels(p))).map(|(_, p)| p.clone()).collect();
        let mut best: Option<(i32, String)> = None;
        let mut first_error = None;
        for metric in metrics {
            let Some(resource) = metric.resource.as_ref().filter(|_| metric.type_ == "Resource") else { continue };
            let target = match (resource.target.type_.as_str(), resource.target.average_utilization, &resource.target.average_value) {
                ("Utilization", Some(percent), _) => Target::Utilization(percent),
                ("AverageValue", _, Some(value)) => Target::AverageValue(quantity::parse_resource(&resource.name, &value.0).unwrap_or(0)),
                _ => continue,
            };
            let samples: Vec<PodSample> = pods.iter().map(|p| sample(p, &resource.name, self.ctx.api.metrics())).collect();
            let metric_name = match target {
                Target::Utilization(_) => format!("{} resource utilization (percentage of request)", resource.name),
                Target::AverageValue(_) => format!("{} resource", resource.name),
            };
            match desired_replicas(scale.replicas, target, &resource.name, &samples) {
                Ok(recommendation) => {
                    let mut current = json!({"averageValue": format_value(&resource.name, recommendation.average)});
                    if let Some(utilization) = recommendation.utilization {
                        current["averageUtilization"] = json!(utilization);
                    }
                    self.metrics.push(json!({"type": "Resource", "resource": {"name": resource.name, "current": current}}));
                    if best.as_ref().is_none_or(|(r, _)| recommendation.replicas > *r) {
                        best = Some((recommendation.replicas, metric_name));
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(format!("failed to get {} utilization: {e}", resource.name));
                }
            }
        }
        match (best, first_error) {
            (Some((replicas, name)), _) => {
                let message = format!("the HPA was able to successfully calculate a replica count from {name}");
                self.condition("ScalingActive", "True", "ValidMetricFound", message);
                Some((replicas, name))
            }
            (None, error) => {
                let error = error.unwrap_or_else(|| "no metrics to compute".into());
                self.condition("ScalingActive", "False", "FailedGetResourceMetric", format!("the HPA was unable to compute the replica count: {error}"));
                self.event(WARNING, "FailedGetResourceMetric", &error);
                self.event(WARNING, "FailedComputeMetricsReplicas", &format!("invalid metrics ({} invalid out of {}), first error is: {error}", metrics.len(), metrics.len()));
                None
            }
        }
    }

    fn write_status(&mut self, current: Option<i32>, desired: Option<i32>, rescaled: bool) {
        let now = self.ctx.now;
        let previous: Vec<Value> = self.value.at(&["status", "conditions"]).and_then(Value::as_array).cloned().unwrap_or_default();
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .map(|(type_, status, reason, message)| {
                let since = transition_time(&previous, type_, status, now);
                json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
            })
            .collect();
        let old = self.value.get("status").cloned().unwrap_or(json!({}));
        let mut status = json!({
            "currentReplicas": current.or_else(|| old["currentReplicas"].as_i64().map(|c| c as i32)).unwrap_or(0),
            "desiredReplicas": desired.or(current).unwrap_or(0),
            "conditions": conditions,
            "observedGeneration": self.value.at(&["metadata", "generation"]).cloned().unwrap_or(json!(1)),
        });
        if !self.metrics.is_empty() {
            status["currentMetrics"] = json!(self.metrics);
        }
        let last_scale = if rescaled { Some(json!(Time(now))) } else { old.get("lastScaleTime").cloned() };
        if let Some(last) = last_scale {
            status["lastScaleTime"] = last;
        }
        if let Some(stored) = write_status(self.ctx.api, &HORIZONTAL_POD_AUTOSCALERS, &self.value, status, now) {
            self.value = stored;
        }
    }
}

fn format_value(resource: &str, value: i64) -> String {
    if resource == "cpu" { format!("{value}m") } else { value.to_string() }
}

/// What the calculator needs to know of one pod.
fn sample(pod: &Value, resource: &str, metrics: &ResourceMetrics) -> PodSample {
    let phase = pod.at(&["status", "phase"]).and_then(Value::as_str).unwrap_or("");
    // CPU of a pod not ready yet is not trusted (it is starting up); memory is.
    let counted = phase == "Running" && (is_ready(pod) || resource != "cpu");
    let requests: Option<Vec<i64>> = pod
        .at(&["spec", "containers"])
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| c.at(&["resources", "requests", resource]).and_then(Value::as_str).map(|q| quantity::parse_resource(resource, q).unwrap_or(0))).collect::<Option<Vec<i64>>>())
        .unwrap_or_default();
    let usage = metrics.usage_of(pod).map(|u| if resource == "cpu" { u.cpu_millis() } else { u.memory_bytes() });
    PodSample {
        name: name(pod).to_string(),
        ready: counted,
        ignored: is_being_deleted(pod) || phase == "Failed",
        usage,
        request: requests.map(|r| r.iter().sum()),
    }
}
