//! Pod: what the registry does for this kind (defaults, validation)
//! and how kubectl prints it, as upstream's strategy and printers do.

use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize as _;

use super::prelude::*;
use crate::registry::pipeline::Scope;

pub(crate) struct Pods;

impl Strategy for Pods {
    fn default(&self, obj: &mut Value) {
        default_pod_spec(&mut obj["spec"]);
        pod_only_defaults(&mut obj["spec"]);
        if obj["status"].is_null() {
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
        validate_pod_spec(&obj["spec"], "spec", out);
        match old {
            Some(old) => validate_pod_update(obj, old, out),
            // Upstream's ValidatePodCreate: they come through the
            // subresource only.
            None if obj["spec"]["ephemeralContainers"]
                .as_array()
                .is_some_and(|a| !a.is_empty()) =>
            {
                out.push(Cause::forbidden(
                    "spec.ephemeralContainers",
                    "cannot be set on create",
                ));
            }
            None => {}
        }
    }

    /// `pods/ephemeralcontainers` has a strategy of its own upstream: the
    /// pod's spec as it stands, and only additions of ephemeral containers.
    fn validate_update(&self, scope: Scope, obj: &Value, old: &Value, out: &mut Vec<Cause>) {
        if scope == Scope::EphemeralContainers {
            validate_pod_spec(&obj["spec"], "spec", out);
            crate::registry::ephemeral::validate_update(obj, old, out);
        } else {
            self.validate(obj, Some(old), out);
        }
    }

    fn has_generation(&self) -> bool {
        true
    }

    /// The node the scheduler binds a pod to goes through the binding
    /// subresource upstream: it is not a spec change.
    fn generation_spec(&self, obj: &Value) -> Value {
        let mut spec = obj["spec"].clone();
        if let Some(m) = spec.as_object_mut() {
            m.remove("nodeName");
        }
        spec
    }

    /// A pod on a node stops gracefully: the request's period, else its
    /// `terminationGracePeriodSeconds`; one not scheduled or finished goes
    /// at once.
    fn graceful_deletion(&self, pod: &Value, requested: Option<i64>) -> i64 {
        let phase = pod["status"]["phase"].as_str().unwrap_or("");
        let scheduled = pod["spec"]["nodeName"]
            .as_str()
            .is_some_and(|s| !s.is_empty());
        if !scheduled || phase == "Succeeded" || phase == "Failed" {
            return 0;
        }
        requested
            .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(0)
            .max(0)
    }

    fn returns_deleted_object(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Col] {
        &[
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ]
    }

    fn cells(&self, o: &Value, now: jiff::Timestamp) -> Value {
        pod_cells(o, now)
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        for r in ["cpu", "memory"] {
            if !req[r].is_null() || !lim[r].is_null() {
                any = true;
            }
            let l = &lim[r];
            if l.is_null() || (!req[r].is_null() && req[r] != *l) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn pod_cells(o: &Value, now: jiff::Timestamp) -> Value {
    // kubectl's own algorithm, shared with the tutor's cluster pane. A
    // stored pod always decodes (the registry checked it against the type).
    let pod = Pod::deserialize(o).unwrap_or_default();
    let kubeprint::PodStatus {
        reason,
        ready,
        total,
        restarts,
        last_restart,
    } = kubeprint::pod_status(&pod);
    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.as_second() - t.as_second())
        ),
        _ => restarts.to_string(),
    };
    let spec = &o["spec"];
    let st = &o["status"];
    let gates = arr(&spec["readinessGates"]);
    let gates_str = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                arr(&st["conditions"])
                    .iter()
                    .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    json!([
        s(&o["metadata"]["name"]),
        format!("{ready}/{total}"),
        reason,
        restarts_str,
        since(&o["metadata"]["creationTimestamp"], now),
        or_none(s(&st["podIP"])),
        or_none(s(&spec["nodeName"])),
        or_none(s(&st["nominatedNodeName"])),
        gates_str,
    ])
}
