//! Admission plugins that change what is written, after defaulting and
//! before it is stored. One so far: DefaultTolerationSeconds, which lets
//! every pod tolerate its node being not ready or unreachable for a while
//! (300 s by default) before the taint manager evicts it, unless the pod
//! says otherwise. A cluster for demonstrations shortens the wait.

use k8s_openapi::api::core::v1::Toleration;
use serde_json::{json, Value};

/// The upstream default of `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// tolerationSeconds of the not-ready and unreachable NoExecute tolerations added to pods.
    pub default_toleration_seconds: i64,
}

impl Default for Admission {
    fn default() -> Self {
        Admission { default_toleration_seconds: DEFAULT_TOLERATION_SECONDS }
    }
}

impl Admission {
    /// Adds the not-ready and unreachable NoExecute tolerations to a pod
    /// (JSON) that does not already tolerate them.
    pub fn default_toleration_seconds(&self, pod: &mut Value) {
        let Some(spec) = pod.get_mut("spec").filter(|s| s.is_object()) else { return };
        let mut tolerations: Vec<Toleration> = spec.get("tolerations").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default();
        let before = tolerations.len();
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let tolerated = tolerations.iter().any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref().is_none_or(|e| e == "NoExecute"));
            if !tolerated {
                tolerations.push(Toleration {
                    key: Some(key.into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoExecute".into()),
                    toleration_seconds: Some(self.default_toleration_seconds),
                    ..Default::default()
                });
            }
        }
        if tolerations.len() != before {
            spec["tolerations"] = json!(tolerations);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_what_is_missing_with_the_configured_seconds() {
        let admission = Admission { default_toleration_seconds: 30 };
        let mut pod = json!({"spec": {"containers": [], "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}});
        admission.default_toleration_seconds(&mut pod);
        let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), 2, "the pod's own is kept, not duplicated");
        assert_eq!((tolerations[0]["tolerationSeconds"].clone(), tolerations[1]["key"].clone(), tolerations[1]["tolerationSeconds"].clone()), (json!(5), json!("node.kubernetes.io/not-ready"), json!(30)));
        let mut again = pod.clone();
        admission.default_toleration_seconds(&mut again);
        assert_eq!(again, pod);
    }
}
