//! What the cluster pane draws, built from the snapshot in one call: the
//! visible pod rows, PVCs and PVs, recently deleted objects fading out, the
//! objects the current step is about highlighted, and the storage lineage
//! of the selected pod. Pure and cheap: only the visible pod rows are built.

use crate::cluster::connection::ConnectionState;
use crate::cluster::kinds::Kind;
use crate::cluster::lineage::{PodLineage, pod_lineage};
use crate::cluster::printers::{self, PodRow, PvRow, PvcRow};
use crate::cluster::state::{ClusterState, ObjKey};
use std::collections::HashSet;
use std::time::Instant;

/// One row and how to draw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<T> {
    pub row: T,
    /// The current step is about this object.
    pub highlighted: bool,
    /// Deleted a moment ago: 0.0 (just now) → 1.0 (about to disappear).
    pub fade: Option<f32>,
}

/// Everything the pane shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PaneModel {
    pub namespace: String,
    pub connection: ConnectionState,
    /// All pods (for the scrollbar), and the visible window of rows,
    /// followed by recently deleted pods.
    pub pod_total: usize,
    pub pods: Vec<Row<PodRow>>,
    pub pvcs: Vec<Row<PvcRow>>,
    /// PVs bound to the namespace's claims, or free (Available/Released
    /// with no claim elsewhere).
    pub pvs: Vec<Row<PvRow>>,
    /// Lineage of the selected pod, if it exists.
    pub lineage: Option<PodLineage>,
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct PaneRequest<'a> {
    /// First visible pod row and how many fit.
    pub pod_offset: usize,
    pub pod_rows: usize,
    pub selected_pod: Option<&'a str>,
    pub now: Instant,
    pub wall: jiff::Timestamp,
}

