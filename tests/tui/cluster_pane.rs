//! The live cluster pane drawn from fixture cluster states: pods, PVCs and
//! PVs as kubectl prints them, the current step's objects highlighted,
//! deleted objects dimmed, and the storage lineage of the selected pod.

use crate::common;

use common::{ch, draw, key, screen, send};
use crossterm::event::KeyCode;
use kube::runtime::watcher::Event;
use kubetutor::check::spec::Kind;
use kubetutor::cluster::connection::ConnectionState;
use kubetutor::cluster::state::{ClusterState, ObjKey, Object};
use kubetutor::cluster::{ClusterUpdate, lineage::pod_lineage};
use kubetutor::lesson::Lang;
use kubetutor::progress::Progress;
use kubetutor::tui::{App, AppEvent, ClusterEvent, ConnectionInfo, Theme};
use std::collections::HashSet;
use std::sync::Arc;

const NOW: &str = "2026-11-21T12:00:00Z";

const POD_WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: kubetutor, uid: u-web, creationTimestamp: "2026-11-21T11:58:00Z"}
spec:
  nodeName: kubetutor-node
  containers:
  - name: app
    image: busybox
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cache, mountPath: /cache}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: cache, emptyDir: {}}
status:
  phase: Running
  containerStatuses:
  - {name: app, ready: true, restartCount: 0, image: busybox, imageID: "", state: {running: {}}}
"#;

const POD_DB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: kubetutor, uid: u-db, creationTimestamp: "2026-11-21T11:00:00Z"}
spec:
  containers: [{name: postgres, image: postgres}]
status:
  phase: Running
  containerStatuses:
  - {name: postgres, ready: false, restartCount: 4, image: postgres, imageID: "", state: {waiting: {reason: CrashLoopBackOff}}}
"#;

const POD_OLD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: old, namespace: kubetutor, uid: u-old, creationTimestamp: "2026-11-21T11:50:00Z"}
spec:
  containers: [{name: app, image: busybox}]
"#;

const PVC: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: kubetutor, creationTimestamp: "2026-11-21T11:58:00Z"}
spec: {accessModes: [ReadWriteOnce], storageClassName: standard, volumeName: pv-1, resources: {requests: {storage: 1Gi}}}
status: {phase: Bound, capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce]}
"#;

const PV: &str = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-1, creationTimestamp: "2026-11-21T11:58:01Z"}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: standard
  claimRef: {namespace: kubetutor, name: data}
  hostPath: {path: /var/lib/kubetutor/volumes/pv-1}
status: {phase: Bound}
"#;

const CLASS: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: standard}
provisioner: kubetutor.dev/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
"#;

