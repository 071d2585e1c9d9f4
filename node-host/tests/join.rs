//! node-host end to end: start it, join it with a client that speaks the
//! real protocol and runs the real control plane (as the page does), and run
//! the built `hello` module to Succeeded with its logs. Also: the joins it
//! must refuse, and a malformed message that must close only its socket.
//!
//! Needs the built sample modules: scripts/build-workloads.sh writes them to
//! dist/modules (or set TABERNETES_MODULES_DIR).

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::node_sessions::{NodeSessions, SessionId};
use tabernetes_core::protocol::{self, NodeMessage, PlaneMessage};
use tabernetes_core::{manifest, ControlPlane, Timestamp};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

fn now() -> Timestamp {
    node_host::node::now()
}

fn modules_dir() -> PathBuf {
    let dir = std::env::var_os("TABERNETES_MODULES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/modules"));
    assert!(dir.join("hello.wasm").exists(), "{} has no hello.wasm: run scripts/build-workloads.sh first", dir.display());
    dir
}

async fn start_node_host(name: &str) -> node_host::Running {
    let dist = tempfile_dir(name);
    std::fs::create_dir_all(dist.join("modules")).unwrap();
    std::fs::copy(modules_dir().join("hello.wasm"), dist.join("modules/hello.wasm")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>playground</title>").unwrap();
    let mut node = node_host::host_info::detect(Some(name.to_string()));
    node.name = name.to_string();
    node_host::start(node_host::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        dist,
        allow_origins: vec!["https://docs.example".into()],
        node,
        token: None,
        api: None,
    })
    .await
    .unwrap()
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("node-host-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(running: &node_host::Running, token: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let url = format!("ws://{}/node?token={token}", running.addr);
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected connection error: {e}"),
    }
}

/// Plays the page: the control plane in memory, with the page's own node
/// sessions, and node-host over the socket.
struct Page {
    plane: ControlPlane,
    sessions: NodeSessions,
    session: SessionId,
    socket: Socket,
}

impl Page {
    fn new(seed: u64, socket: Socket) -> Self {
        let mut sessions = NodeSessions::default();
        let session = sessions.open();
        Page { plane: ControlPlane::new(seed, now()), sessions, session, socket }
    }

    async fn send(&mut self, message: &PlaneMessage) {
        self.socket.send(Message::Text(protocol::encode(message).into())).await.unwrap();
    }

    /// Handles one message from node-host, if one arrives within `wait`.
    async fn step(&mut self, wait: Duration) -> Option<NodeMessage> {
        let frame = tokio::time::timeout(wait, self.socket.next()).await.ok()??.ok()?;
        let Message::Text(text) = frame else { return None };
        let message: NodeMessage = protocol::decode(&text).unwrap();
        for reply in self.sessions.receive(&mut self.plane, self.session, message.clone(), now()) {
            self.send(&reply).await;
        }
        self.flush_watches().await;
        Some(message)
    }

    async fn flush_watches(&mut self) {
        for (_, message) in self.sessions.deliver(&mut self.plane) {
            self.send(&message).await;
        }
    }

    fn get(&mut self, path: &str) -> Value {
        self.plane.handle(&ApiRequest::get(path), now()).into_response().json_body().cloned().unwrap_or_default()
    }

    async fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out; trace: {:#?}", self.plane.trace().steps().map(|s| &s.text).collect::<Vec<_>>());
            self.step(Duration::from_millis(200)).await;
        }
    }
}

const HELLO: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  restartPolicy: Never
  nodeSelector:
    tabernetes.io/runtime: wasmtime
  containers:
  - name: hello
    image: hello
    args: ["from", "the", "test"]
    env:
    - name: GREETING_FROM
      value: node-host-test
"#;

