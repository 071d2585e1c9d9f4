//! The page's side of a node-host connection: a browser WebSocket carrying
//! the protocol messages defined in core.

use std::rc::Rc;
use tabernetes_core::protocol::{self, NodeMessage, PlaneMessage};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

#[derive(Clone)]
pub struct Link {
    socket: Option<Rc<WebSocket>>,
}

impl Link {
    /// Opens the socket. `on_message` gets each decoded message (or why it
    /// could not be decoded); `on_closed` is called once when it closes.
    pub fn open(
        url: &str,
        on_message: impl Fn(Result<NodeMessage, String>) + 'static,
        on_closed: impl Fn(String) + 'static,
    ) -> Result<Link, String> {
        let socket = WebSocket::new(url).map_err(|e| format!("cannot open {url}: {e:?}"))?;
        let message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
            let decoded = match event.data().as_string() {
                Some(text) => protocol::decode::<NodeMessage>(&text),
                None => Err("binary messages are not part of the protocol".to_string()),
            };
            on_message(decoded);
        });
        socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
        // The socket lives as long as the page; so do its handlers.
        message.forget();
        let closed = Closure::<dyn Fn(CloseEvent)>::new(move |event: CloseEvent| {
            let reason = if event.reason().is_empty() { format!("connection closed (code {})", event.code()) } else { event.reason() };
            on_closed(reason);
        });
        socket.set_onclose(Some(closed.as_ref().unchecked_ref()));
        closed.forget();
        Ok(Link { socket: Some(Rc::new(socket)) })
    }

    /// A link that never opened (its URL was refused).
    pub fn closed() -> Link {
        Link { socket: None }
    }

    pub fn send(&self, message: &PlaneMessage) {
        if let Some(socket) = &self.socket {
            let _ = socket.send_with_str(&protocol::encode_for_node(message));
        }
    }

    pub fn close(&self, code: u16, reason: &str) {
        if let Some(socket) = &self.socket {
            let reason: String = reason.chars().take(100).collect();
            let _ = socket.close_with_code_and_reason(code, &reason);
        }
    }
}

/// Where to join, from the page URL's fragment: `#join=TOKEN` joins the
/// node-host that served this page; `#join=TOKEN&node=ws://host:port/node`
/// joins another one (a playground embedded elsewhere).
pub fn join_url_from_fragment(fragment: &str, page_host: &str, page_secure: bool) -> Option<String> {
    let params: Vec<(&str, &str)> = fragment.trim_start_matches('#').split('&').filter_map(|p| p.split_once('=')).collect();
    let token = params.iter().find(|(k, _)| *k == "join").map(|(_, v)| *v).filter(|t| !t.is_empty())?;
    let token = tabernetes_core::apiserver::request::percent_encode(&tabernetes_core::apiserver::request::percent_decode(token));
    let base = match params.iter().find(|(k, _)| *k == "node") {
        Some((_, node)) => tabernetes_core::apiserver::request::percent_decode(node),
        None => format!("{}://{page_host}/node", if page_secure { "wss" } else { "ws" }),
    };
    Some(format!("{base}?token={token}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments() {
        assert_eq!(join_url_from_fragment("#join=abc", "127.0.0.1:8080", false).as_deref(), Some("ws://127.0.0.1:8080/node?token=abc"));
        assert_eq!(
            join_url_from_fragment("#join=abc&node=ws%3A%2F%2F127.0.0.1%3A9000%2Fnode", "docs.example", true).as_deref(),
            Some("ws://127.0.0.1:9000/node?token=abc")
        );
        assert_eq!(join_url_from_fragment("#join=", "h", false), None);
        assert_eq!(join_url_from_fragment("", "h", false), None);
    }
}
