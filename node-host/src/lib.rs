//! node-host: joins a Tabernetes playground as a node and runs its pods as
//! WebAssembly with wasmtime; it also serves the playground itself.
//!
//! The layers: `server` (HTTP, the `/node` WebSocket and its `security`
//! checks) feeds `node` (one loop owning the kubelet agent from core), which
//! starts `pods` on the wasmtime `runtime` with modules from `modules`.

pub mod host_info;
pub mod modules;
pub mod node;
pub mod pods;
pub mod runtime;
pub mod security;
pub mod server;

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
        let host = if self.addr.ip().is_unspecified() { format!("127.0.0.1:{}", self.addr.port()) } else { self.addr.to_string() };
        format!("http://{host}/#join={}", self.token)
    }
}

/// Binds, starts the node loop and the HTTP server, and returns at once.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let token = config.token.unwrap_or_else(security::new_token);
    let guard = security::Guard::new(token.clone(), addr, &config.allow_origins);
    let runtime = runtime::Runtime::new()?;
    let (reports_tx, reports_rx) = tokio::sync::mpsc::unbounded_channel();
    let pods = pods::Pods::new(runtime, modules::ModuleSource::new(config.dist.join("modules")), reports_tx);
    let (sessions_tx, sessions_rx) = node::channels();
    tokio::spawn(node::NodeLoop::new(config.node, pods).run(sessions_rx, reports_rx));
    let app = server::router(guard, sessions_tx, config.dist);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running { addr, token, server })
}
