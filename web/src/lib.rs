//! The Tabernetes playground: the control plane from `tabernetes-core` runs
//! in this page; `cluster` drives it (clock, in-page node, node-host links),
//! `components` render it, and `node` runs pods with the browser's own
//! WebAssembly engine.

pub mod cluster;
pub mod components;
pub mod node;
pub mod node_host_link;
pub mod samples;

/// Mounts the playground into the page's body.
pub fn start() {
    yew::Renderer::<components::app::App>::new().render();
}
