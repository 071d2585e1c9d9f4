//! A kubelet as an API client: it registers its Node, lists and then watches
//! the pods bound to it, writes their status and shows it is alive — all as
//! ordinary API requests, so it works the same in the page (calling the API
//! server directly) and in node-host (over the WebSocket).
//!
//! Being alive is shown as upstream does since node leases: the agent
//! renews the Lease `kube-node-lease/<node>` every 10 s, which is cheap, and
//! posts its full node status only every 5 minutes (it has nothing new to
//! say in between). The node lifecycle controller watches both.
//!
//! Sans-IO: the driver sends what `drain` returns, feeds back responses,
//! watch events and runtime events, and calls `tick` when `next_wake` is due.

use crate::json_path::JsonPath;
use super::node::{self, NodeInfo};
use super::runtime::{RuntimeCommand, RuntimeEvent};
use super::{Kubelet, KubeletOutput};
use crate::apiserver::resources::{LEASES, NODES, PODS};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use crate::apiserver::{ApiRequest, ApiResponse};
use crate::metrics_server::{NodeUsage, PodUsage, RESOLUTION};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// How often the node renews its lease (the kubelet's leaseDuration × 0.25).
pub const LEASE_RENEW_SECS: i64 = 10;
/// The lease's leaseDurationSeconds (the kubelet's nodeLeaseDurationSeconds).
pub const LEASE_DURATION_SECS: i64 = 40;
/// How often the node posts an unchanged status (nodeStatusReportFrequency).
pub const NODE_STATUS_REPORT_SECS: i64 = 300;
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Clone, Debug, PartialEq)]
pub enum AgentOutput {
    /// Send this request; answer with `on_response(id, …)`.
    Api { id: u64, request: ApiRequest },
    /// Stop a watch this agent opened and no longer wants.
    CancelWatch { id: u64 },
    Runtime(RuntimeCommand),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose {
    Register,
    UpdateStatusAfterConflict,
    ListPods,
    WatchPods,
    PodStatus,
    Heartbeat,
    CreateLease,
    RenewLease,
    GetNode,
    /// The final DELETE of a pod that was being deleted; holds its UID.
    DeletePod(String),
}

#[derive(Debug)]
pub struct NodeAgent {
    info: NodeInfo,
    kubelet: Kubelet,
    next_id: u64,
    in_flight: BTreeMap<u64, Purpose>,
    watch: Option<u64>,
    outbox: Vec<AgentOutput>,
    next_heartbeat: Option<Timestamp>,
    last_node_status: Option<Value>,
    next_lease_renewal: Option<Timestamp>,
    /// The lease exists (renewals update it rather than create it).
    lease_exists: bool,
    /// The Node's UID, for the lease's owner reference (the lease goes with its node).
    node_uid: Option<String>,
}

impl NodeAgent {
    pub fn new(info: NodeInfo) -> Self {
        NodeAgent {
            info,
            kubelet: Kubelet::default(),
            next_id: 0,
            in_flight: BTreeMap::new(),
            watch: None,
            outbox: Vec::new(),
            next_heartbeat: None,
            last_node_status: None,
            next_lease_renewal: None,
            lease_exists: false,
            node_uid: None,
        }
    }

    pub fn node_name(&self) -> &str {
        &self.info.name
    }

    pub fn user(&self) -> String {
        format!("system:node:{}", self.info.name)
    }

    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    pub fn pod_count(&self) -> usize {
        self.kubelet.running_pods()
    }

    /// (Re)joins a control plane: registers the node, then lists and watches its pods.
    /// Pods already running keep running; they are matched again by UID.
    pub fn connect(&mut self, now: Timestamp) {
        self.in_flight.clear();
        self.watch = None;
        self.kubelet.forget_reported();
        let body = node::registration(&self.info, now);
        self.last_node_status = body.get("status").cloned();
        self.send(Purpose::Register, ApiRequest::post(NODES.path(None, None), body));
        self.next_heartbeat = Some(now + SignedDuration::from_secs(NODE_STATUS_REPORT_SECS));
        self.next_lease_renewal = None;
    }

    /// The connection to the control plane is gone; requests in flight are lost.
    pub fn disconnect(&mut self) {
        self.in_flight.clear();
        self.watch = None;
        self.next_heartbeat = None;
        self.next_lease_renewal = None;
    }

