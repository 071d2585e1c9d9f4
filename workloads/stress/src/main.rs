//! `stress`: a workload that uses a steady share of a CPU, like the
//! `stress --cpu` or `hpa-example` images used to demonstrate the
//! HorizontalPodAutoscaler (WASI preview1 command).
//!
//! Environment:
//! - `CPU_MILLICORES` (default 500): how much CPU to use, in thousandths of a
//!   core, from 0 to 1000. In every 100 ms it computes for that share and
//!   sleeps for the rest, so `kubectl top pod` shows about that figure.
//! - `DURATION_SECONDS` (optional): stop loading the CPU after this long and
//!   stay idle (running, using nothing), so an HPA can be seen scaling back
//!   down. Without it the load never stops.
//!
//! Prints one line when it starts, one when the load stops, and exits 2 with
//! a message on stderr if a setting is not a whole number in range.

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The period over which the CPU share is kept.
const PERIOD: Duration = Duration::from_millis(100);
/// How long the idle phase sleeps at a time.
const IDLE_SLEEP: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let settings = setting("CPU_MILLICORES", 500, 1000).and_then(|millicores| Ok((millicores, optional("DURATION_SECONDS")?)));
    let (millicores, duration) = match settings {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("stress: {message}");
            return ExitCode::from(2);
        }
    };
    match duration {
        Some(seconds) => println!("stress: using {millicores}m of CPU for {seconds} s"),
        None => println!("stress: using {millicores}m of CPU until stopped"),
    }
    let busy = PERIOD * millicores as u32 / 1000;
    let started = Instant::now();
    let mut spins: u64 = 0;
    while duration.is_none_or(|seconds| started.elapsed() < Duration::from_secs(seconds)) {
        let period_start = Instant::now();
        while period_start.elapsed() < busy {
            // Real work the optimiser cannot drop: the CPU time is the point.
            spins = std::hint::black_box(spins.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
        }
        if let Some(rest) = PERIOD.checked_sub(period_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    println!("stress: load stopped after {} s; idle until stopped", started.elapsed().as_secs());
    loop {
        std::thread::sleep(IDLE_SLEEP);
    }
}

/// A whole number from the environment, `default` when unset, at most `max`.
fn setting(name: &str, default: u64, max: u64) -> Result<u64, String> {
    let value = optional(name)?.unwrap_or(default);
    if value > max {
        return Err(format!("{name} must be at most {max}, not {value}"));
    }
    Ok(value)
}

fn optional(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => text.trim().parse().map(Some).map_err(|_| format!("{name} must be a whole number, not {text:?}")),
    }
}
