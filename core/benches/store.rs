//! Store and watch benchmark (issue 3's figures), natively or as wasm:
//!
//!     cargo bench -p tabernetes-core --bench store
//!     scripts/bench-wasm.sh store          # the same code as wasm in headless Chromium
//!
//! Prints writes per second, list latency at 100k objects, watch fan-out
//! latency to 10k watchers (p50/p99) and memory per idle watcher. Anchors:
//! etcd's 44k-50k writes/s (3 members, 8 vCPU), under 1 ms at light load and
//! ~350 bytes per watcher. Targets: >= 200k writes/s single-threaded, p99
//! fan-out under 1 ms at 10k watchers, <= 350 bytes per watcher.

use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;
use tabernetes_core::apiserver::selectors::{FieldSelector, LabelSelector};
use tabernetes_core::apiserver::watch::{WatchFilter, Watches};
use tabernetes_core::apiserver::{ApiRequest, ApiServer};
use tabernetes_core::store::{ObjectKey, Store};
use tabernetes_core::Timestamp;

/// Counts live heap bytes, so memory per watcher is measured, not estimated.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A pod as a controller would write it (~600 bytes of JSON).
fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i:06}"), "namespace": "default", "uid": format!("00000000-0000-4000-8000-{i:012}"),
                     "labels": {"app": "web", "pod-template-hash": "5d8b7c"}, "creationTimestamp": "2026-11-22T00:00:00Z"},
        "spec": {"nodeName": format!("node-{}", i % 100), "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "containers": [{"name": "hello", "image": "hello", "imagePullPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
        "status": {"phase": "Running", "qosClass": "Burstable", "conditions": [{"type": "Ready", "status": "True"}]},
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let platform = if cfg!(target_arch = "wasm32") { "wasm32 (WASI)" } else { "native" };
    println!("tabernetes store benchmark, {platform}");

    // 1. Writes: creates, then updates, of pod-sized objects.
    const WRITES: usize = 200_000;
    let objects: Vec<Value> = (0..WRITES).map(pod).collect();
    // Keys and values are made before the clock starts: the figure is the
    // store's (as etcd's excludes its clients' encoding).
    let writes = || -> Vec<(ObjectKey, Value)> { objects.iter().enumerate().map(|(i, o)| (ObjectKey::new("pods", "default", format!("web-{i:06}")), o.clone())).collect() };
    let mut store = Store::default();
    let batch = writes();
    let started = Instant::now();
    for (key, object) in batch {
        store.create(key, object).unwrap();
    }
    let creates = WRITES as f64 / started.elapsed().as_secs_f64();
    let batch = writes();
    let started = Instant::now();
    for (key, object) in batch {
        store.update(key, object, None).unwrap();
    }
    let updates = WRITES as f64 / started.elapsed().as_secs_f64();
    println!("store writes: {creates:.0} creates/s, {updates:.0} updates/s ({WRITES} pods, history window {})", tabernetes_core::store::DEFAULT_HISTORY_LIMIT);
    drop(store);

    // 2. List at 100k objects: the store's range read, and the API server's
    // list (selectors, a page of 500, JSON out) as a client sees it.
    const LISTED: usize = 100_000;
    let mut api = ApiServer::new(1, Timestamp::from_second(1_800_000_000).unwrap());
    let mut store = Store::default();
    for object in objects.iter().take(LISTED) {
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        store.create(ObjectKey::new("pods", "default", name), object.clone()).unwrap();
    }
    let runs = 20;
    let started = Instant::now();
    for _ in 0..runs {
        assert_eq!(store.list("pods", Some("default")).count(), LISTED);
    }
    let store_list_ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    let page = api_with(&mut api, &objects[..LISTED]);
    let started = Instant::now();
    let first_page = api.read(&page.clone().with_query("limit", "500"), Timestamp::from_second(1_800_000_000).unwrap());
    let page_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(first_page.json_body().unwrap()["items"].as_array().unwrap().len(), 500);
    let started = Instant::now();
    let everything = api.read(&page, Timestamp::from_second(1_800_000_000).unwrap());
    let bytes = serde_json::to_vec(everything.json_body().unwrap()).unwrap().len();
    let full_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("list at {LISTED} pods: store range {store_list_ms:.2} ms; API first page of 500 {page_ms:.2} ms; API full list as JSON {full_ms:.0} ms ({} MB)", bytes / 1_000_000);
    drop(api);

    // 3 and 4. Watches: memory per idle watcher, then fan-out of each write to all of them.
    const WATCHERS: usize = 10_000;
    let mut watches = Watches::default();
    let filter = || WatchFilter { resource: "pods".into(), namespace: Some("default".into()), labels: LabelSelector::parse("").unwrap(), fields: FieldSelector::parse("", &[]).unwrap() };
    let filters: Vec<WatchFilter> = (0..WATCHERS).map(|_| filter()).collect();
    let before = LIVE.load(Ordering::Relaxed);
    for f in filters {
        watches.open(f, store.revision(), None, &store).unwrap();
    }
    let per_watcher = (LIVE.load(Ordering::Relaxed) - before) as f64 / WATCHERS as f64;
    // The filters' own strings are counted: they were built before `before`
    // but moved in, so add what one filter holds on the heap.
    let filter_heap = ("pods".len() + "default".len()) as f64;
    println!("memory per idle watcher: {:.0} bytes (index and watch state {per_watcher:.0} + filter strings {filter_heap:.0})", per_watcher + filter_heap);
    let mut latencies = Vec::new();
    for (i, object) in objects.iter().take(1_000).enumerate() {
        let mut object = object.clone();
        object["metadata"]["labels"]["round"] = json!(i.to_string());
        store.update(ObjectKey::new("pods", "default", format!("web-{i:06}")), object, None).unwrap();
        let started = Instant::now();
        let delivered = watches.pump(&store);
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(delivered.len(), WATCHERS);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "watch fan-out of one write to {WATCHERS} watchers: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (1000 writes)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
}

/// Loads `objects` into `api` as a restored snapshot (fast, and no controller
/// runs) and returns the request that lists them.
fn api_with(api: &mut ApiServer, objects: &[Value]) -> ApiRequest {
    let text = serde_json::to_string(&json!({
        "format": tabernetes_core::apiserver::snapshot::FORMAT,
        "revision": objects.len(),
        "objects": objects.iter().map(|o| json!({"resource": "pods", "namespace": "default", "name": o["metadata"]["name"], "object": o})).collect::<Vec<_>>(),
    }))
    .unwrap();
    api.restore_json(&text).unwrap();
    ApiRequest::get("/api/v1/namespaces/default/pods").as_user("admin").in_groups(&["system:masters"])
}
