//! The kubelet of `kubetutor-node`: runs the pods bound to it.
//!
//! Each pod gets its volumes set up (configMap/secret files written, an
//! emptyDir per volume, hostPath and PV directories), then each container
//! runs an emulated app ([`crate::images`]) over a fresh writable layer with
//! its env resolved from ConfigMaps and Secrets. Crashed containers restart
//! with CrashLoopBackOff (10s, 20s, ... capped at 5m); readiness and
//! liveness probes run against the app through the pod's network
//! namespace. The in-memory state here is the truth about containers: the
//! control loop turns it into `pod.status` on every pass. A deleted pod's
//! containers are stopped and its layers and emptyDirs removed from disk.

use crate::machinery::resources;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::hostfs::{ContainerFs, MountKind, confined_join};
use crate::images::{self, AppContext};
use crate::machinery::cluster::NODE_NAME;
use crate::machinery::meta::{lock, set_condition};
use crate::machinery::meta::{name_of, namespace_of};
use crate::node::Node;
use crate::runtime::events::Kind;

/// Lines kept per container instance.
const LOG_CAP: usize = 10_000;
/// Directories of a fresh writable layer (the image's skeleton).
const IMAGE_DIRS: &[&str] = &[
    "bin",
    "dev",
    "etc",
    "home",
    "lib",
    "proc",
    "root",
    "run",
    "sbin",
    "sys",
    "tmp",
    "usr/bin",
    "usr/local/bin",
    "var/lib",
    "var/log",
    "var/tmp",
];
/// How long a failed setup (missing ConfigMap...) waits before retrying.
const RETRY: Duration = Duration::from_secs(2);

/// A container's state, as in `containerStatuses[].state`.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated {
        exit_code: i32,
        reason: String,
        started_at: String,
        finished_at: String,
    },
}

impl State {
    fn to_json(&self, container_id: &str) -> Value {
        match self {
            State::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let Some(m) = message {
                    w["message"] = json!(m);
                }
                json!({"waiting": w})
            }
            State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            State::Terminated {
                exit_code,
                reason,
                started_at,
                finished_at,
            } => json!({"terminated": {
                "exitCode": exit_code, "reason": reason, "startedAt": started_at,
                "finishedAt": finished_at, "containerID": container_id}}),
        }
    }
}

/// One log line with its time.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub ts: jiff::Timestamp,
    pub text: String,
}

/// The mutable state of one container.
#[derive(Debug, Clone)]
pub struct CtrState {
    pub state: State,
    pub last: Option<State>,
    pub restarts: i64,
    pub ready: bool,
    pub started_once: bool,
    pub container_id: String,
    pub last_container_id: String,
    /// The filesystem and env of the running instance (for exec).
    pub fs: Option<ContainerFs>,
    pub env: Vec<(String, String)>,
}

/// One container of a running pod.
pub struct CtrRt {
    pub name: String,
    pub image: String,
    pub spec: Value,
    pub init: bool,
    pub st: Mutex<CtrState>,
    /// (current instance, previous instance).
    pub logs: Mutex<(Vec<LogLine>, Vec<LogLine>)>,
    /// Fires on every new log line and state change (for `logs -f`).
    pub changed: Notify,
}

impl CtrRt {
    fn new(spec: &Value, init: bool, restarts: i64) -> Arc<CtrRt> {
        Arc::new(CtrRt {
            name: spec["name"].as_str().unwrap_or("").to_string(),
            image: spec["image"].as_str().unwrap_or("").to_string(),
            spec: spec.clone(),
            init,
            st: Mutex::new(CtrState {
                state: State::Waiting {
                    reason: if init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    }
                    .to_string(),
                    message: None,
                },
                last: None,
                restarts,
                ready: false,
                started_once: false,
                container_id: String::new(),
                last_container_id: String::new(),
                fs: None,
                env: Vec::new(),
            }),
            logs: Mutex::new((Vec::new(), Vec::new())),
            changed: Notify::new(),
        })
    }

    pub fn state(&self) -> CtrState {
        lock(&self.st).clone()
    }

    fn set(&self, f: impl FnOnce(&mut CtrState)) {
        f(&mut lock(&self.st));
        self.changed.notify_waiters();
    }

    /// The log lines of the current (or previous) instance.
    pub fn log_lines(&self, previous: bool) -> Vec<LogLine> {
        let l = lock(&self.logs);
        if previous { l.1.clone() } else { l.0.clone() }
    }

    fn push_log(&self, line: &str) {
        {
            let mut l = lock(&self.logs);
            if l.0.len() >= LOG_CAP {
                l.0.remove(0);
            }
            l.0.push(LogLine {
                ts: jiff::Timestamp::now(),
                text: line.to_string(),
            });
        }
        self.changed.notify_waiters();
    }

    fn rotate_logs(&self) {
        let mut l = lock(&self.logs);
        l.1 = std::mem::take(&mut l.0);
    }
}

/// A mounted pod volume.
#[derive(Debug, Clone)]
struct Volume {
    host: PathBuf,
    kind: MountKind,
    source: String,
    capacity: Option<u64>,
    read_only: bool,
}

/// A pod the kubelet runs.
pub struct PodRt {
    pub uid: String,
    pub ns: String,
    pub name: String,
    pub pod: Value,
    pub ip: String,
    pub start_time: String,
    pub cancel: CancellationToken,
    pub containers: Vec<Arc<CtrRt>>,
    pub init: Vec<Arc<CtrRt>>,
    volumes: Mutex<Option<HashMap<String, Volume>>>,
    init_done: Mutex<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// When the pod is being deleted: the end of its grace period, after
    /// which containers still running are killed.
    deadline: Mutex<Option<Instant>>,
    /// Set once no container runs any more and none will start.
    stopped: std::sync::atomic::AtomicBool,
}

impl PodRt {
    /// Stops the pod's containers: SIGTERM now, SIGKILL at `deadline` (a
    /// later call may only bring it closer, as a shorter grace period does).
    pub fn terminate(&self, deadline: Instant) {
        {
            let mut d = lock(&self.deadline);
            *d = Some(d.map_or(deadline, |old| old.min(deadline)));
        }
        self.cancel.cancel();
    }

    /// The end of the grace period, once the pod is being stopped.
    fn deadline(&self) -> Option<Instant> {
        *lock(&self.deadline)
    }

    /// Whether every container has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A container by name (init containers too).
    pub fn container(&self, name: &str) -> Option<Arc<CtrRt>> {
        self.containers
            .iter()
            .chain(&self.init)
            .find(|c| c.name == name)
            .cloned()
    }
}

/// The kubelet's table of running pods.
pub struct Kubelet {
    pods: Mutex<HashMap<String, Arc<PodRt>>>,
    next_ip: Mutex<u32>,
}

impl Default for Kubelet {
    fn default() -> Self {
        Self::new()
    }
}

impl Kubelet {
    pub fn new() -> Kubelet {
        Kubelet {
            pods: Mutex::new(HashMap::new()),
            next_ip: Mutex::new(2),
        }
    }

