//! ReplicaSets → Pods: create or delete pods until as many as wanted are
//! active, and report replicas / ready / available.

use crate::machinery::resources;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::machinery::meta::name_of;
use crate::machinery::meta::{is_terminating, owner_ref, pod_active, pod_ready, uid_of};
use crate::registry::deletion::DeleteOptions;
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

pub fn reconcile(rt: &Arc<Runtime>) {
    let (sets, _) = rt.store.list(&resources::REPLICA_SETS, None);
    if sets.is_empty() {
        return;
    }
    let (pods, _) = rt.store.list_stored(&resources::PODS, None);
    for rs in sets {
        if is_terminating(&rs) {
            continue;
        }
        let uid = uid_of(&rs);
        let owned = crate::controllers::owned_by(&pods, uid);
        sync(rt, &rs, &owned);
    }
}

/// A new pod from a controller's template.
pub fn pod_from_template(owner: &Value, template: &Value, prefix: &str) -> Value {
    let ns = owner["metadata"]["namespace"].clone();
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    if let Some(m) = meta.as_object_mut() {
        m.remove("name");
        m.remove("creationTimestamp");
    }
    meta["generateName"] = json!(prefix);
    meta["namespace"] = ns;
    meta["ownerReferences"] = json!([owner_ref(owner)]);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template["spec"].clone(),
    })
}

fn sync(rt: &Runtime, rs: &Value, owned: &[Arc<Value>]) {
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    let active: Vec<&Arc<Value>> = owned.iter().filter(|p| pod_active(p)).collect();
    let have = active.len() as i64;
    let pods = &resources::PODS;
    if have < want {
        let prefix = format!("{}-", name_of(rs));
        for _ in have..want {
            let pod = pod_from_template(rs, &rs["spec"]["template"], &prefix);
            match rt.try_create(pods, pod) {
                Ok(p) => rt.events.record(
                    rs,
                    None,
                    Kind::Normal,
                    "SuccessfulCreate",
                    format!("Created pod: {}", name_of(&p)),
                    "replicaset-controller",
                ),
                Err(e) => {
                    rt.events.record(
                        rs,
                        None,
                        Kind::Warning,
                        "FailedCreate",
                        format!("Error creating: {}", e.message),
                        "replicaset-controller",
                    );
                    break;
                }
            }
        }
    } else if have > want {
        // Delete the least useful first: unscheduled, not ready, youngest.
        let mut victims = active.clone();
        victims.sort_by_key(|p| {
            (
                !p["spec"]["nodeName"].is_null(),
                pod_ready(p),
                std::cmp::Reverse(
                    p["metadata"]["creationTimestamp"]
                        .as_str()
                        .map(str::to_string),
                ),
            )
        });
        for p in victims.iter().take((have - want) as usize) {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
            if rt
                .delete(pods, ns, name_of(p), &DeleteOptions::default())
                .is_ok()
            {
                rt.events.record(
                    rs,
                    None,
                    Kind::Normal,
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", name_of(p)),
                    "replicaset-controller",
                );
            }
        }
    }
    // Status from the pods as they were at the start of this pass.
    let ready = active.iter().filter(|p| pod_ready(p)).count() as i64;
    let labelled = active.len() as i64;
    let mut st = json!({
        "replicas": labelled,
        "fullyLabeledReplicas": labelled,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": rs["metadata"]["generation"],
    });
    if let Some(m) = st.as_object_mut() {
        m.retain(|k, v| k == "observedGeneration" || k == "replicas" || v.as_i64() != Some(0));
    }
    if rs["status"] != st {
        let mut n = rs.clone();
        n["status"] = st;
        rt.put(&resources::REPLICA_SETS, n);
    }
}
