//! The `metrics.k8s.io/v1beta1` API, as metrics-server serves it behind the
//! aggregation layer: PodMetrics and NodeMetrics, read-only, built from the
//! latest scrape the API server keeps ([`ResourceMetrics`]). `kubectl top`
//! reads it. Like metrics-server, it answers get and list (with label and
//! field selectors, matched against the pod or node itself), and nothing else.

use crate::json_path::JsonPath;
use super::read::list_body;
use super::resources::{RequestTarget, NODES, NODE_METRICS, PODS};
use super::{ApiError, ApiRequest, ApiResponse, ApiServer, Method};
use crate::metrics_server::{NodeUsage, PodUsage};
use crate::object_meta::uid;
use k8s_openapi::jiff::SignedDuration;
use serde_json::{json, Value};

impl ApiServer {
    /// Serves an authorized request for PodMetrics or NodeMetrics.
    pub(super) fn serve_metrics(&self, req: &ApiRequest, target: &RequestTarget) -> Result<ApiResponse, ApiError> {
        if req.method != Method::Get || req.flag("watch") {
            return Err(ApiError::MethodNotAllowed);
        }
        let nodes = target.resource.kind == NODE_METRICS.kind;
        let api_version = target.resource.api_version();
        if let Some(name) = &target.name {
            let namespace = target.namespace.as_deref().unwrap_or_default();
            let found = if nodes {
                self.metrics.node(name).and_then(|usage| Some(node_metrics(self.store.get_at(&NODES.storage_name(), "", name)?, usage, &api_version)))
            } else {
                self.store.get_at(&PODS.storage_name(), namespace, name).and_then(|pod| Some(pod_metrics(pod, self.metrics.usage_of(pod)?, &api_version)))
            };
            return found.map(|item| ApiResponse::json(200, item)).ok_or_else(|| Self::not_found(target.resource, name));
        }
        let (labels, fields) = Self::selectors(req, target.resource)?;
        let selected = |object: &Value| labels.matches(object) && fields.matches(object);
        let items: Vec<Value> = if nodes {
            let nodes = self.metrics.nodes().filter_map(|usage| Some((self.store.get_at(&NODES.storage_name(), "", &usage.node)?, usage)));
            nodes.filter(|(node, _)| selected(node)).map(|(node, usage)| node_metrics(node, usage, &api_version)).collect()
        } else {
            let in_namespace = |p: &&PodUsage| target.namespace.as_deref().is_none_or(|ns| p.namespace == ns);
            // Only a scrape of the stored pod itself (same UID) counts, as `usage_of` decides.
            let pods = self.metrics.pods().filter(in_namespace).filter_map(|usage| Some((self.store.get_at(&PODS.storage_name(), &usage.namespace, &usage.name)?, usage)));
            pods.filter(|(pod, usage)| usage.uid == uid(pod) && selected(pod)).map(|(pod, usage)| pod_metrics(pod, usage, &api_version)).collect()
        };
        Ok(ApiResponse::json(200, list_body(target.resource, json!({}), items)))
    }
}

/// A PodMetrics, labelled as its pod is.
fn pod_metrics(pod: &Value, usage: &PodUsage, api_version: &str) -> Value {
    let containers: Vec<Value> = usage.containers.iter().map(|c| json!({"name": c.name, "usage": usage_quantities(c.cpu_millis, c.memory_bytes)})).collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": api_version,
        "metadata": {"name": usage.name, "namespace": usage.namespace, "labels": pod.at(&["metadata", "labels"]).cloned().unwrap_or(json!({})), "creationTimestamp": usage.timestamp.to_string()},
        "timestamp": usage.timestamp.to_string(),
        "window": duration(usage.window),
        "containers": containers,
    })
}

fn node_metrics(node: &Value, usage: &NodeUsage, api_version: &str) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": api_version,
        "metadata": {"name": usage.node, "labels": node.at(&["metadata", "labels"]).cloned().unwrap_or(json!({})), "creationTimestamp": usage.timestamp.to_string()},
        "timestamp": usage.timestamp.to_string(),
        "window": duration(usage.window),
        "usage": usage_quantities(usage.cpu_millis, usage.memory_bytes),
    })
}

/// CPU in millicores and memory in KiB, as `kubectl top` prints them.
fn usage_quantities(cpu_millis: i64, memory_bytes: i64) -> Value {
    json!({"cpu": format!("{cpu_millis}m"), "memory": crate::quantity::format_kibibytes(memory_bytes.max(0) as u64)})
}