    /// A running pod by uid.
    pub fn pod(&self, uid: &str) -> Option<Arc<PodRt>> {
        lock(&self.pods).get(uid).cloned()
    }

    /// The next free address of the node's /24 (at most MAX_PODS are in
    /// use, so one is free; if not, the next one is shared rather than
    /// looping for ever).
    fn alloc_ip(&self, used: &HashSet<String>) -> String {
        let mut n = lock(&self.next_ip);
        let mut first = None;
        for _ in 2..=254 {
            let ip = format!("10.244.0.{}", *n);
            *n = if *n >= 254 { 2 } else { *n + 1 };
            if !used.contains(&ip) {
                return ip;
            }
            first.get_or_insert(ip);
        }
        first.unwrap_or_else(|| "10.244.0.2".to_string())
    }

    /// Stops every container (the sandbox is shutting down; files stay).
    pub async fn shutdown(&self) {
        let pods: Vec<Arc<PodRt>> = lock(&self.pods).drain().map(|(_, p)| p).collect();
        for p in &pods {
            p.cancel.cancel();
        }
        for p in pods {
            let tasks = std::mem::take(&mut *lock(&p.tasks));
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
            }
        }
    }
}

/// One kubelet pass: start new pods, stop the containers of pods being
/// deleted (SIGTERM, SIGKILL when the grace period is over), write
/// statuses, and delete for good the pods whose containers have stopped
/// (their layers and emptyDirs first: data loss is real).
pub fn reconcile(node: &Arc<Node>) {
    // Only the pods bound to this node are parsed (and only they have
    // addresses, which the IP allocation below looks at).
    let (stored, _) = node.store.list_stored(&resources::PODS, None);
    let pods: Vec<Arc<Value>> = stored
        .iter()
        .filter(|p| *p.facts.node == *NODE_NAME)
        .map(|p| Arc::new(p.value()))
        .collect();
    let known: HashMap<String, Arc<PodRt>> = lock(&node.kubelet.pods).clone();
    let mut used_ips: Option<HashSet<String>> = None;
    for pod in &pods {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let terminating = crate::machinery::meta::is_terminating(pod);
        match known.get(&uid) {
            Some(prt) => {
                if terminating {
                    let grace = pod["metadata"]["deletionGracePeriodSeconds"]
                        .as_i64()
                        .unwrap_or(0)
                        .max(0)
                        .unsigned_abs();
                    if !prt.cancel.is_cancelled() {
                        prt.terminate(Instant::now() + Duration::from_secs(grace));
                    } else if grace == 0 {
                        prt.terminate(Instant::now());
                    }
                }
                write_status(node, pod, prt);
                if terminating && prt.is_stopped() {
                    lock(&node.kubelet.pods).remove(&uid);
                    finish_deletion(node, pod);
                }
            }
            None if terminating => {
                // Nothing runs here for it (it never started, or the
                // sandbox restarted meanwhile).
                finish_deletion(node, pod);
            }
            None => {
                let phase = pod["status"]["phase"].as_str().unwrap_or("");
                if phase == "Succeeded" || phase == "Failed" {
                    continue;
                }
                // Addresses in use, gathered once a pass (finished pods
                // give theirs back).
                let used = used_ips.get_or_insert_with(|| {
                    pods.iter()
                        .filter(|p| !crate::machinery::meta::pod_finished(p))
                        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
                        .collect()
                });
                let prt = admit_pod(node, pod, used);
                used.insert(prt.ip.clone());
                // The first status (ContainerCreating) is written before
                // anything runs: a container that exits at once must not
                // beat it to the API, or the watch would skip that state.
                write_status(node, pod, &prt);
                let task = tokio::spawn(run_pod(node.clone(), prt.clone()));
                lock(&prt.tasks).push(task);
            }
        }
    }
    for (uid, prt) in known {
        if !pods
            .iter()
            .any(|p| p["metadata"]["uid"].as_str() == Some(uid.as_str()))
        {
            // Gone from the API without the kubelet (a forced delete): its
            // containers are killed.
            lock(&node.kubelet.pods).remove(&uid);
            prt.terminate(Instant::now());
            let rt2 = node.clone();
            tokio::spawn(async move {
                let tasks = std::mem::take(&mut *lock(&prt.tasks));
                for t in tasks {
                    let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
                }
                rt2.netns.release_pod(&prt.uid);
                let _ = rt2.root.remove_pod(&prt.uid);
            });
        }
    }
}

/// The end of a pod's deletion, once nothing runs: its layers and
/// emptyDirs are removed, then the pod object (grace period 0).
fn finish_deletion(node: &Node, pod: &Value) {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    node.netns.release_pod(uid);
    let _ = node.root.remove_pod(uid);
    let _ = node.delete(
        &resources::PODS,
        namespace_of(pod),
        name_of(pod),
        &crate::registry::deletion::DeleteOptions {
            grace_period_seconds: Some(0),
            preconditions: crate::storage::store::Preconditions {
                uid: Some(uid.to_string()),
                ..Default::default()
            },
            ..Default::default()
        },
    );
}

