use super::*;
use serde_json::json;

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn server() -> ApiServer {
    ApiServer::new(42, now())
}

fn call(api: &mut ApiServer, req: ApiRequest) -> ApiResponse {
    api.handle(&req.as_user("admin"), now()).into_response()
}

fn hello_pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [{"name": "hello", "image": "hello"}]}})
}

const PODS_PATH: &str = "/api/v1/namespaces/default/pods";

#[test]
fn builtin_namespaces_exist_from_the_start() {
    let mut api = server();
    let list = call(&mut api, ApiRequest::get("/api/v1/namespaces"));
    let names: Vec<&str> = list.json_body().unwrap()["items"].as_array().unwrap().iter().map(|n| n["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["default", "kube-node-lease", "kube-public", "kube-system"]);
}

#[test]
fn create_sets_server_fields_and_defaults() {
    let mut api = server();
    let created = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")));
    assert_eq!(created.status, 201, "{:?}", created);
    let pod = created.json_body().unwrap();
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(pod["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert_eq!(pod["metadata"]["generation"], 1);
    assert_eq!(pod["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z");
    assert!(pod["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(pod["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["spec"]["schedulerName"], "default-scheduler");
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
    assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
    let got = call(&mut api, ApiRequest::get(format!("{PODS_PATH}/a")));
    assert_eq!(got.json_body(), Some(pod));
}

#[test]
fn invalid_pod_is_422_with_field_paths_and_nothing_is_stored() {
    let mut api = server();
    let before = api.store().revision();
    let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "c"}, {"name": "c", "image": "hello"}]}});
    let response = call(&mut api, ApiRequest::post(PODS_PATH, bad));
    assert_eq!(response.status, 422);
    let status = response.json_body().unwrap();
    assert_eq!(status["reason"], "Invalid");
    let fields: Vec<&str> = status["details"]["causes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["metadata.name", "spec.containers[0].image", "spec.containers[1].name", "spec.restartPolicy"]);
    assert_eq!(api.store().revision(), before);
}

#[test]
fn unsupported_pod_features_are_refused_clearly() {
    let mut api = server();
    let mut pod = hello_pod("v");
    pod["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    let response = call(&mut api, ApiRequest::post(PODS_PATH, pod));
    assert_eq!(response.status, 422);
    assert!(response.message().contains("spec.volumes: Forbidden: volumes are not supported by Tabernetes yet"), "{}", response.message());
}

#[test]
fn duplicate_create_is_409_already_exists() {
    let mut api = server();
    call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")));
    let again = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")));
    assert_eq!(again.status, 409);
    assert_eq!(again.json_body().unwrap()["reason"], "AlreadyExists");
    assert_eq!(again.message(), "pods \"a\" already exists");
}

#[test]
fn generate_name_makes_a_unique_name() {
    let mut api = server();
    let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "hello-"}, "spec": {"containers": [{"name": "c", "image": "hello"}]}});
    let a = call(&mut api, ApiRequest::post(PODS_PATH, body.clone()));
    let b = call(&mut api, ApiRequest::post(PODS_PATH, body));
    let name = |r: &ApiResponse| r.json_body().unwrap()["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name(&a).starts_with("hello-") && name(&a).len() == 11, "{}", name(&a));
    assert_ne!(name(&a), name(&b));
}

#[test]
fn missing_namespace_refuses_the_object() {
    let mut api = server();
    let response = call(&mut api, ApiRequest::post("/api/v1/namespaces/nope/pods", hello_pod("a")));
    assert_eq!(response.status, 404);
    assert_eq!(response.message(), "namespaces \"nope\" not found");
}

#[test]
fn stale_update_is_a_409_conflict() {
    let mut api = server();
    let created = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a"))).json_body().unwrap().clone();
    let mut first = created.clone();
    first["metadata"]["labels"] = json!({"v": "1"});
    assert_eq!(call(&mut api, ApiRequest::put(format!("{PODS_PATH}/a"), first)).status, 200);
    let mut stale = created;
    stale["metadata"]["labels"] = json!({"v": "2"});
    let response = call(&mut api, ApiRequest::put(format!("{PODS_PATH}/a"), stale));
    assert_eq!(response.status, 409);
    assert_eq!(response.json_body().unwrap()["reason"], "Conflict");
}

#[test]
fn pod_spec_is_immutable_except_images() {
    let mut api = server();
    let created = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a"))).json_body().unwrap().clone();
    let mut image = created.clone();
    image["spec"]["containers"][0]["image"] = json!("hello:latest");
    let updated = call(&mut api, ApiRequest::put(format!("{PODS_PATH}/a"), image));
    assert_eq!(updated.status, 200, "{}", updated.message());
    assert_eq!(updated.json_body().unwrap()["metadata"]["generation"], 2);
    let mut policy = updated.json_body().unwrap().clone();
    policy["spec"]["restartPolicy"] = json!("Always");
    let refused = call(&mut api, ApiRequest::put(format!("{PODS_PATH}/a"), policy));
    assert_eq!(refused.status, 422);
    assert!(refused.message().contains("pod updates may not change fields"));
}

#[test]
fn status_update_changes_only_status_and_main_update_keeps_status() {
    let mut api = server();
    let created = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a"))).json_body().unwrap().clone();
    let mut status = created.clone();
    status["status"] = json!({"phase": "Running"});
    status["metadata"]["labels"] = json!({"sneaky": "yes"});
    let after = call(&mut api, ApiRequest::put(format!("{PODS_PATH}/a/status"), status));
    assert_eq!(after.status, 200, "{}", after.message());
    let after = after.json_body().unwrap().clone();
    assert_eq!(after["status"]["phase"], "Running");
    assert!(after["metadata"].get("labels").is_none());
    let mut main = after.clone();
    main["status"] = json!({"phase": "Failed"});
    let kept = call(&mut api, ApiRequest::put(format!("{PODS_PATH}/a"), main));
    assert_eq!(kept.json_body().unwrap()["status"]["phase"], "Running");
}

#[test]
fn binding_sets_the_node_once() {
    let mut api = server();
    call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")));
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"}, "target": {"kind": "Node", "name": "n1"}});
    assert_eq!(call(&mut api, ApiRequest::post(format!("{PODS_PATH}/a/binding"), binding.clone())).status, 201);
    let pod = call(&mut api, ApiRequest::get(format!("{PODS_PATH}/a")));
    assert_eq!(pod.json_body().unwrap()["spec"]["nodeName"], "n1");
    assert_eq!(pod.json_body().unwrap()["status"]["conditions"][0]["type"], "PodScheduled");
    assert_eq!(call(&mut api, ApiRequest::post(format!("{PODS_PATH}/a/binding"), binding)).status, 409);
}

#[test]
fn list_filters_by_label_and_field_selectors() {
    let mut api = server();
    for (name, app) in [("a", "web"), ("b", "db")] {
        let mut pod = hello_pod(name);
        pod["metadata"]["labels"] = json!({"app": app});
        call(&mut api, ApiRequest::post(PODS_PATH, pod));
    }
    let names = |r: ApiResponse| r.json_body().unwrap()["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(call(&mut api, ApiRequest::get(PODS_PATH).with_query("labelSelector", "app in (web)"))), vec!["a"]);
    assert_eq!(names(call(&mut api, ApiRequest::get("/api/v1/pods").with_query("fieldSelector", "metadata.name!=a"))), vec!["b"]);
    assert_eq!(names(call(&mut api, ApiRequest::get(PODS_PATH).with_query("fieldSelector", "spec.nodeName="))), vec!["a", "b"]);
    let bad = call(&mut api, ApiRequest::get(PODS_PATH).with_query("fieldSelector", "spec.hostname=x"));
    assert_eq!(bad.status, 400);
    let list = call(&mut api, ApiRequest::get(PODS_PATH));
    assert_eq!(list.json_body().unwrap()["kind"], "PodList");
}

#[test]
fn watch_from_a_revision_then_selector_transitions() {
    let mut api = server();
    let rv = api.store().revision();
    let watch = api.handle(
        &ApiRequest::get("/api/v1/pods").with_query("watch", "true").with_query("fieldSelector", "spec.nodeName=n1").with_query("resourceVersion", &rv.to_string()),
        now(),
    );
    let ApiResult::Watch { id, initial } = watch else { panic!("{watch:?}") };
    assert!(initial.is_empty());
    call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")));
    assert!(api.pump_watches().is_empty(), "an unbound pod does not match spec.nodeName=n1");
    let binding = json!({"target": {"name": "n1"}});
    call(&mut api, ApiRequest::post(format!("{PODS_PATH}/a/binding"), binding));
    // Bound to a node, the pod is first marked (MODIFIED) and goes once the kubelet is done (grace 0).
    assert_eq!(call(&mut api, ApiRequest::delete(format!("{PODS_PATH}/a"))).status, 202);
    call(&mut api, ApiRequest::delete(format!("{PODS_PATH}/a")).with_query("gracePeriodSeconds", "0"));
    let events: Vec<(WatchId, String)> = api.pump_watches().into_iter().map(|(i, e)| (i, e["type"].as_str().unwrap().to_string())).collect();
    assert_eq!(events, vec![(id, "ADDED".to_string()), (id, "MODIFIED".to_string()), (id, "DELETED".to_string())]);
    api.close_watch(id);
    call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("b")));
    assert!(api.pump_watches().is_empty());
}

