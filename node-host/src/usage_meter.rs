//! A running container's resource counters, as cAdvisor keeps them for a
//! kubelet: CPU time used so far and memory in use. The thread running the
//! container writes them (from wasmtime's epoch callback and its memory
//! limiter); the node loop reads them when it scrapes, every 15 s.
//!
//! CPU time is the running thread's own CPU clock: each container runs on a
//! thread of its own for its whole life (`pods::Pods::start`), and a guest
//! asleep in `poll_oneoff` is parked off the CPU, so the thread's CPU time is
//! the container's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tabernetes_core::kubelet::usage_sampler::ContainerMeter;
use wasmtime::{ResourceLimiter, StoreLimits};

#[derive(Debug, Default)]
pub struct UsageMeter {
    cpu_nanos: AtomicU64,
    memory_bytes: AtomicU64,
}

impl ContainerMeter for UsageMeter {
    /// As of the running thread's last update: at most one epoch tick old
    /// while it computes.
    fn cpu_nanos(&self) -> u64 {
        self.cpu_nanos.load(Ordering::Relaxed)
    }

    /// The size of the guest's linear memory.
    fn memory_bytes(&self) -> u64 {
        self.memory_bytes.load(Ordering::Relaxed)
    }
}

/// Reads the calling thread's CPU clock; made on the thread that runs the
/// container, first to take a baseline and then to update the meter.
pub struct ThreadCpu {
    baseline: Option<u64>,
}

impl ThreadCpu {
    pub fn start() -> Self {
        ThreadCpu { baseline: thread_cpu_nanos() }
    }

    /// Records the CPU this thread used since `start` in `meter`.
    pub fn update(&self, meter: &UsageMeter) {
        if let (Some(baseline), Some(now)) = (self.baseline, thread_cpu_nanos()) {
            meter.cpu_nanos.store(now.saturating_sub(baseline), Ordering::Relaxed);
        }
    }
}

/// The calling thread's CPU time (POSIX `CLOCK_THREAD_CPUTIME_ID`, which
/// Linux and macOS both have); `None` elsewhere, where usage reads as 0.
fn thread_cpu_nanos() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid timespec to write to, and the clock id is a constant the platform defines.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0 {
            return Some(now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64);
        }
    }
    None
}

/// The store's limits (memory and table caps), noting the memory size each
/// time the guest's memory is allowed to grow, which is the only way it changes.
pub struct MeteredLimits {
    pub limits: StoreLimits,
    pub meter: Arc<UsageMeter>,
}

impl ResourceLimiter for MeteredLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.meter.memory_bytes.store(desired as u64, Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_busy_thread_is_charged_its_cpu_and_a_sleeping_one_is_not() {
        let meter = UsageMeter::default();
        let cpu = ThreadCpu::start();
        std::thread::sleep(Duration::from_millis(50));
        cpu.update(&meter);
        let after_sleep = meter.cpu_nanos();
        assert!(after_sleep < 20_000_000, "50 ms asleep charged {after_sleep} ns");
        // Spinning is charged: the meter passes 30 ms of CPU well before 5 s
        // of wall time, however busy the machine.
        let give_up = Instant::now() + Duration::from_secs(5);
        let mut x = 0u64;
        while meter.cpu_nanos() < after_sleep + 30_000_000 {
            assert!(Instant::now() < give_up, "5 s of spinning charged only {} ns", meter.cpu_nanos() - after_sleep);
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            cpu.update(&meter);
        }
    }
}