/// The kubelet's record of a new pod (address, containers waiting); its
/// containers are started by `run_pod`.
fn admit_pod(node: &Arc<Node>, pod: &Value, used_ips: &HashSet<String>) -> Arc<PodRt> {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let ip = pod["status"]["podIP"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| node.kubelet.alloc_ip(used_ips));
    let old_restarts = |list: &str, name: &str| {
        pod["status"][list]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .and_then(|c| c["restartCount"].as_i64())
            .unwrap_or(0)
    };
    let ctrs = |key: &str, init: bool, status_key: &str| -> Vec<Arc<CtrRt>> {
        pod["spec"][key]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        CtrRt::new(
                            c,
                            init,
                            old_restarts(status_key, c["name"].as_str().unwrap_or("")),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let prt = Arc::new(PodRt {
        uid: uid.clone(),
        ns: namespace_of(pod).to_string(),
        name: name_of(pod).to_string(),
        pod: pod.clone(),
        ip,
        start_time: pod["status"]["startTime"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(crate::machinery::meta::now_rfc3339),
        cancel: node.cancel.child_token(),
        containers: ctrs("containers", false, "containerStatuses"),
        init: ctrs("initContainers", true, "initContainerStatuses"),
        volumes: Mutex::new(None),
        init_done: Mutex::new(false),
        tasks: Mutex::new(Vec::new()),
        deadline: Mutex::new(None),
        stopped: std::sync::atomic::AtomicBool::new(false),
    });
    lock(&node.kubelet.pods).insert(uid, prt.clone());
    prt
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

async fn run_pod(node: Arc<Node>, prt: Arc<PodRt>) {
    run_containers(&node, &prt).await;
    prt.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
    node.wake();
}

async fn run_containers(node: &Arc<Node>, prt: &Arc<PodRt>) {
    // Mounts are retried with upstream's back-off (500ms doubling to 2m2s),
    // each failure an event (aggregated: `x4 over 8s`).
    let mut retry = Duration::from_millis(500);
    loop {
        match setup_volumes(node, prt) {
            Ok(v) => {
                *lock(&prt.volumes) = Some(v);
                break;
            }
            Err(msgs) => {
                for msg in msgs {
                    node.events.record(
                        &prt.pod,
                        None,
                        Kind::Warning,
                        "FailedMount",
                        msg,
                        "kubelet",
                    );
                }
                if !sleep_or_cancel(retry, &prt.cancel).await {
                    return;
                }
                retry = (retry * 2).min(Duration::from_secs(122));
            }
        }
    }
    node.wake();
    let policy = prt.pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always")
        .to_string();
    for c in &prt.init {
        // Init containers run one after the other, each to success.
        let init_policy = if policy == "Never" {
            "Never"
        } else {
            "OnFailure"
        };
        let code = supervise(node, prt, c, init_policy).await;
        if code != Some(0) {
            return;
        }
    }
    *lock(&prt.init_done) = true;
    node.wake();
    let mut handles = Vec::new();
    for (i, c) in prt.containers.iter().enumerate() {
        if i > 0 {
            // Containers start in order, as the kubelet starts them: the
            // previous one gets a moment to open its ports first.
            let prev = &prt.containers[i - 1];
            for _ in 0..50 {
                if prev.state().started_once || prt.cancel.is_cancelled() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !sleep_or_cancel(Duration::from_millis(200), &prt.cancel).await {
                break;
            }
        }
        let (rt2, prt2, c2, p2) = (node.clone(), prt.clone(), c.clone(), policy.clone());
        handles.push(tokio::spawn(async move {
            supervise(&rt2, &prt2, &c2, &p2).await;
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

fn volume_dir(node: &Node, prt: &PodRt, kind: &str, vol: &str) -> Result<PathBuf, String> {
    let base = node.root.pod_dir(&prt.uid).map_err(|e| e.to_string())?;
    let dir = confined_join(&base.join("volumes").join(kind), vol).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Writes `files` (relative path → bytes) into `dir`, replacing what was there.
fn write_files(dir: &std::path::Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
    for (rel, data) in files {
        let path = confined_join(dir, rel).map_err(|e| e.to_string())?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, data).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_else(|_| s.as_bytes().to_vec())
}

/// The key → bytes of a ConfigMap or Secret.
fn data_of(obj: &Value, secret: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(d) = obj["data"].as_object() {
        for (k, v) in d {
            let s = v.as_str().unwrap_or("");
            out.push((
                k.clone(),
                if secret {
                    b64(s)
                } else {
                    s.as_bytes().to_vec()
                },
            ));
        }
    }
    if let Some(d) = obj[if secret { "stringData" } else { "binaryData" }].as_object() {
        for (k, v) in d {
            let s = v.as_str().unwrap_or("");
            out.push((
                k.clone(),
                if secret {
                    s.as_bytes().to_vec()
                } else {
                    b64(s)
                },
            ));
        }
    }
    out
}

fn projected_files(
    data: &[(String, Vec<u8>)],
    items: &Value,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    match items.as_array() {
        Some(items) if !items.is_empty() => {
            let mut out = Vec::new();
            for it in items {
                let key = it["key"].as_str().unwrap_or("");
                let path = it["path"].as_str().unwrap_or(key);
                match data.iter().find(|(k, _)| k == key) {
                    Some((_, v)) => out.push((path.to_string(), v.clone())),
                    None => return Err(key.to_string()),
                }
            }
            Ok(out)
        }
        _ => Ok(data.to_vec()),
    }
}

/// Sets up every volume of the pod, or says why each one that failed did.
fn setup_volumes(node: &Node, prt: &PodRt) -> Result<HashMap<String, Volume>, Vec<String>> {
    let mut out = HashMap::new();
    let mut errors = Vec::new();
    let vols = prt.pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &vols {
        let vname = v["name"].as_str().unwrap_or("");
        match setup_volume(node, prt, v) {
            Ok(vol) => {
                out.insert(vname.to_string(), vol);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Sets up one volume, or the FailedMount message.
fn setup_volume(node: &Node, prt: &PodRt, v: &Value) -> Result<Volume, String> {
    let ns = &prt.ns;
    {
        let vname = v["name"].as_str().unwrap_or("");
        let fail = |m: String| format!("MountVolume.SetUp failed for volume \"{vname}\" : {m}");
        let vol = if let Some(cm) = v.get("configMap").filter(|c| c.is_object()) {
            let name = cm["name"].as_str().unwrap_or("");
            let optional = cm["optional"].as_bool().unwrap_or(false);
            let data = match node.store.get(&resources::CONFIG_MAPS, ns, name) {
                Some(o) => data_of(&o, false),
                None if optional => Vec::new(),
                None => return Err(fail(format!("configmap \"{name}\" not found"))),
            };
            let files = projected_files(&data, &cm["items"])
                .map_err(|k| fail(format!("configmap references non-existent config key: {k}")))?;
            let dir = volume_dir(node, prt, "kubernetes.io~configmap", vname)?;
            write_files(&dir, &files)?;
            Volume {
                host: dir,
                kind: MountKind::Tmpfs,
                source: name.to_string(),
                capacity: None,
                read_only: true,
            }
        } else if let Some(sec) = v.get("secret").filter(|c| c.is_object()) {
            let name = sec["secretName"].as_str().unwrap_or("");
            let optional = sec["optional"].as_bool().unwrap_or(false);
            let data = match node.store.get(&resources::SECRETS, ns, name) {
                Some(o) => data_of(&o, true),
                None if optional => Vec::new(),
                None => return Err(fail(format!("secret \"{name}\" not found"))),
            };
            let files = projected_files(&data, &sec["items"])
                .map_err(|k| fail(format!("references non-existent secret key: {k}")))?;
            let dir = volume_dir(node, prt, "kubernetes.io~secret", vname)?;
            write_files(&dir, &files)?;
            Volume {
                host: dir,
                kind: MountKind::Tmpfs,
                source: name.to_string(),
                capacity: None,
                read_only: true,
            }
        } else if let Some(ed) = v.get("emptyDir").filter(|c| c.is_object()) {
            let dir = node
                .root
                .empty_dir(&prt.uid, vname)
                .map_err(|e| fail(e.to_string()))?;
            let capacity = crate::machinery::meta::quantity(&ed["sizeLimit"]).map(|q| q as u64);
            let kind = if ed["medium"] == "Memory" {
                MountKind::Tmpfs
            } else {
                MountKind::EmptyDir
            };
            Volume {
                host: dir,
                kind,
                source: vname.to_string(),
                capacity,
                read_only: false,
            }
        } else if let Some(hp) = v.get("hostPath").filter(|c| c.is_object()) {
            let path = hp["path"].as_str().unwrap_or("/");
            let dir = host_path(node, path, hp["type"].as_str().unwrap_or("")).map_err(fail)?;
            Volume {
                host: dir,
                kind: MountKind::HostPath,
                source: path.to_string(),
                capacity: None,
                read_only: false,
            }
        } else if let Some(pvc) = v.get("persistentVolumeClaim").filter(|c| c.is_object()) {
            let claim_name = pvc["claimName"].as_str().unwrap_or("");
            let claim = node
                .store
                .get(&resources::PVCS, ns, claim_name)
                .ok_or_else(|| fail(format!("persistentvolumeclaim \"{claim_name}\" not found")))?;
            let pv_name = claim["spec"]["volumeName"].as_str().unwrap_or("");
            let pv = node
                .store
                .get(&resources::PVS, "", pv_name)
                .filter(|_| claim["status"]["phase"] == "Bound")
                .ok_or_else(|| {
                    fail(format!(
                        "persistentvolumeclaim \"{claim_name}\" is not bound"
                    ))
                })?;
            let dir = pv_dir(node, &pv).map_err(fail)?;
            let capacity = crate::machinery::meta::quantity(&pv["spec"]["capacity"]["storage"])
                .map(|q| q as u64);
            Volume {
                host: dir,
                kind: MountKind::Volume,
                source: pv_name.to_string(),
                capacity,
                read_only: pvc["readOnly"].as_bool().unwrap_or(false),
            }
        } else {
            // projected (the service account's kube-api-access), downwardAPI
            // and the like: a small read-only tmpfs.
            let mut files = Vec::new();
            let (plugin, sources) = if let Some(p) = v.get("projected").filter(|c| c.is_object()) {
                let sources = p["sources"].as_array().cloned().unwrap_or_default();
                ("kubernetes.io~projected", sources)
            } else if let Some(d) = v.get("downwardAPI").filter(|c| c.is_object()) {
                (
                    "kubernetes.io~downward-api",
                    vec![json!({"downwardAPI": d})],
                )
            } else {
                ("kubernetes.io~empty-dir", Vec::new())
            };
            for src in &sources {
                if let Some(t) = src.get("serviceAccountToken").filter(|c| c.is_object()) {
                    let path = t["path"].as_str().unwrap_or("token");
                    files.push((path.to_string(), service_account_token(prt).into_bytes()));
                }
                for (key, secret) in [("configMap", false), ("secret", true)] {
                    let Some(r) = src.get(key).filter(|c| c.is_object()) else {
                        continue;
                    };
                    let name = r["name"].as_str().unwrap_or("");
                    let optional = r["optional"].as_bool().unwrap_or(false);
                    let what = if secret { "secret" } else { "configmap" };
                    let data = match node.store.get(
                        if secret {
                            &resources::SECRETS
                        } else {
                            &resources::CONFIG_MAPS
                        },
                        ns,
                        name,
                    ) {
                        Some(o) => data_of(&o, secret),
                        None if optional => Vec::new(),
                        None => return Err(fail(format!("{what} \"{name}\" not found"))),
                    };
                    let picked = projected_files(&data, &r["items"]).map_err(|k| {
                        fail(format!("{what} references non-existent config key: {k}"))
                    })?;
                    files.extend(picked);
                }
                if let Some(items) = src["downwardAPI"]["items"].as_array() {
                    for it in items {
                        let path = it["path"].as_str().unwrap_or("");
                        if let Some(fp) = it["fieldRef"]["fieldPath"].as_str() {
                            files.push((path.to_string(), field_value(prt, fp).into_bytes()));
                        }
                    }
                }
            }
            let dir = volume_dir(node, prt, plugin, vname)?;
            write_files(&dir, &files)?;
            Volume {
                host: dir,
                kind: MountKind::Tmpfs,
                source: vname.to_string(),
                capacity: None,
                read_only: true,
            }
        };
        Ok(vol)
    }
}

/// Where a persistent volume's data lives.
pub fn pv_dir(node: &Node, pv: &Value) -> Result<PathBuf, String> {
    let name = name_of(pv);
    if pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"].is_string() {
        return node.root.volume(name).map_err(|e| e.to_string());
    }
    if let Some(path) = pv["spec"]["hostPath"]["path"].as_str() {
        return host_path(
            node,
            path,
            pv["spec"]["hostPath"]["type"].as_str().unwrap_or(""),
        );
    }
    if let Some(path) = pv["spec"]["local"]["path"].as_str() {
        return node.root.host_path(path).map_err(|e| e.to_string());
    }
    node.root.volume(name).map_err(|e| e.to_string())
}

/// A hostPath (of a pod or a PV) in the sandbox, after the kubelet's type
/// check for `ty` (`DirectoryOrCreate` and `FileOrCreate` create what is
/// missing). With no type, a missing path becomes a directory, as the
/// container runtime's bind mount makes it.
pub fn host_path(node: &Node, path: &str, ty: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::FileTypeExt as _;
    let entry = node.root.host_path_entry(path).map_err(|e| e.to_string())?;
    let meta = std::fs::metadata(&entry).ok();
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(entry.clone())
        } else {
            Err(format!("hostPath type check failed: {path} is not {what}"))
        }
    };
    let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
    let is_file = meta.as_ref().is_some_and(|m| m.is_file());
    let kind = |f: fn(&std::fs::FileType) -> bool| meta.as_ref().is_some_and(|m| f(&m.file_type()));
    match ty {
        "" => node.root.host_path(path).map_err(|e| e.to_string()),
        "DirectoryOrCreate" if meta.is_none() => {
            node.root.host_path(path).map_err(|e| e.to_string())
        }
        "DirectoryOrCreate" | "Directory" => check(is_dir, "a directory"),
        "FileOrCreate" if meta.is_none() => {
            match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&entry)
            {
                Ok(_) => Ok(entry),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(format!("open {path}: no such file or directory"))
                }
                Err(e) => Err(format!("open {path}: {e}")),
            }
        }
        "FileOrCreate" | "File" => check(is_file, "a file"),
        "Socket" => check(kind(|t| t.is_socket()), "a socket file"),
        "CharDevice" => check(kind(|t| t.is_char_device()), "a character device"),
        "BlockDevice" => check(kind(|t| t.is_block_device()), "a block device"),
        other => Err(format!("{other} is an invalid volume type")),
    }
}

/// `$(VAR)` references to earlier variables, as the kubelet expands them.
fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let name = &after[..j];
                match env.iter().rev().find(|(k, _)| k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push_str("$(");
                        out.push_str(name);
                        out.push(')');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The container's environment, or the CreateContainerConfigError message.
pub fn resolve_env(node: &Node, prt: &PodRt, c: &Value) -> Result<Vec<(String, String)>, String> {
    let ns = &prt.ns;
    let mut env: Vec<(String, String)> = Vec::new();
    let get = |secret: bool, name: &str| {
        node.store.get(
            if secret {
                &resources::SECRETS
            } else {
                &resources::CONFIG_MAPS
            },
            ns,
            name,
        )
    };
    let what = |secret: bool| if secret { "secret" } else { "configmap" };
    for src in c["envFrom"].as_array().cloned().unwrap_or_default() {
        let prefix = src["prefix"].as_str().unwrap_or("");
        for (key, secret) in [("configMapRef", false), ("secretRef", true)] {
            let r = &src[key];
            if !r.is_object() {
                continue;
            }
            let name = r["name"].as_str().unwrap_or("");
            match get(secret, name) {
                Some(o) => {
                    for (k, v) in data_of(&o, secret) {
                        env.push((
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        ));
                    }
                }
                None if r["optional"].as_bool().unwrap_or(false) => {}
                None => return Err(format!("{} \"{name}\" not found", what(secret))),
            }
        }
    }
    for e in c["env"].as_array().cloned().unwrap_or_default() {
        let name = e["name"].as_str().unwrap_or("").to_string();
        if let Some(v) = e["value"].as_str() {
            let v = expand(v, &env);
            env.push((name, v));
            continue;
        }
        let vf = &e["valueFrom"];
        let mut value = String::new();
        for (key, secret, kind) in [
            ("configMapKeyRef", false, "ConfigMap"),
            ("secretKeyRef", true, "Secret"),
        ] {
            let r = &vf[key];
            if !r.is_object() {
                continue;
            }
            let oname = r["name"].as_str().unwrap_or("");
            let k = r["key"].as_str().unwrap_or("");
            let optional = r["optional"].as_bool().unwrap_or(false);
            match get(secret, oname) {
                Some(o) => match data_of(&o, secret).into_iter().find(|(dk, _)| dk == k) {
                    Some((_, v)) => value = String::from_utf8_lossy(&v).into_owned(),
                    None if optional => {}
                    None => return Err(format!("couldn't find key {k} in {kind} {ns}/{oname}")),
                },
                None if optional => {}
                None => return Err(format!("{} \"{oname}\" not found", what(secret))),
            }
        }
        if let Some(path) = vf["fieldRef"]["fieldPath"].as_str() {
            value = field_value(prt, path);
        }
        env.push((name, value));
    }
    Ok(env)
}

/// A bound service account token, as the kubelet writes it (a JWT the
/// sandbox does not check).
fn service_account_token(prt: &PodRt) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let now = jiff::Timestamp::now().as_second();
    let header = json!({"alg": "RS256", "kid": "kubetutor-sandbox"});
    let claims = json!({
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": now + 3607,
        "iat": now,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {
            "namespace": prt.ns,
            "pod": {"name": prt.name, "uid": prt.uid},
            "serviceaccount": {"name": prt.pod["spec"]["serviceAccountName"].as_str().unwrap_or("default")},
        },
        "nbf": now,
        "sub": format!(
            "system:serviceaccount:{}:{}",
            prt.ns,
            prt.pod["spec"]["serviceAccountName"].as_str().unwrap_or("default")
        ),
    });
    format!("{}.{}.c2FuZGJveA", b64(&header), b64(&claims))
}

/// The value of a downward API field path of the pod.
fn field_value(prt: &PodRt, path: &str) -> String {
    let p = &prt.pod;
    match path {
        "metadata.name" => prt.name.clone(),
        "metadata.namespace" => prt.ns.clone(),
        "metadata.uid" => prt.uid.clone(),
        "spec.nodeName" => NODE_NAME.to_string(),
        "spec.serviceAccountName" => p["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        "status.podIP" => prt.ip.clone(),
        "status.hostIP" => "127.0.0.1".to_string(),
        other => {
            let label = other
                .strip_prefix("metadata.labels['")
                .map(|l| ("labels", l))
                .or_else(|| {
                    other
                        .strip_prefix("metadata.annotations['")
                        .map(|a| ("annotations", a))
                });
            match label {
                Some((field, l)) => p["metadata"][field][l.trim_end_matches("']")]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                None => String::new(),
            }
        }
    }
}

/// Go's time.Duration formatting for whole seconds: `10s`, `1m20s`, `5m0s`.
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        if d.subsec_millis() > 0 && s < 10 {
            return format!("{}ms", d.as_millis());
        }
        return format!("{s}s");
    }
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else {
        format!("{m}m{s}s")
    }
}

fn field_path(c: &CtrRt) -> String {
    if c.init {
        format!("spec.initContainers{{{}}}", c.name)
    } else {
        format!("spec.containers{{{}}}", c.name)
    }
}

fn build_fs(node: &Node, prt: &PodRt, c: &CtrRt, fresh: bool) -> Result<ContainerFs, String> {
    if fresh {
        // A restarted container starts again from its image: a new layer.
        if let Ok(pod_dir) = node.root.pod_dir(&prt.uid) {
            let _ = std::fs::remove_dir_all(pod_dir.join("containers").join(&c.name));
        }
    }
    let rootfs = node
        .root
        .container_rootfs(&prt.uid, &c.name)
        .map_err(|e| e.to_string())?;
    // What every image has, so `echo x > /tmp/f` works as in busybox.
    for d in IMAGE_DIRS {
        let _ = std::fs::create_dir_all(rootfs.join(d));
    }
    // The files the kubelet manages in every container.
    for (name, text) in etc_files(prt) {
        let _ = std::fs::write(rootfs.join("etc").join(name), text);
    }
    let mut fs = ContainerFs::new(rootfs);
    let vols = lock(&prt.volumes).clone().unwrap_or_default();
    for m in c.spec["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let vname = m["name"].as_str().unwrap_or("");
        let path = m["mountPath"].as_str().unwrap_or("");
        let Some(v) = vols.get(vname) else {
            return Err(format!(
                "cannot find volume \"{vname}\" to mount into container \"{}\"",
                c.name
            ));
        };
        let mut host = v.host.clone();
        if let Some(sub) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
            host = confined_join(&host, sub).map_err(|e| e.to_string())?;
            let _ = std::fs::create_dir_all(&host);
        }
        let ro = v.read_only || m["readOnly"].as_bool().unwrap_or(false);
        fs.mount(path, host, ro, v.kind.clone(), v.source.clone())
            .map_err(|e| e.to_string())?;
        if let Some(cap) = v.capacity {
            fs.set_capacity(path, cap);
        }
    }
    Ok(fs)
}

/// /etc/hosts, /etc/hostname and /etc/resolv.conf as the kubelet writes
/// them for a pod (cluster DNS at 10.96.0.10, search domains of its
/// namespace).
fn etc_files(prt: &PodRt) -> [(&'static str, String); 3] {
    let hostname = prt.pod["spec"]["hostname"]
        .as_str()
        .unwrap_or(&prt.name)
        .to_string();
    let hosts = format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{}\t{hostname}\n",
        prt.ip
    );
    let resolv = format!(
        "search {}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        prt.ns
    );
    [
        ("hosts", hosts),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv),
    ]
}

fn random_id() -> String {
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// Runs one container until the pod stops, restarting it as `policy`
/// says; returns the last exit code (None when stopped before running).
async fn supervise(
    node: &Arc<Node>,
    prt: &Arc<PodRt>,
    c: &Arc<CtrRt>,
    policy: &str,
) -> Option<i32> {
    let fp = field_path(c);
    let pod = &prt.pod;
    let mut backoff = node.config.backoff_base;
    let mut last_code = None;
    // A restart counts (restartCount, lastState) once the new instance is
    // reported, running or exited: never as a state of its own.
    let mut restarted: Option<State> = None;
    loop {
        if prt.cancel.is_cancelled() {
            return last_code;
        }
        let env = match resolve_env(node, prt, &c.spec) {
            Ok(env) => env,
            Err(msg) => {
                c.set(|s| {
                    s.state = State::Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: Some(msg.clone()),
                    }
                });
                node.events.record(
                    pod,
                    Some(&fp),
                    Kind::Warning,
                    "Failed",
                    format!("Error: {msg}"),
                    "kubelet",
                );
                if !sleep_or_cancel(RETRY, &prt.cancel).await {
                    return last_code;
                }
                continue;
            }
        };
        let started_before = c.state().started_once;
        let fs = match build_fs(node, prt, c, started_before) {
            Ok(fs) => fs,
            Err(msg) => {
                c.set(|s| {
                    s.state = State::Waiting {
                        reason: "CreateContainerError".into(),
                        message: Some(msg.clone()),
                    }
                });
                node.events.record(
                    pod,
                    Some(&fp),
                    Kind::Warning,
                    "Failed",
                    format!("Error: {msg}"),
                    "kubelet",
                );
                if !sleep_or_cancel(RETRY, &prt.cancel).await {
                    return last_code;
                }
                continue;
            }
        };
        let policy_pull = c.spec["imagePullPolicy"].as_str().unwrap_or("IfNotPresent");
        if policy_pull == "Always" {
            node.events.record(
                pod,
                Some(&fp),
                Kind::Normal,
                "Pulling",
                format!("Pulling image \"{}\"", c.image),
                "kubelet",
            );
            node.events.record(pod, Some(&fp), Kind::Normal, "Pulled", format!("Successfully pulled image \"{}\" in 412ms (412ms including waiting). Image size: 18342671 bytes.", c.image), "kubelet");
        } else {
            node.events.record(
                pod,
                Some(&fp),
                Kind::Normal,
                "Pulled",
                format!("Container image \"{}\" already present on machine", c.image),
                "kubelet",
            );
        }
        node.events.record(
            pod,
            Some(&fp),
            Kind::Normal,
            "Created",
            format!("Created container: {}", c.name),
            "kubelet",
        );
        node.events.record(
            pod,
            Some(&fp),
            Kind::Normal,
            "Started",
            format!("Started container {}", c.name),
            "kubelet",
        );
        if started_before {
            c.rotate_logs();
        }
        let started_at = crate::machinery::meta::now_rfc3339();
        let has_readiness = c.spec["readinessProbe"].is_object();
        // The process runs from now on, but the kubelet reports it running
        // only once it has seen it so (`start_lag`): a process that exits
        // at once goes straight from its previous state to Terminated, as
        // `kubectl get pods -w` shows upstream (ContainerCreating, Error).
        c.set(|s| {
            s.fs = Some(fs.clone());
            s.env = env.clone();
        });
        let instance_id = random_id();
        let mut visible = false;
        let sink_ctr = c.clone();
        let ctx = AppContext {
            pod_uid: prt.uid.clone(),
            pod_name: prt.name.clone(),
            container: c.name.clone(),
            image: c.image.clone(),
            command: strings(&c.spec["command"], &env),
            args: strings(&c.spec["args"], &env),
            env: env.clone(),
            fs,
            netns: node.netns.clone(),
            network: pod_network(node, prt),
            log: Arc::new(move |line: &str| sink_ctr.push_log(line)),
        };
        let app = images::select(&c.image, &ctx.command, &ctx.args);
        let handle = images::start(app, ctx);
        let instance = prt.cancel.child_token();
        let liveness_kill = CancellationToken::new();
        let ran_since = Instant::now();
        for (key, liveness) in [("readinessProbe", false), ("livenessProbe", true)] {
            let probe = c.spec[key].clone();
            if probe.is_object() {
                let t = tokio::spawn(probe_loop(
                    node.clone(),
                    prt.clone(),
                    c.clone(),
                    probe,
                    liveness,
                    instance.clone(),
                    liveness_kill.clone(),
                ));
                lock(&prt.tasks).push(t);
            }
        }
        let mut stopped = false;
        let mut handle = handle;
        // Woken by the events themselves, not by polling: thousands of
        // idle containers must cost nothing while nothing happens.
        let seen_running = tokio::time::Instant::from_std(ran_since + node.config.start_lag);
        let code = loop {
            tokio::select! {
                _ = prt.cancel.cancelled() => {
                    if !node.cancel.is_cancelled() {
                        node.events.record(pod, Some(&fp), Kind::Normal, "Killing", format!("Stopping container {}", c.name), "kubelet");
                    }
                    stopped = true;
                    break stop_container(node, prt, handle, None).await;
                }
                _ = liveness_kill.cancelled() => {
                    // Killed with the pod's grace period, as upstream does.
                    let grace = Duration::from_secs(
                        pod["spec"]["terminationGracePeriodSeconds"]
                            .as_u64()
                            .unwrap_or(30),
                    );
                    break stop_container(node, prt, handle, Some(Instant::now() + grace)).await;
                }
                code = handle.exited() => break code,
                _ = tokio::time::sleep_until(seen_running), if !visible => {
                    visible = true;
                    let prev = restarted.take();
                    c.set(|s| {
                        if let Some(prev) = prev {
                            s.last = Some(prev);
                            s.restarts += 1;
                        }
                        s.last_container_id = std::mem::take(&mut s.container_id);
                        s.container_id = instance_id.clone();
                        s.state = State::Running {
                            started_at: started_at.clone(),
                        };
                        s.ready = !has_readiness && !c.init;
                        s.started_once = true;
                    });
                    node.wake();
                }
            }
        };
        instance.cancel();
        last_code = Some(code);
        let finished_at = crate::machinery::meta::now_rfc3339();
        let reason = if code == 0 { "Completed" } else { "Error" };
        let terminated = State::Terminated {
            exit_code: code,
            reason: reason.to_string(),
            started_at,
            finished_at,
        };
        let prev = restarted.take();
        c.set(|s| {
            if let Some(prev) = prev {
                s.last = Some(prev);
                s.restarts += 1;
            }
            if s.container_id != instance_id {
                s.last_container_id = std::mem::take(&mut s.container_id);
                s.container_id = instance_id.clone();
            }
            s.state = terminated.clone();
            s.ready = false;
            s.started_once = true;
        });
        node.wake();
        if stopped {
            return last_code;
        }
        let restart = match policy {
            "Always" => true,
            "OnFailure" => code != 0,
            _ => false,
        };
        if !restart {
            return last_code;
        }
        // The kubelet acts on the exit a moment later (its next relist):
        // meanwhile the container shows Terminated (Error, Completed).
        if !sleep_or_cancel(node.config.exit_lag, &prt.cancel).await {
            return last_code;
        }
        if ran_since.elapsed() > Duration::from_secs(600) {
            backoff = node.config.backoff_base;
        }
        let restarts = c.state().restarts;
        // The first restart is immediate; later ones back off (upstream's
        // back-off entry is created by the first restart).
        if restarts > 0 {
            let pod_ref = format!("{}_{}({})", prt.name, prt.ns, prt.uid);
            c.set(|s| {
                s.last = Some(terminated.clone());
                s.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(format!(
                        "back-off {} restarting failed container={} pod={pod_ref}",
                        go_duration(backoff),
                        c.name
                    )),
                };
            });
            node.events.record(
                pod,
                Some(&fp),
                Kind::Warning,
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {pod_ref}",
                    c.name
                ),
                "kubelet",
            );
            node.wake();
            // The back-off runs from the exit.
            let wait = backoff.saturating_sub(node.config.exit_lag);
            backoff = (backoff * 2).min(node.config.backoff_max);
            if !sleep_or_cancel(wait, &prt.cancel).await {
                return last_code;
            }
        }
        restarted = Some(terminated);
    }
}

/// Stops one container: SIGTERM, then SIGKILL at the deadline (the pod's,
/// when it is being deleted, or `own`, whichever comes first); at once
/// when the sandbox shuts down.
async fn stop_container(
    node: &Node,
    prt: &PodRt,
    mut handle: images::AppHandle,
    own: Option<Instant>,
) -> i32 {
    handle.request_stop();
    loop {
        let deadline = match (prt.deadline(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if node.cancel.is_cancelled() || deadline.is_none_or(|d| Instant::now() >= d) {
            return handle.kill_and_reap().await;
        }
        tokio::select! {
            code = handle.exited() => return code,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

fn strings(v: &Value, env: &[(String, String)]) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .map(|s| expand(s, env))
                .collect()
        })
        .unwrap_or_default()
}

/// The network as the pod's containers reach it.
pub fn pod_network(node: &Node, prt: &PodRt) -> crate::node::podnet::PodNetwork {
    crate::node::podnet::PodNetwork::new(node.netns.clone(), node.store.clone(), &prt.ns, &prt.uid)
}

/// A shell in a running container: its files, env, image programs and network.
pub fn container_shell(
    node: &Node,
    prt: &PodRt,
    c: &CtrRt,
    fs: ContainerFs,
    env: Vec<(String, String)>,
) -> crate::shell::Shell {
    crate::shell::Shell::new(fs, env, prt.name.clone())
        .with_image(&c.image)
        .with_network(pod_network(node, prt))
}

/// The container port a probe names (number, or a named port).
fn probe_port(c: &CtrRt, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok().or_else(|| {
            c.spec["ports"]
                .as_array()?
                .iter()
                .find(|p| p["name"].as_str() == Some(s))
                .and_then(|p| p["containerPort"].as_u64())
                .and_then(|n| u16::try_from(n).ok())
        }),
        _ => None,
    }
}

/// Runs one probe: Ok(()) or the failure text upstream shows.
async fn probe_once(node: &Node, prt: &PodRt, c: &CtrRt, probe: &Value) -> Result<(), String> {
    let timeout = Duration::from_secs(probe["timeoutSeconds"].as_u64().unwrap_or(1).max(1));
    if let Some(h) = probe.get("httpGet").filter(|h| h.is_object()) {
        let port = probe_port(c, &h["port"]).unwrap_or(0);
        let path = h["path"].as_str().unwrap_or("/");
        let scheme = h["scheme"].as_str().unwrap_or("HTTP").to_lowercase();
        let url = format!("{scheme}://{}:{port}{path}", prt.ip);
        let refused = || {
            format!(
                "Get \"{url}\": dial tcp {}:{port}: connect: connection refused",
                prt.ip
            )
        };
        let addr = node.netns.lookup(&prt.uid, port).ok_or_else(refused)?;
        let fut = async {
            let mut s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|_| refused())?;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {}:{port}\r\nUser-Agent: kube-probe/1.34\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                prt.ip
            );
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 256];
            let mut n = 0;
            while n < 12 {
                let k = s.read(&mut buf[n..]).await.map_err(|e| e.to_string())?;
                if k == 0 {
                    break;
                }
                n += k;
            }
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let code: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            }
        };
        return match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
        };
    }
    if let Some(t) = probe.get("tcpSocket").filter(|h| h.is_object()) {
        let port = probe_port(c, &t["port"]).unwrap_or(0);
        return match node.netns.lookup(&prt.uid, port) {
            Some(_) => Ok(()),
            None => Err(format!(
                "dial tcp {}:{port}: connect: connection refused",
                prt.ip
            )),
        };
    }
    if let Some(e) = probe.get("exec").filter(|h| h.is_object()) {
        let argv: Vec<String> = e["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let st = c.state();
        let Some(fs) = st.fs else {
            return Err("container is not running".into());
        };
        let shell = container_shell(node, prt, c, fs, st.env);
        let out = tokio::task::spawn_blocking(move || {
            let mut shell = shell;
            shell.exec(&argv, b"")
        })
        .await
        .map_err(|e| e.to_string())?;
        // An image the sandbox does not emulate has commands the mini shell
        // lacks: its probe passes rather than leaving the container unready
        // forever.
        return if out.exit_code == 0 || out.exit_code == 127 {
            Ok(())
        } else {
            Err(out.stdout_text() + &out.stderr_text())
        };
    }
    Ok(())
}

async fn probe_loop(
    node: Arc<Node>,
    prt: Arc<PodRt>,
    c: Arc<CtrRt>,
    probe: Value,
    liveness: bool,
    instance: CancellationToken,
    kill: CancellationToken,
) {
    let secs = |k: &str, d: u64| Duration::from_secs(probe[k].as_u64().unwrap_or(d));
    let period = secs("periodSeconds", 10).max(Duration::from_secs(1));
    let failure_threshold = probe["failureThreshold"].as_u64().unwrap_or(3).max(1);
    let success_threshold = probe["successThreshold"].as_u64().unwrap_or(1).max(1);
    let delay = secs("initialDelaySeconds", 0);
    // The first probe comes shortly after start (the app needs a moment to listen).
    let first = delay.max(Duration::from_millis(200));
    if !sleep_or_cancel(first, &instance).await {
        return;
    }
    // Probes start once the kubelet has seen the container running.
    while !matches!(c.state().state, State::Running { .. }) {
        if !sleep_or_cancel(Duration::from_millis(50), &instance).await {
            return;
        }
    }
    let (mut ok_run, mut fail_run) = (0u64, 0u64);
    let fp = field_path(&c);
    let what = if liveness { "Liveness" } else { "Readiness" };
    loop {
        let r = probe_once(&node, &prt, &c, &probe).await;
        if instance.is_cancelled() {
            return;
        }
        match r {
            Ok(()) => {
                ok_run += 1;
                fail_run = 0;
                if !liveness && ok_run >= success_threshold && !c.state().ready {
                    c.set(|s| s.ready = true);
                    node.wake();
                }
            }
            Err(msg) => {
                fail_run += 1;
                ok_run = 0;
                node.events.record(
                    &prt.pod,
                    Some(&fp),
                    Kind::Warning,
                    "Unhealthy",
                    format!("{what} probe failed: {msg}"),
                    "kubelet",
                );
                if fail_run >= failure_threshold {
                    if liveness {
                        node.events.record(
                            &prt.pod,
                            Some(&fp),
                            Kind::Normal,
                            "Killing",
                            format!(
                                "Container {} failed liveness probe, will be restarted",
                                c.name
                            ),
                            "kubelet",
                        );
                        kill.cancel();
                        return;
                    } else if c.state().ready {
                        c.set(|s| s.ready = false);
                        node.wake();
                    }
                }
            }
        }
        if !sleep_or_cancel(period, &instance).await {
            return;
        }
    }
}

/// A stable fake image digest for `imageID`.
fn image_id(image: &str) -> String {
    let repo = images::image_repository(image);
    let repo = if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    let mut digest = String::new();
    for seed in 0u64..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for b in image.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        digest.push_str(&format!("{h:016x}"));
    }
    format!("{repo}@sha256:{digest}")
}

fn container_status(c: &CtrRt) -> Value {
    let s = c.state();
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "imageID": if s.started_once { json!(image_id(&c.image)) } else { json!("") },
        "ready": s.ready,
        "restartCount": s.restarts,
        "started": matches!(s.state, State::Running { .. }),
        "state": s.state.to_json(&format!("containerd://{}", s.container_id)),
        "lastState": match &s.last {
            Some(l) => l.to_json(&format!("containerd://{}", s.last_container_id)),
            None => json!({}),
        },
    });
    if !s.container_id.is_empty() {
        v["containerID"] = json!(format!("containerd://{}", s.container_id));
    }
    if let Some(mounts) = c.spec["volumeMounts"].as_array() {
        v["volumeMounts"] = json!(
            mounts
                .iter()
                .map(|m| {
                    let mut o = json!({"name": m["name"], "mountPath": m["mountPath"]});
                    if m["readOnly"].as_bool() == Some(true) {
                        o["readOnly"] = json!(true);
                        o["recursiveReadOnly"] = json!("Disabled");
                    }
                    o
                })
                .collect::<Vec<_>>()
        );
    }
    v
}

