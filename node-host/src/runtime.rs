//! Runs a pod's container as a WASI preview1 command (`_start`) in wasmtime.
//!
//! The guest gets exactly what the container spec grants: its args and env,
//! an empty stdin, stdout and stderr streamed to the caller as logs, and
//! nothing else (no preopened directories, no sockets, no host env or stdio),
//! because node-host runs modules chosen by whoever drives the playground.
//!
//! Execution is async inside (wasmtime fibers) but `run` blocks its calling
//! thread: the async form is what lets a pod deletion stop a guest that is
//! parked in a host call such as a long `sleep`, which an epoch check alone
//! cannot reach.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use crate::usage_meter::{MeteredLimits, ThreadCpu, UsageMeter};
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, ExternType, Linker, Module, Store, StoreLimitsBuilder, Trap, UpdateDeadline,
    WasmBacktrace,
};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// Linear-memory cap when the container spec sets no memory limit, so that
/// one module cannot exhaust the learner's machine.
pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 256 * 1024 * 1024;

/// Output kept per container run (stdout and stderr together): logs are for
/// reading, and a chatty loop must not grow node-host's memory or flood the page.
pub const OUTPUT_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Emitted once, on the stream that hit [`OUTPUT_LIMIT_BYTES`], so a reader of
/// the logs knows the rest was dropped rather than never written.
pub const TRUNCATED_NOTE: &[u8] = b"\n[output truncated]\n";

/// Table growth is capped too: like memory, an unbounded `table.grow` is a
/// guest-controlled host allocation.
const TABLE_ELEMENTS_LIMIT: usize = 1 << 20;

/// How often the epoch advances: the latency bound for noticing a cancel
/// while wasm is computing.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Which output stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives each chunk of guest output as it is written.
pub type OutputFn = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// What to run: argv[0] is the program name, env pairs from the container spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `None` means [`DEFAULT_MEMORY_LIMIT_BYTES`], never unlimited.
    pub memory_limit_bytes: Option<u64>,
}

/// How a run ended; maps onto the container's terminated state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// `proc_exit(n)`, or `_start` returning (0).
    Exited(i32),
    /// Stopped through its [`CancelToken`].
    Killed,
    /// A wasm trap, an instantiation failure, or an invalid `proc_exit` status;
    /// the message is meant for the pod's status.
    Trapped(String),
}

/// Cancel a running module (pod deleted): set it and the module stops at the
/// next epoch tick, or at once if it is blocked in a host call.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why a module cannot be run at all: reported at image-pull time rather than
/// as a crash of every pod that uses it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Not a valid WebAssembly module (or not one wasmtime can compile).
    #[error("invalid WebAssembly module: {0}")]
    InvalidModule(String),
    /// Every Tabernetes pod runs `_start`, so a module without one (a library
    /// or a reactor) can never start.
    #[error("module is not a WASI command: it exports no `_start: func()`")]
    NotACommand,
    /// Imports something other than WASI preview1, which the node cannot supply.
    #[error("module imports something the node does not provide: {0}")]
    UnsupportedImport(String),
}

/// Per-run store data.
struct RunState {
    wasi: WasiP1Ctx,
    limits: MeteredLimits,
}

