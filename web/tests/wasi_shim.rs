//! The in-page WASI shim, exercised with hand-written WAT modules on a real
//! WebAssembly engine (Node by default, or a browser via wasm-bindgen-test-runner).

#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use tabernetes_core::kubelet::usage_sampler::ContainerMeter;
use tabernetes_web::node::compute_meter::ComputeMeter;
use tabernetes_web::node::wasi::{
    can_suspend, compile, run_command, run_streaming, CommandOutput, Ended, Stream,
    CANNOT_WAIT_MESSAGE, EXIT_CODE_CANNOT_WAIT, EXIT_CODE_NOT_STARTED, EXIT_CODE_TRAP,
    OUTPUT_LIMIT, TRUNCATION_NOTE,
};
use wasm_bindgen_test::wasm_bindgen_test;

async fn module(wat: &str) -> js_sys::WebAssembly::Module {
    let bytes = wat::parse_str(wat).expect("test WAT must assemble");
    compile(&bytes).await.expect("test module must compile")
}

async fn run(wat: &str, argv: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> CommandOutput {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    run_command(&module(wat).await, &argv, &env, stdin)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const FD_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;
const PROC_EXIT: &str =
    r#"(import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))"#;

#[wasm_bindgen_test]
async fn hello_via_fd_write_with_two_iovecs() {
    let wat = format!(
        r#"(module {FD_WRITE}
          (memory (export "memory") 1)
          (data (i32.const 100) "hello, ")
          (data (i32.const 200) "world\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 7))
            (i32.store (i32.const 8) (i32.const 200)) (i32.store (i32.const 12) (i32.const 6))
            (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 16)) (then unreachable))
            ;; nwritten must be the sum of both iovecs
            (if (i32.ne (i32.load (i32.const 16)) (i32.const 13)) (then unreachable))))"#
    );
    let out = run(&wat, &["hello"], &[], b"").await;
    assert_eq!(out.trap, None);
    assert_eq!(out.exit_code, 0);
    assert_eq!(text(&out.stdout), "hello, world\n");
    assert!(out.stderr.is_empty());
}

#[wasm_bindgen_test]
async fn args_and_env_are_echoed() {
    // Prints each argv/environ entry through its pointer (stdout), and the raw string
    // buffers with the sizes the *_sizes_get calls reported (stderr).
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
          {FD_WRITE}
          (memory (export "memory") 1)
          (data (i32.const 8) "\n")
          (func $write (param $fd i32) (param $ptr i32) (param $len i32)
            (i32.store (i32.const 16) (local.get $ptr))
            (i32.store (i32.const 20) (local.get $len))
            (if (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24)) (then unreachable)))
          (func $strlen (param $p i32) (result i32) (local $n i32)
            (block $done (loop $next
              (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
              (local.set $n (i32.add (local.get $n) (i32.const 1)))
              (br $next)))
            (local.get $n))
          (func $print_list (local $i i32) (local $p i32)
            (block $done (loop $next
              (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 0))))
              (local.set $p (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
              (call $write (i32.const 1) (local.get $p) (call $strlen (local.get $p)))
              (call $write (i32.const 1) (i32.const 8) (i32.const 1))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $next)))
            (call $write (i32.const 2) (i32.const 4096) (i32.load (i32.const 4))))
          (func (export "_start")
            (if (call $args_sizes_get (i32.const 0) (i32.const 4)) (then unreachable))
            (if (call $args_get (i32.const 1024) (i32.const 4096)) (then unreachable))
            (call $print_list)
            (if (call $environ_sizes_get (i32.const 0) (i32.const 4)) (then unreachable))
            (if (call $environ_get (i32.const 1024) (i32.const 4096)) (then unreachable))
            (call $print_list)))"#
    );
    let out = run(
        &wat,
        &["prog", "hello world", "ünïcode"],
        &[("A", "1"), ("GREETING", "x=y z")],
        b"",
    )
    .await;
    assert_eq!(out.trap, None);
    assert_eq!(out.exit_code, 0);
    assert_eq!(
        text(&out.stdout),
        "prog\nhello world\nünïcode\nA=1\nGREETING=x=y z\n"
    );
    assert_eq!(
        text(&out.stderr),
        "prog\0hello world\0ünïcode\0A=1\0GREETING=x=y z\0"
    );
}

