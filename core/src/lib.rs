//! Tabernetes core: the Kubernetes control plane as a deterministic, sans-IO
//! state machine. Nothing here reads a clock, a socket or a random source:
//! drivers (the page, node-host, tests) pass requests, node messages and `now`
//! in, and carry out what comes back. That is what lets the same code run in
//! a browser tab, natively, and in tests on a virtual clock.

pub mod apiserver;
pub mod clock;
pub mod cluster_config;
pub mod control_plane;
pub mod controllers;
pub mod cron_schedule;
pub mod images;
pub mod json_path;
pub mod kubelet;
pub mod labels;
pub mod manifest;
pub mod metrics_server;
pub mod node_sessions;
pub mod object_meta;
pub mod protocol;
pub mod quantity;
pub mod scheduler;
pub mod simulation;
pub mod store;
pub mod trace;
pub mod validation;
// Natively only for its tests: native builds keep the platform's memcmp.
#[cfg(any(target_arch = "wasm32", test))]
mod wasm_memcmp;

pub use control_plane::ControlPlane;
/// Time as the control plane sees it; always passed in by the driver.
pub use k8s_openapi::jiff::{SignedDuration, Timestamp};
