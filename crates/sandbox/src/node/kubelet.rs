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
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::hostfs::{ContainerFs, confined_join};
use crate::images::{self, AppContext};
use crate::machinery::cluster::NODE_NAME;
use crate::machinery::meta::lock;
use crate::machinery::meta::{name_of, namespace_of};
use crate::node::Node;
use crate::node::env::{expand, resolve_env};
use crate::node::podstatus::write_status;
use crate::node::probes::probe_loop;
use crate::node::volumes::{Volume, setup_volumes};
use crate::runtime::events::Kind;

/// Bytes of log kept per container instance: the kubelet's default
/// `containerLogMaxSize` (10Mi), counted as the CRI log file counts them
/// (each line with its timestamp and stream prefix, [`LOG_LINE_COST`]).
/// Past it the oldest tenth goes, as a rotation would.
const LOG_BYTES: usize = 10 * 1024 * 1024;
/// What a line costs beyond its text in a CRI log file
/// (`2026-12-06T17:40:00.123456789Z stdout F ` and the newline).
const LOG_LINE_COST: usize = 41;
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
    pub(crate) fn to_json(&self, container_id: &str) -> Value {
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
    /// The running instance's processes and memory budget (PID 1, exec
    /// sessions; `ps` lists them, OOM kills are recorded here).
    pub procs: Option<crate::process::ProcessTable>,
    /// The running instance's console (`kubectl attach`).
    pub console: Option<Arc<crate::process::Console>>,
}

/// One container of a running pod.
pub struct CtrRt {
    pub name: String,
    /// The image the pod's spec names now (a patch may change it).
    image: Mutex<String>,
    /// Fired when the spec's image changes: the container restarts.
    redefined: Mutex<CancellationToken>,
    pub spec: Value,
    pub init: bool,
    /// An ephemeral container (`kubectl debug`): never restarted, never ready.
    pub ephemeral: bool,
    pub st: Mutex<CtrState>,
    /// (current instance, previous instance).
    pub logs: Mutex<(Vec<LogLine>, Vec<LogLine>)>,
    /// Fires on every new log line and state change (for `logs -f`).
    pub changed: Notify,
    /// Bytes held by the current instance's log lines.
    log_bytes: std::sync::atomic::AtomicUsize,
}

