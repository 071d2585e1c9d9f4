//! Everything the control plane did, newest first.

use crate::cluster::ClusterHandle;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
}

/// Steps shown; the trace keeps more.
const SHOWN: usize = 60;

#[function_component(Activity)]
pub fn activity(props: &Props) -> Html {
    let cluster = props.cluster.borrow();
    let rows = cluster.plane.trace().steps().rev().take(SHOWN).map(|s| {
        let time = s.at.to_string();
        html! {
            <li>
                <span class="time">{ time.get(11..19).unwrap_or("") }</span>
                <span class={classes!("component", s.component.label())}>{ s.component.label() }</span>
                <span class="object">{ &s.object }</span>
                <span>{ &s.text }</span>
            </li>
        }
    });
    html! {
        <div class="card">
            <h2>{ "Control plane activity" }</h2>
            <ol class="activity" id="activity">{ for rows }</ol>
        </div>
    }
}
