//! The scheduler of the one-node sandbox: binds pods to the node once
//! their claims allow it, with upstream's `FailedScheduling` messages. For
//! a claim of a `WaitForFirstConsumer` class it marks the claim with the
//! selected node (what the provisioner waits for), as upstream does.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::defaults::NODE_NAME;
use super::events::{self, EventKind};
use super::resources;
use super::store::{EventType, Store, UpdateScope, name_of, namespace_of, now_rfc3339};

const COMPONENT: &str = "default-scheduler";

/// Runs until the store closes.
pub async fn run(store: Store) {
    let mut rx = store.subscribe();
    resync(&store).await;
    loop {
        tokio::select! {
            _ = store.closed() => return,
            ev = rx.recv() => match ev {
                Ok(e) => {
                    let res = e.resource;
                    if e.kind == EventType::Deleted {
                        continue;
                    }
                    if res.group.is_empty() && res.plural == "pods" {
                        if needs_scheduling(&e.object) {
                            schedule(&store, e.object.clone()).await;
                        }
                    } else if res.group.is_empty() && res.plural == "persistentvolumeclaims" {
                        // A claim changed (bound?): retry the pods of its namespace.
                        retry_namespace(&store, namespace_of(&e.object)).await;
                    }
                }
                Err(RecvError::Lagged(_)) => resync(&store).await,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

fn needs_scheduling(pod: &Value) -> bool {
    pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["spec"]["schedulerName"]
            .as_str()
            .unwrap_or("default-scheduler")
            == "default-scheduler"
}

async fn resync(store: &Store) {
    let (pods, _) = store.list(resources::get("pods"), None);
    for p in pods.into_iter().filter(|p| needs_scheduling(p)) {
        schedule(store, p).await;
    }
}

async fn retry_namespace(store: &Store, ns: &str) {
    let (pods, _) = store.list(resources::get("pods"), Some(ns));
    for p in pods.into_iter().filter(|p| needs_scheduling(p)) {
        schedule(store, p).await;
    }
}

/// What keeps a pod from being placed.
enum Verdict {
    Bind,
    /// Waiting for a claim to be provisioned/bound (no event).
    Wait,
    Unschedulable(String),
}

fn claims(pod: &Value) -> Vec<String> {
    pod["spec"]["volumes"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    v["persistentVolumeClaim"]["claimName"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn verdict(store: &Store, pod: &Value) -> Verdict {
    let ns = namespace_of(pod);
    let pvcs = resources::get("persistentvolumeclaims");
    let classes = resources::get("storageclasses.storage.k8s.io");
    let mut wait = false;
    for claim in claims(pod) {
        let Some(pvc) = store.get(pvcs, ns, &claim) else {
            return Verdict::Unschedulable(format!(
                "0/1 nodes are available: persistentvolumeclaim \"{claim}\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            ));
        };
        if !pvc["metadata"]["deletionTimestamp"].is_null() {
            return Verdict::Unschedulable(format!(
                "0/1 nodes are available: persistentvolumeclaim \"{claim}\" is being deleted. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            ));
        }
        if pvc["status"]["phase"] == "Bound" {
            continue;
        }
        let class = pvc["spec"]["storageClassName"].as_str().unwrap_or("");
        let wffc = store
            .get(classes, "", class)
            .is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer");
        if wffc {
            if pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"].is_null() {
                let mut p = (*pvc).clone();
                p["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] =
                    json!(NODE_NAME);
                let _ = store.update(pvcs, p);
            }
            wait = true;
        } else {
            return Verdict::Unschedulable(
                "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".to_string(),
            );
        }
    }
    if wait { Verdict::Wait } else { Verdict::Bind }
}

async fn schedule(store: &Store, pod: Arc<Value>) {
    let s = store.clone();
    let _ = tokio::task::spawn_blocking(move || schedule_blocking(&s, &pod)).await;
}

fn set_condition(pod: &mut Value, cond: Value) {
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    if let Some(list) = pod["status"]["conditions"].as_array_mut() {
        list.retain(|c| c["type"] != cond["type"]);
        list.push(cond);
    }
}

fn schedule_blocking(store: &Store, pod: &Value) {
    let pods = resources::get("pods");
    match verdict(store, pod) {
        Verdict::Wait => {}
        Verdict::Unschedulable(msg) => {
            let already = pod["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "PodScheduled" && c["message"] == json!(msg))
            });
            if already {
                return;
            }
            let mut p = pod.clone();
            set_condition(
                &mut p,
                json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                       "message": msg, "lastProbeTime": null, "lastTransitionTime": now_rfc3339()}),
            );
            if let Ok(updated) = store.update_status(pods, p) {
                let _ = events::record(
                    store,
                    &updated,
                    EventKind::Warning,
                    "FailedScheduling",
                    &msg,
                    COMPONENT,
                );
            }
        }
        Verdict::Bind => {
            let mut p = pod.clone();
            p["spec"]["nodeName"] = json!(NODE_NAME);
            set_condition(
                &mut p,
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                       "lastTransitionTime": now_rfc3339()}),
            );
            if let Ok(bound) = store.update_scoped(pods, p, UpdateScope::All) {
                let msg = format!(
                    "Successfully assigned {}/{} to {NODE_NAME}",
                    namespace_of(&bound),
                    name_of(&bound)
                );
                let _ = events::record(
                    store,
                    &bound,
                    EventKind::Normal,
                    "Scheduled",
                    &msg,
                    COMPONENT,
                );
            }
        }
    }
}
