//! Deployments → ReplicaSets (one per pod template, named by its
//! pod-template-hash), rolled with RollingUpdate (maxSurge/maxUnavailable)
//! or Recreate, and the status `kubectl get deploy` and `kubectl rollout
//! status` read.

use crate::machinery::resources;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::name_of;
use crate::machinery::meta::{controller_uid, is_terminating, owner_ref, set_condition, uid_of};
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// `25%` of `total` (rounded up for surge, down for unavailable) or a number.
pub fn int_or_percent(v: &Value, total: i64, round_up: bool, default_percent: i64) -> i64 {
    let percent = |p: i64| {
        if round_up {
            (total * p + 99) / 100
        } else {
            total * p / 100
        }
    };
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => percent(p),
            None => s.parse().unwrap_or(0),
        },
        _ => percent(default_percent),
    }
}

fn replicas_of(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn status_int(obj: &Value, field: &str) -> i64 {
    obj["status"][field].as_i64().unwrap_or(0)
}

fn revision_of(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The template without the hash label (what the hash is computed over).
fn template_without_hash(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t["metadata"]["labels"].as_object_mut() {
        l.remove(HASH_LABEL);
    }
    // Upstream compares templates ignoring this one annotation-free field.
    if let Some(m) = t["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
    }
    t
}

pub fn reconcile(rt: &Arc<Runtime>) {
    let (deps, _) = rt.store.list(&resources::DEPLOYMENTS, None);
    for d in deps {
        if is_terminating(&d) {
            continue;
        }
        sync(rt, &d);
    }
}

fn scale(rt: &Runtime, d: &Value, rs: &Value, to: i64) -> Option<Arc<Value>> {
    let from = replicas_of(rs);
    if from == to {
        return None;
    }
    let mut n = rs.clone();
    n["spec"]["replicas"] = json!(to);
    let ann = &mut n["metadata"]["annotations"];
    if !ann.is_object() {
        *ann = json!({});
    }
    ann["deployment.kubernetes.io/desired-replicas"] = json!(replicas_of(d).to_string());
    let out = rt.put(&resources::REPLICA_SETS, n)?;
    let verb = if to > from { "up" } else { "down" };
    rt.events.record(
        d,
        None,
        Kind::Normal,
        "ScalingReplicaSet",
        format!(
            "Scaled {verb} replica set {} from {from} to {to}",
            name_of(rs)
        ),
        "deployment-controller",
    );
    Some(out)
}

fn sync(rt: &Runtime, d: &Value) {
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
    let uid = uid_of(d);
    let rs_res = &resources::REPLICA_SETS;
    let (all, _) = rt.store.list(rs_res, Some(ns));
    let mut owned: Vec<Value> = all
        .iter()
        .filter(|r| controller_uid(r) == Some(uid) && !is_terminating(r))
        .map(|r| (**r).clone())
        .collect();
    owned.sort_by(|a, b| {
        a["metadata"]["creationTimestamp"]
            .as_str()
            .cmp(&b["metadata"]["creationTimestamp"].as_str())
    });
    let plan = Plan::of(d);
    let (new_rs, created_now) = new_replica_set(rt, d, &plan, &mut owned);
    let new_uid = new_rs.as_ref().map(|r| uid_of(r).to_string());
    let olds: Vec<Value> = owned
        .iter()
        .filter(|r| Some(uid_of(r).to_string()) != new_uid)
        .cloned()
        .collect();
    if !plan.paused
        && let Some(new) = new_rs
    {
        if plan.strategy == "Recreate" {
            recreate(rt, d, &plan, &new, &olds);
        } else {
            roll(rt, d, &plan, &new, &olds, &owned);
        }
    }
    write_status(rt, d, &plan, new_uid.as_deref(), created_now);
}

/// What the deployment's spec asks of a rollout.
struct Plan {
    replicas: i64,
    surge: i64,
    unavailable: i64,
    paused: bool,
    strategy: String,
}

impl Plan {
    fn of(d: &Value) -> Plan {
        let replicas = replicas_of(d);
        let surge = int_or_percent(
            &d["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
            replicas,
            true,
            25,
        );
        let mut unavailable = int_or_percent(
            &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            replicas,
            false,
            25,
        );
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        Plan {
            replicas,
            surge,
            unavailable,
            paused: d["spec"]["paused"].as_bool().unwrap_or(false),
            strategy: d["spec"]["strategy"]["type"]
                .as_str()
                .unwrap_or("RollingUpdate")
                .to_string(),
        }
    }
}

/// The ReplicaSet of the current template: found (and made the newest
/// revision when it was rolled back to), or created unless paused.
/// Returns it and whether it was created now; a created one joins `owned`.
fn new_replica_set(
    rt: &Runtime,
    d: &Value,
    plan: &Plan,
    owned: &mut Vec<Value>,
) -> (Option<Value>, bool) {
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
    let name = name_of(d);
    let (replicas, surge, paused) = (plan.replicas, plan.surge, plan.paused);
    let rs_res = &resources::REPLICA_SETS;
    let template = template_without_hash(&d["spec"]["template"]);
    let hash = crate::machinery::names::template_hash(&template);
    let max_rev = owned.iter().map(revision_of).max().unwrap_or(0);
    let mut created_now = false;
    let mut new_rs = owned
        .iter()
        .find(|r| template_without_hash(&r["spec"]["template"]) == template)
        .cloned();
    match &new_rs {
        Some(rs) if revision_of(rs) < max_rev || revision_of(rs) == 0 => {
            // Rolled back to an older template: it becomes the newest revision.
            if owned.len() > 1 || revision_of(rs) == 0 {
                let mut n = rs.clone();
                if !n["metadata"]["annotations"].is_object() {
                    n["metadata"]["annotations"] = json!({});
                }
                n["metadata"]["annotations"][REVISION] = json!((max_rev + 1).to_string());
                if let Some(out) = rt.put(rs_res, n) {
                    new_rs = Some((*out).clone());
                }
            }
        }
        Some(_) => {}
        None if paused => {}
        None => {
            let mut t = d["spec"]["template"].clone();
            if !t["metadata"]["labels"].is_object() {
                t["metadata"]["labels"] = json!({});
            }
            t["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            if !selector["matchLabels"].is_object() {
                selector["matchLabels"] = json!({});
            }
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let mut labels = t["metadata"]["labels"].clone();
            labels[HASH_LABEL] = json!(hash);
            let rs_name = format!("{name}-{hash}");
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name,
                    "namespace": ns,
                    "labels": labels,
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                        "deployment.kubernetes.io/max-replicas": (replicas + surge).to_string(),
                        REVISION: (max_rev + 1).to_string(),
                    },
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {
                    "replicas": 0,
                    "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0),
                    "selector": selector,
                    "template": t,
                },
            });
            if let Some(out) = rt.create(rs_res, rs) {
                created_now = true;
                new_rs = Some((*out).clone());
                owned.push((*out).clone());
            }
        }
    }
    (new_rs, created_now)
}

