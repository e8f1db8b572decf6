//! The sandbox's control plane and node: in-process controllers, the
//! scheduler and the kubelet, driven by the store's change feed.
//!
//! Every pass is level-triggered: it reads the current objects and moves
//! them one step towards what they should be, so a pass after a restart
//! converges exactly like one after a change (no per-object queues to lose).
//! A pass runs after every burst of changes, when the kubelet pokes (a
//! container exited, a probe changed its answer) and once a second.

pub mod cluster;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod replicaset;
pub mod volume;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::fsroot::SandboxRoot;
use super::kubelet::Kubelet;
use super::netns::NetNamespaces;
use super::resources::{self, ResourceDef};
use super::store::{self, Store, UpdateScope};
use events::Recorder;

/// Tunables (tests shorten the back-offs).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The first CrashLoopBackOff delay; it doubles after each crash.
    pub backoff_base: Duration,
    /// The longest CrashLoopBackOff delay.
    pub backoff_max: Duration,
    /// How often a pass runs without any change.
    pub resync: Duration,
    /// How long a started process runs before the kubelet reports it
    /// running (one that exits sooner never shows Running).
    pub start_lag: Duration,
    /// How long an exited container shows Terminated before the kubelet
    /// restarts it or backs off (its relist period).
    pub exit_lag: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            resync: Duration::from_secs(1),
            start_lag: Duration::from_millis(300),
            exit_lag: Duration::from_secs(1),
        }
    }
}

/// Everything the controllers and the kubelet share.
pub struct Runtime {
    pub store: Store,
    pub root: SandboxRoot,
    pub netns: NetNamespaces,
    pub config: RuntimeConfig,
    pub events: Recorder,
    pub kubelet: Kubelet,
    /// Wakes the control loop (a container exited, a probe changed...).
    pub poke: Arc<Notify>,
    /// Fires on shutdown.
    pub cancel: CancellationToken,
    /// The root CA publisher's and the node heartbeat's memory.
    pub cluster: cluster::ClusterState,
}

impl Runtime {
    pub fn new(
        store: Store,
        root: SandboxRoot,
        config: RuntimeConfig,
        cancel: CancellationToken,
    ) -> Arc<Runtime> {
        let poke = Arc::new(Notify::new());
        Arc::new(Runtime {
            events: Recorder::new(poke.clone()),
            kubelet: Kubelet::new(),
            store,
            root,
            netns: NetNamespaces::new(),
            config,
            poke,
            cancel,
            cluster: cluster::ClusterState::default(),
        })
    }

    /// Asks for a pass soon.
    pub fn wake(&self) {
        self.poke.notify_one();
    }

    /// One pass of every controller, in dependency order. Blocking (it
    /// writes to the store); run it on a blocking thread.
    pub fn pass(self: &Arc<Self>) {
        volume::reconcile(self);
        deployment::reconcile(self);
        replicaset::reconcile(self);
        job::reconcile(self);
        super::scheduler::reconcile(self);
        super::kubelet::reconcile(self);
        volume::reconcile(self);
        endpoints::reconcile(self);
        gc::reconcile(self);
        namespace::reconcile(self);
        cluster::reconcile(self);
        self.events.flush(&self.store);
    }

    /// Writes a whole object (controllers own what they write); conflicts
    /// and vanished objects are left to the next pass.
    pub fn put(&self, res: &'static ResourceDef, obj: Value) -> Option<Arc<Value>> {
        self.store.update_scoped(res, obj, UpdateScope::All).ok()
    }

    /// Creates an object; errors are left to the next pass.
    pub fn create(&self, res: &'static ResourceDef, obj: Value) -> Option<Arc<Value>> {
        self.store.create(res, obj).ok()
    }
}

/// Runs the control loop until `rt.cancel` fires, then stops every container.
pub async fn run(rt: Arc<Runtime>) {
    let mut rx = rt.store.subscribe();
    loop {
        {
            let rt2 = rt.clone();
            let _ = tokio::task::spawn_blocking(move || rt2.pass()).await;
        }
        tokio::select! {
            _ = rt.cancel.cancelled() => break,
            _ = rt.poke.notified() => {}
            _ = tokio::time::sleep(rt.config.resync) => {}
            ev = rx.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = ev {
                    break;
                }
            }
        }
        // Let a burst of changes (an apply of several objects) land first.
        tokio::time::sleep(Duration::from_millis(15)).await;
        while rx.try_recv().is_ok() {}
    }
    rt.kubelet.shutdown().await;
}

