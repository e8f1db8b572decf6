//! View-model rows for the cluster pane, computed the way `kubectl get`
//! computes its columns (kubernetes `pkg/printers/internalversion`), so what
//! the learner sees here matches what their terminal prints.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// One line of the pods table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    pub name: String,
    pub uid: String,
    /// `1/2`: ready containers / containers.
    pub ready: String,
    /// STATUS as kubectl prints it (`Running`, `CrashLoopBackOff`, `Init:0/1`...).
    pub status: String,
    /// `3` or `3 (42s ago)`.
    pub restarts: String,
    pub age: String,
    /// `name:type` of each volume (`data:pvc/msg-data`, `cache:emptyDir`).
    pub volumes: Vec<String>,
    pub node: Option<String>,
    /// Being deleted (a `deletionTimestamp` is set).
    pub terminating: bool,
    /// Whether the status is an error a learner should look at.
    pub unhealthy: bool,
}

/// One line of the PVC table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvcRow {
    pub name: String,
    pub status: String,
    pub volume: String,
    pub capacity: String,
    pub access_modes: String,
    pub storage_class: String,
    pub age: String,
}

/// One line of the PV table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvRow {
    pub name: String,
    pub capacity: String,
    pub access_modes: String,
    pub reclaim_policy: String,
    pub status: String,
    /// `namespace/name` of the claim, or empty.
    pub claim: String,
    pub storage_class: String,
    pub reason: String,
    pub age: String,
}

pub use kubeprint::{human_duration, is_unhealthy_status, pod_is_ready};

/// STATUS, READY (`x/y`), restart count and last restart, as kubectl computes
/// them.
pub fn pod_status(pod: &Pod) -> (String, usize, usize, i32, Option<jiff::Timestamp>) {
    let s = kubeprint::pod_status(pod);
    (s.reason, s.ready, s.total, s.restarts, s.last_restart)
}

fn age(t: Option<&Time>, now: jiff::Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.as_second() - t.0.as_second()),
        None => "<unknown>".into(),
    }
}

/// `volume:type[/source]` of a pod volume.
pub fn volume_summary(v: &Volume) -> String {
    let kind = if let Some(p) = &v.persistent_volume_claim {
        format!("pvc/{}", p.claim_name)
    } else if v.empty_dir.is_some() {
        "emptyDir".into()
    } else if let Some(h) = &v.host_path {
        format!("hostPath {}", h.path)
    } else if let Some(c) = &v.config_map {
        format!("configMap/{}", c.name)
    } else if let Some(s) = &v.secret {
        format!("secret/{}", s.secret_name.as_deref().unwrap_or(""))
    } else if v.projected.is_some() {
        "projected".into()
    } else if v.downward_api.is_some() {
        "downwardAPI".into()
    } else if v.ephemeral.is_some() {
        "ephemeral".into()
    } else {
        "other".into()
    };
    format!("{}:{kind}", v.name)
}

pub fn pod_row(pod: &Pod, now: jiff::Timestamp) -> PodRow {
    let (status, ready, total, restarts, last) = pod_status(pod);
    let restarts_text = match last {
        Some(t) if restarts > 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.as_second() - t.as_second())
        ),
        _ => restarts.to_string(),
    };
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .map(|vs| {
            vs.iter()
                // The service-account token volume is noise in a storage course.
                .filter(|v| !v.name.starts_with("kube-api-access-"))
                .map(volume_summary)
                .collect()
        })
        .unwrap_or_default();
    PodRow {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        ready: format!("{ready}/{total}"),
        unhealthy: is_unhealthy_status(&status),
        terminating: pod.metadata.deletion_timestamp.is_some(),
        status,
        restarts: restarts_text,
        age: age(pod.metadata.creation_timestamp.as_ref(), now),
        volumes,
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    }
}

/// `RWO,RWX` as kubectl abbreviates access modes.
pub fn access_modes(modes: Option<&Vec<String>>) -> String {
    modes.map_or_else(String::new, |m| kubeprint::access_modes(m))
}

