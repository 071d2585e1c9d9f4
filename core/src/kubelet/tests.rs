use super::*;
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
