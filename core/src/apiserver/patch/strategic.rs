//! Strategic merge patch (`application/strategic-merge-patch+json`) over untyped JSON.
//!
//! Follows the server side of upstream `k8s.io/apimachinery/pkg/util/strategicpatch`
//! (`StrategicMergeMapPatch`: parallel lists are merged, unmatched nulls ignored). Upstream reads
//! list strategies from Go struct tags; here they come from [`list_strategy`]. Upstream converts the
//! result back into a typed struct, which silently drops stray `$` keys and nulls; we keep untyped
//! JSON, so values copied wholesale from the patch are cleaned of them explicitly (see `fresh`).

use std::collections::HashSet;

use serde_json::{Map, Value};

type Obj = Map<String, Value>;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList";
const ERR_RETAIN: &str = "invalid patch format of retainKeys";
const ERR_SET_ORDER: &str = "invalid patch format of setElementOrder list";
const ERR_PRIMITIVE: &str = "invalid patch format of primitive list";

/// How a list field merges, as the Go struct tags `patchStrategy`/`patchMergeKey` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Atomic: the patch's list replaces the original one.
    Replace,
    /// Elements are maps merged by the value of this key.
    MergeByKey(&'static str),
    /// Set-like merge of scalars (e.g. `metadata.finalizers`).
    MergePrimitives,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Kinds whose `status.conditions` is tagged `patchStrategy:"merge" patchMergeKey:"type"`.
const STATUS_CONDITIONS_BY_TYPE: [&str; 13] = [
    "Pod", "Node", "Namespace", "Service", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet",
    "Job", "HorizontalPodAutoscaler", "ReplicationController", "PersistentVolumeClaim", "ServiceCIDR",
];

/// Where the PodSpec sits inside each workload kind.
fn pod_spec_prefix(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "PodTemplate" => &["template", "spec"],
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" | "Job"
        | "ReplicationController" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

/// Lists inside a PodSpec (core/v1 `PodSpec`, `Container`, `EphemeralContainerCommon`).
fn pod_spec_list(rest: &[&str]) -> ListStrategy {
    use ListStrategy::{MergeByKey, Replace};
    match rest {
        [c] if CONTAINER_LISTS.contains(c) => MergeByKey("name"),
        [c, field] if CONTAINER_LISTS.contains(c) => match *field {
            "ports" => MergeByKey("containerPort"),
            "env" => MergeByKey("name"),
            "volumeMounts" => MergeByKey("mountPath"),
            "volumeDevices" => MergeByKey("devicePath"),
            _ => Replace,
        },
        ["volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims"
        | "evictionResponders"] => MergeByKey("name"),
        ["hostAliases"] => MergeByKey("ip"),
        ["topologySpreadConstraints"] => MergeByKey("topologyKey"),
        _ => Replace,
    }
}

/// Looks up the strategy of the list at `path` (field names from the object root, array indices
/// skipped, e.g. `["spec","template","spec","containers"]`) for an object of `kind`.
/// Unknown paths -> `Replace`.
pub fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    use ListStrategy::{MergeByKey, MergePrimitives, Replace};
    // ObjectMeta is embedded at the root and in every template, with the same tags everywhere.
    match path {
        [.., "metadata", "finalizers"] => return MergePrimitives,
        [.., "metadata", "ownerReferences"] => return MergeByKey("uid"),
        _ => {}
    }
    if let Some(rest) = pod_spec_prefix(kind).and_then(|prefix| path.strip_prefix(prefix)) {
        return pod_spec_list(rest);
    }
    match (kind, path) {
        ("Pod", ["status", "podIPs" | "hostIPs"]) => MergeByKey("ip"),
        ("Pod", ["status", "resourceClaimStatuses"]) => MergeByKey("name"),
        ("Pod", ["status", "nodeAllocatableResourceClaimStatuses"]) => {
            MergeByKey("resourceClaimName")
        }
        ("Node", ["spec", "podCIDRs"]) => MergePrimitives,
        ("Node", ["status", "addresses"]) => MergeByKey("type"),
        // `ports` means ServicePort here (keyed by `port`), ContainerPort inside containers.
        ("Service", ["spec", "ports"]) => MergeByKey("port"),
        ("ServiceAccount", ["secrets"]) => MergeByKey("name"),
        ("Job", ["spec", "scheduling", "resourceClaims"])
        | ("CronJob", ["spec", "jobTemplate", "spec", "scheduling", "resourceClaims"]) => {
            MergeByKey("name")
        }
        (k, ["status", "conditions"]) if STATUS_CONDITIONS_BY_TYPE.contains(&k) => MergeByKey("type"),
        _ => Replace,
    }
}

/// Applies `patch` to `original`, returns the patched object or a human-readable error.
pub fn apply(kind: &str, original: &Value, patch: &Value) -> Result<Value, String> {
    let patch = patch
        .as_object()
        .ok_or("invalid JSON document: a strategic merge patch must be a JSON object")?;
    let original = match original {
        Value::Object(m) => m.clone(),
        Value::Null => Obj::new(),
        _ => return Err("invalid JSON document: the patched object must be a JSON object".into()),
    };
    Walk { kind, path: Vec::new() }.merge_map(original, patch).map(Value::Object)
}

/// The kind being patched and the field path (indices skipped) of the value being merged.
struct Walk<'p> {
    kind: &'p str,
    path: Vec<&'p str>,
}

