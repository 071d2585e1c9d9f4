use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Joins a Tabernetes playground as a node and runs its pods with wasmtime.
/// Also serves the playground: open the printed join URL in a browser.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to serve the playground and the node WebSocket on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The built playground directory (scripts/build-web.sh writes it).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Also accept pages from this origin (e.g. a documentation site embedding the playground). Repeatable.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,
    /// Node name (default: this machine's host name).
    #[arg(long)]
    name: Option<String>,
    /// Also serve the Kubernetes API of the cluster in the page (relayed over
    /// its WebSocket) and write a kubeconfig for it here.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Address to serve that Kubernetes API on (with --kubeconfig).
    #[arg(long, default_value = "127.0.0.1:6443")]
    api_listen: SocketAddr,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Run the control plane here, without a page, with this machine joined as
    /// a node; serve the Kubernetes API for kubectl and client libraries.
    Standalone {
        /// Address to serve the Kubernetes API on.
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: SocketAddr,
        /// Write a kubeconfig for the admin and read-only users here.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Keep the cluster in this file: restored at start, saved as it changes.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Seed for UIDs and generated names (the same seed replays the same history).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let node = node_host::host_info::detect(args.name);
    let name = node.name.clone();
    if let Some(Mode::Standalone { listen, kubeconfig, state, seed }) = args.mode {
        let config = node_host::StandaloneConfig { listen, kubeconfig: kubeconfig.clone(), state, dist: args.dist, allow_origins: args.allow_origins, node, seed };
        let running = node_host::start_standalone(config).await?;
        println!("node-host {} serving the Kubernetes API on {} with this machine as node {name:?}", env!("CARGO_PKG_VERSION"), running.api.url);
        println!("Wrote {}; try:", kubeconfig.display());
        println!();
        println!("    kubectl --kubeconfig {} get nodes", kubeconfig.display());
        println!();
        tokio::signal::ctrl_c().await?;
        println!("stopping");
        running.shutdown().await;
        return Ok(());
    }
    if !args.dist.join("index.html").exists() {
        tracing::warn!("{} has no index.html: build the playground with scripts/build-web.sh", args.dist.display());
    }
    let api = args.kubeconfig.clone().map(|kubeconfig| node_host::ApiConfig { listen: args.api_listen, kubeconfig });
    let running = node_host::start(node_host::Config { listen: args.listen, dist: args.dist, allow_origins: args.allow_origins, node, token: None, api }).await?;
    println!("node-host {} serving the playground on http://{}", env!("CARGO_PKG_VERSION"), running.addr);
    println!("Open this URL to join this machine to the playground as node {name:?}:");
    println!();
    println!("    {}", running.join_url());
    println!();
    if let (Some(api), Some(kubeconfig)) = (&running.api, &args.kubeconfig) {
        println!("kubectl reaches the cluster in that page through {} (relayed over its socket):", api.url);
        println!();
        println!("    kubectl --kubeconfig {} get nodes", kubeconfig.display());
        println!();
    }
    tokio::select! {
        result = running.server => { result??; }
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    Ok(())
}
