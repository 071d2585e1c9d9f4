//! Carries out the kubelet's runtime commands with wasmtime: one blocking
//! thread per running container, cancellable when its pod is deleted, with
//! output streamed back as it is written.

use crate::modules::ModuleSource;
use crate::runtime::{CancelToken, Launch, RunOutcome, Runtime, Stream};
use crate::usage_meter::UsageMeter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tabernetes_core::kubelet::runtime::{ContainerLaunch, RuntimeEvent};
use tabernetes_core::kubelet::usage_sampler::UsageSampler;
use tabernetes_core::protocol::LogStream;
use tokio::sync::mpsc::UnboundedSender;

/// What running containers report to the node loop.
#[derive(Debug)]
pub enum PodReport {
    Event(RuntimeEvent),
    Log { pod_uid: String, container: String, stream: LogStream, data: String },
}

/// The running containers' meters, shared with the threads that run them.
type Usage = Arc<Mutex<UsageSampler<Arc<UsageMeter>>>>;

pub struct Pods {
    runtime: Arc<Runtime>,
    modules: ModuleSource,
    reports: UnboundedSender<PodReport>,
    running: Arc<Mutex<HashMap<String, Vec<CancelToken>>>>,
    usage: Usage,
    /// The origin of the monotonic nanoseconds the sampler works in.
    origin: Instant,
}

impl Pods {
    pub fn new(runtime: Arc<Runtime>, modules: ModuleSource, reports: UnboundedSender<PodReport>) -> Self {
        Pods { runtime, modules, reports, running: Arc::default(), usage: Arc::default(), origin: Instant::now() }
    }

    pub fn start(&self, launch: ContainerLaunch) {
        let cancel = CancelToken::default();
        self.running.lock().expect("not poisoned").entry(launch.pod_uid.clone()).or_default().push(cancel.clone());
        let (runtime, modules, reports, usage, origin) = (self.runtime.clone(), self.modules.clone(), self.reports.clone(), self.usage.clone(), self.origin);
        tokio::task::spawn_blocking(move || run_container(&runtime, &modules, &reports, &usage, origin, launch, cancel));
    }

    /// Each running container's usage since the last call (the kubelet's
    /// view of cAdvisor, taken at each scrape), as runtime events.
    pub fn sample_usage(&self) -> Vec<RuntimeEvent> {
        self.usage.lock().expect("not poisoned").sample(nanos_since(self.origin))
    }

    pub fn stop(&self, pod_uid: &str) {
        if let Some(tokens) = self.running.lock().expect("not poisoned").remove(pod_uid) {
            for token in tokens {
                token.cancel();
            }
        }
    }
}

/// Monotonic nanoseconds since `origin`, the sampler's clock.
fn nanos_since(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

fn run_container(
    runtime: &Runtime,
    modules: &ModuleSource,
    reports: &UnboundedSender<PodReport>,
    usage: &Mutex<UsageSampler<Arc<UsageMeter>>>,
    origin: Instant,
    launch: ContainerLaunch,
    cancel: CancelToken,
) {
    let (uid, name) = (launch.pod_uid.clone(), launch.container.clone());
    let pull_failed = |message: String| {
        let _ = reports.send(PodReport::Event(RuntimeEvent::PullFailed { pod_uid: uid.clone(), container: name.clone(), message }));
    };
    let bytes = match modules.fetch(&launch.image) {
        Ok(bytes) => bytes,
        Err(message) => return pull_failed(message),
    };
    let (digest, module) = match runtime.load(&bytes) {
        Ok(loaded) => loaded,
        Err(e) => return pull_failed(format!("module {} is not a valid WebAssembly module: {e}", launch.image)),
    };
    if cancel.is_cancelled() {
        return;
    }
    let _ = reports.send(PodReport::Event(RuntimeEvent::Started { pod_uid: uid.clone(), container: name.clone(), image_id: format!("sha256:{digest}") }));
    let log_reports = reports.clone();
    let (log_uid, log_name) = (uid.clone(), name.clone());
    let on_output = Arc::new(move |stream: Stream, bytes: &[u8]| {
        let stream = match stream {
            Stream::Stdout => LogStream::Stdout,
            Stream::Stderr => LogStream::Stderr,
        };
        let data = String::from_utf8_lossy(bytes).into_owned();
        let _ = log_reports.send(PodReport::Log { pod_uid: log_uid.clone(), container: log_name.clone(), stream, data });
    });
    let run = Launch { argv: launch.argv, env: launch.env, memory_limit_bytes: launch.memory_limit_bytes };
    let meter = Arc::new(UsageMeter::default());
    usage.lock().expect("not poisoned").started(&uid, &name, meter.clone(), nanos_since(origin));
    let outcome = runtime.run(&module, &run, &cancel, &meter, on_output);
    usage.lock().expect("not poisoned").stopped(&uid, &name);
    let (exit_code, message) = match outcome {
        RunOutcome::Exited(code) => (code, None),
        // 137 = killed by SIGKILL, as a container runtime reports a killed container.
        RunOutcome::Killed => (137, Some("stopped because its pod was deleted".to_string())),
        RunOutcome::Trapped(trap) => (134, Some(format!("wasm trap: {trap}"))),
    };
    // Reported even when cancelled: a kubelet terminating the pod waits for
    // this exit before it lets the API server delete the pod.
    let _ = reports.send(PodReport::Event(RuntimeEvent::Exited { pod_uid: uid, container: name, exit_code, message }));
}
