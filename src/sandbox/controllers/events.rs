//! `core/v1 Event` recording, as upstream's event recorder does: one Event
//! per (object, reason, message), its `count` and `lastTimestamp` bumped
//! when the same thing happens again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::res;
use crate::sandbox::store::{self, Store};

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

struct Pending {
    involved: Value,
    ns: String,
    kind: Kind,
    reason: String,
    message: String,
    component: &'static str,
}

/// (uid, fieldPath, reason, message).
type EventKey = (String, String, String, String);

/// Queues events (from any thread) and writes them during a pass.
pub struct Recorder {
    queue: Mutex<Vec<Pending>>,
    /// (uid, fieldPath, reason, message) → (namespace, event name).
    seen: Mutex<HashMap<EventKey, (String, String)>>,
    poke: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The involvedObject reference of `obj` (with a container's fieldPath).
pub fn reference(obj: &Value, field_path: Option<&str>) -> Value {
    let mut r = json!({
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "apiVersion": obj["apiVersion"],
        "resourceVersion": obj["metadata"]["resourceVersion"],
    });
    if let Some(ns) = obj["metadata"]["namespace"].as_str() {
        r["namespace"] = json!(ns);
    }
    if let Some(f) = field_path {
        r["fieldPath"] = json!(f);
    }
    r
}

impl Recorder {
    pub fn new(poke: Arc<Notify>) -> Recorder {
        Recorder {
            queue: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
            poke,
        }
    }

    /// Records an event about `obj` from `component` (e.g. "kubelet").
    pub fn record(
        &self,
        obj: &Value,
        field_path: Option<&str>,
        kind: Kind,
        reason: &str,
        message: impl Into<String>,
        component: &'static str,
    ) {
        let involved = reference(obj, field_path);
        // Events about cluster-scoped objects live in "default", as upstream.
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        lock(&self.queue).push(Pending {
            involved,
            ns,
            kind,
            reason: reason.to_string(),
            message: message.into(),
            component,
        });
        self.poke.notify_one();
    }

    /// Records an event unless the same one (object, reason, message) was
    /// already recorded: for conditions re-checked on every pass.
    pub fn record_once(
        &self,
        obj: &Value,
        kind: Kind,
        reason: &str,
        message: impl Into<String>,
        component: &'static str,
    ) {
        let message = message.into();
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let key = (
            uid.clone(),
            String::new(),
            reason.to_string(),
            message.clone(),
        );
        if lock(&self.seen).contains_key(&key) {
            return;
        }
        let queued = lock(&self.queue).iter().any(|p| {
            p.involved["uid"] == uid.as_str() && p.reason == reason && p.message == message
        });
        if !queued {
            self.record(obj, None, kind, reason, message, component);
        }
    }

    /// Writes the queued events.
    pub fn flush(&self, store: &Store) {
        let pending = std::mem::take(&mut *lock(&self.queue));
        let events = res("events");
        for p in pending {
            let key = (
                p.involved["uid"].as_str().unwrap_or("").to_string(),
                p.involved["fieldPath"].as_str().unwrap_or("").to_string(),
                p.reason.clone(),
                p.message.clone(),
            );
            let now = store::now_rfc3339();
            let known = lock(&self.seen).get(&key).cloned();
            if let Some((ns, name)) = known
                && let Some(old) = store.get(events, &ns, &name)
            {
                let mut e = (*old).clone();
                e["count"] = json!(old["count"].as_i64().unwrap_or(1) + 1);
                e["lastTimestamp"] = json!(now);
                let _ = store.update(events, e);
                continue;
            }
            let name = format!(
                "{}.{:016x}",
                p.involved["name"].as_str().unwrap_or("object"),
                rand::random::<u64>() >> 1
            );
            let host = if p.component == "kubelet" {
                json!(crate::sandbox::defaults::NODE_NAME)
            } else {
                Value::Null
            };
            let mut source = json!({"component": p.component});
            if !host.is_null() {
                source["host"] = host.clone();
            }
            let ev = json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": p.ns},
                "involvedObject": p.involved,
                "reason": p.reason,
                "message": p.message,
                "source": source,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": match p.kind { Kind::Normal => "Normal", Kind::Warning => "Warning" },
                "eventTime": null,
                "reportingComponent": p.component,
                "reportingInstance": if host.is_null() { json!("") } else { host },
            });
            if store.create(events, ev).is_ok() {
                lock(&self.seen).insert(key, (p.ns, name));
            }
        }
    }
}
