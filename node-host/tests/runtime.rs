//! The wasmtime runner against small hand-written WASI preview1 commands,
//! and against the built `hello` sample where a real program's behaviour
//! matters (its sleep is Rust std's `poll_oneoff`, not one written by hand):
//! that needs scripts/build-workloads.sh to have written dist/modules (or set
//! TABERNETES_MODULES_DIR).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use node_host::runtime::{
    CancelToken, Launch, OutputFn, RunOutcome, Runtime, RuntimeError, Stream, OUTPUT_LIMIT_BYTES,
    TRUNCATED_NOTE,
};
use node_host::usage_meter::UsageMeter;
use sha2::{Digest, Sha256};
use tabernetes_core::kubelet::usage_sampler::ContainerMeter;

const WASI: &str = "wasi_snapshot_preview1";

/// Everything a run wrote, in order.
type Chunks = Arc<Mutex<Vec<(Stream, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Captured(Chunks);

impl Captured {
    fn callback(&self) -> OutputFn {
        let chunks = self.0.clone();
        Arc::new(move |stream, bytes| chunks.lock().unwrap().push((stream, bytes.to_vec())))
    }

    fn of(&self, stream: Stream) -> Vec<u8> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == stream)
            .flat_map(|(_, b)| b.clone())
            .collect()
    }
}

fn launch(argv: &[&str]) -> Launch {
    Launch {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        memory_limit_bytes: None,
    }
}

/// Compiles `wat` and runs it, returning the outcome and its output.
fn run_wat(wat: &str, launch: &Launch) -> (RunOutcome, Captured) {
    let runtime = Runtime::new().unwrap();
    let (_, module) = runtime.load(&wat::parse_str(wat).unwrap()).unwrap();
    let out = Captured::default();
    let outcome = runtime.run(&module, launch, &CancelToken::new(), &Default::default(), out.callback());
    (outcome, out)
}

/// A module that writes `text` to `fd` then runs `tail` (extra instructions).
fn write_then(fd: u32, text: &str, tail: &str) -> String {
    format!(
        r#"(module
            (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (import "{WASI}" "proc_exit" (func $proc_exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 64) "{escaped}")
            (func (export "_start")
                (i32.store (i32.const 0) (i32.const 64))
                (i32.store (i32.const 4) (i32.const {len}))
                (drop (call $fd_write (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 8)))
                {tail}))"#,
        len = text.len(),
        escaped = text
            .bytes()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>(),
    )
}

#[test]
fn hello_on_stdout_then_exit_zero() {
    let (outcome, out) = run_wat(&write_then(1, "hello\n", ""), &launch(&["hello"]));
    assert_eq!(outcome, RunOutcome::Exited(0));
    assert_eq!(out.of(Stream::Stdout), b"hello\n");
    assert_eq!(out.of(Stream::Stderr), b"");
}