#[wasm_bindgen_test]
async fn proc_exit_sets_exit_code_and_keeps_stderr() {
    let wat = format!(
        r#"(module {FD_WRITE} {PROC_EXIT}
          (memory (export "memory") 1)
          (data (i32.const 100) "oops\n")
          (data (i32.const 200) "after exit\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 5))
            (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 16)))
            (call $proc_exit (i32.const 3))
            ;; never reached: proc_exit must not return
            (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 11))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
            unreachable))"#
    );
    let out = run(&wat, &["exit3"], &[], b"").await;
    assert_eq!(out.trap, None);
    assert_eq!(out.exit_code, 3);
    assert_eq!(text(&out.stderr), "oops\n");
    assert!(
        out.stdout.is_empty(),
        "ran past proc_exit: {:?}",
        text(&out.stdout)
    );
}

#[wasm_bindgen_test]
async fn stdin_is_read_then_eof() {
    // Reads through two iovecs of 3 and 4 bytes (so short reads and iovec splitting are
    // exercised), echoes to stdout, then checks EOF is sticky and fd 1 is not readable.
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          {FD_WRITE} {PROC_EXIT}
          (memory (export "memory") 1)
          (func (export "_start") (local $n i32) (local $reads i32)
            (i32.store (i32.const 0) (i32.const 1000)) (i32.store (i32.const 4) (i32.const 3))
            (i32.store (i32.const 8) (i32.const 1010)) (i32.store (i32.const 12) (i32.const 4))
            (block $eof (loop $more
              ;; 45 bytes need 7 reads; a reader that never reaches EOF must not hang the test
              (local.set $reads (i32.add (local.get $reads) (i32.const 1)))
              (if (i32.gt_u (local.get $reads) (i32.const 100)) (then (call $proc_exit (i32.const 12))))
              (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 16)) (then unreachable))
              (local.set $n (i32.load (i32.const 16)))
              (br_if $eof (i32.eqz (local.get $n)))
              (i32.store (i32.const 32) (i32.const 1000))
              (i32.store (i32.const 36) (select (local.get $n) (i32.const 3) (i32.lt_u (local.get $n) (i32.const 3))))
              (i32.store (i32.const 40) (i32.const 1010))
              (i32.store (i32.const 44) (select (i32.const 0) (i32.sub (local.get $n) (i32.const 3)) (i32.lt_u (local.get $n) (i32.const 3))))
              (if (call $fd_write (i32.const 1) (i32.const 32) (i32.const 2) (i32.const 48)) (then unreachable))
              (br $more)))
            (i32.store (i32.const 16) (i32.const 99))
            (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 16)) (then unreachable))
            (if (i32.load (i32.const 16)) (then (call $proc_exit (i32.const 10))))
            (if (i32.ne (call $fd_read (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 16)) (i32.const 8))
              (then (call $proc_exit (i32.const 11))))))"#
    );
    let input = b"The quick brown fox\njumps over the lazy dog.\n";
    let out = run(&wat, &["cat"], &[], input).await;
    assert_eq!(out.trap, None);
    assert_eq!(out.exit_code, 0);
    assert_eq!(text(&out.stdout), text(input));
}

#[wasm_bindgen_test]
async fn unknown_wasi_imports_are_stubbed_with_enosys() {
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "path_open"
            (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
          {PROC_EXIT}
          (memory (export "memory") 1)
          (func (export "_start")
            (if (i32.ne (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 0)) (i32.const 52))
              (then (call $proc_exit (i32.const 1))))
            (call $proc_exit (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0)
              (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0)))))"#
    );
    let out = run(&wat, &["open"], &[], b"").await;
    assert_eq!(out.trap, None);
    assert_eq!(out.exit_code, 52);
}

