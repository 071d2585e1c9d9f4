//! Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! `kubectl get` prints whatever columns the server sends, so these follow
//! upstream's `pkg/printers/internalversion/printers.go` column for column and
//! cell for cell. Like upstream's storage convertor, every table is generated
//! "wide": priority-1 columns are always present and kubectl drops them unless
//! asked for `-o wide`. Resources upstream serves through the default table
//! convertor (roles, clusterroles, and anything without a printer here) get its
//! NAME + CREATED AT columns.

use crate::json_path::JsonPath;
use serde_json::{json, Map, Value};

/// Builds a meta.k8s.io/v1 Table for `objects` (full JSON objects of one resource, e.g. pods).
/// `resource_plural` is e.g. "pods", "deployments", "nodes". `now_unix_seconds` is "now" for AGE columns.
/// `include_object` is the `includeObject` query param: "None" | "Metadata" (default) | "Object";
/// rows carry `object` as PartialObjectMetadata (apiVersion meta.k8s.io/v1, kind PartialObjectMetadata, with metadata)
/// for Metadata, the full object for Object. Upstream answers any other value with 400
/// `unrecognized includeObject value`; callers should reject it before getting here (it is treated as Metadata).
/// `list_metadata` is copied to the Table's `metadata` (resourceVersion, continue).
pub fn table(
    resource_plural: &str,
    objects: &[&serde_json::Value],
    now_unix_seconds: i64,
    include_object: &str,
    list_metadata: serde_json::Value,
) -> serde_json::Value {
    let (columns, print) = printer(resource_plural);
    let now = now_unix_seconds.saturating_mul(NANOS);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(print(obj, now)));
            if resource_plural == "pods" {
                if let Some(conditions) = pod_row_conditions(obj) {
                    row.insert("conditions".into(), conditions);
                }
            }
            row.insert("object".into(), row_object(obj, include_object));
            Value::Object(row)
        })
        .collect();
    let column_definitions: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let metadata = if list_metadata.is_null() { json!({}) } else { list_metadata };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

/// What `includeObject` puts in a row, as upstream's `asTable` does. `None`
/// leaves an empty RawExtension, which Go serialises as `null`.
fn row_object(obj: &Value, include_object: &str) -> Value {
    match include_object {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": at(obj, &["metadata"]).as_object().cloned().unwrap_or_default(),
        }),
    }
}

// ---------------------------------------------------------------------------
// Column definitions

struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    description: &'static str,
    priority: u8,
}

const fn col(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column { name, kind, format: "", description, priority: 0 }
}

/// A priority-1 column: only shown by `kubectl get -o wide`.
const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column { name, kind, format: "", description, priority: 1 }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

const NAME: Column = Column { name: "Name", kind: "string", format: "name", description: NAME_DESC, priority: 0 };
const AGE: Column = col("Age", "string", AGE_DESC);
const CONTAINERS: Column = wide("Containers", "string", CONTAINERS_DESC);
const IMAGES: Column = wide("Images", "string", IMAGES_DESC);

const POD_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    wide("Node", "string", "NodeName indicates in which node this pod is scheduled."),
    wide("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods."),
    wide("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness."),
];

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    ),
];

const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", "Replicas is the number of desired replicas."),
    col("Current", "integer", "Replicas is the most recently observed number of replicas."),
    col("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", "Selector is a label query over pods that should match the replica count."),
];

const DAEMON_SET_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
    col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition."),
    col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
    col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", "A label query over pods that are managed by the daemon set."),
];

const STATEFUL_SET_COLUMNS: &[Column] = &[NAME, col("Ready", "string", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES];

const JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col("Completions", "string", "The number of pods which reached phase Succeeded."),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", "A label query over pods that should match the pod count."),
];