    /// What a scrape of this kubelet's resource metrics returns (metrics-server
    /// does one every 15 s): each running pod's usage, and the node's total.
    pub fn resource_metrics(&self, now: Timestamp) -> NodeUsage {
        let pods = self.kubelet.usage(now);
        let cpu_millis = pods.iter().map(PodUsage::cpu_millis).sum();
        let memory_bytes = pods.iter().map(PodUsage::memory_bytes).sum();
        NodeUsage { node: self.info.name.clone(), timestamp: now, window: RESOLUTION, cpu_millis, memory_bytes, pods }
    }

    pub fn drain(&mut self) -> Vec<AgentOutput> {
        std::mem::take(&mut self.outbox)
    }

    pub fn next_wake(&self) -> Option<Timestamp> {
        [self.kubelet.next_wake(), self.next_heartbeat, self.next_lease_renewal].into_iter().flatten().min()
    }

    fn send(&mut self, purpose: Purpose, request: ApiRequest) -> u64 {
        self.next_id += 1;
        let request = request.as_user(self.user());
        self.in_flight.insert(self.next_id, purpose);
        self.outbox.push(AgentOutput::Api { id: self.next_id, request });
        self.next_id
    }

    fn list_pods(&mut self) {
        let request = ApiRequest::get(PODS.path(None, None)).with_query("fieldSelector", &format!("spec.nodeName={}", self.info.name));
        self.send(Purpose::ListPods, request);
    }

    pub fn on_response(&mut self, id: u64, response: ApiResponse, now: Timestamp) {
        let Some(purpose) = self.in_flight.get(&id).cloned() else { return };
        if purpose != Purpose::WatchPods {
            self.in_flight.remove(&id);
        }
        // Whatever brings the Node back may bring its pod CIDR (node IPAM sets it).
        let node_reply = matches!(purpose, Purpose::Register | Purpose::UpdateStatusAfterConflict | Purpose::Heartbeat | Purpose::GetNode);
        if let Some(cidr) = response.json_body().filter(|_| node_reply && response.is_success()).and_then(|n| n.at(&["spec", "podCIDR"])).and_then(Value::as_str) {
            let out = self.kubelet.set_pod_cidr(cidr, now);
            self.emit(out);
        }
        match purpose {
            Purpose::Register if response.status == 409 => {
                // Registered before (a reconnect): take the node over by posting fresh status.
                let body = json!({"metadata": {"name": self.info.name}, "status": node::status(&self.info, now)});
                self.send(Purpose::UpdateStatusAfterConflict, ApiRequest::put(format!("{}/status", NODES.path(None, Some(&self.info.name))), body));
                self.list_pods();
            }
            Purpose::Register | Purpose::UpdateStatusAfterConflict if response.is_success() => {
                self.node_uid = response.json_body().and_then(|n| n.at(&["metadata", "uid"])).and_then(Value::as_str).map(String::from);
                if purpose == Purpose::Register {
                    self.list_pods();
                }
                self.renew_lease(now);
            }
            Purpose::CreateLease if response.status == 409 => {
                self.lease_exists = true;
                self.renew_lease(now);
            }
            Purpose::CreateLease => self.lease_exists = response.is_success(),
            Purpose::RenewLease if response.status == 404 => {
                self.lease_exists = false;
                self.renew_lease(now);
            }
            Purpose::ListPods if response.is_success() => {
                let body = response.json_body().cloned().unwrap_or_default();
                let mut uids = BTreeSet::new();
                for item in body.get("items").and_then(Value::as_array).into_iter().flatten() {
                    if let Ok(pod) = serde_json::from_value::<Pod>(item.clone()) {
                        uids.insert(pod.metadata.uid.clone().unwrap_or_default());
                        let out = self.kubelet.sync_pod(pod, now);
                        self.emit(out);
                    }
                }
                let out = self.kubelet.retain_only(&uids);
                self.emit(out);
                let rv = body.at(&["metadata", "resourceVersion"]).and_then(Value::as_str).unwrap_or("0").to_string();
                let request = ApiRequest::get(PODS.path(None, None))
                    .with_query("watch", "true")
                    .with_query("fieldSelector", &format!("spec.nodeName={}", self.info.name))
                    .with_query("resourceVersion", &rv);
                self.watch = Some(self.send(Purpose::WatchPods, request));
            }
            Purpose::WatchPods if !response.is_success() => {
                // The watch could not start (e.g. 410 Gone): list again.
                self.in_flight.remove(&id);
                self.watch = None;
                self.list_pods();
            }
            // 404: already gone; 409: the UID precondition failed, so the pod
            // was replaced by a namesake. Either way the watch says DELETED for it.
            Purpose::DeletePod(uid) if !response.is_success() && response.status != 404 && response.status != 409 => {
                self.kubelet.delete_failed(&uid, now);
            }
            _ => {}
        }
    }

