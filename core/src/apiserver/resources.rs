//! The resources this API server serves, and how a URL path names one.
//! Anything not listed here is a 404 from discovery and from every verb, so an
//! unsupported manifest is refused rather than stored and ignored.

use super::status::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// Plural, lowercase: the URL segment.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served under `/{name}/{subresource}`.
    pub subresources: &'static [&'static str],
    /// Fields a field selector may name, beyond `metadata.name` and `metadata.namespace`.
    pub selectable_fields: &'static [&'static str],
    /// Discovery's verbs; a resource without `get` is not stored.
    pub verbs: &'static [&'static str],
    /// Discovery's categories (`all` for `kubectl get all`).
    pub categories: &'static [&'static str],
    /// Served by metrics-server behind the aggregation layer, not by this
    /// API server's store (it routes them to `serve_metrics`).
    pub aggregated: bool,
}

impl ResourceType {
    /// The store's name for this resource: `pods`, `deployments.apps`
    /// (borrowed for the core group, whose objects most requests touch).
    pub fn storage_name(&self) -> std::borrow::Cow<'static, str> {
        if self.group.is_empty() {
            self.plural.into()
        } else {
            format!("{}.{}", self.plural, self.group).into()
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The path prefix of this resource's URLs, up to the namespace segment.
    pub fn group_version_path(&self) -> String {
        let mut path = String::new();
        self.push_group_version_path(&mut path);
        path
    }

    fn push_group_version_path(&self, path: &mut String) {
        if self.group.is_empty() {
            path.push_str("/api/");
        } else {
            path.push_str("/apis/");
            path.push_str(self.group);
            path.push('/');
        }
        path.push_str(self.version);
    }

    /// The URL of one object, or of the collection when `name` is None.
    pub fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        // Sized once (with room for a subresource): clients build a path per request.
        let parts = [self.group, self.version, self.plural, namespace.unwrap_or(""), name.unwrap_or("")];
        let mut path = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 40);
        self.push_group_version_path(&mut path);
        if let (true, Some(ns)) = (self.namespaced, namespace) {
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push('/');
        path.push_str(self.plural);
        if let Some(name) = name {
            path.push('/');
            path.push_str(name);
        }
        path
    }
}

/// The verbs of an ordinary stored resource.
pub const STANDARD_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// A stored resource with the standard verbs; fields not given take these values.
const fn stored(group: &'static str, version: &'static str, plural: &'static str, singular: &'static str, kind: &'static str, namespaced: bool) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names: &[],
        subresources: &[],
        selectable_fields: &[],
        verbs: STANDARD_VERBS,
        categories: &[],
        aggregated: false,
    }
}

impl ResourceType {
    const fn short(mut self, short_names: &'static [&'static str]) -> Self {
        self.short_names = short_names;
        self
    }
    const fn sub(mut self, subresources: &'static [&'static str]) -> Self {
        self.subresources = subresources;
        self
    }
    const fn fields(mut self, selectable_fields: &'static [&'static str]) -> Self {
        self.selectable_fields = selectable_fields;
        self
    }
    /// In `kubectl get all`.
    const fn in_all(mut self) -> Self {
        self.categories = &["all"];
        self
    }
    const fn verbs(mut self, verbs: &'static [&'static str]) -> Self {
        self.verbs = verbs;
        self
    }

    /// Read-only, from metrics-server's memory.
    const fn served_by_metrics_server(mut self) -> Self {
        self.verbs = &["get", "list"];
        self.aggregated = true;
        self
    }

    /// Whether objects of this resource are kept in the store (reviews and metrics are not).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get") && !self.aggregated
    }

    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }
}

pub const PODS: ResourceType = stored("", "v1", "pods", "pod", "Pod", true)
    .short(&["po"])
    .sub(&["status", "binding", "log", "eviction"])
    .in_all()
    .fields(&[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ]);
pub const NODES: ResourceType = stored("", "v1", "nodes", "node", "Node", false).short(&["no"]).sub(&["status"]).fields(&["spec.unschedulable"]);
pub const NAMESPACES: ResourceType = stored("", "v1", "namespaces", "namespace", "Namespace", false)
    .short(&["ns"])
    .sub(&["status", "finalize"])
    .fields(&["status.phase"])
    .verbs(&["create", "delete", "get", "list", "patch", "update", "watch"]);
