//! Workload controllers' objects (Deployment, ReplicaSet, DaemonSet,
//! StatefulSet, Job, CronJob): the apps/v1 and batch/v1 defaults, and the
//! validation every one of them shares: a selector that selects its own
//! template, a template that is a valid pod, and the restart policy the
//! controller can honour.

use crate::json_path::JsonPath;
use super::pod;
use super::Write;
use crate::apiserver::status::FieldError;
use crate::cron_schedule::ScheduleError;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, ReplicaSet, RollingUpdateDaemonSet,
    RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use std::collections::BTreeMap;

const TEMPLATE_SPEC: &str = "spec.template.spec";

pub fn deployment(d: &mut Deployment, write: Write<'_>) -> Vec<FieldError> {
    let spec = d.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    spec.progress_deadline_seconds.get_or_insert(600);
    let strategy = spec.strategy.get_or_insert_with(DeploymentStrategy::default);
    let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into()).clone();
    if kind == "RollingUpdate" {
        let rolling = strategy.rolling_update.get_or_insert_with(RollingUpdateDeployment::default);
        rolling.max_surge.get_or_insert(IntOrString::String("25%".into()));
        rolling.max_unavailable.get_or_insert(IntOrString::String("25%".into()));
    }
    pod::default_pod_spec(spec.template.spec.get_or_insert_with(Default::default));

    let mut errors = Vec::new();
    replicas("spec.replicas", spec.replicas, &mut errors);
    selects_template(Some(&spec.selector), &spec.template, &mut errors);
    template(&spec.template, &["Always"], &mut errors);
    match kind.as_str() {
        "RollingUpdate" => {
            let rolling = strategy.rolling_update.as_ref().expect("defaulted");
            let surge = rolling.max_surge.as_ref().expect("defaulted");
            let unavailable = rolling.max_unavailable.as_ref().expect("defaulted");
            for (field, value) in [("maxSurge", surge), ("maxUnavailable", unavailable)] {
                int_or_percent(&format!("spec.strategy.rollingUpdate.{field}"), value, &mut errors);
            }
            if is_zero(surge) && is_zero(unavailable) {
                errors.push(FieldError::invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    display(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errors.push(FieldError::forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"));
            }
        }
        other => errors.push(FieldError::not_supported("spec.strategy.type", other, &["Recreate", "RollingUpdate"])),
    }
    if let Some(min_ready) = spec.min_ready_seconds.filter(|s| *s < 0) {
        errors.push(FieldError::invalid("spec.minReadySeconds", min_ready, "must be greater than or equal to 0"));
    }
    if let Write::Update { old } = write {
        immutable_selector(old, &spec.selector, &mut errors);
    }
    errors
}

pub fn replica_set(rs: &mut ReplicaSet, write: Write<'_>) -> Vec<FieldError> {
    let spec = rs.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    let template_spec = spec.template.get_or_insert_with(Default::default);
    pod::default_pod_spec(template_spec.spec.get_or_insert_with(Default::default));
    let mut errors = Vec::new();
    replicas("spec.replicas", spec.replicas, &mut errors);
    let template_ref = spec.template.as_ref().expect("defaulted");
    selects_template(Some(&spec.selector), template_ref, &mut errors);
    template(template_ref, &["Always"], &mut errors);
    if let Write::Update { old } = write {
        immutable_selector(old, &spec.selector, &mut errors);
    }
    errors
}

pub fn daemon_set(ds: &mut DaemonSet, write: Write<'_>) -> Vec<FieldError> {
    let spec = ds.spec.get_or_insert_with(Default::default);
    spec.revision_history_limit.get_or_insert(10);
    let strategy = spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
    let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into()).clone();
    if kind == "RollingUpdate" {
        let rolling = strategy.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
        rolling.max_surge.get_or_insert(IntOrString::Int(0));
    }
    pod::default_pod_spec(spec.template.spec.get_or_insert_with(Default::default));
    let mut errors = Vec::new();
    selects_template(Some(&spec.selector), &spec.template, &mut errors);
    template(&spec.template, &["Always"], &mut errors);
    if !["RollingUpdate", "OnDelete"].contains(&kind.as_str()) {
        errors.push(FieldError::not_supported("spec.updateStrategy.type", &kind, &["OnDelete", "RollingUpdate"]));
    }
    if let Write::Update { old } = write {
        immutable_selector(old, &spec.selector, &mut errors);
    }
    errors
}

pub fn stateful_set(sts: &mut StatefulSet, write: Write<'_>) -> Vec<FieldError> {
    let spec = sts.spec.get_or_insert_with(Default::default);
    spec.replicas.get_or_insert(1);
    spec.revision_history_limit.get_or_insert(10);
    let policy = spec.pod_management_policy.get_or_insert_with(|| "OrderedReady".into()).clone();
    let strategy = spec.update_strategy.get_or_insert_with(StatefulSetUpdateStrategy::default);
    let kind = strategy.type_.get_or_insert_with(|| "RollingUpdate".into()).clone();
    if kind == "RollingUpdate" {
        strategy.rolling_update.get_or_insert_with(RollingUpdateStatefulSetStrategy::default).partition.get_or_insert(0);
    }
    pod::default_pod_spec(spec.template.spec.get_or_insert_with(Default::default));
    let mut errors = Vec::new();
    replicas("spec.replicas", spec.replicas, &mut errors);
    selects_template(Some(&spec.selector), &spec.template, &mut errors);
    template(&spec.template, &["Always"], &mut errors);
    if !["OrderedReady", "Parallel"].contains(&policy.as_str()) {
        errors.push(FieldError::not_supported("spec.podManagementPolicy", &policy, &["OrderedReady", "Parallel"]));
    }
    if !["RollingUpdate", "OnDelete"].contains(&kind.as_str()) {
        errors.push(FieldError::not_supported("spec.updateStrategy.type", &kind, &["OnDelete", "RollingUpdate"]));
    }
    let rolling = spec.update_strategy.as_ref().and_then(|u| u.rolling_update.as_ref());
    if rolling.is_some_and(|r| r.max_unavailable.is_some()) {
        errors.push(FieldError::forbidden("spec.updateStrategy.rollingUpdate.maxUnavailable", "maxUnavailable for StatefulSets (alpha in Kubernetes) is not supported by Tabernetes yet"));
    }
    if spec.volume_claim_templates.as_ref().is_some_and(|v| !v.is_empty()) {
        errors.push(FieldError::forbidden("spec.volumeClaimTemplates", "persistent volumes are not supported by Tabernetes yet"));
    }
    if let Write::Update { old } = write {
        // Kubernetes lets a StatefulSet change only these; the rest (serviceName,
        // selector, podManagementPolicy…) is fixed at creation.
        let mut masked = old.get("spec").cloned().unwrap_or(Value::Null);
        let new = serde_json::to_value(&*spec).unwrap_or(Value::Null);
        for field in ["replicas", "template", "updateStrategy", "minReadySeconds", "persistentVolumeClaimRetentionPolicy", "ordinals", "revisionHistoryLimit"] {
            match new.get(field) {
                Some(v) => masked[field] = v.clone(),
                None => {
                    if let Some(m) = masked.as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        if masked != new {
            errors.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    errors
}

/// The labels a Job's controller puts on the pods it makes and selects them by.
pub fn job_labels(uid: &str, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("batch.kubernetes.io/controller-uid".to_string(), uid.to_string()),
        ("batch.kubernetes.io/job-name".to_string(), name.to_string()),
        ("controller-uid".to_string(), uid.to_string()),
        ("job-name".to_string(), name.to_string()),
    ])
}

pub fn job(job: &mut Job, write: Write<'_>) -> Vec<FieldError> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let spec = job.spec.get_or_insert_with(Default::default);
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    spec.backoff_limit.get_or_insert(6);
    spec.completion_mode.get_or_insert_with(|| "NonIndexed".into());
    spec.suspend.get_or_insert(false);
    spec.manual_selector.get_or_insert(false);
    spec.pod_replacement_policy.get_or_insert_with(|| "TerminatingOrFailed".into());
    // Without manualSelector the server generates the selector from the Job's
    // UID, so two Jobs can never adopt each other's pods.
    if write == Write::Create && spec.manual_selector != Some(true) && spec.selector.is_none() {
        let labels = job_labels(&uid, &name);
        spec.selector = Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "batch.kubernetes.io/controller-uid".to_string(),
                uid.clone(),
            )])),
            ..Default::default()
        });
        spec.template.metadata.get_or_insert_with(Default::default).labels.get_or_insert_with(BTreeMap::new).extend(labels);
    }
    pod::default_pod_spec(spec.template.spec.get_or_insert_with(Default::default));
    let mut errors = Vec::new();
    for (field, value) in [("parallelism", spec.parallelism), ("completions", spec.completions), ("backoffLimit", spec.backoff_limit)] {
        replicas(&format!("spec.{field}"), value, &mut errors);
    }
    if let Some(deadline) = spec.active_deadline_seconds.filter(|s| *s <= 0) {
        errors.push(FieldError::invalid("spec.activeDeadlineSeconds", deadline, "must be greater than 0"));
    }
    if let Some(ttl) = spec.ttl_seconds_after_finished.filter(|s| *s < 0) {
        errors.push(FieldError::invalid("spec.ttlSecondsAfterFinished", ttl, "must be greater than or equal to 0"));
    }
    let mode = spec.completion_mode.as_deref().unwrap_or_default();
    if !["NonIndexed", "Indexed"].contains(&mode) {
        errors.push(FieldError::not_supported("spec.completionMode", mode, &["Indexed", "NonIndexed"]));
    }
    if mode == "Indexed" && spec.completions.is_none() {
        let message = "Required value: when completion mode is Indexed".to_string();
        errors.push(FieldError { reason: "FieldValueRequired", field: "spec.completions".into(), message });
    }
    selects_template(spec.selector.as_ref(), &spec.template, &mut errors);
    job_template(&spec.template, &mut errors, "spec.template");
    errors.extend(unsupported_job_fields(spec, "spec"));
    if let Write::Update { old } = write {
        immutable_selector(old, spec.selector.as_ref().unwrap_or(&LabelSelector::default()), &mut errors);
        let old_template = old.at(&["spec", "template"]).cloned().unwrap_or(Value::Null);
        if serde_json::to_value(&spec.template).ok() != Some(old_template) && old.at(&["spec", "suspend"]) != Some(&Value::Bool(true)) {
            errors.push(FieldError::invalid("spec.template", "…", "field is immutable"));
        }
    }
    errors
}

