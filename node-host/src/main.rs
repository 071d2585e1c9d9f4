use clap::Parser;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    if !args.dist.join("index.html").exists() {
        tracing::warn!("{} has no index.html: build the playground with scripts/build-web.sh", args.dist.display());
    }
    let node = node_host::host_info::detect(args.name);
    let name = node.name.clone();
    let running = node_host::start(node_host::Config { listen: args.listen, dist: args.dist, allow_origins: args.allow_origins, node, token: None }).await?;
    println!("node-host {} serving the playground on http://{}", env!("CARGO_PKG_VERSION"), running.addr);
    println!("Open this URL to join this machine to the playground as node {name:?}:");
    println!();
    println!("    {}", running.join_url());
    println!();
    tokio::select! {
        result = running.server => { result??; }
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    Ok(())
}
