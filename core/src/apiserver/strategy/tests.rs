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

mod priority_admission {
    use super::super::pod::{admit_priority, PriorityClassInfo};
    use crate::apiserver::ApiError;
    use serde_json::{json, Value};

    fn class(name: &str, value: i64, global_default: bool, policy: &str) -> PriorityClassInfo {
        PriorityClassInfo { name: name.into(), value, global_default, preemption_policy: Some(policy.into()) }
    }

    fn admit(spec: Value, classes: &[PriorityClassInfo]) -> Result<Value, String> {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": spec});
        admit_priority(&mut pod, classes).map(|()| pod["spec"].clone()).map_err(|e| match e {
            ApiError::Forbidden { message } => message,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn table() {
        let high = class("high", 1000, false, "PreemptLowerPriority");
        let polite = class("polite", 500, false, "Never");
        let default = class("default", 10, true, "PreemptLowerPriority");
        let lowest_default = class("lowest-default", 5, true, "Never");
        let cases: Vec<(Value, Vec<PriorityClassInfo>, Result<Value, &str>)> = vec![
            (json!({}), vec![], Ok(json!({"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}))),
            (json!({"priorityClassName": "high"}), vec![high.clone()], Ok(json!({"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "PreemptLowerPriority"}))),
            (json!({"priorityClassName": "polite"}), vec![polite.clone()], Ok(json!({"priorityClassName": "polite", "priority": 500, "preemptionPolicy": "Never"}))),
            (json!({}), vec![high.clone(), default.clone(), lowest_default], Ok(json!({"priorityClassName": "lowest-default", "priority": 5, "preemptionPolicy": "Never"}))),
            (json!({"priorityClassName": "high", "priority": 1000}), vec![high.clone()], Ok(json!({"priorityClassName": "high", "priority": 1000, "preemptionPolicy": "PreemptLowerPriority"}))),
            (json!({"priorityClassName": "missing"}), vec![high.clone()], Err("pods \"p\" is forbidden: no PriorityClass with name missing was found")),
            (json!({"priorityClassName": "high", "priority": 7}), vec![high.clone()], Err("pods \"p\" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name")),
            (json!({"priorityClassName": "polite", "preemptionPolicy": "PreemptLowerPriority"}), vec![polite], Err("pods \"p\" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name")),
        ];
        for (spec, classes, want) in cases {
            assert_eq!(admit(spec.clone(), &classes), want.map_err(String::from), "{spec}");
        }
    }

    #[test]
    fn through_the_api_server_with_the_system_classes() {
        use crate::apiserver::{ApiRequest, ApiServer};
        let now = crate::Timestamp::from_second(1_800_000_000).unwrap();
        let mut api = ApiServer::new(1, now);
        let create = |api: &mut ApiServer, name: &str, class: &str| {
            let pod = json!({"metadata": {"name": name}, "spec": {"priorityClassName": class, "containers": [{"name": "c", "image": "hello"}]}});
            api.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", pod), now).into_response()
        };
        let created = create(&mut api, "critical", "system-node-critical");
        assert_eq!(created.status, 201, "{}", created.message());
        assert_eq!(created.json_body().unwrap()["spec"]["priority"], 2_000_001_000);
        let refused = create(&mut api, "unknown", "gold");
        assert_eq!((refused.status, refused.message()), (403, "pods \"unknown\" is forbidden: no PriorityClass with name gold was found".to_string()));
        // An update that leaves the priority out keeps it.
        let mut pod = created.json_body().unwrap().clone();
        pod["spec"].as_object_mut().unwrap().remove("priority");
        pod["metadata"]["labels"] = json!({"a": "b"});
        let updated = api.handle(&ApiRequest::put("/api/v1/namespaces/default/pods/critical", pod), now).into_response();
        assert_eq!(updated.status, 200, "{}", updated.message());
        assert_eq!(updated.json_body().unwrap()["spec"]["priority"], 2_000_001_000);
    }
}

#[test]
fn affinity_and_spread_constraints_are_accepted_and_validated() {
    let p = pod(json!({"containers": [{"name": "c", "image": "hello"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}));
    assert_eq!(validate_pod_spec(p.spec.as_ref().unwrap()), vec![]);
    let bad = pod(json!({"containers": [{"name": "c", "image": "hello"}], "preemptionPolicy": "Sometimes",
        "topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}));
    let fields: Vec<String> = validate_pod_spec(bad.spec.as_ref().unwrap()).into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["spec.topologySpreadConstraints[0].maxSkew", "spec.preemptionPolicy"]);
}