#[wasm_bindgen_test]
async fn stdio_probes_answer_like_a_preopen_less_pipe() {
    // Each failed expectation exits with its own code, so a failure names the call.
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
          (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
          {PROC_EXIT}
          (memory (export "memory") 1)
          (func $expect (param $got i32) (param $want i32) (param $code i32)
            (if (i32.ne (local.get $got) (local.get $want)) (then (call $proc_exit (local.get $code)))))
          (func (export "_start")
            (call $expect (call $fd_prestat_get (i32.const 3) (i32.const 0)) (i32.const 8) (i32.const 10))
            (call $expect (call $fd_prestat_dir_name (i32.const 3) (i32.const 0) (i32.const 8)) (i32.const 8) (i32.const 11))
            (i32.store8 (i32.const 100) (i32.const 255))
            (call $expect (call $fd_fdstat_get (i32.const 1) (i32.const 100)) (i32.const 0) (i32.const 12))
            (call $expect (i32.load8_u (i32.const 100)) (i32.const 2) (i32.const 13))
            (call $expect (call $fd_fdstat_get (i32.const 0) (i32.const 100)) (i32.const 0) (i32.const 14))
            (call $expect (call $fd_fdstat_get (i32.const 9) (i32.const 100)) (i32.const 8) (i32.const 15))
            (call $expect (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 200)) (i32.const 70) (i32.const 16))
            (call $expect (call $fd_close (i32.const 9)) (i32.const 8) (i32.const 17))
            (call $expect (call $sched_yield) (i32.const 0) (i32.const 18))
            ;; no subscriptions: nothing could ever wake it, so EINVAL (as wasmtime)
            (call $expect (call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 28) (i32.const 19))
            ;; a bad pointer is EFAULT, not a crash of the shim
            (call $expect (call $fd_fdstat_get (i32.const 1) (i32.const 65530)) (i32.const 21) (i32.const 20))
            (call $proc_exit (i32.const 0))))"#
    );
    let out = run(&wat, &["probe"], &[], b"").await;
    assert_eq!(out.trap, None);
    assert_eq!(
        out.exit_code, 0,
        "a probe answered wrongly (see the code in the WAT)"
    );
}

#[wasm_bindgen_test]
async fn clocks_tick_and_look_like_now() {
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
          {PROC_EXIT}
          (memory (export "memory") 1)
          (func (export "_start")
            (if (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)) (then (call $proc_exit (i32.const 10))))
            (if (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 8)) (then (call $proc_exit (i32.const 11))))
            (if (i64.lt_u (i64.load (i32.const 8)) (i64.load (i32.const 0))) (then (call $proc_exit (i32.const 12))))
            (if (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 16)) (then (call $proc_exit (i32.const 13))))
            ;; realtime after 2020-01-01 and before 2100 (in ns)
            (if (i64.lt_u (i64.load (i32.const 16)) (i64.const 1577836800000000000)) (then (call $proc_exit (i32.const 14))))
            (if (i64.gt_u (i64.load (i32.const 16)) (i64.const 4102444800000000000)) (then (call $proc_exit (i32.const 15))))
            (if (call $clock_res_get (i32.const 1) (i32.const 24)) (then (call $proc_exit (i32.const 16))))
            (if (i64.eqz (i64.load (i32.const 24))) (then (call $proc_exit (i32.const 17))))
            (if (i32.ne (call $clock_time_get (i32.const 99) (i64.const 1) (i32.const 0)) (i32.const 28))
              (then (call $proc_exit (i32.const 18))))))"#
    );
    let out = run(&wat, &["clock"], &[], b"").await;
    assert_eq!(out.trap, None);
    assert_eq!(
        out.exit_code, 0,
        "a clock check failed (see the code in the WAT)"
    );
}

#[wasm_bindgen_test]
async fn random_get_fills_more_than_one_crypto_chunk() {
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
          {FD_WRITE} {PROC_EXIT}
          (memory (export "memory") 3)
          (func (export "_start") (local $e i32)
            (local.set $e (call $random_get (i32.const 1024) (i32.const 100000)))
            (if (local.get $e) (then (call $proc_exit (local.get $e))))
            (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 100000))
            (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))))"#
    );
    let out = run(&wat, &["rand"], &[], b"").await;
    assert_eq!((out.exit_code, out.trap), (0, None));
    assert_eq!(out.stdout.len(), 100_000);
    let zeros = |bytes: &[u8]| bytes.iter().filter(|&&b| b == 0).count();
    // ~1/256 of random bytes are zero; untouched memory would be all zeros.
    assert!(zeros(&out.stdout[..65536]) < 1000, "first chunk not random");
    assert!(zeros(&out.stdout[65536..]) < 600, "second chunk not random");
}

