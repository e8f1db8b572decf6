//! Reading and writing the parts of an object every kind has: metadata
//! fields, owners, conditions and times, on objects as `serde_json::Value`.

use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

/// The finalizer that keeps an owner deleted with `Foreground` propagation
/// until its dependents are gone (`metav1.FinalizerDeleteDependents`).
pub(crate) const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of `Orphan` propagation (`metav1.FinalizerOrphanDependents`).
pub(crate) const FINALIZER_ORPHAN: &str = "orphan";

/// `metadata.namespace` of an object ("" when absent).
pub(crate) fn namespace_of(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or("")
}

/// `metadata.name` of an object ("" when absent).
pub(crate) fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// `metadata.uid` of an object ("" when absent).
pub(crate) fn uid_of(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or("")
}

/// `metadata.resourceVersion` parsed as a number (0 when absent).
pub(crate) fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Whether the object is being deleted (a `deletionTimestamp` is set).
pub(crate) fn is_terminating(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The controller ownerReference's uid, if any.
pub(crate) fn controller_uid(obj: &Value) -> Option<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"].as_bool() == Some(true))
        .and_then(|o| o["uid"].as_str())
}

/// An ownerReference to `owner` marking it as the controller.
pub(crate) fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// RFC 3339 timestamp in seconds, as upstream writes metadata times.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(jiff::Timestamp::now())
}

/// A time as upstream writes metadata times (seconds, UTC).
pub(crate) fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Locks `m`, going on with the data of a thread that panicked while
/// holding it: every lock here guards plain data that stays consistent
/// between statements, and the sandbox must not die of another task's bug.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets condition `ctype` in `conds` (an array), keeping its
/// lastTransitionTime when the status did not change.
pub(crate) fn set_condition(
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
    let now = now_rfc3339();
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

/// Whether a pod has finished (phase Succeeded or Failed).
pub(crate) fn pod_finished(p: &Value) -> bool {
    matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// Whether a pod counts as active (not finished, not terminating).
pub(crate) fn pod_active(p: &Value) -> bool {
    !pod_finished(p) && !is_terminating(p)
}

/// Whether a pod has condition Ready=True.
pub(crate) fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// A quantity (`1Gi`, or a bare number) in base units, or `None`.
pub(crate) fn quantity(q: &Value) -> Option<f64> {
    match q {
        Value::String(s) => kubeprint::Quantity::parse(s).ok().map(|q| q.value()),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_transition_time() {
        let mut c = json!([{"type": "Ready", "status": "True", "lastTransitionTime": "t0"}]);
        set_condition(&mut c, "Ready", "True", None, None, false);
        assert_eq!(c[0]["lastTransitionTime"], "t0");
        set_condition(&mut c, "Ready", "False", Some("X"), None, false);
        assert_ne!(c[0]["lastTransitionTime"], "t0");
    }

    #[test]
    fn quantities_of_values() {
        assert_eq!(quantity(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(quantity(&json!(10)), Some(10.0));
        assert_eq!(quantity(&json!("x")), None);
    }
}