/// A metav1.Duration as Go prints it: `15s`, `1m0s`.
fn duration(window: SignedDuration) -> String {
    let seconds = window.as_secs();
    if seconds < 60 {
        format!("{seconds}s")
    } else {
        format!("{}m{}s", seconds / 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use crate::apiserver::{ApiRequest, ApiResult};
    use crate::metrics_server::{ContainerUsage, NodeUsage, PodUsage, RESOLUTION};
    use crate::ControlPlane;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::{json, Value};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    /// A cluster with node `n1`, pods `web` (app=web) and `db` bound to it, and a scrape of both.
    fn cluster() -> ControlPlane {
        let mut plane = ControlPlane::new(1, now());
        let created = |result: ApiResult| match result {
            ApiResult::Response(r) => {
                assert!(r.is_success(), "{}", r.message());
                r.json_body().cloned().unwrap()
            }
            ApiResult::Watch { .. } => panic!("a watch"),
        };
        created(plane.handle(&ApiRequest::post("/api/v1/nodes", json!({"metadata": {"name": "n1", "labels": {"zone": "a"}}})), now()));
        let mut pods = Vec::new();
        for (name, app) in [("web", "web"), ("db", "db")] {
            let body = json!({"metadata": {"name": name, "labels": {"app": app}}, "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "hello"}]}});
            let pod = created(plane.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", body), now()));
            let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
            pods.push(PodUsage {
                namespace: "default".into(),
                name: name.into(),
                uid,
                timestamp: now(),
                window: RESOLUTION,
                containers: vec![ContainerUsage { name: "main".into(), cpu_millis: if name == "web" { 250 } else { 5 }, memory_bytes: 2 << 20 }],
            });
        }
        plane.record_node_metrics("n1", NodeUsage { node: "n1".into(), timestamp: now(), window: RESOLUTION, cpu_millis: 255, memory_bytes: 4 << 20, pods }, now());
        plane
    }

    fn get(plane: &ControlPlane, path: &str, user: &str, groups: &[&str]) -> (u16, Value) {
        let request = match path.split_once('?') {
            Some((path, query)) => query.split('&').filter_map(|kv| kv.split_once('=')).fold(ApiRequest::get(path), |r, (k, v)| r.with_query(k, v)),
            None => ApiRequest::get(path),
        };
        let response = plane.read(&request.as_user(user).in_groups(groups), now());
        (response.status, response.json_body().cloned().unwrap_or(Value::Null))
    }

    #[test]
    fn pod_metrics_are_listed_selected_and_got_as_metrics_server_serves_them() {
        let plane = cluster();
        let admin = ("admin", &["system:masters"][..]);
        let (status, list) = get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", admin.0, admin.1);
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["kind"], "PodMetricsList");
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let (_, selected) = get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app==web", admin.0, admin.1);
        let names: Vec<&str> = selected["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["web"]);
        let (status, web) = get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", admin.0, admin.1);
        assert_eq!(status, 200);
        assert_eq!(web["apiVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(web["containers"], json!([{"name": "main", "usage": {"cpu": "250m", "memory": "2048Ki"}}]));
        assert_eq!(web["window"], "15s");
        assert_eq!(get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/other/pods/web", admin.0, admin.1).0, 404);
        let (_, all) = get(&plane, "/apis/metrics.k8s.io/v1beta1/pods", admin.0, admin.1);
        assert_eq!(all["items"].as_array().unwrap().len(), 2, "across namespaces");
    }

    #[test]
    fn node_metrics_carry_the_nodes_labels_and_usage() {
        let plane = cluster();
        let (status, node) = get(&plane, "/apis/metrics.k8s.io/v1beta1/nodes/n1", "admin", &["system:masters"]);
        assert_eq!(status, 200, "{node}");
        assert_eq!(node["usage"], json!({"cpu": "255m", "memory": "4096Ki"}));
        assert_eq!(node["metadata"]["labels"]["zone"], "a");
    }

    #[test]
    fn viewers_may_read_metrics_but_nobody_may_write_or_watch_them() {
        let mut plane = cluster();
        let (status, _) = get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", crate::apiserver::authz::VIEWER, &["system:authenticated"]);
        assert_eq!(status, 200, "view includes metrics, as metrics-server's aggregated reader role does");
        let (status, _) = get(&plane, "/apis/metrics.k8s.io/v1beta1/nodes", "someone", &["system:authenticated"]);
        assert_eq!(status, 403);
        let post = ApiRequest::post("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", json!({"metadata": {"name": "x"}}));
        let ApiResult::Response(refused) = plane.handle(&post, now()) else { panic!("a watch") };
        assert_eq!(refused.status, 405);
        let watch = ApiRequest::get("/apis/metrics.k8s.io/v1beta1/nodes").with_query("watch", "true");
        let ApiResult::Response(refused) = plane.handle(&watch, now()) else { panic!("a watch opened") };
        assert_eq!(refused.status, 405);
    }

    #[test]
    fn a_pod_deleted_or_replaced_since_the_scrape_has_no_metrics() {
        let mut plane = cluster();
        let delete = ApiRequest::delete("/api/v1/namespaces/default/pods/db").with_query("gracePeriodSeconds", "0");
        let ApiResult::Response(deleted) = plane.handle(&delete, now()) else { panic!("a watch") };
        assert!(deleted.is_success(), "{}", deleted.message());
        assert_eq!(get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db", "admin", &["system:masters"]).0, 404);
        // A new pod of the same name is not the one scraped: neither got nor listed.
        let again = json!({"metadata": {"name": "db"}, "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "hello"}]}});
        let ApiResult::Response(created) = plane.handle(&ApiRequest::post("/api/v1/namespaces/default/pods", again), now()) else { panic!("a watch") };
        assert!(created.is_success(), "{}", created.message());
        assert_eq!(get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db", "admin", &["system:masters"]).0, 404);
        let (status, list) = get(&plane, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", "admin", &["system:masters"]);
        assert_eq!(status, 200);
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["web"]);
    }
}
