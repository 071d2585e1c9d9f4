//! How fast a HorizontalPodAutoscaler may move, after upstream's
//! `normalizeDesiredReplicasWithBehaviors`: a recommendation is first
//! stabilized (scaling down only to the highest recommendation of the
//! scale-down window, 300 s by default, so a brief dip does not remove
//! pods; scaling up only to the lowest of the scale-up window, 0 s), then
//! limited by the policies' rates (by default, up by 4 pods or 100% per
//! 15 s, whichever is more; down by 100% per 15 s), then kept within
//! minReplicas and maxReplicas. The reasons become the HPA's AbleToScale
//! and ScalingLimited conditions.

use k8s_openapi::api::autoscaling::v2::{HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The controller's `--horizontal-pod-autoscaler-downscale-stabilization`.
pub const DOWNSCALE_STABILIZATION_SECS: i32 = 300;

fn policy(type_: &str, value: i32, period: i32) -> HPAScalingPolicy {
    HPAScalingPolicy { type_: type_.into(), value, period_seconds: period }
}

/// The behavior with upstream's defaults for what it leaves out.
pub fn with_defaults(behavior: Option<&HorizontalPodAutoscalerBehavior>) -> (HPAScalingRules, HPAScalingRules) {
    let up_default = HPAScalingRules {
        stabilization_window_seconds: Some(0),
        select_policy: Some("Max".into()),
        policies: Some(vec![policy("Pods", 4, 15), policy("Percent", 100, 15)]),
        tolerance: None,
    };
    let down_default = HPAScalingRules {
        stabilization_window_seconds: Some(DOWNSCALE_STABILIZATION_SECS),
        select_policy: Some("Max".into()),
        policies: Some(vec![policy("Percent", 100, 15)]),
        tolerance: None,
    };
    let merge = |given: Option<&HPAScalingRules>, default: HPAScalingRules| match given {
        None => default,
        Some(rules) => HPAScalingRules {
            stabilization_window_seconds: rules.stabilization_window_seconds.or(default.stabilization_window_seconds),
            select_policy: rules.select_policy.clone().or(default.select_policy),
            policies: rules.policies.clone().filter(|p| !p.is_empty()).or(default.policies),
            tolerance: rules.tolerance.clone(),
        },
    };
    (merge(behavior.and_then(|b| b.scale_up.as_ref()), up_default), merge(behavior.and_then(|b| b.scale_down.as_ref()), down_default))
}

/// What an HPA remembers between syncs (upstream keeps it in memory too).
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Unstabilized recommendations, with when they were made.
    recommendations: Vec<(Timestamp, i32)>,
    /// Rescales: (when, change in replicas), up and down.
    scale_ups: Vec<(Timestamp, i32)>,
    scale_downs: Vec<(Timestamp, i32)>,
}

/// A decision and why, for the conditions: (replicas, AbleToScale reason
/// and message, ScalingLimited?, its reason and message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    pub replicas: i32,
    pub able_reason: &'static str,
    pub able_message: &'static str,
    pub limited: bool,
    pub limited_reason: &'static str,
    pub limited_message: &'static str,
}