pub fn cron_job(cj: &mut CronJob) -> Vec<FieldError> {
    let spec = cj.spec.get_or_insert_with(Default::default);
    spec.concurrency_policy.get_or_insert_with(|| "Allow".into());
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    let job_spec = spec.job_template.spec.get_or_insert_with(Default::default);
    pod::default_pod_spec(job_spec.template.spec.get_or_insert_with(Default::default));
    let mut errors = Vec::new();
    if spec.schedule.trim().is_empty() {
        errors.push(FieldError::required("spec.schedule"));
    } else {
        match crate::cron_schedule::Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
            Ok(_) => {}
            Err(e @ (ScheduleError::UnknownTimeZone(_) | ScheduleError::LocalTimeZone)) => {
                errors.push(FieldError::invalid("spec.timeZone", spec.time_zone.as_deref().unwrap_or(""), e.to_string()));
            }
            Err(e) => errors.push(FieldError::invalid("spec.schedule", &spec.schedule, e.to_string())),
        }
    }
    if let Some(deadline) = spec.starting_deadline_seconds.filter(|s| *s < 0) {
        errors.push(FieldError::invalid("spec.startingDeadlineSeconds", deadline, "must be greater than or equal to 0"));
    }
    let policy = spec.concurrency_policy.as_deref().unwrap_or_default();
    if !["Allow", "Forbid", "Replace"].contains(&policy) {
        errors.push(FieldError::not_supported("spec.concurrencyPolicy", policy, &["Allow", "Forbid", "Replace"]));
    }
    job_template(&job_spec.template, &mut errors, "spec.jobTemplate.spec.template");
    errors.extend(unsupported_job_fields(job_spec, "spec.jobTemplate.spec"));
    errors
}

