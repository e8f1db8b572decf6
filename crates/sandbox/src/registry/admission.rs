//! Admission: upstream's admission plugins, in their order, on every
//! write the pipeline runs (the API's and the controllers' alike).
//!
//! Mutating plugins ([`admit`]) run after defaulting, before the
//! strategy's prepare and validation: NamespaceLifecycle, LimitRanger
//! (container defaults), ServiceAccount (the token volume),
//! Priority, DefaultTolerationSeconds, DefaultStorageClass and
//! StorageObjectInUseProtection. Validating plugins ([`validate`]) run
//! after validation: LimitRanger (min/max) and PersistentVolumeClaimResize.
//! Their refusals are upstream's: 404 for a missing namespace, 403
//! `Forbidden` otherwise.

use serde_json::{Value, json};

use crate::machinery::cluster::{ROOT_CA_CONFIGMAP, SERVICE_ACCOUNT_MOUNT};
use crate::machinery::meta::{is_terminating, name_of, quantity};
use crate::machinery::resources::{self, ResourceDef};
use crate::machinery::status::{ApiError, Cause};
use crate::registry::pipeline::Scope;
use crate::storage::Store;

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Create,
    Update,
    Delete,
}

/// What a plugin knows of the request.
pub(crate) struct Attributes<'a> {
    pub op: Operation,
    pub res: &'static ResourceDef,
    /// The subresource written (`Scope::All`: an in-process controller
    /// writing the whole object).
    pub scope: Scope,
    pub ns: &'a str,
    /// The object's name ("" for a create with generateName).
    pub name: &'a str,
    pub store: &'a Store,
}

impl Attributes<'_> {
    fn is(&self, r: &ResourceDef) -> bool {
        std::ptr::eq(self.res, r) || (self.res.group == r.group && self.res.plural == r.plural)
    }

    /// A request on the main resource (not a subresource such as status).
    fn main(&self) -> bool {
        matches!(self.scope, Scope::Main | Scope::All)
    }

    /// `admission.NewForbidden`: `<resource> "<name>" is forbidden: <why>`.
    fn forbidden(&self, why: &str) -> ApiError {
        ApiError::forbidden(self.res, self.name, why)
    }
}

/// The namespaces NamespaceLifecycle never lets go.
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// The mutating plugins, in upstream's order.
pub(crate) fn admit(a: &Attributes, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    namespace_lifecycle(a)?;
    let _ = old;
    if a.op != Operation::Create || !a.main() {
        return Ok(());
    }
    if a.is(&resources::PODS) {
        limit_ranger_defaults(a, obj);
        service_account(a, obj);
        priority(obj);
        default_toleration_seconds(obj);
    }
    if a.is(&resources::PVCS) {
        default_storage_class(a, obj);
    }
    if a.is(&resources::PVCS) || a.is(&resources::PVS) {
        storage_object_in_use_protection(a, obj);
    }
    Ok(())
}

/// The validating plugins, in upstream's order.
pub(crate) fn validate(a: &Attributes, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    if a.op == Operation::Create && a.main() {
        limit_ranger_validate(a, obj)?;
    }
    if a.op == Operation::Update
        && a.scope == Scope::Main
        && a.is(&resources::PVCS)
        && let Some(old) = old
    {
        pvc_resize(a, obj, old)?;
    }
    Ok(())
}

/// NamespaceLifecycle: no content in a missing namespace, no new content
/// in one being deleted, and the cluster's own namespaces stay.
pub(crate) fn namespace_lifecycle(a: &Attributes) -> Result<(), ApiError> {
    if a.op == Operation::Delete {
        if a.is(&resources::NAMESPACES) && IMMORTAL_NAMESPACES.contains(&a.name) {
            return Err(a.forbidden("this namespace may not be deleted"));
        }
        return Ok(());
    }
    if !a.res.namespaced || a.is(&resources::NAMESPACES) {
        return Ok(());
    }
    let Some(ns) = a.store.get(&resources::NAMESPACES, "", a.ns) else {
        return Err(ApiError::not_found(&resources::NAMESPACES, a.ns));
    };
    if a.op == Operation::Create && is_terminating(&ns) {
        let mut e = a.forbidden(&format!(
            "unable to create new content in namespace {} because it is being terminated",
            a.ns
        ));
        e.add_cause(Cause {
            reason: "NamespaceTerminating",
            field: "metadata.namespace".into(),
            message: format!("namespace {} is being terminated", a.ns),
        });
        return Err(e);
    }
    Ok(())
}

