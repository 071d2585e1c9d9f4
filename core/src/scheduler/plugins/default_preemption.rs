//! DefaultPreemption (PostFilter): when no node can take a pod, find a node
//! where evicting pods of lower priority would make room, choose the
//! cheapest such node, and name the pods to evict. The scheduler then
//! marks the victims (DisruptionTarget), deletes them gracefully through
//! the API server and sets the preemptor's `status.nominatedNodeName`; the
//! preemptor is retried when the victims are gone.
//!
//! PodDisruptionBudgets are not served by Tabernetes, so no eviction is
//! ever held back by one (upstream prefers victims that violate none).

use crate::scheduler::decision::fit_error_message;
use crate::scheduler::framework::{
    Code, CycleState, Diagnosis, NodeInfo, Plugin, PodInfo, PostFilterContext, PostFilterPlugin, PostFilterResult, Status,
};
use k8s_openapi::jiff::Timestamp;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const NAME: &str = "DefaultPreemption";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Candidates to compare: at least this many nodes...
const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;
/// ...or this share of them, whichever is more.
const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;

pub struct DefaultPreemption;

/// A node where preemption would work, and the pods it would evict
/// (highest priority first).
#[derive(Debug)]
struct Candidate<'a> {
    node: &'a NodeInfo,
    victims: Vec<Arc<PodInfo>>,
}

/// `MoreImportantPod`: higher priority, then the one that started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority.cmp(&a.priority).then_with(|| start(a).cmp(&start(b)))
}

/// Pods that have not started count as starting now (latest).
fn start(pod: &PodInfo) -> Timestamp {
    pod.start_time.unwrap_or(Timestamp::MAX)
}

/// Whether the pod may preempt at all; the reason if not.
fn eligible(ctx: &PostFilterContext<'_>, pod: &PodInfo, diagnosis: &Diagnosis) -> Result<(), String> {
    if pod.never_preempts {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    if let Some(nominated) = &pod.nominated_node {
        // Once room is being made on its nominated node, wait for it,
        // unless that node can no longer take the pod at all.
        let unresolvable = diagnosis.statuses.get(nominated.as_str()).is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable);
        let making_room = ctx.snapshot.get(nominated).is_some_and(|n| n.pods.iter().any(|p| p.priority < pod.priority && p.preempted && p.terminating));
        if !unresolvable && making_room {
            return Err("not eligible due to a terminating pod on the nominated node.".into());
        }
    }
    Ok(())
}

/// `SelectVictimsOnNode`: remove every lower-priority pod; if the pod then
/// fits, add back as many as possible, most important first. What could
/// not be added back is the victim set.
fn select_victims(ctx: &PostFilterContext<'_>, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<Vec<Arc<PodInfo>>, Status> {
    let mut state = state.clone();
    let mut what_if = node.clone();
    let mut potential: Vec<Arc<PodInfo>> = node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for victim in &potential {
        what_if.remove_pod(&victim.key);
        ctx.framework.run_remove_pod(&mut state, pod, victim, &what_if, ctx.snapshot);
    }
    let active = ctx.framework.active_filters(&state);
    ctx.framework.run_filters_with_nominated(&active, &state, pod, &what_if, ctx.snapshot, ctx.nominator).map_err(|(_, status)| status)?;
    potential.sort_by(|a, b| more_important(a, b));
    let mut victims = Vec::new();
    for candidate in potential {
        what_if.add_pod(candidate.clone());
        ctx.framework.run_add_pod(&mut state, pod, &candidate, &what_if, ctx.snapshot);
        if ctx.framework.run_filters_with_nominated(&active, &state, pod, &what_if, ctx.snapshot, ctx.nominator).is_err() {
            what_if.remove_pod(&candidate.key);
            ctx.framework.run_remove_pod(&mut state, pod, &candidate, &what_if, ctx.snapshot);
            victims.push(candidate);
        }
    }
    Ok(victims)
}

