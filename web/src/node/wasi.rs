//! WASI preview1 for command pods that run inside the page.
//!
//! An in-page node has no wasmtime: the pod's module runs on the browser's own
//! WebAssembly engine, and this shim is the "operating system" it sees. It provides
//! exactly what a Rust-std or wasi-libc command needs to start, read its args, env and
//! stdin, write logs and exit; everything else a module might import from WASI answers
//! `ENOSYS`, so a program that merely *links* file or socket functions still starts
//! and only fails if it actually calls them (as it would on a node without that
//! capability). There is no filesystem, network or preopened directory: an in-page
//! pod gets nothing the pod spec cannot grant here.
//!
//! `_start` runs on the calling thread. The shim does not bound CPU: a module that
//! computes forever blocks the thread it runs on, so callers that care should run it
//! in a Worker or meter it before handing it over.
//!
//! Sleeping is the one wait a command commonly makes (`poll_oneoff` with a clock
//! subscription; Rust's `thread::sleep`), and blocking the page's thread for it
//! would freeze the tab. So a wait is never served by blocking: [`run_streaming`]
//! suspends the module's stack with WebAssembly JavaScript Promise Integration
//! (JSPI, `WebAssembly.Suspending`/`promising`) where the engine has it, and the
//! page runs on while the module sleeps; without JSPI (and always in
//! [`run_command`]) a poll that would have to wait ends the run with
//! [`EXIT_CODE_CANNOT_WAIT`] and [`CANNOT_WAIT_MESSAGE`], so a long-running pod
//! fails clearly instead of hanging. Polls that need no waiting (stdio readiness,
//! a timeout already due) are answered at once in both cases.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::compute_meter::ComputeMeter;

use js_sys::{ArrayBuffer, Function, Object, Reflect, Uint8Array, WebAssembly};
use wasm_bindgen::closure::{Closure, WasmClosure};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Exit code when the module could not be started at all (foreign imports, no
/// `_start`, instantiation failure). 128 sits just above the 0..=127 codes programs
/// conventionally exit with and below the 128+N codes of signals (such as
/// [`EXIT_CODE_TRAP`]), so a pod that never started is mistaken neither for one that
/// chose to fail nor for one that crashed; `trap` carries the reason.
pub const EXIT_CODE_NOT_STARTED: i32 = 128;

/// Exit code for a trap (or any other exception escaping `_start`, such as a stack
/// overflow, which Chromium raises as a RangeError): 128 + SIGABRT, what the wasmtime
/// CLI exits with on a trap and a shell reports for an aborted process, so a pod's
/// terminated state can read the same on an in-page node and on node-host.
pub const EXIT_CODE_TRAP: i32 = 134;

/// Exit code when the module had to wait (`poll_oneoff`) and the engine cannot
/// suspend it: 126 is what a shell reports for a command it found but cannot
/// execute, which is what this node is saying about the module.
pub const EXIT_CODE_CANNOT_WAIT: i32 = 126;

/// Why a run ended with [`EXIT_CODE_CANNOT_WAIT`], worded for the pod's status.
pub const CANNOT_WAIT_MESSAGE: &str = concat!(
    "this module sleeps (poll_oneoff); the in-page node cannot run long-running modules ",
    "in this browser (it needs WebAssembly JavaScript Promise Integration); ",
    "schedule it on node-host (nodeSelector tabernetes.io/runtime: wasmtime)",
);

/// Per-stream capture limit. Logs live in the tab's memory, and a module printing in
/// a loop must not be able to take the whole page down with it.
pub const OUTPUT_LIMIT: usize = 4 * 1024 * 1024;

/// Appended once when a stream hits [`OUTPUT_LIMIT`], so a reader of the logs knows
/// the tail is missing rather than believing the program stopped printing.
pub const TRUNCATION_NOTE: &str = "\n[output truncated]\n";

/// The only import namespace served; anything else is a host the page cannot be.
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// What a finished command left behind: the pieces a kubelet turns into the
/// container's terminated state and its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// `proc_exit`'s argument, 0 when `_start` returned, [`EXIT_CODE_TRAP`] after a
    /// trap, [`EXIT_CODE_NOT_STARTED`] when the module never ran.
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Why the module stopped abnormally (trap or failure to start), for the
    /// container status message; `None` for a normal return or `proc_exit`.
    pub trap: Option<String>,
}

/// Which output stream a chunk of [`run_streaming`] output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a [`run_streaming`] run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// As in [`CommandOutput`]: the exit code, and why it stopped abnormally.
    Exited {
        exit_code: i32,
        trap: Option<String>,
    },
    /// Stopped while it slept because `cancelled` said so (its pod was deleted).
    Killed,
}

/// Whether this engine can suspend a module that sleeps (JSPI), so that
/// [`run_streaming`] runs long-running modules instead of refusing them.
pub fn can_suspend() -> bool {
    jspi().is_some()
}

