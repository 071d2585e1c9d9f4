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
