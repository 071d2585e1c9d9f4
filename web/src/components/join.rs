//! node-hosts joined to this page, and a way to join one by URL.

use crate::cluster::{ClusterHandle, LinkStatus};
use crate::node_host_link::join_url_from_fragment;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
}

#[function_component(Join)]
pub fn join(props: &Props) -> Html {
    let input = use_state(String::new);
    let on_input = {
        let input = input.clone();
        Callback::from(move |e: InputEvent| input.set(e.target_unchecked_into::<HtmlInputElement>().value()))
    };
    let on_join = {
        let (input, cluster) = (input.clone(), props.cluster.clone());
        Callback::from(move |_| {
            // Accept the join URL node-host printed, or a ws:// URL.
            let text = input.trim().to_string();
            let url = match text.split_once('#') {
                Some((page, fragment)) => {
                    let host = page.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
                    join_url_from_fragment(fragment, host, page.starts_with("https://"))
                }
                None if text.starts_with("ws://") || text.starts_with("wss://") => Some(text),
                None => None,
            };
            if let Some(url) = url {
                cluster.join(url);
                input.set(String::new());
            }
        })
    };
    let cluster = props.cluster.borrow();
    let links = cluster.links.values().map(|link| {
        let (class, text) = match &link.status {
            LinkStatus::Connecting => ("pending", "connecting…".to_string()),
            LinkStatus::Joined => ("ok", format!("joined as node {}", link.node.as_deref().unwrap_or("?"))),
            LinkStatus::Closed(reason) => ("closed", format!("closed: {reason}")),
        };
        let shown = link.url.split('?').next().unwrap_or("").to_string();
        html! { <li class={classes!("link", class)}><code>{ shown }</code>{ " — " }{ text }</li> }
    });
    html! {
        <div class="card" id="node-hosts">
            <h2>{ "node-host" }</h2>
            <p class="hint">{ "Run " }<code>{ "./scripts/play.sh" }</code>{ " and open the join URL it prints, or paste it here, to add this machine as a node that runs pods with wasmtime." }</p>
            <ul class="links">{ for links }</ul>
            <div class="actions">
                <input id="join-url" placeholder="http://127.0.0.1:8080/#join=…" value={(*input).clone()} oninput={on_input} />
                <button class="secondary" onclick={on_join}>{ "Join" }</button>
            </div>
        </div>
    }
}