/// The pod's status from the containers' states. `terminal`: the pod is
/// being deleted and its containers have stopped, so its phase is final
/// (Succeeded when every container exited 0, else Failed), as the kubelet
/// writes it before the pod goes.
fn pod_status(prt: &PodRt, old: &Value, terminal: bool) -> Value {
    let policy = prt.pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always");
    let setup_done = lock(&prt.volumes).is_some();
    let init_done = *lock(&prt.init_done);
    let states: Vec<CtrState> = prt.containers.iter().map(|c| c.state()).collect();
    let init_states: Vec<CtrState> = prt.init.iter().map(|c| c.state()).collect();
    let init_failed = init_states.iter().any(|s| {
        policy == "Never"
            && matches!(s.state, State::Terminated { exit_code, .. } if exit_code != 0)
    });
    let never_ran = states.iter().any(|s| !s.started_once);
    let running = states
        .iter()
        .any(|s| matches!(s.state, State::Running { .. }));
    let restarting = states
        .iter()
        .any(|s| matches!(s.state, State::Waiting { .. }) && s.started_once);
    let all_terminated = !states.is_empty()
        && states
            .iter()
            .all(|s| matches!(s.state, State::Terminated { .. }));
    let all_ok = states
        .iter()
        .all(|s| matches!(s.state, State::Terminated { exit_code: 0, .. }));
    let phase = if terminal {
        if !states.is_empty() && all_ok {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if init_failed {
        "Failed"
    } else if !init_done || never_ran {
        "Pending"
    } else if running || restarting {
        "Running"
    } else if all_terminated {
        match policy {
            "Always" => "Running",
            "OnFailure" if !all_ok => "Running",
            _ if all_ok => "Succeeded",
            _ => "Failed",
        }
    } else {
        "Running"
    };
    let mut st = json!({});
    st["phase"] = json!(phase);
    let mut conds = old["conditions"].clone();
    let tf = |b: bool| if b { "True" } else { "False" };
    set_condition(
        &mut conds,
        "PodReadyToStartContainers",
        tf(setup_done),
        None,
        None,
        false,
    );
    if init_done {
        set_condition(&mut conds, "Initialized", "True", None, None, false);
    } else {
        let names: Vec<&str> = prt.init.iter().map(|c| c.name.as_str()).collect();
        let msg = format!("containers with incomplete status: [{}]", names.join(" "));
        set_condition(
            &mut conds,
            "Initialized",
            "False",
            Some("ContainersNotInitialized"),
            Some(&msg),
            false,
        );
    }
    let finished = phase == "Succeeded" || phase == "Failed";
    let unready: Vec<&str> = prt
        .containers
        .iter()
        .zip(&states)
        .filter(|(_, s)| !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    if unready.is_empty() && !finished {
        set_condition(&mut conds, "Ready", "True", None, None, false);
        set_condition(&mut conds, "ContainersReady", "True", None, None, false);
    } else {
        let reason = if finished {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        let msg =
            (!finished).then(|| format!("containers with unready status: [{}]", unready.join(" ")));
        set_condition(
            &mut conds,
            "Ready",
            "False",
            Some(reason),
            msg.as_deref(),
            false,
        );
        set_condition(
            &mut conds,
            "ContainersReady",
            "False",
            Some(reason),
            msg.as_deref(),
            false,
        );
    }
    set_condition(&mut conds, "PodScheduled", "True", None, None, false);
    if let Some(list) = conds.as_array_mut() {
        const ORDER: &[&str] = &[
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ];
        list.sort_by_key(|c| ORDER.iter().position(|o| c["type"] == *o).unwrap_or(99));
        for c in list.iter_mut() {
            if c.get("lastProbeTime").is_none() {
                c["lastProbeTime"] = Value::Null;
            }
        }
    }
    st["conditions"] = conds;
    st["hostIP"] = json!("127.0.0.1");
    st["hostIPs"] = json!([{"ip": "127.0.0.1"}]);
    st["podIP"] = json!(prt.ip);
    st["podIPs"] = json!([{"ip": prt.ip}]);
    st["startTime"] = json!(prt.start_time);
    if !old["qosClass"].is_null() {
        st["qosClass"] = old["qosClass"].clone();
    }
    st["containerStatuses"] = json!(
        prt.containers
            .iter()
            .map(|c| container_status(c))
            .collect::<Vec<_>>()
    );
    if !prt.init.is_empty() {
        st["initContainerStatuses"] = json!(
            prt.init
                .iter()
                .map(|c| container_status(c))
                .collect::<Vec<_>>()
        );
    }
    st
}

fn write_status(node: &Node, pod: &Value, prt: &PodRt) {
    if pod["metadata"]["uid"].as_str() != Some(prt.uid.as_str()) {
        return;
    }
    let terminal = crate::machinery::meta::is_terminating(pod) && prt.is_stopped();
    let st = pod_status(prt, &pod["status"], terminal);
    if pod["status"] != st {
        let mut n = pod.clone();
        n["status"] = st;
        node.put_as("kubelet", &resources::PODS, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
    }

    #[test]
    fn env_expansion() {
        let env = vec![("A".to_string(), "1".to_string())];
        assert_eq!(expand("x$(A)y$(B)", &env), "x1y$(B)");
    }
}
