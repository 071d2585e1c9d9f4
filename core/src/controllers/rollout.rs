//! The arithmetic of a Deployment's rollout, as in Kubernetes'
//! `deployment/util`: how many pods a rolling update may add (maxSurge,
//! rounded up) or lose (maxUnavailable, rounded down), how far the new
//! ReplicaSet may grow, how a resize is shared among the ReplicaSets of an
//! unfinished rollout, and the revision numbers `kubectl rollout` shows.
//! Pure functions of the objects, so each rule is tested on its own.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::cmp::Ordering;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// `spec.replicas` (defaulted to 1 by the API server).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn is_rolling_update(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate"
}

/// An absolute count, or a percentage of `total` rounded up or down.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let percent: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = percent * i64::from(total);
            (if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) }) as i32
        }
    }
}

/// (maxSurge, maxUnavailable) for `desired` pods. Both zero would stall a
/// rollout, so unavailability is then 1.
pub fn resolve_fenceposts(surge: Option<&IntOrString>, unavailable: Option<&IntOrString>, desired: i32) -> (i32, i32) {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(surge.unwrap_or(&zero), desired, true);
    let unavailable = scaled_value(unavailable.unwrap_or(&zero), desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(rolling.and_then(|r| r.max_surge.as_ref()), rolling.and_then(|r| r.max_unavailable.as_ref()), replicas(d))
}

/// How many pods above `replicas` a rolling update may run.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    fenceposts(d).0
}

/// How many of `replicas` may be unavailable during a rolling update.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// Sum of `spec.replicas`: the pods the ReplicaSets are asked for.
pub fn replica_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_replicas).sum()
}

fn status_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>, field: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>) -> i32 {
    rss.into_iter().filter_map(|rs| rs.status.as_ref().and_then(&field)).sum()
}

/// Sum of `status.replicas`: the pods that exist.
pub fn actual_replica_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    status_count(rss, |s| Some(s.replicas))
}

pub fn ready_replica_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    status_count(rss, |s| s.ready_replicas)
}

pub fn available_replica_count<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    status_count(rss, |s| s.available_replicas)
}

/// The size the new ReplicaSet may grow to now. A rolling update keeps the
/// total at most `replicas + maxSurge`; Recreate goes straight to `replicas`.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling_update(d) {
        return replicas(d);
    }
    let current = replica_count(all.iter().copied());
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let scale_up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
    rs_replicas(new_rs) + scale_up
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(rs, key)?.parse().ok()
}

/// The revision a ReplicaSet stands for (0 when it has none).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().map(revision).max().unwrap_or(0)
}

/// Whether the new ReplicaSet holds the whole Deployment: every pod asked
/// for, asked for by this Deployment size, and available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let available = rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
    rs_replicas(rs) == replicas(d) && int_annotation(rs, DESIRED_REPLICAS) == Some(replicas(d)) && available == replicas(d)
}

/// Oldest first; same instant by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The one ReplicaSet a resize can simply go to: the only active one, or,
/// when none is active, the new one (else the newest old one). None when
/// several are active, and the resize must be shared.
pub fn active_or_latest(all: &[&ReplicaSet], new_rs: Option<usize>) -> Option<usize> {
    let active: Vec<usize> = (0..all.len()).filter(|i| rs_replicas(all[*i]) > 0).collect();
    match active.as_slice() {
        [] => new_rs.or_else(|| (0..all.len()).max_by(|a, b| by_creation(all[*a], all[*b]))),
        [only] => Some(*only),
        _ => None,
    }
}

/// How the sizes of active ReplicaSets change when the Deployment is
/// resized mid-rollout: the difference to `replicas + maxSurge` is shared
/// in proportion to each one's size when it was last sized (its
/// `max-replicas` annotation), so a half-done rollout stays half done.
/// Returns the new size of each of `active`, in the same order.
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> Vec<i32> {
    let total: i32 = replica_count(active.iter().copied());
    let allowed = if replicas(d) > 0 { replicas(d) + max_surge(d) } else { 0 };
    let to_add = allowed - total;
    let mut sizes: Vec<i32> = active.iter().map(|rs| rs_replicas(rs)).collect();
    if to_add == 0 || active.is_empty() {
        return sizes;
    }
    // Larger first; among equals, scale up the newer and down the older first.
    let mut order: Vec<usize> = (0..active.len()).collect();
    order.sort_by(|a, b| {
        let (ra, rb) = (active[*a], active[*b]);
        rs_replicas(rb).cmp(&rs_replicas(ra)).then_with(|| if to_add > 0 { by_creation(rb, ra) } else { by_creation(ra, rb) })
    });
    let mut added = 0;
    for &i in &order {
        let proportion = proportion(active[i], d, to_add, added);
        sizes[i] += proportion;
        added += proportion;
    }
    // Rounding leftovers go to the largest.
    let first = order[0];
    sizes[first] = (sizes[first] + to_add - added).max(0);
    sizes
}

fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// The change this ReplicaSet's share of the Deployment asks for.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let max_now = replicas(d) + max_surge(d);
    let max_before = match int_annotation(rs, MAX_REPLICAS).filter(|m| *m != 0) {
        Some(m) => m,
        None => match d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0) {
            0 => return 0,
            r => r,
        },
    };
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(max_before);
    size.round() as i32 - rs_replicas(rs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn deployment(replicas: i32, surge: Value, unavailable: Value) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"replicas": replicas, "selector": {},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}, "template": {}}}))
        .unwrap()
    }

    fn rs(name: &str, replicas: i32, created: i64, max_replicas: Option<i32>) -> ReplicaSet {
        let annotations = max_replicas.map(|m| json!({MAX_REPLICAS: m.to_string()})).unwrap_or(json!({}));
        serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations,
            "creationTimestamp": k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 + created).unwrap().to_string()},
            "spec": {"replicas": replicas, "selector": {}}}))
        .unwrap()
    }

    #[test]
    fn surge_rounds_up_and_unavailability_rounds_down() {
        // (replicas, maxSurge, maxUnavailable, want surge, want unavailable)
        let cases = [
            (4, json!("25%"), json!("25%"), 1, 1),
            (10, json!("25%"), json!("25%"), 3, 2),
            (3, json!("25%"), json!("25%"), 1, 0),
            (1, json!("0%"), json!("10%"), 0, 1),
            (5, json!(0), json!(0), 0, 1),
            (5, json!(2), json!("100%"), 2, 5),
            (2, json!(1), json!(5), 1, 2),
            (0, json!("25%"), json!("25%"), 0, 0),
        ];
        for (replicas, surge, unavailable, want_surge, want_unavailable) in cases {
            let d = deployment(replicas, surge.clone(), unavailable.clone());
            assert_eq!((max_surge(&d), max_unavailable(&d)), (want_surge, want_unavailable), "{replicas} replicas, {surge}/{unavailable}");
        }
    }

    #[test]
    fn the_new_replica_set_grows_within_the_surge() {
        // (replicas, maxSurge, old size, new size, want new size)
        let cases = [(3, 1, 3, 0, 1), (3, 1, 2, 1, 2), (3, 1, 3, 1, 1), (3, 0, 3, 0, 0), (3, 2, 0, 0, 3), (3, 1, 0, 5, 5)];
        for (replicas, surge, old, new, want) in cases {
            let d = deployment(replicas, json!(surge), json!(0));
            let (old, new) = (rs("old", old, 0, None), rs("new", new, 1, None));
            assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), want, "{replicas}+{surge}: old {old:?}");
        }
    }

    #[test]
    fn a_resize_mid_rollout_is_shared_in_proportion() {
        // (replicas, maxSurge, [(size, created, max-replicas annotation)], want sizes)
        type Sets = Vec<(i32, i64, Option<i32>)>;
        let cases: Vec<(i32, i32, Sets, Vec<i32>)> = vec![
            // 10 → 20 with surge 0, halfway through: both double.
            (20, 0, vec![(5, 0, Some(10)), (5, 1, Some(10))], vec![10, 10]),
            // Down to 5: both halve, rounding leftovers to the largest.
            (5, 0, vec![(6, 0, Some(10)), (4, 1, Some(10))], vec![3, 2]),
            // Scale to zero empties everything.
            (0, 0, vec![(3, 0, Some(6)), (3, 1, Some(6))], vec![0, 0]),
            // Equal sizes scaling up: the newer one takes the rounding.
            (3, 0, vec![(1, 0, Some(2)), (1, 1, Some(2))], vec![1, 2]),
        ];
        for (replicas, surge, sets, want) in cases {
            let d = deployment(replicas, json!(surge), json!(1));
            let rss: Vec<ReplicaSet> = sets.iter().enumerate().map(|(i, (size, created, max))| rs(&format!("rs{i}"), *size, *created, *max)).collect();
            let refs: Vec<&ReplicaSet> = rss.iter().collect();
            assert_eq!(proportional_sizes(&d, &refs), want, "to {replicas} from {sets:?}");
        }
    }

    #[test]
    fn a_resize_goes_to_the_only_active_replica_set_or_the_newest() {
        let (a, b, c) = (rs("a", 0, 0, None), rs("b", 2, 1, None), rs("c", 0, 2, None));
        assert_eq!(active_or_latest(&[&a, &b, &c], Some(2)), Some(1));
        assert_eq!(active_or_latest(&[&a, &c], Some(0)), Some(0));
        assert_eq!(active_or_latest(&[&a, &c], None), Some(1), "the newest old one");
        let d = rs("d", 1, 3, None);
        assert_eq!(active_or_latest(&[&b, &d], Some(1)), None);
    }
}
