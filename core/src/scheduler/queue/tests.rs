use super::*;
use crate::scheduler::plugins::testing::pod_with;
use k8s_openapi::jiff::SignedDuration;
use serde_json::json;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
}

fn info(name: &str, priority: i32) -> Arc<PodInfo> {
    Arc::new(pod_with(json!({"name": name, "namespace": "default"}), json!({"priority": priority, "containers": []})))
}

fn names(queue: &mut SchedulingQueue, now: Timestamp) -> Vec<String> {
    std::iter::from_fn(|| queue.pop(now)).map(|p| p.info.name().to_string()).collect()
}

#[test]
fn higher_priority_first_then_oldest() {
    let mut q = SchedulingQueue::default();
    q.add(info("late-low", 0), at(2));
    q.add(info("early-low", 0), at(1));
    q.add(info("high", 100), at(3));
    q.add(info("same-time", 0), at(1));
    assert_eq!(names(&mut q, at(10)), ["high", "early-low", "same-time", "late-low"]);
}

#[test]
fn errors_back_off_one_second_doubling_on_the_virtual_clock() {
    let mut q = SchedulingQueue::default();
    q.add(info("p", 0), at(0));
    let first = q.pop(at(0)).unwrap();
    assert_eq!(first.attempts, 1);
    q.add_unschedulable(first, BTreeSet::new(), true, at(0));
    assert_eq!(q.next_wake(), Some(at(1000)));
    assert!(q.pop(at(999)).is_none(), "an error's back-off is never cut short");
    let second = q.pop(at(1000)).unwrap();
    q.add_unschedulable(second, BTreeSet::new(), true, at(1000));
    assert_eq!(q.next_wake(), Some(at(3000)), "2 s after the second attempt");
    assert!(q.pop(at(2999)).is_none());
    assert_eq!(q.pop(at(3000)).unwrap().attempts, 3);
}

#[test]
fn rejected_pods_wait_for_an_event_and_back_off_unless_the_scheduler_is_idle() {
    let framework = crate::scheduler::plugins::default_framework();
    let node = crate::scheduler::plugins::testing::node(json!({"status": {"allocatable": {"cpu": "1"}}}));
    let event = ClusterEvent::NodeAdded(&node);
    for pop_from_backoff in [false, true] {
        let mut q = SchedulingQueue::new(QueueConfig { pop_from_backoff, ..Default::default() });
        q.add(info("p", 0), at(0));
        let p = q.pop(at(0)).unwrap();
        q.add_unschedulable(p, ["NodeResourcesFit"].into(), false, at(0));
        assert!(q.pop(at(5000)).is_none(), "no event: it stays unschedulable");
        assert_eq!(q.on_event(&framework, &event, at(200)), 1);
        assert_eq!(q.lengths(), QueueLengths { active: 0, backoff: 1, unschedulable: 0 });
        assert_eq!(q.next_wake(), Some(at(1000)));
        assert_eq!(q.pop(at(200)).is_some(), pop_from_backoff, "pop_from_backoff={pop_from_backoff}");
    }
}

#[test]
fn unschedulable_pods_are_retried_after_five_minutes() {
    let mut q = SchedulingQueue::default();
    q.add(info("p", 0), at(0));
    let p = q.pop(at(0)).unwrap();
    q.add_unschedulable(p, ["TaintToleration"].into(), false, at(0));
    let five_minutes = SignedDuration::from_mins(5).as_millis() as i64;
    assert_eq!(q.next_wake(), Some(at(five_minutes + 1)));
    q.flush_unschedulable_leftover(at(five_minutes));
    assert_eq!(q.lengths().unschedulable, 1);
    q.flush_unschedulable_leftover(at(five_minutes + 1));
    assert_eq!(q.lengths().active, 1);
}