    pub fn on_watch_event(&mut self, id: u64, event: &Value, now: Timestamp) {
        if self.watch != Some(id) {
            return;
        }
        let object = event.get("object").cloned().unwrap_or_default();
        match event.get("type").and_then(Value::as_str) {
            Some("ADDED" | "MODIFIED") => {
                if let Ok(pod) = serde_json::from_value::<Pod>(object) {
                    let out = self.kubelet.sync_pod(pod, now);
                    self.emit(out);
                }
            }
            // Gone for good (finished pods are deleted at once, others after
            // this kubelet's final DELETE, or force-deleted).
            Some("DELETED") => {
                let uid = object.at(&["metadata", "uid"]).and_then(Value::as_str).unwrap_or("").to_string();
                let out = self.kubelet.remove_pod(&uid);
                self.emit(out);
            }
            _ => {
                // ERROR (e.g. 410 Expired): the watch is over; relist.
                self.in_flight.remove(&id);
                self.watch = None;
                self.outbox.push(AgentOutput::CancelWatch { id });
                self.list_pods();
            }
        }
    }

    pub fn on_runtime_event(&mut self, event: RuntimeEvent, now: Timestamp) {
        let out = self.kubelet.runtime_event(event, now);
        self.emit(out);
    }

    pub fn tick(&mut self, now: Timestamp) {
        let out = self.kubelet.tick(now);
        self.emit(out);
        if self.next_lease_renewal.is_some_and(|t| t <= now) {
            self.renew_lease(now);
        }
        if self.next_heartbeat.is_some_and(|t| t <= now) {
            let status = node::heartbeat(self.last_node_status.as_ref(), &self.info, now);
            self.last_node_status = Some(status.clone());
            let body = json!({"metadata": {"name": self.info.name}, "status": status});
            self.send(Purpose::Heartbeat, ApiRequest::put(format!("{}/status", NODES.path(None, Some(&self.info.name))), body));
            self.next_heartbeat = Some(now + SignedDuration::from_secs(NODE_STATUS_REPORT_SECS));
        }
    }

    /// Creates or renews the node's lease, and schedules the next renewal.
    fn renew_lease(&mut self, now: Timestamp) {
        let owner = self.node_uid.as_ref().map(|uid| json!([{"apiVersion": "v1", "kind": "Node", "name": self.info.name, "uid": uid}]));
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.info.name, "namespace": LEASE_NAMESPACE, "ownerReferences": owner.unwrap_or(json!([]))},
            "spec": {"holderIdentity": self.info.name, "leaseDurationSeconds": LEASE_DURATION_SECS, "renewTime": MicroTime(now)},
        });
        if self.lease_exists {
            self.send(Purpose::RenewLease, ApiRequest::put(LEASES.path(Some(LEASE_NAMESPACE), Some(&self.info.name)), lease));
        } else {
            self.send(Purpose::CreateLease, ApiRequest::post(LEASES.path(Some(LEASE_NAMESPACE), None), lease));
        }
        self.next_lease_renewal = Some(now + SignedDuration::from_secs(LEASE_RENEW_SECS));
        // Until it has its pod CIDR, the kubelet asks for its Node with each renewal.
        if !self.kubelet.has_pod_cidr() {
            self.send(Purpose::GetNode, ApiRequest::get(NODES.path(None, Some(&self.info.name))));
        }
    }

    fn emit(&mut self, outputs: Vec<KubeletOutput>) {
        for output in outputs {
            match output {
                KubeletOutput::Runtime(command) => self.outbox.push(AgentOutput::Runtime(command)),
                KubeletOutput::Status { namespace, name, uid, status } => {
                    // The UID makes the write fail if the pod was replaced by a namesake.
                    let body = json!({
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": name, "namespace": namespace, "uid": uid},
                        "status": status,
                    });
                    let path = format!("{}/status", PODS.path(Some(&namespace), Some(&name)));
                    self.send(Purpose::PodStatus, ApiRequest::put(path, body));
                }
                KubeletOutput::Delete { namespace, name, uid } => {
                    // Grace period 0: the containers are stopped, nothing is left to wait for.
                    let body = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
                    let request = ApiRequest::delete(PODS.path(Some(&namespace), Some(&name))).with_body(body);
                    self.send(Purpose::DeletePod(uid), request);
                }
            }
        }
    }
}