/// `pickOneNodeForPreemption`: the lowest highest-priority victim, then the
/// lowest sum of priorities, then the fewest victims, then the node whose
/// most important victims started latest; then the first.
fn pick<'a>(candidates: &'a [Candidate<'a>]) -> Option<&'a Candidate<'a>> {
    let highest = |c: &Candidate| c.victims.first().map_or(i32::MIN, |v| v.priority);
    // Shifted so that every priority counts positively, as upstream does.
    let sum = |c: &Candidate| c.victims.iter().map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1).sum::<i64>();
    let earliest_of_highest = |c: &Candidate| c.victims.iter().filter(|v| v.priority == highest(c)).map(|v| start(v)).min().unwrap_or(Timestamp::MAX);
    candidates.iter().reduce(|best, c| {
        let order = highest(c)
            .cmp(&highest(best))
            .then_with(|| sum(c).cmp(&sum(best)))
            .then_with(|| c.victims.len().cmp(&best.victims.len()))
            .then_with(|| earliest_of_highest(best).cmp(&earliest_of_highest(c)));
        if order == Ordering::Less {
            c
        } else {
            best
        }
    })
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(&self, ctx: &PostFilterContext<'_>, state: &CycleState, pod: &PodInfo, diagnosis: &Diagnosis) -> Result<PostFilterResult, Status> {
        eligible(ctx, pod, diagnosis).map_err(|why| Status::unschedulable(format!("preemption: {why}")))?;
        let absent_helps = diagnosis.absent.as_ref().is_some_and(|s| s.code == Code::Unschedulable);
        let potential: Vec<&NodeInfo> = ctx
            .snapshot
            .nodes()
            .iter()
            .filter(|n| match diagnosis.statuses.get(&n.name) {
                Some(status) => status.code == Code::Unschedulable,
                None => absent_helps,
            })
            .collect();
        let wanted = (potential.len() * MIN_CANDIDATE_NODES_PERCENTAGE / 100).max(MIN_CANDIDATE_NODES_ABSOLUTE).min(potential.len());
        let mut candidates = Vec::new();
        let mut failures: BTreeMap<Arc<str>, Status> = BTreeMap::new();
        for node in potential {
            if candidates.len() >= wanted {
                break;
            }
            match select_victims(ctx, state, pod, node) {
                Ok(victims) => candidates.push(Candidate { node, victims }),
                Err(status) => drop(failures.insert(node.name.clone(), status)),
            }
        }
        let Some(best) = pick(&candidates) else {
            let not_helpful = Status::unresolvable(NOT_HELPFUL);
            let fit = Diagnosis { statuses: failures, absent: Some(not_helpful), ..Default::default() };
            return Err(Status::unschedulable(format!("preemption: {}", fit_error_message(&fit, ctx.snapshot.len()))));
        };
        let displaced = ctx.nominator.pods_on(&best.node.name).filter(|p| p.priority < pod.priority).cloned().collect();
        Ok(PostFilterResult { nominated_node: best.node.name.to_string(), victims: best.victims.clone(), displaced_nominations: displaced })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::Framework;
    use crate::scheduler::nominator::Nominator;
    use crate::scheduler::plugins::node_resources_fit::NodeResourcesFit;
    use crate::scheduler::plugins::testing::{pod_with, snapshot};
    use crate::scheduler::snapshot::Snapshot;
    use serde_json::{json, Value};

    fn pod(name: &str, priority: i32, cpu: &str, started: i64) -> PodInfo {
        let mut p = pod_with(json!({"name": name, "namespace": "default"}), json!({"priority": priority, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}));
        p.start_time = Some(Timestamp::from_second(started).unwrap());
        p
    }

    fn node(name: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "10"}}})
    }

    fn framework() -> Framework {
        Framework { filters: vec![Arc::new(NodeResourcesFit::default())], ..Default::default() }
    }

    /// Runs the filters to build the diagnosis, then preemption.
    fn preempt(incoming: &PodInfo, snapshot: &Snapshot) -> Result<(String, Vec<String>), String> {
        let framework = framework();
        let state = CycleState::default();
        let mut diagnosis = Diagnosis::default();
        let active = framework.active_filters(&state);
        for n in snapshot.nodes() {
            if let Err((_, status)) = Framework::run_active_filters(&active, &state, incoming, n) {
                diagnosis.statuses.insert(n.name.clone(), status);
            }
        }
        let nominator = Nominator::default();
        let ctx = PostFilterContext { framework: &framework, snapshot, nominator: &nominator };
        DefaultPreemption
            .post_filter(&ctx, &state, incoming, &diagnosis)
            .map(|r| (r.nominated_node, r.victims.iter().map(|v| v.name().to_string()).collect()))
            .map_err(|s| s.message())
    }

    /// What, the cluster (nodes with their pods), the preemptor, and the node and victims wanted.
    type Case<'a> = (&'a str, Vec<(Value, Vec<PodInfo>)>, PodInfo, Result<(&'a str, Vec<&'a str>), &'a str>);

    #[test]
    fn table() {
        let cases: Vec<Case> = vec![
            (
                "the fewest, lowest-priority victims, the more important one reprieved",
                vec![(node("n1"), vec![pod("low", 1, "1", 10), pod("mid", 5, "1", 10)]), (node("n2"), vec![pod("mid2", 5, "1500m", 10)])],
                pod("high", 10, "1", 0),
                Ok(("n1", vec!["low"])),
            ),
            (
                "lower highest victim priority wins over fewer victims",
                vec![(node("n1"), vec![pod("a", 1, "1", 10), pod("b", 1, "1", 10)]), (node("n2"), vec![pod("c", 5, "2", 10)])],
                pod("high", 10, "2", 0),
                Ok(("n1", vec!["a", "b"])),
            ),
            (
                "equal cost: evict the pods that started later",
                vec![(node("n1"), vec![pod("old", 1, "2", 10)]), (node("n2"), vec![pod("young", 1, "2", 20)])],
                pod("high", 10, "1", 0),
                Ok(("n2", vec!["young"])),
            ),
            (
                "nothing of lower priority to evict",
                vec![(node("n1"), vec![pod("peer", 10, "2", 10)])],
                pod("high", 10, "1", 0),
                Err("preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
            ),
            (
                "larger than any node",
                vec![(node("n1"), vec![pod("low", 1, "1", 10)]), (node("n2"), vec![])],
                pod("huge", 10, "3", 0),
                Err("preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."),
            ),
        ];
        for (what, nodes, incoming, want) in cases {
            let got = preempt(&incoming, &snapshot(&nodes));
            let want = want.map(|(n, v)| (n.to_string(), v.into_iter().map(String::from).collect())).map_err(String::from);
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn a_pod_that_never_preempts_is_not_eligible() {
        let mut incoming = pod("high", 10, "2", 0);
        incoming.never_preempts = true;
        let cluster = snapshot(&[(node("n1"), vec![pod("low", 1, "2", 10)])]);
        assert_eq!(preempt(&incoming, &cluster), Err("preemption: not eligible due to preemptionPolicy=Never.".to_string()));
    }
}
