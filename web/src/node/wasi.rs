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
//! `_start` runs synchronously on the calling thread. The shim does not bound CPU:
//! a module that never returns blocks the thread it runs on, so callers that care
//! should run it in a Worker or meter it before handing it over.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

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
/// blocking call (`_start`) with no way to suspend it; output is collected and handed
/// back at the end rather than streamed. Synchronous instantiation of an already
/// compiled module is allowed on a browser's main thread (only synchronous
/// *compilation* is size-limited there), which is what makes this signature possible.
pub fn run_command(
    module: &WebAssembly::Module,
    argv: &[String],
    env: &[(String, String)],
    stdin: &[u8],
) -> CommandOutput {
    let process = Rc::new(Process::new(argv, env, stdin));
    // A fresh object per run: `proc_exit` throws it, and only an identical object
    // caught around `_start` means "exit", never some other exception that happens
    // to look similar, nor the marker of a nested or earlier run.
    let exit_marker: JsValue = Object::new().into();

    let not_started = |message: String| CommandOutput {
        exit_code: EXIT_CODE_NOT_STARTED,
        stdout: Vec::new(),
        stderr: Vec::new(),
        trap: Some(message),
    };

    let (imports, _keep_alive) = match build_imports(module, &process, &exit_marker) {
        Ok(built) => built,
        Err(message) => return not_started(message),
    };
    let instance = match WebAssembly::Instance::new(module, &imports) {
        Ok(instance) => instance,
        Err(err) => {
            return not_started(format!("instantiation failed: {}", describe_js_error(&err)))
        }
    };
    let exports = instance.exports();
    // The Memory object is stable for the instance's life; only its buffer is
    // replaced on growth, which is why every access goes through `guest_memory()`.
    if let Ok(memory) = Reflect::get(&exports, &"memory".into()) {
        if let Ok(memory) = memory.dyn_into::<WebAssembly::Memory>() {
            *process.memory.borrow_mut() = Some(memory);
        }
    }
    let start = match Reflect::get(&exports, &"_start".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    {
        Some(start) => start,
        None => {
            return not_started("module exports no `_start` function: not a WASI command".into())
        }
    };

    let (exit_code, trap) = match start.call0(&JsValue::UNDEFINED) {
        Ok(_) => (0, None),
        Err(thrown) if Object::is(&thrown, &exit_marker) => {
            (process.exit_code.get().unwrap_or(0), None)
        }
        Err(thrown) => (EXIT_CODE_TRAP, Some(describe_js_error(&thrown))),
    };
    // `_keep_alive` (the import closures) is dropped at the end of this function;
    // anything that still held the instance and called an import would get a JS
    // error instead of touching a finished process.
    CommandOutput {
        exit_code,
        stdout: process.stdout.take().bytes,
        stderr: process.stderr.take().bytes,
        trap,
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
}

impl Process {
    fn new(argv: &[String], env: &[(String, String)], stdin: &[u8]) -> Self {
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
    bytes: Vec<u8>,
    truncated: bool,
}

impl Capture {
    fn room(&self) -> usize {
        if self.truncated {
            0
        } else {
            OUTPUT_LIMIT.saturating_sub(self.bytes.len())
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
    fn performance_now() -> f64;
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
    exit_marker: &JsValue,
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
        let function = match make_import(&name, process, exit_marker, &mut keep_alive) {
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
    exit_marker: &JsValue,
    keep_alive: &mut KeepAlive,
) -> Option<JsValue> {
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
        // Sleeping would freeze the page: there is no way to block a browser thread
        // politely, so `poll_oneoff` is left unsupported instead of busy-waiting.
        "poll_oneoff" => keep(
            Closure::<dyn Fn(i32, i32, i32, i32) -> i32>::own_assert_unwind_safe(|_, _, _, _| {
                errno::NOSYS
            }),
            keep_alive,
        ),
        "proc_exit" => {
            let marker = exit_marker.clone();
            keep(
                Closure::<dyn Fn(i32)>::own_assert_unwind_safe(move |code| {
                    // A JS exception is the only way to abandon the guest's stack from
                    // inside a call. Skipping this frame's epilogue is harmless: it owns
                    // nothing to drop (the throw consumes the marker), and the shadow
                    // stack pointer it leaves lowered is reset by the first Rust frame
                    // the exception returns into (around `_start`), whose epilogue
                    // restores it from a saved base rather than relatively.
                    p.exit_code.set(Some(code));
                    wasm_bindgen::throw_val(marker.clone())
                }),
                keep_alive,
            )
        }
        _ => return None,
    };
    Some(function)
}