/// The ServiceAccount plugin: the pod runs as `default` unless it names
/// another, and gets the `kube-api-access-xxxxx` projected volume (token,
/// CA, namespace) mounted read-only in every container, unless
/// automountServiceAccountToken is false (on the pod, else on the service
/// account) or a container already mounts something there.
fn service_account(a: &Attributes, pod: &mut Value) {
    let spec = &mut pod["spec"];
    if !spec.is_object() {
        return;
    }
    if spec["serviceAccountName"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        let from_deprecated = spec["serviceAccount"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string();
        spec["serviceAccountName"] = json!(from_deprecated);
    }
    spec["serviceAccount"] = spec["serviceAccountName"].clone();
    let account = a.store.get(
        &resources::SERVICE_ACCOUNTS,
        a.ns,
        spec["serviceAccountName"].as_str().unwrap_or("default"),
    );
    let automount = spec["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| account.and_then(|s| s["automountServiceAccountToken"].as_bool()))
        .unwrap_or(true);
    if automount {
        mount_token(spec);
    }
}

fn mount_token(spec: &mut Value) {
    let has_mount = |spec: &Value| {
        ["containers", "initContainers"].iter().any(|l| {
            spec[*l].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["volumeMounts"].as_array().is_some_and(|ms| {
                        ms.iter().any(|m| m["mountPath"] == SERVICE_ACCOUNT_MOUNT)
                    })
                })
            })
        })
    };
    if has_mount(spec) {
        return;
    }
    let name = format!(
        "kube-api-access-{}",
        crate::machinery::names::random_suffix(5)
    );
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    });
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(vols) => vols.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
    let mount = json!({"name": name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT});
    for list in ["initContainers", "containers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    Some(ms) => ms.push(mount.clone()),
                    None => c["volumeMounts"] = json!([mount.clone()]),
                }
            }
        }
    }
}

/// The Priority plugin without PriorityClasses: priority 0 and the
/// default preemption policy.
fn priority(pod: &mut Value) {
    let spec = &mut pod["spec"];
    if !spec.is_object() {
        return;
    }
    if spec["priority"].is_null() {
        spec["priority"] = json!(0);
    }
    if spec["preemptionPolicy"].is_null() {
        spec["preemptionPolicy"] = json!("PreemptLowerPriority");
    }
}

