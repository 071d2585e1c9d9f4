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
}

impl ResourceType {
    /// The store's name for this resource: `pods`, `deployments.apps`.
    pub fn storage_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
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
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The URL of one object, or of the collection when `name` is None.
    pub fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let mut path = self.group_version_path();
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

pub const PODS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    short_names: &["po"],
    subresources: &["status", "binding", "log"],
    selectable_fields: &["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "status.phase"],
};

pub const NODES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    short_names: &["no"],
    subresources: &["status"],
    selectable_fields: &[],
};

pub const NAMESPACES: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    short_names: &["ns"],
    subresources: &["status"],
    selectable_fields: &["status.phase"],
};

pub const EVENTS: ResourceType = ResourceType {
    group: "",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    short_names: &["ev"],
    subresources: &[],
    selectable_fields: &[
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reason",
        "type",
    ],
};

/// Every served resource.
pub const ALL: &[ResourceType] = &[PODS, NODES, NAMESPACES, EVENTS];

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
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::NoSuchResource),
    };
    let (namespace, rest) = match rest {
        // `/namespaces/{name}` alone (or with a subresource) is the Namespace object itself.
        ["namespaces", ns, plural, rest @ ..] if group.is_empty() && !(rest.is_empty() && *plural == "status") => {
            (Some(ns.to_string()), std::iter::once(*plural).chain(rest.iter().copied()).collect::<Vec<_>>())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
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

    #[test]
    fn paths_name_the_resource_namespace_name_and_subresource() {
        let cases: &[(&str, Option<(&str, Option<&str>, Option<&str>, Option<&str>)>)] = &[
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
            ("/apis/apps/v1/deployments", None),
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