impl<'p> Walk<'p> {
    fn strategy(&self) -> ListStrategy {
        list_strategy(self.kind, &self.path)
    }

    fn merge_map(&mut self, mut original: Obj, patch: &'p Obj) -> Result<Obj, String> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => Ok(fresh_map(patch)),
                Some("delete") => Ok(Obj::new()),
                _ => Err(bad_patch_type(directive, patch)),
            };
        }
        retain_keys(&mut original, patch)?;
        let ordered = self.set_element_orders(&mut original, patch)?;
        for (key, patch_v) in patch {
            if key == RETAIN_KEYS || key.starts_with(SET_ORDER) || ordered.contains(key.as_str()) {
                continue;
            }
            if let Some(field) = directive_field(key, DELETE_FROM_PRIMITIVE)? {
                // Upstream ignores deletions aimed at a missing or non-list field, whatever the strategy.
                if let (Some(Value::Array(list)), Some(doomed)) =
                    (original.get_mut(field), patch_v.as_array())
                {
                    list.retain(|v| !doomed.contains(v));
                }
                continue;
            }
            if patch_v.is_null() {
                original.remove(key);
                continue;
            }
            self.path.push(key);
            let merged = match (original.get_mut(key).map(Value::take), patch_v) {
                (Some(Value::Object(o)), Value::Object(p)) => self.merge_map(o, p).map(|m| Some(m.into())),
                (Some(Value::Array(o)), Value::Array(p)) => self.merge_list(o, p).map(|l| Some(l.into())),
                // Nothing to merge into (absent, scalar, or the JSON type changed): take the patch value.
                _ => Ok(fresh(patch_v)),
            };
            self.path.pop();
            match merged? {
                Some(v) => original.insert(key.clone(), v),
                None => original.remove(key),
            };
        }
        Ok(original)
    }

    /// Handles every `$setElementOrder/<field>` together with `<field>`, returning the fields done.
    fn set_element_orders(&mut self, original: &mut Obj, patch: &'p Obj) -> Result<HashSet<&'p str>, String> {
        let mut done = HashSet::new();
        for (key, order) in patch {
            let Some(field) = directive_field(key, SET_ORDER)? else { continue };
            let order = order.as_array().ok_or(ERR_SET_ORDER)?;
            self.path.push(field);
            let result = self.ordered_list(original.get(field), patch.get(field), order);
            self.path.pop();
            if let Some(list) = result? {
                original.insert(field.to_string(), Value::Array(list));
                done.insert(field);
            }
        }
        Ok(done)
    }

    fn ordered_list(
        &mut self,
        original: Option<&Value>,
        patch: Option<&'p Value>,
        order: &[Value],
    ) -> Result<Option<Vec<Value>>, String> {
        let key = match self.strategy() {
            // kubectl never orders atomic lists; the plain field (if any) simply replaces.
            ListStrategy::Replace => return Ok(None),
            ListStrategy::MergeByKey(k) => Some(k),
            ListStrategy::MergePrimitives => None,
        };
        let original = match original {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(a),
            Some(other) => return Err(format!("expected a list to order, but found {other}")),
        };
        let patch = match patch {
            None => None,
            Some(Value::Array(a)) => Some(a),
            Some(other) => return Err(format!("expected a list next to {SET_ORDER}, but found {other}")),
        };
        if let Some(p) = patch {
            validate_order(p, order, key)?;
        }
        let merged = match (original, patch) {
            (None, None) => return Ok(None),
            (Some(o), None) => o.clone(),
            (None, Some(p)) => p.iter().filter_map(fresh).collect(),
            (Some(o), Some(p)) => self.merge_list(o.clone(), p)?,
        };
        let server = original.map(Vec::as_slice).unwrap_or_default();
        normalize(merged, &ids(order, key)?, &ids(server, key)?, key).map(Some)
    }

    fn merge_list(&mut self, mut original: Vec<Value>, patch: &'p [Value]) -> Result<Vec<Value>, String> {
        let key = match self.strategy() {
            ListStrategy::Replace => return Ok(patch.to_vec()),
            ListStrategy::MergeByKey(k) => k,
            ListStrategy::MergePrimitives => "",
        };
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        if !elements_are_maps(&original, patch)? {
            let server = original.clone();
            let mut merged: Vec<Value> = Vec::new();
            for v in original.into_iter().chain(patch.iter().cloned()) {
                if !merged.contains(&v) {
                    merged.push(v);
                }
            }
            let order: Vec<&Value> = patch.iter().collect();
            return normalize(merged, &order, &server.iter().collect::<Vec<_>>(), None);
        }
        if key.is_empty() {
            return Err(format!("cannot merge lists without merge key for {}", self.path.join(".")));
        }
        let mut plain: Vec<&'p Obj> = Vec::new();
        let mut replace = false;
        for m in patch.iter().filter_map(Value::as_object) {
            let Some(directive) = m.get(DIRECTIVE) else {
                plain.push(m);
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let id = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                    original.retain(|o| o.get(key) != Some(id));
                }
                // Upstream keeps scanning so that other directive elements are still pruned.
                Some("replace") => replace = true,
                Some("merge") => return Err("merging lists cannot yet be specified in the patch".into()),
                _ => return Err(bad_patch_type(directive, m)),
            }
        }
        if replace {
            original = plain.drain(..).map(|m| Value::Object(fresh_map(m))).collect();
        }
        let server = original.clone();
        for p in &plain {
            let id = p.get(key).ok_or_else(|| no_merge_key(p, key))?;
            match original.iter().position(|o| o.get(key) == Some(id)) {
                Some(i) => {
                    let o = match original[i].take() {
                        Value::Object(o) => o,
                        _ => unreachable!("elements_are_maps checked every element"),
                    };
                    original[i] = Value::Object(self.merge_map(o, p)?);
                }
                None => original.push(Value::Object(fresh_map(p))),
            }
        }
        let order: Vec<&Value> = plain.iter().map(|m| &m[key]).collect();
        normalize(original, &order, &ids(&server, Some(key))?, Some(key))
    }
}

