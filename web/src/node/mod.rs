//! The in-page node: pods run on the browser's WebAssembly engine.

pub mod in_page;
pub mod wasi;
