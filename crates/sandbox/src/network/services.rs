//! What a Service selects, as the pods' network and the endpoints see it:
//! its ready pods, and a service port resolved against a pod's ports.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::{is_terminating, namespace_of};
use crate::machinery::resources;
use crate::machinery::selectors::LabelSelector;
use crate::storage::Store;

/// The pods a service selects (not terminating, with an IP).
pub fn selected_pods(store: &Store, svc: &Value) -> Vec<Arc<Value>> {
    let sel = &svc["spec"]["selector"];
    let Some(map) = sel.as_object().filter(|m| !m.is_empty()) else {
        return Vec::new();
    };
    let selector = LabelSelector::from_object(&json!({"matchLabels": map}));
    let Some(selector) = selector else {
        return Vec::new();
    };
    // Only pods on the node have addresses.
    let (pods, _) = store.list_stored(&resources::PODS, Some(namespace_of(svc)));
    pods.iter()
        .filter(|p| !p.facts.node.is_empty() && !p.facts.terminating && !p.facts.finished)
        .map(|p| Arc::new(p.value()))
        .filter(|p| {
            selector.matches(&p["metadata"]["labels"])
                && !is_terminating(p)
                && p["status"]["podIP"].is_string()
                && p["status"]["phase"] != "Succeeded"
                && p["status"]["phase"] != "Failed"
        })
        .collect()
}

/// A service port's targetPort resolved in `pod` (a named port looks up
/// the containers' ports).
pub fn target_port(svc_port: &Value, pod: &Value) -> Option<u16> {
    let tp = &svc_port["targetPort"];
    let tp = if tp.is_null() { &svc_port["port"] } else { tp };
    match tp {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => match s.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => container_port_named(pod, s),
        },
        _ => None,
    }
}

/// The containerPort of the pod's port called `name`.
pub fn container_port_named(pod: &Value, name: &str) -> Option<u16> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}