/// `$retainKeys`: fields of `original` missing from the list are cleared; the patch itself may
/// only set listed fields.
fn retain_keys(original: &mut Obj, patch: &Obj) -> Result<(), String> {
    let Some(list) = patch.get(RETAIN_KEYS) else { return Ok(()) };
    let list = list.as_array().ok_or(ERR_RETAIN)?;
    let kept = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    if patch.iter().any(|(k, v)| !v.is_null() && !is_parallel_directive(k) && !kept(k)) {
        return Err(ERR_RETAIN.into());
    }
    original.retain(|k, _| kept(k));
    Ok(())
}

/// Every non-deleted patch item must appear in `$setElementOrder`, in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), String> {
    let items: Vec<&Value> = patch
        .iter()
        .filter(|v| key.is_none() || v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
        .collect();
    let (mut i, mut j) = (0, 0);
    while i < items.len() && j < order.len() {
        if items[i].get(DIRECTIVE).is_some() {
            i += 1;
            continue;
        }
        if ident(items[i], key)? == ident(&order[j], key)? {
            i += 1;
        }
        j += 1;
    }
    if i < items.len() && !order.is_empty() {
        return Err(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}\n",
            Value::from(patch.to_vec()),
            Value::from(order.to_vec())
        ));
    }
    Ok(())
}

