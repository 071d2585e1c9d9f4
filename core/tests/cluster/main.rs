//! Scenario tests: a whole cluster in core (`tabernetes_core::simulation`),
//! real kubelet agents with scripted runtimes, on a virtual clock. One
//! binary, a module per feature.

mod autoscaling;
mod cascades;
mod cron_jobs;
mod daemon_sets;
mod deployments;
mod determinism;
mod jobs;
mod nodes;
mod properties;
mod services;
mod stateful_sets;
mod support;
