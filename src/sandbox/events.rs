//! Recording `Event`s (core/v1) about objects, as upstream components do,
//! so that `kubectl describe` and `kubectl get events` show them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::resources;
use super::status::ApiError;
use super::store::{Store, name_of, namespace_of, now_rfc3339};

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Normal,
    Warning,
}

/// Records an event about `involved` (a stored object). Cluster-scoped
/// objects get their events in `default`, as upstream does.
pub fn record(
    store: &Store,
    involved: &Value,
    kind: EventKind,
    reason: &str,
    message: &str,
    component: &str,
) -> Result<Arc<Value>, ApiError> {
    let ns = match namespace_of(involved) {
        "" => "default",
        ns => ns,
    };
    let now = now_rfc3339();
    let nanos = jiff::Timestamp::now().as_nanosecond();
    let mut io = json!({
        "kind": involved["kind"],
        "name": name_of(involved),
        "uid": involved["metadata"]["uid"],
        "apiVersion": involved["apiVersion"],
        "resourceVersion": involved["metadata"]["resourceVersion"],
    });
    if !namespace_of(involved).is_empty() {
        io["namespace"] = json!(namespace_of(involved));
    }
    let ev = json!({
        "metadata": {"name": format!("{}.{:x}", name_of(involved), nanos), "namespace": ns},
        "involvedObject": io,
        "reason": reason,
        "message": message,
        "source": {"component": component, "host": super::defaults::NODE_NAME},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": match kind { EventKind::Normal => "Normal", EventKind::Warning => "Warning" },
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": super::defaults::NODE_NAME,
    });
    store.create(resources::get("events"), ev)
}

/// Like [`record`], but with a field path (`spec.containers{name}`).
pub fn record_for_container(
    store: &Store,
    pod: &Value,
    container: &str,
    kind: EventKind,
    reason: &str,
    message: &str,
) -> Result<Arc<Value>, ApiError> {
    let ev = record(store, pod, kind, reason, message, "kubelet")?;
    let mut e = (*ev).clone();
    e["involvedObject"]["fieldPath"] = json!(format!("spec.containers{{{container}}}"));
    store.update(resources::get("events"), e)
}
