//! What a container's `image` means here: the name of a WebAssembly module.
//! Built-in samples are served by the playground under `/modules/NAME.wasm`;
//! modules are identified by the sha256 of their bytes, like image digests.

use sha2::{Digest, Sha256};

/// Sample modules shipped with Tabernetes, built from `workloads/`.
pub const BUILTIN: &[&str] = &["hello", "stress"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// A built-in sample, by name.
    Builtin(String),
    /// A module fetched over http(s).
    Url(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("image {0:?} not found: built-in images are {list}; other modules are named by an http(s) URL ending in .wasm", list = BUILTIN.join(", "))]
    Unknown(String),
}

/// Resolves an image reference. `hello`, `hello:latest` and
/// `docker.io/library/hello:latest` all name the built-in `hello`.
pub fn resolve(image: &str) -> Result<ImageRef, ImageError> {
    let image = image.trim();
    if image.starts_with("https://") || image.starts_with("http://") {
        return Ok(ImageRef::Url(image.to_string()));
    }
    let without_registry = image.strip_prefix("docker.io/library/").unwrap_or(image);
    let name = match without_registry.split_once(':') {
        Some((name, "latest")) => name,
        Some(_) => return Err(ImageError::Unknown(image.to_string())),
        None => without_registry,
    };
    if BUILTIN.contains(&name) {
        Ok(ImageRef::Builtin(name.to_string()))
    } else {
        Err(ImageError::Unknown(image.to_string()))
    }
}

/// Where the playground serves a built-in module, relative to its origin.
pub fn builtin_path(name: &str) -> String {
    format!("/modules/{name}.wasm")
}

/// The `sha256:…` digest that identifies a module (a container's `imageID`).
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(resolve("hello"), Ok(ImageRef::Builtin("hello".into())));
        assert_eq!(resolve("hello:latest"), Ok(ImageRef::Builtin("hello".into())));
        assert_eq!(resolve("docker.io/library/hello"), Ok(ImageRef::Builtin("hello".into())));
        assert_eq!(resolve("https://example.com/m.wasm"), Ok(ImageRef::Url("https://example.com/m.wasm".into())));
        assert!(resolve("hello:v2").is_err());
        assert!(resolve("nginx:1.25").is_err());
        assert!(resolve("nope").unwrap_err().to_string().contains("built-in images are hello"));
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(digest(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
