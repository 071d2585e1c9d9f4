//! Typed decoding of request bodies with the field paths Kubernetes reports,
//! and detection of unknown fields for `fieldValidation=Strict`.

use super::status::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How unknown fields in a request body are treated (the `fieldValidation` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other:?}: supported values: \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// Decodes `value` as `T`. A wrong type is a 400 naming the field; unknown
/// fields are returned, and are an error under `Strict`.
pub fn decode<T: DeserializeOwned>(value: &Value, validation: FieldValidation) -> Result<(T, Vec<String>), ApiError> {
    // The path of a type error is tracked only when there is one: tracking
    // it on every decode allocated for every key of every object written.
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    let typed: T = serde_ignored::deserialize(value, &mut record).map_err(|_| decode_error::<T>(value))?;
    unknown.retain(|p| p != "apiVersion" && p != "kind");
    if validation == FieldValidation::Strict && !unknown.is_empty() {
        let list = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect::<Vec<_>>().join(", ");
        return Err(ApiError::bad_request(format!("strict decoding error: {list}")));
    }
    Ok((typed, unknown))
}

/// The error for a body that does not decode, naming the field at fault.
fn decode_error<T: DeserializeOwned>(value: &Value) -> ApiError {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => ApiError::bad_request("error decoding request body"),
        Err(e) => {
            let path = e.path().to_string();
            ApiError::bad_request(if path == "." {
                format!("error decoding request body: {}", e.inner())
            } else {
                format!("error decoding request body: {path}: {}", e.inner())
            })
        }
    }
}

fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() { key.clone() } else { format!("{parent}.{key}") }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn type_errors_name_the_field() {
        let body = json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": 5}]}});
        let err = decode::<Pod>(&body, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(err.to_string().contains("spec.containers[0].image"), "{err}");
    }

    #[test]
    fn unknown_fields_depend_on_field_validation() {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [], "replicas": 3}});
        let (_, unknown) = decode::<Pod>(&body, FieldValidation::Ignore).unwrap();
        assert_eq!(unknown, vec!["spec.replicas"]);
        let nested = json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "imagee": "hello"}]}});
        let (_, unknown) = decode::<Pod>(&nested, FieldValidation::Warn).unwrap();
        assert_eq!(unknown, vec!["spec.containers[0].imagee"]);
        let err = decode::<Pod>(&body, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.to_string(), "strict decoding error: unknown field \"spec.replicas\"");
    }
}