/// Compiles asynchronously because browsers refuse (or stall the page on) synchronous
/// compilation of anything but tiny modules on the main thread; compile once per image
/// digest, then [`run_command`] as often as needed.
pub async fn compile(bytes: &[u8]) -> Result<WebAssembly::Module, String> {
    // A copy, not a view into our own memory: the engine reads the bytes after this
    // function has yielded, when the slice may be gone or our memory grown.
    let source = Uint8Array::from(bytes);
    let promise: js_sys::Promise = WebAssembly::compile(&source).unchecked_into();
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(module) => Ok(module.unchecked_into()),
        Err(err) => Err(describe_js_error(&err)),
    }
}

/// Runs to completion before returning, because a WASI preview1 command is a single
/// blocking call (`_start`); output is collected and handed back at the end rather
/// than streamed, and a module that would have to sleep is stopped with
/// [`EXIT_CODE_CANNOT_WAIT`] (see [`run_streaming`] for one that may sleep).
/// Synchronous instantiation of an already compiled module is allowed on a browser's
/// main thread (only synchronous *compilation* is size-limited there), which is what
/// makes this signature possible.
pub fn run_command(
    module: &WebAssembly::Module,
    argv: &[String],
    env: &[(String, String)],
    stdin: &[u8],
) -> CommandOutput {
    let process = Rc::new(Process::new(
        argv,
        env,
        stdin,
        Waits::Refuse,
        None,
        Box::new(|| false),
    ));
    let ended = match Run::prepare(module, &process, None) {
        Ok(run) => {
            let result = run.start.call0(&JsValue::UNDEFINED);
            run.finish(result)
        }
        Err(message) => Ended::Exited {
            exit_code: EXIT_CODE_NOT_STARTED,
            trap: Some(message),
        },
    };
    let (exit_code, trap) = match ended {
        Ended::Exited { exit_code, trap } => (exit_code, trap),
        Ended::Killed => unreachable!("nothing cancels a run that never waits"),
    };
    CommandOutput {
        exit_code,
        stdout: process.stdout.take().bytes,
        stderr: process.stderr.take().bytes,
        trap,
    }
}

/// Runs a command that may run for a long time, as a pod's container does: output
/// goes to `on_output` as the module runs (whenever it starts to sleep, and at the
/// end), and the page keeps running while the module sleeps. `cancelled` is asked
/// while it sleeps; once it says yes the module is abandoned at that point and the
/// run ends [`Ended::Killed`].
///
/// Needs JSPI to suspend a sleeping module (see [`can_suspend`]); without it this
/// runs like [`run_command`], a sleep ending the run with [`EXIT_CODE_CANNOT_WAIT`].
pub async fn run_streaming(
    module: &WebAssembly::Module,
    argv: &[String],
    env: &[(String, String)],
    stdin: &[u8],
    on_output: impl Fn(Stream, &[u8]) + 'static,
    cancelled: impl Fn() -> bool + 'static,
    meter: Rc<ComputeMeter>,
) -> Ended {
    let jspi = jspi();
    let waits = if jspi.is_some() {
        Waits::Suspend
    } else {
        Waits::Refuse
    };
    let process = Rc::new(Process::new(
        argv,
        env,
        stdin,
        waits,
        Some(Box::new(on_output)),
        Box::new(cancelled),
    ));
    *process.meter.borrow_mut() = Some(meter);
    let ended = match Run::prepare(module, &process, jspi.as_ref()) {
        Err(message) => Ended::Exited {
            exit_code: EXIT_CODE_NOT_STARTED,
            trap: Some(message),
        },
        Ok(run) => match &jspi {
            None => {
                process.resume_metering();
                let result = run.start.call0(&JsValue::UNDEFINED);
                process.pause_metering();
                run.finish(result)
            }
            Some(jspi) => {
                process.resume_metering();
                // `promising` runs `_start` on a stack of its own that a sleep can
                // suspend; the promise settles when `_start` returns or throws.
                let result = match jspi.promising.call1(&JsValue::UNDEFINED, &run.start) {
                    Ok(start) => match start
                        .unchecked_into::<Function>()
                        .call0(&JsValue::UNDEFINED)
                    {
                        Ok(promise) => {
                            wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise))
                                .await
                        }
                        Err(thrown) => Err(thrown),
                    },
                    Err(thrown) => Err(thrown),
                };
                process.pause_metering();
                run.finish(result)
            }
        },
    };
    process.flush();
    ended
}

/// One instance of a module, ready to start, with the objects its imports throw
/// to end it; dropping it frees the imports.
struct Run {
    start: Function,
    process: Rc<Process>,
    markers: Markers,
    _keep_alive: KeepAlive,
}

/// Fresh objects per run, thrown through the guest's stack to end it: only an
/// identical object caught around `_start` means "exit" (or "cannot wait", or
/// "killed"), never some other exception that happens to look similar, nor the
/// marker of a nested or earlier run.
struct Markers {
    exit: JsValue,
    cannot_wait: JsValue,
    killed: JsValue,
}

