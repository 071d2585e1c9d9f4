//! Authorization: Kubernetes' RBAC authorizer, evaluated from the Role,
//! ClusterRole, RoleBinding and ClusterRoleBinding objects in the store, and
//! the bootstrap policy a new cluster starts with.
//!
//! Who the user is was settled before the request reached `handle`: the
//! HTTP edge maps bearer tokens to users, node sessions make every request
//! `system:node:NAME`. An empty user is the control plane's own loopback.

use super::request::ApiRequest;
use crate::store::Store;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// The group that bypasses authorization, as on every Kubernetes cluster.
pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const NODES_GROUP: &str = "system:nodes";
/// The read-only user a cluster starts with.
pub const VIEWER: &str = "viewer";

/// What a request asks to do, in RBAC's terms. Borrowed from the request
/// (every request is authorized, so building owned copies of its parts
/// cost allocations on every one); owned when a review spells them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attributes<'a> {
    Resource {
        verb: Cow<'a, str>,
        group: Cow<'a, str>,
        resource: Cow<'a, str>,
        subresource: Cow<'a, str>,
        namespace: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    NonResource { verb: Cow<'a, str>, path: Cow<'a, str> },
}

pub struct User<'a> {
    pub name: &'a str,
    pub groups: &'a [String],
}

impl<'a> User<'a> {
    pub fn of(request: &'a ApiRequest) -> Self {
        User { name: &request.user, groups: &request.groups }
    }

    /// Whether the subject of `kind`, `name` (and `namespace`, for service accounts) is this user.
    fn is_subject(&self, kind: &str, name: &str, namespace: Option<&str>, binding_namespace: &str) -> bool {
        match kind {
            "User" => name == self.name,
            "Group" => self.groups.iter().any(|g| g == name),
            "ServiceAccount" => {
                let namespace = namespace.filter(|n| !n.is_empty()).unwrap_or(binding_namespace);
                // `system:serviceaccount:{namespace}:{name}`, matched without building it.
                let rest = self.name.strip_prefix("system:serviceaccount:").and_then(|r| r.strip_prefix(namespace));
                rest.and_then(|r| r.strip_prefix(':')) == Some(name)
            }
            _ => false,
        }
    }
}

const CLUSTER_ROLES: &str = "clusterroles.rbac.authorization.k8s.io";
const ROLES: &str = "roles.rbac.authorization.k8s.io";
const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings.rbac.authorization.k8s.io";
const ROLE_BINDINGS: &str = "rolebindings.rbac.authorization.k8s.io";

/// A typed view of a stored object, read in place (no copy of the JSON).
fn read<T: serde::de::DeserializeOwned>(object: &Value) -> Option<T> {
    T::deserialize(object).ok()
}

fn is_superuser(user: &User<'_>) -> bool {
    user.name.is_empty() || user.groups.iter().any(|g| g == MASTERS)
}

/// A role's decoded rules, with the stored object they were decoded from.
type DecodedRole = (String, String, String, Arc<Value>, Arc<Vec<PolicyRule>>);

/// The rules of every role bound to one user (name and groups) in one
/// namespace.
#[derive(Debug)]
struct BoundRules {
    user: String,
    groups: Vec<String>,
    namespace: String,
    rules: Arc<[Arc<Vec<PolicyRule>>]>,
}

/// Bound rules as of one state of the RBAC objects.
#[derive(Debug, Default)]
struct BoundCache {
    /// The last write to any RBAC resource when the entries were made.
    rbac_revision: u64,
    entries: Vec<BoundRules>,
}

/// Users and namespaces remembered at once; past it the cache starts over
/// (a cluster has a handful of users; this bounds one that makes many).
const BOUND_ENTRIES: usize = 256;