impl CtrRt {
    fn new(spec: &Value, init: bool, restarts: i64) -> Arc<CtrRt> {
        Arc::new(CtrRt {
            name: spec["name"].as_str().unwrap_or("").to_string(),
            image: Mutex::new(spec["image"].as_str().unwrap_or("").to_string()),
            redefined: Mutex::new(CancellationToken::new()),
            spec: spec.clone(),
            init,
            ephemeral: false,
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
                procs: None,
                console: None,
            }),
            logs: Mutex::new((Vec::new(), Vec::new())),
            changed: Notify::new(),
            log_bytes: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// An ephemeral container added to a running pod.
    fn ephemeral(spec: &Value) -> Arc<CtrRt> {
        let c = CtrRt::new(spec, false, 0);
        match Arc::try_unwrap(c) {
            Ok(mut c) => {
                c.ephemeral = true;
                Arc::new(c)
            }
            Err(c) => c,
        }
    }

    pub fn state(&self) -> CtrState {
        lock(&self.st).clone()
    }

    /// The container's image, as the pod's spec names it now.
    pub fn image(&self) -> String {
        lock(&self.image).clone()
    }

    /// A new image in the pod's spec: the running instance is restarted
    /// with it.
    fn redefine(&self, image: &str) {
        *lock(&self.image) = image.to_string();
        lock(&self.redefined).cancel();
    }

    pub(crate) fn set(&self, f: impl FnOnce(&mut CtrState)) {
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
            // Bounded in bytes, short lines and long ones alike (what a
            // line costs in memory is about what it costs on disk).
            let cost = line.len() + LOG_LINE_COST;
            let held = self.log_bytes.load(std::sync::atomic::Ordering::Relaxed) + cost;
            if held > LOG_BYTES && !l.0.is_empty() {
                let drop_n = (l.0.len() / 10).max(1);
                let freed: usize =
                    l.0.drain(..drop_n)
                        .map(|x| x.text.len() + LOG_LINE_COST)
                        .sum();
                self.log_bytes
                    .fetch_sub(freed.min(held), std::sync::atomic::Ordering::Relaxed);
            }
            self.log_bytes
                .fetch_add(cost, std::sync::atomic::Ordering::Relaxed);
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
        self.log_bytes
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A pod the kubelet runs.
pub struct PodRt {
    pub uid: String,
    pub ns: String,
    pub name: String,
    pub pod: Value,
    pub ip: String,
    pub start_time: String,
    /// When the kubelet first saw the pod (`kubernetes.io/config.seen`).
    pub seen_at: String,
    pub cancel: CancellationToken,
    pub containers: Vec<Arc<CtrRt>>,
    pub init: Vec<Arc<CtrRt>>,
    /// Ephemeral containers started since the pod ran (`kubectl debug`).
    pub ephemeral: Mutex<Vec<Arc<CtrRt>>>,
    pub(crate) volumes: Mutex<Option<HashMap<String, Volume>>>,
    pub(crate) init_done: Mutex<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// When the pod is being deleted: the end of its grace period, after
    /// which containers still running are killed.
    deadline: Mutex<Option<Instant>>,
    /// Set once no container runs any more and none will start.
    stopped: std::sync::atomic::AtomicBool,
    /// Why the kubelet evicted the pod (its status message), once it did.
    pub(crate) evicted: Mutex<Option<String>>,
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

    /// A container by name (init and ephemeral containers too).
    pub fn container(&self, name: &str) -> Option<Arc<CtrRt>> {
        self.containers
            .iter()
            .chain(&self.init)
            .find(|c| c.name == name)
            .cloned()
            .or_else(|| {
                lock(&self.ephemeral)
                    .iter()
                    .find(|c| c.name == name)
                    .cloned()
            })
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
                if !terminating {
                    redefine_images(pod, prt);
                    start_ephemeral(node, pod, prt);
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

/// Starts the ephemeral containers added to a running pod (`kubectl
/// debug`), once each: they run until they exit and are never restarted.
/// Those that ran before the sandbox restarted keep the status they had.
fn start_ephemeral(node: &Arc<Node>, pod: &Value, prt: &Arc<PodRt>) {
    let Some(specs) = pod["spec"]["ephemeralContainers"].as_array() else {
        return;
    };
    if prt.cancel.is_cancelled() || !*lock(&prt.init_done) {
        return;
    }
    for spec in specs {
        let name = spec["name"].as_str().unwrap_or("");
        let known = lock(&prt.ephemeral).iter().any(|c| c.name == name);
        let had_status = pod["status"]["ephemeralContainerStatuses"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["name"] == name));
        if known || had_status {
            continue;
        }
        let c = CtrRt::ephemeral(spec);
        lock(&prt.ephemeral).push(c.clone());
        let (n, p) = (node.clone(), prt.clone());
        let task = tokio::spawn(async move {
            supervise(&n, &p, &c, "Never").await;
        });
        lock(&prt.tasks).push(task);
    }
}

/// Tells each running container whose image the pod's spec changed (the
/// only container field a pod update may change).
fn redefine_images(pod: &Value, prt: &PodRt) {
    for spec in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let name = spec["name"].as_str().unwrap_or("");
        let Some(image) = spec["image"].as_str() else {
            continue;
        };
        if let Some(c) = prt.containers.iter().find(|c| c.name == name)
            && c.image() != image
        {
            c.redefine(image);
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
        seen_at: jiff::Timestamp::now().to_string(),
        cancel: node.cancel.child_token(),
        containers: ctrs("containers", false, "containerStatuses"),
        init: ctrs("initContainers", true, "initContainerStatuses"),
        ephemeral: Mutex::new(Vec::new()),
        volumes: Mutex::new(None),
        init_done: Mutex::new(false),
        tasks: Mutex::new(Vec::new()),
        deadline: Mutex::new(None),
        stopped: std::sync::atomic::AtomicBool::new(false),
        evicted: Mutex::new(None),
    });
    lock(&node.kubelet.pods).insert(uid, prt.clone());
    prt
}

pub(crate) async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
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
    // Volume updates and emptyDir limits are watched while the pod runs.
    let manager = tokio::spawn(crate::node::volumes::manage(node.clone(), prt.clone()));
    lock(&prt.tasks).push(manager);
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

pub(crate) fn field_path(c: &CtrRt) -> String {
    if c.ephemeral {
        format!("spec.ephemeralContainers{{{}}}", c.name)
    } else if c.init {
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
    // Their modes as in the images: anyone may write the temporary
    // directories (sticky), root's home is its own; the termination log
    // is writable by a non-root container, as the kubelet makes it.
    for (d, mode) in [("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700)] {
        let _ = std::fs::set_permissions(rootfs.join(d), std::fs::Permissions::from_mode(mode));
    }
    let log = rootfs.join("dev/termination-log");
    if !log.exists() && std::fs::write(&log, b"").is_ok() {
        let _ = std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666));
    }
    // The image's own files (/etc/os-release, /etc/passwd, nginx's
    // configuration and pages...).
    crate::images::userland(&c.image()).seed(&rootfs);
    // The files the kubelet manages in every container.
    for (name, text) in etc_files(prt) {
        let _ = std::fs::write(rootfs.join("etc").join(name), text);
    }
    let sc = security(prt, c).with_image_accounts(&rootfs);
    let mut fs = ContainerFs::new(rootfs);
    fs.set_read_only_root(sc.read_only_root);
    fs.set_identity(sc.identity);
    let vols = lock(&prt.volumes).clone().unwrap_or_default();
    for (index, m) in c.spec["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
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
            if v.atomic {
                // A subPath binds the file of the version current at the
                // start: later updates of the volume never reach it.
                host = subpath_snapshot(node, prt, c, vname, index, &host)?;
            } else {
                let _ = std::fs::create_dir_all(&host);
            }
        }
        let ro = v.read_only || m["readOnly"].as_bool().unwrap_or(false);
        fs.mount(path, host, ro, v.kind.clone(), v.source.clone())
            .map_err(|e| e.to_string())?;
        if let Some(cap) = v.capacity {
            fs.set_capacity(path, cap);
        }
        // A hostPath above the kubelet's own directories (`/` for a node
        // debugger) sees them where the node has them.
        if v.kind == crate::hostfs::MountKind::HostPath
            && m["subPath"].as_str().is_none_or(str::is_empty)
        {
            let src = crate::hostfs::absolute("/", &v.source);
            for (at, dir) in node.root.node_mounts() {
                let rest = if src == "/" {
                    Some(at.trim_start_matches('/'))
                } else {
                    at.strip_prefix(&format!("{src}/"))
                };
                if let Some(rest) = rest {
                    let inner = format!("{}/{rest}", path.trim_end_matches('/'));
                    fs.mount(&inner, dir, ro, crate::hostfs::MountKind::HostPath, at)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    Ok(fs)
}

/// A container's effective securityContext (its own over the pod's).
pub(crate) struct Security {
    pub(crate) identity: crate::hostfs::Identity,
    pub(crate) read_only_root: bool,
    pub(crate) run_as_non_root: bool,
    /// runAsUser was set (else the image's user: root for every image the
    /// sandbox knows).
    pub(crate) user_set: bool,
    /// runAsGroup was set (else the user's group in the image).
    pub(crate) group_set: bool,
}

impl Security {
    /// What the runtime adds from the image's accounts, as runc does: the
    /// user's primary group from `/etc/passwd` when no runAsGroup says
    /// otherwise, and the groups `/etc/group` lists the user in (root is
    /// in `wheel` in busybox's image, and in ten groups in alpine's).
    fn with_image_accounts(mut self, rootfs: &std::path::Path) -> Security {
        let read = |f: &str| std::fs::read_to_string(rootfs.join(f)).unwrap_or_default();
        let passwd = read("etc/passwd");
        let user = passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[2].parse::<u32>().ok() == Some(self.identity.uid))
                .then(|| (f[0].to_string(), f[3].parse::<u32>().ok()))
        });
        let Some((name, primary)) = user else {
            return self;
        };
        if !self.group_set
            && let Some(g) = primary
        {
            self.identity.gid = g;
        }
        for l in read("etc/group").lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() > 3
                && f[3].split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && !self.identity.groups.contains(&g)
            {
                self.identity.groups.push(g);
            }
        }
        self
    }
}

pub(crate) fn security(prt: &PodRt, c: &CtrRt) -> Security {
    let pod = &prt.pod["spec"]["securityContext"];
    let own = &c.spec["securityContext"];
    let pick = |k: &str| {
        own[k]
            .as_u64()
            .or_else(|| pod[k].as_u64())
            .and_then(|v| u32::try_from(v).ok())
    };
    let fs_group = pod["fsGroup"].as_u64().and_then(|v| u32::try_from(v).ok());
    let mut groups: Vec<u32> = fs_group.into_iter().collect();
    for g in pod["supplementalGroups"].as_array().into_iter().flatten() {
        if let Some(g) = g.as_u64().and_then(|v| u32::try_from(v).ok())
            && !groups.contains(&g)
        {
            groups.push(g);
        }
    }
    let uid = pick("runAsUser");
    Security {
        identity: crate::hostfs::Identity {
            uid: uid.unwrap_or(0),
            gid: pick("runAsGroup").unwrap_or(0),
            groups,
            fs_group,
        },
        read_only_root: own["readOnlyRootFilesystem"].as_bool().unwrap_or(false),
        run_as_non_root: own["runAsNonRoot"]
            .as_bool()
            .or_else(|| pod["runAsNonRoot"].as_bool())
            .unwrap_or(false),
        user_set: uid.is_some(),
        group_set: pick("runAsGroup").is_some(),
    }
}

/// A copy of what a subPath of a configMap/secret volume names, at
/// `volume-subpaths/<volume>/<container>/<index>` as the kubelet binds it.
fn subpath_snapshot(
    node: &Node,
    prt: &PodRt,
    c: &CtrRt,
    vname: &str,
    index: usize,
    src: &std::path::Path,
) -> Result<std::path::PathBuf, String> {
    let base = node.root.pod_dir(&prt.uid).map_err(|e| e.to_string())?;
    let dst = confined_join(
        &base.join("volume-subpaths"),
        &format!("{vname}/{}/{index}", c.name),
    )
    .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dst);
    let _ = std::fs::remove_file(&dst);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    if src.is_dir() {
        copy_dir(src, &dst).map_err(|e| e.to_string())?;
    } else if src.exists() {
        std::fs::copy(src, &dst).map_err(|e| e.to_string())?;
    } else {
        std::fs::create_dir_all(&dst).map_err(|e| e.to_string())?;
    }
    Ok(dst)
}

/// Copies a (small, kubelet-written) directory tree, links followed.
fn copy_dir(src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)?.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("..") {
            continue;
        }
        let from = e.path();
        let to = dst.join(&name);
        if from.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
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
    let mut sup = Supervisor {
        node,
        prt,
        c,
        fp: field_path(c),
        backoff: node.config.backoff_base,
        last_code: None,
        restarted: None,
    };
    loop {
        if prt.cancel.is_cancelled() {
            return sup.last_code;
        }
        let ready = match sup.prepare().await {
            Prepare::Ready(ready) => ready,
            Prepare::Retry => continue,
            Prepare::Stop => return sup.last_code,
        };
        let (inst, handle, redefined) = sup.start(ready);
        let exit = sup.wait(&inst, handle, redefined).await;
        if !sup.after_exit(inst, exit, policy).await {
            return sup.last_code;
        }
    }
}

/// The state [`supervise`] keeps from one instance of a container to the
/// next.
struct Supervisor<'a> {
    node: &'a Arc<Node>,
    prt: &'a Arc<PodRt>,
    c: &'a Arc<CtrRt>,
    /// The container's field path, for its events.
    fp: String,
    backoff: Duration,
    last_code: Option<i32>,
    /// A restart counts (restartCount, lastState) once the new instance is
    /// reported, running or exited: never as a state of its own.
    restarted: Option<State>,
}

