//! The scheduler: binds pending pods to the one node once their claims
//! allow it. A WaitForFirstConsumer claim gets the `selected-node`
//! annotation (the provisioner then creates its volume) and the pod is
//! bound once the claim is; a missing, deleting or unbound `Immediate`
//! claim leaves the pod Pending with upstream's FailedScheduling message.

use crate::machinery::resources;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::controllers::volume::{self, SELECTED_NODE};
use crate::machinery::cluster::{MAX_PODS, NODE_NAME};
use crate::machinery::meta::{is_terminating, set_condition};
use crate::machinery::meta::{name_of, namespace_of};
use crate::runtime::Runtime;
use crate::runtime::events::Kind;

/// The field manager of the scheduler's writes.
const SCHEDULER: &str = "kube-scheduler";

const PREEMPTION: &str =
    " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";

/// Why preemption would not help, when a filter (not a pre-filter)
/// rejected the node and no pod of lower priority could make room.
const NO_VICTIMS: &str =
    " preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

enum Verdict {
    Bind,
    Wait,
    Unschedulable(String),
    /// With its own preemption summary.
    Unschedulable2(String, &'static str),
}

pub fn reconcile(rt: &Arc<Runtime>) {
    let (pods, _) = rt.store.list_stored(&resources::PODS, None);
    // The node takes MAX_PODS pods that have not finished, as a kind node
    // (the kubelet's maxPods); the others wait, as upstream's do.
    let mut on_node = pods
        .iter()
        .filter(|p| *p.facts.node == *NODE_NAME && !p.facts.finished)
        .count();
    let too_many = format!("0/1 nodes are available: 1 Too many pods.{NO_VICTIMS}");
    for stored in pods {
        let f = &stored.facts;
        if !f.node.is_empty() || f.terminating || !f.default_scheduler {
            continue;
        }
        // A pod already marked for a full node, with nothing else that
        // could hold it back: the verdict would be the same, so it is not
        // parsed again (thousands of pending pods cost nothing per pass).
        if !f.claims && on_node >= MAX_PODS && f.unschedulable.as_deref() == Some(&too_many) {
            continue;
        }
        let pod = stored.value();
        match check(rt, &pod) {
            Verdict::Bind if on_node >= MAX_PODS => {
                unschedulable(rt, &pod, "1 Too many pods", NO_VICTIMS)
            }
            Verdict::Bind => {
                bind(rt, &pod);
                on_node += 1;
            }
            Verdict::Wait => {}
            Verdict::Unschedulable(why) => unschedulable(rt, &pod, &why, PREEMPTION),
            Verdict::Unschedulable2(why, preemption) => unschedulable(rt, &pod, &why, preemption),
        }
    }
}

fn check(rt: &Runtime, pod: &Value) -> Verdict {
    let ns = namespace_of(pod);
    let pvc_res = &resources::PVCS;
    let pv_res = &resources::PVS;
    let mut wait = false;
    let mut unbound_immediate = false;
    let mut bind_conflict = false;
    let mut rwop_conflict = false;
    let volumes = pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &volumes {
        let Some(claim_name) = v["persistentVolumeClaim"]["claimName"].as_str() else {
            continue;
        };
        let Some(claim) = rt.store.get(pvc_res, ns, claim_name) else {
            return Verdict::Unschedulable(format!(
                "persistentvolumeclaim \"{claim_name}\" not found"
            ));
        };
        if is_terminating(&claim) {
            return Verdict::Unschedulable(format!(
                "persistentvolumeclaim \"{claim_name}\" is being deleted"
            ));
        }
        let rwop = claim["spec"]["accessModes"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m == "ReadWriteOncePod"));
        if rwop && used_by_another_pod(rt, pod, claim_name) {
            rwop_conflict = true;
        }
        if claim["status"]["phase"] == "Bound" {
            continue;
        }
        let class_name = claim["spec"]["storageClassName"].as_str().unwrap_or("");
        let class = if class_name.is_empty() {
            None
        } else {
            rt.store.get(&resources::STORAGE_CLASSES, "", class_name)
        };
        let wffc = class
            .as_ref()
            .is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer");
        if !wffc {
            unbound_immediate = true;
            continue;
        }
        let claim_uid = claim["metadata"]["uid"].as_str().unwrap_or("");
        let (pvs, _) = rt.store.list(pv_res, None);
        let prebound = pvs
            .iter()
            .any(|pv| pv["spec"]["claimRef"]["uid"].as_str() == Some(claim_uid));
        if prebound || claim["metadata"]["annotations"][SELECTED_NODE].is_string() {
            wait = true;
            continue;
        }
        // A static volume that fits is pre-bound to the claim (the PV
        // controller completes the binding); else the class provisions on
        // this node, unless it cannot (kubernetes.io/no-provisioner).
        let best = pvs
            .iter()
            .filter(|pv| pv["spec"]["claimRef"].is_null() && volume::fits(pv, &claim))
            .min_by(|a, b| {
                let q = |p: &Value| {
                    crate::machinery::meta::quantity(&p["spec"]["capacity"]["storage"])
                        .unwrap_or(0.0)
                };
                q(a).total_cmp(&q(b))
            });
        if let Some(pv) = best {
            let mut n = (**pv).clone();
            n["spec"]["claimRef"] = json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "name": claim_name,
                "namespace": ns,
                "uid": claim_uid,
                "resourceVersion": claim["metadata"]["resourceVersion"],
            });
            if !n["metadata"]["annotations"].is_object() {
                n["metadata"]["annotations"] = json!({});
            }
            n["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
            rt.put(pv_res, n);
            wait = true;
            continue;
        }
        let provisioner = class
            .as_ref()
            .and_then(|c| c["provisioner"].as_str())
            .unwrap_or("");
        if provisioner.is_empty() || provisioner == "kubernetes.io/no-provisioner" {
            bind_conflict = true;
            continue;
        }
        let mut n = (*claim).clone();
        if !n["metadata"]["annotations"].is_object() {
            n["metadata"]["annotations"] = json!({});
        }
        n["metadata"]["annotations"][SELECTED_NODE] = json!(NODE_NAME);
        rt.put(pvc_res, n);
        wait = true;
    }
    if unbound_immediate {
        return Verdict::Unschedulable(
            "pod has unbound immediate PersistentVolumeClaims".to_string(),
        );
    }
    if rwop_conflict {
        return Verdict::Unschedulable2(
            "1 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode".to_string(),
            NO_VICTIMS,
        );
    }
    if bind_conflict {
        return Verdict::Unschedulable(
            "1 node(s) didn't find available persistent volumes to bind".to_string(),
        );
    }
    if wait { Verdict::Wait } else { Verdict::Bind }
}

