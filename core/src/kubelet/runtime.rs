//! The contract between the kubelet's decisions and a container runtime
//! (the browser's WebAssembly engine or wasmtime): commands out, events in.

use serde::{Deserialize, Serialize};

/// Everything a runtime needs to run one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLaunch {
    pub pod_uid: String,
    pub container: String,
    pub image: String,
    /// argv[0] is the program name (the command, or the image name).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// From `resources.limits.memory`: a cap on linear memory.
    pub memory_limit_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuntimeCommand {
    Start(ContainerLaunch),
    /// Stop every container of the pod (it was deleted).
    StopPod { pod_uid: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuntimeEvent {
    /// The module could not be fetched or compiled.
    PullFailed { pod_uid: String, container: String, message: String },
    /// The module is instantiated and running; `image_id` is its digest.
    Started { pod_uid: String, container: String, image_id: String },
    /// The module finished: `proc_exit` code, 0 on return, or a trap.
    Exited { pod_uid: String, container: String, exit_code: i32, message: Option<String> },
    /// A running container's resource usage, averaged over the runtime's
    /// last measuring window (what cAdvisor tells a kubelet).
    Usage { pod_uid: String, container: String, cpu_millis: i64, memory_bytes: i64 },
}

impl RuntimeEvent {
    pub fn pod_uid(&self) -> &str {
        match self {
            RuntimeEvent::PullFailed { pod_uid, .. }
            | RuntimeEvent::Started { pod_uid, .. }
            | RuntimeEvent::Exited { pod_uid, .. }
            | RuntimeEvent::Usage { pod_uid, .. } => pod_uid,
        }
    }
}
