//! ConfigMaps and Secrets: keys must be valid file names (they become files
//! when mounted), a Secret's `stringData` is folded into `data`, and its type
//! defaults to Opaque and never changes.

use super::Write;
use crate::apiserver::status::FieldError;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;

/// Kubernetes' IsConfigMapKey: `[-._a-zA-Z0-9]+`, not `.` or `..`, at most 253 characters.
fn key_errors(field: &str, key: &str) -> Option<FieldError> {
    let valid_chars = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !valid_chars || key == "." || key == ".." || key.len() > 253 {
        return Some(FieldError::invalid(
            field,
            key,
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ));
    }
    None
}

pub fn config_map(cm: &mut ConfigMap) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = cm.data.iter().flatten().filter_map(|(k, _)| key_errors("data", k)).collect();
    for k in cm.binary_data.iter().flatten().map(|(k, _)| k) {
        if cm.data.as_ref().is_some_and(|d| d.contains_key(k)) {
            errors.push(FieldError::invalid("data", k, "duplicate of key present in binaryData"));
        }
        errors.extend(key_errors("binaryData", k));
    }
    errors
}

pub fn secret(secret: &mut Secret, write: Write<'_>) -> Vec<FieldError> {
    let kind = secret.type_.get_or_insert_with(|| "Opaque".into()).clone();
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(Default::default);
        for (k, v) in strings {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    let mut errors: Vec<FieldError> = secret.data.iter().flatten().filter_map(|(k, _)| key_errors("data", k)).collect();
    if let Write::Update { old } = write {
        let old_type = old.get("type").and_then(|t| t.as_str()).unwrap_or("Opaque");
        if old_type != kind {
            errors.push(FieldError::invalid("type", &kind, "field is immutable"));
        }
    }
    errors
}