/// Build the pane's model. `highlighted` comes from
/// `check::engine::Engine::highlighted`.
pub fn pane_model(
    state: &ClusterState,
    highlighted: &HashSet<(Kind, ObjKey)>,
    req: PaneRequest,
) -> PaneModel {
    let ns = state.namespace.clone();
    let key = |name: &str, namespaced: bool| ObjKey {
        namespace: if namespaced {
            ns.clone()
        } else {
            String::new()
        },
        name: name.to_string(),
    };
    let lit =
        |kind: Kind, name: &str| highlighted.contains(&(kind, key(name, kind.is_namespaced())));
    let in_ns = |n: Option<&String>| n.map(String::as_str) == Some(ns.as_str());

    let pod_total = state
        .pods()
        .filter(|p| in_ns(p.metadata.namespace.as_ref()))
        .count();
    let mut pods: Vec<Row<PodRow>> = state
        .pods()
        .filter(|p| in_ns(p.metadata.namespace.as_ref()))
        .skip(req.pod_offset)
        .take(req.pod_rows)
        .map(|p| {
            let row = printers::pod_row(p, req.wall);
            Row {
                highlighted: lit(Kind::Pod, &row.name),
                row,
                fade: None,
            }
        })
        .collect();
    pods.extend(
        state
            .ghost_pod_rows(req.now, req.wall)
            .into_iter()
            .map(|(row, fade)| Row {
                highlighted: false,
                row,
                fade: Some(fade),
            }),
    );

    let mut pvcs: Vec<Row<PvcRow>> = state
        .pvcs()
        .filter(|p| in_ns(p.metadata.namespace.as_ref()))
        .map(|p| {
            let row = printers::pvc_row(p, req.wall);
            Row {
                highlighted: lit(Kind::PersistentVolumeClaim, &row.name),
                row,
                fade: None,
            }
        })
        .collect();
    pvcs.extend(
        state
            .ghost_pvc_rows(req.now, req.wall)
            .into_iter()
            .map(|(row, fade)| Row {
                highlighted: false,
                row,
                fade: Some(fade),
            }),
    );

    let ours = |claim_ns: Option<&str>| claim_ns.is_none_or(|n| n == ns);
    let mut pvs: Vec<Row<PvRow>> = state
        .pvs()
        .filter(|pv| {
            ours(
                pv.spec
                    .as_ref()
                    .and_then(|s| s.claim_ref.as_ref())
                    .and_then(|c| c.namespace.as_deref()),
            )
        })
        .map(|pv| {
            let row = printers::pv_row(pv, req.wall);
            let claim_lit = row
                .claim
                .split_once('/')
                .is_some_and(|(_, c)| lit(Kind::PersistentVolumeClaim, c));
            Row {
                highlighted: lit(Kind::PersistentVolume, &row.name) || claim_lit,
                row,
                fade: None,
            }
        })
        .collect();
    pvs.extend(
        state
            .ghost_pv_rows(req.now, req.wall)
            .into_iter()
            .map(|(row, fade)| Row {
                highlighted: false,
                row,
                fade: Some(fade),
            }),
    );

    let lineage = req
        .selected_pod
        .and_then(|name| state.pod(&ns, name))
        .map(|p| pod_lineage(p, state));

    PaneModel {
        namespace: ns.clone(),
        connection: state.connection.clone(),
        pod_total,
        pods,
        pvcs,
        pvs,
        lineage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::state::ClusterUpdate;
    use crate::cluster::state::tests::{apply, obj};
    use kube::runtime::watcher::Event;

    #[test]
    fn rows_highlights_ghosts_and_lineage() {
        let mut s = ClusterState::new("kubetutor");
        for i in 0..5 {
            apply(
                &mut s,
                &format!(
                    "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: kubetutor, uid: u{i}}}\nspec: {{containers: [{{name: c, image: x, volumeMounts: [{{name: d, mountPath: /d}}]}}], volumes: [{{name: d, persistentVolumeClaim: {{claimName: data}}}}]}}\n"
                ),
            );
        }
        apply(
            &mut s,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: elsewhere, namespace: other}\nspec: {containers: [{name: c, image: x}]}\n",
        );
        apply(
            &mut s,
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: kubetutor}\nspec: {volumeName: pv-1}\nstatus: {phase: Bound}\n",
        );
        apply(
            &mut s,
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-1}\nspec: {claimRef: {namespace: kubetutor, name: data}, hostPath: {path: /x}}\nstatus: {phase: Bound}\n",
        );
        apply(
            &mut s,
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: theirs}\nspec: {claimRef: {namespace: other, name: x}}\nstatus: {phase: Bound}\n",
        );
        let now = Instant::now();
        let gone = obj(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p9, namespace: kubetutor, uid: u9}\nspec: {containers: [{name: c, image: x}]}\n",
        );
        s.apply_at(
            ClusterUpdate::Watch(Kind::Pod, Event::Apply(gone.clone())),
            now,
        );
        s.apply_at(ClusterUpdate::Watch(Kind::Pod, Event::Delete(gone)), now);

        let mut lit = HashSet::new();
        lit.insert((
            Kind::PersistentVolumeClaim,
            ObjKey {
                namespace: "kubetutor".into(),
                name: "data".into(),
            },
        ));
        lit.insert((
            Kind::Pod,
            ObjKey {
                namespace: "kubetutor".into(),
                name: "p2".into(),
            },
        ));
        let m = pane_model(
            &s,
            &lit,
            PaneRequest {
                pod_offset: 1,
                pod_rows: 2,
                selected_pod: Some("p2"),
                now,
                wall: jiff::Timestamp::UNIX_EPOCH,
            },
        );
        assert_eq!(m.pod_total, 5);
        let names: Vec<&str> = m.pods.iter().map(|r| r.row.name.as_str()).collect();
        assert_eq!(names, vec!["p1", "p2", "p9"]);
        assert!(m.pods[1].highlighted && !m.pods[0].highlighted);
        assert_eq!(m.pods[2].fade, Some(0.0));
        assert!(m.pvcs[0].highlighted);
        assert_eq!(m.pvs.len(), 1, "another namespace's PV is not shown");
        assert!(m.pvs[0].highlighted, "the PV of a highlighted claim is lit");
        let lineage = m.lineage.unwrap();
        assert_eq!(lineage.containers[0].mounts[0].chain.len(), 4);
    }
}
