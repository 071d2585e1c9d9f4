//! Container logs as nodes report them. Kubernetes keeps logs on the node and
//! proxies reads to the kubelet; here nodes push them to the control plane so
//! the page can show logs of pods on any node, including ones that have gone.

use std::collections::{BTreeMap, HashMap};

/// Per container, only the newest output is kept, like a rotated log file.
pub const MAX_LOG_BYTES_PER_CONTAINER: usize = 1024 * 1024;

#[derive(Clone, Debug, Default)]
pub struct Logs {
    by_pod_uid: HashMap<String, BTreeMap<String, String>>,
}

impl Logs {
    pub fn append(&mut self, pod_uid: &str, container: &str, data: &str) {
        let log = self.by_pod_uid.entry(pod_uid.to_string()).or_default().entry(container.to_string()).or_default();
        log.push_str(data);
        if log.len() > MAX_LOG_BYTES_PER_CONTAINER {
            let mut cut = log.len() - MAX_LOG_BYTES_PER_CONTAINER;
            while !log.is_char_boundary(cut) {
                cut += 1;
            }
            log.drain(..cut);
        }
    }

    /// The log of one container; `tail_lines` keeps only the last N lines.
    pub fn read(&self, pod_uid: &str, container: &str, tail_lines: Option<usize>) -> String {
        let text = self.by_pod_uid.get(pod_uid).and_then(|c| c.get(container)).map(String::as_str).unwrap_or("");
        match tail_lines {
            None => text.to_string(),
            Some(n) => {
                let body = text.strip_suffix('\n').unwrap_or(text);
                let start = body.rmatch_indices('\n').nth(n.saturating_sub(1)).map_or(0, |(i, _)| i + 1);
                if n == 0 { String::new() } else { text[start..].to_string() }
            }
        }
    }

    pub fn remove_pod(&mut self, pod_uid: &str) {
        self.by_pod_uid.remove(pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lines_keeps_the_last_lines() {
        let mut logs = Logs::default();
        logs.append("u", "c", "one\ntwo\n");
        logs.append("u", "c", "three\n");
        assert_eq!(logs.read("u", "c", None), "one\ntwo\nthree\n");
        assert_eq!(logs.read("u", "c", Some(2)), "two\nthree\n");
        assert_eq!(logs.read("u", "c", Some(10)), "one\ntwo\nthree\n");
        assert_eq!(logs.read("u", "c", Some(0)), "");
        assert_eq!(logs.read("u", "other", None), "");
    }

    #[test]
    fn a_log_keeps_only_its_newest_megabyte() {
        let mut logs = Logs::default();
        logs.append("u", "c", &"é".repeat(MAX_LOG_BYTES_PER_CONTAINER));
        logs.append("u", "c", "end");
        let text = logs.read("u", "c", None);
        assert!(text.len() <= MAX_LOG_BYTES_PER_CONTAINER);
        assert!(text.ends_with("end"));
    }
}
