//! The registry: the request pipeline every kind shares, between the
//! API server's decoding and storage, in upstream's order:
//!
//! defaulting → field managers → mutating admission → prepare (the
//! strategy's PrepareForCreate/Update: server-set fields, status vs spec,
//! generation) → validation (with update rules and immutability) →
//! validating admission → the dry-run branch → storage → watch.
//!
//! [`pipeline`] runs it (create, update with retries on conflicts,
//! graceful deletion with finalizers in [`deletion`]); [`admission`] holds
//! the admission plugins; each kind's own rules are in [`kinds`], one file
//! per kind, behind the [`Strategy`] trait; what several kinds share is in
//! [`podspec`], [`validation`] and [`printing`]. In-process controllers
//! write through the same pipeline (see `runtime`).

pub(crate) mod admission;
pub(crate) mod bootstrap;
mod bootstrap_rbac;
pub(crate) mod deletion;
mod ephemeral;
mod kinds;
pub(crate) mod managedfields;
mod objectmeta;
pub(crate) mod pipeline;
pub(crate) mod podspec;
pub(crate) mod podvalidation;
pub(crate) mod printing;
pub(crate) mod typed;
pub(crate) mod validation;

use serde_json::{Value, json};

use crate::machinery::resources::ResourceDef;
pub(crate) use crate::machinery::status::Cause;
pub(crate) use kinds::{strategy, template_generation};
use pipeline::Scope;
use printing::{AGE, Col, NAME, s, since};

/// Which of upstream's name rules a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// A DNS subdomain (most kinds).
    Subdomain,
    /// A path segment (RBAC kinds: `system:basic-user`).
    PathSegment,
    /// A DNS label (namespaces).
    Label,
    /// A DNS-1035 label (services).
    Dns1035,
}

/// What the registry does for one kind, as upstream's per-kind strategy
/// (defaults, validation) and printer (columns, cells) do.
pub(crate) trait Strategy: Sync {
    /// The rule `metadata.name` follows.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// What upstream's conversion from the served version does to a
    /// request's object before anything else (a Secret's write-only
    /// `stringData` folded into `data`).
    fn convert(&self, _obj: &mut Value) {}

    /// Upstream's defaults (`SetDefaults_*`), applied to every object written.
    fn default(&self, _obj: &mut Value) {}

    /// The kind's own validation; `old` is the stored version on updates
    /// (upstream's ValidateUpdate: immutable fields, allowed changes).
    /// The metadata every kind has is checked before (see [`validate`]).
    fn validate(&self, _obj: &Value, _old: Option<&Value>, _out: &mut Vec<Cause>) {}

    /// The rules of an update through `scope`: the kind's own update
    /// validation, unless a subresource has a strategy of its own
    /// upstream (`pods/ephemeralcontainers`).
    fn validate_update(&self, _scope: Scope, obj: &Value, old: &Value, out: &mut Vec<Cause>) {
        self.validate(obj, Some(old), out);
    }

    /// Whether objects keep `metadata.generation` (1 on create, bumped
    /// when [`Strategy::generation_spec`] changes).
    fn has_generation(&self) -> bool {
        false
    }

    /// What counts as the spec for the generation: everything but
    /// metadata and status.
    fn generation_spec(&self, obj: &Value) -> Value {
        let mut c = obj.clone();
        if let Some(m) = c.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        c
    }

    /// Whether the status a client sends on create is kept (upstream
    /// resets it for kinds with a status subresource, except nodes).
    fn keeps_status_on_create(&self) -> bool {
        false
    }

    /// The kind's PrepareForCreate, after the generic part (system
    /// fields, status reset, generation).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// The kind's PrepareForUpdate, after the generic part.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Whether an update without `metadata.resourceVersion` is accepted
    /// (it then applies to whatever version is stored).
    fn allow_unconditional_update(&self) -> bool {
        true
    }

    /// Whether a PUT of a missing object creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// Seconds a delete waits before the object goes (pods: their
    /// termination grace period); 0 deletes at once.
    fn graceful_deletion(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// What a delete changes besides the deletion timestamp (a namespace
    /// turns `Terminating`).
    fn prepare_for_delete(&self, _obj: &mut Value) {}

    /// Whether the kind's own finalization is done (a namespace's
    /// `spec.finalizers`); the object goes only then.
    fn finalized(&self, _obj: &Value) -> bool {
        true
    }

    /// Whether a delete answers the deleted object rather than a
    /// `Status` (upstream's `ReturnDeletedObject`).
    fn returns_deleted_object(&self) -> bool {
        false
    }

    /// kubectl's columns for the kind.
    fn columns(&self) -> &'static [Col] {
        &[NAME, AGE]
    }

