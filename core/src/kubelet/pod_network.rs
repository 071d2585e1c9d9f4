//! Pod addresses on one node, as the host-local IPAM plugin of a CNI
//! network hands them out: from the node's `spec.podCIDR`, skipping the
//! network address, the gateway (`.1`) and the broadcast address, in turn
//! after the last one given (so a freed address is not reused at once).
//! An address is held from the pod's sandbox start until the pod is gone.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

#[derive(Clone, Debug, Default)]
pub struct PodNetwork {
    /// The first address of the range and its prefix length.
    range: Option<(u32, u8)>,
    /// Pod UID → its address.
    addresses: BTreeMap<String, Ipv4Addr>,
    /// The offset in the range of the last address handed out.
    last: Option<u32>,
}

impl PodNetwork {
    /// Takes the node's pod CIDR (`10.244.3.0/24`); true if it was new.
    pub fn set_cidr(&mut self, cidr: &str) -> bool {
        let Some((address, prefix)) = cidr.split_once('/') else { return false };
        let (Ok(address), Ok(prefix)) = (address.parse::<Ipv4Addr>(), prefix.parse::<u8>()) else { return false };
        if !(8..=30).contains(&prefix) {
            return false;
        }
        let range = (u32::from(address) & (u32::MAX << (32 - prefix)), prefix);
        let new = self.range != Some(range);
        self.range = Some(range);
        new
    }

    pub fn has_cidr(&self) -> bool {
        self.range.is_some()
    }

    pub fn address_of(&self, pod_uid: &str) -> Option<Ipv4Addr> {
        self.addresses.get(pod_uid).copied()
    }

    /// The pod's address, handing it one if it has none yet (None without a
    /// CIDR, or when the range is full).
    pub fn allocate(&mut self, pod_uid: &str) -> Option<Ipv4Addr> {
        if let Some(address) = self.addresses.get(pod_uid) {
            return Some(*address);
        }
        let (base, prefix) = self.range?;
        let size = 1u32 << (32 - prefix);
        // Usable offsets: 2 ..= size - 2 (not the network, gateway or broadcast).
        let usable = i64::from(size - 3);
        let start = self.last.map_or(-1, |l| i64::from(l) - 2);
        for step in 1..=usable {
            let offset = 2 + (start + step).rem_euclid(usable) as u32;
            let candidate = Ipv4Addr::from(base + offset);
            if !self.addresses.values().any(|a| *a == candidate) {
                self.last = Some(offset);
                self.addresses.insert(pod_uid.to_string(), candidate);
                return Some(candidate);
            }
        }
        None
    }

    pub fn release(&mut self, pod_uid: &str) {
        self.addresses.remove(pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_addresses_in_turn_from_the_node_range() {
        let mut network = PodNetwork::default();
        assert_eq!(network.allocate("a"), None, "no range yet");
        assert!(network.set_cidr("10.244.3.0/24"));
        assert!(!network.set_cidr("10.244.3.0/24"));
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(network.allocate("a"), Some(ip("10.244.3.2")));
        assert_eq!(network.allocate("b"), Some(ip("10.244.3.3")));
        assert_eq!(network.allocate("a"), Some(ip("10.244.3.2")), "a pod keeps its address");
        network.release("a");
        assert_eq!(network.allocate("c"), Some(ip("10.244.3.4")), "a freed address is not reused at once");
        let mut small = PodNetwork::default();
        small.set_cidr("10.0.0.0/30");
        assert_eq!((small.allocate("x"), small.allocate("y")), (Some(ip("10.0.0.2")), None), "a /30 holds one pod");
    }
}