#[test]
fn watch_without_resource_version_starts_with_current_objects() {
    let mut api = server();
    call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")));
    let ApiResult::Watch { initial, .. } = api.handle(&ApiRequest::get(PODS_PATH).with_query("watch", "1"), now()) else { panic!() };
    assert_eq!(initial.len(), 1);
    assert_eq!(initial[0]["type"], "ADDED");
}

#[test]
fn unknown_resources_and_methods_are_refused() {
    let mut api = server();
    assert_eq!(call(&mut api, ApiRequest::get("/apis/widgets.example.com/v1/namespaces/default/widgets")).status, 404);
    assert_eq!(call(&mut api, ApiRequest::get("/api/v1/namespaces/default/widgets")).status, 404);
    assert_eq!(call(&mut api, ApiRequest::put(PODS_PATH, hello_pod("a"))).status, 405);
    let not_object = call(&mut api, ApiRequest::post(PODS_PATH, json!([1, 2])));
    assert_eq!(not_object.status, 400);
    assert_eq!(not_object.json_body().unwrap()["kind"], "Status");
}

#[test]
fn strict_field_validation_refuses_unknown_fields() {
    let mut api = server();
    let mut pod = hello_pod("a");
    pod["spec"]["containerz"] = json!([]);
    let strict = call(&mut api, ApiRequest::post(PODS_PATH, pod.clone()).with_query("fieldValidation", "Strict"));
    assert_eq!(strict.status, 400);
    assert_eq!(strict.message(), "strict decoding error: unknown field \"spec.containerz\"");
    assert_eq!(call(&mut api, ApiRequest::post(PODS_PATH, pod).with_query("fieldValidation", "Ignore")).status, 201);
}