impl Run {
    fn prepare(
        module: &WebAssembly::Module,
        process: &Rc<Process>,
        jspi: Option<&Jspi>,
    ) -> Result<Run, String> {
        let markers = Markers {
            exit: Object::new().into(),
            cannot_wait: Object::new().into(),
            killed: Object::new().into(),
        };
        let (imports, keep_alive) = build_imports(module, process, &markers, jspi)?;
        let instance = WebAssembly::Instance::new(module, &imports)
            .map_err(|err| format!("instantiation failed: {}", describe_js_error(&err)))?;
        let exports = instance.exports();
        // The Memory object is stable for the instance's life; only its buffer is
        // replaced on growth, which is why every access goes through `guest_memory()`.
        if let Ok(memory) = Reflect::get(&exports, &"memory".into()) {
            if let Ok(memory) = memory.dyn_into::<WebAssembly::Memory>() {
                *process.memory.borrow_mut() = Some(memory);
            }
        }
        let start = Reflect::get(&exports, &"_start".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or("module exports no `_start` function: not a WASI command")?;
        Ok(Run {
            start,
            process: process.clone(),
            markers,
            _keep_alive: keep_alive,
        })
    }

    /// How `_start`'s call (or its promise) ended. The imports are freed with
    /// `self`: anything that still held the instance and called an import would
    /// get a JS error instead of touching a finished process.
    fn finish(self, result: Result<JsValue, JsValue>) -> Ended {
        let exit_code = |code, trap| Ended::Exited {
            exit_code: code,
            trap,
        };
        match result {
            Ok(_) => exit_code(0, None),
            Err(thrown) if Object::is(&thrown, &self.markers.exit) => {
                exit_code(self.process.exit_code.get().unwrap_or(0), None)
            }
            Err(thrown) if Object::is(&thrown, &self.markers.cannot_wait) => {
                exit_code(EXIT_CODE_CANNOT_WAIT, Some(CANNOT_WAIT_MESSAGE.to_string()))
            }
            Err(thrown) if Object::is(&thrown, &self.markers.killed) => Ended::Killed,
            Err(thrown) => exit_code(EXIT_CODE_TRAP, Some(describe_js_error(&thrown))),
        }
    }
}

/// Renders an exception the way a learner would recognise it from a browser console
/// ("RuntimeError: unreachable"), whatever was thrown.
fn describe_js_error(err: &JsValue) -> String {
    if let Some(error) = err.dyn_ref::<js_sys::Error>() {
        return String::from(error.to_string());
    }
    if let Some(text) = err.as_string() {
        return text;
    }
    format!("{err:?}")
}

// ---------------------------------------------------------------------------------
// Process state

/// Receives captured output when a run streams it.
type OutputFn = Box<dyn Fn(Stream, &[u8])>;

/// What a `poll_oneoff` that has to wait does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waits {
    /// End the run ([`EXIT_CODE_CANNOT_WAIT`]): blocking the thread is never an option.
    Refuse,
    /// Hand the engine a promise (JSPI suspends the module until it settles).
    Suspend,
}

/// Everything the imports share, reached through an `Rc` because each import is its
/// own JS-callable closure.
struct Process {
    /// Set once the instance exists (the imports must be built before it).
    memory: RefCell<Option<WebAssembly::Memory>>,
    /// NUL-terminated, as `args_get` hands them to C.
    args: Vec<Vec<u8>>,
    /// `KEY=VALUE`, NUL-terminated, as `environ_get` hands them to C.
    environ: Vec<Vec<u8>>,
    stdin: Vec<u8>,
    stdin_pos: Cell<usize>,
    stdout: RefCell<Capture>,
    stderr: RefCell<Capture>,
    exit_code: Cell<Option<i32>>,
    waits: Waits,
    /// Where captured output goes at each sleep and at the end, when streaming.
    on_output: Option<OutputFn>,
    cancelled: Box<dyn Fn() -> bool>,
    /// Counts the module's compute time, for a pod's metrics.
    meter: RefCell<Option<Rc<ComputeMeter>>>,
}

impl Process {
    fn new(
        argv: &[String],
        env: &[(String, String)],
        stdin: &[u8],
        waits: Waits,
        on_output: Option<OutputFn>,
        cancelled: Box<dyn Fn() -> bool>,
    ) -> Self {
        let c_string = |s: String| {
            let mut bytes = s.into_bytes();
            bytes.push(0);
            bytes
        };
        Process {
            memory: RefCell::new(None),
            args: argv.iter().map(|a| c_string(a.clone())).collect(),
            environ: env
                .iter()
                .map(|(k, v)| c_string(format!("{k}={v}")))
                .collect(),
            stdin: stdin.to_vec(),
            stdin_pos: Cell::new(0),
            stdout: RefCell::default(),
            stderr: RefCell::default(),
            exit_code: Cell::new(None),
            waits,
            on_output,
            cancelled,
            meter: RefCell::new(None),
        }
    }

    /// The module computes from now on (it starts, or wakes from a sleep).
    fn resume_metering(&self) {
        if let Some(meter) = self.meter.borrow().as_ref() {
            meter.resume(performance_now());
        }
    }

    /// The module stops computing (it sleeps or ends).
    fn pause_metering(&self) {
        if let Some(meter) = self.meter.borrow().as_ref() {
            let memory = self.memory.borrow().as_ref().map_or(0, |m| m.buffer().unchecked_into::<ArrayBuffer>().byte_length());
            meter.pause(performance_now(), u64::from(memory));
        }
    }

