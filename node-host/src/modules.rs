//! Where node-host finds a pod's module: built-in samples from the
//! playground's `modules/` directory (the same files the page serves).

use std::path::PathBuf;
use tabernetes_core::images::{self, ImageRef};

/// Modules larger than this are refused before compiling.
pub const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct ModuleSource {
    dir: PathBuf,
}

impl ModuleSource {
    pub fn new(dir: PathBuf) -> Self {
        ModuleSource { dir }
    }

    /// The module's bytes, or the reason for ErrImagePull.
    pub fn fetch(&self, image: &str) -> Result<Vec<u8>, String> {
        match images::resolve(image).map_err(|e| e.to_string())? {
            ImageRef::Builtin(name) => {
                let path = self.dir.join(format!("{name}.wasm"));
                let size = std::fs::metadata(&path)
                    .map_err(|e| format!("built-in module {name} is missing at {} ({e}); run scripts/build-workloads.sh", path.display()))?
                    .len();
                if size > MAX_MODULE_BYTES {
                    return Err(format!("module {name} is {size} bytes; the limit is {MAX_MODULE_BYTES}"));
                }
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))
            }
            ImageRef::Url(url) => Err(format!("node-host does not pull modules from URLs yet ({url}); use a built-in image or the in-page node")),
        }
    }
}