#[tokio::test]
async fn hello_runs_on_node_host_to_succeeded_with_its_logs() {
    let running = start_node_host("test-node").await;
    let socket = connect(&running, &running.token, Some(&format!("http://{}", running.addr))).await.expect("the join is accepted");
    let mut page = Page::new(1, socket);

    // The node registers itself with this machine's real capacity.
    page.run_until(Duration::from_secs(10), |p| p.get("/api/v1/nodes/test-node")["kind"] == "Node").await;
    let node = page.get("/api/v1/nodes/test-node");
    assert_eq!(node["metadata"]["labels"]["tabernetes.io/runtime"], "wasmtime");
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(node["status"]["capacity"]["cpu"], format!("{}m", cpus * 1000));
    assert_eq!(node["status"]["conditions"][0]["status"], "True");

    let docs = manifest::parse_documents(HELLO).unwrap();
    page.plane.create_all(&docs, "admin", now()).unwrap();
    page.flush_watches().await;
    page.run_until(Duration::from_secs(30), |p| {
        let phase = p.get("/api/v1/namespaces/default/pods/hello")["status"]["phase"].as_str().unwrap_or("").to_string();
        phase == "Succeeded" || phase == "Failed"
    })
    .await;
    let pod = page.get("/api/v1/namespaces/default/pods/hello");
    assert_eq!(pod["status"]["phase"], "Succeeded", "{pod:#}");
    assert_eq!(pod["spec"]["nodeName"], "test-node");
    let terminated = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 0);
    assert!(pod["status"]["containerStatuses"][0]["imageID"].as_str().unwrap().starts_with("sha256:"));

    // Logs travel separately from status; wait for them too.
    let log_path = "/api/v1/namespaces/default/pods/hello/log";
    let read_log = |p: &mut Page| match p.plane.handle(&ApiRequest::get(log_path), now()).into_response().body {
        tabernetes_core::apiserver::Body::Text(t) => t,
        other => panic!("{other:?}"),
    };
    page.run_until(Duration::from_secs(5), |p| read_log(p).contains("GREETING_FROM=node-host-test")).await;
    let log = read_log(&mut page);
    assert!(log.contains("Hello from Tabernetes"), "{log}");
    assert!(log.contains("from") && log.contains("test"), "{log}");
}

#[tokio::test]
async fn an_unknown_image_waits_with_err_image_pull() {
    let running = start_node_host("pull-node").await;
    let socket = connect(&running, &running.token, None).await.unwrap();
    let mut page = Page::new(2, socket);
    page.run_until(Duration::from_secs(10), |p| p.get("/api/v1/nodes/pull-node")["kind"] == "Node").await;
    let docs = manifest::parse_documents(&HELLO.replace("image: hello", "image: no-such-module")).unwrap();
    page.plane.create_all(&docs, "admin", now()).unwrap();
    page.flush_watches().await;
    page.run_until(Duration::from_secs(10), |p| {
        p.get("/api/v1/namespaces/default/pods/hello")["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImagePull"
    })
    .await;
    let pod = page.get("/api/v1/namespaces/default/pods/hello");
    assert_eq!(pod["status"]["phase"], "Pending");
    let message = pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("no-such-module") && message.contains("not found"), "{message}");
}

#[tokio::test]
async fn joins_without_the_token_or_from_other_origins_are_refused() {
    let running = start_node_host("guarded-node").await;
    let own_origin = format!("http://{}", running.addr);
    assert_eq!(connect(&running, "wrong", Some(&own_origin)).await.err(), Some(401));
    assert_eq!(connect(&running, "", None).await.err(), Some(401));
    // The real token with its last digit changed (never equal to it).
    let (head, last) = running.token.split_at(running.token.len() - 1);
    let almost = format!("{head}{}", if last == "0" { "1" } else { "0" });
    assert_eq!(connect(&running, &almost, None).await.err(), Some(401));
    assert_eq!(connect(&running, &running.token, Some("https://evil.example")).await.err(), Some(403));
    assert!(connect(&running, &running.token, Some("https://docs.example")).await.is_ok());

    // A Host header naming another site (DNS rebinding) is refused, for pages and sockets alike.
    let mut stream = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 421"), "{response}");
}

#[tokio::test]
async fn a_malformed_message_closes_that_socket_only() {
    let running = start_node_host("robust-node").await;
    let mut bad = connect(&running, &running.token, None).await.unwrap();
    let _hello = bad.next().await;
    bad.send(Message::Text("{not json".into())).await.unwrap();
    let mut close_code = None;
    while let Some(Ok(frame)) = bad.next().await {
        if let Message::Close(Some(frame)) = frame {
            close_code = Some(frame.code);
        }
    }
    assert_eq!(close_code, Some(CloseCode::Invalid));

    // The process is unharmed: the playground is still served and a new page can join.
    let mut stream = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", running.addr).as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.contains("playground"), "{response}");
    let mut good = connect(&running, &running.token, None).await.unwrap();
    let hello = good.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"type\":\"hello\""));
}
