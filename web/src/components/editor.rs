//! Paste or edit a manifest and apply it. Invalid YAML is reported with its
//! line and column, and nothing changes.

use crate::cluster::ClusterHandle;
use crate::samples::SAMPLES;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
}

#[function_component(Editor)]
pub fn editor(props: &Props) -> Html {
    let text = use_state(|| SAMPLES[0].yaml.to_string());
    let outcome = use_state(|| None::<Result<Vec<String>, String>>);
    let on_input = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| text.set(e.target_unchecked_into::<HtmlTextAreaElement>().value()))
    };
    let on_apply = {
        let (text, outcome, cluster) = (text.clone(), outcome.clone(), props.cluster.clone());
        Callback::from(move |_| outcome.set(Some(cluster.apply(&text))))
    };
    let samples = SAMPLES.iter().enumerate().map(|(i, sample)| {
        let (text, outcome) = (text.clone(), outcome.clone());
        let onclick = Callback::from(move |_| {
            text.set(sample.yaml.to_string());
            outcome.set(None);
        });
        html! { <button class="secondary" id={format!("sample-{i}")} {onclick}>{ sample.label }</button> }
    });
    html! {
        <div class="card">
            <h2>{ "Apply a manifest" }</h2>
            <div class="samples">{ for samples }</div>
            <textarea id="manifest" spellcheck="false" rows="18" value={(*text).clone()} oninput={on_input} />
            <div class="actions">
                <button id="apply" onclick={on_apply}>{ "Apply" }</button>
            </div>
            {
                match &*outcome {
                    Some(Ok(created)) => html! { <div id="apply-result" class="ok">{ created.join(", ") }</div> },
                    Some(Err(message)) => html! { <div id="apply-error" class="error">{ message }</div> },
                    None => html! {},
                }
            }
        </div>
    }
}