fn storage(q: Option<&std::collections::BTreeMap<String, Quantity>>) -> String {
    q.and_then(|m| m.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

/// The class a PVC asks for (field, or the old beta annotation).
pub fn pvc_class(pvc: &PersistentVolumeClaim) -> String {
    pvc.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .or_else(|| {
            pvc.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
        })
        .unwrap_or_default()
}

/// The class of a PV (field, or the old beta annotation).
pub fn pv_class(pv: &PersistentVolume) -> String {
    pv.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .or_else(|| {
            pv.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
        })
        .unwrap_or_default()
}

pub fn pvc_row(pvc: &PersistentVolumeClaim, now: jiff::Timestamp) -> PvcRow {
    let mut status = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    if pvc.metadata.deletion_timestamp.is_some() {
        status = "Terminating".into();
    }
    let bound = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    let (capacity, modes) = if bound.is_empty() {
        (String::new(), String::new())
    } else {
        let st = pvc.status.as_ref();
        (
            storage(st.and_then(|s| s.capacity.as_ref())),
            access_modes(st.and_then(|s| s.access_modes.as_ref())),
        )
    };
    PvcRow {
        name: pvc.metadata.name.clone().unwrap_or_default(),
        status,
        volume: bound,
        capacity,
        access_modes: modes,
        storage_class: pvc_class(pvc),
        age: age(pvc.metadata.creation_timestamp.as_ref(), now),
    }
}

pub fn pv_row(pv: &PersistentVolume, now: jiff::Timestamp) -> PvRow {
    let spec = pv.spec.as_ref();
    let mut status = pv
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    if pv.metadata.deletion_timestamp.is_some() {
        status = "Terminating".into();
    }
    let claim = spec
        .and_then(|s| s.claim_ref.as_ref())
        .map(|c| {
            format!(
                "{}/{}",
                c.namespace.as_deref().unwrap_or(""),
                c.name.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    PvRow {
        name: pv.metadata.name.clone().unwrap_or_default(),
        capacity: storage(spec.and_then(|s| s.capacity.as_ref())),
        access_modes: access_modes(spec.and_then(|s| s.access_modes.as_ref())),
        reclaim_policy: spec
            .and_then(|s| s.persistent_volume_reclaim_policy.clone())
            .unwrap_or_else(|| "Retain".into()),
        status,
        claim,
        storage_class: pv_class(pv),
        reason: pv
            .status
            .as_ref()
            .and_then(|s| s.reason.clone())
            .unwrap_or_default(),
        age: age(pv.metadata.creation_timestamp.as_ref(), now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:10:00Z".parse().unwrap()
    }

    const HEAD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, creationTimestamp: '2026-01-01T00:00:00Z'}\n";

    #[test]
    fn running_pod() {
        let p = pod(&format!(
            "{HEAD}spec: {{containers: [{{name: a, image: x}}, {{name: b, image: y}}]}}
status:
  phase: Running
  conditions: [{{type: Ready, status: 'True'}}]
  containerStatuses:
    - {{name: a, ready: true, restartCount: 0, image: x, imageID: '', state: {{running: {{}}}}}}
    - {{name: b, ready: false, restartCount: 2, image: y, imageID: '', state: {{running: {{}}}},
       lastState: {{terminated: {{exitCode: 1, finishedAt: '2026-01-01T00:09:18Z'}}}}}}
"
        ));
        let r = pod_row(&p, now());
        assert_eq!(r.ready, "1/2");
        assert_eq!(r.status, "Running");
        assert_eq!(r.restarts, "2 (42s ago)");
        assert_eq!(r.age, "10m");
        assert!(!r.unhealthy);
    }

    #[test]
    fn crash_loop_and_terminated_reasons() {
        let p = pod(&format!(
            "{HEAD}spec: {{containers: [{{name: a, image: x}}]}}
status:
  phase: Running
  containerStatuses:
    - {{name: a, ready: false, restartCount: 5, image: x, imageID: '', state: {{waiting: {{reason: CrashLoopBackOff}}}}}}
"
        ));
        let r = pod_row(&p, now());
        assert_eq!(r.status, "CrashLoopBackOff");
        assert_eq!(r.ready, "0/1");
        assert!(r.unhealthy);
        let p = pod(&format!(
            "{HEAD}spec: {{containers: [{{name: a, image: x}}]}}
status:
  phase: Failed
  containerStatuses:
    - {{name: a, ready: false, restartCount: 0, image: x, imageID: '', state: {{terminated: {{exitCode: 3}}}}}}
"
        ));
        assert_eq!(pod_status(&p).0, "ExitCode:3");
    }

    #[test]
    fn init_containers_and_terminating() {
        let p = pod(&format!(
            "{HEAD}spec: {{initContainers: [{{name: i, image: x}}, {{name: j, image: x}}], containers: [{{name: a, image: x}}]}}
status:
  phase: Pending
  initContainerStatuses:
    - {{name: i, ready: false, restartCount: 0, image: x, imageID: '', state: {{terminated: {{exitCode: 0}}}}}}
    - {{name: j, ready: false, restartCount: 0, image: x, imageID: '', state: {{running: {{}}}}}}
"
        ));
        assert_eq!(pod_status(&p).0, "Init:1/2");
        let p = pod(&format!(
            "{HEAD}spec: {{initContainers: [{{name: i, image: x}}], containers: [{{name: a, image: x}}]}}
status:
  phase: Pending
  initContainerStatuses:
    - {{name: i, ready: false, restartCount: 1, image: x, imageID: '', state: {{terminated: {{exitCode: 1, reason: Error}}}}}}
"
        ));
        assert_eq!(pod_status(&p).0, "Init:Error");
        // A sidecar (restartable init container) counts as a container.
        let p = pod(&format!(
            "{HEAD}spec: {{initContainers: [{{name: log, image: x, restartPolicy: Always}}], containers: [{{name: a, image: x}}]}}
status:
  phase: Running
  conditions: [{{type: Initialized, status: 'True'}}, {{type: Ready, status: 'True'}}]
  initContainerStatuses:
    - {{name: log, ready: true, started: true, restartCount: 1, image: x, imageID: '', state: {{running: {{}}}}}}
  containerStatuses:
    - {{name: a, ready: true, restartCount: 0, image: x, imageID: '', state: {{running: {{}}}}}}
"
        ));
        let (status, ready, total, restarts, _) = pod_status(&p);
        assert_eq!(
            (status.as_str(), ready, total, restarts),
            ("Running", 2, 2, 1)
        );
        let p = pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, deletionTimestamp: '2026-01-01T00:00:00Z'}\nspec: {containers: [{name: a, image: x}]}\nstatus: {phase: Running}\n",
        );
        let r = pod_row(&p, now());
        assert_eq!(r.status, "Terminating");
        assert!(r.terminating);
        let p = pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x}]}\n",
        );
        assert_eq!(pod_status(&p).0, "Pending");
    }

    #[test]
    fn pvc_and_pv_rows() {
        let pvc: PersistentVolumeClaim = serde_saphyr::from_str(
            "metadata: {name: data}
spec: {storageClassName: standard, volumeName: pv-1, accessModes: [ReadWriteOnce]}
status: {phase: Bound, capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce, ReadWriteMany]}
",
        )
        .unwrap();
        let r = pvc_row(&pvc, now());
        assert_eq!(
            (r.status.as_str(), r.volume.as_str(), r.capacity.as_str()),
            ("Bound", "pv-1", "1Gi")
        );
        assert_eq!(r.access_modes, "RWO,RWX");
        assert_eq!(r.storage_class, "standard");
        let pv: PersistentVolume = serde_saphyr::from_str(
            "metadata: {name: pv-1}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: kubetutor, name: data}
  hostPath: {path: /data/pv-1}
status: {phase: Released}
",
        )
        .unwrap();
        let r = pv_row(&pv, now());
        assert_eq!(r.claim, "kubetutor/data");
        assert_eq!(r.status, "Released");
        assert_eq!(r.reclaim_policy, "Retain");
        assert_eq!(r.storage_class, "");
    }
}