/// Marks the error the epoch callback returns, so `run` can tell a kill from a trap.
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// One per node-host: shares the engine, the WASI linker and compiled modules
/// across all pods.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    /// sha256 hex -> compiled module; pods share images, compiling is the
    /// expensive step, and the set of images in a playground is small.
    modules: Mutex<HashMap<String, Module>>,
    compiles: AtomicU64,
    /// Stops the epoch thread when the runtime goes away.
    stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Engine with epoch interruption; starts one background thread bumping
    /// the epoch every [`EPOCH_TICK`], because epochs are the cheap way to
    /// regain control from a guest that never calls the host.
    pub fn new() -> anyhow::Result<Arc<Runtime>> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("wasmtime engine: {e:#}"))?;

        let mut linker = Linker::new(&engine);
        p1::add_to_linker_async(&mut linker, |state: &mut RunState| &mut state.wasi)
            .map_err(|e| anyhow::anyhow!("WASI preview1 linker: {e:#}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })?;

        Ok(Arc::new(Runtime {
            engine,
            linker,
            modules: Mutex::new(HashMap::new()),
            compiles: AtomicU64::new(0),
            stop,
        }))
    }

    /// Compiles (validating) module bytes, cached by sha256: returns
    /// (sha256 hex, Module). Same bytes twice -> compiled once.
    ///
    /// Also rejects modules that could never start here (no `_start`, or
    /// imports beyond WASI preview1), so a bad image fails once, when pulled.
    pub fn load(&self, bytes: &[u8]) -> Result<(String, Module), RuntimeError> {
        let sha = hex::encode(Sha256::digest(bytes));
        if let Some(module) = self.modules.lock().unwrap().get(&sha) {
            return Ok((sha, module.clone()));
        }

        // Compile outside the lock: it takes seconds, and other pods' loads
        // of already-cached images must not wait behind it.
        let module = Module::new(&self.engine, bytes)
            .map_err(|e| RuntimeError::InvalidModule(format!("{e:#}")))?;
        self.compiles.fetch_add(1, Ordering::Relaxed);
        match module.get_export("_start") {
            Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
            _ => return Err(RuntimeError::NotACommand),
        }
        self.linker
            .instantiate_pre(&module)
            .map_err(|e| RuntimeError::UnsupportedImport(format!("{e:#}")))?;

        let module = self
            .modules
            .lock()
            .unwrap()
            .entry(sha.clone())
            .or_insert(module)
            .clone();
        Ok((sha, module))
    }

    /// How many times `load` actually compiled; lets callers (and tests)
    /// see that the cache works.
    pub fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// Number of distinct compiled modules held.
    pub fn cached_modules(&self) -> usize {
        self.modules.lock().unwrap().len()
    }

    /// Runs the module's `_start` to completion on the calling (blocking) thread.
    ///
    /// Calls `on_output(stream, bytes)` for each guest write, as it happens,
    /// until [`OUTPUT_LIMIT_BYTES`] have been passed on; then one
    /// [`TRUNCATED_NOTE`] and nothing more.
    ///
    /// Must not be called from inside an async task (use a plain thread or
    /// `spawn_blocking`): it blocks on a Tokio runtime, the current one if the
    /// thread has one, as wasmtime-wasi's own blocking mode does.
    ///
    /// Keeps `usage` up to date while it runs: CPU time at every epoch tick
    /// spent computing, memory at every growth.
    pub fn run(
        &self,
        module: &Module,
        launch: &Launch,
        cancel: &CancelToken,
        usage: &Arc<UsageMeter>,
        on_output: OutputFn,
    ) -> RunOutcome {
        if cancel.is_cancelled() {
            return RunOutcome::Killed;
        }

        let sink = Arc::new(OutputSink {
            on_output,
            budget: Mutex::new(Budget {
                remaining: OUTPUT_LIMIT_BYTES,
                truncated: false,
            }),
        });
        let wasi = WasiCtxBuilder::new()
            .args(&launch.argv)
            .envs(&launch.env)
            .stdout(LogStream {
                stream: Stream::Stdout,
                sink: sink.clone(),
            })
            .stderr(LogStream {
                stream: Stream::Stderr,
                sink,
            })
            .build_p1();

        let memory_limit = launch
            .memory_limit_bytes
            .unwrap_or(DEFAULT_MEMORY_LIMIT_BYTES);
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_limit).unwrap_or(usize::MAX))
            .table_elements(TABLE_ELEMENTS_LIMIT)
            .build();

        let limits = MeteredLimits { limits, meter: usage.clone() };
        let mut store = Store::new(&self.engine, RunState { wasi, limits });
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        let token = cancel.clone();
        let (cpu, meter) = (ThreadCpu::start(), usage.clone());
        store.epoch_deadline_callback(move |_| {
            cpu.update(&meter);
            if token.is_cancelled() {
                Err(Cancelled.into())
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });

        let linker = &self.linker;
        let store = &mut store;
        let result = wasmtime_wasi::runtime::in_tokio(async move {
            let execute = async {
                let instance = linker.instantiate_async(&mut *store, module).await?;
                let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
                start.call_async(&mut *store, ()).await
            };
            tokio::select! {
                biased;
                result = execute => Some(result),
                // Dropping `execute` aborts the guest wherever it is, including
                // inside a blocking WASI call the epoch callback never sees.
                () = cancelled(cancel) => None,
            }
        });

        match result {
            None => RunOutcome::Killed,
            Some(Ok(())) => RunOutcome::Exited(0),
            Some(Err(e)) if e.is::<Cancelled>() => RunOutcome::Killed,
            Some(Err(e)) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => RunOutcome::Exited(exit.0),
                None => RunOutcome::Trapped(describe(&e)),
            },
        }
    }
}

/// Puts the trap's reason first and the wasm backtrace after it: the first
/// line is what a learner sees in the pod status.
fn describe(error: &wasmtime::Error) -> String {
    match (
        error.downcast_ref::<Trap>(),
        error.downcast_ref::<WasmBacktrace>(),
    ) {
        (Some(trap), Some(backtrace)) => format!("{trap}\n{backtrace}"),
        (Some(trap), None) => trap.to_string(),
        _ => format!("{error:#}"),
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Resolves once `cancel` is set; polled on a timer because the token is a
/// plain flag that anyone can set without a waker.
async fn cancelled(cancel: &CancelToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(EPOCH_TICK).await;
    }
}

/// Shared by stdout and stderr because the output cap is per container.
struct OutputSink {
    on_output: OutputFn,
    budget: Mutex<Budget>,
}

struct Budget {
    remaining: usize,
    truncated: bool,
}

impl OutputSink {
    /// Passes on what fits in the budget; the guest always sees a successful
    /// write, so a capped program keeps running instead of failing on EPIPE.
    fn emit(&self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let (keep, note) = {
            let mut budget = self.budget.lock().unwrap();
            if budget.truncated {
                return;
            }
            let keep = bytes.len().min(budget.remaining);
            budget.remaining -= keep;
            let note = keep < bytes.len();
            budget.truncated = note;
            (keep, note)
        };
        if keep > 0 {
            (self.on_output)(stream, &bytes[..keep]);
        }
        if note {
            (self.on_output)(stream, TRUNCATED_NOTE);
        }
    }
}

/// A guest stdout or stderr that hands each write straight to the sink,
/// which is what makes logs stream instead of arriving at exit.
#[derive(Clone)]
struct LogStream {
    stream: Stream,
    sink: Arc<OutputSink>,
}

/// Largest write permit offered; wasmtime-wasi copies at most this much
/// guest memory per step.
const WRITE_PERMIT: usize = 64 * 1024;

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.sink.emit(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.sink.emit(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
