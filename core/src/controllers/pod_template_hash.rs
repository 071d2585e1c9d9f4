//! The `pod-template-hash`: a short, stable name for a pod template. A
//! Deployment names each ReplicaSet `<deployment>-<hash>` and adds the hash
//! as a label to the ReplicaSet's selector and template, so that the
//! ReplicaSets of one Deployment never select each other's pods.
//!
//! Kubernetes hashes with FNV-32a over a deep printing of the template; any
//! stable hash serves, so this one is SHA-256 over canonical JSON (keys
//! sorted), turned into decimal and spelled with Kubernetes' no-vowel
//! alphabet, which gives names shaped like Kubernetes' own (`7d4b9c8f5d`).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const LABEL: &str = "pod-template-hash";

/// The alphabet of `rand.SafeEncodeString`: no vowels, no look-alikes.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of a template; `collision_count` (from the Deployment's status)
/// changes it when a ReplicaSet of that name already exists for another
/// template.
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut text = String::new();
    canonical(&serde_json::to_value(template).unwrap_or(Value::Null), &mut text);
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    if let Some(count) = collision_count {
        hasher.update(count.to_le_bytes());
    }
    let digest = hasher.finalize();
    let number = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]);
    number.to_string().bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

/// JSON with object keys in sorted order, whatever map the build uses.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The template without its `pod-template-hash` label.
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    let metadata = template.metadata.get_or_insert_with(Default::default);
    if let Some(labels) = metadata.labels.as_mut() {
        labels.remove(LABEL);
        if labels.is_empty() {
            metadata.labels = None;
        }
    }
    if metadata == &Default::default() {
        template.metadata = None;
    }
    template
}

/// Whether two templates are the same but for the hash label: how a
/// Deployment recognises the ReplicaSet of its current template, including
/// an old one after a rollback.
pub fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(value: Value) -> PodTemplateSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn hashes_are_stable_short_and_spelled_like_kubernetes() {
        let web = template(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "hello:1"}]}}));
        let hash = compute(&web, None);
        assert_eq!(hash, compute(&web.clone(), None));
        assert!((1..=10).contains(&hash.len()), "{hash}");
        assert!(hash.bytes().all(|c| ALPHABET.contains(&c)), "{hash}");
        let other = template(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "hello:2"}]}}));
        assert_ne!(compute(&other, None), hash);
        assert_ne!(compute(&web, Some(1)), hash, "a collision count changes the hash");
    }

    #[test]
    fn templates_compare_without_their_hash_label() {
        let base = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "hello"}]}});
        let mut hashed = base.clone();
        hashed["metadata"]["labels"][LABEL] = json!("abc");
        let mut changed = base.clone();
        changed["spec"]["containers"][0]["image"] = json!("other");
        let bare = json!({"spec": {"containers": [{"name": "c", "image": "hello"}]}});
        let bare_hashed = json!({"metadata": {"labels": {LABEL: "x"}}, "spec": {"containers": [{"name": "c", "image": "hello"}]}});
        let cases = [(&base, &hashed, true), (&base, &changed, false), (&bare, &bare_hashed, true), (&base, &bare, false)];
        for (a, b, want) in cases {
            assert_eq!(equal_ignoring_hash(&template(a.clone()), &template(b.clone())), want, "{a} vs {b}");
        }
    }
}