/// Whether another pod on the node (not finished) uses the claim.
fn used_by_another_pod(rt: &Runtime, pod: &Value, claim_name: &str) -> bool {
    let (pods, _) = rt
        .store
        .list_stored(&resources::PODS, Some(namespace_of(pod)));
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    pods.iter()
        .filter(|p| {
            let f = &p.facts;
            f.claims && !f.node.is_empty() && !f.finished && *f.uid != *uid
        })
        .any(|p| volume::uses_claim(&p.value(), claim_name))
}

fn unschedulable(rt: &Runtime, pod: &Value, why: &str, preemption: &str) {
    let message = format!("0/1 nodes are available: {why}.{preemption}");
    let mut n = pod.clone();
    let mut conds = n["status"]["conditions"].take();
    set_condition(
        &mut conds,
        "PodScheduled",
        "False",
        Some("Unschedulable"),
        Some(&message),
        false,
    );
    if let Some(list) = conds.as_array_mut() {
        for c in list.iter_mut() {
            if c["type"] == "PodScheduled" {
                c["lastProbeTime"] = Value::Null;
            }
        }
    }
    n["status"]["conditions"] = conds;
    n["status"]["phase"] = json!("Pending");
    if n != *pod {
        rt.put_as(SCHEDULER, &resources::PODS, n);
        rt.events.record(
            pod,
            None,
            Kind::Warning,
            "FailedScheduling",
            message,
            "default-scheduler",
        );
    }
}

fn bind(rt: &Runtime, pod: &Value) {
    let mut n = pod.clone();
    n["spec"]["nodeName"] = json!(NODE_NAME);
    let mut conds = n["status"]["conditions"].take();
    set_condition(&mut conds, "PodScheduled", "True", None, None, false);
    if let Some(list) = conds.as_array_mut() {
        for c in list.iter_mut() {
            if c["type"] == "PodScheduled" {
                c["lastProbeTime"] = Value::Null;
            }
        }
    }
    n["status"]["conditions"] = conds;
    n["status"]["phase"] = json!("Pending");
    if rt.put_as(SCHEDULER, &resources::PODS, n).is_some() {
        rt.events.record(
            pod,
            None,
            Kind::Normal,
            "Scheduled",
            format!(
                "Successfully assigned {}/{} to {NODE_NAME}",
                namespace_of(pod),
                name_of(pod)
            ),
            "default-scheduler",
        );
    }
}