// ---- small helpers shared by the controllers ----

pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn res(q: &str) -> &'static ResourceDef {
    resources::get(q)
}

pub fn uid_of(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or("")
}

pub fn is_terminating(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The controller ownerReference's uid, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .and_then(|o| o["uid"].as_str())
}

/// The objects whose controller is `uid`, parsed (the others are not).
pub fn owned_by(objs: &[Arc<store::Obj>], uid: &str) -> Vec<Arc<Value>> {
    objs.iter()
        .filter(|o| o.facts.controller.as_deref() == Some(uid))
        .map(|o| Arc::new(o.value()))
        .collect()
}

/// An ownerReference to `owner` marking it as the controller.
pub fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Sets condition `ctype` in `conds` (an array), keeping its
/// lastTransitionTime when the status did not change.
pub fn set_condition(
    conds: &mut Value,
    ctype: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    with_update_time: bool,
) {
    if !conds.is_array() {
        *conds = json!([]);
    }
    let now = store::now_rfc3339();
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let pos = list.iter().position(|c| c["type"] == ctype);
    let mut c = json!({"type": ctype, "status": status});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    match pos {
        Some(i) => {
            let old = &list[i];
            let same = old["status"] == status
                && old["reason"] == c["reason"]
                && old["message"] == c["message"];
            if old["status"] == status {
                c["lastTransitionTime"] = old["lastTransitionTime"].clone();
            } else {
                c["lastTransitionTime"] = json!(now);
            }
            if with_update_time {
                c["lastUpdateTime"] = if same {
                    old["lastUpdateTime"].clone()
                } else {
                    json!(now)
                };
            }
            list[i] = c;
        }
        None => {
            c["lastTransitionTime"] = json!(now);
            if with_update_time {
                c["lastUpdateTime"] = json!(now);
            }
            list.push(c);
        }
    }
}

/// A resource quantity in bytes (or units): `1Gi`, `500M`, `1.5Gi`, `100`.
pub fn parse_quantity(q: &Value) -> Option<f64> {
    let s = match q {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => return n.as_f64(),
        _ => return None,
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0f64.powi(2),
        "Gi" => 1024.0f64.powi(3),
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        s if s.starts_with('e') || s.starts_with('E') => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

/// Upstream's hash encoding (`rand.SafeEncodeString` of the decimal FNV-32a
/// of the template), so names look like `msg-api-7d9f8b6c5d`.
pub fn template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let text = serde_json::to_string(template).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// Random lower-case suffix as `generateName` uses.
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Whether a pod has finished (phase Succeeded or Failed).
pub fn pod_finished(p: &Value) -> bool {
    matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// Whether a pod counts as active (not finished, not terminating).
pub fn pod_active(p: &Value) -> bool {
    !pod_finished(p) && !is_terminating(p)
}

/// Whether a pod has condition Ready=True.
pub fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(parse_quantity(&json!("500Mi")), Some(524288000.0));
        assert_eq!(parse_quantity(&json!("2G")), Some(2e9));
        assert_eq!(parse_quantity(&json!("10")), Some(10.0));
        assert_eq!(parse_quantity(&json!("x")), None);
    }

    #[test]
    fn hash_is_stable_and_safe() {
        let t = json!({"spec": {"containers": [{"name": "a"}]}});
        let h = template_hash(&t);
        assert_eq!(h, template_hash(&t));
        assert!(h.len() >= 8 && h.len() <= 10, "{h}");
        assert!(
            h.bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
    }

    #[test]
    fn conditions_keep_transition_time() {
        let mut c = json!([{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}]);
        set_condition(&mut c, "Ready", "True", None, None, false);
        assert_eq!(c[0]["lastTransitionTime"], "t0");
        set_condition(&mut c, "Ready", "False", Some("X"), None, false);
        assert_ne!(c[0]["lastTransitionTime"], "t0");
    }
}
