//! node-host: joins a Tabernetes playground as a node and runs its pods as
//! WebAssembly with wasmtime; it also serves the playground itself.
//!
//! The layers: `server` (HTTP, the `/node` WebSocket and its `security`
//! checks) feeds `node` (one loop owning the kubelet agent from core), which
//! starts `pods` on the wasmtime `runtime` with modules from `modules`.
//!
//! In standalone mode (`start_standalone`) node-host also runs the control
//! plane (`standalone`) and serves the Kubernetes API over HTTP (`kube_api`).

pub mod host_info;
pub mod kube_api;
pub mod kubeconfig;
pub mod modules;
pub mod node;
pub mod openapi;
pub mod pods;
pub mod protobuf;
pub mod runtime;
pub mod security;
pub mod server;
pub mod standalone;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use tabernetes_core::kubelet::node::NodeInfo;
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
}

pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    pub server: JoinHandle<std::io::Result<()>>,
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

/// Starts this machine's node loop (wasmtime, the built-in modules of
/// `dist`); its sessions are fed through the returned sender.
fn spawn_node(node: NodeInfo, dist: &std::path::Path) -> anyhow::Result<tokio::sync::mpsc::UnboundedSender<node::SessionEvent>> {
    let runtime = runtime::Runtime::new()?;
    let (reports_tx, reports_rx) = tokio::sync::mpsc::unbounded_channel();
    let pods = pods::Pods::new(runtime, modules::ModuleSource::new(dist.join("modules")), reports_tx);
    let (sessions_tx, sessions_rx) = node::channels();
    tokio::spawn(node::NodeLoop::new(node, pods).run(sessions_rx, reports_rx));
    Ok(sessions_tx)
}

/// Binds, starts the node loop and the HTTP server, and returns at once.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let token = config.token.unwrap_or_else(security::new_token);
    let guard = security::Guard::new(token.clone(), addr, &config.allow_origins);
    let sessions_tx = spawn_node(config.node, &config.dist)?;
    let app = server::router(guard, sessions_tx, config.dist);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running { addr, token, server })
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
    pub addr: SocketAddr,
    /// The API's URL, as written in the kubeconfig.
    pub url: String,
    pub credentials: Vec<kube_api::Credential>,
    /// The CA that signed the API's serving certificate.
    pub ca_pem: String,
    pub server: JoinHandle<std::io::Result<()>>,
    /// Ends when the control plane has stopped and saved its state.
    pub cluster: JoinHandle<()>,
    handle: axum_server::Handle<SocketAddr>,
}

impl StandaloneRunning {
    /// Stops serving (open connections too, so no watch keeps the control
    /// plane alive) and lets the control plane save its state.
    pub async fn shutdown(self) {
        self.handle.shutdown();
        let _ = self.server.await;
        let _ = self.cluster.await;
    }
}

/// Runs the control plane here, joins this machine to it as a node, serves
/// the Kubernetes API on `listen` and writes a kubeconfig for it.
pub async fn start_standalone(config: StandaloneConfig) -> anyhow::Result<StandaloneRunning> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let sessions_tx = spawn_node(config.node, &config.dist)?;
    let (calls, calls_rx) = tokio::sync::mpsc::unbounded_channel();
    let cluster = standalone::ClusterLoop::new(config.seed, config.state, sessions_tx)?;
    let cluster = tokio::spawn(cluster.run(calls_rx));
    let credentials = kube_api::default_credentials();
    let url = format!("https://{}", client_host(addr));
    let identity = tls::generate(addr.ip())?;
    kubeconfig::write(&config.kubeconfig, &url, &identity.ca_pem, &credentials)?;
    // The API has bearer tokens; the page mode's join token has no use here,
    // and an empty one matches nothing.
    let guard = std::sync::Arc::new(security::Guard::new(String::new(), addr, &config.allow_origins));
    let api = kube_api::KubeApi { calls, credentials: std::sync::Arc::new(credentials.clone()), guard: guard.clone() };
    let app = server::api_router(guard, api, config.dist);
    let tls = tls::rustls_config(&identity).await?;
    let listener = listener.into_std()?;
    let handle = axum_server::Handle::new();
    let serving = handle.clone();
    let server = tokio::spawn(async move { axum_server::from_tcp_rustls(listener, tls)?.handle(serving).serve(app.into_make_service()).await });
    Ok(StandaloneRunning { addr, url, credentials, ca_pem: identity.ca_pem, server, cluster, handle })
}
