//! The `cluster` command: the course namespace's pods, claims and volumes
//! as short sentences, from the same snapshot and rows as the TUI's
//! cluster pane (`cluster::view::pane_model`).

use super::words::{Words, fill};
use crate::cluster::connection::ConnectionState;
use crate::cluster::printers::{PodRow, PvRow, PvcRow};
use crate::cluster::state::ClusterState;
use crate::cluster::view::{PaneRequest, Row, pane_model};
use std::time::Instant;

/// At most this many sentences per kind; the rest is counted.
const MAX_ROWS: usize = 50;

/// What `cluster` prints. `live`: the watchers' first update arrived.
pub fn summary(state: &ClusterState, live: bool, w: &Words) -> Vec<String> {
    if !live {
        return vec![w.cluster_reading.to_owned()];
    }
    if let ConnectionState::Failed { reason } = &state.connection {
        return vec![
            w.cluster_not_connected.to_owned(),
            fill(w.connection_failed, &[reason]),
        ];
    }
    let model = pane_model(
        state,
        &Default::default(),
        PaneRequest {
            pod_offset: 0,
            pod_rows: MAX_ROWS,
            selected_pod: None,
            now: Instant::now(),
            wall: jiff::Timestamp::now(),
        },
    );
    let mut out = vec![fill(w.cluster_title, &[&model.namespace])];
    if let ConnectionState::Reconnecting { reason } = &state.connection {
        out.push(fill(w.reconnecting, &[reason]));
    }
    if model.pods.is_empty() {
        out.push(fill(w.no_pods, &[&model.namespace]));
    }
    for r in &model.pods {
        out.push(pod(r, w));
    }
    let live_pods = model.pods.iter().filter(|r| r.fade.is_none()).count();
    if model.pod_total > live_pods {
        out.push(fill(w.and_more, &[&(model.pod_total - live_pods)]));
    }
    if model.pvcs.is_empty() {
        out.push(w.no_claims.to_owned());
    }
    rows(&mut out, &model.pvcs, |r| claim(r, w), w);
    if model.pvs.is_empty() {
        out.push(w.no_volumes.to_owned());
    }
    rows(&mut out, &model.pvs, |r| volume(r, w), w);
    out
}

fn rows<T>(out: &mut Vec<String>, rows: &[Row<T>], say: impl Fn(&Row<T>) -> String, w: &Words) {
    for r in rows.iter().take(MAX_ROWS) {
        out.push(say(r));
    }
    if rows.len() > MAX_ROWS {
        out.push(fill(w.and_more, &[&(rows.len() - MAX_ROWS)]));
    }
}

/// `Pod msg-api-7d9 is Running, 1 of 1 ready, volumes: data (claim msg-data).`
fn pod(r: &Row<PodRow>, w: &Words) -> String {
    let p = &r.row;
    if r.fade.is_some() {
        return fill(w.pod_deleted, &[&p.name]);
    }
    let (ready, total) = p.ready.split_once('/').unwrap_or((&p.ready, "?"));
    let mut s = fill(w.pod, &[&p.name, &p.status, &ready, &total]);
    if p.terminating && p.status != "Terminating" {
        s.push_str(w.pod_terminating);
    }
    if p.restarts != "0" {
        s.push_str(&fill(w.pod_restarts, &[&p.restarts]));
    }
    if !p.volumes.is_empty() {
        let vols: Vec<String> = p.volumes.iter().map(|v| volume_words(v, w)).collect();
        s.push_str(&fill(w.pod_volumes, &[&vols.join(", ")]));
    }
    s.push('.');
    s
}

/// `data:pvc/msg-data` → `data (claim msg-data)`.
fn volume_words(summary: &str, w: &Words) -> String {
    match summary.split_once(':') {
        Some((name, kind)) => match kind.strip_prefix("pvc/") {
            Some(claim) => format!("{name} ({})", fill(w.volume_claim, &[&claim])),
            None => format!("{name} ({kind})"),
        },
        None => summary.to_owned(),
    }
}

