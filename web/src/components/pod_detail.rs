//! One pod up close: where it ran, its containers, its logs, why the
//! scheduler put it where it did, and every step it took through the
//! control plane.

use super::str_at;
use crate::cluster::ClusterHandle;
use serde_json::Value;
use tabernetes_core::apiserver::resources::PODS;
use tabernetes_core::apiserver::{ApiRequest, Body};
use tabernetes_core::scheduler::Outcome;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
    pub selected: Option<(String, String)>,
}

fn container_state(status: &Value) -> String {
    if let Some(w) = status.pointer("/state/waiting") {
        format!("Waiting: {} {}", str_at(w, "/reason"), str_at(w, "/message"))
    } else if status.pointer("/state/running").is_some() {
        "Running".into()
    } else if let Some(t) = status.pointer("/state/terminated") {
        format!("Terminated: {} (exit code {}) {}", str_at(t, "/reason"), t["exitCode"], str_at(t, "/message"))
    } else {
        "-".into()
    }
}

#[function_component(PodDetail)]
pub fn pod_detail(props: &Props) -> Html {
    let Some((ns, name)) = props.selected.clone() else {
        return html! { <div class="card"><h2>{ "Pod" }</h2><p class="hint">{ "Select a pod to see its logs and its path through the control plane." }</p></div> };
    };
    let cluster = props.cluster.borrow();
    let key = tabernetes_core::store::ObjectKey::new("pods", ns.as_str(), name.as_str());
    let Some(pod) = cluster.plane.api().store().get(&key).cloned() else {
        return html! { <div class="card"><h2>{ format!("Pod {ns}/{name}") }</h2><p class="hint">{ "This pod no longer exists." }</p></div> };
    };
    // Logs go through the API server, as `kubectl logs` does.
    let logs: Vec<(String, String)> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name_of = str_at(c, "/name").to_string();
            let request = ApiRequest::get(format!("{}/log", PODS.path(Some(&ns), Some(&name)))).with_query("container", &name_of);
            let text = match cluster.plane.read(&request, cluster.clock.now()).body {
                Body::Text(t) => t,
                Body::Json(v) => v["message"].as_str().unwrap_or("").to_string(),
            };
            (name_of, text)
        })
        .collect();
    let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let decision = cluster.plane.scheduler().decision(&ns, &name).cloned();
    let object = format!("Pod {ns}/{name}");
    let steps: Vec<_> = cluster.plane.trace().about(&object).cloned().collect();
    html! {
        <div class="card" id="pod-detail" data-pod={name.clone()}>
            <h2>{ format!("Pod {ns}/{name}") }</h2>
            <dl class="facts">
                <dt>{ "Phase" }</dt><dd id="pod-phase">{ str_at(&pod, "/status/phase") }</dd>
                <dt>{ "Node" }</dt><dd id="pod-node">{ str_at(&pod, "/spec/nodeName") }</dd>
                <dt>{ "UID" }</dt><dd><code>{ str_at(&pod, "/metadata/uid") }</code></dd>
            </dl>
            <h3>{ "Containers" }</h3>
            <ul>{ for statuses.iter().map(|s| html! { <li><b>{ str_at(s, "/name") }</b>{ ": " }{ container_state(s) }</li> }) }</ul>
            <h3>{ "Logs" }</h3>
            { for logs.iter().map(|(c, text)| html! { <><div class="log-title">{ c }</div><pre class="logs" id={format!("logs-{c}")}>{ text }</pre></> }) }
            {
                match decision {
                    Some(d) => html! {
                        <>
                            <h3>{ "Scheduling" }</h3>
                            <p>{ match &d.outcome { Outcome::Bound { node } => format!("Bound to {node}"), Outcome::Unschedulable { message } => message.clone() } }</p>
                            <table class="verdicts">
                                <thead><tr><th>{ "node" }</th><th>{ "filter" }</th><th>{ "score" }</th></tr></thead>
                                <tbody>{ for d.nodes.iter().map(|v| html! {
                                    <tr>
                                        <td>{ d.node_name(v).to_string() }</td>
                                        <td>{ match &v.rejection { Some(r) => format!("{}: {}", r.plugin, r.reasons.join(", ")), None => "passed".into() } }</td>
                                        <td>{ if v.rejection.is_none() { d.scores_of(v).map(|(p, s)| format!("{p} {s}")).collect::<Vec<_>>().join(", ") } else { "-".into() } }</td>
                                    </tr>
                                }) }</tbody>
                            </table>
                        </>
                    },
                    None => html! {},
                }
            }
            <h3>{ "Path through the control plane" }</h3>
            <ol class="steps" id="pod-steps">{ for steps.iter().map(|s| html! { <li><span class={classes!("component", s.component.label())}>{ s.component.label() }</span>{ " " }{ &s.text }</li> }) }</ol>
        </div>
    }
}
