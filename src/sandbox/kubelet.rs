//! A minimal kubelet for the sandbox's node: pods bound to it go from
//! Pending to Running with upstream's conditions, container statuses, pod
//! IPs and events; a container whose env refers to a missing ConfigMap or
//! Secret (key) waits in `CreateContainerConfigError`, as upstream.
//!
//! Containers do not run processes here; the emulated workloads (logs,
//! exec, volumes on disk) plug in on top of this state machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::defaults::NODE_NAME;
use super::events::{self, EventKind};
use super::fsroot::SandboxRoot;
use super::resources;
use super::store::{EventType, Store, namespace_of, now_rfc3339};

/// Runs until the store closes. `root` holds the pods' files (writable
/// layers, emptyDirs), removed when a pod is gone.
pub async fn run(store: Store, root: SandboxRoot) {
    let ips = Arc::new(IpAllocator::new(&store));
    let mut rx = store.subscribe();
    resync(&store, &root, &ips).await;
    loop {
        tokio::select! {
            _ = store.closed() => return,
            ev = rx.recv() => match ev {
                Ok(e) => {
                    if e.kind == EventType::Deleted {
                        let r = e.resource;
                        if r.group.is_empty() && r.plural == "pods"
                            && let Some(uid) = e.object["metadata"]["uid"].as_str()
                        {
                            // A container's writable layer and the pod's emptyDirs die with it.
                            let root = root.clone();
                            let uid = uid.to_string();
                            let _ = tokio::task::spawn_blocking(move || root.remove_pod(&uid)).await;
                        }
                        continue;
                    }
                    let r = e.resource;
                    if r.group.is_empty() && r.plural == "pods" {
                        if wants_start(&e.object) {
                            start(&store, &root, &ips, e.object.clone()).await;
                        }
                    } else if r.group.is_empty() && (r.plural == "configmaps" || r.plural == "secrets") {
                        let (pods, _) = store.list(resources::get("pods"), Some(namespace_of(&e.object)));
                        for p in pods.into_iter().filter(|p| wants_start(p)) {
                            start(&store, &root, &ips, p).await;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => resync(&store, &root, &ips).await,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn resync(store: &Store, root: &SandboxRoot, ips: &Arc<IpAllocator>) {
    let (pods, _) = store.list(resources::get("pods"), None);
    for p in pods.into_iter().filter(|p| wants_start(p)) {
        start(store, root, ips, p).await;
    }
}

/// Bound here, not terminating, and not running yet.
fn wants_start(pod: &Value) -> bool {
    pod["spec"]["nodeName"] == NODE_NAME
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["phase"] == "Pending"
}

struct IpAllocator {
    next: AtomicU32,
}

impl IpAllocator {
    fn new(store: &Store) -> IpAllocator {
        let (pods, _) = store.list(resources::get("pods"), None);
        let max = pods
            .iter()
            .filter_map(|p| p["status"]["podIP"].as_str())
            .filter_map(|ip| {
                let o: Vec<u32> = ip.split('.').filter_map(|x| x.parse().ok()).collect();
                (o.len() == 4 && o[0] == 10 && o[1] == 244).then(|| o[2] * 256 + o[3])
            })
            .max()
            .unwrap_or(1);
        IpAllocator {
            next: AtomicU32::new(max + 1),
        }
    }

    fn allocate(&self) -> String {
        let mut n = self.next.fetch_add(1, Ordering::Relaxed) % (256 * 256);
        if n.is_multiple_of(256) || n % 256 == 255 {
            n = self.next.fetch_add(2, Ordering::Relaxed) % (256 * 256);
        }
        format!("10.244.{}.{}", n / 256, n % 256)
    }
}

async fn start(store: &Store, root: &SandboxRoot, ips: &Arc<IpAllocator>, pod: Arc<Value>) {
    let s = store.clone();
    let ips = ips.clone();
    let root = root.clone();
    let _ = tokio::task::spawn_blocking(move || start_blocking(&s, &root, &ips, &pod)).await;
}

/// Why a container cannot be configured (a missing ConfigMap/Secret or key).
fn config_error(store: &Store, ns: &str, c: &Value) -> Option<String> {
    let cms = resources::get("configmaps");
    let secrets = resources::get("secrets");
    for e in c["env"].as_array().into_iter().flatten() {
        let from = &e["valueFrom"];
        for (field, res, kind, noun) in [
            ("configMapKeyRef", cms, "ConfigMap", "configmap"),
            ("secretKeyRef", secrets, "Secret", "secret"),
        ] {
            let r = &from[field];
            if !r.is_object() || r["optional"] == json!(true) {
                continue;
            }
            let name = r["name"].as_str().unwrap_or("");
            let key = r["key"].as_str().unwrap_or("");
            match store.get(res, ns, name) {
                None => return Some(format!("{noun} \"{name}\" not found")),
                Some(obj) => {
                    let has = obj["data"].get(key).is_some()
                        || obj["binaryData"].get(key).is_some()
                        || obj["stringData"].get(key).is_some();
                    if !has {
                        return Some(format!("couldn't find key {key} in {kind} {ns}/{name}"));
                    }
                }
            }
        }
    }
    for e in c["envFrom"].as_array().into_iter().flatten() {
        for (field, res, noun) in [
            ("configMapRef", cms, "configmap"),
            ("secretRef", secrets, "secret"),
        ] {
            let r = &e[field];
            if r.is_object() && r["optional"] != json!(true) {
                let name = r["name"].as_str().unwrap_or("");
                if store.get(res, ns, name).is_none() {
                    return Some(format!("{noun} \"{name}\" not found"));
                }
            }
        }
    }
    None
}

fn condition(kind: &str, status: bool, now: &str) -> Value {
    json!({"type": kind, "status": if status { "True" } else { "False" },
           "lastProbeTime": null, "lastTransitionTime": now})
}

fn container_id() -> String {
    format!("kubetutor://{}", uuid::Uuid::new_v4().simple())
}

/// The directories every image has, so that `ls /` and `echo > /tmp/x`
/// behave in a fresh container's writable layer.
const ROOTFS_SKELETON: &[&str] = &[
    "bin",
    "dev",
    "etc",
    "home",
    "proc",
    "root",
    "run",
    "sys",
    "tmp",
    "usr/bin",
    "usr/local/bin",
    "var/log",
    "var/tmp",
];

/// Lays out a container's writable layer (once per pod and container).
pub fn prepare_rootfs(root: &SandboxRoot, pod: &Value, container: &str) {
    let Some(uid) = pod["metadata"]["uid"].as_str() else {
        return;
    };
    let Ok(dir) = root.container_rootfs(uid, container) else {
        return;
    };
    for d in ROOTFS_SKELETON {
        let _ = std::fs::create_dir_all(dir.join(d));
    }
    let hostname = dir.join("etc/hostname");
    if !hostname.exists() {
        let name = pod["metadata"]["name"].as_str().unwrap_or("");
        let _ = std::fs::write(hostname, format!("{name}\n"));
    }
}

fn start_blocking(store: &Store, root: &SandboxRoot, ips: &IpAllocator, pod: &Value) {
    let pods = resources::get("pods");
    let ns = namespace_of(pod);
    let now = now_rfc3339();
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let failures: Vec<(String, String)> = containers
        .iter()
        .filter_map(|c| {
            config_error(store, ns, c).map(|m| (c["name"].as_str().unwrap_or("").to_string(), m))
        })
        .collect();
    let mut p = pod.clone();
    let first_time = p["status"]["podIP"].is_null();
    if first_time {
        let ip = ips.allocate();
        p["status"]["podIP"] = json!(ip);
        p["status"]["podIPs"] = json!([{"ip": ip}]);
        p["status"]["hostIP"] = json!("127.0.0.1");
        p["status"]["hostIPs"] = json!([{"ip": "127.0.0.1"}]);
        p["status"]["startTime"] = json!(now);
    }
    let init: Vec<Value> = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !init.is_empty() {
        p["status"]["initContainerStatuses"] = init
            .iter()
            .map(|c| {
                json!({"name": c["name"], "image": c["image"], "imageID": "", "containerID": container_id(),
                       "ready": true, "restartCount": 0, "started": false,
                       "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                                 "finishedAt": now, "containerID": container_id()}},
                       "lastState": {}})
            })
            .collect();
    }
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or("");
            let state = match failures.iter().find(|(n, _)| n == name) {
                Some((_, msg)) => json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}}),
                None => json!({"running": {"startedAt": now}}),
            };
            let running = state["running"].is_object();
            json!({"name": name, "image": c["image"], "imageID": "", "containerID": if running { json!(container_id()) } else { Value::Null },
                   "ready": running, "started": running, "restartCount": 0, "state": state, "lastState": {}})
        })
        .map(|mut v| {
            if v["containerID"].is_null()
                && let Some(m) = v.as_object_mut() {
                    m.remove("containerID");
                }
            v
        })
        .collect();
    p["status"]["containerStatuses"] = Value::Array(statuses);
    let all_ready = failures.is_empty();
    let scheduled = pod["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled").cloned())
        .unwrap_or_else(|| condition("PodScheduled", true, &now));
    let mut conds = vec![
        condition("PodReadyToStartContainers", true, &now),
        condition("Initialized", true, &now),
        condition("Ready", all_ready, &now),
        condition("ContainersReady", all_ready, &now),
        scheduled,
    ];
    if !all_ready {
        for c in conds
            .iter_mut()
            .filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady")
        {
            let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                names.join(" ")
            ));
        }
    }
    p["status"]["conditions"] = Value::Array(conds);
    if all_ready {
        p["status"]["phase"] = json!("Running");
    }
    // Unchanged (still failing the same way): no write, no events.
    if p == *pod {
        return;
    }
    for c in &containers {
        if let Some(name) = c["name"].as_str() {
            prepare_rootfs(root, pod, name);
        }
    }
    let Ok(updated) = store.update_status(pods, p) else {
        return;
    };
    for c in &containers {
        let name = c["name"].as_str().unwrap_or("");
        let image = c["image"].as_str().unwrap_or("");
        if let Some((_, msg)) = failures.iter().find(|(n, _)| n == name) {
            let _ = events::record_for_container(
                store,
                &updated,
                name,
                EventKind::Warning,
                "Failed",
                &format!("Error: {msg}"),
            );
            continue;
        }
        let _ = events::record_for_container(
            store,
            &updated,
            name,
            EventKind::Normal,
            "Pulled",
            &format!("Container image \"{image}\" already present on machine"),
        );
        let _ = events::record_for_container(
            store,
            &updated,
            name,
            EventKind::Normal,
            "Created",
            &format!("Created container: {name}"),
        );
        let _ = events::record_for_container(
            store,
            &updated,
            name,
            EventKind::Normal,
            "Started",
            &format!("Started container {name}"),
        );
    }
}