/// Orders `merged` like upstream: items named in `order` (the patch list or `$setElementOrder`)
/// follow it; server-only items keep their relative order and are slotted in before the first
/// patch item that they preceded in `server`. New items therefore come first unless ordered.
fn normalize(merged: Vec<Value>, order: &[&Value], server: &[&Value], key: Option<&str>) -> Result<Vec<Value>, String> {
    let pos = |ids: &[&Value], id: &Value| ids.iter().position(|x| *x == id);
    let (mut from_patch, mut server_only) = (Vec::new(), Vec::new());
    for item in merged {
        let id = ident(&item, key)?.clone();
        let bucket = if pos(order, &id).is_some() { &mut from_patch } else { &mut server_only };
        bucket.push((id, item));
    }
    from_patch.sort_by_key(|(id, _)| pos(order, id).unwrap_or(usize::MAX));
    server_only.sort_by_key(|(id, _)| pos(server, id).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let (mut s, mut p) = (server_only.into_iter().peekable(), from_patch.into_iter().peekable());
    loop {
        let take_server = match (s.peek(), p.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((sid, _)), Some((pid, _))) => {
                matches!((pos(server, sid), pos(server, pid)), (Some(a), Some(b)) if a < b)
            }
        };
        let next = if take_server { s.next() } else { p.next() };
        out.extend(next.map(|(_, v)| v));
    }
    Ok(out)
}

/// What identifies a list element: its merge key's value, or the scalar itself.
fn ident<'a>(item: &'a Value, key: Option<&str>) -> Result<&'a Value, String> {
    match (key, item) {
        (None, _) => Ok(item),
        (Some(k), Value::Object(m)) => m.get(k).ok_or_else(|| no_merge_key(m, k)),
        (Some(_), other) => Err(format!("expected a map in a list merged by key, but found {other}")),
    }
}

fn ids<'a>(items: &'a [Value], key: Option<&str>) -> Result<Vec<&'a Value>, String> {
    items.iter().map(|v| ident(v, key)).collect()
}

/// Upstream merges by the elements' runtime type, which must be uniform and never a list.
fn elements_are_maps(original: &[Value], patch: &[Value]) -> Result<bool, String> {
    let mut all = original.iter().chain(patch);
    let Some(first) = all.next() else { return Ok(true) };
    if first.is_array() {
        return Err("lists of lists are not supported".into());
    }
    if all.any(|v| std::mem::discriminant(v) != std::mem::discriminant(first)) {
        return Err(format!(
            "list element types are not identical: {} and {}",
            Value::from(original.to_vec()),
            Value::from(patch.to_vec())
        ));
    }
    Ok(first.is_object())
}