/// What a container needs before an instance starts.
struct Ready {
    env: Vec<(String, String)>,
    fs: ContainerFs,
    started_before: bool,
}

/// The outcome of [`Supervisor::prepare`].
enum Prepare {
    Ready(Ready),
    /// The setup failed and its retry delay passed: try again.
    Retry,
    /// The pod stopped while waiting to retry.
    Stop,
}

/// One started instance of a container: what its wait and its exit need.
struct Instance {
    image: String,
    instance_id: String,
    started_at: String,
    has_readiness: bool,
    procs: crate::process::ProcessTable,
    main_proc: Option<Arc<crate::process::Process>>,
    /// Cancelled when the instance ends (its probes stop).
    instance: CancellationToken,
    liveness_kill: CancellationToken,
    ran_since: Instant,
}

/// How an instance ended.
struct Exit {
    code: i32,
    /// The pod stopped.
    stopped: bool,
    /// Its image changed: start again at once.
    redefined_restart: bool,
}

impl Supervisor<'_> {
    /// Resolves the env, checks the security context and builds the
    /// container's filesystem; a failure waits [`RETRY`] in Waiting.
    async fn prepare(&self) -> Prepare {
        let (node, prt, c) = (self.node, self.prt, self.c);
        let env = match resolve_env(node, prt, &c.spec) {
            Ok(env) => env,
            Err(msg) => {
                return self
                    .setup_failed("CreateContainerConfigError", msg, false)
                    .await;
            }
        };
        let sc = security(prt, c);
        if sc.run_as_non_root && sc.identity.uid == 0 {
            // Every image the sandbox knows runs as root unless told not to.
            let msg = if sc.user_set {
                format!(
                    "container's runAsUser breaks non-root policy (pod: \"{}_{}({})\", container: {})",
                    prt.name, prt.ns, prt.uid, c.name
                )
            } else {
                format!(
                    "container has runAsNonRoot and image will run as root (pod: \"{}_{}({})\", container: {})",
                    prt.name, prt.ns, prt.uid, c.name
                )
            };
            return self
                .setup_failed("CreateContainerConfigError", msg, true)
                .await;
        }
        let started_before = c.state().started_once;
        match build_fs(node, prt, c, started_before) {
            Ok(fs) => Prepare::Ready(Ready {
                env,
                fs,
                started_before,
            }),
            Err(msg) => self.setup_failed("CreateContainerError", msg, false).await,
        }
    }

    /// Shows a failed setup (Waiting with `reason`, a Failed event) and
    /// waits before the next try.
    async fn setup_failed(&self, reason: &str, msg: String, wake: bool) -> Prepare {
        let (node, prt, c) = (self.node, self.prt, self.c);
        c.set(|s| {
            s.state = State::Waiting {
                reason: reason.into(),
                message: Some(msg.clone()),
            }
        });
        node.events.record(
            &prt.pod,
            Some(&self.fp),
            Kind::Warning,
            "Failed",
            format!("Error: {msg}"),
            "kubelet",
        );
        if wake {
            node.wake();
        }
        if !sleep_or_cancel(RETRY, &prt.cancel).await {
            return Prepare::Stop;
        }
        Prepare::Retry
    }

    /// Starts an instance: its app, its main process and its probes.
    /// Returns it with its handle and the token a change of its image
    /// fires.
    fn start(&self, ready: Ready) -> (Instance, images::AppHandle, CancellationToken) {
        let (node, prt, c) = (self.node, self.prt, self.c);
        let pod = &prt.pod;
        let fp = &self.fp;
        let Ready {
            env,
            fs,
            started_before,
        } = ready;
        // The image of this instance; a later change of the spec restarts it.
        let redefined = {
            let mut t = lock(&c.redefined);
            *t = CancellationToken::new();
            t.clone()
        };
        let image = c.image();
        self.record_start(&image);
        if started_before {
            c.rotate_logs();
        }
        let started_at = crate::machinery::meta::now_rfc3339();
        let has_readiness = c.spec["readinessProbe"].is_object();
        // The process runs from now on, but the kubelet reports it running
        // only once it has seen it so (`start_lag`): a process that exits
        // at once goes straight from its previous state to Terminated, as
        // `kubectl get pods -w` shows upstream (ContainerCreating, Error).
        // An ephemeral container with a target joins the target's process
        // namespace (`kubectl debug --target`): `ps` sees both, and they
        // end together when the target's PID 1 does.
        let procs = c.spec["targetContainerName"]
            .as_str()
            .filter(|_| c.ephemeral)
            .and_then(|t| prt.container(t))
            .and_then(|t| t.state().procs)
            .unwrap_or_else(|| container_processes(&c.spec));
        let console = crate::process::Console::new();
        c.set(|s| {
            s.fs = Some(fs.clone());
            s.env = env.clone();
            s.procs = Some(procs.clone());
            s.console = Some(Arc::clone(&console));
        });
        let instance_id = random_id();
        let sink_ctr = c.clone();
        // Without a command, the image's own (busybox's `sh`, which exits
        // at once without a stdin to read): see images::select.
        let command = strings(&c.spec["command"], &env);
        let args = strings(&c.spec["args"], &env);
        let ctx = AppContext {
            pod_uid: prt.uid.clone(),
            pod_name: prt.name.clone(),
            container: c.name.clone(),
            image: image.clone(),
            command,
            args,
            env: env.clone(),
            fs,
            netns: node.netns.clone(),
            network: pod_network(node, prt),
            log: Arc::new(move |line: &str| sink_ctr.push_log(line)),
            procs: procs.clone(),
            stdin: c.spec["stdin"].as_bool().unwrap_or(false),
            tty: c.spec["tty"].as_bool().unwrap_or(false),
            console,
        };
        let app = images::select(&image, &ctx.command, &ctx.args);
        if app.name() == "idle" {
            // Said in the log too; an event is what `kubectl describe` shows.
            node.events.record(
                pod,
                Some(fp),
                Kind::Warning,
                "NotEmulated",
                images::not_emulated_message(&image),
                "kubelet",
            );
        }
        // An app the shell does not run is PID 1 of the table all the
        // same (`ps` shows it; exec sessions get the next PIDs).
        let main_proc = if app.name() == "shell" {
            None
        } else {
            let argv = ctx.argv();
            let cmdline = app.process_title(&argv).unwrap_or_else(|| {
                if argv.is_empty() {
                    image.clone()
                } else {
                    argv.join(" ")
                }
            });
            procs.register(0, &cmdline, true).ok()
        };
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
        let inst = Instance {
            image,
            instance_id,
            started_at,
            has_readiness,
            procs,
            main_proc,
            instance,
            liveness_kill,
            ran_since,
        };
        (inst, handle, redefined)
    }

    /// The events of a start: Pulling/Pulled, Created, Started.
    fn record_start(&self, image: &str) {
        let (node, c) = (self.node, self.c);
        let pod = &self.prt.pod;
        let fp = &self.fp;
        let policy_pull = c.spec["imagePullPolicy"].as_str().unwrap_or("IfNotPresent");
        if policy_pull == "Always" {
            node.events.record(
                pod,
                Some(fp),
                Kind::Normal,
                "Pulling",
                format!("Pulling image \"{image}\""),
                "kubelet",
            );
            node.events.record(pod, Some(fp), Kind::Normal, "Pulled", format!("Successfully pulled image \"{image}\" in 412ms (412ms including waiting). Image size: 18342671 bytes."), "kubelet");
        } else {
            node.events.record(
                pod,
                Some(fp),
                Kind::Normal,
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
                "kubelet",
            );
        }
        node.events.record(
            pod,
            Some(fp),
            Kind::Normal,
            "Created",
            format!("Created container: {}", c.name),
            "kubelet",
        );
        node.events.record(
            pod,
            Some(fp),
            Kind::Normal,
            "Started",
            format!("Started container {}", c.name),
            "kubelet",
        );
    }

    /// Waits for the instance to end: its exit, the pod stopping, a
    /// liveness failure or a new image; reports it running once seen so.
    async fn wait(
        &mut self,
        inst: &Instance,
        mut handle: images::AppHandle,
        mut redefined: CancellationToken,
    ) -> Exit {
        let (node, prt, c) = (self.node, self.prt, self.c);
        let pod = &prt.pod;
        let fp = &self.fp;
        let image = &inst.image;
        let mut visible = false;
        let mut stopped = false;
        let mut rearm = false;
        let mut redefined_restart = false;
        // Woken by the events themselves, not by polling: thousands of
        // idle containers must cost nothing while nothing happens.
        let seen_running = tokio::time::Instant::from_std(inst.ran_since + node.config.start_lag);
        let code = loop {
            if rearm {
                rearm = false;
                let mut t = lock(&c.redefined);
                if t.is_cancelled() {
                    *t = CancellationToken::new();
                }
                redefined = t.clone();
                if c.image() != *image {
                    redefined.cancel();
                }
            }
            tokio::select! {
                _ = prt.cancel.cancelled() => {
                    if !node.cancel.is_cancelled() {
                        node.events.record(pod, Some(fp), Kind::Normal, "Killing", format!("Stopping container {}", c.name), "kubelet");
                    }
                    stopped = true;
                    break stop_container(node, prt, handle, None).await;
                }
                _ = inst.liveness_kill.cancelled() => {
                    // Killed with the pod's grace period, as upstream does.
                    let grace = Duration::from_secs(
                        pod["spec"]["terminationGracePeriodSeconds"]
                            .as_u64()
                            .unwrap_or(30),
                    );
                    break stop_container(node, prt, handle, Some(Instant::now() + grace)).await;
                }
                code = handle.exited() => break code,
                _ = redefined.cancelled(), if !rearm => {
                    // Armed again before looking, so a change made after
                    // this look fires the new token.
                    rearm = true;
                    if c.image() == *image {
                        continue;
                    }
                    // A new image: killed with the pod's grace period and
                    // started again at once, whatever the restart policy.
                    node.events.record(pod, Some(fp), Kind::Normal, "Killing", format!("Container {} definition changed, will be restarted", c.name), "kubelet");
                    let grace = Duration::from_secs(
                        pod["spec"]["terminationGracePeriodSeconds"]
                            .as_u64()
                            .unwrap_or(30),
                    );
                    redefined_restart = true;
                    break stop_container(node, prt, handle, Some(Instant::now() + grace)).await;
                }
                _ = tokio::time::sleep_until(seen_running), if !visible => {
                    visible = true;
                    let prev = self.restarted.take();
                    c.set(|s| {
                        if let Some(prev) = prev {
                            s.last = Some(prev);
                            s.restarts += 1;
                        }
                        s.last_container_id = std::mem::take(&mut s.container_id);
                        s.container_id = inst.instance_id.clone();
                        s.state = State::Running {
                            started_at: inst.started_at.clone(),
                        };
                        s.ready = !inst.has_readiness && !c.init && !c.ephemeral;
                        s.started_once = true;
                    });
                    node.wake();
                }
            }
        };
        Exit {
            code,
            stopped,
            redefined_restart,
        }
    }

    /// Records the exit (Completed, Error, OOMKilled) and decides on a
    /// restart, backing off from the second one; false when supervision
    /// ends.
    async fn after_exit(&mut self, inst: Instance, exit: Exit, policy: &str) -> bool {
        let (node, prt, c) = (self.node, self.prt, self.c);
        let pod = &prt.pod;
        let Exit {
            code,
            stopped,
            redefined_restart,
        } = exit;
        let Instance {
            instance_id,
            started_at,
            procs,
            main_proc,
            instance,
            ran_since,
            ..
        } = inst;
        instance.cancel();
        let was_init = main_proc.as_ref().is_none_or(|p| p.is_init());
        if let Some(p) = main_proc {
            p.finish(crate::process::ExitStatus::Exited(code));
        }
        // The container is gone: so are the processes exec started in it
        // (unless it was a debug container in its target's namespace).
        if was_init {
            procs.signal_all(crate::process::Signal::Kill);
        }
        self.last_code = Some(code);
        let finished_at = crate::machinery::meta::now_rfc3339();
        // The OOM killer ending PID 1 is the runtime's `OOMKilled`.
        let reason = if procs.main_oom_killed() {
            "OOMKilled"
        } else if code == 0 {
            "Completed"
        } else {
            "Error"
        };
        let terminated = State::Terminated {
            exit_code: code,
            reason: reason.to_string(),
            started_at,
            finished_at,
        };
        let prev = self.restarted.take();
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
            return false;
        }
        if redefined_restart {
            self.restarted = Some(terminated);
            return true;
        }
        let restart = match policy {
            "Always" => true,
            "OnFailure" => code != 0,
            _ => false,
        };
        if !restart {
            return false;
        }
        // The kubelet acts on the exit a moment later (its next relist):
        // meanwhile the container shows Terminated (Error, Completed).
        if !sleep_or_cancel(node.config.exit_lag, &prt.cancel).await {
            return false;
        }
        if ran_since.elapsed() > Duration::from_secs(600) {
            self.backoff = node.config.backoff_base;
        }
        let restarts = c.state().restarts;
        // The first restart is immediate; later ones back off (upstream's
        // back-off entry is created by the first restart).
        if restarts > 0 {
            let backoff = self.backoff;
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
                Some(&self.fp),
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
            self.backoff = (backoff * 2).min(node.config.backoff_max);
            if !sleep_or_cancel(wait, &prt.cancel).await {
                return false;
            }
        }
        self.restarted = Some(terminated);
        true
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
pub fn pod_network(node: &Node, prt: &PodRt) -> crate::network::podnet::PodNetwork {
    crate::network::podnet::PodNetwork::new(
        node.netns.clone(),
        node.store.clone(),
        &prt.ns,
        &prt.uid,
    )
}