    /// Hands captured output to `on_output` (when streaming). Each borrow ends
    /// before the callback runs, which may do anything, even log synchronously.
    fn flush(&self) {
        let Some(on_output) = &self.on_output else {
            return;
        };
        for (stream, capture) in [
            (Stream::Stdout, &self.stdout),
            (Stream::Stderr, &self.stderr),
        ] {
            let bytes = std::mem::take(&mut capture.borrow_mut().bytes);
            if !bytes.is_empty() {
                on_output(stream, &bytes);
            }
        }
    }

    /// A view valid for one import call only: a `memory.grow` by the guest detaches
    /// the previous ArrayBuffer, and a stale view would read as empty.
    fn guest_memory(&self) -> Result<GuestMemory, Errno> {
        let memory = self.memory.borrow();
        let memory = memory.as_ref().ok_or(errno::FAULT)?;
        let buffer: ArrayBuffer = memory.buffer().unchecked_into();
        let len = buffer.byte_length() as u64;
        Ok(GuestMemory { buffer, len })
    }
}

#[derive(Default)]
struct Capture {
    /// Not yet handed over (all of it, for a run that does not stream).
    bytes: Vec<u8>,
    /// Kept since the start: the limit is per run, however often it was flushed.
    kept: usize,
    truncated: bool,
}

impl Capture {
    fn room(&self) -> usize {
        if self.truncated {
            0
        } else {
            OUTPUT_LIMIT.saturating_sub(self.kept)
        }
    }

