//! The playground's frame: owns the cluster handle, the clock, saving the
//! cluster in this browser, and the selected pod; lays out the panels.

use super::{activity::Activity, clock::ClockPanel, editor::Editor, join::Join, nodes::Nodes, pod_detail::PodDetail, pods::Pods};
use crate::cluster::ClusterHandle;
use crate::node_host_link::join_url_from_fragment;
use gloo_timers::callback::Interval;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// How often the page advances the control plane's clock.
const TICK_MS: u32 = 500;
/// A changed cluster is saved at most every this many ticks (5 s), and when the page is hidden.
const SAVE_EVERY_TICKS: u32 = 10;
/// How often the in-page kubelet is scraped for metrics, as metrics-server's resolution.
const SCRAPE_MS: u32 = tabernetes_core::metrics_server::RESOLUTION.as_millis() as u32;

#[derive(Properties, PartialEq)]
pub struct AppProps {
    /// What IndexedDB held when the page loaded (`saved_state::load`).
    pub saved: Rc<Result<Option<String>, String>>,
}

#[function_component(App)]
pub fn app(props: &AppProps) -> Html {
    let base = {
        let saved = props.saved.clone();
        use_memo((), move |_| ClusterHandle::new(&saved))
    };
    let version = use_state(|| 0u64);
    let selected = use_state(|| None::<(String, String)>);

    {
        let base = (*base).clone();
        let version = version.clone();
        use_effect_with((), move |_| {
            let counter = std::rc::Rc::new(std::cell::Cell::new(0u64));
            base.on_change(Callback::from(move |_| {
                counter.set(counter.get() + 1);
                version.set(counter.get());
            }));
            let ticker = base.clone();
            let ticks = std::cell::Cell::new(0u32);
            let interval = Interval::new(TICK_MS, move || {
                ticker.tick();
                ticks.set(ticks.get() + 1);
                if ticks.get().is_multiple_of(SAVE_EVERY_TICKS) {
                    ticker.save();
                }
            });
            let scraper = base.clone();
            let scrapes = Interval::new(SCRAPE_MS, move || scraper.scrape_in_page());
            // Leaving or hiding the page saves at once (the periodic save may be seconds away).
            let saver = base.clone();
            let on_hide = Closure::<dyn Fn()>::new(move || saver.save());
            if let Some(window) = web_sys::window() {
                let _ = window.add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
            }
            // Join the node-host named in the URL (`#join=TOKEN`), as printed by node-host.
            if let Some(location) = web_sys::window().map(|w| w.location()) {
                let fragment = location.hash().unwrap_or_default();
                let host = location.host().unwrap_or_default();
                let secure = location.protocol().map(|p| p == "https:").unwrap_or(false);
                if let Some(url) = join_url_from_fragment(&fragment, &host, secure) {
                    base.join(url);
                }
            }
            move || {
                drop(interval);
                drop(scrapes);
                if let Some(window) = web_sys::window() {
                    let _ = window.remove_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
                }
            }
        });
    }
    let saved_revision = base.borrow().saved_revision;
    let notice = base.borrow().notice.clone();
    let on_reset = {
        let base = (*base).clone();
        Callback::from(move |_: MouseEvent| base.reset())
    };

    let cluster = base.with_version(*version);
    let on_select = {
        let selected = selected.clone();
        Callback::from(move |key: (String, String)| selected.set(Some(key)))
    };
    html! {
        <div class="app">
            <header class="topbar">
                <h1>{ "Tabernetes" }</h1>
                <span class="tagline">{ "a Kubernetes control plane running in this tab" }</span>
                <span id="saved" class="saved" data-revision={saved_revision.map(|r| r.to_string()).unwrap_or_default()}>
                    { if saved_revision.is_some() { "kept in this browser" } else { "" } }
                </span>
                <button id="reset" class="reset" title="Forget this cluster and start a new one" onclick={on_reset}>{ "Reset cluster" }</button>
            </header>
            if let Some(notice) = notice {
                <p id="notice" class="notice">{ notice }</p>
            }
            <main class="grid">
                <section class="column">
                    <Editor cluster={cluster.clone()} />
                    <ClockPanel cluster={cluster.clone()} />
                    <Join cluster={cluster.clone()} />
                    <Nodes cluster={cluster.clone()} />
                </section>
                <section class="column">
                    <Pods cluster={cluster.clone()} selected={(*selected).clone()} on_select={on_select} />
                    <PodDetail cluster={cluster.clone()} selected={(*selected).clone()} />
                    <Activity cluster={cluster} />
                </section>
            </main>
        </div>
    }
}