#[test]
fn args_and_env_are_exactly_the_launch() {
    // Writes the raw argv buffer, then the raw environ buffer, to stdout.
    let wat = format!(
        r#"(module
            (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (import "{WASI}" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
            (import "{WASI}" "args_get" (func $args_get (param i32 i32) (result i32)))
            (import "{WASI}" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
            (import "{WASI}" "environ_get" (func $environ_get (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func $write (param $ptr i32) (param $len i32)
                (i32.store (i32.const 16) (local.get $ptr))
                (i32.store (i32.const 20) (local.get $len))
                (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
            (func (export "_start")
                (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
                (drop (call $args_get (i32.const 1024) (i32.const 4096)))
                (call $write (i32.const 4096) (i32.load (i32.const 4)))
                (drop (call $environ_sizes_get (i32.const 8) (i32.const 12)))
                (drop (call $environ_get (i32.const 2048) (i32.const 8192)))
                (call $write (i32.const 8192) (i32.load (i32.const 12)))))"#
    );
    let launch = Launch {
        argv: vec!["prog".into(), "a b".into(), "".into(), "--flag=ü".into()],
        env: vec![
            ("GREETING".into(), "hi=there".into()),
            ("EMPTY".into(), "".into()),
        ],
        memory_limit_bytes: None,
    };
    let (outcome, out) = run_wat(&wat, &launch);
    assert_eq!(outcome, RunOutcome::Exited(0));
    let expected = "prog\0a b\0\0--flag=ü\0GREETING=hi=there\0EMPTY=\0";
    assert_eq!(String::from_utf8(out.of(Stream::Stdout)).unwrap(), expected);
}

#[test]
fn proc_exit_code_and_stderr() {
    let wat = write_then(2, "oops\n", "(call $proc_exit (i32.const 3)) unreachable");
    let (outcome, out) = run_wat(&wat, &launch(&["fail"]));
    assert_eq!(outcome, RunOutcome::Exited(3));
    assert_eq!(out.of(Stream::Stderr), b"oops\n");
    assert_eq!(out.of(Stream::Stdout), b"");
}

#[test]
fn trap_is_reported_with_its_reason() {
    let (outcome, _) = run_wat(
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
        &launch(&["trap"]),
    );
    match outcome {
        RunOutcome::Trapped(message) => {
            let first_line = message.lines().next().unwrap_or_default();
            assert!(first_line.contains("unreachable"), "{message}");
            assert!(message.contains("backtrace"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Runs `wat` on another thread, cancels it after `after`, and returns the
/// outcome and how long `run` took to return after the cancel.
fn cancel_after(wat: &str, after: Duration) -> (RunOutcome, Duration) {
    let runtime = Runtime::new().unwrap();
    let (_, module) = runtime.load(&wat::parse_str(wat).unwrap()).unwrap();
    let cancel = CancelToken::new();
    let (done_tx, done_rx) = mpsc::channel();
    let runner = {
        let cancel = cancel.clone();
        thread::spawn(move || {
            let outcome = runtime.run(
                &module,
                &launch(&["loop"]),
                &cancel,
                &Default::default(),
                Captured::default().callback(),
            );
            done_tx.send(Instant::now()).unwrap();
            outcome
        })
    };
    thread::sleep(after);
    assert!(
        done_rx.try_recv().is_err(),
        "module finished before it was cancelled"
    );
    let cancelled_at = Instant::now();
    cancel.cancel();
    let finished_at = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("run did not return after cancel");
    (runner.join().unwrap(), finished_at - cancelled_at)
}

#[test]
fn busy_loop_is_killed_by_cancel() {
    let (outcome, took) = cancel_after(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $spin (br $spin))))"#,
        Duration::from_millis(100),
    );
    assert_eq!(outcome, RunOutcome::Killed);
    assert!(took < Duration::from_millis(500), "took {took:?}");
}

#[test]
fn a_computing_guest_is_charged_cpu_and_its_memory_is_measured() {
    let runtime = Runtime::new().unwrap();
    let wat = r#"(module (memory (export "memory") 3) (func (export "_start") (loop $spin (br $spin))))"#;
    let (_, module) = runtime.load(&wat::parse_str(wat).unwrap()).unwrap();
    let (cancel, usage) = (CancelToken::new(), Arc::new(UsageMeter::default()));
    let runner = {
        let (cancel, usage) = (cancel.clone(), usage.clone());
        thread::spawn(move || runtime.run(&module, &launch(&["spin"]), &cancel, &usage, Captured::default().callback()))
    };
    // Counted as it runs, not only at the end: 100 ms of CPU shows up
    // while the guest is still spinning.
    let give_up = Instant::now() + Duration::from_secs(10);
    while usage.cpu_nanos() < 100_000_000 {
        assert!(Instant::now() < give_up, "10 s of spinning charged {} ns", usage.cpu_nanos());
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(usage.memory_bytes(), 3 * 65536, "three wasm pages");
    cancel.cancel();
    assert_eq!(runner.join().unwrap(), RunOutcome::Killed);
}

#[test]
fn sleeping_guest_is_killed_by_cancel() {
    // poll_oneoff on a one-hour relative monotonic clock: the guest is parked
    // in the host, where no epoch check runs.
    let wat = format!(
        r#"(module
            (import "{WASI}" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "_start")
                (i64.store (i32.const 0) (i64.const 7))
                (i32.store8 (i32.const 8) (i32.const 0))
                (i32.store (i32.const 16) (i32.const 1))
                (i64.store (i32.const 24) (i64.const 3600000000000))
                (i64.store (i32.const 32) (i64.const 0))
                (i32.store16 (i32.const 40) (i32.const 0))
                (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#
    );
    let (outcome, took) = cancel_after(&wat, Duration::from_millis(100));
    assert_eq!(outcome, RunOutcome::Killed);
    assert!(took < Duration::from_millis(500), "took {took:?}");
}

fn modules_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("TABERNETES_MODULES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/modules")
        });
    assert!(
        dir.join("hello.wasm").exists(),
        "{} has no hello.wasm: run scripts/build-workloads.sh first",
        dir.display()
    );
    dir
}

/// The long-running sample: hello with `SLEEP_SECONDS` sleeps between
/// heartbeats (Rust std's `thread::sleep`, a relative-clock `poll_oneoff`),
/// its heartbeats stream while it runs, and deleting its pod stops it
/// promptly although it spends its life parked in that host call.
#[test]
fn hello_with_sleep_seconds_beats_until_stopped() {
    let runtime = Runtime::new().unwrap();
    let bytes = std::fs::read(modules_dir().join("hello.wasm")).unwrap();
    let (_, module) = runtime.load(&bytes).unwrap();
    let out = Captured::default();
    let cancel = CancelToken::new();
    let launch = Launch {
        argv: vec!["hello".into()],
        env: vec![("SLEEP_SECONDS".into(), "1".into())],
        memory_limit_bytes: None,
    };
    let started = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    let runner = {
        let (cancel, callback) = (cancel.clone(), out.callback());
        thread::spawn(move || {
            let outcome = runtime.run(&module, &launch, &cancel, &Default::default(), callback);
            done_tx.send(Instant::now()).unwrap();
            outcome
        })
    };
    let stdout = || String::from_utf8(out.of(Stream::Stdout)).unwrap();
    while !stdout().contains("heartbeat 2:") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no second heartbeat; output so far: {:?}",
            stdout()
        );
        assert!(done_rx.try_recv().is_err(), "hello exited: {:?}", stdout());
        thread::sleep(Duration::from_millis(20));
    }
    // It really slept: two 1 s sleeps, not a busy loop or a sleep that returns at once.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        stdout().starts_with("Hello from Tabernetes!\nargs: []\nSLEEP_SECONDS=1\nheartbeat 1: still running, every 1 s\nheartbeat 2:"),
        "{:?}",
        stdout()
    );

    let cancelled_at = Instant::now();
    cancel.cancel();
    let finished_at = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("run did not return after cancel");
    assert_eq!(runner.join().unwrap(), RunOutcome::Killed);
    let took = finished_at - cancelled_at;
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert!(out.of(Stream::Stderr).is_empty());
}

#[test]
fn output_streams_before_exit() {
    let wat = write_then(1, "tick\n", "(loop $spin (br $spin))");
    let runtime = Runtime::new().unwrap();
    let (_, module) = runtime.load(&wat::parse_str(&wat).unwrap()).unwrap();
    let cancel = CancelToken::new();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx = Mutex::new(tx);
    let on_output: OutputFn =
        Arc::new(move |_, bytes| tx.lock().unwrap().send(bytes.to_vec()).unwrap());
    let runner = {
        let cancel = cancel.clone();
        thread::spawn(move || runtime.run(&module, &launch(&["tick"]), &cancel, &Default::default(), on_output))
    };
    let first = rx.recv_timeout(Duration::from_secs(5));
    cancel.cancel();
    assert_eq!(first.expect("no output while running"), b"tick\n");
    assert_eq!(runner.join().unwrap(), RunOutcome::Killed);
}

/// Exit code bit 0: growing by `big` pages failed; bit 1: growing by one page
/// afterwards succeeded.
fn grow_module(big: u32) -> String {
    format!(
        r#"(module
            (import "{WASI}" "proc_exit" (func $proc_exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start")
                (call $proc_exit
                    (i32.or
                        (i32.eq (memory.grow (i32.const {big})) (i32.const -1))
                        (i32.shl (i32.ne (memory.grow (i32.const 1)) (i32.const -1)) (i32.const 1))))))"#
    )
}

#[test]
fn memory_grow_past_limit_fails() {
    // 2 MiB = 32 pages; the module has 1 and asks for 40 more.
    let launch = Launch {
        memory_limit_bytes: Some(2 * 1024 * 1024),
        ..launch(&["grow"])
    };
    let (outcome, _) = run_wat(&grow_module(40), &launch);
    assert_eq!(outcome, RunOutcome::Exited(3));

    // Within the limit the same growth succeeds (bit 0 clear).
    let roomy = Launch {
        memory_limit_bytes: Some(8 * 1024 * 1024),
        ..launch
    };
    let (outcome, _) = run_wat(&grow_module(40), &roomy);
    assert_eq!(outcome, RunOutcome::Exited(2));
}

#[test]
fn memory_is_capped_by_default() {
    // 4100 pages is just over the 256 MiB default.
    let (outcome, _) = run_wat(&grow_module(4100), &launch(&["grow"]));
    assert_eq!(outcome, RunOutcome::Exited(3));
}

#[test]
fn output_is_truncated_once_over_the_cap() {
    // Writes 64 KiB of 'x' eighty times: 5 MiB, over the 4 MiB cap.
    let wat = format!(
        r#"(module
            (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 2)
            (func (export "_start") (local $i i32)
                (memory.fill (i32.const 65536) (i32.const 120) (i32.const 65536))
                (i32.store (i32.const 0) (i32.const 65536))
                (i32.store (i32.const 4) (i32.const 65536))
                (loop $again
                    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $again (i32.lt_u (local.get $i) (i32.const 80))))))"#
    );
    let (outcome, out) = run_wat(&wat, &launch(&["flood"]));
    assert_eq!(outcome, RunOutcome::Exited(0));
    let stdout = out.of(Stream::Stdout);
    assert_eq!(stdout.len(), OUTPUT_LIMIT_BYTES + TRUNCATED_NOTE.len());
    assert!(stdout.ends_with(TRUNCATED_NOTE));
    assert!(stdout[..OUTPUT_LIMIT_BYTES].iter().all(|&b| b == b'x'));
}

#[test]
fn load_caches_by_sha256() {
    let runtime = Runtime::new().unwrap();
    let bytes = wat::parse_str(write_then(1, "hi\n", "")).unwrap();
    let (sha1, _) = runtime.load(&bytes).unwrap();
    let (sha2, module) = runtime.load(&bytes).unwrap();
    assert_eq!(sha1, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(sha1, sha2);
    assert_eq!(runtime.compile_count(), 1);
    assert_eq!(runtime.cached_modules(), 1);

    // The cached module is usable.
    let out = Captured::default();
    let outcome = runtime.run(
        &module,
        &launch(&["hi"]),
        &CancelToken::new(),
        &Default::default(),
        out.callback(),
    );
    assert_eq!(outcome, RunOutcome::Exited(0));
    assert_eq!(out.of(Stream::Stdout), b"hi\n");

    let other = wat::parse_str(write_then(1, "ho\n", "")).unwrap();
    let (sha3, _) = runtime.load(&other).unwrap();
    assert_ne!(sha1, sha3);
    assert_eq!(runtime.compile_count(), 2);
    assert_eq!(runtime.cached_modules(), 2);
}

#[test]
fn load_rejects_what_cannot_run() {
    let runtime = Runtime::new().unwrap();
    assert!(matches!(
        runtime.load(b"\0asm garbage"),
        Err(RuntimeError::InvalidModule(_))
    ));
    assert!(matches!(
        runtime.load(b"not wasm at all"),
        Err(RuntimeError::InvalidModule(_))
    ));
    let library = wat::parse_str(r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#).unwrap();
    assert!(matches!(
        runtime.load(&library),
        Err(RuntimeError::NotACommand)
    ));
    let foreign =
        wat::parse_str(r#"(module (import "env" "host_magic" (func)) (func (export "_start")))"#)
            .unwrap();
    assert!(matches!(
        runtime.load(&foreign),
        Err(RuntimeError::UnsupportedImport(_))
    ));
    assert_eq!(runtime.cached_modules(), 0);
}

#[test]
fn cancelled_before_start_never_runs() {
    let runtime = Runtime::new().unwrap();
    let (_, module) = runtime
        .load(&wat::parse_str(write_then(1, "ran\n", "")).unwrap())
        .unwrap();
    let cancel = CancelToken::new();
    cancel.cancel();
    let out = Captured::default();
    assert_eq!(
        runtime.run(&module, &launch(&["x"]), &cancel, &Default::default(), out.callback()),
        RunOutcome::Killed
    );
    assert_eq!(out.of(Stream::Stdout), b"");
}

#[test]
fn runs_from_spawn_blocking_inside_a_tokio_runtime() {
    // node-host calls `run` this way; wasmtime-wasi then blocks on the
    // caller's runtime instead of its own.
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let (outcome, stdout) = tokio.block_on(async {
        tokio::task::spawn_blocking(|| {
            let (outcome, out) = run_wat(&write_then(1, "hello\n", ""), &launch(&["hello"]));
            (outcome, out.of(Stream::Stdout))
        })
        .await
        .unwrap()
    });
    assert_eq!(outcome, RunOutcome::Exited(0));
    assert_eq!(stdout, b"hello\n");
}

#[test]
fn initial_memory_over_the_limit_fails_the_run_not_the_host() {
    // 100 pages (6.25 MiB) declared up front against a 1 MiB limit.
    let launch = Launch {
        memory_limit_bytes: Some(1024 * 1024),
        ..launch(&["big"])
    };
    let (outcome, _) = run_wat(
        r#"(module (memory (export "memory") 100) (func (export "_start")))"#,
        &launch,
    );
    assert!(matches!(outcome, RunOutcome::Trapped(_)), "{outcome:?}");
}