#[wasm_bindgen_test]
async fn memory_growth_is_seen_by_later_calls() {
    let wat = format!(
        r#"(module {FD_WRITE}
          (memory (export "memory") 1)
          (data (i32.const 100) "small\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 6))
            (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
            (if (i32.ne (memory.grow (i32.const 2)) (i32.const 1)) (then unreachable))
            ;; the text and its iovec both live in the new pages
            (i64.store (i32.const 131072) (i64.const 0x0a6e776f7267))  ;; "grown\n"
            (i32.store (i32.const 131080) (i32.const 131072)) (i32.store (i32.const 131084) (i32.const 6))
            (if (call $fd_write (i32.const 1) (i32.const 131080) (i32.const 1) (i32.const 131088)) (then unreachable))))"#
    );
    let out = run(&wat, &["grow"], &[], b"").await;
    assert_eq!(out.trap, None);
    assert_eq!(out.exit_code, 0);
    assert_eq!(text(&out.stdout), "small\ngrown\n");
}

#[wasm_bindgen_test]
async fn output_is_capped_per_stream() {
    // Writes 5 MiB to stdout in 1 MiB writes (each must report full nwritten), then a
    // little to stderr, which has its own budget.
    let wat = format!(
        r#"(module {FD_WRITE}
          (memory (export "memory") 17)
          (data (i32.const 100) "err\n")
          (func (export "_start") (local $i i32)
            (i32.store (i32.const 0) (i32.const 65536)) (i32.store (i32.const 4) (i32.const 1048576))
            (block $done (loop $more
              (br_if $done (i32.eq (local.get $i) (i32.const 5)))
              (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
              (if (i32.ne (i32.load (i32.const 8)) (i32.const 1048576)) (then unreachable))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $more)))
            (i32.store (i32.const 16) (i32.const 100)) (i32.store (i32.const 20) (i32.const 4))
            (if (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 8)) (then unreachable))))"#
    );
    let out = run(&wat, &["flood"], &[], b"").await;
    assert_eq!((out.exit_code, out.trap), (0, None));
    assert_eq!(out.stdout.len(), OUTPUT_LIMIT + TRUNCATION_NOTE.len());
    assert!(out.stdout.ends_with(TRUNCATION_NOTE.as_bytes()));
    assert_eq!(
        out.stdout
            .windows(TRUNCATION_NOTE.len())
            .filter(|w| *w == TRUNCATION_NOTE.as_bytes())
            .count(),
        1
    );
    assert_eq!(text(&out.stderr), "err\n");
}

#[wasm_bindgen_test]
async fn trap_is_reported_with_output_so_far() {
    let wat = format!(
        r#"(module {FD_WRITE}
          (memory (export "memory") 1)
          (data (i32.const 100) "before\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 7))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            unreachable))"#
    );
    let out = run(&wat, &["trap"], &[], b"").await;
    assert_eq!(out.exit_code, EXIT_CODE_TRAP);
    let trap = out.trap.expect("a trap must be reported");
    assert!(
        trap.to_lowercase().contains("unreachable"),
        "trap message: {trap}"
    );
    assert_eq!(text(&out.stdout), "before\n");
}

#[wasm_bindgen_test]
async fn non_wasi_imports_fail_instantiation() {
    let wat = format!(
        r#"(module {FD_WRITE}
          (import "env" "host_fn" (func $host_fn))
          (memory (export "memory") 1)
          (func (export "_start") (call $host_fn)))"#
    );
    let out = run(&wat, &["env"], &[], b"").await;
    assert_eq!(out.exit_code, EXIT_CODE_NOT_STARTED);
    let trap = out.trap.expect("the refusal must be explained");
    assert!(trap.contains("env.host_fn"), "message: {trap}");
}

#[wasm_bindgen_test]
async fn a_module_without_start_is_not_a_command() {
    let out = run(
        r#"(module (memory (export "memory") 1) (func (export "main")))"#,
        &[],
        &[],
        b"",
    )
    .await;
    assert_eq!(out.exit_code, EXIT_CODE_NOT_STARTED);
    assert!(out.trap.expect("explained").contains("_start"));
}

#[wasm_bindgen_test]
async fn compile_rejects_garbage() {
    let err = compile(b"\0asm\x01\0\0\0garbage")
        .await
        .expect_err("not a module");
    assert!(err.contains("CompileError"), "error: {err}");
}