#[test]
fn dry_run_validates_without_storing() {
    let mut api = server();
    let before = api.store().revision();
    let response = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a")).with_query("dryRun", "All"));
    assert_eq!(response.status, 201);
    assert_eq!(api.store().revision(), before);
    assert_eq!(call(&mut api, ApiRequest::get(format!("{PODS_PATH}/a"))).status, 404);
}

#[test]
fn oversized_objects_are_refused() {
    let mut api = server();
    let mut pod = hello_pod("big");
    pod["metadata"]["annotations"] = json!({"blob": "x".repeat(MAX_OBJECT_BYTES)});
    assert_eq!(call(&mut api, ApiRequest::post(PODS_PATH, pod)).status, 413);
}

#[test]
fn logs_are_served_per_container() {
    let mut api = server();
    let pod = call(&mut api, ApiRequest::post(PODS_PATH, hello_pod("a"))).json_body().unwrap().clone();
    api.append_log(pod["metadata"]["uid"].as_str().unwrap(), "hello", "Hello\nworld\n");
    let log = call(&mut api, ApiRequest::get(format!("{PODS_PATH}/a/log")));
    assert_eq!(log.body, Body::Text("Hello\nworld\n".into()));
    let tail = call(&mut api, ApiRequest::get(format!("{PODS_PATH}/a/log")).with_query("tailLines", "1"));
    assert_eq!(tail.body, Body::Text("world\n".into()));
    assert_eq!(call(&mut api, ApiRequest::get(format!("{PODS_PATH}/a/log")).with_query("container", "nope")).status, 400);
}

