//! This machine as a Node: its name, CPUs and memory.

use tabernetes_core::kubelet::node::NodeInfo;

/// A DNS-1123 subdomain made from the host name (`My_Laptop.local` → `my-laptop.local`).
pub fn node_name(hostname: &str) -> String {
    let cleaned: String = hostname
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches(|c| c == '-' || c == '.').to_string();
    if cleaned.is_empty() {
        "node-host".to_string()
    } else {
        cleaned.chars().take(63).collect::<String>().trim_end_matches(['-', '.']).to_string()
    }
}

pub fn detect(name: Option<String>) -> NodeInfo {
    // Memory is read once, at start: it is the node's capacity, not its current use.
    let memory_bytes = match sysinfo::System::new() {
        Ok(mut system) => {
            system.refresh_memory();
            system.total_memory()
        }
        Err(_) => 0,
    };
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as i64;
    let name = name.unwrap_or_else(|| node_name(&sysinfo::System::host_name().unwrap_or_default()));
    NodeInfo {
        name,
        runtime: "wasmtime".into(),
        cpu_millis: cpus * 1000,
        memory_bytes,
        max_pods: 110,
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        agent_version: concat!("node-host/", env!("CARGO_PKG_VERSION")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_valid_node_names() {
        assert_eq!(node_name("My_Laptop.local"), "my-laptop.local");
        assert_eq!(node_name("--"), "node-host");
        assert_eq!(node_name(""), "node-host");
        assert!(tabernetes_core::validation::dns_subdomain_errors(&node_name(&"x".repeat(300))).is_empty());
    }

    #[test]
    fn detects_real_resources() {
        let info = detect(Some("n".into()));
        assert!(info.cpu_millis >= 1000);
        assert!(info.memory_bytes > 64 << 20, "{}", info.memory_bytes);
    }
}
