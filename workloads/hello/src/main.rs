//! `hello`: the smallest Tabernetes workload (WASI preview1 command).
//!
//! Prints `Hello from Tabernetes!`, then `args: [...]` (the container's args,
//! without argv[0]), then every environment variable as `KEY=VALUE`, sorted by key.
//! Exits 0, or with the code in the `EXIT_CODE` environment variable if it is set
//! (useful to test failed pods and restart policies).
//!
//! Long-running mode, so that a Deployment's pods stay Running: if
//! `SLEEP_SECONDS=N` (a whole number, at least 1) or `SERVE=1` is set, it never
//! exits after the greeting; it prints `heartbeat K: still running, every N s`
//! every N seconds (5 with `SERVE=1` alone) until it is stopped, and
//! `EXIT_CODE` is not used. It sleeps with `std::thread::sleep`, which on
//! wasm32-wasip1 is a `poll_oneoff` call with one relative clock subscription:
//! the one WASI call a runtime must implement without blocking its other pods
//! (node-host does; the in-page node stops such a module with a clear message).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Heartbeat interval for `SERVE=1` without `SLEEP_SECONDS`.
const DEFAULT_SLEEP_SECONDS: u64 = 5;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();

    let mut out = io::stdout().lock();
    // Ignore write errors (e.g. a closed stdout): the exit code is what matters.
    let _ = writeln!(out, "Hello from Tabernetes!");
    let _ = writeln!(out, "args: {args:?}");
    for (key, value) in &vars {
        let _ = writeln!(out, "{key}={value}");
    }
    let _ = out.flush();
    drop(out);

    match sleep_seconds() {
        Ok(Some(seconds)) => serve(seconds),
        Ok(None) => exit_code(),
        Err(message) => {
            eprintln!("hello: {message}");
            ExitCode::from(2)
        }
    }
}

/// `Some(N)` in long-running mode: from `SLEEP_SECONDS`, else 5 if `SERVE=1`.
fn sleep_seconds() -> Result<Option<u64>, String> {
    match std::env::var("SLEEP_SECONDS") {
        Ok(raw) => match raw.trim().parse::<u64>() {
            // 0 would print in a tight loop: a log flood, not a heartbeat.
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(format!(
                "SLEEP_SECONDS must be a whole number of seconds, at least 1, got {raw:?}"
            )),
        },
        Err(_) if std::env::var("SERVE").is_ok_and(|v| v.trim() == "1") => {
            Ok(Some(DEFAULT_SLEEP_SECONDS))
        }
        Err(_) => Ok(None),
    }
}

/// Never returns: the container runs until its pod is deleted.
fn serve(seconds: u64) -> ! {
    let mut beat: u64 = 0;
    loop {
        std::thread::sleep(Duration::from_secs(seconds));
        beat += 1;
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "heartbeat {beat}: still running, every {seconds} s");
        // Flushed per line so that logs stream while the module runs.
        let _ = out.flush();
    }
}

fn exit_code() -> ExitCode {
    match std::env::var("EXIT_CODE") {
        Err(_) => ExitCode::SUCCESS,
        Ok(raw) => match raw.trim().parse::<u8>() {
            Ok(0) => ExitCode::SUCCESS,
            Ok(code) => {
                eprintln!("hello: exiting with code {code} (EXIT_CODE)");
                ExitCode::from(code)
            }
            Err(_) => {
                eprintln!("hello: EXIT_CODE must be a number from 0 to 255, got {raw:?}");
                ExitCode::from(2)
            }
        },
    }
}