    fn mark_truncated(&mut self) {
        if !self.truncated {
            self.truncated = true;
            self.bytes.extend_from_slice(TRUNCATION_NOTE.as_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------
// Guest memory

type Errno = i32;

/// The preview1 errno values this shim returns.
mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const IO: i32 = 29;
    pub const NOSYS: i32 = 52;
    pub const SPIPE: i32 = 70;
}

/// Bounds are checked here, in Rust, before any typed array is created: an
/// out-of-range view would throw a RangeError through our own frames, and a bad
/// pointer from the guest must come back as `EFAULT`, not as a crash of the shim.
struct GuestMemory {
    buffer: ArrayBuffer,
    len: u64,
}

impl GuestMemory {
    fn view(&self, ptr: u32, len: u32) -> Result<Uint8Array, Errno> {
        if ptr as u64 + len as u64 > self.len {
            return Err(errno::FAULT);
        }
        Ok(Uint8Array::new_with_byte_offset_and_length(
            &self.buffer,
            ptr,
            len,
        ))
    }

    fn read(&self, ptr: u32, len: u32) -> Result<Vec<u8>, Errno> {
        Ok(self.view(ptr, len)?.to_vec())
    }

    fn write(&self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(bytes.len()).map_err(|_| errno::FAULT)?;
        self.view(ptr, len)?.copy_from(bytes);
        Ok(())
    }

    fn write_u32(&self, ptr: u32, value: u32) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    fn write_u64(&self, ptr: u32, value: u64) -> Result<(), Errno> {
        self.write(ptr, &value.to_le_bytes())
    }

    /// `(ptr, len)` pairs of an iovec array, all checked before any is used, so a
    /// bad entry fails the whole call instead of leaving a half-done write.
    fn iovecs(&self, iovs: u32, count: u32) -> Result<Vec<(u32, u32)>, Errno> {
        let raw = self.read(iovs, count.checked_mul(8).ok_or(errno::FAULT)?)?;
        let list: Vec<(u32, u32)> = raw
            .chunks_exact(8)
            .map(|c| {
                (
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        if list
            .iter()
            .any(|&(ptr, len)| ptr as u64 + len as u64 > self.len)
        {
            return Err(errno::FAULT);
        }
        Ok(list)
    }
}

// ---------------------------------------------------------------------------------
// Host functions

#[wasm_bindgen]
extern "C" {
    // Declared here rather than through web-sys so the same code works in a Window,
    // a Worker and Node (the test runner), which all have these globals.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(array: &Uint8Array) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub(crate) fn performance_now() -> f64;
}

/// The Web Crypto quota: `getRandomValues` throws beyond this many bytes per call.
const RANDOM_CHUNK: u32 = 65536;

mod clock {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME: u32 = 2;
    pub const THREAD_CPUTIME: u32 = 3;
}

/// The page has no CPU-time clocks; the monotonic clock stands in for them, which is
/// what a single-threaded process that never sleeps would observe anyway.
fn clock_now_ns(id: u32) -> Result<u64, Errno> {
    match id {
        clock::REALTIME => Ok((js_sys::Date::now() * 1e6) as u64),
        clock::MONOTONIC | clock::PROCESS_CPUTIME | clock::THREAD_CPUTIME => {
            Ok((performance_now() * 1e6) as u64)
        }
        _ => Err(errno::INVAL),
    }
}

fn clock_resolution_ns(id: u32) -> Result<u64, Errno> {
    match id {
        clock::REALTIME => Ok(1_000_000),
        // Browsers coarsen performance.now() (to 5-100 µs); claim 1 µs, the finest
        // any of them offers, rather than a precision they never deliver.
        clock::MONOTONIC | clock::PROCESS_CPUTIME | clock::THREAD_CPUTIME => Ok(1_000),
        _ => Err(errno::INVAL),
    }
}

fn to_errno(result: Result<(), Errno>) -> i32 {
    match result {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    }
}

fn is_stdio(fd: i32) -> bool {
    (0..=2).contains(&fd)
}

fn args_sizes(list: &[Vec<u8>], p: &Process, count_ptr: i32, size_ptr: i32) -> Result<(), Errno> {
    let mem = p.guest_memory()?;
    let total: usize = list.iter().map(Vec::len).sum();
    mem.write_u32(count_ptr as u32, list.len() as u32)?;
    mem.write_u32(
        size_ptr as u32,
        u32::try_from(total).map_err(|_| errno::INVAL)?,
    )
}

/// Lays the strings out back to back in the guest's buffer and the pointers to them
/// in its array, the layout C's `argv`/`environ` expect.
fn args_write(list: &[Vec<u8>], p: &Process, ptrs: i32, buf: i32) -> Result<(), Errno> {
    let mem = p.guest_memory()?;
    let (mut ptr_at, mut buf_at) = (ptrs as u32, buf as u32);
    for item in list {
        mem.write_u32(ptr_at, buf_at)?;
        mem.write(buf_at, item)?;
        ptr_at = ptr_at.checked_add(4).ok_or(errno::FAULT)?;
        buf_at = buf_at.checked_add(item.len() as u32).ok_or(errno::FAULT)?;
    }
    Ok(())
}

fn fd_write(p: &Process, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) -> Result<(), Errno> {
    let sink = match fd {
        1 => &p.stdout,
        2 => &p.stderr,
        _ => return Err(errno::BADF),
    };
    let mem = p.guest_memory()?;
    let mut total: u32 = 0;
    let mut capture = sink.borrow_mut();
    for (ptr, len) in mem.iovecs(iovs as u32, iovs_len as u32)? {
        // Past the limit, bytes are counted as written but not copied: the program
        // must keep running as if its output went somewhere, not spin on retries.
        let take = (len as usize).min(capture.room()) as u32;
        if take > 0 {
            let bytes = mem.read(ptr, take)?;
            capture.bytes.extend_from_slice(&bytes);
            capture.kept += bytes.len();
        }
        if take < len {
            capture.mark_truncated();
        }
        total = total.saturating_add(len);
    }
    drop(capture);
    mem.write_u32(nwritten as u32, total)
}

fn fd_read(p: &Process, fd: i32, iovs: i32, iovs_len: i32, nread: i32) -> Result<(), Errno> {
    if fd != 0 {
        return Err(errno::BADF);
    }
    let mem = p.guest_memory()?;
    let mut pos = p.stdin_pos.get();
    let mut total: u32 = 0;
    for (ptr, len) in mem.iovecs(iovs as u32, iovs_len as u32)? {
        let available = p.stdin.len() - pos;
        let take = (len as usize).min(available);
        mem.write(ptr, &p.stdin[pos..pos + take])?;
        pos += take;
        total += take as u32;
        if take < len as usize {
            break;
        }
    }
    p.stdin_pos.set(pos);
    mem.write_u32(nread as u32, total)
}

/// stdio is reported as character devices (a terminal-like stream that cannot
/// seek) because that is what a program's runtime probes for before deciding how to
/// buffer; the rights are the ones a pipe end would have.
fn fd_fdstat_get(p: &Process, fd: i32, out: i32) -> Result<(), Errno> {
    const FILETYPE_CHARACTER_DEVICE: u8 = 2;
    const RIGHT_FD_READ: u64 = 1 << 1;
    const RIGHT_FD_WRITE: u64 = 1 << 6;
    const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;
    let rights = match fd {
        0 => RIGHT_FD_READ | RIGHT_POLL_FD_READWRITE,
        1 | 2 => RIGHT_FD_WRITE | RIGHT_POLL_FD_READWRITE,
        _ => return Err(errno::BADF),
    };
    // struct fdstat { u8 filetype; u16 flags @2; u64 rights_base @8; u64 inheriting @16 }
    let mut stat = [0u8; 24];
    stat[0] = FILETYPE_CHARACTER_DEVICE;
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    p.guest_memory()?.write(out as u32, &stat)
}

fn random_get(p: &Process, buf: i32, len: i32) -> Result<(), Errno> {
    let mem = p.guest_memory()?;
    let (start, len) = (buf as u32, len as u32);
    mem.view(start, len)?; // bounds of the whole range first
    let mut done = 0u32;
    while done < len {
        let n = (len - done).min(RANDOM_CHUNK);
        let view = mem.view(start + done, n)?;
        get_random_values(&view).map_err(|_| errno::IO)?;
        done += n;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// The import object

/// Keeps the Rust side of every import closure alive exactly as long as the run, and
/// frees it deterministically afterwards instead of waiting for the JS GC.
type KeepAlive = Vec<Box<dyn Any>>;

fn keep<T: ?Sized + WasmClosure + 'static>(
    closure: Closure<T>,
    keep_alive: &mut KeepAlive,
) -> JsValue {
    let function = closure.as_ref().clone();
    keep_alive.push(Box::new(closure));
    function
}

/// Built from the module's own import list so that every WASI name it declares gets
/// *something* (unknown ones an ENOSYS stub) and instantiation cannot fail on a
/// function we did not foresee; foreign namespaces are refused up front with a
/// message naming them, which is clearer than the engine's LinkError.
fn build_imports(
    module: &WebAssembly::Module,
    process: &Rc<Process>,
    markers: &Markers,
    jspi: Option<&Jspi>,
) -> Result<(Object, KeepAlive), String> {
    let mut keep_alive = KeepAlive::new();
    let wasi = Object::new();
    let mut unsupported = Vec::new();
    let mut enosys: Option<JsValue> = None;

    for descriptor in WebAssembly::Module::imports(module).iter() {
        let field = |key: &str| {
            Reflect::get(&descriptor, &key.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let (namespace, name, kind) = (field("module"), field("name"), field("kind"));
        if namespace != WASI_MODULE || kind != "function" {
            unsupported.push(format!("{namespace}.{name} ({kind})"));
            continue;
        }
        let function = match make_import(&name, process, markers, jspi, &mut keep_alive)? {
            Some(function) => function,
            None => enosys
                .get_or_insert_with(|| {
                    let stub = Closure::<dyn Fn() -> i32>::own_assert_unwind_safe(|| errno::NOSYS);
                    keep(stub, &mut keep_alive)
                })
                .clone(),
        };
        Reflect::set(&wasi, &name.as_str().into(), &function).map_err(|e| describe_js_error(&e))?;
    }

    if !unsupported.is_empty() {
        return Err(format!(
            "instantiation failed: the module imports {}; only {WASI_MODULE} functions are provided",
            unsupported.join(", ")
        ));
    }
    let imports = Object::new();
    Reflect::set(&imports, &WASI_MODULE.into(), &wasi).map_err(|e| describe_js_error(&e))?;
    Ok((imports, keep_alive))
}

/// Pointers arrive as `i32` (the wasm type) and are reinterpreted as unsigned
/// offsets inside; 64-bit parameters arrive as BigInt and bind as `i64`.
///
/// Unwind safety is asserted because nothing outlives a panic in an import: under
/// `panic=unwind` it surfaces as an exception around `_start` and ends the run as a
/// trap, and the `Process` is discarded with it (under `panic=abort` the question
/// does not arise). This keeps the shim compiling under either strategy.
fn make_import(
    name: &str,
    process: &Rc<Process>,
    markers: &Markers,
    jspi: Option<&Jspi>,
    keep_alive: &mut KeepAlive,
) -> Result<Option<JsValue>, String> {
    let p = process.clone();
    let function = match name {
        "args_sizes_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |count, size| {
                to_errno(args_sizes(&p.args, &p, count, size))
            }),
            keep_alive,
        ),
        "args_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |ptrs, buf| {
                to_errno(args_write(&p.args, &p, ptrs, buf))
            }),
            keep_alive,
        ),
        "environ_sizes_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |count, size| {
                to_errno(args_sizes(&p.environ, &p, count, size))
            }),
            keep_alive,
        ),
        "environ_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |ptrs, buf| {
                to_errno(args_write(&p.environ, &p, ptrs, buf))
            }),
            keep_alive,
        ),
        "fd_write" => keep(
            Closure::<dyn Fn(i32, i32, i32, i32) -> i32>::own_assert_unwind_safe(
                move |fd, iovs, len, out| to_errno(fd_write(&p, fd, iovs, len, out)),
            ),
            keep_alive,
        ),
        "fd_read" => keep(
            Closure::<dyn Fn(i32, i32, i32, i32) -> i32>::own_assert_unwind_safe(
                move |fd, iovs, len, out| to_errno(fd_read(&p, fd, iovs, len, out)),
            ),
            keep_alive,
        ),
        "fd_close" => keep(
            Closure::<dyn Fn(i32) -> i32>::own_assert_unwind_safe(|fd| {
                if is_stdio(fd) {
                    errno::SUCCESS
                } else {
                    errno::BADF
                }
            }),
            keep_alive,
        ),
        "fd_fdstat_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |fd, out| {
                to_errno(fd_fdstat_get(&p, fd, out))
            }),
            keep_alive,
        ),
        "fd_seek" => keep(
            Closure::<dyn Fn(i32, i64, i32, i32) -> i32>::own_assert_unwind_safe(
                |fd, _offset, _whence, _out| {
                    if is_stdio(fd) {
                        errno::SPIPE
                    } else {
                        errno::BADF
                    }
                },
            ),
            keep_alive,
        ),
        // EBADF (not ENOSYS) is how a runtime learns the preopen list has ended;
        // wasi-libc's startup aborts on any other error.
        "fd_prestat_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(|_fd, _out| errno::BADF),
            keep_alive,
        ),
        "fd_prestat_dir_name" => keep(
            Closure::<dyn Fn(i32, i32, i32) -> i32>::own_assert_unwind_safe(|_fd, _path, _len| {
                errno::BADF
            }),
            keep_alive,
        ),
        "clock_time_get" => keep(
            Closure::<dyn Fn(i32, i64, i32) -> i32>::own_assert_unwind_safe(
                move |id, _precision, out| {
                    to_errno(
                        clock_now_ns(id as u32)
                            .and_then(|ns| p.guest_memory()?.write_u64(out as u32, ns)),
                    )
                },
            ),
            keep_alive,
        ),
        "clock_res_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |id, out| {
                to_errno(
                    clock_resolution_ns(id as u32)
                        .and_then(|ns| p.guest_memory()?.write_u64(out as u32, ns)),
                )
            }),
            keep_alive,
        ),
        "random_get" => keep(
            Closure::<dyn Fn(i32, i32) -> i32>::own_assert_unwind_safe(move |buf, len| {
                to_errno(random_get(&p, buf, len))
            }),
            keep_alive,
        ),
        "sched_yield" => keep(
            Closure::<dyn Fn() -> i32>::own_assert_unwind_safe(|| errno::SUCCESS),
            keep_alive,
        ),
        // Never blocks (that would freeze the page): answered at once when it can be,
        // else suspended (JSPI) or refused; see the module docs.
        "poll_oneoff" => {
            let (cannot_wait, killed, waits) =
                (markers.cannot_wait.clone(), markers.killed.clone(), p.waits);
            let poll = keep(
                Closure::<dyn Fn(i32, i32, i32, i32) -> JsValue>::own_assert_unwind_safe(
                    move |subs, events, count, nevents| match poll_oneoff(
                        &p,
                        subs as u32,
                        events as u32,
                        count as u32,
                        nevents as u32,
                    ) {
                        Ok(None) => errno::SUCCESS.into(),
                        Err(e) => e.into(),
                        Ok(Some(wait)) => match p.waits {
                            Waits::Refuse => cannot_wait.clone(),
                            Waits::Suspend => sleep(p.clone(), wait, killed.clone()),
                        },
                    },
                ),
                keep_alive,
            );
            match (waits, jspi) {
                (Waits::Suspend, Some(jspi)) => {
                    Reflect::construct(&jspi.suspending, &js_sys::Array::of1(&poll))
                        .map_err(|e| format!("WebAssembly.Suspending: {}", describe_js_error(&e)))?
                }
                _ => throwing(&poll, &markers.cannot_wait),
            }
        }
        "proc_exit" => {
            let marker = markers.exit.clone();
            let record = keep(
                Closure::<dyn Fn(i32) -> JsValue>::own_assert_unwind_safe(move |code| {
                    p.exit_code.set(Some(code));
                    marker.clone()
                }),
                keep_alive,
            );
            // The throw that abandons the guest's stack happens in JS, after this
            // Rust closure has returned normally: a Rust frame skipped by an
            // exception would leave our shadow stack pointer lowered, and on a
            // stack JSPI resumed there is no Rust frame below to restore it.
            throwing(&record, &markers.exit)
        }
        _ => return Ok(None),
    };
    Ok(Some(function))
}

