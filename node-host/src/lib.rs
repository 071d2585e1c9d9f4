//! node-host: joins a Tabernetes playground as a node and runs its pods as
//! WebAssembly with wasmtime; it also serves the playground itself.
//!
//! The layers: `server` (HTTP, the `/node` WebSocket and its `security`
//! checks) feeds `node` (one loop owning the kubelet agent from core), which
//! starts `pods` on the wasmtime `runtime` with modules from `modules`.
//!
//! Both modes can serve the Kubernetes API over HTTPS (`kube_api`) for the
//! real kubectl. In browser mode the node loop relays it to the control
//! plane in the page (`relay`); in standalone mode (`start_standalone`)
//! node-host runs the control plane itself (`standalone`).

pub mod host_info;
pub mod kube_api;
pub mod kubeconfig;
pub mod modules;
pub mod node;
pub mod openapi;
pub mod pods;
pub mod protobuf;
pub mod relay;
pub mod runtime;
pub mod security;
pub mod server;
pub mod standalone;
pub mod tls;
pub mod usage_meter;

use std::net::SocketAddr;
use std::path::PathBuf;
use tabernetes_core::kubelet::node::NodeInfo;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The built playground (Trunk's `dist/`); built-in modules are in its `modules/`.
    pub dist: PathBuf,
    pub allow_origins: Vec<String>,
    pub node: NodeInfo,
    /// A fixed token instead of a random one (for tests).
    pub token: Option<String>,
    /// Also serve the Kubernetes API, relayed to the page's control plane.
    pub api: Option<ApiConfig>,
}

/// Where to serve the Kubernetes API, and where to write its kubeconfig.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub kubeconfig: PathBuf,
}

pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    pub server: JoinHandle<std::io::Result<()>>,
    /// The relayed Kubernetes API, when asked for.
    pub api: Option<ApiServing>,
}

/// The Kubernetes API being served over HTTPS (its credentials and CA are in the kubeconfig).
pub struct ApiServing {
    /// The API's URL, as written in the kubeconfig.
    pub url: String,
    pub server: JoinHandle<std::io::Result<()>>,
    handle: axum_server::Handle<SocketAddr>,
}

impl ApiServing {
    /// Stops serving, open connections (watches) included.
    pub async fn shutdown(self) {
        self.handle.shutdown();
        let _ = self.server.await;
    }
}

/// Serves the Kubernetes API on `config.listen` over TLS with a new CA,
/// sending each authenticated call to `calls`, and writes a kubeconfig.
async fn serve_kube_api(config: &ApiConfig, calls: UnboundedSender<kube_api::ApiCall>, dist: PathBuf, allow_origins: &[String]) -> anyhow::Result<ApiServing> {
    let listener = std::net::TcpListener::bind(config.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let credentials = kube_api::default_credentials();
    let url = format!("https://{}", client_host(addr));
    let identity = tls::generate(addr.ip())?;
    kubeconfig::write(&config.kubeconfig, &url, &identity.ca_pem, &credentials)?;
    // The API has bearer tokens; the page's join token has no use here, and an empty one matches nothing.
    let guard = std::sync::Arc::new(security::Guard::new(String::new(), addr, allow_origins));
    let api = kube_api::KubeApi { calls, credentials: std::sync::Arc::new(credentials), guard: guard.clone() };
    let app = server::api_router(guard, api, dist);
    let tls = tls::rustls_config(&identity).await?;
    let handle = axum_server::Handle::new();
    let serving = handle.clone();
    let server = tokio::spawn(async move { axum_server::from_tcp_rustls(listener, tls)?.handle(serving).serve(app.into_make_service()).await });
    Ok(ApiServing { url, server, handle })
}

impl Running {
    /// The URL a learner opens to join this machine to the playground it serves.
    pub fn join_url(&self) -> String {
        format!("http://{}/#join={}", client_host(self.addr), self.token)
    }
}

/// The `host:port` a client on this machine uses for `addr` (loopback for a wildcard).
fn client_host(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// The inputs of a running node loop.
struct NodeInputs {
    sessions: UnboundedSender<node::SessionEvent>,
    /// Kubernetes API calls to relay to the page.
    calls: UnboundedSender<kube_api::ApiCall>,
}

/// Starts this machine's node loop (wasmtime, the built-in modules of `dist`).
fn spawn_node(node: NodeInfo, dist: &std::path::Path) -> anyhow::Result<NodeInputs> {
    let runtime = runtime::Runtime::new()?;
    let (reports_tx, reports_rx) = tokio::sync::mpsc::unbounded_channel();
    let pods = pods::Pods::new(runtime, modules::ModuleSource::new(dist.join("modules")), reports_tx);
    let (sessions, sessions_rx) = node::channels();
    let (calls, calls_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(node::NodeLoop::new(node, pods).run(sessions_rx, reports_rx, calls_rx));
    Ok(NodeInputs { sessions, calls })
}

/// Binds, starts the node loop and the HTTP server (and the relayed
/// Kubernetes API when configured), and returns at once.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let token = config.token.unwrap_or_else(security::new_token);
    let guard = security::Guard::new(token.clone(), addr, &config.allow_origins);
    let inputs = spawn_node(config.node, &config.dist)?;
    let api = match &config.api {
        Some(api) => Some(serve_kube_api(api, inputs.calls.clone(), config.dist.clone(), &config.allow_origins).await?),
        None => None,
    };
    let app = server::router(guard, inputs.sessions, config.dist);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running { addr, token, server, api })
}

#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    pub listen: SocketAddr,
    /// Where to write a kubeconfig for the cluster's users.
    pub kubeconfig: PathBuf,
    /// A snapshot file to restore from at start and save to as the cluster changes.
    pub state: Option<PathBuf>,
    pub dist: PathBuf,
    pub allow_origins: Vec<String>,
    pub node: NodeInfo,
    /// Seeds UIDs and generated names; the same seed replays the same history.
    pub seed: u64,
}

pub struct StandaloneRunning {
    pub api: ApiServing,
    /// Ends when the control plane has stopped and saved its state.
    pub cluster: JoinHandle<()>,
}

impl StandaloneRunning {
    /// Stops serving (open connections too, so no watch keeps the control
    /// plane alive) and lets the control plane save its state.
    pub async fn shutdown(self) {
        self.api.shutdown().await;
        let _ = self.cluster.await;
    }
}

/// Runs the control plane here, joins this machine to it as a node, serves
/// the Kubernetes API on `listen` and writes a kubeconfig for it.
pub async fn start_standalone(config: StandaloneConfig) -> anyhow::Result<StandaloneRunning> {
    let inputs = spawn_node(config.node, &config.dist)?;
    let (calls, calls_rx) = tokio::sync::mpsc::unbounded_channel();
    let cluster = standalone::ClusterLoop::new(config.seed, config.state, inputs.sessions)?;
    let api = serve_kube_api(&ApiConfig { listen: config.listen, kubeconfig: config.kubeconfig }, calls, config.dist, &config.allow_origins).await?;
    let cluster = tokio::spawn(cluster.run(calls_rx));
    Ok(StandaloneRunning { api, cluster })
}
