//! Settings of a cluster that a real one takes as flags of its components,
//! gathered in one place for the drivers. The defaults are upstream's; a
//! playground demonstrating node failure can shorten the waits, so that a
//! learner sees pods leave a dead node in a minute rather than in five:
//!
//! ```
//! use tabernetes_core::cluster_config::ClusterConfig;
//! let demo = ClusterConfig { node_monitor_grace_period_secs: 20, default_toleration_seconds: 30 };
//! # let _ = demo;
//! ```

use k8s_openapi::jiff::SignedDuration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// How long a node may show no sign of life (lease renewal or status)
    /// before the node lifecycle controller marks it Unknown
    /// (kube-controller-manager's `--node-monitor-grace-period`, 40 s).
    pub node_monitor_grace_period_secs: i64,
    /// How long pods tolerate their node being not ready or unreachable
    /// before the taint manager evicts them (the API server's
    /// `--default-not-ready-toleration-seconds` and
    /// `--default-unreachable-toleration-seconds`, 300 s), for pods that do
    /// not say themselves.
    pub default_toleration_seconds: i64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_monitor_grace_period_secs: crate::controllers::node_lifecycle::DEFAULT_GRACE_PERIOD.as_secs(),
            default_toleration_seconds: crate::apiserver::admission::DEFAULT_TOLERATION_SECONDS,
        }
    }
}

impl ClusterConfig {
    pub fn node_monitor_grace_period(&self) -> SignedDuration {
        SignedDuration::from_secs(self.node_monitor_grace_period_secs.max(1))
    }
}