/// An autoscaler's metrics: CPU at 80% of requests by default (as upstream);
/// resource metrics (cpu, memory) only, the ones this cluster measures.
pub fn autoscaler_metrics(spec: &mut HorizontalPodAutoscalerSpec) -> Vec<FieldError> {
    let metrics = spec.metrics.get_or_insert_with(Vec::new);
    if metrics.is_empty() {
        metrics.push(MetricSpec {
            type_: "Resource".into(),
            resource: Some(ResourceMetricSource { name: "cpu".into(), target: MetricTarget { type_: "Utilization".into(), average_utilization: Some(80), ..Default::default() } }),
            ..Default::default()
        });
    }
    let mut errors = Vec::new();
    let behavior = spec.behavior.as_ref();
    for (rules, field) in [(behavior.and_then(|b| b.scale_up.as_ref()), "scaleUp"), (behavior.and_then(|b| b.scale_down.as_ref()), "scaleDown")] {
        if rules.is_some_and(|r| r.tolerance.is_some()) {
            errors.push(FieldError::forbidden(format!("spec.behavior.{field}.tolerance"), "configurable tolerances (alpha in Kubernetes) are not supported by Tabernetes yet"));
        }
    }
    for (i, metric) in metrics.iter().enumerate() {
        let at = format!("spec.metrics[{i}]");
        let Some(resource) = metric.resource.as_ref().filter(|_| metric.type_ == "Resource") else {
            errors.push(FieldError::not_supported(format!("{at}.type"), &metric.type_, &["Resource"]));
            continue;
        };
        if !["cpu", "memory"].contains(&resource.name.as_str()) {
            errors.push(FieldError::not_supported(format!("{at}.resource.name"), &resource.name, &["cpu", "memory"]));
        }
        let target = &resource.target;
        match target.type_.as_str() {
            "Utilization" if target.average_utilization.is_none_or(|u| u < 1) => errors.push(FieldError::invalid(format!("{at}.resource.target.averageUtilization"), target.average_utilization.unwrap_or(0), "must be greater than 0")),
            "AverageValue" if target.average_value.is_none() => errors.push(FieldError::required(format!("{at}.resource.target.averageValue"))),
            "Utilization" | "AverageValue" => {}
            other => errors.push(FieldError::not_supported(format!("{at}.resource.target.type"), other, &["Utilization", "AverageValue"])),
        }
    }
    errors
}

