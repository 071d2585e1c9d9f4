//! Writes: create (with generateName and address allocation), update of the
//! object or its status, and the pod-only binding and eviction.

use crate::json_path::JsonPath;
use super::resources::{RequestTarget, PODS, PRIORITY_CLASSES, SERVICES};
use super::status::{self, FieldError};
use super::strategy::{self, Write};
use super::{already_exists, is_dry_run, set_condition, ApiError, ApiRequest, ApiServer, FieldValidation, Written};
use crate::object_meta;
use crate::store::{resource_version, StoreError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

impl ApiServer {
    pub(super) fn create(&mut self, req: &ApiRequest, target: &RequestTarget, mut body: Value, now: Timestamp) -> Result<Written, ApiError> {
        Self::check_identity(&mut body, target)?;
        self.check_namespace_usable(target)?;
        let meta = &mut body["metadata"];
        let has_name = meta.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        if !has_name {
            if let Some(prefix) = meta.get("generateName").and_then(Value::as_str).filter(|p| !p.is_empty()) {
                let name = format!("{prefix}{}", self.identity.name_suffix());
                meta["name"] = json!(name);
            }
        }
        for server_owned in ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            if let Some(m) = body["metadata"].as_object_mut() {
                m.remove(server_owned);
            }
        }
        // The UID is set before the strategy runs: a Job's selector is made from it.
        body["metadata"]["uid"] = json!(self.identity.uid());
        let validation = FieldValidation::parse(req.query_param("fieldValidation").as_deref())?;
        if target.resource.plural == PODS.plural {
            // Admission, in kube-apiserver's order: Priority, then DefaultTolerationSeconds.
            // Only the classes it could use: the one it names, or the global defaults.
            let classes_at = PRIORITY_CLASSES.storage_name();
            let classes: Vec<_> = match body.at(&["spec", "priorityClassName"]).and_then(Value::as_str).filter(|n| !n.is_empty()) {
                Some(named) => self.store.get_at(&classes_at, "", named).into_iter().map(|c| strategy::pod::PriorityClassInfo::of(c)).collect(),
                None => self.store.list(&classes_at, None).filter(|(_, c)| c["globalDefault"] == true).map(|(_, c)| strategy::pod::PriorityClassInfo::of(c)).collect(),
            };
            strategy::pod::admit_priority(&mut body, &classes)?;
            self.admission.default_toleration_seconds(&mut body);
        }
        let warnings = strategy::prepare(target.resource, &mut body, Write::Create, validation, now)?;
        if target.resource.plural == SERVICES.plural {
            self.allocate_service_addresses(&mut body)?;
        }
        Self::check_size(&body)?;
        let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let key = Self::key(target, &name);
        let object = if is_dry_run(req)? {
            if self.store.get(&key).is_some() {
                return Err(already_exists(target.resource, &name));
            }
            Arc::new(body)
        } else {
            match self.store.create(key, body) {
                Ok(stored) => stored,
                Err(StoreError::AlreadyExists(_)) => return Err(already_exists(target.resource, &name)),
                Err(e) => return Err(ApiError::bad_request(e.to_string())),
            }
        };
        Ok(Written { object, warnings })
    }

    /// PUT of the object, its status or (namespaces) its finalizers.
    pub(super) fn update(&mut self, req: &ApiRequest, target: &RequestTarget, mut body: Value, now: Timestamp) -> Result<Written, ApiError> {
        let name = target.name.clone().unwrap_or_default();
        Self::check_identity(&mut body, target)?;
        let body_name = body["metadata"].get("name").and_then(Value::as_str).unwrap_or("");
        if body_name.is_empty() {
            body["metadata"]["name"] = json!(name);
        } else if body_name != name {
            return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
        }
        let old = self.get(target)?;
        let expected = match body["metadata"].get("resourceVersion").and_then(Value::as_str) {
            None | Some("") => None,
            Some(rv) => Some(rv.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?),
        };
        let validation = FieldValidation::parse(req.query_param("fieldValidation").as_deref())?;
        let warnings = match target.subresource.as_deref() {
            Some("status") => strategy::prepare(target.resource, &mut body, Write::UpdateStatus { old: &old }, validation, now)?,
            Some("finalize") => {
                // Only spec.finalizers may change through /finalize.
                let finalizers = body.at(&["spec", "finalizers"]).cloned().unwrap_or(json!([]));
                body = (*old).clone();
                body["spec"]["finalizers"] = finalizers;
                Vec::new()
            }
            _ => {
                if old.at(&["metadata", "deletionTimestamp"]).is_some() {
                    Self::refuse_new_finalizers(&old, &body)?;
                }
                if target.resource.plural == PODS.plural {
                    // What the client left out keeps what admission gave it.
                    self.admission.default_toleration_seconds(&mut body);
                }
                strategy::prepare(target.resource, &mut body, Write::Update { old: &old }, validation, now)?
            }
        };
        Self::check_size(&body)?;
        if is_dry_run(req)? {
            return Ok(Written { object: Arc::new(body), warnings });
        }
        let key = Self::key(target, &name);
        if Self::deletion_is_complete(&body) {
            // The last finalizer is gone from an object being deleted: delete it now.
            self.store.update(key.clone(), body, expected).map_err(|e| Self::write_error(target, &name, e))?;
            let deleted = self.store.delete(&key, None).map_err(|e| Self::write_error(target, &name, e))?;
            self.forget(target, &deleted);
            return Ok(Written { object: deleted, warnings });
        }
        let object = self.store.update(key, body, expected).map_err(|e| Self::write_error(target, &name, e))?;
        Ok(Written { object, warnings })
    }

    /// Kubernetes refuses new finalizers on an object that is being deleted.
    fn refuse_new_finalizers(old: &Value, new: &Value) -> Result<(), ApiError> {
        let before = object_meta::finalizers(old);
        if let Some(added) = object_meta::finalizers(new).into_iter().find(|f| !before.contains(f)) {
            return Err(ApiError::Forbidden { message: format!("no new finalizers can be added if the object is being deleted, found new finalizers [{added}]") });
        }
        Ok(())
    }

    /// An object marked for deletion with no finalizers left and no grace period to wait out.
    pub(super) fn deletion_is_complete(object: &Value) -> bool {
        let grace = object.at(&["metadata", "deletionGracePeriodSeconds"]).and_then(Value::as_i64).unwrap_or(0);
        object_meta::is_being_deleted(object) && !object_meta::is_held(object) && grace == 0
    }

    pub(super) fn write_error(target: &RequestTarget, name: &str, e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict { .. } => ApiError::Conflict {
                resource: target.resource.storage_name().into_owned(),
                name: name.to_string(),
                message: "the object has been modified; please apply your changes to the latest version and try again".into(),
            },
            StoreError::NotFound(_) => Self::not_found(target.resource, name),
            other => ApiError::bad_request(other.to_string()),
        }
    }

    /// Gives a new Service its cluster IP (from 10.96.0.0/12, as kubeadm's
    /// default range) and node ports (30000-32767), lowest free first.
    fn allocate_service_addresses(&self, service: &mut Value) -> Result<(), ApiError> {
        let storage = SERVICES.storage_name();
        let existing: Vec<&Value> = self.store.list(&storage, None).map(|(_, s)| s.as_ref()).collect();
        let kind = service.at(&["spec", "type"]).and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
        if kind == "ExternalName" {
            return Ok(());
        }
        let requested = service.at(&["spec", "clusterIP"]).and_then(Value::as_str).unwrap_or("").to_string();
        let used: std::collections::BTreeSet<&str> = existing.iter().filter_map(|s| s.at(&["spec", "clusterIP"]).and_then(Value::as_str)).collect();
        let ip = match requested.as_str() {
            "None" => "None".to_string(),
            "" => {
                let base = u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0));
                let free = (1..(1u32 << 20) - 1).map(|i| std::net::Ipv4Addr::from(base + i).to_string()).find(|ip| !used.contains(ip.as_str()));
                free.ok_or_else(|| ApiError::Forbidden { message: "failed to allocate a serviceIP: range is full".into() })?
            }
            ip if used.contains(ip) => {
                return Err(ApiError::Invalid {
                    group: String::new(),
                    kind: "Service".into(),
                    name: service.at(&["metadata", "name"]).and_then(Value::as_str).unwrap_or("").into(),
                    causes: vec![FieldError::invalid("spec.clusterIPs", ip, "failed to allocate IP: provided IP is already allocated")],
                })
            }
            ip => ip.to_string(),
        };
        service["spec"]["clusterIP"] = json!(ip);
        service["spec"]["clusterIPs"] = json!([ip]);
        if kind == "NodePort" || kind == "LoadBalancer" {
            let mut used_ports: std::collections::BTreeSet<i64> = existing
                .iter()
                .flat_map(|s| s.at(&["spec", "ports"]).and_then(Value::as_array).cloned().unwrap_or_default())
                .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                .collect();
            for port in service.at_mut(&["spec", "ports"]).and_then(Value::as_array_mut).into_iter().flatten() {
                if port.get("nodePort").and_then(Value::as_i64).is_none() {
                    let free = (30000..=32767).find(|p| !used_ports.contains(p)).ok_or_else(|| ApiError::Forbidden { message: "failed to allocate a nodePort: range is full".into() })?;
                    used_ports.insert(free);
                    port["nodePort"] = json!(free);
                }
            }
        }
        Ok(())
    }

    /// `pods/{name}/binding`: the scheduler's way to set `spec.nodeName`.
    pub(super) fn bind(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<(), ApiError> {
        let body = Self::body_ref(req)?;
        let node = body.at(&["target", "name"]).and_then(Value::as_str).unwrap_or("");
        let pod_name = target.name.clone().unwrap_or_default();
        if node.is_empty() {
            return Err(ApiError::Invalid { group: String::new(), kind: "Binding".into(), name: pod_name, causes: vec![status::FieldError::required("target.name")] });
        }
        let old = self.get(target)?;
        if let Some(current) = old.at(&["spec", "nodeName"]).and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return Err(ApiError::Conflict {
                resource: PODS.storage_name().into_owned(),
                name: pod_name.clone(),
                message: format!("pod {pod_name} is already assigned to node \"{current}\""),
            });
        }
        if old.at(&["metadata", "deletionTimestamp"]).is_some() {
            return Err(ApiError::Conflict { resource: PODS.storage_name().into_owned(), name: pod_name, message: "pod is being deleted".into() });
        }
        let mut pod = (*old).clone();
        pod["spec"]["nodeName"] = json!(node);
        set_condition(&mut pod, json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": Time(now)}));
        let key = Self::key(target, &pod_name);
        self.store.update(key, pod, resource_version(&old)).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(())
    }

    /// `pods/{name}/eviction`: a graceful delete on behalf of a drain. There
    /// are no PodDisruptionBudgets to consult, so every eviction is allowed.
    pub(super) fn evict(&mut self, req: &ApiRequest, target: &RequestTarget, now: Timestamp) -> Result<Value, ApiError> {
        let body = Self::body(req)?;
        let options = body.get("deleteOptions").cloned().unwrap_or(json!({}));
        let delete = ApiRequest { method: super::Method::Delete, body: Some(options), ..req.clone() };
        self.delete(&delete, target, now)?;
        Ok(status::success_status(json!({"name": target.name, "kind": "pods"})))
    }
}