/// Recreate: the old ReplicaSets scale to zero, and the new pods wait
/// until every old pod is gone or finished.
fn recreate(rt: &Runtime, d: &Value, plan: &Plan, new: &Value, olds: &[Value]) {
    let (replicas, new_spec) = (plan.replicas, replicas_of(new));
    let mut old_running = false;
    for o in olds {
        if replicas_of(o) > 0 {
            scale(rt, d, o, 0);
            old_running = true;
        } else if status_int(o, "replicas") > 0 {
            old_running = true;
        }
    }
    // As upstream's oldPodsRunning: the new pods wait until every old
    // pod is gone or finished, terminating ones included.
    if !old_running {
        let old_uids: Vec<&str> = olds.iter().map(uid_of).collect();
        let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
        old_running = rt
            .store
            .list_stored(&resources::PODS, Some(ns))
            .0
            .iter()
            .any(|p| {
                p.facts
                    .controller
                    .as_deref()
                    .is_some_and(|u| old_uids.contains(&u))
                    && !p.facts.finished
            });
    }
    if !old_running && new_spec != replicas {
        scale(rt, d, new, replicas);
    }
}

/// RollingUpdate: the new ReplicaSet grows within maxSurge, the old ones
/// shrink within maxUnavailable, unavailable old pods first.
fn roll(rt: &Runtime, d: &Value, plan: &Plan, new: &Value, olds: &[Value], owned: &[Value]) {
    let (replicas, surge, unavailable) = (plan.replicas, plan.surge, plan.unavailable);
    let new_spec = replicas_of(new);
    let total: i64 = owned.iter().map(replicas_of).sum();
    let mut new_target = new_spec;
    if new_spec < replicas {
        let allowed = (replicas + surge - total).max(0);
        new_target = replicas.min(new_spec + allowed);
    } else if new_spec > replicas {
        new_target = replicas;
    }
    if new_target != new_spec {
        scale(rt, d, new, new_target);
    }
    let all_pods: i64 = olds.iter().map(replicas_of).sum::<i64>() + new_target;
    let min_available = replicas - unavailable;
    let new_unavailable = (new_target - status_int(new, "availableReplicas")).max(0);
    let mut budget = all_pods - min_available - new_unavailable;
    // Old pods that are not available anyway go first (they cost nothing).
    for o in olds {
        let spec = replicas_of(o);
        let healthy = status_int(o, "availableReplicas").min(spec);
        let mut target = healthy;
        if budget > 0 && healthy > 0 {
            let down = healthy.min(budget);
            target -= down;
            budget -= down;
        }
        if target != spec {
            scale(rt, d, o, target);
        }
    }
}

