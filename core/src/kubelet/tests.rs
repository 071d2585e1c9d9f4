use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}

fn pod(uid: &str, restart_policy: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": uid},
        "spec": {"nodeName": "n1", "restartPolicy": restart_policy, "containers": [{
            "name": "c", "image": image, "args": ["a", "b"], "env": [{"name": "GREETING", "value": "hi"}],
            "resources": {"limits": {"memory": "64Mi"}}
        }]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}
    }))
    .unwrap()
}

fn statuses(out: &[KubeletOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            KubeletOutput::Status { status, .. } => status.phase.clone(),
            _ => None,
        })
        .collect()
}

fn started(uid: &str) -> RuntimeEvent {
    RuntimeEvent::Started { pod_uid: uid.into(), container: "c".into(), image_id: "sha256:abc".into() }
}

fn exited(uid: &str, code: i32) -> RuntimeEvent {
    RuntimeEvent::Exited { pod_uid: uid.into(), container: "c".into(), exit_code: code, message: None }
}

#[test]
fn a_new_pod_is_started_once_with_its_spec() {
    let mut kubelet = Kubelet::default();
    let out = kubelet.sync_pod(pod("u1", "Never", "hello"), at(0));
    let launch = match &out[0] {
        KubeletOutput::Runtime(RuntimeCommand::Start(l)) => l.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(launch.argv, vec!["hello", "a", "b"]);
    assert_eq!(launch.env, vec![("HOSTNAME".to_string(), "p".to_string()), ("GREETING".to_string(), "hi".to_string())]);
    assert_eq!(launch.memory_limit_bytes, Some(64 << 20));
    assert_eq!(statuses(&out), vec!["Pending"]);
    // Seen again (relist, reconnect, a status write echoed back): never started twice.
    let again = kubelet.sync_pod(pod("u1", "Never", "hello"), at(1));
    assert!(again.iter().all(|o| !matches!(o, KubeletOutput::Runtime(_))), "{again:?}");
}

#[test]
fn pending_running_succeeded() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Never", "hello"), at(0));
    assert_eq!(statuses(&kubelet.runtime_event(started("u1"), at(1))), vec!["Running"]);
    let out = kubelet.runtime_event(exited("u1", 0), at(2));
    assert_eq!(statuses(&out), vec!["Succeeded"]);
    let KubeletOutput::Status { status, .. } = &out[0] else { panic!() };
    let terminated = status.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!((terminated.exit_code, terminated.reason.as_deref()), (0, Some("Completed")));
    let conditions: Vec<&str> = status.conditions.as_ref().unwrap().iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(conditions, vec!["PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"]);
}

#[test]
fn a_failing_container_fails_the_pod_under_never() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Never", "hello"), at(0));
    kubelet.runtime_event(started("u1"), at(1));
    assert_eq!(statuses(&kubelet.runtime_event(exited("u1", 3), at(2))), vec!["Failed"]);
    assert_eq!(kubelet.next_wake(), None);
}

#[test]
fn always_restarts_with_exponential_back_off() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Always", "hello"), at(0));
    kubelet.runtime_event(started("u1"), at(1));
    let out = kubelet.runtime_event(exited("u1", 0), at(2));
    assert_eq!(statuses(&out), vec!["Running"]);
    assert_eq!(kubelet.next_wake(), Some(at(12)));
    assert!(kubelet.tick(at(11)).is_empty());
    let restart = kubelet.tick(at(12));
    assert!(matches!(restart[0], KubeletOutput::Runtime(RuntimeCommand::Start(_))));
    let KubeletOutput::Status { status, .. } = &restart[1] else { panic!() };
    assert_eq!(status.container_statuses.as_ref().unwrap()[0].restart_count, 1);
    kubelet.runtime_event(started("u1"), at(13));
    kubelet.runtime_event(exited("u1", 1), at(14));
    assert_eq!(kubelet.next_wake(), Some(at(34)), "the second back-off is 20 s");
}

