//! The in-page node: pods run on the browser's WebAssembly engine.

pub mod compute_meter;
pub mod in_page;
pub mod wasi;
