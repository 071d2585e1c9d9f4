//! The in-page node's container runtime: fetches a pod's module, compiles
//! it once per digest, and runs it with the WASI shim. The kubelet decisions
//! are core's; this only carries out `Start` and reports what happened,
//! including an exit when the pod's deletion stopped the container (the
//! kubelet waits for that report before it deletes the pod).

use super::compute_meter::ComputeMeter;
use super::wasi;
use std::cell::RefCell;
use std::rc::Rc;
use std::collections::HashMap;
use tabernetes_core::images::{self, ImageRef};
use tabernetes_core::kubelet::runtime::{ContainerLaunch, RuntimeEvent};
use tabernetes_core::kubelet::EXIT_CODE_KILLED;

/// What a running container tells the kubelet.
pub enum Report {
    Event(RuntimeEvent),
    Log { pod_uid: String, container: String, data: String },
}

/// The message of a container stopped because its pod was deleted, as
/// node-host words it (its exit code is the kubelet's 128 + SIGKILL).
const KILLED_MESSAGE: &str = "stopped because its pod was deleted";

/// Modules larger than this are refused before compiling.
pub const MAX_MODULE_BYTES: usize = 64 * 1024 * 1024;

thread_local! {
    /// Compiled modules by sha256 digest, like a node's image cache.
    static COMPILED: RefCell<HashMap<String, js_sys::WebAssembly::Module>> = RefCell::new(HashMap::new());
}

async fn fetch_module(image: &str) -> Result<Vec<u8>, String> {
    let url = match images::resolve(image).map_err(|e| e.to_string())? {
        ImageRef::Builtin(name) => images::builtin_path(&name),
        ImageRef::Url(url) => url,
    };
    let response = gloo_net::http::Request::get(&url).send().await.map_err(|e| format!("fetching {url}: {e}"))?;
    if !response.ok() {
        return Err(format!("fetching {url}: HTTP {}", response.status()));
    }
    let bytes = response.binary().await.map_err(|e| format!("reading {url}: {e}"))?;
    if bytes.len() > MAX_MODULE_BYTES {
        return Err(format!("module {image} is {} bytes; the limit is {MAX_MODULE_BYTES}", bytes.len()));
    }
    Ok(bytes)
}

async fn load(image: &str) -> Result<(String, js_sys::WebAssembly::Module), String> {
    let bytes = fetch_module(image).await?;
    let digest = images::digest(&bytes);
    if let Some(module) = COMPILED.with(|c| c.borrow().get(&digest).cloned()) {
        return Ok((digest, module));
    }
    let module = wasi::compile(&bytes).await.map_err(|e| format!("module {image} is not a valid WebAssembly module: {e}"))?;
    COMPILED.with(|c| c.borrow_mut().insert(digest.clone(), module.clone()));
    Ok((digest, module))
}

/// Runs one container in the background and reports through `report`.
/// `cancelled` is asked before the module starts (a pod deleted meanwhile never
/// runs) and while it sleeps (see [`wasi::run_streaming`]); a module that
/// computes without sleeping cannot be interrupted on the page's thread.
/// `meter` counts what it uses, for the in-page kubelet's scrapes.
pub fn start(launch: ContainerLaunch, cancelled: impl Fn() -> bool + 'static, report: impl Fn(Report) + 'static, meter: Rc<ComputeMeter>) {
    let (cancelled, report) = (Rc::new(cancelled), Rc::new(report));
    wasm_bindgen_futures::spawn_local(async move {
        let (uid, name) = (launch.pod_uid.clone(), launch.container.clone());
        let (digest, module) = match load(&launch.image).await {
            Ok(loaded) => loaded,
            Err(message) => return report(Report::Event(RuntimeEvent::PullFailed { pod_uid: uid, container: name, message })),
        };
        if cancelled() {
            return;
        }
        report(Report::Event(RuntimeEvent::Started { pod_uid: uid.clone(), container: name.clone(), image_id: digest }));
        let killed = || Report::Event(RuntimeEvent::Exited { pod_uid: uid.clone(), container: name.clone(), exit_code: EXIT_CODE_KILLED, message: Some(KILLED_MESSAGE.into()) });
        // Let the page draw "Running" before the module takes the thread.
        gloo_timers::future::TimeoutFuture::new(0).await;
        if cancelled() {
            // It was reported Started: the kubelet waits to hear that it stopped.
            return report(killed());
        }
        let on_output = {
            let (report, uid, name) = (report.clone(), uid.clone(), name.clone());
            move |_: wasi::Stream, bytes: &[u8]| {
                report(Report::Log { pod_uid: uid.clone(), container: name.clone(), data: String::from_utf8_lossy(bytes).into_owned() })
            }
        };
        let is_cancelled = cancelled.clone();
        let ended = wasi::run_streaming(&module, &launch.argv, &launch.env, &[], on_output, move || is_cancelled(), meter).await;
        match ended {
            wasi::Ended::Exited { exit_code, trap } => {
                report(Report::Event(RuntimeEvent::Exited { pod_uid: uid, container: name, exit_code, message: trap }))
            }
            wasi::Ended::Killed => report(killed()),
        }
    });
}
