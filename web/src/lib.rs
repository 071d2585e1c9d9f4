//! The Tabernetes playground: the control plane from `tabernetes-core` runs
//! in this page; `cluster` drives it (clock, in-page node, node-host links),
//! `components` render it, and `node` runs pods with the browser's own
//! WebAssembly engine.

pub mod cluster;
pub mod components;
pub mod node;
pub mod node_host_link;
pub mod samples;
pub mod saved_state;

/// Mounts the playground into the page's body, with the cluster this
/// browser kept (IndexedDB is asynchronous, so it is read first).
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        let saved = saved_state::load().await;
        let props = components::app::AppProps { saved: std::rc::Rc::new(saved) };
        yew::Renderer::<components::app::App>::with_props(props).render();
    });
}