/// DefaultTolerationSeconds: every pod tolerates a not-ready or
/// unreachable node for 300 s.
fn default_toleration_seconds(pod: &mut Value) {
    let spec = &mut pod["spec"];
    if !spec.is_object() {
        return;
    }
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let Some(list) = spec["tolerations"].as_array_mut() else {
            break;
        };
        let has = list.iter().any(|t| {
            (t["key"] == key || t["key"].is_null() && t["operator"] == "Exists")
                && (t["effect"] == "NoExecute" || t["effect"].is_null())
        });
        if !has {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

/// Whether a StorageClass is marked as the default.
pub(crate) fn is_default_class(c: &Value) -> bool {
    let a = &c["metadata"]["annotations"];
    a["storageclass.kubernetes.io/is-default-class"] == "true"
        || a["storageclass.beta.kubernetes.io/is-default-class"] == "true"
}

/// The default StorageClass: of those marked so, the newest (then the
/// first by name), as upstream's `GetDefaultClass` picks it.
pub(crate) fn default_class(store: &Store) -> Option<String> {
    let (classes, _) = store.list(&resources::STORAGE_CLASSES, None);
    let mut marked: Vec<_> = classes.iter().filter(|c| is_default_class(c)).collect();
    marked.sort_by(|a, b| {
        let t = |c: &Value| {
            c["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        t(b).cmp(&t(a)).then_with(|| name_of(a).cmp(name_of(b)))
    });
    marked.first().map(|c| name_of(c).to_string())
}

/// The class a claim names (field, else the beta annotation).
pub(crate) fn claim_class(pvc: &Value) -> Option<&str> {
    pvc["spec"]["storageClassName"].as_str().or_else(|| {
        pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"].as_str()
    })
}

/// DefaultStorageClass: a claim with no class at all (not even `""`)
/// gets the default one.
fn default_storage_class(a: &Attributes, pvc: &mut Value) {
    if claim_class(pvc).is_some() || !pvc["spec"].is_object() {
        return;
    }
    if let Some(class) = default_class(a.store) {
        pvc["spec"]["storageClassName"] = json!(class);
    }
}

/// StorageObjectInUseProtection: new claims and volumes carry the
/// protection finalizer the protection controllers remove once unused.
fn storage_object_in_use_protection(a: &Attributes, obj: &mut Value) {
    let f = if a.is(&resources::PVS) {
        "kubernetes.io/pv-protection"
    } else {
        "kubernetes.io/pvc-protection"
    };
    let meta = &mut obj["metadata"];
    if !meta["finalizers"].is_array() {
        meta["finalizers"] = json!([]);
    }
    if let Some(list) = meta["finalizers"].as_array_mut()
        && !list.iter().any(|x| x == f)
    {
        list.push(json!(f));
    }
}

/// PersistentVolumeClaimResize: a claim grows only once bound, and only
/// when its class allows volume expansion.
fn pvc_resize(a: &Attributes, new: &Value, old: &Value) -> Result<(), ApiError> {
    let size = |v: &Value| quantity(&v["spec"]["resources"]["requests"]["storage"]).unwrap_or(0.0);
    if size(new) <= size(old) {
        return Ok(());
    }
    if old["status"]["phase"] != "Bound" {
        return Err(a.forbidden("Only bound persistent volume claims can be expanded"));
    }
    let allowed = match (claim_class(new), claim_class(old)) {
        (Some(n), Some(o)) if !n.is_empty() && n == o => a
            .store
            .get(&resources::STORAGE_CLASSES, "", n)
            .is_some_and(|c| c["allowVolumeExpansion"].as_bool() == Some(true)),
        _ => false,
    };
    if !allowed {
        return Err(a.forbidden(
            "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
        ));
    }
    Ok(())
}

/// The LimitRanges of the request's namespace.
fn limit_ranges(a: &Attributes) -> Vec<std::sync::Arc<Value>> {
    a.store.list(&resources::LIMIT_RANGES, Some(a.ns)).0
}

/// The limits of one type (`Container`, `PersistentVolumeClaim`) in every
/// LimitRange of the namespace.
fn limits_of<'v>(ranges: &'v [std::sync::Arc<Value>], kind: &str) -> Vec<&'v Value> {
    ranges
        .iter()
        .flat_map(|r| r["spec"]["limits"].as_array().into_iter().flatten())
        .filter(|l| l["type"] == kind)
        .collect()
}

/// LimitRanger's defaults: containers without requests or limits get the
/// `Container` type's `defaultRequest` and `default`.
fn limit_ranger_defaults(a: &Attributes, pod: &mut Value) {
    let ranges = limit_ranges(a);
    let limits = limits_of(&ranges, "Container");
    if limits.is_empty() {
        return;
    }
    for list in ["initContainers", "containers"] {
        let Some(cs) = pod["spec"][list].as_array_mut() else {
            continue;
        };
        for c in cs.iter_mut().filter(|c| c.is_object()) {
            for l in &limits {
                for (field, from) in [("limits", "default"), ("requests", "defaultRequest")] {
                    let Some(defaults) = l[from].as_object() else {
                        continue;
                    };
                    for (res, q) in defaults {
                        if c["resources"][field][res].is_null() {
                            c["resources"][field][res] = q.clone();
                        }
                    }
                }
                // A limit without a request: the request is the limit.
                if let Some(lims) = c["resources"]["limits"].as_object().cloned() {
                    for (res, q) in lims {
                        if c["resources"]["requests"][&res].is_null() {
                            c["resources"]["requests"][&res] = q;
                        }
                    }
                }
            }
        }
    }
}

/// LimitRanger's checks: `min` and `max` of the `Container` and
/// `PersistentVolumeClaim` types.
fn limit_ranger_validate(a: &Attributes, obj: &Value) -> Result<(), ApiError> {
    let is_pod = a.is(&resources::PODS);
    if !is_pod && !a.is(&resources::PVCS) {
        return Ok(());
    }
    let ranges = limit_ranges(a);
    let mut errs: Vec<String> = Vec::new();
    if is_pod {
        for l in limits_of(&ranges, "Container") {
            for list in ["initContainers", "containers"] {
                for c in obj["spec"][list].as_array().into_iter().flatten() {
                    let r = &c["resources"];
                    check_range(
                        l,
                        "Container",
                        &r["requests"],
                        Some(&r["limits"]),
                        &mut errs,
                    );
                }
            }
        }
    } else {
        for l in limits_of(&ranges, "PersistentVolumeClaim") {
            let requests = &obj["spec"]["resources"]["requests"];
            check_range(l, "PersistentVolumeClaim", requests, None, &mut errs);
        }
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(a.forbidden(&errs[0])),
        _ => Err(a.forbidden(&format!("[{}]", errs.join(", ")))),
    }
}

/// One LimitRange item's `min` and `max` against requests and limits
/// (`limits` is None for kinds that have only requests, such as claims).
fn check_range(
    item: &Value,
    kind: &str,
    requests: &Value,
    limits: Option<&Value>,
    errs: &mut Vec<String>,
) {
    let text = |q: &Value| q.as_str().map_or_else(|| q.to_string(), str::to_string);
    for (res, min) in item["min"].as_object().into_iter().flatten() {
        let m = text(min);
        let req = &requests[res];
        let lim = limits.map_or(&Value::Null, |l| &l[res]);
        match quantity(req) {
            None => errs.push(format!(
                "minimum {res} usage per {kind} is {m}.  No request is specified"
            )),
            Some(r) if r < quantity(min).unwrap_or(0.0) => errs.push(format!(
                "minimum {res} usage per {kind} is {m}, but request is {}",
                text(req)
            )),
            _ => {
                if quantity(lim).is_some_and(|l| l < quantity(min).unwrap_or(0.0)) {
                    errs.push(format!(
                        "minimum {res} usage per {kind} is {m}, but limit is {}",
                        text(lim)
                    ));
                }
            }
        }
    }
    for (res, max) in item["max"].as_object().into_iter().flatten() {
        let m = text(max);
        let top = quantity(max).unwrap_or(f64::MAX);
        match limits {
            Some(limits) => {
                let lim = &limits[res];
                match quantity(lim) {
                    None => errs.push(format!(
                        "maximum {res} usage per {kind} is {m}.  No limit is specified"
                    )),
                    Some(l) if l > top => errs.push(format!(
                        "maximum {res} usage per {kind} is {m}, but limit is {}",
                        text(lim)
                    )),
                    _ => {}
                }
            }
            None => {
                let req = &requests[res];
                match quantity(req) {
                    None => errs.push(format!(
                        "maximum {res} usage per {kind} is {m}.  No request is specified"
                    )),
                    Some(r) if r > top => errs.push(format!(
                        "maximum {res} usage per {kind} is {m}, but request is {}",
                        text(req)
                    )),
                    _ => {}
                }
            }
        }
    }
}
