//! A pod's STATUS, READY and RESTARTS columns, as kubectl's `printPod`
//! computes them (init containers, sidecars, waiting and terminated
//! reasons, Terminating).

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What `kubectl get pods` shows of a pod's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodStatus {
    /// STATUS (`Running`, `CrashLoopBackOff`, `Init:0/1`, `Terminating`...).
    pub reason: String,
    /// Ready containers (READY's numerator).
    pub ready: usize,
    /// Containers, sidecars included (READY's denominator).
    pub total: usize,
    /// RESTARTS.
    pub restarts: i32,
    /// When the last restart happened (`3 (42s ago)`).
    pub last_restart: Option<jiff::Timestamp>,
}

/// Status reasons that mean something is wrong.
const BAD_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "Error",
    "OOMKilled",
    "ContainerCannotRun",
    "Failed",
    "Evicted",
    "Unknown",
];

/// Whether a kubectl status string means trouble.
pub fn is_unhealthy_status(status: &str) -> bool {
    let s = status.strip_prefix("Init:").unwrap_or(status);
    BAD_REASONS.contains(&s) || s.starts_with("ExitCode:") || s.starts_with("Signal:")
}

fn is_restartable_init(c: Option<&Container>) -> bool {
    c.and_then(|c| c.restart_policy.as_deref()) == Some("Always")
}

fn condition_true(pod: &Pod, kind: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// The pod's Ready condition is True.
pub fn pod_is_ready(pod: &Pod) -> bool {
    condition_true(pod, "Ready")
}

/// STATUS, READY (`x/y`), restart count and last restart, as kubectl computes
/// them.
///
/// Long on purpose: it follows upstream's `printPod` statement by statement
/// (init containers, sidecars, waiting and terminated reasons, the
/// Completed→Running rule, Terminating), so the two can be compared line by
/// line when kubectl changes; split, that correspondence would be lost.
pub fn pod_status(pod: &Pod) -> PodStatus {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let containers = spec.map_or(0, |s| s.containers.len());
    let init_specs: Vec<&Container> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let mut total = containers;
    let mut ready = 0usize;
    let mut restarts = 0i32;
    let mut sidecar_restarts = 0i32;
    let mut last_restart: Option<jiff::Timestamp> = None;
    let mut sidecar_last_restart: Option<jiff::Timestamp> = None;
    fn later(acc: &mut Option<jiff::Timestamp>, t: Option<&Time>) {
        if let Some(t) = t
            && acc.is_none_or(|l| t.0 > l)
        {
            *acc = Some(t.0);
        }
    }

    let mut reason = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_string());
    if let Some(r) = status.and_then(|s| s.reason.clone())
        && !r.is_empty()
    {
        reason = r;
    }
    if let Some(conds) = status.and_then(|s| s.conditions.as_ref())
        && conds
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".into();
    }

    for c in &init_specs {
        if is_restartable_init(Some(c)) {
            total += 1;
        }
    }

    let mut initializing = false;
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts += cs.restart_count;
        let finished = cs
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref());
        later(&mut last_restart, finished);
        let spec_c = init_specs.iter().find(|c| c.name == cs.name).copied();
        let sidecar = is_restartable_init(spec_c);
        if sidecar {
            sidecar_restarts += cs.restart_count;
            later(&mut sidecar_last_restart, finished);
        }
        let state = cs.state.as_ref();
        let term = state.and_then(|s| s.terminated.as_ref());
        let wait = state.and_then(|s| s.waiting.as_ref());
        if term.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && cs.started == Some(true) {
            if cs.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = term {
            reason = match t.reason.as_deref() {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => match t.signal {
                    Some(sig) if sig != 0 => format!("Init:Signal:{sig}"),
                    _ => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
        } else if let Some(r) = wait
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        // Only sidecars' restarts count from the init phase.
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        for cs in statuses.iter().rev() {
            restarts += cs.restart_count;
            later(
                &mut last_restart,
                cs.last_state
                    .as_ref()
                    .and_then(|l| l.terminated.as_ref())
                    .and_then(|t| t.finished_at.as_ref()),
            );
            let state = cs.state.as_ref();
            let term = state.and_then(|s| s.terminated.as_ref());
            let wait_reason = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            if let Some(r) = wait_reason {
                reason = r.to_string();
            } else if let Some(t) = term {
                reason = match t.reason.as_deref() {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => match t.signal {
                        Some(sig) if sig != 0 => format!("Signal:{sig}"),
                        _ => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if cs.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
        if status.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    PodStatus {
        reason,
        ready,
        total,
        restarts,
        last_restart,
    }
}
