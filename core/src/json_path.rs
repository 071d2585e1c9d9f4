//! Nested JSON fields read (or written) in place, by their path segments.
//! `serde_json::Value::pointer` builds two Strings per segment to unescape
//! `~0` and `~1`, and the control plane reads a few fields of every object
//! it handles, so `object.at(&["spec", "nodeName"])` is used instead.
//! Segments name object fields; array elements are reached with `get(i)`.

use serde_json::Value;

pub trait JsonPath {
    /// The value at `path`, if every segment names a field of an object.
    fn at(&self, path: &[&str]) -> Option<&Value>;
    fn at_mut(&mut self, path: &[&str]) -> Option<&mut Value>;
}

impl JsonPath for Value {
    fn at(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |value, field| value.get(field))
    }

    fn at_mut(&mut self, path: &[&str]) -> Option<&mut Value> {
        path.iter()
            .try_fold(self, |value, field| value.get_mut(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_what_pointer_finds() {
        let mut pod =
            json!({"spec": {"nodeName": "n1", "containers": [{"name": "c"}]}, "status": null});
        for (path, segments) in [
            ("/spec/nodeName", &["spec", "nodeName"][..]),
            ("/spec", &["spec"]),
            ("/spec/missing", &["spec", "missing"]),
            ("/status/phase", &["status", "phase"]),
            ("/spec/containers/name", &["spec", "containers", "name"]),
        ] {
            assert_eq!(pod.at(segments), pod.pointer(path), "{path}");
        }
        *pod.at_mut(&["spec", "nodeName"]).unwrap() = json!("n2");
        assert_eq!(pod["spec"]["nodeName"], "n2");
        assert_eq!(pod.at(&[]), Some(&pod.clone()));
    }
}
