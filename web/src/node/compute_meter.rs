//! What an in-page container uses, as cAdvisor would count it for the
//! in-page kubelet: the time its module computes on the page's thread, and
//! its linear memory. The page's thread runs one thing at a time, so the
//! time between the module starting (or waking from a sleep) and it
//! sleeping (or ending) is CPU time that is the module's alone.

use std::cell::Cell;
use tabernetes_core::kubelet::usage_sampler::ContainerMeter;

#[derive(Debug, Default)]
pub struct ComputeMeter {
    /// Milliseconds computed in the spans that have ended.
    computed_ms: Cell<f64>,
    /// When the current span began, while the module computes.
    since: Cell<Option<f64>>,
    memory_bytes: Cell<u64>,
}

impl ComputeMeter {
    /// The module starts, or wakes from a sleep, at `now_ms`.
    pub fn resume(&self, now_ms: f64) {
        self.since.set(Some(now_ms));
    }

    /// The module sleeps or ends at `now_ms`, with `memory_bytes` of linear memory.
    pub fn pause(&self, now_ms: f64, memory_bytes: u64) {
        if let Some(since) = self.since.take() {
            self.computed_ms.set(self.computed_ms.get() + (now_ms - since).max(0.0));
        }
        self.memory_bytes.set(memory_bytes);
    }
}

impl ContainerMeter for ComputeMeter {
    /// Read between spans (nothing else runs during one), so it is exact.
    fn cpu_nanos(&self) -> u64 {
        (self.computed_ms.get() * 1e6) as u64
    }

    fn memory_bytes(&self) -> u64 {
        self.memory_bytes.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_spans_between_resume_and_pause_are_counted() {
        let meter = ComputeMeter::default();
        meter.resume(1000.0);
        meter.pause(1040.0, 65536);
        // Asleep from 1040 to 2000: not counted.
        meter.resume(2000.0);
        meter.pause(2010.5, 131072);
        assert_eq!(meter.cpu_nanos(), 50_500_000);
        assert_eq!(meter.memory_bytes(), 131072);
        meter.pause(3000.0, 131072);
        assert_eq!(meter.cpu_nanos(), 50_500_000, "a pause without a resume adds nothing");
    }
}
