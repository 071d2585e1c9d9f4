use super::pod::*;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
}

#[test]
fn qos_classes() {
    let cases = [
        (json!({"containers": [{"name": "c"}]}), "BestEffort"),
        (json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}), "Burstable"),
        (json!({"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}), "Guaranteed"),
        (json!({"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]}), "Burstable"),
    ];
    for (spec, want) in cases {
        let mut p = pod(spec.clone());
        default_pod(&mut p);
        assert_eq!(qos_class(p.spec.as_ref().unwrap()), want, "{spec}");
    }
}

#[test]
fn image_pull_policy_defaults_by_tag() {
    for (image, want) in [("hello", "Always"), ("hello:latest", "Always"), ("hello:v1", "IfNotPresent"), ("registry:5000/hello", "Always")] {
        let mut p = pod(json!({"containers": [{"name": "c", "image": image}]}));
        default_pod(&mut p);
        assert_eq!(p.spec.unwrap().containers[0].image_pull_policy.as_deref(), Some(want), "{image}");
    }
}

#[test]
fn requests_above_limits_are_invalid() {
    let p = pod(json!({"containers": [{"name": "c", "image": "hello", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}));
    let errors = validate_pod_spec(p.spec.as_ref().unwrap());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "spec.containers[0].resources.requests");
    assert!(errors[0].message.contains("must be less than or equal to cpu limit of 1"));
}

#[test]
fn malformed_quantities_are_invalid() {
    let p = pod(json!({"containers": [{"name": "c", "image": "hello", "resources": {"limits": {"memory": "lots"}}}]}));
    let errors = validate_pod_spec(p.spec.as_ref().unwrap());
    assert_eq!(errors[0].field, "spec.containers[0].resources.limits[memory]");
}

#[test]
fn workload_features_that_are_not_carried_out_are_refused() {
    use super::workloads::{autoscaler_metrics, cron_job, job};
    use super::Write;
    let template = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "hello"}]}});
    // (extra Job spec, the field refused)
    let jobs = [
        (json!({"podFailurePolicy": {"rules": []}}), Some("spec.podFailurePolicy")),
        (json!({"backoffLimitPerIndex": 1, "completionMode": "Indexed", "completions": 2}), Some("spec.backoffLimitPerIndex")),
        (json!({"managedBy": "example.com/queue"}), Some("spec.managedBy")),
        (json!({"completionMode": "Indexed", "parallelism": 2}), Some("spec.completions")),
        (json!({"completionMode": "Indexed", "completions": 3}), None),
    ];
    for (extra, refused) in jobs {
        let mut spec = json!({"template": template});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let mut j = serde_json::from_value(json!({"metadata": {"name": "j", "uid": "u"}, "spec": spec})).unwrap();
        let fields: Vec<String> = job(&mut j, Write::Create).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, refused.map(String::from).into_iter().collect::<Vec<_>>(), "{extra}");
    }
    // (schedule, time zone, the field refused)
    let cron_jobs = [("*/5 * * * *", None, None), ("@hourly", Some("Europe/Paris"), None), ("5 * * *", None, Some("spec.schedule")), ("0 * * * *", Some("Nowhere/Town"), Some("spec.timeZone"))];
    for (schedule, zone, refused) in cron_jobs {
        let mut cj = serde_json::from_value(json!({"metadata": {"name": "c"}, "spec": {"schedule": schedule, "timeZone": zone, "jobTemplate": {"spec": {"template": template}}}})).unwrap();
        let fields: Vec<String> = cron_job(&mut cj).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, refused.map(String::from).into_iter().collect::<Vec<_>>(), "{schedule} {zone:?}");
    }
    let mut spec = serde_json::from_value(json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3})).unwrap();
    assert!(autoscaler_metrics(&mut spec).is_empty());
    assert_eq!(serde_json::to_value(&spec).unwrap()["metrics"], json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]), "CPU at 80% by default");
    let mut pods_metric = serde_json::from_value(json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3, "metrics": [{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1"}}}]})).unwrap();
    assert_eq!(autoscaler_metrics(&mut pods_metric)[0].field, "spec.metrics[0].type");
}