impl History {
    pub fn record_rescale(&mut self, from: i32, to: i32, now: Timestamp) {
        if to > from {
            self.scale_ups.push((now, to - from));
        } else if to < from {
            self.scale_downs.push((now, from - to));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn normalize(&mut self, behavior: Option<&HorizontalPodAutoscalerBehavior>, current: i32, desired: i32, min: i32, max: i32, now: Timestamp) -> Normalized {
        let (up, down) = with_defaults(behavior);
        let stabilized = self.stabilize(&up, &down, current, desired, now);
        let (able_reason, able_message) = if stabilized != desired {
            if desired >= current {
                ("ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation")
            } else {
                ("ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
            }
        } else {
            ("ReadyForNewScale", "recommended size matches current size")
        };
        let (replicas, limited_reason, limited_message) = self.limit_rate(&up, &down, current, stabilized, min, max, now);
        Normalized { replicas, able_reason, able_message, limited: replicas != stabilized, limited_reason, limited_message }
    }

    /// Bounds the recommendation by the recommendations of the windows, and
    /// records it (replacing one older than both windows, as upstream).
    fn stabilize(&mut self, up: &HPAScalingRules, down: &HPAScalingRules, current: i32, desired: i32, now: Timestamp) -> i32 {
        let window = |rules: &HPAScalingRules| SignedDuration::from_secs(i64::from(rules.stabilization_window_seconds.unwrap_or(0)));
        let (up_cutoff, down_cutoff) = (now - window(up), now - window(down));
        let (mut up_limit, mut down_limit) = (desired, desired);
        let mut old = None;
        for (i, (at, recommendation)) in self.recommendations.iter().enumerate() {
            if *at > up_cutoff {
                up_limit = up_limit.min(*recommendation);
            }
            if *at > down_cutoff {
                down_limit = down_limit.max(*recommendation);
            }
            if *at < up_cutoff && *at < down_cutoff {
                old = Some(i);
            }
        }
        match old {
            Some(i) => self.recommendations[i] = (now, desired),
            None => self.recommendations.push((now, desired)),
        }
        current.max(up_limit).min(down_limit)
    }

    /// The change in replicas within the last `period` seconds.
    fn changed_within(events: &[(Timestamp, i32)], period: i32, now: Timestamp) -> i32 {
        let cutoff = now - SignedDuration::from_secs(i64::from(period));
        events.iter().filter(|(at, _)| *at > cutoff).map(|(_, n)| n).sum()
    }

    #[allow(clippy::too_many_arguments)]
    fn limit_rate(&mut self, up: &HPAScalingRules, down: &HPAScalingRules, current: i32, desired: i32, min: i32, max: i32, now: Timestamp) -> (i32, &'static str, &'static str) {
        // Events older than the longest policy period no longer matter.
        let longest = up.policies.iter().chain(down.policies.iter()).flatten().map(|p| p.period_seconds).max().unwrap_or(0);
        let horizon = now - SignedDuration::from_secs(i64::from(longest));
        self.scale_ups.retain(|(at, _)| *at > horizon);
        self.scale_downs.retain(|(at, _)| *at > horizon);
        if desired > current {
            let mut limit = self.scale_up_limit(up, current, now).max(current);
            let (reason, message) = if max > limit {
                ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
            } else {
                limit = max;
                ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
            };
            if desired > limit {
                return (limit, reason, message);
            }
        } else if desired < current {
            let mut limit = self.scale_down_limit(down, current, now).min(current);
            let (reason, message) = if min < limit {
                ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
            } else {
                limit = min;
                ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
            };
            if desired < limit {
                return (limit, reason, message);
            }
        }
        (desired, "DesiredWithinRange", "the desired count is within the acceptable range")
    }

    fn scale_up_limit(&self, rules: &HPAScalingRules, current: i32, now: Timestamp) -> i32 {
        let select = rules.select_policy.as_deref().unwrap_or("Max");
        if select == "Disabled" {
            return current;
        }
        let proposals = rules.policies.iter().flatten().map(|p| {
            let start = current - Self::changed_within(&self.scale_ups, p.period_seconds, now) + Self::changed_within(&self.scale_downs, p.period_seconds, now);
            match p.type_.as_str() {
                "Pods" => start + p.value,
                _ => (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32,
            }
        });
        if select == "Min" { proposals.min() } else { proposals.max() }.unwrap_or(current)
    }

    fn scale_down_limit(&self, rules: &HPAScalingRules, current: i32, now: Timestamp) -> i32 {
        let select = rules.select_policy.as_deref().unwrap_or("Max");
        if select == "Disabled" {
            return current;
        }
        let proposals = rules.policies.iter().flatten().map(|p| {
            let start = current + Self::changed_within(&self.scale_downs, p.period_seconds, now) - Self::changed_within(&self.scale_ups, p.period_seconds, now);
            match p.type_.as_str() {
                "Pods" => start - p.value,
                _ => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
            }
        });
        // Max: the biggest change allowed, so the lowest count.
        if select == "Min" { proposals.max() } else { proposals.min() }.unwrap_or(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn scale_down_waits_for_the_window_and_scale_up_for_the_rate() {
        let mut history = History::default();
        // A high recommendation at 0 s holds the count up for 300 s.
        assert_eq!(history.normalize(None, 4, 8, 1, 20, at(0)).replicas, 8);
        history.record_rescale(4, 8, at(0));
        let held = history.normalize(None, 8, 2, 1, 20, at(60));
        assert_eq!((held.replicas, held.able_reason), (8, "ScaleDownStabilized"));
        assert_eq!(history.normalize(None, 8, 2, 1, 20, at(301)).replicas, 2);
        // Up by at most max(4 pods, 100%) per 15 s: from 2, at most 6.
        let mut history = History::default();
        let limited = history.normalize(None, 2, 30, 1, 40, at(0));
        assert_eq!((limited.replicas, limited.limited, limited.limited_reason), (6, true, "ScaleUpLimit"));
        history.record_rescale(2, 6, at(0));
        assert_eq!(history.normalize(None, 6, 30, 1, 40, at(10)).replicas, 6, "the 15 s period is used up");
        assert_eq!(history.normalize(None, 6, 30, 1, 40, at(16)).replicas, 12);
        let capped = History::default().normalize(None, 6, 30, 1, 10, at(0));
        assert_eq!((capped.replicas, capped.limited_reason), (10, "TooManyReplicas"));
    }
}