#[wasm_bindgen_test]
async fn stack_overflow_is_a_trap_too() {
    // Engines raise this as a RangeError, not a RuntimeError: it must still end the
    // run as a trap, not escape or be mistaken for an exit.
    let wat = r#"(module (memory (export "memory") 1)
          (func $deeper (call $deeper))
          (func (export "_start") (call $deeper)))"#;
    let out = run(wat, &["recurse"], &[], b"").await;
    assert_eq!(out.exit_code, EXIT_CODE_TRAP);
    let trap = out.trap.expect("a trap must be reported");
    assert!(trap.contains("stack"), "trap message: {trap}");
}

const POLL_ONEOFF: &str = r#"(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))"#;

/// A module that prints `first`, polls a clock that is already due (answered without
/// waiting), sleeps `ms` on the monotonic clock (one relative clock subscription, as
/// Rust's `thread::sleep` makes), checks the clock event and that the time passed,
/// prints `second` and exits 3 through `proc_exit`; `forever` sleeps again and again
/// instead.
fn sleeper(first: &str, ms: u64, second: &str, forever: bool) -> String {
    let ns = ms * 1_000_000;
    let after = if forever { "(br $again)" } else { "" };
    format!(
        r#"(module {FD_WRITE} {PROC_EXIT} {POLL_ONEOFF}
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 1000) "{first_escaped}")
          (data (i32.const 1100) "{second_escaped}")
          (func $print (param $ptr i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $ptr)) (i32.store (i32.const 4) (local.get $len))
            (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable)))
          (func (export "_start") (local $before i64)
            (call $print (i32.const 1000) (i32.const {first_len}))
            (if (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 16)) (then unreachable))
            (local.set $before (i64.load (i32.const 16)))
            ;; timeout 0: due at once, so never a wait
            (i64.store (i32.const 64) (i64.const 6))
            (i32.store8 (i32.const 72) (i32.const 0))
            (i32.store (i32.const 80) (i32.const 1))
            (i64.store (i32.const 88) (i64.const 0))
            (if (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 200)) (then (call $proc_exit (i32.const 16))))
            (if (i64.ne (i64.load (i32.const 128)) (i64.const 6)) (then (call $proc_exit (i32.const 17))))
            (loop $again
              ;; subscription @64: userdata 7, tag clock, monotonic, relative timeout
              (i64.store (i32.const 64) (i64.const 7))
              (i32.store8 (i32.const 72) (i32.const 0))
              (i32.store (i32.const 80) (i32.const 1))
              (i64.store (i32.const 88) (i64.const {ns}))
              (i64.store (i32.const 96) (i64.const 0))
              (i32.store16 (i32.const 104) (i32.const 0))
              (if (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 200)) (then (call $proc_exit (i32.const 10))))
              (if (i32.ne (i32.load (i32.const 200)) (i32.const 1)) (then (call $proc_exit (i32.const 11))))
              (if (i64.ne (i64.load (i32.const 128)) (i64.const 7)) (then (call $proc_exit (i32.const 12))))
              (if (i32.load16_u (i32.const 136)) (then (call $proc_exit (i32.const 13))))
              (if (i32.ne (i32.load8_u (i32.const 138)) (i32.const 0)) (then (call $proc_exit (i32.const 14))))
              {after})
            (if (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 16)) (then unreachable))
            (if (i64.lt_u (i64.sub (i64.load (i32.const 16)) (local.get $before)) (i64.const {ns})) (then (call $proc_exit (i32.const 15))))
            (call $print (i32.const 1100) (i32.const {second_len}))
            (call $proc_exit (i32.const 3))))"#,
        first_len = first.len(),
        second_len = second.len(),
        first_escaped = escape(first),
        second_escaped = escape(second),
    )
}

