//! Thousands of pods: building the state, evaluating a step on each event
//! and building only the visible rows stay cheap. (No timing assertions:
//! the test prints what it measured; a regression shows as a slow test.)

use kube::runtime::watcher::Event;
use kubetutor::check::engine::Engine;
use kubetutor::check::spec::{Kind, parse_check};
use kubetutor::cluster::state::{ClusterState, ClusterUpdate, Object};
use std::time::Instant;

fn pod(i: usize) -> Object {
    Object::from_yaml(&format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: web-{i:05}, namespace: kubetutor, uid: u{i}, labels: {{app: web}}}}
spec: {{containers: [{{name: c, image: nginx}}]}}
status:
  phase: Running
  conditions: [{{type: Ready, status: 'False'}}]
  containerStatuses: [{{name: c, ready: false, restartCount: 0, image: nginx, imageID: '', state: {{running: {{}}}}}}]
"
    ))
    .unwrap()
}

#[test]
fn five_thousand_pods() {
    let mut state = ClusterState::new("kubetutor");
    let template = pod(0);
    let pods: Vec<Object> = (0..5000)
        .map(|i| {
            let mut o = template.clone();
            if let Object::Pod(p) = &mut o {
                p.metadata.name = Some(format!("web-{i:05}"));
                p.metadata.uid = Some(format!("u{i}"));
            }
            o
        })
        .collect();
    let t = Instant::now();
    state.apply(ClusterUpdate::Watch(Kind::Pod, Event::Init));
    for p in pods {
        state.apply(ClusterUpdate::Watch(Kind::Pod, Event::InitApply(p)));
    }
    state.apply(ClusterUpdate::Watch(Kind::Pod, Event::InitDone));
    eprintln!("5000 pods applied in {:?}", t.elapsed());

    let mut engine = Engine::new();
    let spec = parse_check("resource: {kind: Pod, selector: {app: web}, ready: true}").unwrap();
    let t = Instant::now();
    let out = engine.activate("l", "s", spec, &state, Instant::now());
    eprintln!("first evaluation in {:?}", t.elapsed());
    assert!(out.update.is_some());

    // One pod changes: one evaluation.
    let t = Instant::now();
    let mut ready = pod(4242);
    if let Object::Pod(p) = &mut ready {
        let st = p.status.as_mut().unwrap();
        st.conditions.as_mut().unwrap()[0].status = "True".into();
    }
    let change = state.apply(ClusterUpdate::Watch(Kind::Pod, Event::Apply(ready)));
    let out = engine.on_cluster(&state, &change, Instant::now());
    eprintln!("event to verdict in {:?}", t.elapsed());
    assert_eq!(
        out.update.map(|u| u.state),
        Some(kubetutor::progress::StepState::Done)
    );

    let t = Instant::now();
    let rows = state.pod_rows_window(2500, 40, jiff::Timestamp::now());
    eprintln!("40 visible rows in {:?}", t.elapsed());
    assert_eq!(rows.len(), 40);
    assert_eq!(rows[0].name, "web-02500");
}
