//! The in-page node's container runtime: fetches a pod's module, compiles
//! it once per digest, and runs it with the WASI shim. The kubelet decisions
//! are core's; this only carries out `Start` and reports what happened.

use super::wasi;
use std::cell::RefCell;
use std::collections::HashMap;
use tabernetes_core::images::{self, ImageRef};
use tabernetes_core::kubelet::runtime::{ContainerLaunch, RuntimeEvent};

/// What a running container tells the kubelet.
pub enum Report {
    Event(RuntimeEvent),
    Log { pod_uid: String, container: String, data: String },
}

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
/// `cancelled` is asked before the module starts: a pod deleted meanwhile never runs.
pub fn start(launch: ContainerLaunch, cancelled: impl Fn() -> bool + 'static, report: impl Fn(Report) + 'static) {
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
        // Let the page draw "Running" before the module takes the thread.
        gloo_timers::future::TimeoutFuture::new(0).await;
        if cancelled() {
            return;
        }
        let output = wasi::run_command(&module, &launch.argv, &launch.env, &[]);
        for bytes in [&output.stdout, &output.stderr] {
            if !bytes.is_empty() {
                report(Report::Log { pod_uid: uid.clone(), container: name.clone(), data: String::from_utf8_lossy(bytes).into_owned() });
            }
        }
        report(Report::Event(RuntimeEvent::Exited { pod_uid: uid, container: name, exit_code: output.exit_code, message: output.trap }));
    });
}
