//! The nodes table, as `kubectl get nodes` shows it, plus capacity.

use super::{age, str_at};
use crate::cluster::ClusterHandle;
use serde_json::Value;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
}

fn ready(node: &Value) -> String {
    let status = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"].as_str().unwrap_or("Unknown"))
        .unwrap_or("Unknown");
    let mut text = match status {
        "True" => "Ready".to_string(),
        _ => "NotReady".to_string(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        text.push_str(",SchedulingDisabled");
    }
    text
}

#[function_component(Nodes)]
pub fn nodes(props: &Props) -> Html {
    let cluster = props.cluster.borrow();
    let store = cluster.plane.api().store();
    let now = cluster.clock.now();
    let pods_on = |name: &str| store.list("pods", None).filter(|(_, p)| str_at(p, "/spec/nodeName") == name).count();
    let rows = store.list("nodes", None).map(|(_, node)| {
        let name = str_at(node, "/metadata/name").to_string();
        let status = ready(node);
        html! {
            <tr data-node={name.clone()}>
                <td>{ &name }</td>
                <td class={classes!("status", if status == "Ready" { "ok" } else { "bad" })}>{ status }</td>
                <td>{ str_at(node, "/metadata/labels/tabernetes.io~1runtime") }</td>
                <td>{ str_at(node, "/status/capacity/cpu") }</td>
                <td>{ str_at(node, "/status/capacity/memory") }</td>
                <td>{ pods_on(&name) }</td>
                <td>{ age(node.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now) }</td>
            </tr>
        }
    });
    html! {
        <div class="card">
            <h2>{ "Nodes" }</h2>
            <table id="nodes">
                <thead><tr><th>{ "NAME" }</th><th>{ "STATUS" }</th><th>{ "RUNTIME" }</th><th>{ "CPU" }</th><th>{ "MEMORY" }</th><th>{ "PODS" }</th><th>{ "AGE" }</th></tr></thead>
                <tbody>{ for rows }</tbody>
            </table>
        </div>
    }
}