fn obj(yaml: &str) -> Object {
    Object::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn update(u: ClusterUpdate) -> AppEvent {
    AppEvent::Cluster(ClusterEvent::Update(u))
}

fn apply(app: &mut App, kind: Kind, yaml: &str) {
    send(
        app,
        update(ClusterUpdate::Watch(kind, Event::Apply(obj(yaml)))),
    );
}

/// An app connected to a fixture cluster: two pods, a bound claim and its
/// volume, a pod deleted a moment ago, and the web pod and the claim
/// highlighted by the current step.
fn app() -> App {
    let (saver, _) = common::saver();
    let mut app = App::new(
        common::course(),
        Lang::En,
        Progress::default(),
        saver,
        None,
        ConnectionInfo {
            context: "kind-kind".into(),
            namespace: "kubetutor".into(),
            ..ConnectionInfo::default()
        },
        Theme::no_color(),
    );
    app.set_wall_clock(NOW.parse().unwrap());
    send(
        &mut app,
        update(ClusterUpdate::Connection(ConnectionState::Connected)),
    );
    apply(&mut app, Kind::StorageClass, CLASS);
    apply(&mut app, Kind::PersistentVolume, PV);
    apply(&mut app, Kind::PersistentVolumeClaim, PVC);
    apply(&mut app, Kind::Pod, POD_DB);
    apply(&mut app, Kind::Pod, POD_WEB);
    apply(&mut app, Kind::Pod, POD_OLD);
    send(
        &mut app,
        update(ClusterUpdate::Watch(Kind::Pod, Event::Delete(obj(POD_OLD)))),
    );
    let mut lit = HashSet::new();
    for (kind, name) in [(Kind::Pod, "web"), (Kind::PersistentVolumeClaim, "data")] {
        lit.insert((
            kind,
            ObjKey {
                namespace: "kubetutor".into(),
                name: name.into(),
            },
        ));
    }
    send(
        &mut app,
        AppEvent::Cluster(ClusterEvent::Highlights(Arc::new(lit))),
    );
    app
}

/// The cluster pane's lines, without the rest of the screen.
fn pane(app: &mut App, w: u16, h: u16) -> String {
    let t = draw(app, w, h);
    let text = screen(&t);
    let _ = app;
    text
}

#[test]
fn wide_pane_shows_every_column() {
    let mut a = app();
    insta::assert_snapshot!("pane_120x40", pane(&mut a, 120, 40));
}

#[test]
fn focused_pane_at_80x24_shows_the_selected_pods_lineage() {
    let mut a = app();
    send(&mut a, key(KeyCode::Tab));
    send(&mut a, key(KeyCode::Tab));
    // db-0 first (sorted by name), then web: select web.
    send(&mut a, ch('j'));
    assert_eq!(a.selected_pod(), 1);
    let s = pane(&mut a, 80, 24);
    assert!(s.contains("> web"), "{s}");
    assert!(s.contains("Storage of pod web"), "{s}");
    insta::assert_snapshot!("pane_80x24_focused", s);
}

#[test]
fn reconnecting_is_shown_with_its_reason() {
    let mut a = app();
    send(
        &mut a,
        update(ClusterUpdate::Connection(ConnectionState::Reconnecting {
            reason: "connection refused".into(),
        })),
    );
    let s = pane(&mut a, 120, 40);
    // The status bar says it beside the state; the pane on a line of its own.
    assert!(s.contains("reconnecting… (connection refused)"), "{s}");
    assert!(s.contains("│ connection refused"), "{s}");
    let doc = a.status_doc();
    assert_eq!(
        doc["connection"]["state"],
        "reconnecting: connection refused"
    );
}

/// A long reason never pushes the context, state, namespace, lesson and
/// step out of the status bar: it is cut to what is left.
#[test]
fn a_long_reason_keeps_the_status_bar_readable() {
    let mut a = app();
    let reason = "cannot reach the API server at 127.0.0.1:38025 (connection refused), and a lot more words that do not fit";
    send(
        &mut a,
        update(ClusterUpdate::Connection(ConnectionState::Reconnecting {
            reason: reason.into(),
        })),
    );
    for (w, h) in [(120, 40), (100, 30), (80, 24)] {
        let s = pane(&mut a, w, h);
        let bar = s.lines().last().unwrap_or("").to_owned();
        for part in ["reconnecting…", "ns kubetutor", "lesson 1/3", "step 1/3"] {
            assert!(bar.contains(part), "{w}x{h}: no {part:?} in {bar:?}");
        }
        if w >= 100 {
            assert!(bar.contains("kind-kind"), "{w}x{h}: {bar:?}");
            assert!(bar.contains("(cannot reach the API"), "{w}x{h}: {bar:?}");
            assert!(bar.contains('…'), "{w}x{h}: {bar:?}");
        }
        // The pane shows the whole reason, wrapped.
        if w >= 120 {
            assert!(
                s.contains("127.0.0.1:38025 (connection refused), and a"),
                "{s}"
            );
        }
    }
}

/// Generated names (a pod of a Deployment, a provisioned PV) are cut with …
/// before the columns a learner needs are dropped: the pod's STATUS and
/// READY, the PVC's STATUS, VOLUME, CAPACITY, the PV's STATUS, CLAIM and
/// RECLAIM policy.
#[test]
fn long_names_are_cut_before_columns_are_dropped() {
    let mut a = app();
    let uid = "ab10ec4b-dc3a-4162-b01a-3768540d315a";
    apply(
        &mut a,
        Kind::Pod,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: msg-api-598b9dd455-5k62l, namespace: kubetutor, uid: u-msg, creationTimestamp: "2026-11-21T11:59:00Z"}
spec: {containers: [{name: api, image: python}]}
status:
  phase: Pending
  containerStatuses:
  - {name: api, ready: false, restartCount: 0, image: python, imageID: "", state: {waiting: {reason: CreateContainerConfigError}}}
"#,
    );
    apply(
        &mut a,
        Kind::PersistentVolumeClaim,
        &PVC.replace("name: data,", "name: msg-api-pvc,")
            .replace("pv-1", &format!("pvc-{uid}")),
    );
    apply(
        &mut a,
        Kind::PersistentVolume,
        &PV.replace("pv-1", &format!("pvc-{uid}"))
            .replace("name: data}", "name: msg-api-pvc}"),
    );
    for (w, h) in [(120, 40), (80, 24)] {
        if w == 80 {
            // Small: the focused cluster pane gets the room.
            send(&mut a, key(KeyCode::Tab));
            send(&mut a, key(KeyCode::Tab));
        }
        let s = pane(&mut a, w, h);
        let row = |needle: &str| -> String {
            s.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{w}x{h}: no row with {needle}:\n{s}"))
                .to_owned()
        };
        let pod = row("msg-api-598b");
        assert!(pod.contains("0/1"), "{w}x{h}: {pod}");
        assert!(pod.contains("CreateContainer"), "{w}x{h}: {pod}");
        if w >= 120 {
            let pvc = row("msg-api-pvc  ");
            assert!(pvc.contains("Bound"), "{w}x{h}: {pvc}");
            assert!(pvc.contains("pvc-ab10"), "{w}x{h}: {pvc}");
            assert!(pvc.contains("1Gi"), "{w}x{h}: {pvc}");
            let pv = row("Bound   msg-api-pvc");
            assert!(pv.contains("pvc-ab10"), "{w}x{h}: {pv}");
            assert!(pv.contains('…'), "{w}x{h}: {pv}");
            assert!(pv.contains("Bound"), "{w}x{h}: {pv}");
            assert!(pv.contains("Delete"), "{w}x{h}: {pv}");
        }
    }
}