pub const EVENTS: ResourceType = stored("", "v1", "events", "event", "Event", true).short(&["ev"]).fields(&[
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
]);
pub const SERVICES: ResourceType = stored("", "v1", "services", "service", "Service", true)
    .short(&["svc"])
    .sub(&["status"])
    .in_all()
    .verbs(&["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
pub const ENDPOINTS: ResourceType = stored("", "v1", "endpoints", "endpoints", "Endpoints", true).short(&["ep"]);
pub const CONFIG_MAPS: ResourceType = stored("", "v1", "configmaps", "configmap", "ConfigMap", true).short(&["cm"]);
pub const SECRETS: ResourceType = stored("", "v1", "secrets", "secret", "Secret", true).fields(&["type"]);
pub const SERVICE_ACCOUNTS: ResourceType = stored("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true).short(&["sa"]);
pub const DEPLOYMENTS: ResourceType = stored("apps", "v1", "deployments", "deployment", "Deployment", true)
    .short(&["deploy"])
    .sub(&["status", "scale"])
    .in_all();
pub const REPLICA_SETS: ResourceType = stored("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true)
    .short(&["rs"])
    .sub(&["status", "scale"])
    .in_all()
    .fields(&["status.replicas"]);
pub const DAEMON_SETS: ResourceType = stored("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true).short(&["ds"]).sub(&["status"]).in_all();
pub const STATEFUL_SETS: ResourceType = stored("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true)
    .short(&["sts"])
    .sub(&["status", "scale"])
    .in_all();
pub const CONTROLLER_REVISIONS: ResourceType = stored("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true);
pub const JOBS: ResourceType = stored("batch", "v1", "jobs", "job", "Job", true).sub(&["status"]).in_all().fields(&["status.successful"]);
pub const CRON_JOBS: ResourceType = stored("batch", "v1", "cronjobs", "cronjob", "CronJob", true).short(&["cj"]).sub(&["status"]).in_all();
pub const ENDPOINT_SLICES: ResourceType = stored("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true);
pub const INGRESSES: ResourceType = stored("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true).short(&["ing"]).sub(&["status"]);
pub const HORIZONTAL_POD_AUTOSCALERS: ResourceType =
    stored("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", true)
        .short(&["hpa"])
        .sub(&["status"])
        .in_all();
pub const LEASES: ResourceType = stored("coordination.k8s.io", "v1", "leases", "lease", "Lease", true);
pub const ROLES: ResourceType = stored("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true);
pub const CLUSTER_ROLES: ResourceType = stored("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false);
pub const ROLE_BINDINGS: ResourceType = stored("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true);
pub const CLUSTER_ROLE_BINDINGS: ResourceType =
    stored("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false);
pub const PRIORITY_CLASSES: ResourceType = stored("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false).short(&["pc"]);
/// Not stored: a create asks the authorizer and returns its answer.
pub const SELF_SUBJECT_ACCESS_REVIEWS: ResourceType =
    stored("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", false).verbs(&["create"]);
pub const SELF_SUBJECT_RULES_REVIEWS: ResourceType =
    stored("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview", false).verbs(&["create"]);

/// The resource metrics API (`kubectl top`): the pods' and nodes' latest
/// usage, as metrics-server serves it.
pub const POD_METRICS: ResourceType = stored("metrics.k8s.io", "v1beta1", "pods", "pod", "PodMetrics", true).served_by_metrics_server();
pub const NODE_METRICS: ResourceType = stored("metrics.k8s.io", "v1beta1", "nodes", "node", "NodeMetrics", false).served_by_metrics_server();

/// Every served resource, in discovery order.
pub const ALL: &[ResourceType] = &[
    PODS,
    NODES,
    NAMESPACES,
    EVENTS,
    SERVICES,
    ENDPOINTS,
    CONFIG_MAPS,
    SECRETS,
    SERVICE_ACCOUNTS,
    DEPLOYMENTS,
    REPLICA_SETS,
    DAEMON_SETS,
    STATEFUL_SETS,
    CONTROLLER_REVISIONS,
    JOBS,
    CRON_JOBS,
    ENDPOINT_SLICES,
    INGRESSES,
    HORIZONTAL_POD_AUTOSCALERS,
    LEASES,
    ROLES,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    PRIORITY_CLASSES,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_RULES_REVIEWS,
    POD_METRICS,
    NODE_METRICS,
];

/// The group/versions served, in discovery order (the core group first, as "v1").
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in ALL {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Finds a resource by `apiVersion` and `kind`, as a manifest names it.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    ALL.iter().find(|r| r.api_version() == api_version && r.kind == kind)
}

/// What a request path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTarget {
    pub resource: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses `/api/v1/namespaces/{ns}/pods/{name}/{sub}` and the `/apis/{group}/{version}/…` forms.
pub fn parse_path(path: &str) -> Result<RequestTarget, ApiError> {
    // The longest path served has 8 segments
    // (`/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}/{subresource}`);
    // they are split into an array, as every request's path is parsed.
    let mut parts = [""; 8];
    let mut count = 0;
    for segment in path.trim_matches('/').split('/') {
        *parts.get_mut(count).ok_or(ApiError::NoSuchResource)? = segment;
        count += 1;
    }
    let (group, version, rest) = match &parts[..count] {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::NoSuchResource),
    };
    let (namespace, rest) = match rest {
        // `/namespaces/{name}` alone (or with a subresource) is the Namespace object itself.
        ["namespaces", ns, plural, after @ ..] if !(group.is_empty() && after.is_empty() && (*plural == "status" || *plural == "finalize")) => {
            (Some(ns.to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::NoSuchResource),
    };
    let resource = ALL
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .ok_or(ApiError::NoSuchResource)?;
    if namespace.is_some() && !resource.namespaced {
        return Err(ApiError::NoSuchResource);
    }
    if let Some(sub) = &subresource {
        if !resource.subresources.contains(&sub.as_str()) {
            return Err(ApiError::NoSuchResource);
        }
    }
    if name.as_deref() == Some("") {
        return Err(ApiError::NoSuchResource);
    }
    Ok(RequestTarget { resource, namespace, name, subresource })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (plural, namespace, name, subresource), or None for a 404.
    type Addressed<'a> = Option<(&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>)>;

    #[test]
    fn paths_name_the_resource_namespace_name_and_subresource() {
        let cases: &[(&str, Addressed)] = &[
            ("/api/v1/pods", Some(("pods", None, None, None))),
            ("/api/v1/namespaces/default/pods", Some(("pods", Some("default"), None, None))),
            ("/api/v1/namespaces/default/pods/hello", Some(("pods", Some("default"), Some("hello"), None))),
            ("/api/v1/namespaces/default/pods/hello/status", Some(("pods", Some("default"), Some("hello"), Some("status")))),
            ("/api/v1/namespaces/default/pods/hello/log", Some(("pods", Some("default"), Some("hello"), Some("log")))),
            ("/api/v1/nodes/n1/status", Some(("nodes", None, Some("n1"), Some("status")))),
            ("/api/v1/namespaces", Some(("namespaces", None, None, None))),
            ("/api/v1/namespaces/kube-system", Some(("namespaces", None, Some("kube-system"), None))),
            ("/api/v1/namespaces/team/status", Some(("namespaces", None, Some("team"), Some("status")))),
            ("/api/v1/namespaces/default/nodes/n1", None),
            ("/api/v1/widgets", None),
            ("/api/v1/namespaces/default/pods/hello/exec", None),
            ("/apis/apps/v1/deployments", Some(("deployments", None, None, None))),
            ("/apis/apps/v1/namespaces/a/deployments/web/scale", Some(("deployments", Some("a"), Some("web"), Some("scale")))),
            ("/apis/apps/v2/deployments", None),
            ("/healthz", None),
            ("/api/v1/pods/a/b/c", None),
        ];
        for (path, want) in cases {
            let got = parse_path(path).ok().map(|t| {
                (t.resource.plural, t.namespace.clone(), t.name.clone(), t.subresource.clone())
            });
            let want = want.map(|(p, ns, n, s)| (p, ns.map(String::from), n.map(String::from), s.map(String::from)));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn object_paths_round_trip() {
        assert_eq!(PODS.path(Some("default"), Some("x")), "/api/v1/namespaces/default/pods/x");
        assert_eq!(NODES.path(None, Some("n1")), "/api/v1/nodes/n1");
        let t = parse_path(&PODS.path(Some("a"), Some("b"))).unwrap();
        assert_eq!((t.namespace.as_deref(), t.name.as_deref()), (Some("a"), Some("b")));
    }
}
