//! How many replicas a resource metric asks for, after upstream's
//! `podautoscaler/replica_calculator.go`: desired = ceil(ready pods ×
//! current / target), unless the ratio is within the 10% tolerance. Pods
//! without metrics count as using all of their request when scaling down
//! and nothing when scaling up; pods not ready count as using nothing when
//! scaling up; and if that second look reverses the direction or lands in
//! the tolerance, nothing changes. Pods being deleted, failed pods and (for
//! CPU) pods not ready are left out of the measurement.

/// `--horizontal-pod-autoscaler-tolerance`.
pub const TOLERANCE: f64 = 0.1;

/// One pod the target selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSample {
    pub name: String,
    /// Counted in the measurement (Running, and for CPU, Ready).
    pub ready: bool,
    /// Deleted or failed: ignored altogether.
    pub ignored: bool,
    /// Its usage (millicores or bytes), if the metrics pipeline has it.
    pub usage: Option<i64>,
    /// The sum of its containers' requests for the resource.
    pub request: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalculationError {
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetrics,
    #[error("missing request for {resource} in pod {pod}")]
    MissingRequest { resource: String, pod: String },
}

/// What a metric says: the replicas it wants and what it measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub replicas: i32,
    /// Usage as a percentage of requests (Utilization targets).
    pub utilization: Option<i32>,
    /// Average usage per measured pod.
    pub average: i64,
}

/// The measured ratio to the target: (ratio, utilization %, average usage).
fn ratio(measured: &[(i64, i64)], target: Target) -> (f64, Option<i32>, i64) {
    let usage: i64 = measured.iter().map(|(u, _)| u).sum();
    let requests: i64 = measured.iter().map(|(_, r)| r).sum();
    let average = usage / (measured.len().max(1) as i64);
    match target {
        Target::Utilization(percent) => {
            let utilization = if requests > 0 { (usage * 100 / requests) as i32 } else { 0 };
            (f64::from(utilization) / f64::from(percent.max(1)), Some(utilization), average)
        }
        Target::AverageValue(value) => (average as f64 / value.max(1) as f64, None, average),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A percentage of the pods' requests.
    Utilization(i32),
    /// An average usage per pod, in the resource's unit.
    AverageValue(i64),
}

pub fn desired_replicas(current: i32, target: Target, resource: &str, pods: &[PodSample]) -> Result<Recommendation, CalculationError> {
    if pods.is_empty() {
        return Err(CalculationError::NoPods);
    }
    let counted: Vec<&PodSample> = pods.iter().filter(|p| !p.ignored).collect();
    let request = |p: &PodSample| -> Result<i64, CalculationError> {
        match (target, p.request) {
            (Target::AverageValue(_), r) => Ok(r.unwrap_or(0)),
            (Target::Utilization(_), Some(r)) if r > 0 => Ok(r),
            _ => Err(CalculationError::MissingRequest { resource: resource.to_string(), pod: p.name.clone() }),
        }
    };
    let mut measured = Vec::new();
    let (mut missing, mut unready) = (Vec::new(), Vec::new());
    for pod in &counted {
        match pod.usage {
            None if pod.ready => missing.push(request(pod)?),
            Some(usage) if pod.ready => measured.push((usage, request(pod)?)),
            _ => unready.push(request(pod)?),
        }
    }
    if measured.is_empty() {
        return Err(CalculationError::NoMetrics);
    }
    let ready_count = measured.len() as f64;
    let (usage_ratio, utilization, average) = ratio(&measured, target);
    let recommend = |replicas: i32| Recommendation { replicas, utilization, average };
    let scale_up_with_unready = !unready.is_empty() && usage_ratio > 1.0;
    if !scale_up_with_unready && missing.is_empty() {
        if (1.0 - usage_ratio).abs() <= TOLERANCE {
            return Ok(recommend(current));
        }
        return Ok(recommend((usage_ratio * ready_count).ceil() as i32));
    }
    // A second look, assuming the worst for the direction the first one took.
    let mut assumed = measured.clone();
    if usage_ratio < 1.0 {
        let fallback = match target {
            Target::Utilization(percent) => i64::from(percent.max(100)),
            Target::AverageValue(_) => 100,
        };
        assumed.extend(missing.iter().map(|r| (r * fallback / 100, *r)));
    } else if usage_ratio > 1.0 {
        assumed.extend(missing.iter().map(|r| (0, *r)));
    }
    if scale_up_with_unready {
        assumed.extend(unready.iter().map(|r| (0, *r)));
    }
    let (new_ratio, _, _) = ratio(&assumed, target);
    let reversed = (usage_ratio < 1.0 && new_ratio > 1.0) || (usage_ratio > 1.0 && new_ratio < 1.0);
    if (1.0 - new_ratio).abs() <= TOLERANCE || reversed {
        return Ok(recommend(current));
    }
    let replicas = (new_ratio * assumed.len() as f64).ceil() as i32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(recommend(current));
    }
    Ok(recommend(replicas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ready: bool, usage: Option<i64>) -> PodSample {
        PodSample { name: "p".into(), ready, ignored: false, usage, request: Some(100) }
    }

    #[test]
    fn table() {
        let target = Target::Utilization(50);
        // (current replicas, pods, desired replicas, utilization)
        let cases = [
            (2, vec![pod(true, Some(90)), pod(true, Some(90))], 4, Some(90)),
            (2, vec![pod(true, Some(52)), pod(true, Some(54))], 2, Some(53)),
            (4, vec![pod(true, Some(10)); 4], 1, Some(10)),
            // A missing metric counts as the whole request when scaling down: (10+10+10+100)/400 = 32% → 4 × 0.64 → 3.
            (4, vec![pod(true, Some(10)), pod(true, Some(10)), pod(true, Some(10)), pod(true, None)], 3, Some(10)),
            // …and when that reverses the direction (55% > 50%), nothing changes.
            (4, vec![pod(true, Some(10)), pod(true, Some(10)), pod(true, None), pod(true, None)], 4, Some(10)),
            // Unready pods count as nothing when scaling up: (100+0)/200 = 50% → within tolerance, no change.
            (2, vec![pod(true, Some(100)), pod(false, None)], 2, Some(100)),
            (3, vec![pod(true, Some(150)), pod(false, None), pod(false, None)], 3, Some(150)),
            (3, vec![pod(true, Some(200)), pod(false, None), pod(false, None)], 4, Some(200)),
        ];
        for (current, pods, want, utilization) in cases {
            let got = desired_replicas(current, target, "cpu", &pods).unwrap();
            assert_eq!((got.replicas, got.utilization), (want, utilization), "{pods:?}");
        }
    }

    #[test]
    fn errors_say_what_is_missing() {
        let target = Target::Utilization(50);
        assert_eq!(desired_replicas(1, target, "cpu", &[]), Err(CalculationError::NoPods));
        assert_eq!(desired_replicas(1, target, "cpu", &[pod(false, None)]), Err(CalculationError::NoMetrics));
        let no_request = PodSample { request: None, ..pod(true, Some(10)) };
        assert_eq!(desired_replicas(1, target, "cpu", &[no_request]).unwrap_err().to_string(), "missing request for cpu in pod p");
    }
}
