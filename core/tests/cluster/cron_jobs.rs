//! CronJobs on the simulated cluster: they fire on schedule in their time
//! zone across a day, keep their history limits, honour their concurrency
//! policy, and handle missed times as upstream does.

use crate::support::{mins, name, reasons, secs};
use serde_json::{json, Value};
use tabernetes_core::apiserver::ApiRequest;
use tabernetes_core::simulation::runtime::Script;
use tabernetes_core::simulation::Simulation;

fn cron_job(name: &str, schedule: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {name}}}\nspec:\n  schedule: \"{schedule}\"\n{extra}  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{{name: main, image: {image}}}]\n"
    )
}

fn cluster(image: &str, script: Script) -> Simulation {
    let mut sim = Simulation::new(21);
    sim.script(image, script);
    sim.add_node("a");
    sim
}

fn count(sim: &Simulation, cron_job: &str, reason: &str) -> usize {
    reasons(sim, "default", cron_job).iter().filter(|r| *r == reason).count()
}

fn status(sim: &Simulation, cron_job: &str) -> Value {
    sim.get("cronjobs.batch", "default", cron_job).unwrap()["status"].clone()
}

#[test]
fn fires_every_half_hour_across_a_day_in_its_time_zone_and_keeps_three_jobs() {
    let mut sim = cluster("report", Script::exits_after(mins(1), 0));
    sim.apply(&cron_job("report", "*/30 * * * *", "report", "  timeZone: America/New_York\n"));
    sim.apply(&cron_job("morning", "0 9 * * *", "report", "  timeZone: Asia/Tokyo\n"));
    sim.run_for(mins(24 * 60) + secs(1));
    // The clock starts at 08:00 UTC (03:00 in New York) on the hour: 48 runs in 24 hours.
    let created: Vec<String> = tabernetes_core::controllers::events::events_about(sim.plane().api(), "default", "report")
        .into_iter()
        .filter(|(_, reason, _, _)| reason == "SuccessfulCreate")
        .map(|(_, _, message, _)| message)
        .collect();
    assert_eq!(created.len(), 48, "{created:?}");
    let minutes: Vec<i64> = created.iter().map(|m| m.rsplit('-').next().unwrap().parse().unwrap()).collect();
    assert!(minutes.windows(2).all(|w| w[1] - w[0] == 30), "every 30 minutes: {minutes:?}");
    assert_eq!(count(&sim, "report", "SawCompletedJob"), 47, "the last one still runs");
    let jobs: Vec<String> = sim.list("jobs.batch", Some("default")).iter().filter(|j| name(j).starts_with("report-")).map(|j| name(j).to_string()).collect();
    assert_eq!(jobs.len(), 4, "successfulJobsHistoryLimit keeps the last three finished, and one runs: {jobs:?}");
    assert_eq!(status(&sim, "report")["lastScheduleTime"], "2027-01-16T08:00:00Z");
    assert!(status(&sim, "report")["lastSuccessfulTime"].as_str().unwrap().starts_with("2027-01-16T07:31"));
    // 09:00 in Tokyo is 00:00 UTC: once in the day, and its Job says when in Tokyo time.
    let morning: Vec<_> = sim.list("jobs.batch", Some("default")).into_iter().filter(|j| name(j).starts_with("morning-")).collect();
    assert_eq!(morning.len(), 1);
    assert_eq!(morning[0]["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"], "2027-01-16T09:00:00+09:00");
}

#[test]
fn forbid_waits_for_the_running_job_and_a_starting_deadline_makes_it_skip() {
    let mut sim = cluster("slow", Script::exits_after(mins(45), 0));
    sim.apply(&cron_job("late", "*/30 * * * *", "slow", "  concurrencyPolicy: Forbid\n"));
    sim.apply(&cron_job("strict", "*/30 * * * *", "slow", "  concurrencyPolicy: Forbid\n  startingDeadlineSeconds: 60\n"));
    sim.run_for(mins(2 * 60) + secs(1));
    // As upstream: 09:00 finds the 08:30 Job running; when it finishes at
    // 09:15 the 09:00 time is still unmet, so it starts then, late.
    let started = |s: &Simulation, cj: &str| -> Vec<String> {
        let mut jobs: Vec<(String, String)> = s.list("jobs.batch", Some("default")).iter().filter(|j| name(j).starts_with(&format!("{cj}-"))).map(|j| (j["status"]["startTime"].as_str().unwrap_or("").to_string(), name(j).to_string())).collect();
        jobs.sort();
        jobs.into_iter().map(|(start, _)| start[11..16].to_string()).collect()
    };
    assert_eq!(started(&sim, "late"), vec!["08:30", "09:15", "10:00"]);
    // With a 60 s starting deadline, a time that cannot start in time is skipped.
    assert_eq!(started(&sim, "strict"), vec!["08:30", "09:30"]);
    assert!(count(&sim, "strict", "JobAlreadyActive") >= 1);
}

#[test]
fn replace_deletes_the_running_job_for_the_new_one() {
    let mut sim = cluster("slow", Script::exits_after(mins(45), 0));
    sim.apply(&cron_job("batch", "*/30 * * * *", "slow", "  concurrencyPolicy: Replace\n"));
    sim.run_for(mins(60) + secs(1));
    assert_eq!(count(&sim, "batch", "SuccessfulCreate"), 2);
    assert_eq!(count(&sim, "batch", "SuccessfulDelete"), 1);
    let jobs = sim.list("jobs.batch", Some("default"));
    assert_eq!(jobs.len(), 1, "the 08:30 Job was replaced by the 09:00 one");
    assert_eq!(status(&sim, "batch")["active"].as_array().unwrap().len(), 1);
}

fn suspend(sim: &mut Simulation, cron_job: &str, suspended: bool) {
    let patch = json!({"spec": {"suspend": suspended}});
    let response = sim.request(ApiRequest::patch(format!("/apis/batch/v1/namespaces/default/cronjobs/{cron_job}"), "application/merge-patch+json", patch));
    assert!(response.is_success(), "{}", response.message());
}

#[test]
fn after_too_many_missed_times_it_warns_and_starts_only_the_latest() {
    let mut sim = cluster("tick", Script::exits_after(secs(10), 0));
    sim.apply(&cron_job("every-minute", "* * * * *", "tick", "  suspend: true\n"));
    sim.apply(&cron_job("bounded", "* * * * *", "tick", "  suspend: true\n  startingDeadlineSeconds: 120\n"));
    sim.run_for(mins(3 * 60));
    suspend(&mut sim, "every-minute", false);
    suspend(&mut sim, "bounded", false);
    sim.run_for(secs(30));
    // 180 minutes missed: one warning, and one Job for the latest time only.
    assert_eq!(count(&sim, "every-minute", "TooManyMissedTimes"), 1);
    assert_eq!(count(&sim, "every-minute", "SuccessfulCreate"), 1);
    assert_eq!(status(&sim, "every-minute")["lastScheduleTime"], "2027-01-15T11:00:00Z");
    // With a starting deadline only the last two minutes count: no warning.
    assert_eq!(count(&sim, "bounded", "TooManyMissedTimes"), 0);
    assert_eq!(count(&sim, "bounded", "SuccessfulCreate"), 1);
}