/// Every byte as a WAT `\hh` escape, so any text fits in a data segment.
fn escape(text: &str) -> String {
    text.bytes().map(|b| format!("\\{b:02x}")).collect()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Output chunks and other happenings, in the order they came.
#[derive(Clone, Default)]
struct Journal(Rc<RefCell<Vec<String>>>);

impl Journal {
    fn note(&self, what: impl Into<String>) {
        self.0.borrow_mut().push(what.into());
    }

    fn on_output(&self) -> impl Fn(Stream, &[u8]) + 'static {
        let journal = self.clone();
        move |stream, bytes| journal.note(format!("{stream:?}: {}", text(bytes)))
    }

    fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

#[wasm_bindgen_test]
async fn a_poll_that_needs_no_waiting_is_answered_at_once() {
    // Four subscriptions: a clock already due (timeout 0), stdin readable, stdout
    // writable, and fd 7, which does not exist. All four are events at once.
    let wat = format!(
        r#"(module {POLL_ONEOFF} {PROC_EXIT}
          (memory (export "memory") 1)
          (func $sub (param $at i32) (param $userdata i64) (param $tag i32) (param $fd i32)
            (i64.store (local.get $at) (local.get $userdata))
            (i32.store8 (i32.add (local.get $at) (i32.const 8)) (local.get $tag))
            (i32.store (i32.add (local.get $at) (i32.const 16)) (local.get $fd))
            (i64.store (i32.add (local.get $at) (i32.const 24)) (i64.const 0)))
          (func $expect (param $got i32) (param $want i32) (param $code i32)
            (if (i32.ne (local.get $got) (local.get $want)) (then (call $proc_exit (local.get $code)))))
          (func (export "_start")
            (call $sub (i32.const 0) (i64.const 1) (i32.const 0) (i32.const 1))
            (call $sub (i32.const 48) (i64.const 2) (i32.const 1) (i32.const 0))
            (call $sub (i32.const 96) (i64.const 3) (i32.const 2) (i32.const 1))
            (call $sub (i32.const 144) (i64.const 4) (i32.const 1) (i32.const 7))
            (call $expect (call $poll_oneoff (i32.const 0) (i32.const 1024) (i32.const 4) (i32.const 2048)) (i32.const 0) (i32.const 10))
            (call $expect (i32.load (i32.const 2048)) (i32.const 4) (i32.const 11))
            ;; the clock fired (userdata 1, type clock, no error)
            (call $expect (i32.wrap_i64 (i64.load (i32.const 1024))) (i32.const 1) (i32.const 12))
            (call $expect (i32.load16_u (i32.const 1032)) (i32.const 0) (i32.const 13))
            (call $expect (i32.load8_u (i32.const 1034)) (i32.const 0) (i32.const 14))
            ;; stdin: 5 bytes left to read
            (call $expect (i32.load8_u (i32.const 1066)) (i32.const 1) (i32.const 15))
            (call $expect (i32.wrap_i64 (i64.load (i32.const 1072))) (i32.const 5) (i32.const 16))
            ;; stdout: writable
            (call $expect (i32.wrap_i64 (i64.load (i32.const 1088))) (i32.const 3) (i32.const 17))
            (call $expect (i32.load16_u (i32.const 1096)) (i32.const 0) (i32.const 18))
            ;; fd 7: EBADF
            (call $expect (i32.load16_u (i32.const 1128)) (i32.const 8) (i32.const 19))
            ;; an unknown subscription tag fails the whole call
            (i32.store8 (i32.const 8) (i32.const 9))
            (call $expect (call $poll_oneoff (i32.const 0) (i32.const 1024) (i32.const 1) (i32.const 2048)) (i32.const 28) (i32.const 20))
            (call $proc_exit (i32.const 0))))"#
    );
    let out = run(&wat, &["poll"], &[], b"hello").await;
    assert_eq!(out.trap, None);
    assert_eq!(
        out.exit_code, 0,
        "a poll answered wrongly (see the code in the WAT)"
    );
}

#[wasm_bindgen_test]
async fn a_module_that_sleeps_is_stopped_with_a_clear_message_instead_of_freezing() {
    // run_command never waits: a one-hour sleep ends the run at once, output kept.
    let started = js_sys::Date::now();
    let out = run(
        &sleeper("before\n", 3_600_000, "after\n", false),
        &["sleeper"],
        &[],
        b"",
    )
    .await;
    assert!(js_sys::Date::now() - started < 5_000.0, "the run blocked");
    assert_eq!(out.exit_code, EXIT_CODE_CANNOT_WAIT);
    assert_eq!(out.trap.as_deref(), Some(CANNOT_WAIT_MESSAGE));
    assert!(
        CANNOT_WAIT_MESSAGE.contains("node-host"),
        "the message says where it can run"
    );
    assert_eq!(text(&out.stdout), "before\n");
}