/// The RBAC authorizer. Every request is authorized, and finding the
/// roles bound to the user (reading every binding's subjects) and decoding
/// their rules was a large part of a request's cost. So:
/// - the roles bound to a user in a namespace are kept until any Role,
///   ClusterRole or binding is written (the store says when each resource
///   was last written);
/// - decoded rules are kept while the stored role is the same object: the
///   store replaces an object's `Arc` on every write, so pointer equality
///   means unchanged.
///
/// Only the rule matching itself runs for every request.
#[derive(Debug, Default)]
pub struct Authorizer {
    roles: Mutex<Vec<DecodedRole>>,
    bound: Mutex<BoundCache>,
}

impl Clone for Authorizer {
    /// A copy starts with nothing cached (it is only a cache).
    fn clone(&self) -> Self {
        Authorizer::default()
    }
}

impl Authorizer {
    /// Whether `user` may do what `attributes` describe.
    pub fn allowed(&self, store: &Store, user: &User<'_>, attributes: &Attributes<'_>) -> bool {
        if is_superuser(user) {
            return true;
        }
        let namespace = match attributes {
            Attributes::Resource { namespace, .. } => namespace,
            Attributes::NonResource { .. } => "",
        };
        self.bound_rules(store, user, namespace).iter().any(|rules| rules.iter().any(|r| covers(r, attributes)))
    }

    /// The rules that apply to `user` in `namespace` (cluster-wide ones only
    /// for ""), for SelfSubjectRulesReview.
    pub fn rules_for(&self, store: &Store, user: &User<'_>, namespace: &str) -> Vec<PolicyRule> {
        if is_superuser(user) {
            return vec![rule(&["*"], &["*"], &["*"])];
        }
        self.bound_rules(store, user, namespace).iter().flat_map(|rules| rules.iter().cloned()).collect()
    }

    /// The rules of the roles bound to `user` in `namespace`, from the
    /// cache while no RBAC object changed.
    fn bound_rules(&self, store: &Store, user: &User<'_>, namespace: &str) -> Arc<[Arc<Vec<PolicyRule>>]> {
        let rbac_revision = [CLUSTER_ROLES, ROLES, CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS].map(|r| store.last_write(r)).into_iter().max().unwrap_or(0);
        let mut cache = self.bound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.rbac_revision != rbac_revision || cache.entries.len() >= BOUND_ENTRIES {
            *cache = BoundCache { rbac_revision, entries: Vec::new() };
        }
        let known = cache.entries.iter().find(|e| e.user == user.name && e.namespace == namespace && e.groups == user.groups);
        if let Some(entry) = known {
            return entry.rules.clone();
        }
        let rules: Arc<[Arc<Vec<PolicyRule>>]> = bound_roles(store, user, namespace).map(|(kind, name)| self.role_rules(store, kind, namespace, name)).collect();
        cache.entries.push(BoundRules { user: user.name.to_string(), groups: user.groups.to_vec(), namespace: namespace.to_string(), rules: rules.clone() });
        rules
    }

    /// A role's rules; only they are decoded, not the role's metadata.
    fn role_rules(&self, store: &Store, kind: &str, namespace: &str, name: &str) -> Arc<Vec<PolicyRule>> {
        let cluster = kind == "ClusterRole";
        let namespace = if cluster { "" } else { namespace };
        let Some(object) = store.get_at(if cluster { CLUSTER_ROLES } else { ROLES }, namespace, name) else { return Arc::default() };
        let mut roles = self.roles.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = roles.iter().position(|(k, ns, n, _, _)| k == kind && ns == namespace && n == name);
        if let Some(at) = known {
            if Arc::ptr_eq(&roles[at].3, object) {
                return roles[at].4.clone();
            }
            roles.swap_remove(at);
        }
        let rules: Arc<Vec<PolicyRule>> = Arc::new(object.get("rules").and_then(read::<Vec<PolicyRule>>).unwrap_or_default());
        roles.push((kind.to_string(), namespace.to_string(), name.to_string(), object.clone(), rules.clone()));
        rules
    }
}

/// Whether a binding names `user` among its subjects. Subjects are read
/// in place: every request checks every binding, and decoding each one
/// cost more than the rest of a request.
fn binds(binding: &Value, user: &User<'_>, binding_namespace: &str) -> bool {
    binding.get("subjects").and_then(Value::as_array).into_iter().flatten().any(|s| {
        let field = |f: &str| s.get(f).and_then(Value::as_str).unwrap_or("");
        user.is_subject(field("kind"), field("name"), s.get("namespace").and_then(Value::as_str), binding_namespace)
    })
}