/// Splits `<prefix>/<field>`; a key that starts with `prefix` but is not of that form is an error.
fn directive_field<'k>(key: &'k str, prefix: &str) -> Result<Option<&'k str>, String> {
    if !key.starts_with(prefix) {
        return Ok(None);
    }
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Ok(Some(field)),
        _ if prefix == SET_ORDER => Err(ERR_SET_ORDER.into()),
        _ => Err(ERR_PRIMITIVE.into()),
    }
}

fn is_parallel_directive(key: &str) -> bool {
    key == RETAIN_KEYS || key.starts_with(SET_ORDER) || key.starts_with(DELETE_FROM_PRIMITIVE)
}

/// A patch value with nothing to merge into, as upstream stores it: nulls mean "unset", a map
/// carrying `$patch` is dropped whole, and parallel-list directives have no list to act on.
fn fresh(v: &Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key(DIRECTIVE) => None,
        Value::Object(m) => Some(Value::Object(fresh_map(m))),
        Value::Array(a) => Some(Value::Array(a.iter().filter_map(fresh).collect())),
        other => Some(other.clone()),
    }
}

fn fresh_map(m: &Obj) -> Obj {
    m.iter()
        .filter(|(k, v)| !v.is_null() && *k != DIRECTIVE && !is_parallel_directive(k))
        .filter_map(|(k, v)| Some((k.clone(), fresh(v)?)))
        .collect()
}

fn no_merge_key(m: &Obj, key: &str) -> String {
    format!("map: {} does not contain declared merge key: {key}", Value::Object(m.clone()))
}

fn bad_patch_type(directive: &Value, m: &Obj) -> String {
    let d = directive.as_str().map_or_else(|| directive.to_string(), str::to_owned);
    format!("unknown patch type: {d} in map: {}", Value::Object(m.clone()))
}

#[cfg(test)]
mod tests {
    use super::ListStrategy::{MergeByKey, MergePrimitives, Replace};
    use super::*;
    use serde_json::json;

    /// (name, kind, original, patch, expected result)
    type Case = (&'static str, &'static str, Value, Value, Value);

