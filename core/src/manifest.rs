//! Parsing manifests as people write them: YAML (or JSON), one or more
//! documents, with the line and column of any syntax error.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    #[error("document {index}: {message}")]
    Shape { index: usize, message: String },
}

/// Every non-empty document, in order; a `kind: List` is expanded into its items.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value: Value = serde::Deserialize::deserialize(document).map_err(|e| match e.location() {
            Some(at) => ManifestError::Syntax {
                line: at.line(),
                column: at.column(),
                message: strip_location(&e.to_string()),
            },
            None => ManifestError::Syntax { line: 1, column: 1, message: e.to_string() },
        })?;
        match value {
            Value::Null => continue,
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = map.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                documents.extend(items);
            }
            Value::Object(_) => documents.push(value),
            other => {
                return Err(ManifestError::Shape {
                    index: index + 1,
                    message: format!("expected a Kubernetes object (a mapping with apiVersion and kind), found {}", describe(&other)),
                })
            }
        }
    }
    for (i, doc) in documents.iter().enumerate() {
        for field in ["apiVersion", "kind"] {
            if doc.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(ManifestError::Shape { index: i + 1, message: format!("{field} is required") });
            }
        }
    }
    Ok(documents)
}

/// serde_yaml's messages end with " at line L column C"; the location is reported separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml() {
        let docs = parse_documents("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["metadata"]["name"], "b");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = parse_documents("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n").unwrap_err();
        match err {
            ManifestError::Syntax { line, column, .. } => assert_eq!((line, column), (5, 1), "{err}"),
            other => panic!("{other:?}"),
        }
        let err = parse_documents("a: 1\n b: 2\n").unwrap_err();
        assert!(matches!(err, ManifestError::Syntax { line: 2, .. }), "{err}");
    }

    #[test]
    fn non_objects_and_missing_kind_are_refused() {
        assert!(matches!(parse_documents("- a\n- b\n"), Err(ManifestError::Shape { index: 1, .. })));
        assert_eq!(
            parse_documents("apiVersion: v1\nmetadata: {name: x}\n").unwrap_err().to_string(),
            "document 1: kind is required"
        );
    }

    #[test]
    fn lists_are_expanded() {
        let docs = parse_documents(r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod"}]}"#).unwrap();
        assert_eq!(docs.len(), 1);
    }
}
