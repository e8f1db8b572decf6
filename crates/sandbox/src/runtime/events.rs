//! `core/v1 Event` recording, as upstream's event recorder does: one Event
//! per (object, reason, message), its `count` and `lastTimestamp` bumped
//! when the same thing happens again. Events are named
//! `<object>.<hex of the time in nanoseconds>` (strictly increasing here),
//! so that an object's events list in the order they happened, as kubectl
//! shows them.

use crate::machinery::resources;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::machinery::meta::lock;
use crate::registry::pipeline::{Registry, WriteOptions};

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
    /// When it happened (unique: the event's name is made from it).
    at: jiff::Timestamp,
}

/// (uid, fieldPath, reason, message).
type EventKey = (String, String, String, String);

/// Queues events (from any thread) and writes them during a pass.
pub struct Recorder {
    queue: Mutex<Vec<Pending>>,
    /// (uid, fieldPath, reason, message) → (namespace, event name).
    seen: Mutex<HashMap<EventKey, (String, String)>>,
    /// When each periodic event was last recorded.
    periodic: Mutex<HashMap<EventKey, Instant>>,
    /// The last event time handed out, in nanoseconds.
    last_nanos: Mutex<i128>,
    poke: Arc<Notify>,
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
            periodic: Mutex::new(HashMap::new()),
            last_nanos: Mutex::new(0),
            poke,
        }
    }

    /// Now, or just after the last time handed out: strictly increasing.
    fn stamp(&self) -> jiff::Timestamp {
        let now = jiff::Timestamp::now().as_nanosecond();
        let mut last = lock(&self.last_nanos);
        let n = now.max(*last + 1);
        *last = n;
        jiff::Timestamp::from_nanosecond(n).unwrap_or_else(|_| jiff::Timestamp::now())
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
            at: self.stamp(),
        });
        self.poke.notify_one();
    }

    /// Records an event at most once per `period` for the same (object,
    /// reason, message): what a controller re-emits on each resync (the
    /// PV controller's every 15 s), aggregated into one Event's count.
    pub fn record_every(
        &self,
        obj: &Value,
        period: Duration,
        kind: Kind,
        reason: &str,
        message: impl Into<String>,
        component: &'static str,
    ) {
        let message = message.into();
        let key = (
            obj["metadata"]["uid"].as_str().unwrap_or("").to_string(),
            String::new(),
            reason.to_string(),
            message.clone(),
        );
        {
            let mut periodic = lock(&self.periodic);
            if periodic.get(&key).is_some_and(|t| t.elapsed() < period) {
                return;
            }
            periodic.insert(key, Instant::now());
        }
        self.record(obj, None, kind, reason, message, component);
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
    pub fn flush(&self, registry: &Registry) {
        let store = registry.store();
        let pending = std::mem::take(&mut *lock(&self.queue));
        let events = &resources::EVENTS;
        let opts = WriteOptions::component(crate::runtime::CONTROLLER_MANAGER);
        for p in pending {
            let key = (
                p.involved["uid"].as_str().unwrap_or("").to_string(),
                p.involved["fieldPath"].as_str().unwrap_or("").to_string(),
                p.reason.clone(),
                p.message.clone(),
            );
            let now = crate::machinery::meta::rfc3339(p.at);
            let known = lock(&self.seen).get(&key).cloned();
            if let Some((ns, name)) = known
                && let Some(old) = store.get(events, &ns, &name)
            {
                let mut e = (*old).clone();
                e["count"] = json!(old["count"].as_i64().unwrap_or(1) + 1);
                e["lastTimestamp"] = json!(now);
                let make = |_: Option<&Value>| Ok(e.clone());
                let _ = registry.update(events, &ns, &name, &make, false, &opts);
                continue;
            }
            let name = format!(
                "{}.{:x}",
                p.involved["name"].as_str().unwrap_or("object"),
                p.at.as_nanosecond()
            );
            let host = if p.component == "kubelet" {
                json!(crate::machinery::cluster::NODE_NAME)
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
            if registry.create(events, ev, &opts).is_ok() {
                lock(&self.seen).insert(key, (p.ns, name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::meta::name_of;
    use crate::registry::pipeline::Registry;

    fn pod(s: &Registry) -> Arc<Value> {
        s.create(
            &resources::PODS,
            json!({"metadata": {"name": "vols", "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
            &WriteOptions::component("test"),
        )
        .unwrap()
    }

    #[test]
    fn events_are_named_in_the_order_they_happened() {
        let dir = tempfile::tempdir().unwrap();
        let s = Registry::for_test(&dir.path().join("db"));
        let p = pod(&s);
        let r = Recorder::new(Arc::new(Notify::new()));
        let reasons = ["Scheduled", "Pulling", "Pulled", "Created", "Started"];
        for reason in reasons {
            r.record(
                &p,
                None,
                Kind::Normal,
                reason,
                reason.to_lowercase(),
                "kubelet",
            );
        }
        r.flush(&s);
        let (events, _) = s.store().list(&resources::EVENTS, Some("default"));
        // Listed by name: the order they were recorded in.
        let listed: Vec<&str> = events
            .iter()
            .map(|e| e["reason"].as_str().unwrap())
            .collect();
        assert_eq!(listed, reasons);
        for e in &events {
            let (obj, hex) = name_of(e).split_once('.').unwrap();
            assert_eq!(obj, "vols");
            assert!(i128::from_str_radix(hex, 16).is_ok(), "{hex}");
        }
    }

    #[test]
    fn repeated_events_count_up_and_periodic_ones_wait_their_period() {
        let dir = tempfile::tempdir().unwrap();
        let s = Registry::for_test(&dir.path().join("db"));
        let p = pod(&s);
        let r = Recorder::new(Arc::new(Notify::new()));
        for _ in 0..3 {
            r.record(&p, None, Kind::Warning, "BackOff", "back-off", "kubelet");
            r.flush(&s);
        }
        let long = Duration::from_secs(60);
        for _ in 0..3 {
            r.record_every(&p, long, Kind::Normal, "WaitForFirstConsumer", "w", "pv");
            r.flush(&s);
        }
        r.record_every(&p, Duration::ZERO, Kind::Normal, "Again", "a", "pv");
        r.record_every(&p, Duration::ZERO, Kind::Normal, "Again", "a", "pv");
        r.flush(&s);
        let (events, _) = s.store().list(&resources::EVENTS, Some("default"));
        let count = |reason: &str| {
            events
                .iter()
                .find(|e| e["reason"] == reason)
                .map(|e| e["count"].as_i64().unwrap())
        };
        assert_eq!(events.len(), 3);
        assert_eq!(count("BackOff"), Some(3));
        assert_eq!(count("WaitForFirstConsumer"), Some(1));
        assert_eq!(count("Again"), Some(2));
    }
}
