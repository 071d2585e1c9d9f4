//! A container runtime that runs nothing: each container does what its
//! image's [`Script`] says (start after a pull delay, run for a while, exit
//! with a code, use so much CPU), on the simulation's clock. It answers the
//! kubelet's commands with the same events a real runtime sends.

use crate::kubelet::runtime::{ContainerLaunch, RuntimeCommand, RuntimeEvent};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// What every container of one image does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// How long the pull and start take.
    pub start_after: SignedDuration,
    /// How long it runs before it exits by itself (None: until stopped).
    pub run_for: Option<SignedDuration>,
    /// The exit code of the 1st, 2nd… run of this image; the last one
    /// repeats. Empty: 0.
    pub exit_codes: Vec<i32>,
    /// CPU it uses while running, in millicores.
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    /// The image cannot be pulled: every start fails with this message.
    pub pull_error: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Script { start_after: SignedDuration::ZERO, run_for: None, exit_codes: Vec::new(), cpu_millis: 0, memory_bytes: 0, pull_error: None }
    }
}

impl Script {
    /// A container that runs for `run_for` and exits with `code`.
    pub fn exits_after(run_for: SignedDuration, code: i32) -> Self {
        Script { run_for: Some(run_for), exit_codes: vec![code], ..Script::default() }
    }

    /// A server that runs until stopped, using `cpu_millis`.
    pub fn serves(cpu_millis: i64) -> Self {
        Script { cpu_millis, ..Script::default() }
    }
}

/// The scripts of the whole simulation, and how many times each image has
/// run (so that "fail twice, then succeed" is a script).
#[derive(Clone, Debug, Default)]
pub struct Scripts {
    by_image: BTreeMap<String, Script>,
    runs: BTreeMap<String, usize>,
}

impl Scripts {
    pub fn set(&mut self, image: &str, script: Script) {
        self.by_image.insert(image.to_string(), script);
    }

    pub fn get(&self, image: &str) -> Script {
        self.by_image.get(image).cloned().unwrap_or_default()
    }

    pub fn set_cpu(&mut self, image: &str, cpu_millis: i64) {
        self.by_image.entry(image.to_string()).or_default().cpu_millis = cpu_millis;
    }

    /// The exit code of the next run of `image`.
    fn next_exit_code(&mut self, image: &str) -> i32 {
        let run = self.runs.entry(image.to_string()).or_insert(0);
        let codes = self.by_image.get(image).map(|s| s.exit_codes.as_slice()).unwrap_or_default();
        let code = codes.get(*run).or(codes.last()).copied().unwrap_or(0);
        *run += 1;
        code
    }
}

#[derive(Clone, Debug)]
struct Container {
    image: String,
    running: bool,
}

/// One node's runtime: the containers it runs and the events it owes the kubelet.
#[derive(Clone, Debug, Default)]
pub struct SimRuntime {
    containers: BTreeMap<(String, String), Container>,
    /// Events due at a time, in the order they were scheduled.
    due: BTreeMap<(Timestamp, u64), RuntimeEvent>,
    seq: u64,
}

impl SimRuntime {
    fn schedule(&mut self, at: Timestamp, event: RuntimeEvent) {
        self.seq += 1;
        self.due.insert((at, self.seq), event);
    }

    pub fn command(&mut self, command: RuntimeCommand, scripts: &mut Scripts, now: Timestamp) {
        match command {
            RuntimeCommand::Start(launch) => self.start(launch, scripts, now),
            RuntimeCommand::StopPod { pod_uid } => self.stop_pod(&pod_uid, now),
        }
    }

    fn start(&mut self, launch: ContainerLaunch, scripts: &mut Scripts, now: Timestamp) {
        let script = scripts.get(&launch.image);
        let (uid, name) = (launch.pod_uid.clone(), launch.container.clone());
        let started = now + script.start_after;
        if let Some(message) = script.pull_error {
            self.schedule(started, RuntimeEvent::PullFailed { pod_uid: uid, container: name, message });
            return;
        }
        let exit_code = scripts.next_exit_code(&launch.image);
        self.containers.insert((uid.clone(), name.clone()), Container { image: launch.image.clone(), running: false });
        self.schedule(started, RuntimeEvent::Started { pod_uid: uid.clone(), container: name.clone(), image_id: format!("sha256:{}", launch.image) });
        if let Some(run_for) = script.run_for {
            self.schedule(started + run_for, RuntimeEvent::Exited { pod_uid: uid, container: name, exit_code, message: None });
        }
    }