/// `Claim msg-data is Bound, volume pvc-1, 1Gi, RWO, class standard.`
fn claim(r: &Row<PvcRow>, w: &Words) -> String {
    let c = &r.row;
    if r.fade.is_some() {
        return fill(w.claim_deleted, &[&c.name]);
    }
    let mut s = fill(w.claim, &[&c.name, &c.status]);
    if !c.volume.is_empty() {
        s.push_str(&fill(w.claim_volume, &[&c.volume]));
    }
    if !c.capacity.is_empty() {
        s.push_str(&fill(w.claim_size, &[&c.capacity, &c.access_modes]));
    }
    if !c.storage_class.is_empty() && c.storage_class != "<unset>" {
        s.push_str(&fill(w.class, &[&c.storage_class]));
    }
    s.push('.');
    s
}

/// `Volume pvc-1 is Bound, 1Gi, claim kubetutor/msg-data, reclaim policy Delete.`
fn volume(r: &Row<PvRow>, w: &Words) -> String {
    let v = &r.row;
    if r.fade.is_some() {
        return fill(w.volume_deleted, &[&v.name]);
    }
    let mut s = fill(w.volume, &[&v.name, &v.status, &v.capacity]);
    if !v.claim.is_empty() {
        s.push_str(&fill(w.volume_bound, &[&v.claim]));
    }
    if !v.reclaim_policy.is_empty() {
        s.push_str(&fill(w.volume_policy, &[&v.reclaim_policy]));
    }
    if !v.storage_class.is_empty() {
        s.push_str(&fill(w.class, &[&v.storage_class]));
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::state::tests::apply;
    use crate::lesson::Lang;

    #[test]
    fn pods_claims_and_volumes_as_sentences() {
        let mut state = ClusterState::listed("kubetutor");
        state.connection = ConnectionState::Connected;
        apply(
            &mut state,
            r#"
kind: Pod
apiVersion: v1
metadata: {name: msg-api-7d9, namespace: kubetutor, uid: u1}
spec:
  containers: [{name: api, image: python}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: msg-data}
  - name: kube-api-access-x
    projected: {}
status:
  phase: Running
  containerStatuses:
  - {name: api, ready: true, restartCount: 0, image: python, imageID: "", state: {running: {}}}
"#,
        );
        apply(
            &mut state,
            r#"
kind: PersistentVolumeClaim
apiVersion: v1
metadata: {name: msg-data, namespace: kubetutor}
spec: {accessModes: [ReadWriteOnce], storageClassName: standard, volumeName: pv-1}
status: {phase: Bound, capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce]}
"#,
        );
        apply(
            &mut state,
            r#"
kind: PersistentVolume
apiVersion: v1
metadata: {name: pv-1}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: standard
  claimRef: {namespace: kubetutor, name: msg-data}
status: {phase: Bound}
"#,
        );
        let w = super::super::words::words(Lang::En);
        let lines = summary(&state, true, w);
        assert_eq!(
            lines,
            vec![
                "Cluster, namespace kubetutor:",
                "Pod msg-api-7d9 is Running, 1 of 1 ready, volumes: data (claim msg-data).",
                "Claim msg-data is Bound, volume pv-1, 1Gi, RWO, class standard.",
                "Volume pv-1 is Bound, 1Gi, claim kubetutor/msg-data, reclaim policy Delete, class standard.",
            ]
        );
        let empty = summary(&ClusterState::listed("kubetutor"), true, w);
        assert_eq!(
            empty,
            vec![
                "Cluster, namespace kubetutor:",
                "No pods in namespace kubetutor.",
                "No claims.",
                "No volumes."
            ]
        );
        assert_eq!(
            summary(&state, false, w),
            vec!["Reading the cluster, try again in a moment."]
        );
    }
}
