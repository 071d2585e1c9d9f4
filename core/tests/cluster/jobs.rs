//! Jobs on the simulated cluster: completions and parallelism, retries with
//! exponential backoff up to backoffLimit, the active deadline, Indexed
//! completion, suspension, and deletion after ttlSecondsAfterFinished.

use crate::support::{active_pods, mins, name, reasons, secs};
use serde_json::{json, Value};
use std::sync::Arc;
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;
use tabernetes_core::Timestamp;

fn job(name: &str, image: &str, spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: {image}}}]\n"
    )
}

fn cluster(image: &str, script: Script) -> Simulation {
    let mut sim = Simulation::new(9);
    sim.script(image, script);
    sim.add_node("a");
    sim.add_node("b");
    sim
}

fn status(sim: &Simulation, job: &str) -> Value {
    sim.get("jobs.batch", "default", job).map(|j| j["status"].clone()).unwrap_or(Value::Null)
}

/// (type, reason) of each True condition, in order.
fn conditions(sim: &Simulation, job: &str) -> Vec<(String, String)> {
    let status = status(sim, job);
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    status["conditions"].as_array().into_iter().flatten().filter(|c| c["status"] == "True").map(|c| (text(&c["type"]), text(&c["reason"]))).collect()
}

fn finished(sim: &Simulation, job: &str) -> bool {
    conditions(sim, job).iter().any(|(t, _)| t == "Complete" || t == "Failed")
}

fn pods_of(sim: &Simulation, job: &str) -> Vec<Arc<Value>> {
    sim.list("pods", Some("default")).into_iter().filter(|p| p["metadata"]["labels"]["job-name"] == job).collect()
}