/// A binding's `roleRef` (kind, name), read in place.
fn role_ref(binding: &Value) -> (&str, &str) {
    let field = |f: &str| binding.get("roleRef").and_then(|r| r.get(f)).and_then(Value::as_str).unwrap_or("");
    (field("kind"), field("name"))
}

/// The roles (kind, name) bound to `user`: by ClusterRoleBindings, then by
/// RoleBindings in `namespace`.
fn bound_roles<'a>(store: &'a Store, user: &'a User<'a>, namespace: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let cluster = store.list(CLUSTER_ROLE_BINDINGS, None).filter(move |(_, b)| binds(b, user, "")).map(|(_, b)| ("ClusterRole", role_ref(b).1));
    let local = store.list(ROLE_BINDINGS, Some(namespace)).filter(move |(_, b)| !namespace.is_empty() && binds(b, user, namespace)).map(|(_, b)| role_ref(b));
    cluster.chain(local)
}

/// RBAC's rule matching: `*` matches anything, `resource/subresource` names a
/// subresource, resourceNames restrict by name, nonResourceURLs may end in `*`.
fn covers(rule: &PolicyRule, attributes: &Attributes<'_>) -> bool {
    let has = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
    match attributes {
        Attributes::Resource { verb, group, resource, subresource, name, .. } => {
            // `resource/subresource` and `*/subresource`, compared without building either.
            let names_it = |r: &str| match r.split_once('/') {
                None => r == "*" || (subresource.is_empty() && r == resource),
                Some((res, sub)) => !subresource.is_empty() && sub == subresource && (res == resource || res == "*"),
            };
            let resources = rule.resources.as_deref().unwrap_or_default();
            let names = rule.resource_names.as_deref().unwrap_or_default();
            has(&rule.verbs, verb)
                && has(rule.api_groups.as_deref().unwrap_or_default(), group)
                && resources.iter().any(|r| names_it(r))
                && (names.is_empty() || names.iter().any(|n| n == name))
        }
        Attributes::NonResource { verb, path } => {
            has(&rule.verbs, verb)
                && rule.non_resource_urls.iter().flatten().any(|u| u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p)))
        }
    }
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL_GROUPS_OF_VIEW: &[&str] = &["", "apps", "batch", "autoscaling", "networking.k8s.io", "discovery.k8s.io", "policy"];
const VIEWABLE: &[&str] = &[
    "pods", "pods/log", "pods/status", "services", "services/status", "endpoints", "configmaps", "serviceaccounts", "events",
    "namespaces", "namespaces/status", "deployments", "deployments/status", "deployments/scale", "replicasets",
    "replicasets/status", "replicasets/scale", "daemonsets", "daemonsets/status", "statefulsets", "statefulsets/status",
    "statefulsets/scale", "jobs", "jobs/status", "cronjobs", "cronjobs/status", "horizontalpodautoscalers",
    "horizontalpodautoscalers/status", "ingresses", "ingresses/status", "endpointslices", "controllerrevisions",
];

