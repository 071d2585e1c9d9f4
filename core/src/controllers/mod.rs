//! Controllers: each keeps one kind of desired state, in its own file.

pub mod node_lifecycle;
