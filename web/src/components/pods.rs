//! The pods table, with `kubectl get pods -o wide`'s columns.

use super::{age, str_at};
use crate::cluster::ClusterHandle;
use serde_json::Value;
use tabernetes_core::apiserver::resources::PODS;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
    pub selected: Option<(String, String)>,
    pub on_select: Callback<(String, String)>,
}

/// What `kubectl get pods` shows in STATUS: a waiting or terminated reason if any, else the phase.
pub fn display_status(pod: &Value) -> String {
    for status in pod.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten() {
        if let Some(reason) = status.pointer("/state/waiting/reason").and_then(Value::as_str).filter(|r| *r != "ContainerCreating") {
            return reason.to_string();
        }
    }
    let phase = str_at(pod, "/status/phase");
    if phase.is_empty() { "Pending".into() } else { phase.to_string() }
}

#[function_component(Pods)]
pub fn pods(props: &Props) -> Html {
    let cluster = props.cluster.borrow();
    let now = cluster.clock.now();
    let rows = cluster.plane.api().store().list("pods", None).map(|(_, pod)| {
        let (ns, name) = (str_at(pod, "/metadata/namespace").to_string(), str_at(pod, "/metadata/name").to_string());
        let key = (ns.clone(), name.clone());
        let phase = str_at(pod, "/status/phase").to_string();
        let restarts: i64 = pod.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c["restartCount"].as_i64()).sum();
        let onclick = {
            let (on_select, key) = (props.on_select.clone(), key.clone());
            Callback::from(move |_| on_select.emit(key.clone()))
        };
        let on_delete = {
            let (cluster, path) = (props.cluster.clone(), PODS.path(Some(&ns), Some(&name)));
            Callback::from(move |e: MouseEvent| {
                e.stop_propagation();
                let _ = cluster.delete(&path);
            })
        };
        let selected = props.selected.as_ref() == Some(&key);
        html! {
            <tr data-pod={name.clone()} class={classes!(selected.then_some("selected"))} {onclick}>
                <td>{ &ns }</td>
                <td>{ &name }</td>
                <td><span class={classes!("phase", format!("phase-{phase}"))}>{ display_status(pod) }</span></td>
                <td>{ restarts }</td>
                <td class="node">{ str_at(pod, "/spec/nodeName") }</td>
                <td>{ age(pod.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now) }</td>
                <td><button class="link-button delete" onclick={on_delete}>{ "delete" }</button></td>
            </tr>
        }
    });
    html! {
        <div class="card">
            <h2>{ "Pods" }</h2>
            <table id="pods">
                <thead><tr><th>{ "NAMESPACE" }</th><th>{ "NAME" }</th><th>{ "STATUS" }</th><th>{ "RESTARTS" }</th><th>{ "NODE" }</th><th>{ "AGE" }</th><th></th></tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
        </div>
    }
}
