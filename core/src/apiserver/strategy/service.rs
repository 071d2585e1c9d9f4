//! Services: defaults (type, protocol, targetPort), validation, and the
//! rule that an allocated cluster IP never changes. The addresses themselves
//! are allocated by the API server, which sees every Service.

use crate::json_path::JsonPath;
use super::Write;
use crate::apiserver::status::FieldError;
use crate::validation::{label_key_errors, label_value_errors};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeSet;

pub const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

pub fn service(service: &mut Service, write: Write<'_>) -> Vec<FieldError> {
    let spec = service.spec.get_or_insert_with(Default::default);
    let kind = spec.type_.get_or_insert_with(|| "ClusterIP".into()).clone();
    spec.session_affinity.get_or_insert_with(|| "None".into());
    if kind != "ExternalName" {
        spec.internal_traffic_policy.get_or_insert_with(|| "Cluster".into());
        spec.ip_families.get_or_insert_with(|| vec!["IPv4".into()]);
        spec.ip_family_policy.get_or_insert_with(|| "SingleStack".into());
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        spec.external_traffic_policy.get_or_insert_with(|| "Cluster".into());
    }
    for port in spec.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".into());
        port.target_port.get_or_insert(IntOrString::Int(port.port));
    }

    let mut errors = Vec::new();
    if !TYPES.contains(&kind.as_str()) {
        errors.push(FieldError::not_supported("spec.type", &kind, TYPES));
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    let headless = spec.cluster_ip.as_deref() == Some("None");
    if ports.is_empty() && kind != "ExternalName" && !headless {
        errors.push(FieldError::required("spec.ports"));
    }
    if kind == "ExternalName" && spec.external_name.as_deref().is_none_or(str::is_empty) {
        errors.push(FieldError::required("spec.externalName"));
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = |f: &str| format!("spec.ports[{i}].{f}");
        let name = port.name.as_deref().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errors.push(FieldError::required(at("name")));
        }
        if !name.is_empty() && !names.insert(name) {
            errors.push(FieldError::duplicate(at("name"), name));
        }
        if !(1..=65535).contains(&port.port) {
            errors.push(FieldError::invalid(at("port"), port.port, "must be between 1 and 65535, inclusive"));
        }
        let protocol = port.protocol.as_deref().unwrap_or_default();
        if !PROTOCOLS.contains(&protocol) {
            errors.push(FieldError::not_supported(at("protocol"), protocol, PROTOCOLS));
        }
        if let Some(IntOrString::Int(target)) = &port.target_port {
            if !(1..=65535).contains(target) {
                errors.push(FieldError::invalid(at("targetPort"), target, "must be between 1 and 65535, inclusive"));
            }
        }
        if let Some(node_port) = port.node_port {
            if kind == "ClusterIP" {
                errors.push(FieldError::forbidden(at("nodePort"), "may not be used when `type` is 'ClusterIP'"));
            } else if !(30000..=32767).contains(&node_port) {
                errors.push(FieldError::invalid(at("nodePort"), node_port, "provided port is not in the valid range. The range of valid ports is 30000-32767"));
            }
        }
    }
    for (key, value) in spec.selector.iter().flatten() {
        for e in label_key_errors(key) {
            errors.push(FieldError::invalid("spec.selector", key, e));
        }
        for e in label_value_errors(value) {
            errors.push(FieldError::invalid("spec.selector", value, e));
        }
    }
    if let Some(ip) = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty() && *ip != "None") {
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            errors.push(FieldError::invalid("spec.clusterIP", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
        }
    }
    if let Write::Update { old } = write {
        // An update that leaves clusterIP out keeps the allocated one, as
        // kubectl apply and edit rely on.
        let old_ip = old.at(&["spec", "clusterIP"]).and_then(|v| v.as_str()).map(String::from);
        if spec.cluster_ip.as_deref().is_none_or(str::is_empty) {
            spec.cluster_ip = old_ip.clone();
            spec.cluster_ips = old_ip.clone().map(|ip| vec![ip]);
        } else if spec.cluster_ip != old_ip && old_ip.is_some() && kind != "ExternalName" {
            errors.push(FieldError::invalid("spec.clusterIPs[0]", spec.cluster_ip.as_deref().unwrap_or(""), "may not change once set"));
        }
        // Allocated node ports survive updates that leave them out.
        let old_ports = old.at(&["spec", "ports"]).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        for port in spec.ports.iter_mut().flatten().filter(|p| p.node_port.is_none()) {
            let same = old_ports.iter().find(|o| o.get("port").and_then(|v| v.as_i64()) == Some(i64::from(port.port)));
            port.node_port = same.and_then(|o| o.get("nodePort")).and_then(|v| v.as_i64()).map(|n| n as i32);
        }
    }
    errors
}