#[test]
fn deleting_a_namespace_marks_it_terminating_and_builtins_are_protected() {
    let mut api = server();
    call(&mut api, ApiRequest::post("/api/v1/namespaces", json!({"metadata": {"name": "team"}})));
    call(&mut api, ApiRequest::post("/api/v1/namespaces/team/pods", hello_pod("a")));
    let deleted = call(&mut api, ApiRequest::delete("/api/v1/namespaces/team"));
    assert_eq!(deleted.status, 202, "the namespace controller finishes the deletion");
    assert_eq!(deleted.json_body().unwrap()["status"]["phase"], "Terminating");
    let refused = call(&mut api, ApiRequest::post("/api/v1/namespaces/team/pods", hello_pod("b")));
    assert_eq!(refused.status, 403);
    assert!(refused.message().contains("because it is being terminated"), "{}", refused.message());
    // Once the controller has emptied it and dropped its finalizer, it is gone.
    call(&mut api, ApiRequest::delete("/api/v1/namespaces/team/pods/a"));
    let finalize = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "spec": {"finalizers": []}});
    assert_eq!(call(&mut api, ApiRequest::put("/api/v1/namespaces/team/finalize", finalize)).status, 200);
    assert_eq!(call(&mut api, ApiRequest::get("/api/v1/namespaces/team")).status, 404);
    assert_eq!(call(&mut api, ApiRequest::delete("/api/v1/namespaces/default")).status, 403);
}

#[test]
fn node_taints_are_validated() {
    let mut api = server();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}});
    let response = call(&mut api, ApiRequest::post("/api/v1/nodes", node));
    assert_eq!(response.status, 422);
    assert_eq!(response.json_body().unwrap()["details"]["causes"][0]["field"], "spec.taints[0].effect");
}

#[test]
fn delete_collection_across_namespaces_deletes_in_each() {
    let mut api = server();
    call(&mut api, ApiRequest::post("/api/v1/namespaces", json!({"metadata": {"name": "team"}})));
    let config = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"sweep": "yes"}}});
    call(&mut api, ApiRequest::post("/api/v1/namespaces/default/configmaps", config("a")));
    call(&mut api, ApiRequest::post("/api/v1/namespaces/team/configmaps", config("b")));
    let swept = call(&mut api, ApiRequest::delete("/api/v1/configmaps").with_query("labelSelector", "sweep=yes"));
    assert_eq!(swept.status, 200, "{:?}", swept.json_body());
    assert_eq!(swept.json_body().unwrap()["items"].as_array().unwrap().len(), 2);
    assert_eq!(call(&mut api, ApiRequest::get("/api/v1/namespaces/team/configmaps/b")).status, 404);
}

#[test]
fn submit_stores_what_handle_would_and_fails_with_its_response() {
    let (mut lent, mut handed) = (server(), server());
    let create = ApiRequest::post(PODS_PATH, hello_pod("a")).as_user("admin");
    call(&mut lent, create.clone());
    assert_eq!(handed.submit(create, now()), Ok(()));
    let key = ObjectKey::new("pods", "default", "a");
    assert_eq!(lent.store().get(&key), handed.store().get(&key));
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"}, "target": {"kind": "Node", "name": "n1"}});
    let bind = ApiRequest::post(format!("{PODS_PATH}/a/binding"), binding).as_user("admin");
    assert_eq!(call(&mut lent, bind.clone()).status, 201);
    assert_eq!(handed.submit(bind.clone(), now()), Ok(()));
    assert_eq!(lent.store().get(&key), handed.store().get(&key));
    assert_eq!(handed.submit(bind.clone(), now()), Err(call(&mut lent, bind)), "a second binding conflicts either way");
}