fn time(v: &Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn a_job_runs_its_completions_parallelism_at_a_time() {
    let mut sim = cluster("work", Script::exits_after(secs(10), 0));
    sim.apply(&job("batch", "work", "  completions: 5\n  parallelism: 2\n"));
    let mut most = 0;
    assert!(sim.run_until_true(mins(5), |s| {
        most = most.max(active_pods(s, "default").len());
        finished(s, "batch")
    }));
    assert_eq!(most, 2, "never more than parallelism pods at once");
    assert_eq!(conditions(&sim, "batch"), vec![("SuccessCriteriaMet".into(), "CompletionsReached".into()), ("Complete".into(), "CompletionsReached".into())]);
    let status = status(&sim, "batch");
    assert_eq!((status["succeeded"].clone(), status.get("failed"), status["ready"].clone()), (json!(5), None, json!(0)));
    assert_eq!(status["uncountedTerminatedPods"], json!({}));
    // Three rounds of 10 s: 2, 2, then 1.
    assert_eq!(time(&status["completionTime"]).duration_since(time(&status["startTime"])), secs(30));
    let pods = pods_of(&sim, "batch");
    assert_eq!(pods.len(), 5);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Succeeded" && p["metadata"].get("finalizers").is_none()), "finished pods are counted and released");
    let events = reasons(&sim, "default", "batch");
    assert_eq!(events.iter().filter(|r| *r == "SuccessfulCreate").count(), 5);
    assert_eq!(events.last().map(String::as_str), Some("Completed"));
}

#[test]
fn failed_pods_are_replaced_after_a_doubling_backoff_until_the_limit() {
    let mut sim = cluster("crash", Script::exits_after(secs(1), 1));
    sim.apply(&job("flaky", "crash", "  backoffLimit: 3\n"));
    assert!(sim.run_until_true(mins(10), |s| finished(s, "flaky")));
    let mut pods = pods_of(&sim, "flaky");
    pods.sort_by_key(|p| time(&p["metadata"]["creationTimestamp"]));
    assert_eq!(pods.len(), 4, "the first run and three retries");
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Failed"));
    // Each retry waits 10 s, 20 s, 40 s after the failure before it.
    let finished_at = |p: &Value| time(&p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]);
    let waits: Vec<i64> = pods.windows(2).map(|w| time(&w[1]["metadata"]["creationTimestamp"]).duration_since(finished_at(&w[0])).as_secs()).collect();
    assert_eq!(waits, vec![10, 20, 40]);
    assert_eq!(conditions(&sim, "flaky"), vec![("FailureTarget".into(), "BackoffLimitExceeded".into()), ("Failed".into(), "BackoffLimitExceeded".into())]);
    assert_eq!(status(&sim, "flaky")["failed"], 4);
    let events = tabernetes_core::controllers::events::events_about(sim.plane().api(), "default", "flaky");
    let last = events.last().unwrap();
    assert_eq!((last.0.as_str(), last.1.as_str(), last.2.as_str()), ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit"));
}

#[test]
fn a_job_past_its_active_deadline_fails_and_its_pods_are_stopped() {
    let mut sim = cluster("forever", Script::serves(10));
    sim.apply(&job("slow", "forever", "  activeDeadlineSeconds: 30\n  parallelism: 2\n  completions: 2\n"));
    sim.run_for(secs(29));
    assert_eq!(active_pods(&sim, "default").len(), 2);
    assert!(!finished(&sim, "slow"));
    sim.run_for(secs(2));
    assert_eq!(conditions(&sim, "slow"), vec![("FailureTarget".into(), "DeadlineExceeded".into()), ("Failed".into(), "DeadlineExceeded".into())]);
    assert!(active_pods(&sim, "default").is_empty());
    assert_eq!(status(&sim, "slow")["failed"], 2, "the pods it stopped count as failed");
    assert!(reasons(&sim, "default", "slow").contains(&"DeadlineExceeded".to_string()));
}

#[test]
fn an_indexed_job_runs_each_index_once() {
    let mut sim = cluster("shard", Script::exits_after(secs(5), 0));
    sim.apply(&job("shards", "shard", "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n"));
    assert!(sim.run_until_true(mins(2), |s| finished(s, "shards")));
    assert_eq!(status(&sim, "shards")["completedIndexes"], "0-2");
    assert_eq!(status(&sim, "shards")["succeeded"], 3);
    let mut seen: Vec<(String, String, String)> = pods_of(&sim, "shards")
        .iter()
        .map(|p| {
            let index = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().unwrap().to_string();
            let env = p["spec"]["containers"][0]["env"].as_array().unwrap().iter().find(|e| e["name"] == "JOB_COMPLETION_INDEX").unwrap()["value"].as_str().unwrap().to_string();
            (index, env, p["spec"]["hostname"].as_str().unwrap().to_string())
        })
        .collect();
    seen.sort();
    assert_eq!(seen, vec![("0".into(), "0".into(), "shards-0".into()), ("1".into(), "1".into(), "shards-1".into()), ("2".into(), "2".into(), "shards-2".into())]);
    assert!(pods_of(&sim, "shards").iter().all(|p| name(p).starts_with(&format!("shards-{}-", p["spec"]["hostname"].as_str().unwrap().trim_start_matches("shards-")))));
}

#[test]
fn a_suspended_job_runs_nothing_until_resumed() {
    let mut sim = cluster("work", Script::exits_after(secs(5), 0));
    sim.apply(&job("later", "work", "  suspend: true\n"));
    sim.run_for(mins(1));
    assert!(pods_of(&sim, "later").is_empty());
    assert_eq!(conditions(&sim, "later"), vec![("Suspended".into(), "JobSuspended".into())]);
    assert!(status(&sim, "later").get("startTime").is_none());
    sim.request(ApiRequest::patch("/apis/batch/v1/namespaces/default/jobs/later", "application/merge-patch+json", json!({"spec": {"suspend": false}})));
    assert!(sim.run_until_true(mins(1), |s| finished(s, "later")));
    // As upstream, the pods are created in the sync that notes the resumption.
    assert_eq!(reasons(&sim, "default", "later"), vec!["Suspended", "SuccessfulCreate", "Resumed", "Completed"]);
}

#[test]
fn a_finished_job_is_deleted_after_its_ttl_with_its_pods() {
    let mut sim = cluster("work", Script::exits_after(secs(5), 0));
    sim.apply(&job("brief", "work", "  ttlSecondsAfterFinished: 60\n"));
    assert!(sim.run_until_true(mins(1), |s| finished(s, "brief")));
    let done = time(&status(&sim, "brief")["completionTime"]);
    sim.run_until(done + secs(59));
    assert!(sim.get("jobs.batch", "default", "brief").is_some());
    sim.run_until(done + secs(61));
    assert!(sim.get("jobs.batch", "default", "brief").is_none(), "deleted 60 s after it finished");
    assert!(sim.list("pods", Some("default")).is_empty(), "its pods went first");
}