/// The processes of a new container instance, with its memory limit
/// (`resources.limits.memory`, else the sandbox's default) inside the
/// node's budget.
fn container_processes(spec: &Value) -> crate::process::ProcessTable {
    let limit = spec["resources"]["limits"]["memory"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            spec["resources"]["limits"]["memory"]
                .as_u64()
                .map(|n| n.to_string())
        })
        .and_then(|q| crate::hostfs::parse_quantity(&q))
        .filter(|l| *l > 0)
        .unwrap_or(crate::process::DEFAULT_CONTAINER_MEMORY);
    crate::process::ProcessTable::new(crate::process::MemBudget::new(
        limit,
        Some(crate::shell::system::node_memory()),
    ))
}

/// A running container as `kubectl exec` and exec probes see it: its
/// files, env, image programs, network and processes.
pub fn container_shell(
    node: &Node,
    prt: &PodRt,
    c: &CtrRt,
    fs: ContainerFs,
    env: Vec<(String, String)>,
    procs: Option<crate::process::ProcessTable>,
) -> crate::shell::Container {
    let container =
        crate::shell::Container::new(fs, crate::images::userland(&c.image()), &prt.name)
            .with_env(env)
            .with_network(pod_network(node, prt));
    match procs {
        Some(p) => container.with_procs(p),
        None => container,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_bounded_in_bytes_like_the_kubelets_log_file() {
        let c = CtrRt::new(
            &serde_json::json!({"name": "c", "image": "busybox"}),
            false,
            0,
        );
        // `seq 1 100000`: short lines, all kept (about 1.3 MiB on disk).
        for i in 1..=100_000 {
            c.push_log(&i.to_string());
        }
        assert_eq!(lock(&c.logs).0.len(), 100_000);
        // A flood of 64 KiB lines: the oldest go, the total stays bounded.
        let long = "x".repeat(64 * 1024);
        for _ in 0..400 {
            c.push_log(&long);
        }
        let held: usize = lock(&c.logs)
            .0
            .iter()
            .map(|l| l.text.len() + LOG_LINE_COST)
            .sum();
        assert!(held <= LOG_BYTES, "{held}");
        assert!(held > LOG_BYTES / 2, "{held}");
    }

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
    }
}
