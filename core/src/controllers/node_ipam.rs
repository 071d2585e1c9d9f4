//! Node IPAM, after upstream's range allocator (kube-controller-manager
//! with `--allocate-node-cidrs`): each node gets its own slice of the
//! cluster's pod network, `spec.podCIDR`, the lowest /24 of 10.244.0.0/16
//! that no other node holds. Its kubelet gives each pod an address from it
//! (`kubelet::pod_network`), so pod IPs never clash across nodes.

use crate::json_path::JsonPath;
use super::events::{EventRecorder, WARNING};
use super::node_lifecycle::USER;
use super::reconciler::{Action, Context, ReconcileResult, Reconciler};
use crate::apiserver::resources::NODES;
use crate::apiserver::ApiRequest;
use crate::store::{EventType, ObjectKey, Store, StoreEvent};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The cluster's pod network (kubeadm's and kind's usual `--cluster-cidr`).
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

#[derive(Debug)]
pub struct NodeIpam {
    events: EventRecorder,
}

impl Default for NodeIpam {
    fn default() -> Self {
        NodeIpam { events: EventRecorder::new("cidrAllocator") }
    }
}

fn pod_cidr(node: &Value) -> Option<&str> {
    node.at(&["spec", "podCIDR"]).and_then(Value::as_str).filter(|c| !c.is_empty())
}

/// The third octet of a /24 in 10.244.0.0/16.
fn slot(cidr: &str) -> Option<u8> {
    let rest = cidr.strip_prefix("10.244.")?.strip_suffix(".0/24")?;
    rest.parse().ok()
}

impl Reconciler for NodeIpam {
    fn name(&self) -> &'static str {
        "node-ipam"
    }

    fn keys_for(&mut self, event: &StoreEvent, _: &Store, keys: &mut Vec<ObjectKey>) {
        if event.key.resource == NODES.storage_name() && event.event_type != EventType::Deleted && pod_cidr(&event.object).is_none() {
            keys.push(event.key.clone());
        }
    }

    fn relist(&mut self, store: &Store) -> Vec<ObjectKey> {
        store.list(&NODES.storage_name(), None).filter(|(_, n)| pod_cidr(n).is_none()).map(|(k, _)| k.clone()).collect()
    }

    fn reconcile(&mut self, key: &ObjectKey, ctx: &mut Context<'_>) -> ReconcileResult {
        let Some(node) = ctx.api.store().get(key).cloned() else { return Ok(Action::await_change()) };
        if pod_cidr(&node).is_some() {
            return Ok(Action::await_change());
        }
        let taken: BTreeSet<u8> = ctx.api.store().list(&NODES.storage_name(), None).filter_map(|(_, n)| pod_cidr(n).and_then(slot)).collect();
        let Some(free) = (0..=255u8).find(|s| !taken.contains(s)) else {
            self.events.record(ctx.api, &node, WARNING, "CIDRNotAvailable", &format!("Node {} status is now: CIDRNotAvailable", key.name), ctx.now);
            return Ok(Action::await_change());
        };
        let cidr = format!("10.244.{free}.0/24");
        let mut node = (*node).clone();
        node["spec"]["podCIDR"] = json!(cidr);
        node["spec"]["podCIDRs"] = json!([cidr]);
        ctx.api.handle(&ApiRequest::put(NODES.path(None, Some(&key.name)), node).as_user(USER), ctx.now);
        Ok(Action::await_change())
    }
}
