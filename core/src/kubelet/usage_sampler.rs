//! cAdvisor's arithmetic for the runtimes that really run pods (wasmtime in
//! node-host, the browser's engine in the page): a runtime can only count
//! each container's CPU time so far; a kubelet reports usage as the rate of
//! that count over the last scrape window, in millicores. This turns one into
//! the other, so both runtimes report usage the same way.

use super::runtime::RuntimeEvent;
use std::collections::HashMap;

/// One running container's counters at the moment of a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerCounters {
    pub pod_uid: String,
    pub container: String,
    /// CPU time the container has used since it started.
    pub cpu_nanos: u64,
    /// When it started, on the same monotonic clock as the sample's `now`.
    pub started_nanos: u64,
    /// Its linear memory now.
    pub memory_bytes: u64,
}

/// Remembers each container's previous counters, to report the rate since.
#[derive(Debug, Default)]
pub struct UsageSampler {
    /// (pod UID, container) → (CPU nanos, monotonic nanos) at the last sample.
    last: HashMap<(String, String), (u64, u64)>,
}

impl UsageSampler {
    /// Usage events for every container in `running`, averaged since its
    /// previous sample (or since it started, the first time). Containers that
    /// are no longer running are forgotten.
    pub fn sample(&mut self, now_nanos: u64, running: Vec<ContainerCounters>) -> Vec<RuntimeEvent> {
        let mut next = HashMap::with_capacity(running.len());
        let mut events = Vec::with_capacity(running.len());
        for c in running {
            let key = (c.pod_uid, c.container);
            let (cpu_before, at) = self.last.get(&key).copied().unwrap_or((0, c.started_nanos));
            let wall = now_nanos.saturating_sub(at);
            if wall > 0 {
                events.push(RuntimeEvent::Usage {
                    pod_uid: key.0.clone(),
                    container: key.1.clone(),
                    cpu_millis: millicores(c.cpu_nanos.saturating_sub(cpu_before), wall),
                    memory_bytes: i64::try_from(c.memory_bytes).unwrap_or(i64::MAX),
                });
            }
            next.insert(key, (c.cpu_nanos, now_nanos));
        }
        self.last = next;
        events
    }
}

/// CPU time over wall time, in thousandths of a core, rounded.
fn millicores(cpu_nanos: u64, wall_nanos: u64) -> i64 {
    let millis = (u128::from(cpu_nanos) * 1000 + u128::from(wall_nanos) / 2) / u128::from(wall_nanos);
    i64::try_from(millis).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn counters(container: &str, cpu_nanos: u64, started_nanos: u64) -> ContainerCounters {
        ContainerCounters { pod_uid: "uid-1".into(), container: container.into(), cpu_nanos, started_nanos, memory_bytes: 1 << 20 }
    }

    fn cpu(events: &[RuntimeEvent]) -> Vec<(String, i64)> {
        events
            .iter()
            .map(|e| match e {
                RuntimeEvent::Usage { container, cpu_millis, .. } => (container.clone(), *cpu_millis),
                other => panic!("not usage: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_first_sample_averages_since_the_container_started() {
        let mut sampler = UsageSampler::default();
        // Half a core for 4 s.
        let events = sampler.sample(10 * SECOND, vec![counters("burn", 2 * SECOND, 6 * SECOND)]);
        assert_eq!(cpu(&events), vec![("burn".to_string(), 500)]);
        let RuntimeEvent::Usage { memory_bytes, .. } = &events[0] else { unreachable!() };
        assert_eq!(*memory_bytes, 1 << 20);
    }

    #[test]
    fn later_samples_report_the_rate_since_the_previous_one() {
        let mut sampler = UsageSampler::default();
        sampler.sample(10 * SECOND, vec![counters("burn", 2 * SECOND, 0)]);
        // 3 s of CPU in the next 15 s: 200m, whatever it used before.
        let events = sampler.sample(25 * SECOND, vec![counters("burn", 5 * SECOND, 0)]);
        assert_eq!(cpu(&events), vec![("burn".to_string(), 200)]);
        // Idle since: 0m.
        let events = sampler.sample(40 * SECOND, vec![counters("burn", 5 * SECOND, 0)]);
        assert_eq!(cpu(&events), vec![("burn".to_string(), 0)]);
    }

    #[test]
    fn a_container_that_stopped_is_forgotten_and_counted_anew_if_it_returns() {
        let mut sampler = UsageSampler::default();
        sampler.sample(10 * SECOND, vec![counters("a", 9 * SECOND, 0)]);
        sampler.sample(20 * SECOND, vec![]);
        // Restarted at 20 s: its counter starts again from zero.
        let events = sampler.sample(30 * SECOND, vec![counters("a", SECOND, 20 * SECOND)]);
        assert_eq!(cpu(&events), vec![("a".to_string(), 100)]);
    }

    #[test]
    fn no_time_passed_gives_no_figure_rather_than_a_division_by_zero() {
        let mut sampler = UsageSampler::default();
        assert!(sampler.sample(5 * SECOND, vec![counters("new", 0, 5 * SECOND)]).is_empty());
    }
}
