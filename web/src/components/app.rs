//! The playground's frame: owns the cluster handle, the clock, and the
//! selected pod; lays out the panels.

use super::{activity::Activity, editor::Editor, join::Join, nodes::Nodes, pod_detail::PodDetail, pods::Pods};
use crate::cluster::ClusterHandle;
use crate::node_host_link::join_url_from_fragment;
use gloo_timers::callback::Interval;
use yew::prelude::*;

/// How often the page advances the control plane's clock.
const TICK_MS: u32 = 500;

#[function_component(App)]
pub fn app() -> Html {
    let base = use_memo((), |_| ClusterHandle::new());
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
            let interval = Interval::new(TICK_MS, move || ticker.tick());
            // Join the node-host named in the URL (`#join=TOKEN`), as printed by node-host.
            if let Some(location) = web_sys::window().map(|w| w.location()) {
                let fragment = location.hash().unwrap_or_default();
                let host = location.host().unwrap_or_default();
                let secure = location.protocol().map(|p| p == "https:").unwrap_or(false);
                if let Some(url) = join_url_from_fragment(&fragment, &host, secure) {
                    base.join(url);
                }
            }
            move || drop(interval)
        });
    }

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
            </header>
            <main class="grid">
                <section class="column">
                    <Editor cluster={cluster.clone()} />
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