// ---------------------------------------------------------------------------------
// Waiting: poll_oneoff, and suspending with JSPI

/// `WebAssembly.Suspending` and `WebAssembly.promising`, looked up rather than
/// imported because engines without JSPI (Node 20, older browsers) must still run
/// everything else.
struct Jspi {
    suspending: Function,
    promising: Function,
}

fn jspi() -> Option<Jspi> {
    let wasm = Reflect::get(&js_sys::global(), &"WebAssembly".into()).ok()?;
    let function = |name: &str| {
        Reflect::get(&wasm, &name.into())
            .ok()?
            .dyn_into::<Function>()
            .ok()
    };
    Some(Jspi {
        suspending: function("Suspending")?,
        promising: function("promising")?,
    })
}

thread_local! {
    /// `(f, marker) => (...args) => { r = f(...args); if (r === marker) throw marker; return r }`
    static THROWING: Function = Function::new_with_args(
        "f, marker",
        "return function () { const r = f.apply(undefined, arguments); if (r === marker) throw marker; return r; };",
    );
}

/// Wraps an import so that returning `marker` throws it instead: how an import
/// ends the run without unwinding through Rust frames (see `proc_exit`).
fn throwing(function: &JsValue, marker: &JsValue) -> JsValue {
    THROWING
        .with(|t| t.call2(&JsValue::UNDEFINED, function, marker))
        .expect("the wrapper is plain JS")
}

