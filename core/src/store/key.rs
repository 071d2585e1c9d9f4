use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

/// Where an object lives: resource (`pods`, `deployments.apps`), namespace
/// (empty for cluster-scoped objects) and name. Ordered so that one resource's
/// objects, and one namespace's within it, are contiguous for range reads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: impl Into<String>, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey { resource: resource.into(), namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.resource, self.name)
        } else {
            write!(f, "{} {}/{}", self.resource, self.namespace, self.name)
        }
    }
}

/// A key as borrowed parts (resource, namespace, name), so that the store
/// is searched without building an `ObjectKey`, three allocations, for
/// each read: every request reads several objects (its namespace, the
/// roles that authorize it, the object it changes).
pub(super) trait KeyParts {
    fn parts(&self) -> (&str, &str, &str);
}

impl KeyParts for ObjectKey {
    fn parts(&self) -> (&str, &str, &str) {
        (&self.resource, &self.namespace, &self.name)
    }
}

impl KeyParts for (&str, &str, &str) {
    fn parts(&self) -> (&str, &str, &str) {
        *self
    }
}

// Compared part by part, as `ObjectKey`'s derived order does (which
// `Borrow` requires).
impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyParts + '_ {}

impl PartialOrd for dyn KeyParts + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyParts + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl<'a> Borrow<dyn KeyParts + 'a> for ObjectKey {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}