/// Job features the Job controller does not carry out: refused rather
/// than stored and ignored.
fn unsupported_job_fields(spec: &JobSpec, at: &str) -> Vec<FieldError> {
    let refused = [
        (spec.pod_failure_policy.is_some(), "podFailurePolicy", "pod failure policies"),
        (spec.success_policy.is_some(), "successPolicy", "success policies"),
        (spec.backoff_limit_per_index.is_some(), "backoffLimitPerIndex", "backoff limits per index"),
        (spec.max_failed_indexes.is_some(), "maxFailedIndexes", "failed index limits"),
        (spec.managed_by.as_deref().is_some_and(|m| m != "kubernetes.io/job-controller"), "managedBy", "external Job controllers"),
    ];
    refused.into_iter().filter(|(present, _, _)| *present).map(|(_, field, what)| FieldError::forbidden(format!("{at}.{field}"), format!("{what} are not supported by Tabernetes yet"))).collect()
}

fn job_template(template_spec: &PodTemplateSpec, errors: &mut Vec<FieldError>, at: &str) {
    let spec = template_spec.spec.as_ref().expect("defaulted");
    let policy = spec.restart_policy.as_deref().unwrap_or_default();
    // A Job's pods must end; Kubernetes refuses the defaulted Always.
    if !["OnFailure", "Never"].contains(&policy) {
        errors.push(FieldError::not_supported(format!("{at}.spec.restartPolicy"), policy, &["OnFailure", "Never"]));
    }
    errors.extend(pod::validate_pod_spec(spec).into_iter().map(|e| e.under(&format!("{at}.spec"))));
}

fn replicas(field: &str, value: Option<i32>, errors: &mut Vec<FieldError>) {
    if let Some(n) = value.filter(|n| *n < 0) {
        errors.push(FieldError::invalid(field, n, "must be greater than or equal to 0"));
    }
}

/// A controller whose selector does not select its own pods would create them forever.
fn selects_template(selector: Option<&LabelSelector>, template: &PodTemplateSpec, errors: &mut Vec<FieldError>) {
    let Some(selector) = selector else {
        errors.push(FieldError::required("spec.selector"));
        return;
    };
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector.match_expressions.as_ref().is_none_or(|m| m.is_empty());
    if empty {
        errors.push(FieldError::invalid("spec.selector", "{}", "empty selector is invalid for deployment"));
        return;
    }
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    if !crate::labels::selector_matches(selector, &labels) {
        let shown = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect::<Vec<_>>().join(", ");
        errors.push(FieldError::invalid(
            "spec.template.metadata.labels",
            format!("map[string]string{{{shown}}}"),
            "`selector` does not match template `labels`",
        ));
    }
}

fn template(template: &PodTemplateSpec, restart_policies: &[&str], errors: &mut Vec<FieldError>) {
    let spec = template.spec.as_ref().expect("defaulted");
    let policy = spec.restart_policy.as_deref().unwrap_or_default();
    if !restart_policies.contains(&policy) {
        errors.push(FieldError::not_supported("spec.template.spec.restartPolicy", policy, restart_policies));
    }
    if spec.active_deadline_seconds.is_some() {
        errors.push(FieldError::forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"));
    }
    errors.extend(pod::validate_pod_spec(spec).into_iter().map(|e| e.under(TEMPLATE_SPEC)));
}

fn immutable_selector(old: &Value, new: &LabelSelector, errors: &mut Vec<FieldError>) {
    let old_selector = old.at(&["spec", "selector"]).cloned().unwrap_or(Value::Null);
    let new_selector = serde_json::to_value(new).unwrap_or(Value::Null);
    if old_selector != new_selector {
        errors.push(FieldError::invalid("spec.selector", new_selector, "field is immutable"));
    }
}

fn int_or_percent(field: &str, value: &IntOrString, errors: &mut Vec<FieldError>) {
    match value {
        IntOrString::Int(n) if *n < 0 => errors.push(FieldError::invalid(field, n, "must be greater than or equal to 0")),
        IntOrString::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i32>().ok()) {
            Some(p) if (0..=100).contains(&p) => {}
            Some(_) => errors.push(FieldError::invalid(field, s, "must not be greater than 100%")),
            None => errors.push(FieldError::invalid(field, s, "a valid percent string must be a numeric string followed by an ending '%'")),
        },
        IntOrString::Int(_) => {}
    }
}

fn is_zero(value: &IntOrString) -> bool {
    match value {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => s == "0%",
    }
}

fn display(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}
