//! `hello`: the smallest Tabernetes workload (WASI preview1 command).
//!
//! Prints `Hello from Tabernetes!`, then `args: [...]` (the container's args,
//! without argv[0]), then every environment variable as `KEY=VALUE`, sorted by key.
//! Exits 0, or with the code in the `EXIT_CODE` environment variable if it is set
//! (useful to test failed pods and restart policies).

use std::io::{self, Write};
use std::process::ExitCode;

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