/// The lineage of a pod taller than the pane scrolls with J/K and the page
/// keys, and says how much is below.
#[test]
fn the_lineage_scrolls() {
    let mut a = app();
    send(&mut a, key(KeyCode::Tab));
    send(&mut a, key(KeyCode::Tab));
    send(&mut a, ch('j'));
    let s = pane(&mut a, 80, 24);
    assert!(s.contains("more: J/K"), "{s}");
    assert!(!s.contains("where the bytes"), "{s}");
    for _ in 0..40 {
        send(&mut a, ch('J'));
        let _ = pane(&mut a, 80, 24);
    }
    let end = pane(&mut a, 80, 24);
    assert!(end.contains("(end)"), "{end}");
    assert!(end.contains("Storage of pod web"), "the title stays: {end}");
    assert_ne!(s, end);
    send(&mut a, key(KeyCode::PageUp));
    send(&mut a, key(KeyCode::PageUp));
    send(&mut a, key(KeyCode::PageUp));
    let back = pane(&mut a, 80, 24);
    assert!(back.contains("more: J/K"), "{back}");
    // j/k still move the pod selection.
    assert_eq!(a.selected_pod(), 1);
}

#[test]
fn lineage_links_each_with_its_lifetime() {
    let mut state = ClusterState::new("kubetutor");
    for (kind, y) in [
        (Kind::StorageClass, CLASS),
        (Kind::PersistentVolume, PV),
        (Kind::PersistentVolumeClaim, PVC),
        (Kind::Pod, POD_WEB),
    ] {
        state.apply(ClusterUpdate::Watch(kind, Event::Apply(obj(y))));
    }
    let pod = state.pod("kubetutor", "web").unwrap().clone();
    let l = pod_lineage(&pod, &state);
    let lines = kubetutor::tui::pane::lineage_lines(
        &l,
        &Theme::no_color(),
        "Storage of pod {0}",
        "other writes",
        60,
    );
    let text: Vec<String> = lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    insta::assert_snapshot!("lineage_web_60", text.join("\n"));
}

#[test]
fn thousands_of_pods_build_only_the_visible_rows() {
    let mut a = app();
    for i in 0..5000 {
        let y = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i:04}, namespace: kubetutor, uid: u{i}}}\nspec: {{containers: [{{name: c, image: x}}]}}\n"
        );
        apply(&mut a, Kind::Pod, &y);
    }
    assert_eq!(a.pod_count(), 5002);
    let s = pane(&mut a, 120, 40);
    assert!(s.contains("/5002"), "{s}");
}