    fn run(cases: Vec<Case>) {
        for (name, kind, original, patch, want) in cases {
            let got = apply(kind, &original, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
        }
    }

    fn pod(containers: Value) -> Value {
        json!({"spec": {"containers": containers}})
    }

    #[test]
    fn strategy_table() {
        let cases: &[(&str, &[&str], ListStrategy)] = &[
            ("Pod", &["spec", "containers"], MergeByKey("name")),
            ("Pod", &["spec", "initContainers", "env"], MergeByKey("name")),
            ("Pod", &["spec", "containers", "ports"], MergeByKey("containerPort")),
            ("Pod", &["spec", "containers", "volumeMounts"], MergeByKey("mountPath")),
            ("Pod", &["spec", "containers", "args"], Replace),
            ("Pod", &["spec", "tolerations"], Replace),
            ("Pod", &["spec", "volumes"], MergeByKey("name")),
            ("Pod", &["status", "conditions"], MergeByKey("type")),
            ("Pod", &["status", "containerStatuses"], Replace),
            ("Deployment", &["spec", "template", "spec", "containers", "env"], MergeByKey("name")),
            ("Deployment", &["spec", "containers"], Replace),
            ("CronJob", &["spec", "jobTemplate", "spec", "template", "spec", "containers"], MergeByKey("name")),
            ("CronJob", &["spec", "jobTemplate", "spec", "template", "metadata", "finalizers"], MergePrimitives),
            ("Service", &["spec", "ports"], MergeByKey("port")),
            ("Service", &["metadata", "ownerReferences"], MergeByKey("uid")),
            ("Endpoints", &["subsets", "ports"], Replace),
            ("EndpointSlice", &["ports"], Replace),
            ("Node", &["spec", "podCIDRs"], MergePrimitives),
            ("Node", &["spec", "taints"], Replace),
            ("Node", &["status", "addresses"], MergeByKey("type")),
            ("HorizontalPodAutoscaler", &["status", "conditions"], MergeByKey("type")),
            ("CronJob", &["status", "conditions"], Replace),
            ("ServiceAccount", &["secrets"], MergeByKey("name")),
            ("ServiceAccount", &["imagePullSecrets"], Replace),
            ("ClusterRole", &["rules"], Replace),
            ("Widget", &["spec", "containers"], Replace),
        ];
        for (kind, path, want) in cases {
            assert_eq!(list_strategy(kind, path), *want, "{kind} {path:?}");
        }
    }

    #[test]
    fn maps_and_scalars() {
        run(vec![
            ("null deletes a label, others merge", "ConfigMap",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}}),
                json!({"metadata": {"labels": {"b": null, "c": "3"}}, "data": {"k": "w"}}),
                json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "data": {"k": "w"}})),
            ("unmatched null is ignored", "Secret", json!({"type": "Opaque"}),
                json!({"data": null, "type": "Opaque"}), json!({"type": "Opaque"})),
            ("type change replaces", "ConfigMap", json!({"data": {"a": "b"}}),
                json!({"data": "x"}), json!({"data": "x"})),
            ("$patch replace on a map", "Pod", json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
                json!({"metadata": {"labels": {"c": "3"}}})),
            ("$patch delete on a map", "Pod", json!({"metadata": {"labels": {"a": "1"}, "name": "p"}}),
                json!({"metadata": {"labels": {"$patch": "delete"}}}),
                json!({"metadata": {"labels": {}, "name": "p"}})),
            ("new value is cleaned of nulls and directives", "Pod", json!({}),
                json!({"spec": {"nodeName": null, "containers": [{"name": "a", "image": null,
                    "$setElementOrder/env": [{"name": "X"}], "env": [{"name": "X"}, {"name": "Y", "$patch": "delete"}]}]}}),
                json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}]}})),
        ]);
    }

    #[test]
    fn containers() {
        let ab = json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]);
        run(vec![
            ("image change by name keeps order", "Pod", pod(ab.clone()),
                pod(json!([{"name": "b", "image": "b:2"}])),
                pod(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]))),
            ("unordered addition goes first, as upstream", "Pod", pod(ab.clone()),
                pod(json!([{"name": "c", "image": "c:1"}])),
                pod(json!([{"name": "c", "image": "c:1"}, {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]))),
            ("$setElementOrder places an addition", "Pod", pod(ab.clone()),
                json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "c"}, {"name": "b"}],
                    "containers": [{"name": "c", "image": "c:1"}]}}),
                pod(json!([{"name": "a", "image": "a:1"}, {"name": "c", "image": "c:1"}, {"name": "b", "image": "b:1"}]))),
            ("$setElementOrder reorders without content", "Pod", pod(ab.clone()),
                json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
                pod(json!([{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}]))),
            ("$setElementOrder with nothing to order does not leak", "Pod", json!({"spec": {}}),
                json!({"spec": {"$setElementOrder/initContainers": [{"name": "x"}]}}), json!({"spec": {}})),
            ("$patch delete removes a container", "Pod", pod(ab.clone()),
                pod(json!([{"name": "a", "$patch": "delete"}])),
                pod(json!([{"name": "b", "image": "b:1"}]))),
            ("$patch replace in a merge list", "Pod", pod(ab.clone()),
                pod(json!([{"$patch": "replace"}, {"name": "z", "image": "z:1"}])),
                pod(json!([{"name": "z", "image": "z:1"}]))),
            ("empty patch list is a no-op for merge lists", "Pod", pod(ab.clone()), pod(json!([])), pod(ab.clone())),
            ("null deletes the whole list", "Pod", pod(ab), json!({"spec": {"containers": null}}), json!({"spec": {}})),
            ("env add and remove with ordering", "Pod",
                pod(json!([{"name": "a", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}])),
                pod(json!([{"name": "a", "$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                    "env": [{"name": "C", "value": "3"}, {"name": "A", "$patch": "delete"}]}])),
                pod(json!([{"name": "a", "env": [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]}]))),
            ("container ports merge by containerPort", "Pod",
                pod(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}])),
                pod(json!([{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]}])),
                pod(json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}]))),
            ("args are atomic", "Pod", pod(json!([{"name": "a", "args": ["x", "y"]}])),
                pod(json!([{"name": "a", "args": ["z"]}])), pod(json!([{"name": "a", "args": ["z"]}]))),
        ]);
    }

    #[test]
    fn workloads_and_services() {
        let tmpl = |c: Value| json!({"spec": {"replicas": 1, "template": {"spec": {"containers": c}}}});
        let cron = |c: Value| json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": c}}}}}});
        run(vec![
            ("deployment pod template merges by name", "Deployment",
                tmpl(json!([{"name": "web", "image": "nginx:1"}, {"name": "side", "image": "s"}])),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}),
                tmpl(json!([{"name": "web", "image": "nginx:2"}, {"name": "side", "image": "s"}]))),
            ("cronjob nests the pod template deeper", "CronJob",
                cron(json!([{"name": "j", "image": "1"}, {"name": "k"}])), cron(json!([{"name": "k", "image": "2"}])),
                cron(json!([{"name": "j", "image": "1"}, {"name": "k", "image": "2"}]))),
            ("tolerations are atomic", "Deployment",
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}}}),
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}}),
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}})),
            ("deployment strategy $retainKeys", "Deployment",
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}})),
            ("volume source switch with $retainKeys", "Pod",
                json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]}}),
                json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["configMap", "name"],
                    "configMap": {"name": "cm"}}]}}),
                json!({"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "emptyDir": {}}]}})),
            ("service ports merge by port", "Service",
                json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}}),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]}})),
            ("endpoints subsets are atomic", "Endpoints",
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}),
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}),
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]})),
            ("node conditions merge by type", "Node",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"},
                    {"type": "DiskPressure", "status": "False"}]}}),
                json!({"status": {"$setElementOrder/conditions": [{"type": "Ready"}, {"type": "DiskPressure"}],
                    "conditions": [{"type": "Ready", "status": "True"}]}}),
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"},
                    {"type": "DiskPressure", "status": "False"}]}})),
            ("ownerReferences merge by uid", "ReplicaSet",
                json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}),
                json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}),
                json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]}})),
            ("unknown kinds replace lists", "Widget", json!({"spec": {"items": [1, 2]}}),
                json!({"spec": {"items": [3]}}), json!({"spec": {"items": [3]}})),
        ]);
    }

    #[test]
    fn primitive_lists() {
        let fin = |v: Value| json!({"metadata": {"finalizers": v}});
        run(vec![
            ("$deleteFromPrimitiveList/finalizers", "Namespace", fin(json!(["a", "b", "c", "b"])),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}), fin(json!(["a", "c"]))),
            ("deleting from a missing list adds nothing", "Pod", json!({"metadata": {}}),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}), json!({"metadata": {}})),
            ("unordered additions go first, duplicates collapse", "Pod", fin(json!(["a", "b"])),
                json!({"metadata": {"finalizers": ["b", "c"]}}), fin(json!(["a", "b", "c"]))),
            ("upstream: add an item in a list of primitives and preserve order", "Pod", fin(json!([1, 4, 2])),
                json!({"metadata": {"$setElementOrder/finalizers": [3, 1, 2], "finalizers": [3]}}),
                fin(json!([3, 1, 4, 2]))),
            ("upstream: merge lists of scalars", "Pod", fin(json!([1, 2, 4])),
                json!({"metadata": {"$setElementOrder/finalizers": [1, 2, 3], "finalizers": [3]}}),
                fin(json!([1, 2, 3, 4]))),
            ("upstream: delete an item in a list of primitives and preserve order", "Pod", fin(json!([1, 2, 3])),
                json!({"metadata": {"$setElementOrder/finalizers": [2, 1], "$deleteFromPrimitiveList/finalizers": [3]}}),
                fin(json!([2, 1]))),
            ("upstream: $deleteFromPrimitiveList works on lists without merge strategy", "Pod",
                pod(json!([{"name": "a", "args": ["x", "y"]}])),
                pod(json!([{"name": "a", "$deleteFromPrimitiveList/args": ["x"], "$setElementOrder/args": ["y"]}])),
                pod(json!([{"name": "a", "args": ["y"]}]))),
            ("node podCIDRs merge as a set", "Node", json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}}),
                json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}}), json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}})),
        ]);
    }

    #[test]
    fn upstream_server_only_ordering() {
        let list = |names: &[u32]| Value::from(names.iter().map(|n| json!({"name": n.to_string()})).collect::<Vec<_>>());
        run(vec![
            ("set elements order in a list with server-only items 2", "Pod",
                pod(list(&[1, 2, 9, 3, 4])),
                json!({"spec": {"$setElementOrder/containers": list(&[2, 1, 4, 3])}}),
                pod(list(&[2, 1, 9, 4, 3]))),
            ("set elements order in a list with server-only items 3", "Pod",
                pod(list(&[1, 2, 7, 9, 8, 3, 4])),
                json!({"spec": {"$setElementOrder/containers": list(&[2, 1, 4, 3])}}),
                pod(list(&[2, 1, 7, 9, 8, 4, 3]))),
            ("merge lists of maps", "Pod", pod(list(&[1, 2])),
                json!({"spec": {"$setElementOrder/containers": list(&[4, 1, 2, 3]), "containers": list(&[4, 3])}}),
                pod(list(&[4, 1, 2, 3]))),
        ]);
    }

    #[test]
    fn errors() {
        let cases: Vec<(&str, &str, Value, Value, &str)> = vec![
            ("missing merge key", "Pod", pod(json!([{"name": "a"}])), pod(json!([{"image": "x"}])),
                "does not contain declared merge key: name"),
            ("unknown $patch in a map", "Pod", json!({"metadata": {}}),
                json!({"metadata": {"$patch": "frobnicate"}}), "unknown patch type: frobnicate"),
            ("$patch merge in a map is rejected upstream", "Pod", json!({"metadata": {}}),
                json!({"metadata": {"$patch": "merge"}}), "unknown patch type: merge"),
            ("$patch merge in a list", "Pod", pod(json!([{"name": "a"}])),
                pod(json!([{"name": "a", "$patch": "merge"}])), "merging lists cannot yet be specified"),
            ("delete without merge key", "Pod", pod(json!([{"name": "a"}])),
                pod(json!([{"$patch": "delete"}])), "does not contain declared merge key"),
            ("$setElementOrder disagreeing with the patch list", "Pod", pod(json!([{"name": "a"}, {"name": "b"}])),
                json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "containers": [{"name": "b"}, {"name": "a"}]}}), "doesn't match"),
            ("malformed $setElementOrder key", "Pod", json!({}), json!({"$setElementOrder": []}),
                "invalid patch format of setElementOrder list"),
            ("patch field outside $retainKeys", "Deployment", json!({"spec": {"strategy": {}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
                "invalid patch format of retainKeys"),
            ("mixed element types", "Pod", json!({"metadata": {"finalizers": ["a"]}}),
                json!({"metadata": {"finalizers": [{"$patch": "replace"}]}}), "not identical"),
            ("patch must be an object", "Pod", json!({}), json!([1]), "must be a JSON object"),
        ];
        for (name, kind, original, patch, want) in cases {
            let err = apply(kind, &original, &patch).expect_err(name);
            assert!(err.contains(want), "{name}: {err}");
        }
    }
}