const CRON_JOB_COLUMNS: &[Column] = &[
    NAME,
    col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    col(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    col(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.",
    ),
    col("Active", "integer", "A list of pointers to currently running jobs."),
    col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "string", "A label query over pods that should match the pod count."),
];

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP."),
    col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
    col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    col("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE,
    wide("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
];

const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    col("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
    col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
    col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
    col("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

const ENDPOINTS_COLUMNS: &[Column] = &[NAME, col("Endpoints", "string", "The set of all endpoints is the union of all subsets."), AGE];

const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    col("AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice."),
    col("Ports", "string", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    col("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
    AGE,
];

const NODE_ADDRESSES_DESC: &str = "List of addresses reachable to the node. Queried from cloud provider, if available.";
const NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide("Internal-IP", "string", NODE_ADDRESSES_DESC),
    wide("External-IP", "string", NODE_ADDRESSES_DESC),
    wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

/// Upstream's event columns: kubectl shows LAST SEEN, TYPE, REASON, OBJECT,
/// MESSAGE; the rest only with `-o wide`, in this (odd but upstream) order.
const EVENT_COLUMNS: &[Column] = &[
    col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col("Object", "string", "The object that this event is about."),
    wide("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
    wide("Source", "string", "The component reporting this event. Should be a short machine understandable string."),
    col("Message", "string", "A human-readable description of the status of this operation."),
    wide("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    wide("Count", "string", "The number of times this event has occurred."),
    Column { name: "Name", kind: "string", format: "name", description: NAME_DESC, priority: 1 },
];

const NAMESPACE_COLUMNS: &[Column] = &[NAME, col("Status", "string", "The status of the namespace"), AGE];
const CONFIG_MAP_COLUMNS: &[Column] = &[NAME, col("Data", "string", "Data contains the configuration data."), AGE];
const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", "Used to facilitate programmatic handling of secret data."),
    col("Data", "string", "Data contains the secret data."),
    AGE,
];
const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

const HPA_COLUMNS: &[Column] = &[
    NAME,
    col("Reference", "string", "scaleTargetRef points to the target resource to scale."),
    col("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count."),
    col("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
    col("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
    col(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
    ),
    AGE,
];

const LEASE_COLUMNS: &[Column] =
    &[NAME, col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."), AGE];

const PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col("Value", "integer", "The value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec."),
    col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
    AGE,
    col("PreemptionPolicy", "string", "PreemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority."),
];

const ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    AGE,
    wide("Users", "string", "Users in the roleBinding"),
    wide("Groups", "string", "Groups in the roleBinding"),
    wide("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
];

const CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col("Role", "string", "RoleRef can only reference a ClusterRole in the global namespace."),
    AGE,
    wide("Users", "string", "Users in the clusterRoleBinding"),
    wide("Groups", "string", "Groups in the clusterRoleBinding"),
    wide("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding"),
];

const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    col("Controller", "string", "Controller of the object"),
    col("Revision", "string", "Revision indicates the revision of the state represented by Data."),
    AGE,
];

/// Upstream's `rest.NewDefaultTableConvertor`: the creation time as an RFC3339
/// date, not an age (this is why `kubectl get roles` prints CREATED AT).
const DEFAULT_COLUMNS: &[Column] = &[NAME, col("Created At", "date", AGE_DESC)];

type Printer = fn(&Value, i64) -> Vec<Value>;

fn printer(resource_plural: &str) -> (&'static [Column], Printer) {
    match resource_plural {
        "pods" => (POD_COLUMNS, pod_cells),
        "deployments" => (DEPLOYMENT_COLUMNS, deployment_cells),
        "replicasets" => (REPLICA_SET_COLUMNS, replica_set_cells),
        "daemonsets" => (DAEMON_SET_COLUMNS, daemon_set_cells),
        "statefulsets" => (STATEFUL_SET_COLUMNS, stateful_set_cells),
        "jobs" => (JOB_COLUMNS, job_cells),
        "cronjobs" => (CRON_JOB_COLUMNS, cron_job_cells),
        "services" => (SERVICE_COLUMNS, service_cells),
        "ingresses" => (INGRESS_COLUMNS, ingress_cells),
        "endpoints" => (ENDPOINTS_COLUMNS, endpoints_cells),
        "endpointslices" => (ENDPOINT_SLICE_COLUMNS, endpoint_slice_cells),
        "nodes" => (NODE_COLUMNS, node_cells),
        "events" => (EVENT_COLUMNS, event_cells),
        "namespaces" => (NAMESPACE_COLUMNS, |o, now| vec![name(o), str_at(o, &["status", "phase"]).into(), age(o, now)]),
        "configmaps" => (CONFIG_MAP_COLUMNS, |o, now| {
            let count = obj_len(at(o, &["data"])) + obj_len(at(o, &["binaryData"]));
            vec![name(o), count.into(), age(o, now)]
        }),
        "secrets" => (SECRET_COLUMNS, |o, now| vec![name(o), str_at(o, &["type"]).into(), obj_len(at(o, &["data"])).into(), age(o, now)]),
        "serviceaccounts" => (SERVICE_ACCOUNT_COLUMNS, |o, now| vec![name(o), list_at(o, &["secrets"]).len().into(), age(o, now)]),
        "horizontalpodautoscalers" => (HPA_COLUMNS, hpa_cells),
        "leases" => (LEASE_COLUMNS, |o, now| vec![name(o), str_at(o, &["spec", "holderIdentity"]).into(), age(o, now)]),
        "priorityclasses" => (PRIORITY_CLASS_COLUMNS, |o, now| {
            let global_default = at(o, &["globalDefault"]).as_bool().unwrap_or(false);
            vec![name(o), int_at(o, &["value"]).into(), global_default.into(), age(o, now), str_at(o, &["preemptionPolicy"]).into()]
        }),
        "rolebindings" => (ROLE_BINDING_COLUMNS, binding_cells),
        "clusterrolebindings" => (CLUSTER_ROLE_BINDING_COLUMNS, binding_cells),
        "controllerrevisions" => (CONTROLLER_REVISION_COLUMNS, controller_revision_cells),
        _ => (DEFAULT_COLUMNS, |o, _| {
            // A missing timestamp is Go's zero time.
            let created = parse_time(str_at(o, &["metadata", "creationTimestamp"]))
                .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), format_rfc3339);
            vec![name(o), created.into()]
        }),
    }
}

// ---------------------------------------------------------------------------
// Pods

fn pod_cells(pod: &Value, now: i64) -> Vec<Value> {
    let spec = at(pod, &["spec"]);
    let status = at(pod, &["status"]);
    let phase = str_at(status, &["phase"]);
    let init_specs = list_at(spec, &["initContainers"]);
    // Sidecars (init containers with restartPolicy Always) count towards READY.
    let is_sidecar = |name: &str| init_specs.iter().any(|c| str_at(c, &["name"]) == name && str_at(c, &["restartPolicy"]) == "Always");
    let total = list_at(spec, &["containers"]).len() + init_specs.iter().filter(|c| str_at(c, &["restartPolicy"]) == "Always").count();
    let mut ready = 0;
    let (mut restarts, mut sidecar_restarts) = (0, 0);
    let (mut last_restart, mut last_sidecar_restart) = (None, None);

    let mut reason = match str_at(status, &["reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if list_at(status, &["conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    // Init containers: the first one that has not finished decides the status.
    let mut initializing = false;
    for (i, cs) in list_at(status, &["initContainerStatuses"]).iter().enumerate() {
        let count = int_at(cs, &["restartCount"]);
        restarts += count;
        let finished = last_finished_at(cs);
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(str_at(cs, &["name"]));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = at(cs, &["state", "terminated"]);
        let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
        if terminated.is_object() && int_at(terminated, &["exitCode"]) == 0 {
            continue;
        }
        if sidecar && at(cs, &["started"]).as_bool() == Some(true) {
            if at(cs, &["ready"]).as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if terminated.is_object() {
            match str_at(terminated, &["reason"]) {
                "" => match int_at(terminated, &["signal"]) {
                    0 => format!("Init:ExitCode:{}", int_at(terminated, &["exitCode"])),
                    signal => format!("Init:Signal:{signal}"),
                },
                r => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{}/{}", i, init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        // Only sidecar restarts carry over; regular init containers are done.
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Reverse order so the first container's state wins, as upstream.
        for cs in list_at(status, &["containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]);
            last_restart = later(last_restart, last_finished_at(cs));
            let terminated = at(cs, &["state", "terminated"]);
            let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if terminated.is_object() {
                reason = match (str_at(terminated, &["reason"]), int_at(terminated, &["signal"])) {
                    ("", 0) => format!("ExitCode:{}", int_at(terminated, &["exitCode"])),
                    ("", signal) => format!("Signal:{signal}"),
                    (r, _) => r.to_string(),
                };
            } else if at(cs, &["ready"]).as_bool() == Some(true) && at(cs, &["state", "running"]).is_object() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container exited 0 but another still runs is not Completed.
        if reason == "Completed" && has_running {
            // Unlike the other condition checks upstream, any True Ready condition counts here.
            let pod_ready =
                list_at(status, &["conditions"]).iter().any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    if is_set(at(pod, &["metadata", "deletionTimestamp"])) {
        if str_at(status, &["reason"]) == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };

    // Wide columns. The internal API keeps only podIPs; v1 objects that set just podIP convert to it.
    let pod_ip = list_at(status, &["podIPs"]).first().map(|ip| str_at(ip, &["ip"])).unwrap_or_else(|| str_at(status, &["podIP"]));
    let gates = list_at(spec, &["readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passed = gates
            .iter()
            .filter(|g| {
                let wanted = str_at(g, &["conditionType"]);
                list_at(status, &["conditions"])
                    .iter()
                    .find(|c| str_at(c, &["type"]) == wanted)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{passed}/{}", gates.len())
    };
    vec![
        name(pod),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts.into(),
        age(pod, now),
        or_none(pod_ip).into(),
        or_none(str_at(spec, &["nodeName"])).into(),
        or_none(str_at(status, &["nominatedNodeName"])).into(),
        readiness_gates.into(),
    ]
}

/// Succeeded and Failed pods are marked Completed, as upstream's printer does.
fn pod_row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// `lastState.terminated.finishedAt`, when the container has restarted.
fn last_finished_at(cs: &Value) -> Option<i64> {
    parse_time(str_at(cs, &["lastState", "terminated", "finishedAt"]))
}

fn later(current: Option<i64>, candidate: Option<i64>) -> Option<i64> {
    match (current, candidate) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether the first condition of this type has status True (upstream stops at the first match).
fn condition_true(status: &Value, kind: &str) -> bool {
    list_at(status, &["conditions"]).iter().find(|c| str_at(c, &["type"]) == kind).is_some_and(|c| str_at(c, &["status"]) == "True")
}

// ---------------------------------------------------------------------------
// Workloads

fn deployment_cells(d: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(at(d, &["spec", "template"]));
    // Unlike the other workloads, an empty deployment selector prints as "" rather than "<none>".
    let selector = label_selector(at(d, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".into());
    vec![
        name(d),
        format!("{}/{}", int_at(d, &["status", "readyReplicas"]), replicas(d)).into(),
        int_at(d, &["status", "updatedReplicas"]).into(),
        int_at(d, &["status", "availableReplicas"]).into(),
        age(d, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

fn replica_set_cells(rs: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(at(rs, &["spec", "template"]));
    vec![
        name(rs),
        replicas(rs).into(),
        int_at(rs, &["status", "replicas"]).into(),
        int_at(rs, &["status", "readyReplicas"]).into(),
        age(rs, now),
        names.into(),
        images.into(),
        format_label_selector(at(rs, &["spec", "selector"])).into(),
    ]
}

fn daemon_set_cells(ds: &Value, now: i64) -> Vec<Value> {
    let status = at(ds, &["status"]);
    let (names, images) = containers(at(ds, &["spec", "template"]));
    vec![
        name(ds),
        int_at(status, &["desiredNumberScheduled"]).into(),
        int_at(status, &["currentNumberScheduled"]).into(),
        int_at(status, &["numberReady"]).into(),
        int_at(status, &["updatedNumberScheduled"]).into(),
        int_at(status, &["numberAvailable"]).into(),
        format_labels(at(ds, &["spec", "template", "spec", "nodeSelector"])).into(),
        age(ds, now),
        names.into(),
        images.into(),
        format_label_selector(at(ds, &["spec", "selector"])).into(),
    ]
}

fn stateful_set_cells(ss: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(at(ss, &["spec", "template"]));
    vec![
        name(ss),
        format!("{}/{}", int_at(ss, &["status", "readyReplicas"]), replicas(ss)).into(),
        age(ss, now),
        names.into(),
        images.into(),
    ]
}

fn job_cells(job: &Value, now: i64) -> Vec<Value> {
    let spec = at(job, &["spec"]);
    let status = at(job, &["status"]);
    let succeeded = int_at(status, &["succeeded"]);
    let completions = match at(spec, &["completions"]).as_i64() {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_at(spec, &["parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = parse_time(str_at(status, &["startTime"]));
    let duration = match (start, parse_time(str_at(status, &["completionTime"]))) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now - s),
        (Some(s), Some(c)) => human_duration(c - s),
    };
    let has = |kind: &str| condition_true(status, kind);
    let state = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if is_set(at(job, &["metadata", "deletionTimestamp"])) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers(at(spec, &["template"]));
    vec![
        name(job),
        state.into(),
        completions.into(),
        duration.into(),
        age(job, now),
        names.into(),
        images.into(),
        format_label_selector(at(spec, &["selector"])).into(),
    ]
}

fn cron_job_cells(cj: &Value, now: i64) -> Vec<Value> {
    let spec = at(cj, &["spec"]);
    let last_schedule = match str_at(cj, &["status", "lastScheduleTime"]) {
        "" => "<none>".to_string(),
        t => since(parse_time(t), now),
    };
    let suspend = match at(spec, &["suspend"]).as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (names, images) = containers(at(spec, &["jobTemplate", "spec", "template"]));
    vec![
        name(cj),
        str_at(spec, &["schedule"]).into(),
        or_none(str_at(spec, &["timeZone"])).into(),
        suspend.into(),
        list_at(cj, &["status", "active"]).len().into(),
        last_schedule.into(),
        age(cj, now),
        names.into(),
        images.into(),
        format_label_selector(at(spec, &["jobTemplate", "spec", "selector"])).into(),
    ]
}

fn controller_revision_cells(cr: &Value, now: i64) -> Vec<Value> {
    let owner = list_at(cr, &["metadata", "ownerReferences"]).iter().find(|r| at(r, &["controller"]).as_bool() == Some(true));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(r) => {
            // GroupKind.String() is "Kind.group" (just "Kind" in the core group), lowercased.
            let group = str_at(r, &["apiVersion"]).rsplit_once('/').map_or("", |(g, _)| g);
            let kind = str_at(r, &["kind"]);
            let group_kind = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
            if group_kind.is_empty() {
                str_at(r, &["name"]).to_string()
            } else {
                format!("{}/{}", group_kind.to_lowercase(), str_at(r, &["name"]))
            }
        }
    };
    vec![name(cr), controller.into(), int_at(cr, &["revision"]).into(), age(cr, now)]
}

/// `spec.replicas`, which defaulting sets to 1 when absent.
fn replicas(obj: &Value) -> i64 {
    at(obj, &["spec", "replicas"]).as_i64().unwrap_or(1)
}

/// Container names and images of a pod template, comma-joined.
fn containers(template: &Value) -> (String, String) {
    let list = list_at(template, &["spec", "containers"]);
    let join = |field: &str| list.iter().map(|c| str_at(c, &[field])).collect::<Vec<_>>().join(",");
    (join("name"), join("image"))
}

// ---------------------------------------------------------------------------
// Networking

fn service_cells(svc: &Value, now: i64) -> Vec<Value> {
    let spec = at(svc, &["spec"]);
    let svc_type = match str_at(spec, &["type"]) {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = list_at(spec, &["clusterIPs"]).first().and_then(Value::as_str).unwrap_or_else(|| str_at(spec, &["clusterIP"]));
    let external_ips: Vec<&str> = list_at(spec, &["externalIPs"]).iter().filter_map(Value::as_str).collect();
    let external_ip = match svc_type {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let lb = load_balancer_ips(at(svc, &["status", "loadBalancer"]));
            let mut all: Vec<&str> = lb.iter().map(String::as_str).collect();
            all.extend(&external_ips);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(spec, &["externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = list_at(spec, &["ports"])
        .iter()
        .map(|p| {
            let protocol = match str_at(p, &["protocol"]) {
                "" => "TCP",
                proto => proto,
            };
            match int_at(p, &["nodePort"]) {
                n if n > 0 => format!("{}:{n}/{protocol}", int_at(p, &["port"])),
                _ => format!("{}/{protocol}", int_at(p, &["port"])),
            }
        })
        .collect();
    vec![
        name(svc),
        svc_type.into(),
        or_none(cluster_ip).into(),
        external_ip.into(),
        or_none(&ports.join(",")).into(),
        age(svc, now),
        format_labels(at(spec, &["selector"])).into(),
    ]
}

/// Load-balancer ingress points (IP, else hostname), sorted and de-duplicated.
/// Upstream clips this to 16 characters only for narrow output, and the
/// server always generates the wide table, so it is never clipped here.
fn load_balancer_ips(status: &Value) -> Vec<String> {
    let mut set: Vec<String> = list_at(status, &["ingress"])
        .iter()
        .map(|i| match str_at(i, &["ip"]) {
            "" => str_at(i, &["hostname"]),
            ip => ip,
        })
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    set.sort();
    set.dedup();
    set
}

fn ingress_cells(ing: &Value, now: i64) -> Vec<Value> {
    let rules = list_at(ing, &["spec", "rules"]);
    let mut hosts = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == 3 {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = match (hosts.is_empty(), more) {
        (true, _) => "*".to_string(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
        (false, false) => hosts.join(","),
    };
    let ports = if list_at(ing, &["spec", "tls"]).is_empty() { "80" } else { "80, 443" };
    vec![
        name(ing),
        or_none(str_at(ing, &["spec", "ingressClassName"])).into(),
        hosts.into(),
        load_balancer_ips(at(ing, &["status", "loadBalancer"])).join(",").into(),
        ports.into(),
        age(ing, now),
    ]
}

fn endpoints_cells(ep: &Value, now: i64) -> Vec<Value> {
    let subsets = list_at(ep, &["subsets"]);
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let mut list = Vec::new();
        let mut count = 0;
        for ss in subsets {
            let addresses: Vec<&str> = list_at(ss, &["addresses"]).iter().map(|a| str_at(a, &["ip"])).collect();
            let ports = list_at(ss, &["ports"]);
            if ports.is_empty() {
                // Headless services may have addresses without ports.
                count += addresses.len();
                list.extend(addresses.iter().map(|ip| ip.to_string()));
            } else {
                for port in ports {
                    count += addresses.len();
                    list.extend(addresses.iter().map(|ip| join_host_port(ip, int_at(port, &["port"]))));
                }
            }
        }
        list_with_more(list, count, "")
    };
    vec![name(ep), text.into(), age(ep, now)]
}

fn endpoint_slice_cells(slice: &Value, now: i64) -> Vec<Value> {
    let ports: Vec<String> = list_at(slice, &["ports"])
        .iter()
        .map(|p| match (at(p, &["port"]).as_i64(), at(p, &["name"]).as_str()) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses: Vec<String> = list_at(slice, &["endpoints"])
        .iter()
        .flat_map(|e| list_at(e, &["addresses"]))
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let (port_count, address_count) = (ports.len(), addresses.len());
    vec![
        name(slice),
        str_at(slice, &["addressType"]).into(),
        list_with_more(ports, port_count, "<unset>").into(),
        list_with_more(addresses, address_count, "<unset>").into(),
        age(slice, now),
    ]
}

/// At most three entries, then " + N more...", as upstream's list formatters.
fn list_with_more(mut list: Vec<String>, count: usize, empty: &str) -> String {
    if count > 3 {
        list.truncate(3);
        return format!("{} + {} more...", list.join(","), count - 3);
    }
    if list.is_empty() {
        return empty.to_string();
    }
    list.join(",")
}

/// Go's `net.JoinHostPort`: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---------------------------------------------------------------------------
// Cluster

fn node_cells(node: &Value, now: i64) -> Vec<Value> {
    let status = at(node, &["status"]);
    // Only the Ready condition is shown; the last one of that type wins, as upstream's map does.
    let ready = list_at(status, &["conditions"]).iter().rev().find(|c| str_at(c, &["type"]) == "Ready");
    let mut states = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if at(node, &["spec", "unschedulable"]).as_bool() == Some(true) {
        states.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = at(node, &["metadata", "labels"])
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role),
            Some(_) => None,
            None if k == "kubernetes.io/role" => v.as_str().filter(|v| !v.is_empty()),
            None => None,
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let address = |kind: &str| {
        list_at(status, &["addresses"]).iter().find(|a| str_at(a, &["type"]) == kind).map_or("<none>", |a| str_at(a, &["address"]))
    };
    let info = |field: &str| match str_at(status, &["nodeInfo", field]) {
        "" => "<unknown>",
        v => v,
    };
    vec![
        name(node),
        states.join(",").into(),
        or_none(&roles.join(",")).into(),
        age(node, now),
        str_at(status, &["nodeInfo", "kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

fn event_cells(ev: &Value, now: i64) -> Vec<Value> {
    let first_seen = match parse_time(str_at(ev, &["firstTimestamp"])) {
        Some(t) => since(Some(t), now),
        None => since(parse_time(str_at(ev, &["eventTime"])), now),
    };
    let mut last_seen = match parse_time(str_at(ev, &["lastTimestamp"])) {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let series = at(ev, &["series"]);
    let count = if series.is_object() {
        last_seen = since(parse_time(str_at(series, &["lastObservedTime"])), now);
        int_at(series, &["count"])
    } else {
        // Singleton events from the events.k8s.io API have no count.
        match int_at(ev, &["count"]) {
            0 => 1,
            c => c,
        }
    };
    let kind = str_at(ev, &["involvedObject", "kind"]).to_lowercase();
    let target = match str_at(ev, &["involvedObject", "name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = first_non_empty(str_at(ev, &["source", "component"]), str_at(ev, &["reportingComponent"]));
    let instance = first_non_empty(str_at(ev, &["source", "host"]), str_at(ev, &["reportingInstance"]));
    let source = if instance.is_empty() { component.to_string() } else { format!("{component}, {instance}") };
    vec![
        last_seen.into(),
        str_at(ev, &["type"]).into(),
        str_at(ev, &["reason"]).into(),
        target.into(),
        str_at(ev, &["involvedObject", "fieldPath"]).into(),
        source.into(),
        str_at(ev, &["message"]).trim().into(),
        first_seen.into(),
        count.into(),
        name(ev),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

fn hpa_cells(hpa: &Value, now: i64) -> Vec<Value> {
    let spec = at(hpa, &["spec"]);
    let reference = format!("{}/{}", str_at(spec, &["scaleTargetRef", "kind"]), str_at(spec, &["scaleTargetRef", "name"]));
    let min_pods = at(spec, &["minReplicas"]).as_i64().map_or_else(|| "<unset>".to_string(), |m| m.to_string());
    vec![
        name(hpa),
        reference.into(),
        hpa_targets(list_at(spec, &["metrics"]), list_at(hpa, &["status", "currentMetrics"])).into(),
        min_pods.into(),
        int_at(spec, &["maxReplicas"]).into(),
        int_at(hpa, &["status", "currentReplicas"]).into(),
        age(hpa, now),
    ]
}

/// TARGETS: "current/target" per metric (statuses matched by position), at most two.
fn hpa_targets(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".into();
    }
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            // The status entry for this metric source, if the autoscaler has reported one.
            let status = |source: &str| statuses.get(i).map(|s| at(s, &[source])).filter(|s| s.is_object()).map(|s| at(s, &["current"]));
            let unknown = || "<unknown>".to_string();
            match str_at(spec, &["type"]) {
                source @ ("External" | "Object") => {
                    let field = if source == "External" { "external" } else { "object" };
                    let target = at(spec, &[field, "target"]);
                    if is_set(at(target, &["averageValue"])) {
                        let current = status(field)
                            .filter(|c| is_set(at(c, &["averageValue"])))
                            .map_or_else(unknown, |c| quantity(at(c, &["averageValue"])));
                        format!("{current}/{} (avg)", quantity(at(target, &["averageValue"])))
                    } else {
                        let current = status(field).map_or_else(unknown, |c| quantity(at(c, &["value"])));
                        format!("{current}/{}", quantity(at(target, &["value"])))
                    }
                }
                "Pods" => {
                    let current = status("pods").map_or_else(unknown, |c| quantity(at(c, &["averageValue"])));
                    format!("{current}/{}", quantity(at(spec, &["pods", "target", "averageValue"])))
                }
                source @ ("Resource" | "ContainerResource") => {
                    let field = if source == "Resource" { "resource" } else { "containerResource" };
                    let resource = str_at(spec, &[field, "name"]);
                    let target = at(spec, &[field, "target"]);
                    if is_set(at(target, &["averageValue"])) {
                        let current = status(field).map_or_else(unknown, |c| quantity(at(c, &["averageValue"])));
                        format!("{resource}: {current}/{}", quantity(at(target, &["averageValue"])))
                    } else {
                        let current =
                            status(field).and_then(|c| at(c, &["averageUtilization"]).as_i64()).map_or_else(unknown, |u| format!("{u}%"));
                        let target = at(target, &["averageUtilization"]).as_i64().map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                        format!("{resource}: {current}/{target}")
                    }
                }
                _ => "<unknown type>".to_string(),
            }
        })
        .collect();
    if list.len() > 2 {
        return format!("{} + {} more...", list[..2].join(", "), list.len() - 2);
    }
    list.join(", ")
}

/// A resource.Quantity as printed by Go; a nil quantity prints "<nil>".
fn quantity(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "<nil>".to_string(),
    }
}

fn binding_cells(b: &Value, now: i64) -> Vec<Value> {
    let role = format!("{}/{}", str_at(b, &["roleRef", "kind"]), str_at(b, &["roleRef", "name"]));
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for s in list_at(b, &["subjects"]) {
        match str_at(s, &["kind"]) {
            "User" => users.push(str_at(s, &["name"]).to_string()),
            "Group" => groups.push(str_at(s, &["name"]).to_string()),
            "ServiceAccount" => service_accounts.push(format!("{}/{}", str_at(s, &["namespace"]), str_at(s, &["name"]))),
            _ => {}
        }
    }
    vec![name(b), role.into(), age(b, now), users.join(", ").into(), groups.join(", ").into(), service_accounts.join(", ").into()]
}

// ---------------------------------------------------------------------------
// Labels and selectors, printed as apimachinery does

/// `labels.FormatLabels`: sorted `k=v` pairs, or `<none>`.
fn format_labels(map: &Value) -> String {
    let mut pairs: Vec<String> =
        map.as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    pairs.sort();
    or_none(&pairs.join(",")).to_string()
}

/// `metav1.FormatLabelSelector`: like `label_selector`, but `<none>` when empty.
fn format_label_selector(selector: &Value) -> String {
    match label_selector(selector) {
        Ok(s) => or_none(&s).to_string(),
        Err(()) => "<error>".into(),
    }
}

/// `LabelSelectorAsSelector(...).String()`: requirements sorted by key, set
/// values sorted; an absent or empty selector prints as "".
fn label_selector(selector: &Value) -> Result<String, ()> {
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (k, v) in at(selector, &["matchLabels"]).as_object().into_iter().flatten() {
        requirements.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
    }
    for expr in list_at(selector, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<&str> = list_at(expr, &["values"]).iter().filter_map(Value::as_str).collect();
        values.sort_unstable();
        let text = match str_at(expr, &["operator"]) {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(()),
        };
        requirements.push((key.to_string(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements.into_iter().map(|(_, text)| text).collect::<Vec<_>>().join(","))
}

// ---------------------------------------------------------------------------
// JSON access

static NULL: Value = Value::Null;

/// The field at `path`, or null.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    v.at(path).unwrap_or(&NULL)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).as_str().unwrap_or_default()
}

fn int_at(v: &Value, path: &[&str]) -> i64 {
    at(v, path).as_i64().unwrap_or_default()
}

fn list_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path).as_array().map_or(&[], Vec::as_slice)
}

fn obj_len(v: &Value) -> usize {
    v.as_object().map_or(0, Map::len)
}

/// A Go pointer field is "set" when present and not null.
fn is_set(v: &Value) -> bool {
    !v.is_null()
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "<none>"
    } else {
        s
    }
}

fn name(obj: &Value) -> Value {
    str_at(obj, &["metadata", "name"]).into()
}

fn age(obj: &Value, now: i64) -> Value {
    since(parse_time(str_at(obj, &["metadata", "creationTimestamp"])), now).into()
}

// ---------------------------------------------------------------------------
// Time

const NANOS: i64 = 1_000_000_000;

/// upstream's translateTimestampSince: "<unknown>" for a missing timestamp.
fn since(t: Option<i64>, now: i64) -> String {
    t.map_or_else(|| "<unknown>".to_string(), |t| human_duration(now.saturating_sub(t)))
}

/// apimachinery's `duration.HumanDuration`: about two significant figures.
fn human_duration(d: i64) -> String {
    let seconds = d / NANOS;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            dy => format!("{}y{dy}d", hours / 24 / 365),
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// RFC 3339 (`2024-05-01T10:00:00Z`, optional fraction and offset) to Unix
/// nanoseconds, by jiff as everywhere else. Empty or malformed text is a
/// missing (zero) timestamp.
fn parse_time(s: &str) -> Option<i64> {
    let t = s.parse::<k8s_openapi::jiff::Timestamp>().ok()?;
    i64::try_from(t.as_nanosecond()).ok()
}

/// Go's `time.RFC3339` in UTC, whole seconds, as the default table convertor prints CREATED AT.
fn format_rfc3339(nanos: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(nanos.div_euclid(NANOS)).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    /// A timestamp `secs` seconds before NOW, as the API server stores it.
    fn ago(secs: i64) -> String {
        format_rfc3339((NOW - secs) * NANOS)
    }

    /// The cells of the single row of a table for `obj`.
    fn cells(resource: &str, obj: Value) -> Vec<Value> {
        let t = table(resource, &[&obj], NOW, "None", json!({}));
        t["rows"][0]["cells"].as_array().unwrap().clone()
    }

    fn column_names(resource: &str) -> Vec<(String, i64)> {
        let t = table(resource, &[], NOW, "Metadata", Value::Null);
        t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["priority"].as_i64().unwrap()))
            .collect()
    }

    #[test]
    fn human_durations() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (182, "3m2s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (8 * 3600 + 59 * 60, "8h"),
            (47 * 3600, "47h"),
            (51 * 3600, "2d3h"),
            (48 * 3600, "2d"),
            (8 * 86_400, "8d"),
            (729 * 86_400, "729d"),
            (730 * 86_400, "2y"),
            (731 * 86_400, "2y1d"),
            (9 * 365 * 86_400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs * NANOS), want, "{secs}s");
        }
    }

    #[test]
    fn timestamps() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2023-11-14T22:13:20Z", Some(NOW * NANOS)),
            ("2023-11-14T22:13:20.5Z", Some(NOW * NANOS + NANOS / 2)),
            ("2023-11-15T00:13:20+02:00", Some(NOW * NANOS)),
            ("2024-02-29T12:00:00.000000Z", Some(1_709_208_000 * NANOS)),
            ("", None),
            ("yesterday", None),
            ("2023-13-01T00:00:00Z", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_time(text), want, "{text}");
        }
        assert_eq!(format_rfc3339(NOW * NANOS + 999), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(1_709_208_000 * NANOS), "2024-02-29T12:00:00Z");
    }

    fn pod(status: Value) -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(300)},
            "spec": {"containers": [{"name": "app", "image": "nginx"}], "nodeName": "node-1"},
            "status": status,
        })
    }

    fn running(name: &str, ready: bool, restarts: i64) -> Value {
        json!({"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(60)}}})
    }

    #[test]
    fn pod_status_column() {
        let crash = json!({"name": "app", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(30)}}});
        let cases: Vec<(&str, Value, [&str; 3])> = vec![
            ("running", pod(json!({"phase": "Running", "containerStatuses": [running("app", true, 0)]})), ["1/1", "Running", "0"]),
            ("pending without statuses", pod(json!({"phase": "Pending"})), ["0/1", "Pending", "0"]),
            (
                "completed",
                pod(json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})),
                ["0/1", "Completed", "0"],
            ),
            ("crash loop", pod(json!({"phase": "Running", "containerStatuses": [crash]})), ["0/1", "CrashLoopBackOff", "4 (30s ago)"]),
            (
                "image pull",
                pod(json!({"phase": "Pending", "containerStatuses": [{"name": "app", "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull"}}}]})),
                ["0/1", "ErrImagePull", "0"],
            ),
            (
                "exit code without reason",
                pod(json!({"phase": "Failed", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 3}}}]})),
                ["0/1", "ExitCode:3", "0"],
            ),
            ("evicted", pod(json!({"phase": "Failed", "reason": "Evicted"})), ["0/1", "Evicted", "0"]),
            (
                "scheduling gated",
                pod(json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})),
                ["0/1", "SchedulingGated", "0"],
            ),
        ];
        for (what, obj, [ready, status, restarts]) in cases {
            let c = cells("pods", obj);
            assert_eq!((c[1].as_str(), c[2].as_str(), c[3].as_str()), (Some(ready), Some(status), Some(restarts)), "{what}");
        }
    }

    #[test]
    fn pod_terminating_and_node_lost() {
        let mut obj = pod(json!({"phase": "Running", "containerStatuses": [running("app", true, 0)]}));
        obj["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells("pods", obj.clone())[2], "Terminating");
        obj["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells("pods", obj.clone())[2], "Unknown");
        // A finished pod keeps its final status while being deleted.
        obj["status"] = json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]});
        assert_eq!(cells("pods", obj)[2], "Completed");
    }

    #[test]
    fn pod_init_containers() {
        let with_init = |statuses: Value, conditions: Value| {
            let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": statuses, "conditions": conditions}));
            p["spec"]["initContainers"] = json!([{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]);
            cells("pods", p)[2].as_str().unwrap().to_string()
        };
        let waiting = |reason: &str| json!({"name": "a", "state": {"waiting": {"reason": reason}}});
        let done = json!({"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
        let cases = [
            (json!([waiting("PodInitializing")]), "Init:0/2"),
            (json!([done.clone(), waiting("PodInitializing")]), "Init:1/2"),
            (json!([waiting("CrashLoopBackOff")]), "Init:CrashLoopBackOff"),
            (json!([{"name": "a", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]), "Init:Error"),
            (json!([{"name": "a", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]), "Pending"),
            (json!([{"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]), "Init:Signal:9"),
            (json!([{"name": "a", "state": {"terminated": {"exitCode": 2}}}]), "Init:ExitCode:2"),
        ];
        for (statuses, want) in cases {
            assert_eq!(with_init(statuses.clone(), json!([])), want, "{statuses}");
        }
        // Once the pod is Initialized, a waiting or terminated regular container decides.
        let mut p = pod(json!({"phase": "Pending", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "a", "restartCount": 5, "state": {"waiting": {"reason": "PodInitializing"}}}],
            "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}));
        p["spec"]["initContainers"] = json!([{"name": "a"}]);
        let c = cells("pods", p);
        assert_eq!((c[2].as_str(), c[3].as_str()), (Some("ContainerCreating"), Some("0")));
    }

    #[test]
    fn pod_sidecars_and_restarts() {
        let mut p = pod(json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 2,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}}}],
            "containerStatuses": [running("app", true, 1)],
        }));
        p["spec"]["initContainers"] = json!([{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]);
        let c = cells("pods", p);
        assert_eq!((c[1].as_str(), c[2].as_str(), c[3].as_str()), (Some("2/2"), Some("Running"), Some("3 (10m ago)")));
    }

    #[test]
    fn pod_completed_with_running_sidecar_container() {
        let statuses = json!([running("app", true, 0), {"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
        let mut p = pod(json!({"phase": "Running", "containerStatuses": statuses}));
        p["spec"]["containers"] = json!([{"name": "app"}, {"name": "job"}]);
        assert_eq!(cells("pods", p.clone())[2], "NotReady");
        p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        assert_eq!(cells("pods", p)[2], "Running");
    }

    #[test]
    fn pod_wide_cells_and_conditions() {
        let mut p = pod(json!({"phase": "Succeeded", "podIPs": [{"ip": "10.0.0.7"}], "podIP": "10.0.0.7",
            "conditions": [{"type": "example.com/gate", "status": "True"}]}));
        p["spec"]["readinessGates"] = json!([{"conditionType": "example.com/gate"}, {"conditionType": "example.com/other"}]);
        let t = table("pods", &[&p], NOW, "None", json!({}));
        let c = &t["rows"][0]["cells"];
        assert_eq!(c[4], "5m");
        assert_eq!(c.as_array().unwrap()[5..], [json!("10.0.0.7"), json!("node-1"), json!("<none>"), json!("1/2")]);
        assert_eq!(
            t["rows"][0]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
        );

        let bare = json!({"metadata": {"name": "x"}, "spec": {}, "status": {"podIP": "10.0.0.8"}});
        let c = cells("pods", bare);
        assert_eq!(c[4], "<unknown>");
        assert_eq!(c[5..], [json!("10.0.0.8"), json!("<none>"), json!("<none>"), json!("<none>")]);
    }

    #[test]
    fn service_columns() {
        let svc = |spec: Value, status: Value| {
            let c = cells("services", json!({"metadata": {"name": "s", "creationTimestamp": ago(10)}, "spec": spec, "status": status}));
            [&c[1], &c[2], &c[3], &c[4], &c[6]].map(|v| v.as_str().unwrap().to_string())
        };
        let cases = [
            (
                json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": "web", "tier": "fe"}}),
                json!({}),
                ["ClusterIP", "10.96.0.10", "<none>", "80/TCP", "app=web,tier=fe"],
            ),
            (
                json!({"type": "NodePort", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
                json!({}),
                ["NodePort", "10.96.0.11", "<none>", "80:30080/TCP,53/UDP", "<none>"],
            ),
            (json!({"clusterIP": "None", "externalIPs": ["1.2.3.4"]}), json!({}), ["ClusterIP", "None", "1.2.3.4", "<none>", "<none>"]),
            (
                json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": [{"port": 443, "nodePort": 31443}]}),
                json!({}),
                ["LoadBalancer", "10.96.0.12", "<pending>", "443:31443/TCP", "<none>"],
            ),
            (
                json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "externalIPs": ["9.9.9.9"]}),
                json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}]}}),
                ["LoadBalancer", "10.96.0.12", "5.6.7.8,lb.example.com,9.9.9.9", "<none>", "<none>"],
            ),
            (
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({}),
                ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"],
            ),
        ];
        for (spec, status, want) in cases {
            assert_eq!(svc(spec.clone(), status), want, "{spec}");
        }
    }

    #[test]
    fn node_columns() {
        let node = |labels: Value, unschedulable: bool, conditions: Value| {
            cells(
                "nodes",
                json!({"metadata": {"name": "n1", "labels": labels, "creationTimestamp": ago(3 * 86_400)},
                    "spec": {"unschedulable": unschedulable},
                    "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Tabernetes"},
                        "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.2"}]}}),
            )
        };
        let ready = json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]);
        let cases = [
            (
                json!({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}),
                false,
                ready.clone(),
                "Ready",
                "control-plane,master",
            ),
            (
                json!({"kubernetes.io/role": "worker", "node-role.kubernetes.io/": ""}),
                true,
                ready.clone(),
                "Ready,SchedulingDisabled",
                "worker",
            ),
            (json!({}), false, json!([{"type": "Ready", "status": "False"}]), "NotReady", "<none>"),
            (json!({}), true, json!([{"type": "Ready", "status": "Unknown"}]), "NotReady,SchedulingDisabled", "<none>"),
            (json!({}), false, json!([]), "Unknown", "<none>"),
        ];
        for (labels, unschedulable, conditions, status, roles) in cases {
            let c = node(labels, unschedulable, conditions);
            assert_eq!((c[1].as_str(), c[2].as_str()), (Some(status), Some(roles)));
        }
        let c = node(json!({}), false, ready);
        assert_eq!(c[3..], ["3d", "v1.32.0", "192.168.1.2", "<none>", "Tabernetes", "<unknown>", "<unknown>"].map(Value::from));
    }

    #[test]
    fn deployment_and_replica_set_columns() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(7200)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1"}, {"name": "log", "image": "fluent"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1},
        });
        assert_eq!(
            Value::from(cells("deployments", d.clone())),
            json!(["web", "2/3", 3, 1, "120m", "app,log", "nginx:1,fluent", "app=web"])
        );
        // Defaulting would have set replicas to 1; an empty selector prints as "" for deployments only.
        let empty = cells("deployments", json!({"metadata": {"name": "empty"}, "spec": {}}));
        assert_eq!(Value::from(empty), json!(["empty", "0/1", 0, 0, "<unknown>", "", "", ""]));
        assert_eq!(cells("replicasets", d)[1..4], [json!(3), json!(3), json!(2)]);
        let c = cells("replicasets", json!({"metadata": {"name": "rs"}, "spec": {"replicas": 0}}));
        assert_eq!(c[1], 0);
        assert_eq!(c[7], "<none>");
    }

    #[test]
    fn label_selectors() {
        let cases = [
            (json!(null), Ok("")),
            (json!({}), Ok("")),
            (json!({"matchLabels": {"b": "2", "a": "1"}}), Ok("a=1,b=2")),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "tier", "operator": "Exists"}]}),
                // Sorted by key; "!" belongs to the text, not the key.
                Ok("app=web,!canary,env in (dev,prod),tier,zone notin (a,b)"),
            ),
            (json!({"matchExpressions": [{"key": "x", "operator": "Bogus"}]}), Err(())),
        ];
        for (selector, want) in cases {
            assert_eq!(label_selector(&selector), want.map(str::to_string), "{selector}");
        }
    }

    #[test]
    fn job_columns() {
        let job = |spec: Value, status: Value| {
            let c = cells("jobs", json!({"metadata": {"name": "j", "creationTimestamp": ago(100)}, "spec": spec, "status": status}));
            [&c[1], &c[2], &c[3]].map(|v| v.as_str().unwrap().to_string())
        };
        let complete = json!([{"type": "Complete", "status": "True"}]);
        let cases = [
            (
                json!({"completions": 1}),
                json!({"succeeded": 1, "startTime": ago(100), "completionTime": ago(90), "conditions": complete}),
                ["Complete", "1/1", "10s"],
            ),
            (json!({"completions": 3, "parallelism": 2}), json!({"succeeded": 1, "startTime": ago(45)}), ["Running", "1/3", "45s"]),
            (json!({"parallelism": 4}), json!({}), ["Running", "0/1 of 4", ""]),
            (json!({}), json!({"conditions": [{"type": "Failed", "status": "True"}]}), ["Failed", "0/1", ""]),
            (json!({"suspend": true}), json!({"conditions": [{"type": "Suspended", "status": "True"}]}), ["Suspended", "0/1", ""]),
        ];
        for (spec, status, want) in cases {
            assert_eq!(job(spec.clone(), status), want, "{spec}");
        }
    }

    #[test]
    fn event_columns() {
        let ev = json!({
            "metadata": {"name": "web.17a", "creationTimestamp": ago(90)},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": "Pulled image \"nginx\"\n",
            "firstTimestamp": ago(90), "lastTimestamp": ago(30), "count": 3,
            "source": {"component": "kubelet", "host": "node-1"},
        });
        let want = [
            "30s",
            "Normal",
            "Pulled",
            "pod/web",
            "spec.containers{app}",
            "kubelet, node-1",
            "Pulled image \"nginx\"",
            "90s",
            "3",
            "web.17a",
        ];
        let got: Vec<String> = cells("events", ev).iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
        assert_eq!(got, want);
        // events.k8s.io-style: eventTime and series, no count, reporting controller.
        let ev = json!({"metadata": {"name": "e"}, "eventTime": "2023-11-14T22:12:20.000000Z", "involvedObject": {"kind": "Node"},
            "series": {"count": 5, "lastObservedTime": ago(5)}, "reportingComponent": "scheduler"});
        let c = cells("events", ev);
        assert_eq!(
            (c[0].as_str(), c[3].as_str(), c[5].as_str(), c[7].as_str(), c[8].as_i64()),
            (Some("5s"), Some("node"), Some("scheduler"), Some("60s"), Some(5))
        );
    }

    #[test]
    fn small_resources() {
        let meta = json!({"name": "x", "creationTimestamp": ago(30)});
        let cases = [
            ("namespaces", json!({"metadata": meta, "status": {"phase": "Active"}}), json!(["x", "Active", "30s"])),
            ("configmaps", json!({"metadata": meta, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}), json!(["x", 3, "30s"])),
            ("secrets", json!({"metadata": meta, "type": "Opaque", "data": {"k": "dg=="}}), json!(["x", "Opaque", 1, "30s"])),
            ("serviceaccounts", json!({"metadata": meta}), json!(["x", 0, "30s"])),
            ("leases", json!({"metadata": meta, "spec": {"holderIdentity": "node-1"}}), json!(["x", "node-1", "30s"])),
            (
                "priorityclasses",
                json!({"metadata": meta, "value": 1000, "preemptionPolicy": "Never"}),
                json!(["x", 1000, false, "30s", "Never"]),
            ),
            (
                "statefulsets",
                json!({"metadata": meta, "spec": {"replicas": 2}, "status": {"readyReplicas": 1}}),
                json!(["x", "1/2", "30s", "", ""]),
            ),
            (
                "cronjobs",
                json!({"metadata": meta, "spec": {"schedule": "*/5 * * * *", "suspend": false}, "status": {"active": [{}], "lastScheduleTime": ago(60)}}),
                json!(["x", "*/5 * * * *", "<none>", "False", 1, "60s", "30s", "", "", "<none>"]),
            ),
            (
                "daemonsets",
                json!({"metadata": meta, "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}}, "status": {"desiredNumberScheduled": 2, "numberReady": 1}}),
                json!(["x", 2, 0, 1, 0, 0, "kubernetes.io/os=linux", "30s", "", "", "<none>"]),
            ),
            (
                "endpoints",
                json!({"metadata": meta, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::2"}], "ports": [{"port": 80}, {"port": 443}]}]}),
                json!(["x", "10.0.0.1:80,[fd00::2]:80,10.0.0.1:443 + 1 more...", "30s"]),
            ),
            ("endpoints", json!({"metadata": meta}), json!(["x", "<none>", "30s"])),
            (
                "endpointslices",
                json!({"metadata": meta, "addressType": "IPv4", "ports": [{"port": 80}, {"name": "dns"}], "endpoints": [{"addresses": ["10.0.0.1"]}]}),
                json!(["x", "IPv4", "80,dns", "10.0.0.1", "30s"]),
            ),
            ("endpointslices", json!({"metadata": meta, "addressType": "IPv4"}), json!(["x", "IPv4", "<unset>", "<unset>", "30s"])),
            (
                "ingresses",
                json!({"metadata": meta, "spec": {"ingressClassName": "nginx", "tls": [{}], "rules": [{"host": "a.com"}, {"host": "b.com"}, {}, {"host": "d.com"}, {"host": "e.com"}]}}),
                json!(["x", "nginx", "a.com,b.com,d.com + 2 more...", "", "80, 443", "30s"]),
            ),
            (
                "rolebindings",
                json!({"metadata": meta, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
                    {"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "namespace": "ns", "name": "bot"}, {"kind": "User", "name": "bob"}]}),
                json!(["x", "ClusterRole/view", "30s", "alice, bob", "", "ns/bot"]),
            ),
            (
                "controllerrevisions",
                json!({"metadata": {"name": "x", "creationTimestamp": ago(30), "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "controller": true}]}, "revision": 2}),
                json!(["x", "daemonset.apps/ds", 2, "30s"]),
            ),
            (
                "horizontalpodautoscalers",
                json!({"metadata": meta, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5, "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}]},
                    "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}}),
                json!(["x", "Deployment/web", "cpu: 12%/50%, memory: <unknown>/100Mi", "1", 5, 2, "30s"]),
            ),
            ("roles", json!({"metadata": meta}), json!(["x", ago(30)])),
            ("widgets", json!({"metadata": {"name": "y"}}), json!(["y", "0001-01-01T00:00:00Z"])),
        ];
        for (resource, obj, want) in cases {
            assert_eq!(Value::from(cells(resource, obj)), want, "{resource}");
        }
    }

    #[test]
    fn column_definitions() {
        let names = |r| column_names(r).into_iter().map(|(n, p)| if p == 0 { n } else { format!("{n}*") }).collect::<Vec<_>>().join(" ");
        let cases = [
            ("pods", "Name Ready Status Restarts Age IP* Node* Nominated Node* Readiness Gates*"),
            ("deployments", "Name Ready Up-to-date Available Age Containers* Images* Selector*"),
            ("services", "Name Type Cluster-IP External-IP Port(s) Age Selector*"),
            ("nodes", "Name Status Roles Age Version Internal-IP* External-IP* OS-Image* Kernel-Version* Container-Runtime*"),
            ("jobs", "Name Status Completions Duration Age Containers* Images* Selector*"),
            ("events", "Last Seen Type Reason Object Subobject* Source* Message First Seen* Count* Name*"),
            ("secrets", "Name Type Data Age"),
            ("clusterroles", "Name Created At"),
        ];
        for (resource, want) in cases {
            assert_eq!(names(resource), want, "{resource}");
        }
        // Every printer yields exactly one cell per column.
        for resource in [
            "pods",
            "deployments",
            "replicasets",
            "daemonsets",
            "statefulsets",
            "jobs",
            "cronjobs",
            "services",
            "ingresses",
            "endpoints",
            "endpointslices",
            "nodes",
            "events",
            "namespaces",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "horizontalpodautoscalers",
            "leases",
            "priorityclasses",
            "rolebindings",
            "clusterrolebindings",
            "controllerrevisions",
            "roles",
            "anything",
        ] {
            assert_eq!(cells(resource, json!({})).len(), column_names(resource).len(), "{resource}");
        }
        let t = table("pods", &[], NOW, "Metadata", Value::Null);
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0})
        );
        assert_eq!(t["columnDefinitions"][4]["description"], AGE_DESC);
    }

    #[test]
    fn table_shape_and_include_object() {
        let obj =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"}}, "spec": {}});
        let list_meta = json!({"resourceVersion": "42", "continue": "abc"});
        let cases = [
            ("Metadata", json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"]})),
            ("", json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"]})),
            ("Object", obj.clone()),
            ("None", Value::Null),
        ];
        for (include, want) in cases {
            let t = table("pods", &[&obj], NOW, include, list_meta.clone());
            assert_eq!((&t["kind"], &t["apiVersion"], &t["metadata"]), (&json!("Table"), &json!("meta.k8s.io/v1"), &list_meta));
            let row = t["rows"][0].as_object().unwrap();
            assert_eq!(row["object"], want, "{include:?}");
            assert!(!row.contains_key("conditions"));
        }
        let t = table("pods", &[], NOW, "None", Value::Null);
        assert_eq!((&t["metadata"], &t["rows"]), (&json!({}), &json!([])));
    }
}