/// The ClusterRoles, bindings and users every cluster starts with: the
/// user-facing roles (`cluster-admin`, `admin`, `edit`, `view`), what each
/// control-plane component needs, `admin` as a cluster admin and `viewer`
/// bound to `view`.
pub fn bootstrap_policy() -> Vec<Value> {
    let cluster_role = |name: &str, rules: Vec<PolicyRule>| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}, "rules": rules})
    };
    let binding = |name: &str, role: &str, kind: &str, subject: &str| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": subject}]})
    };
    let non_resource = |verbs: &[&str], urls: &[&str]| PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    };
    // What metrics-server's system:aggregated-metrics-reader adds to view, edit and admin.
    let metrics_reader = || rule(READ, &["metrics.k8s.io"], &["pods", "nodes"]);
    let mut edit = vec![rule(WRITE, ALL_GROUPS_OF_VIEW, VIEWABLE), rule(READ, ALL_GROUPS_OF_VIEW, VIEWABLE), rule(READ, &[""], &["secrets"]), metrics_reader()];
    edit.push(rule(WRITE, &[""], &["secrets"]));
    let mut admin = edit.clone();
    admin.push(rule(&["*"], &["rbac.authorization.k8s.io"], &["roles", "rolebindings"]));
    vec![
        cluster_role("cluster-admin", vec![rule(&["*"], &["*"], &["*"]), non_resource(&["*"], &["*"])]),
        cluster_role("admin", admin),
        cluster_role("edit", edit),
        cluster_role("view", vec![rule(READ, ALL_GROUPS_OF_VIEW, VIEWABLE), metrics_reader()]),
        cluster_role("system:discovery", vec![non_resource(&["get"], &["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"])]),
        cluster_role("system:basic-user", vec![rule(&["create"], &["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"])]),
        cluster_role("system:node", vec![
            rule(&["*"], &[""], &["nodes", "nodes/status"]),
            rule(&["get", "list", "watch", "create", "delete"], &[""], &["pods"]),
            rule(&["update", "patch"], &[""], &["pods/status"]),
            rule(&["create", "patch", "update"], &[""], &["events"]),
            rule(&["*"], &["coordination.k8s.io"], &["leases"]),
            rule(READ, &[""], &["services", "endpoints", "configmaps", "secrets"]),
        ]),
        cluster_role("system:kube-scheduler", vec![
            rule(READ, &["", "apps", "policy", "scheduling.k8s.io"], &["pods", "nodes", "namespaces", "replicasets", "statefulsets", "services", "priorityclasses"]),
            rule(&["create"], &[""], &["pods/binding", "bindings"]),
            rule(&["update", "patch"], &[""], &["pods/status"]),
            rule(&["delete"], &[""], &["pods"]),
            rule(&["create", "patch", "update"], &["", "events.k8s.io"], &["events"]),
            rule(&["*"], &["coordination.k8s.io"], &["leases"]),
        ]),
        cluster_role("system:kube-controller-manager", vec![rule(&["*"], &["*"], &["*"])]),
        binding("cluster-admin", "cluster-admin", "Group", MASTERS),
        binding("system:discovery", "system:discovery", "Group", AUTHENTICATED),
        binding("system:basic-user", "system:basic-user", "Group", AUTHENTICATED),
        binding("system:node", "system:node", "Group", NODES_GROUP),
        binding("system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
        binding("system:kube-controller-manager", "system:kube-controller-manager", "User", "system:kube-controller-manager"),
        binding("system:controller:node-controller", "system:kube-controller-manager", "User", "system:serviceaccount:kube-system:node-controller"),
        binding("tabernetes:admin", "cluster-admin", "User", "admin"),
        binding("tabernetes:viewer", "view", "User", VIEWER),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKey;

    /// A fresh authorizer each time, so no test reads rules another decoded.
    fn allowed(store: &Store, user: &User<'_>, attributes: &Attributes<'_>) -> bool {
        Authorizer::default().allowed(store, user, attributes)
    }

    fn store_with_policy() -> Store {
        let mut store = Store::default();
        for object in bootstrap_policy() {
            let plural = if object["kind"] == "ClusterRole" { "clusterroles" } else { "clusterrolebindings" };
            let name = object["metadata"]["name"].as_str().unwrap().to_string();
            store.create(ObjectKey::new(format!("{plural}.rbac.authorization.k8s.io"), "", name), object).unwrap();
        }
        store
    }

    fn resource<'a>(verb: &'a str, group: &'a str, resource: &'a str, subresource: &'a str, namespace: &'a str) -> Attributes<'a> {
        Attributes::Resource {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: "".into(),
        }
    }

    #[test]
    fn bootstrap_users_get_what_their_roles_say() {
        let store = store_with_policy();
        let authenticated = vec![AUTHENTICATED.to_string()];
        let nodes = vec![NODES_GROUP.to_string(), AUTHENTICATED.to_string()];
        let viewer = User { name: VIEWER, groups: &authenticated };
        let admin = User { name: "admin", groups: &authenticated };
        let stranger = User { name: "mallory", groups: &authenticated };
        let node = User { name: "system:node:n1", groups: &nodes };
        let cases = [
            (&viewer, resource("list", "", "pods", "", "default"), true),
            (&viewer, resource("get", "apps", "deployments", "scale", "default"), true),
            (&viewer, resource("create", "", "pods", "", "default"), false),
            (&viewer, resource("delete", "apps", "deployments", "", "default"), false),
            (&viewer, resource("get", "", "secrets", "", "default"), false),
            (&viewer, resource("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), true),
            (&admin, resource("delete", "", "nodes", "", ""), true),
            (&stranger, resource("get", "", "pods", "", "default"), false),
            (&node, resource("update", "", "pods", "status", "default"), true),
            (&node, resource("update", "", "pods", "", "default"), false),
            (&node, resource("create", "apps", "deployments", "", "default"), false),
        ];
        for (user, attributes, want) in cases {
            assert_eq!(allowed(&store, user, &attributes), want, "{} {attributes:?}", user.name);
        }
        let discovery = Attributes::NonResource { verb: "get".into(), path: "/apis/apps/v1".into() };
        assert!(allowed(&store, &stranger, &discovery));
        let other = Attributes::NonResource { verb: "get".into(), path: "/metrics".into() };
        assert!(!allowed(&store, &stranger, &other));
    }

    #[test]
    fn role_bindings_grant_only_in_their_namespace() {
        let mut store = store_with_policy();
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "dev-edit", "namespace": "dev"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "ci"}]});
        store.create(ObjectKey::new("rolebindings.rbac.authorization.k8s.io", "dev", "dev-edit"), binding).unwrap();
        let groups = vec![AUTHENTICATED.to_string()];
        let ci = User { name: "system:serviceaccount:dev:ci", groups: &groups };
        assert!(allowed(&store, &ci, &resource("create", "apps", "deployments", "", "dev")));
        assert!(!allowed(&store, &ci, &resource("create", "apps", "deployments", "", "prod")));
        let impostor = User { name: "system:serviceaccount:prod:ci", groups: &groups };
        assert!(!allowed(&store, &impostor, &resource("create", "apps", "deployments", "", "dev")));
    }

    #[test]
    fn one_authorizer_sees_bindings_and_roles_change_between_requests() {
        let mut store = store_with_policy();
        let authorizer = Authorizer::default();
        let groups = vec![AUTHENTICATED.to_string()];
        let ci = User { name: "ci", groups: &groups };
        let create = resource("create", "apps", "deployments", "", "dev");
        assert!(!authorizer.allowed(&store, &ci, &create));
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "ci", "namespace": "dev"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
            "subjects": [{"kind": "User", "name": "ci"}]});
        store.create(ObjectKey::new(ROLE_BINDINGS, "dev", "ci"), binding).unwrap();
        assert!(!authorizer.allowed(&store, &ci, &create), "the role it names does not exist yet");
        let role = |verbs: &[&str]| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "deployer", "namespace": "dev"}, "rules": [rule(verbs, &["apps"], &["deployments"])]});
        store.create(ObjectKey::new(ROLES, "dev", "deployer"), role(&["create"])).unwrap();
        assert!(authorizer.allowed(&store, &ci, &create));
        assert!(!authorizer.allowed(&store, &User { name: "ci", groups: &[] }, &resource("create", "apps", "deployments", "", "prod")));
        store.update(ObjectKey::new(ROLES, "dev", "deployer"), role(&["get"]), None).unwrap();
        assert!(!authorizer.allowed(&store, &ci, &create));
        store.delete(&ObjectKey::new(ROLES, "dev", "deployer"), None).unwrap();
        assert!(!authorizer.allowed(&store, &ci, &resource("get", "apps", "deployments", "", "dev")));
    }
}