#[wasm_bindgen_test]
async fn streaming_without_jspi_refuses_to_wait_and_keeps_the_output() {
    if can_suspend() {
        return; // this engine suspends instead: see the JSPI tests
    }
    let journal = Journal::default();
    let module = module(&sleeper("before\n", 3_600_000, "after\n", false)).await;
    let ended = run_streaming(
        &module,
        &args(&["sleeper"]),
        &[],
        b"",
        journal.on_output(),
        || false,
        Rc::default(),
    )
    .await;
    assert_eq!(
        ended,
        Ended::Exited {
            exit_code: EXIT_CODE_CANNOT_WAIT,
            trap: Some(CANNOT_WAIT_MESSAGE.into())
        }
    );
    assert_eq!(journal.entries(), vec!["Stdout: before\n"]);
}

#[wasm_bindgen_test]
async fn with_jspi_a_sleeping_module_lets_the_page_run_then_resumes() {
    if !can_suspend() {
        // Node 20 has no JSPI; these run in Chromium (WASM_BINDGEN_USE_BROWSER=1,
        // CHROMEDRIVER set), which has had it since version 137.
        return;
    }
    let journal = Journal::default();
    let timer = journal.clone();
    // Fires while the module sleeps 200 ms: proof that the thread was not blocked.
    let _tick = gloo_timers::callback::Timeout::new(50, move || timer.note("page ran"));
    let module = module(&sleeper("before\n", 200, "after\n", false)).await;
    let ended = run_streaming(
        &module,
        &args(&["sleeper"]),
        &[],
        b"",
        journal.on_output(),
        || false,
        Rc::default(),
    )
    .await;
    // proc_exit after a resume still ends the run as an exit, not a trap.
    assert_eq!(
        ended,
        Ended::Exited {
            exit_code: 3,
            trap: None
        }
    );
    // "before" is handed over as the sleep starts, not at the end.
    assert_eq!(
        journal.entries(),
        vec!["Stdout: before\n", "page ran", "Stdout: after\n"]
    );
}

#[wasm_bindgen_test]
async fn with_jspi_a_sleeping_module_is_killed_promptly_when_cancelled() {
    if !can_suspend() {
        return;
    }
    let journal = Journal::default();
    let cancelled = Rc::new(std::cell::Cell::new(false));
    let cancel = cancelled.clone();
    let _cancel = gloo_timers::callback::Timeout::new(150, move || cancel.set(true));
    let module = module(&sleeper("tick\n", 3_600_000, "never\n", true)).await;
    let started = js_sys::Date::now();
    let ended = run_streaming(
        &module,
        &args(&["sleeper"]),
        &[],
        b"",
        journal.on_output(),
        move || cancelled.get(),
        Rc::default(),
    )
    .await;
    assert_eq!(ended, Ended::Killed);
    let took = js_sys::Date::now() - started;
    assert!(took < 1_000.0, "took {took} ms");
    assert_eq!(journal.entries(), vec!["Stdout: tick\n"]);
}

#[wasm_bindgen_test]
async fn a_streaming_run_is_charged_the_time_it_computes_and_its_memory() {
    // Spins until 60 ms have passed on the monotonic clock, then returns.
    let spinner = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
          (memory (export "memory") 2)
          (func (export "_start") (local $until i64)
            (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
            (local.set $until (i64.add (i64.load (i32.const 0)) (i64.const {ns})))
            (loop $spin
              (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0)))
              (br_if $spin (i64.lt_u (i64.load (i32.const 0)) (local.get $until))))))"#,
        ns = 60_000_000u64
    );
    let meter = Rc::new(ComputeMeter::default());
    let journal = Journal::default();
    let ended = run_streaming(&module(&spinner).await, &args(&["spin"]), &[], b"", journal.on_output(), || false, meter.clone()).await;
    assert_eq!(ended, Ended::Exited { exit_code: 0, trap: None });
    assert!(meter.cpu_nanos() >= 60_000_000, "charged {} ns for 60 ms of computing", meter.cpu_nanos());
    assert!(meter.cpu_nanos() < 10_000_000_000, "charged {} ns", meter.cpu_nanos());
    assert_eq!(meter.memory_bytes(), 2 * 65536);
}
