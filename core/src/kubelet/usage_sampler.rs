//! cAdvisor's arithmetic for the runtimes that really run pods (wasmtime in
//! node-host, the browser's engine in the page): a runtime can only count
//! each container's CPU time so far; a kubelet reports usage as the rate of
//! that count over the last scrape window, in millicores. The sampler keeps
//! the running containers' meters and turns one into the other, so both
//! runtimes report usage the same way.

use super::runtime::RuntimeEvent;
use std::collections::BTreeMap;

/// What a runtime counts for one running container.
pub trait ContainerMeter {
    /// CPU time the container has used since it started.
    fn cpu_nanos(&self) -> u64;
    /// Its linear memory now.
    fn memory_bytes(&self) -> u64;
}

/// Runtimes share a meter between the code that runs the container and the sampler.
impl<M: ContainerMeter + ?Sized> ContainerMeter for std::sync::Arc<M> {
    fn cpu_nanos(&self) -> u64 {
        (**self).cpu_nanos()
    }
    fn memory_bytes(&self) -> u64 {
        (**self).memory_bytes()
    }
}

impl<M: ContainerMeter + ?Sized> ContainerMeter for std::rc::Rc<M> {
    fn cpu_nanos(&self) -> u64 {
        (**self).cpu_nanos()
    }
    fn memory_bytes(&self) -> u64 {
        (**self).memory_bytes()
    }
}

/// One running container: its meter, and its counters at the last sample
/// (or at its start): (CPU nanos, monotonic nanos).
struct Tracked<M> {
    meter: M,
    last: (u64, u64),
}

/// The running containers' meters, by (pod UID, container name), in key
/// order so that a node's report is the same from run to run.
pub struct UsageSampler<M> {
    running: BTreeMap<(String, String), Tracked<M>>,
}

impl<M> Default for UsageSampler<M> {
    fn default() -> Self {
        UsageSampler { running: BTreeMap::new() }
    }
}

impl<M: ContainerMeter> UsageSampler<M> {
    /// A container started at `now_nanos` (a monotonic clock, the same for
    /// every call), counted by `meter`.
    pub fn started(&mut self, pod_uid: &str, container: &str, meter: M, now_nanos: u64) {
        self.running.insert((pod_uid.to_string(), container.to_string()), Tracked { meter, last: (0, now_nanos) });
    }

    /// A container ended: it has no usage any more.
    pub fn stopped(&mut self, pod_uid: &str, container: &str) {
        self.running.remove(&(pod_uid.to_string(), container.to_string()));
    }

    /// Usage events for every running container, averaged since its
    /// previous sample (or since it started, the first time).
    pub fn sample(&mut self, now_nanos: u64) -> Vec<RuntimeEvent> {
        let mut events = Vec::with_capacity(self.running.len());
        for ((pod_uid, container), tracked) in &mut self.running {
            let (cpu_before, at) = tracked.last;
            let cpu = tracked.meter.cpu_nanos();
            let wall = now_nanos.saturating_sub(at);
            if wall == 0 {
                continue;
            }
            events.push(RuntimeEvent::Usage {
                pod_uid: pod_uid.clone(),
                container: container.clone(),
                cpu_millis: millicores(cpu.saturating_sub(cpu_before), wall),
                memory_bytes: i64::try_from(tracked.meter.memory_bytes()).unwrap_or(i64::MAX),
            });
            tracked.last = (cpu, now_nanos);
        }
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
    use std::cell::Cell;
    use std::rc::Rc;

    const SECOND: u64 = 1_000_000_000;

    /// A meter the test sets by hand.
    #[derive(Clone, Default)]
    struct Counter(Rc<Cell<u64>>);

    impl ContainerMeter for Counter {
        fn cpu_nanos(&self) -> u64 {
            self.0.get()
        }
        fn memory_bytes(&self) -> u64 {
            1 << 20
        }
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
        let burn = Counter::default();
        sampler.started("uid-1", "burn", burn.clone(), 6 * SECOND);
        // Half a core for 4 s.
        burn.0.set(2 * SECOND);
        let events = sampler.sample(10 * SECOND);
        assert_eq!(cpu(&events), vec![("burn".to_string(), 500)]);
        let RuntimeEvent::Usage { memory_bytes, .. } = &events[0] else { unreachable!() };
        assert_eq!(*memory_bytes, 1 << 20);
    }

    #[test]
    fn later_samples_report_the_rate_since_the_previous_one() {
        let mut sampler = UsageSampler::default();
        let burn = Counter::default();
        sampler.started("uid-1", "burn", burn.clone(), 0);
        burn.0.set(2 * SECOND);
        sampler.sample(10 * SECOND);
        // 3 s of CPU in the next 15 s: 200m, whatever it used before.
        burn.0.set(5 * SECOND);
        assert_eq!(cpu(&sampler.sample(25 * SECOND)), vec![("burn".to_string(), 200)]);
        // Idle since: 0m.
        assert_eq!(cpu(&sampler.sample(40 * SECOND)), vec![("burn".to_string(), 0)]);
    }

    #[test]
    fn a_container_that_stopped_is_forgotten_and_counted_anew_if_it_returns() {
        let mut sampler = UsageSampler::default();
        let first = Counter::default();
        sampler.started("uid-1", "a", first.clone(), 0);
        first.0.set(9 * SECOND);
        sampler.sample(10 * SECOND);
        sampler.stopped("uid-1", "a");
        assert!(sampler.sample(20 * SECOND).is_empty());
        // Restarted at 20 s: its counter starts again from zero.
        let again = Counter::default();
        sampler.started("uid-1", "a", again.clone(), 20 * SECOND);
        again.0.set(SECOND);
        assert_eq!(cpu(&sampler.sample(30 * SECOND)), vec![("a".to_string(), 100)]);
    }

    #[test]
    fn no_time_passed_gives_no_figure_rather_than_a_division_by_zero() {
        let mut sampler = UsageSampler::default();
        sampler.started("uid-1", "new", Counter::default(), 5 * SECOND);
        assert!(sampler.sample(5 * SECOND).is_empty());
    }
}