/// The status `kubectl get deploy` and `rollout status` read, from the
/// ReplicaSets as they are now, and the revision annotation.
fn write_status(rt: &Runtime, d: &Value, plan: &Plan, new_uid: Option<&str>, created_now: bool) {
    let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
    let uid = uid_of(d);
    let rs_res = &resources::REPLICA_SETS;
    let (replicas, unavailable) = (plan.replicas, plan.unavailable);
    let (all, _) = rt.store.list(rs_res, Some(ns));
    let owned: Vec<Arc<Value>> = all
        .into_iter()
        .filter(|r| controller_uid(r) == Some(uid) && !is_terminating(r))
        .collect();
    let new = owned.iter().find(|r| Some(uid_of(r)) == new_uid).cloned();
    let sum = |f: &str| owned.iter().map(|r| status_int(r, f)).sum::<i64>();
    let total = sum("replicas");
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let updated = new.as_ref().map(|r| status_int(r, "replicas")).unwrap_or(0);
    let mut st = d["status"].clone();
    if !st.is_object() {
        st = json!({});
    }
    let put_int = |st: &mut Value, k: &str, v: i64| {
        if v > 0 {
            st[k] = json!(v);
        } else if let Some(m) = st.as_object_mut() {
            m.remove(k);
        }
    };
    st["observedGeneration"] = d["metadata"]["generation"].clone();
    put_int(&mut st, "replicas", total);
    put_int(&mut st, "updatedReplicas", updated);
    put_int(&mut st, "readyReplicas", ready);
    put_int(&mut st, "availableReplicas", available);
    put_int(
        &mut st,
        "unavailableReplicas",
        (replicas - available).max(0),
    );
    let mut conds = st["conditions"].take();
    if available >= replicas - unavailable {
        set_condition(
            &mut conds,
            "Available",
            "True",
            Some("MinimumReplicasAvailable"),
            Some("Deployment has minimum availability."),
            true,
        );
    } else {
        set_condition(
            &mut conds,
            "Available",
            "False",
            Some("MinimumReplicasUnavailable"),
            Some("Deployment does not have minimum availability."),
            true,
        );
    }
    if let Some(n) = &new {
        let rs_name = name_of(n);
        let complete = updated == replicas
            && available >= replicas
            && total == updated
            && status_int(n, "availableReplicas") >= replicas;
        let (reason, msg) = if complete {
            (
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            )
        } else if created_now {
            (
                "NewReplicaSetCreated",
                format!("Created new replica set \"{rs_name}\""),
            )
        } else {
            (
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs_name}\" is progressing."),
            )
        };
        set_condition(
            &mut conds,
            "Progressing",
            "True",
            Some(reason),
            Some(&msg),
            true,
        );
    }
    // Upstream lists Available before Progressing.
    if let Some(list) = conds.as_array_mut() {
        list.sort_by_key(|c| c["type"] != "Available");
    }
    st["conditions"] = conds;
    let mut n = d.clone();
    n["status"] = st;
    if let Some(rev) = new.as_ref().map(|r| revision_of(r)).filter(|r| *r > 0) {
        if !n["metadata"]["annotations"].is_object() {
            n["metadata"]["annotations"] = json!({});
        }
        n["metadata"]["annotations"][REVISION] = json!(rev.to_string());
    }
    if n != *d {
        rt.put(&resources::DEPLOYMENTS, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_and_unavailable() {
        assert_eq!(int_or_percent(&Value::Null, 1, true, 25), 1);
        assert_eq!(int_or_percent(&Value::Null, 1, false, 25), 0);
        assert_eq!(int_or_percent(&json!("50%"), 3, false, 25), 1);
        assert_eq!(int_or_percent(&json!(2), 3, false, 25), 2);
    }
}