/// How often a sleeping module checks whether it was cancelled: the latency of
/// deleting a sleeping pod.
const CANCEL_CHECK_MS: f64 = 100.0;

/// A poll that can only be answered by waiting: for `ns` nanoseconds, then one
/// event for the clock subscription `userdata`.
struct Wait {
    ns: u64,
    userdata: u64,
    events: u32,
    nevents: u32,
}

const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const SUBCLOCKFLAG_ABSTIME: u16 = 1;
const EVENTRWFLAG_HANGUP: u16 = 1;

/// struct event { u64 userdata; u16 error @8; u8 type @10; u64 nbytes @16; u16 flags @24 }
fn event(
    userdata: u64,
    error: Errno,
    type_: u8,
    nbytes: u64,
    flags: u16,
) -> [u8; EVENT_SIZE as usize] {
    let mut e = [0u8; EVENT_SIZE as usize];
    e[0..8].copy_from_slice(&userdata.to_le_bytes());
    e[8..10].copy_from_slice(&(error as u16).to_le_bytes());
    e[10] = type_;
    e[16..24].copy_from_slice(&nbytes.to_le_bytes());
    e[24..26].copy_from_slice(&flags.to_le_bytes());
    e
}

/// Answers what is ready now: stdio is always ready (stdin is a buffer, stdout and
/// stderr are captured), a bad fd or clock is an event carrying its error, and a
/// clock whose time has come fires. If nothing is ready, the earliest clock is
/// what must be waited for.
fn poll_oneoff(
    p: &Process,
    subs: u32,
    events: u32,
    count: u32,
    nevents: u32,
) -> Result<Option<Wait>, Errno> {
    if count == 0 {
        // Nothing to wait for would block forever: wasmtime answers EINVAL too.
        return Err(errno::INVAL);
    }
    let mem = p.guest_memory()?;
    let raw = mem.read(
        subs,
        count.checked_mul(SUBSCRIPTION_SIZE).ok_or(errno::FAULT)?,
    )?;
    mem.view(events, count.checked_mul(EVENT_SIZE).ok_or(errno::FAULT)?)?;
    let mut ready = Vec::new();
    let mut earliest: Option<(u64, u64)> = None;
    for sub in raw.chunks_exact(SUBSCRIPTION_SIZE as usize) {
        let u64_at = |at: usize| u64::from_le_bytes(sub[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_le_bytes(sub[at..at + 4].try_into().expect("4 bytes"));
        let userdata = u64_at(0);
        match sub[8] {
            EVENTTYPE_CLOCK => {
                let (id, timeout) = (u32_at(16), u64_at(24));
                let absolute = u16::from_le_bytes([sub[40], sub[41]]) & SUBCLOCKFLAG_ABSTIME != 0;
                match clock_now_ns(id) {
                    Err(e) => ready.push(event(userdata, e, EVENTTYPE_CLOCK, 0, 0)),
                    Ok(now) => {
                        let ns = if absolute {
                            timeout.saturating_sub(now)
                        } else {
                            timeout
                        };
                        if ns == 0 {
                            ready.push(event(userdata, errno::SUCCESS, EVENTTYPE_CLOCK, 0, 0));
                        } else if earliest.is_none_or(|(best, _)| ns < best) {
                            earliest = Some((ns, userdata));
                        }
                    }
                }
            }
            EVENTTYPE_FD_READ => ready.push(match u32_at(16) {
                0 => {
                    let left = (p.stdin.len() - p.stdin_pos.get()) as u64;
                    event(
                        userdata,
                        errno::SUCCESS,
                        EVENTTYPE_FD_READ,
                        left,
                        if left == 0 { EVENTRWFLAG_HANGUP } else { 0 },
                    )
                }
                _ => event(userdata, errno::BADF, EVENTTYPE_FD_READ, 0, 0),
            }),
            EVENTTYPE_FD_WRITE => ready.push(match u32_at(16) {
                1 | 2 => event(
                    userdata,
                    errno::SUCCESS,
                    EVENTTYPE_FD_WRITE,
                    OUTPUT_LIMIT as u64,
                    0,
                ),
                _ => event(userdata, errno::BADF, EVENTTYPE_FD_WRITE, 0, 0),
            }),
            _ => return Err(errno::INVAL),
        }
    }
    if ready.is_empty() {
        let (ns, userdata) = earliest.expect("every subscription is ready or a clock");
        return Ok(Some(Wait {
            ns,
            userdata,
            events,
            nevents,
        }));
    }
    for (i, e) in ready.iter().enumerate() {
        mem.write(events + i as u32 * EVENT_SIZE, e)?;
    }
    mem.write_u32(nevents, ready.len() as u32)?;
    Ok(None)
}

/// The promise a suspended `poll_oneoff` returns: it settles when the wait is
/// over (the guest resumes with the clock's event) or rejects with `killed` once
/// `cancelled` says so (the guest is abandoned where it sleeps). Output so far is
/// handed over first, so a sleeping module's logs are seen while it sleeps.
fn sleep(p: Rc<Process>, wait: Wait, killed: JsValue) -> JsValue {
    p.pause_metering();
    p.flush();
    // Timers in a background tab are throttled (to 1 s or more), so the end is a
    // deadline on the clock, not a count of timer ticks.
    let deadline = performance_now() + wait.ns as f64 / 1e6;
    let wake = async move {
        loop {
            if (p.cancelled)() {
                return Err(killed);
            }
            let left = deadline - performance_now();
            if left <= 0.0 {
                break;
            }
            gloo_timers::future::TimeoutFuture::new(left.min(CANCEL_CHECK_MS).ceil() as u32).await;
        }
        let fired = event(wait.userdata, errno::SUCCESS, EVENTTYPE_CLOCK, 0, 0);
        let result = p.guest_memory().and_then(|mem| {
            mem.write(wait.events, &fired)?;
            mem.write_u32(wait.nevents, 1)
        });
        // The engine resumes the module as this promise settles.
        p.resume_metering();
        Ok(JsValue::from(to_errno(result)))
    };
    wasm_bindgen_futures::future_to_promise(wake).into()
}
