//! Who may join this machine as a node. Any web page the learner visits can
//! open a WebSocket to localhost, so a joining page must come from an allowed
//! origin, address us by an allowed Host (against DNS rebinding), and present
//! the random token printed at start, compared in constant time.

use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// 128 bits, as hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    hex::encode(bytes)
}

#[derive(Clone, Debug)]
pub struct Guard {
    token: String,
    /// `None` when listening on all interfaces: the token is then the only gate.
    allowed_hosts: Option<Vec<String>>,
    allowed_origins: Vec<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the Host header {0:?} is not one this node-host answers to")]
    Host(String),
    #[error("origin {0:?} is not allowed to join this node (start node-host with --allow-origin to allow it)")]
    Origin(String),
    #[error("a valid join token is required")]
    Token,
}

impl Guard {
    /// Hosts and origins for `listen`, plus extra allowed origins.
    pub fn new(token: String, listen: SocketAddr, extra_origins: &[String]) -> Self {
        let port = listen.port();
        let allowed_hosts = if listen.ip().is_unspecified() {
            None
        } else {
            let mut hosts = vec![format!("{}:{port}", host_literal(listen))];
            if listen.ip().is_loopback() {
                hosts.push(format!("localhost:{port}"));
            }
            Some(hosts)
        };
        let mut allowed_origins: Vec<String> = allowed_hosts.iter().flatten().map(|h| format!("http://{h}")).collect();
        allowed_origins.extend(extra_origins.iter().map(|o| o.trim_end_matches('/').to_string()));
        Guard { token, allowed_hosts, allowed_origins }
    }

    pub fn check_host(&self, host: Option<&str>) -> Result<(), Refusal> {
        match (&self.allowed_hosts, host) {
            (None, _) => Ok(()),
            (Some(hosts), Some(h)) if hosts.iter().any(|a| a.eq_ignore_ascii_case(h)) => Ok(()),
            (_, h) => Err(Refusal::Host(h.unwrap_or("").to_string())),
        }
    }

    /// Browsers always send Origin on a WebSocket; tools that are not browsers
    /// send none and are gated by the token alone.
    pub fn check_origin(&self, origin: Option<&str>) -> Result<(), Refusal> {
        match origin {
            None => Ok(()),
            Some(o) if self.allowed_origins.iter().any(|a| a == o) => Ok(()),
            Some(o) => Err(Refusal::Origin(o.to_string())),
        }
    }

    pub fn check_token(&self, presented: Option<&str>) -> Result<(), Refusal> {
        let presented = presented.unwrap_or("").as_bytes();
        // An empty token (standalone mode has no joins) matches nothing.
        let ok: bool = !self.token.is_empty() && presented.len() == self.token.len() && bool::from(presented.ct_eq(self.token.as_bytes()));
        if ok {
            Ok(())
        } else {
            Err(Refusal::Token)
        }
    }
}

fn host_literal(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new("0123456789abcdef0123456789abcdef".into(), "127.0.0.1:8080".parse().unwrap(), &["https://docs.example".into()])
    }

    #[test]
    fn hosts() {
        let g = guard();
        assert!(g.check_host(Some("127.0.0.1:8080")).is_ok());
        assert!(g.check_host(Some("localhost:8080")).is_ok());
        assert!(g.check_host(Some("evil.example:8080")).is_err());
        assert!(g.check_host(None).is_err());
        let open = Guard::new("t".into(), "0.0.0.0:8080".parse().unwrap(), &[]);
        assert!(open.check_host(Some("192.0.2.1:8080")).is_ok());
    }

    #[test]
    fn origins_are_an_exact_allowlist() {
        let g = guard();
        for (origin, ok) in [
            (Some("http://127.0.0.1:8080"), true),
            (Some("http://localhost:8080"), true),
            (Some("https://docs.example"), true),
            (Some("https://docs.example.evil"), false),
            (Some("http://localhost:8081"), false),
            (Some("null"), false),
            (None, true),
        ] {
            assert_eq!(g.check_origin(origin).is_ok(), ok, "{origin:?}");
        }
    }

    #[test]
    fn tokens() {
        let g = guard();
        assert!(g.check_token(Some("0123456789abcdef0123456789abcdef")).is_ok());
        assert_eq!(g.check_token(Some("0123456789abcdef0123456789abcdee")), Err(Refusal::Token));
        assert_eq!(g.check_token(Some("")), Err(Refusal::Token));
        assert_eq!(g.check_token(None), Err(Refusal::Token));
        let no_joins = Guard::new(String::new(), "127.0.0.1:8080".parse().unwrap(), &[]);
        assert_eq!(no_joins.check_token(Some("")), Err(Refusal::Token));
        assert_eq!(new_token().len(), 32);
        assert_ne!(new_token(), new_token());
    }
}