    /// One row of the kind's table.
    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        json!([
            s(&o["metadata"]["name"]),
            since(&o["metadata"]["creationTimestamp"], now)
        ])
    }
}

/// Sets `key` of the object `v` when it is absent or null.
pub(crate) fn set_default(v: &mut Value, key: &str, default: Value) {
    if v.is_object() && v.get(key).is_none_or(Value::is_null) {
        v[key] = default;
    }
}

/// Applies upstream's defaults to an object about to be stored.
#[cfg(test)]
pub(crate) fn apply_defaults(res: &ResourceDef, obj: &mut Value) {
    strategy(res).default(obj);
}

/// Validates an object; `old` is the stored version on updates: the
/// metadata every kind has, then the kind's own rules.
pub(crate) fn validate(res: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut out = Vec::new();
    let s = strategy(res);
    objectmeta::validate(s.name_rule(), res.group.is_empty(), obj, old, &mut out);
    if obj["metadata"]["name"].as_str().is_none_or(str::is_empty) {
        return out;
    }
    s.validate(obj, old, &mut out);
    out
}

/// Validates an update through `scope` of the stored `old`: the metadata
/// every kind has, then the rules of the kind (or of its subresource).
pub(crate) fn validate_update(
    res: &ResourceDef,
    scope: Scope,
    obj: &Value,
    old: &Value,
) -> Vec<Cause> {
    let mut out = Vec::new();
    let s = strategy(res);
    objectmeta::validate(
        s.name_rule(),
        res.group.is_empty(),
        obj,
        Some(old),
        &mut out,
    );
    if obj["metadata"]["name"].as_str().is_none_or(str::is_empty) {
        return out;
    }
    s.validate_update(scope, obj, old, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::resources::{self};

    #[test]
    fn pod_defaults() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "d", "image": "nginx:1.27"}]}});
        apply_defaults(&resources::PODS, &mut p);
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(
            p["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["status"]["phase"], "Pending");
        assert!(validate(&resources::PODS, &p, None).is_empty());
    }

    #[test]
    fn templates_get_pod_spec_defaults_only() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx:1.25",
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}]});
        let mut d = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}});
        apply_defaults(&resources::DEPLOYMENTS, &mut d);
        let t = &d["spec"]["template"]["spec"];
        for k in [
            "restartPolicy",
            "dnsPolicy",
            "schedulerName",
            "terminationGracePeriodSeconds",
            "securityContext",
        ] {
            assert!(!t[k].is_null(), "{k}");
        }
        for k in [
            "serviceAccountName",
            "serviceAccount",
            "priority",
            "preemptionPolicy",
            "enableServiceLinks",
            "tolerations",
            "volumes",
            "initContainers",
        ] {
            assert!(t.get(k).is_none(), "{k} in {t}");
        }
        assert_eq!(
            t["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
            "v1"
        );
        assert!(t["containers"][0].get("ports").is_none());

        let mut p = json!({"metadata": {"name": "p"}, "spec": spec.clone()});
        apply_defaults(&resources::PODS, &mut p);
        assert_eq!(p["spec"]["enableServiceLinks"], true);
        // The service account, priority and tolerations are admission's.
        assert!(p["spec"].get("serviceAccountName").is_none());

        let mut pv = json!({"metadata": {"name": "v"}, "spec": {"hostPath": {"path": "/mnt/x"}}});
        apply_defaults(&resources::PVS, &mut pv);
        assert_eq!(pv["spec"]["hostPath"]["type"], "");
    }

    #[test]
    fn names_and_required_fields() {
        let p = json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}});
        let causes = validate(&resources::PODS, &p, None);
        assert_eq!(causes[0].field, "metadata.name");
        assert!(causes.iter().any(|c| c.field == "spec.containers[0].image"));
        let pvc = json!({"metadata": {"name": "c"}, "spec": {}});
        let causes = validate(&resources::PVCS, &pvc, None);
        assert_eq!(causes.len(), 2);
    }
}
