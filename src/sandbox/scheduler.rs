//! The scheduler: binds pending pods to the one node once their claims
//! allow it. A WaitForFirstConsumer claim gets the `selected-node`
//! annotation (the provisioner then creates its volume) and the pod is
//! bound once the claim is; a missing, deleting or unbound `Immediate`
//! claim leaves the pod Pending with upstream's FailedScheduling message.

use std::sync::Arc;

use serde_json::{Value, json};

use super::controllers::events::Kind;
use super::controllers::volume::SELECTED_NODE;
use super::controllers::{Runtime, is_terminating, res, set_condition};
use super::defaults::NODE_NAME;
use super::store::{name_of, namespace_of};

const PREEMPTION: &str =
    " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";

enum Verdict {
    Bind,
    Wait,
    Unschedulable(String),
}

pub fn reconcile(rt: &Arc<Runtime>) {
    let (pods, _) = rt.store.list(res("pods"), None);
    for pod in pods {
        if !pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() || is_terminating(&pod) {
            continue;
        }
        let scheduler = pod["spec"]["schedulerName"]
            .as_str()
            .unwrap_or("default-scheduler");
        if scheduler != "default-scheduler" {
            continue;
        }
        match check(rt, &pod) {
            Verdict::Bind => bind(rt, &pod),
            Verdict::Wait => {}
            Verdict::Unschedulable(why) => unschedulable(rt, &pod, &why),
        }
    }
}

fn check(rt: &Runtime, pod: &Value) -> Verdict {
    let ns = namespace_of(pod);
    let pvc_res = res("persistentvolumeclaims");
    let mut wait = false;
    let mut unbound_immediate = false;
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
        if claim["status"]["phase"] == "Bound" {
            continue;
        }
        let class_name = claim["spec"]["storageClassName"].as_str().unwrap_or("");
        let wffc = !class_name.is_empty()
            && rt
                .store
                .get(res("storageclasses.storage.k8s.io"), "", class_name)
                .is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer");
        if wffc {
            if !claim["metadata"]["annotations"][SELECTED_NODE].is_string() {
                let mut n = (*claim).clone();
                if !n["metadata"]["annotations"].is_object() {
                    n["metadata"]["annotations"] = json!({});
                }
                n["metadata"]["annotations"][SELECTED_NODE] = json!(NODE_NAME);
                rt.put(pvc_res, n);
            }
            wait = true;
        } else {
            unbound_immediate = true;
        }
    }
    if unbound_immediate {
        return Verdict::Unschedulable(
            "pod has unbound immediate PersistentVolumeClaims".to_string(),
        );
    }
    if wait { Verdict::Wait } else { Verdict::Bind }
}

fn unschedulable(rt: &Runtime, pod: &Value, why: &str) {
    let message = format!("0/1 nodes are available: {why}.{PREEMPTION}");
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
        rt.put(res("pods"), n);
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
    if rt.put(res("pods"), n).is_some() {
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
