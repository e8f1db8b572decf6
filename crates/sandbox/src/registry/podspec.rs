//! Pod specs, shared by pods and every pod template (Deployments,
//! ReplicaSets, Jobs...): upstream's `SetDefaults_PodSpec`, container
//! defaults, what only a pod gets, and the pod spec's validation.

use serde_json::{Value, json};

pub(crate) use super::podvalidation::validate_pod_spec;
use super::validation::{go_map, go_selector};
use super::{Cause, set_default};

pub(crate) fn default_template(t: &mut Value) {
    if t.is_object() {
        if t["metadata"].is_null() {
            t["metadata"] = json!({});
        }
        default_pod_spec(&mut t["spec"]);
    }
}

/// `SetDefaults_PodSpec`: what pods and pod templates both get.
pub(crate) fn default_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    // Absent, not null: upstream omits empty fields.
    m.retain(|_, v| !v.is_null());
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                default_container(c);
            }
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols.iter_mut().filter(|v| v.is_object()) {
            for src in ["configMap", "secret", "projected", "downwardAPI"] {
                if v[src].is_object() {
                    set_default(&mut v[src], "defaultMode", json!(420));
                }
            }
            if v["hostPath"].is_object() {
                set_default(&mut v["hostPath"], "type", json!(""));
            }
            if let Some(items) = v
                .get_mut("downwardAPI")
                .and_then(|d| d.get_mut("items"))
                .and_then(Value::as_array_mut)
            {
                for it in items.iter_mut() {
                    default_field_ref(it);
                }
            }
        }
    }
}

/// What only a pod gets, not a template: `SetDefaults_Pod`
/// (enableServiceLinks). The service account, priority and default
/// tolerations are admission's, on create (see `registry::admission`).
pub(crate) fn pod_only_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "enableServiceLinks", json!(true));
}

/// `SetDefaults_ObjectFieldSelector`: a fieldRef's apiVersion is v1.
pub(crate) fn default_field_ref(holder: &mut Value) {
    if holder["fieldRef"].is_object() {
        set_default(&mut holder["fieldRef"], "apiVersion", json!("v1"));
    }
}

pub(crate) fn default_container(c: &mut Value) {
    let policy = match c["image"].as_str() {
        Some(img) => pull_policy(img),
        None => "IfNotPresent",
    };
    set_default(c, "imagePullPolicy", json!(policy));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(vf) = e.get_mut("valueFrom") {
                default_field_ref(vf);
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let p = &mut c[probe];
        if p.is_object() {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            if p["httpGet"].is_object() {
                set_default(&mut p["httpGet"], "path", json!("/"));
                set_default(&mut p["httpGet"], "scheme", json!("HTTP"));
            }
            // The generated defaulter's `+default=""` on GRPCAction.Service.
            if p["grpc"].is_object() {
                set_default(&mut p["grpc"], "service", json!(""));
            }
        }
    }
    strip_null_probes(c);
}

pub(crate) fn strip_null_probes(c: &mut Value) {
    if let Some(m) = c.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent` (upstream's rule).
pub(crate) fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

pub(crate) fn selector_matches_template(spec: &Value) -> bool {
    let labels = &spec["template"]["metadata"]["labels"];
    crate::machinery::selectors::label_selector_matches(&spec["selector"], labels)
}

/// What Deployments and ReplicaSets (and every controller of replicated
/// pods) check: a selector that matches the template's labels and never
/// changes, a replica count of at least 0, and the template's pod spec.
pub(crate) fn validate_replicated(obj: &Value, old: Option<&Value>, out: &mut Vec<Cause>) {
    let spec = &obj["spec"];
    if spec["selector"].is_null() {
        out.push(Cause::required("spec.selector"));
    } else if !selector_matches_template(spec) {
        out.push(Cause::invalid(
            "spec.template.metadata.labels",
            &go_map(&spec["template"]["metadata"]["labels"]),
            "`selector` does not match template `labels`",
        ));
    }
    if spec["replicas"].as_i64().is_some_and(|r| r < 0) {
        out.push(Cause::invalid(
            "spec.replicas",
            &spec["replicas"],
            "must be greater than or equal to 0",
        ));
    }
    validate_pod_spec(&spec["template"]["spec"], "spec.template.spec", out);
    let rp = spec["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always");
    if rp != "Always" {
        out.push(Cause::unsupported(
            "spec.template.spec.restartPolicy",
            rp,
            &["Always"],
        ));
    }
    if let Some(old) = old
        && old["spec"]["selector"] != spec["selector"]
    {
        out.push(Cause::invalid(
            "spec.selector",
            &go_selector(&spec["selector"]),
            "field is immutable",
        ));
    }
}
