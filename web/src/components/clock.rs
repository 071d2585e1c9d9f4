//! The cluster's clock: its time, and controls to pause it, step it (by a
//! fixed time or to the next thing due: a CronJob's schedule, a Job's
//! back-off, a node's lease running out) and speed it up, so a learner can
//! watch an hour of controllers in a minute, or one step at a time.

use crate::cluster::ClusterHandle;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub cluster: ClusterHandle,
}

/// The speeds offered, as virtual seconds per real second.
const SPEEDS: [(f64, &str); 4] = [(1.0, "1×"), (10.0, "10×"), (60.0, "60×"), (600.0, "600×")];
/// The fixed steps offered, in seconds.
const STEPS: [(i64, &str); 3] = [(10, "+10s"), (60, "+1m"), (600, "+10m")];

#[function_component(ClockPanel)]
pub fn clock_panel(props: &Props) -> Html {
    let cluster = props.cluster.borrow();
    let clock = &cluster.clock;
    let paused = clock.is_paused();
    let speed = clock.speed();
    let time = clock.now().strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    let instant = clock.now().to_string();
    let next = cluster.next_wake().map(|t| (t.as_second() - clock.now().as_second()).max(0));
    drop(cluster);

    let on_pause = {
        let c = props.cluster.clone();
        Callback::from(move |_: MouseEvent| c.pause(!paused))
    };
    let on_speed = {
        let c = props.cluster.clone();
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
            c.set_speed(value.parse().unwrap_or(1.0));
        })
    };
    let on_next = {
        let c = props.cluster.clone();
        Callback::from(move |_: MouseEvent| c.step_to_next_wake())
    };
    let steps = STEPS.iter().map(|(seconds, label)| {
        let c = props.cluster.clone();
        let seconds = *seconds;
        html! { <button id={format!("clock-step-{seconds}")} onclick={Callback::from(move |_: MouseEvent| c.step(seconds))}>{ *label }</button> }
    });
    let options = SPEEDS.iter().map(|(factor, label)| {
        html! { <option value={factor.to_string()} selected={(*factor - speed).abs() < f64::EPSILON}>{ *label }</option> }
    });
    html! {
        <div class="card clock">
            <h2>{ "Clock" }</h2>
            <p>
                <span id="clock-time" data-paused={paused.to_string()} data-time={instant}>{ time }</span>
                { if paused { " (paused)" } else { "" } }
            </p>
            <div class="actions">
                <button id="clock-pause" onclick={on_pause}>{ if paused { "Resume" } else { "Pause" } }</button>
                { for steps }
                <button id="clock-next" onclick={on_next} title="Jump to the next moment a controller has something to do">
                    { match next { Some(s) => format!("Next event (in {s}s)"), None => "Next event".to_string() } }
                </button>
                <select id="clock-speed" onchange={on_speed}>{ for options }</select>
            </div>
            if paused || speed != 1.0 {
                <p class="hint">{ "node-hosts keep real time: when this clock runs ahead of it (sped up or stepped), their lease renewals arrive late, and after the grace period they show NotReady, as a real node that stopped reporting would." }</p>
            }
        </div>
    }
}