#[test]
fn an_unknown_image_waits_with_err_image_pull_and_retries() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Never", "nope"), at(0));
    let out = kubelet.runtime_event(RuntimeEvent::PullFailed { pod_uid: "u1".into(), container: "c".into(), message: "image \"nope\" not found".into() }, at(1));
    let KubeletOutput::Status { status, .. } = &out[0] else { panic!() };
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let waiting = status.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().waiting.clone().unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ErrImagePull"));
    assert_eq!(waiting.message.as_deref(), Some("image \"nope\" not found"));
    assert!(matches!(kubelet.tick(at(11))[0], KubeletOutput::Runtime(RuntimeCommand::Start(_))));
}

#[test]
fn deleting_or_forgetting_a_pod_stops_it() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Never", "hello"), at(0));
    kubelet.sync_pod(pod("u2", "Never", "hello"), at(0));
    assert_eq!(kubelet.remove_pod("u1"), vec![KubeletOutput::Runtime(RuntimeCommand::StopPod { pod_uid: "u1".into() })]);
    assert!(kubelet.remove_pod("u1").is_empty());
    let out = kubelet.retain_only(&std::collections::BTreeSet::new());
    assert_eq!(out, vec![KubeletOutput::Runtime(RuntimeCommand::StopPod { pod_uid: "u2".into() })]);
    // Events for a pod that is gone are ignored.
    assert!(kubelet.runtime_event(started("u1"), at(1)).is_empty());
}

/// The pod as the API server leaves it after a graceful DELETE: marked, not gone.
fn deleting(mut pod: Pod, grace: i64, at_: Timestamp) -> Pod {
    pod.metadata.deletion_timestamp = Some(Time(at_ + SignedDuration::from_secs(grace)));
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    pod
}