    /// Stops a pod's containers at once: those running exit with 137, those
    /// not started yet never start.
    fn stop_pod(&mut self, pod_uid: &str, now: Timestamp) {
        self.due.retain(|_, event| event.pod_uid() != pod_uid);
        let stopped: Vec<(String, String)> = self.containers.keys().filter(|(uid, _)| uid == pod_uid).cloned().collect();
        for key in stopped {
            let container = self.containers.remove(&key).expect("listed");
            if container.running {
                let (pod_uid, container) = key;
                let message = Some("stopped because its pod was deleted".to_string());
                self.schedule(now, RuntimeEvent::Exited { pod_uid, container, exit_code: crate::kubelet::EXIT_CODE_KILLED, message });
            }
        }
    }

    /// The UIDs of the pods with a container running here.
    pub fn running_pods(&self) -> std::collections::BTreeSet<String> {
        self.containers.iter().filter(|(_, c)| c.running).map(|((uid, _), _)| uid.clone()).collect()
    }

    /// When the next event is due.
    pub fn next_event(&self) -> Option<Timestamp> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// The events due at `now`, in order; keeps track of what runs.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<RuntimeEvent> {
        let mut events = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let event = entry.remove();
            match &event {
                RuntimeEvent::Started { pod_uid, container, .. } => {
                    if let Some(c) = self.containers.get_mut(&(pod_uid.clone(), container.clone())) {
                        c.running = true;
                    }
                }
                RuntimeEvent::Exited { pod_uid, container, .. } => drop(self.containers.remove(&(pod_uid.clone(), container.clone()))),
                _ => {}
            }
            events.push(event);
        }
        events
    }

    /// What each running container uses now, as usage events (what the
    /// kubelet's cAdvisor measures just before a scrape).
    pub fn usage(&self, scripts: &Scripts) -> Vec<RuntimeEvent> {
        self.containers
            .iter()
            .filter(|(_, c)| c.running)
            .map(|((pod_uid, container), c)| {
                let script = scripts.get(&c.image);
                RuntimeEvent::Usage { pod_uid: pod_uid.clone(), container: container.clone(), cpu_millis: script.cpu_millis, memory_bytes: script.memory_bytes }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn launch(uid: &str, image: &str) -> RuntimeCommand {
        RuntimeCommand::Start(ContainerLaunch { pod_uid: uid.into(), container: "c".into(), image: image.into(), argv: vec![], env: vec![], memory_limit_bytes: None })
    }

    fn codes(events: &[RuntimeEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                RuntimeEvent::Started { pod_uid, .. } => format!("{pod_uid} started"),
                RuntimeEvent::Exited { pod_uid, exit_code, .. } => format!("{pod_uid} exited {exit_code}"),
                RuntimeEvent::PullFailed { pod_uid, .. } => format!("{pod_uid} pull failed"),
                RuntimeEvent::Usage { pod_uid, cpu_millis, .. } => format!("{pod_uid} uses {cpu_millis}m"),
            })
            .collect()
    }

    #[test]
    fn containers_follow_their_script_run_by_run() {
        let mut scripts = Scripts::default();
        scripts.set("flaky", Script { start_after: SignedDuration::from_secs(1), run_for: Some(SignedDuration::from_secs(5)), exit_codes: vec![1, 0], cpu_millis: 100, ..Script::default() });
        let mut runtime = SimRuntime::default();
        runtime.command(launch("a", "flaky"), &mut scripts, at(0));
        runtime.command(launch("b", "flaky"), &mut scripts, at(0));
        runtime.command(launch("c", "flaky"), &mut scripts, at(0));
        assert_eq!(runtime.next_event(), Some(at(1)));
        assert_eq!(codes(&runtime.take_due(at(1))), vec!["a started", "b started", "c started"]);
        assert_eq!(codes(&runtime.usage(&scripts)), vec!["a uses 100m", "b uses 100m", "c uses 100m"]);
        runtime.command(RuntimeCommand::StopPod { pod_uid: "c".into() }, &mut scripts, at(2));
        assert_eq!(codes(&runtime.take_due(at(2))), vec!["c exited 137"]);
        assert_eq!(codes(&runtime.take_due(at(6))), vec!["a exited 1", "b exited 0"], "the first run fails, the others succeed");
        assert_eq!(runtime.next_event(), None);
    }
}
