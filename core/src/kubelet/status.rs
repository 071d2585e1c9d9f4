//! How container states become a Pod's status: phase, conditions and
//! containerStatuses, following the kubelet's getPhase rules.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated(Terminated),
}

/// What the kubelet knows of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub image_id: Option<&'a str>,
    pub state: &'a State,
    pub last_terminated: Option<&'a Terminated>,
    pub restart_count: i32,
}

/// The pod phase from its containers (the kubelet's getPhase). `stopping`:
/// the pod is being deleted, so no container will be restarted and, once none
/// runs, how they ended decides between Succeeded and Failed whatever the
/// restart policy (as the kubelet does since Kubernetes 1.27, so that a
/// deleted pod ends in a terminal phase).
pub fn phase(containers: &[ContainerView<'_>], restart_policy: &str, stopping: bool) -> &'static str {
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match c.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            // Waiting to restart after a run counts as stopped, not as never started.
            State::Waiting { .. } if c.last_terminated.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 || containers.is_empty() {
        "Pending"
    } else if running > 0 || (restart_policy == "Always" && !stopping) {
        // Under Always, stopped containers are about to be restarted.
        "Running"
    } else if stopped == succeeded && containers.iter().all(|c| matches!(c.state, State::Terminated(_))) {
        "Succeeded"
    } else if restart_policy == "Never" || stopping {
        "Failed"
    } else {
        // OnFailure: a failed container will be restarted.
        "Running"
    }
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

fn terminated(t: &Terminated) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: t.exit_code,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        ..Default::default()
    }
}

pub fn container_status(c: &ContainerView<'_>) -> ContainerStatus {
    let state = match c.state {
        State::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..Default::default()
        },
        State::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(time(*started_at)) }),
            ..Default::default()
        },
        State::Terminated(t) => ContainerState { terminated: Some(terminated(t)), ..Default::default() },
    };
    let running = matches!(c.state, State::Running { .. });
    ContainerStatus {
        name: c.name.to_string(),
        image: c.image.to_string(),
        image_id: c.image_id.unwrap_or("").to_string(),
        container_id: c.image_id.map(|_| format!("wasm://{}/{}", c.name, c.restart_count)),
        ready: running,
        started: Some(running),
        restart_count: c.restart_count,
        state: Some(state),
        last_state: Some(ContainerState { terminated: c.last_terminated.map(terminated), ..Default::default() }),
        ..Default::default()
    }
}

/// Conditions the kubelet owns; others (PodScheduled) are kept as they are.
pub const KUBELET_CONDITIONS: &[&str] = &["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"];

/// The kubelet's conditions for a pod in `phase` whose containers are all ready or not.
pub fn conditions(phase: &str, all_ready: bool, started: bool) -> Vec<(&'static str, bool, Option<&'static str>)> {
    let completed = phase == "Succeeded" || phase == "Failed";
    let ready_reason = if completed { Some("PodCompleted") } else if all_ready { None } else { Some("ContainersNotReady") };
    vec![
        ("PodReadyToStartContainers", started && !completed, None),
        ("Initialized", true, None),
        ("ContainersReady", all_ready && !completed, ready_reason),
        ("Ready", all_ready && !completed, ready_reason),
    ]
}

/// Merges the kubelet's conditions into `existing`, keeping each condition's
/// lastTransitionTime when its status did not change.
pub fn merge_conditions(existing: &[PodCondition], ours: &[(&'static str, bool, Option<&'static str>)], now: Timestamp) -> Vec<PodCondition> {
    let mut merged: Vec<PodCondition> = existing.iter().filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str())).cloned().collect();
    for (type_, ok, reason) in ours {
        let status = if *ok { "True" } else { "False" };
        let previous = existing.iter().find(|c| c.type_ == *type_);
        let transition = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(time(now)),
        };
        merged.push(PodCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.map(String::from),
            last_transition_time: transition,
            ..Default::default()
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn done(code: i32) -> State {
        State::Terminated(Terminated { exit_code: code, reason: if code == 0 { "Completed".into() } else { "Error".into() }, message: None, started_at: Some(at(0)), finished_at: at(1) })
    }

    fn view(state: &State) -> ContainerView<'_> {
        ContainerView { name: "c", image: "hello", image_id: None, state, last_terminated: None, restart_count: 0 }
    }

    #[test]
    fn phase_table() {
        let creating = State::Waiting { reason: "ContainerCreating".into(), message: None };
        let running = State::Running { started_at: at(0) };
        let (ok, failed) = (done(0), done(1));
        let cases: Vec<(Vec<&State>, &str, &str)> = vec![
            (vec![&creating], "Never", "Pending"),
            (vec![&running], "Never", "Running"),
            (vec![&running, &creating], "Never", "Pending"),
            (vec![&ok], "Never", "Succeeded"),
            (vec![&ok, &failed], "Never", "Failed"),
            (vec![&failed], "Never", "Failed"),
            (vec![&ok], "Always", "Running"),
            (vec![&ok], "OnFailure", "Succeeded"),
            (vec![&failed], "OnFailure", "Running"),
            (vec![&ok, &running], "Never", "Running"),
        ];
        for (states, policy, want) in cases {
            let views: Vec<_> = states.iter().map(|s| view(s)).collect();
            assert_eq!(phase(&views, policy, false), want, "{states:?} {policy}");
        }
    }

    #[test]
    fn a_stopped_pod_being_deleted_is_terminal_whatever_its_restart_policy() {
        let running = State::Running { started_at: at(0) };
        let (ok, failed) = (done(0), done(137));
        let cases: Vec<(Vec<&State>, &str, &str)> = vec![
            (vec![&running], "Always", "Running"),
            (vec![&running, &failed], "Always", "Running"),
            (vec![&ok], "Always", "Succeeded"),
            (vec![&failed], "Always", "Failed"),
            (vec![&ok, &failed], "Always", "Failed"),
            (vec![&failed], "OnFailure", "Failed"),
            (vec![&ok], "Never", "Succeeded"),
        ];
        for (states, policy, want) in cases {
            let views: Vec<_> = states.iter().map(|s| view(s)).collect();
            assert_eq!(phase(&views, policy, true), want, "{states:?} {policy}");
        }
    }

    #[test]
    fn a_container_waiting_to_restart_is_not_pending() {
        let last = Terminated { exit_code: 1, reason: "Error".into(), message: None, started_at: None, finished_at: at(1) };
        let waiting = State::Waiting { reason: "CrashLoopBackOff".into(), message: None };
        let v = ContainerView { last_terminated: Some(&last), ..view(&waiting) };
        assert_eq!(phase(&[v], "Always", false), "Running");
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first = merge_conditions(&[], &conditions("Running", true, true), at(5));
        let again = merge_conditions(&first, &conditions("Running", true, true), at(9));
        assert_eq!(first, again);
        let done = merge_conditions(&again, &conditions("Succeeded", false, true), at(12));
        let ready = done.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("PodCompleted")));
        assert_eq!(ready.last_transition_time, Some(Time(at(12))));
        let initialized = done.iter().find(|c| c.type_ == "Initialized").unwrap();
        assert_eq!(initialized.last_transition_time, Some(Time(at(5))));
    }
}