fn runtime_commands(out: &[KubeletOutput]) -> Vec<RuntimeCommand> {
    out.iter()
        .filter_map(|o| match o {
            KubeletOutput::Runtime(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn deletes(out: &[KubeletOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            KubeletOutput::Delete { uid, .. } => Some(uid.clone()),
            _ => None,
        })
        .collect()
}

fn last_status(out: &[KubeletOutput]) -> PodStatus {
    out.iter()
        .rev()
        .find_map(|o| match o {
            KubeletOutput::Status { status, .. } => Some(status.clone()),
            _ => None,
        })
        .expect("a status was written")
}

fn condition(status: &PodStatus, type_: &str) -> (String, Option<Time>) {
    let c = status.conditions.as_ref().unwrap().iter().find(|c| c.type_ == type_).unwrap();
    (c.status.clone(), c.last_transition_time.clone())
}

#[test]
fn a_pod_whose_containers_all_run_is_ready_since_they_started() {
    let mut kubelet = Kubelet::default();
    let out = kubelet.sync_pod(pod("u1", "Always", "hello"), at(0));
    assert_eq!(condition(&last_status(&out), "Ready").0, "False");
    let running = last_status(&kubelet.runtime_event(started("u1"), at(3)));
    for type_ in ["ContainersReady", "Ready"] {
        assert_eq!(condition(&running, type_), ("True".to_string(), Some(Time(at(3)))), "{type_}");
    }
    // The status echoed back by the watch does not move the transition time.
    let mut echoed = pod("u1", "Always", "hello");
    echoed.status = Some(running.clone());
    assert!(kubelet.sync_pod(echoed, at(9)).is_empty());
}

#[test]
fn deleting_a_running_pod_stops_it_then_deletes_it_with_its_uid() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Always", "hello"), at(0));
    kubelet.runtime_event(started("u1"), at(1));

    let out = kubelet.sync_pod(deleting(pod("u1", "Always", "hello"), 30, at(5)), at(5));
    assert_eq!(runtime_commands(&out), vec![RuntimeCommand::StopPod { pod_uid: "u1".into() }]);
    assert!(deletes(&out).is_empty(), "nothing is deleted while a container runs: {out:?}");
    assert_eq!(kubelet.next_wake(), Some(at(35)), "the grace period bounds the wait");
    // The marked pod seen again (a status echo, a relist) asks for nothing more.
    let again = kubelet.sync_pod(deleting(pod("u1", "Always", "hello"), 30, at(5)), at(6));
    assert!(runtime_commands(&again).is_empty() && deletes(&again).is_empty(), "{again:?}");

    // The runtime reports the kill: no restart under Always, a terminal
    // phase, the final status, and only then the DELETE.
    let out = kubelet.runtime_event(exited("u1", 137), at(7));
    assert!(runtime_commands(&out).is_empty(), "never restarted: {out:?}");
    let KubeletOutput::Status { status, .. } = &out[0] else { panic!("{out:?}") };
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let terminated = status.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!((terminated.exit_code, terminated.reason.as_deref()), (137, Some("Error")));
    assert_eq!(condition(status, "Ready").0, "False");
    assert_eq!(out[1], KubeletOutput::Delete { namespace: "default".into(), name: "p".into(), uid: "u1".into() });
    assert_eq!(out.len(), 2);
    assert_eq!(kubelet.next_wake(), None);

    // The watch's DELETED ends it; the pod was already stopped.
    assert!(kubelet.remove_pod("u1").is_empty());
    assert_eq!(kubelet.running_pods(), 0);
}

#[test]
fn a_container_still_running_after_the_grace_period_is_killed() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Never", "hello"), at(0));
    kubelet.runtime_event(started("u1"), at(1));
    kubelet.sync_pod(deleting(pod("u1", "Never", "hello"), 10, at(2)), at(2));
    assert!(kubelet.tick(at(11)).is_empty());

    let out = kubelet.tick(at(12));
    assert_eq!(runtime_commands(&out), vec![RuntimeCommand::StopPod { pod_uid: "u1".into() }], "the stop is forced");
    let status = last_status(&out);
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let terminated = status.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!(terminated.exit_code, 137);
    assert!(terminated.message.as_deref().unwrap().contains("10 s grace period"), "{terminated:?}");
    assert_eq!(deletes(&out), vec!["u1"]);
    // A late exit report changes nothing.
    assert!(kubelet.runtime_event(exited("u1", 0), at(13)).is_empty());
}

#[test]
fn a_shorter_grace_period_from_a_second_delete_hurries_the_kill() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Always", "hello"), at(0));
    kubelet.runtime_event(started("u1"), at(1));
    kubelet.sync_pod(deleting(pod("u1", "Always", "hello"), 30, at(2)), at(2));
    kubelet.sync_pod(deleting(pod("u1", "Always", "hello"), 1, at(4)), at(4));
    assert_eq!(kubelet.next_wake(), Some(at(5)));
}

#[test]
fn a_pod_deleted_before_it_started_is_deleted_without_waiting() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Always", "nope"), at(0));
    kubelet.runtime_event(RuntimeEvent::PullFailed { pod_uid: "u1".into(), container: "c".into(), message: "not found".into() }, at(1));
    let out = kubelet.sync_pod(deleting(pod("u1", "Always", "nope"), 30, at(2)), at(2));
    assert_eq!(runtime_commands(&out), vec![RuntimeCommand::StopPod { pod_uid: "u1".into() }]);
    let status = last_status(&out);
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let terminated = status.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().terminated.clone().unwrap();
    assert_eq!(terminated.reason.as_deref(), Some("ContainerStatusUnknown"));
    assert_eq!(deletes(&out), vec!["u1"]);
    // The image pull that was retrying never starts it.
    assert!(kubelet.tick(at(60)).is_empty());
    assert!(kubelet.runtime_event(started("u1"), at(61)).is_empty());
}

#[test]
fn a_pod_first_seen_being_deleted_is_never_started() {
    let mut kubelet = Kubelet::default();
    let out = kubelet.sync_pod(deleting(pod("u1", "Always", "hello"), 30, at(0)), at(1));
    assert!(!out.iter().any(|o| matches!(o, KubeletOutput::Runtime(RuntimeCommand::Start(_)))), "{out:?}");
    assert_eq!(deletes(&out), vec!["u1"]);
}

#[test]
fn a_failed_delete_is_retried_and_a_reconnect_sends_it_again() {
    let mut kubelet = Kubelet::default();
    kubelet.sync_pod(pod("u1", "Never", "hello"), at(0));
    kubelet.runtime_event(started("u1"), at(1));
    kubelet.sync_pod(deleting(pod("u1", "Never", "hello"), 30, at(2)), at(2));
    assert_eq!(deletes(&kubelet.runtime_event(exited("u1", 137), at(3))), vec!["u1"]);
    kubelet.delete_failed("u1", at(4));
    assert_eq!(kubelet.next_wake(), Some(at(14)));
    assert!(deletes(&kubelet.tick(at(13))).is_empty());
    assert_eq!(deletes(&kubelet.tick(at(14))), vec!["u1"]);
    kubelet.forget_reported();
    assert_eq!(deletes(&kubelet.sync_pod(deleting(pod("u1", "Never", "hello"), 30, at(2)), at(20))), vec!["u1"]);
}

#[test]
fn the_agent_deletes_a_stopped_pod_with_grace_zero_and_its_uid_after_the_stop() {
    use crate::apiserver::{ApiResponse, Method};
    use agent::{AgentOutput, NodeAgent};
    let info = node::NodeInfo { name: "n1".into(), runtime: "wasmtime".into(), cpu_millis: 1000, memory_bytes: 1 << 30, max_pods: 10, os: "linux".into(), arch: "x86_64".into(), agent_version: "test".into() };
    let mut agent = NodeAgent::new(info);
    agent.connect(at(0));
    let id_of = |out: &[AgentOutput]| match out.last() {
        Some(AgentOutput::Api { id, .. }) => *id,
        other => panic!("{other:?}"),
    };
    let register = id_of(&agent.drain());
    agent.on_response(register, ApiResponse::json(201, json!({})), at(0));
    // The list of its pods, then its lease.
    let after_register = agent.drain();
    let list = id_of(&after_register[..1]);
    agent.on_response(list, ApiResponse::json(200, json!({"metadata": {"resourceVersion": "5"}, "items": []})), at(0));
    let watch = id_of(&agent.drain());
    agent.on_watch_event(watch, &json!({"type": "ADDED", "object": pod("u1", "Always", "hello")}), at(1));
    agent.on_runtime_event(started("u1"), at(2));
    agent.drain();

    let marked = deleting(pod("u1", "Always", "hello"), 30, at(3));
    agent.on_watch_event(watch, &json!({"type": "MODIFIED", "object": marked}), at(3));
    let out = agent.drain();
    assert!(out.contains(&AgentOutput::Runtime(RuntimeCommand::StopPod { pod_uid: "u1".into() })), "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, AgentOutput::Api { request, .. } if request.method == Method::Delete)), "{out:?}");

    agent.on_runtime_event(exited("u1", 137), at(4));
    let out = agent.drain();
    let requests: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            AgentOutput::Api { request, .. } => Some(request),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2, "{out:?}");
    assert_eq!((&requests[0].method, requests[0].path.as_str()), (&Method::Put, "/api/v1/namespaces/default/pods/p/status"));
    assert_eq!((&requests[1].method, requests[1].path.as_str()), (&Method::Delete, "/api/v1/namespaces/default/pods/p"));
    assert_eq!(requests[1].body, Some(json!({"gracePeriodSeconds": 0, "preconditions": {"uid": "u1"}})));
}
