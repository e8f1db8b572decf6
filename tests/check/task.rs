//! The checker task as the app runs it: watch updates and activations in,
//! `CheckUpdate`s out, fetches through an `Io` (here a canned one).

use futures::future::BoxFuture;
use kube::runtime::watcher::Event;
use kubetutor::check::engine::{CheckUpdate, Io, spawn_checker};
use kubetutor::check::eval::{IoKey, Response};
use kubetutor::check::spec::{Kind, parse_check};
use kubetutor::cluster::connection::ConnectionState;
use kubetutor::cluster::state::{ClusterUpdate, Object};
use kubetutor::progress::StepState;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Answers probes with the current canned body; counts requests.
struct Canned {
    body: Mutex<String>,
    asked: Mutex<Vec<IoKey>>,
}

impl Io for Canned {
    fn fetch(&self, key: IoKey) -> BoxFuture<'static, Result<Response, String>> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        let body = self.body.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(async move { Ok(Response { status: 200, body }) })
    }
}

const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: msg-api-a, namespace: kubetutor, uid: a, labels: {app: msg-api}}
spec: {containers: [{name: api, image: python, ports: [{containerPort: 8080}]}]}
status: {phase: Running, conditions: [{type: Ready, status: 'True'}]}
";

async fn next(rx: &mut mpsc::UnboundedReceiver<CheckUpdate>) -> CheckUpdate {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an update within 10 s")
        .expect("the checker is running")
}

#[tokio::test]
async fn probe_step_completes_when_the_answer_changes() {
    let io = Arc::new(Canned {
        body: Mutex::new(r#"{"messages": []}"#.into()),
        asked: Mutex::new(Vec::new()),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let checker = spawn_checker("kubetutor", io.clone(), tx);
    checker.cluster(ClusterUpdate::Connection(ConnectionState::Connected));
    for ev in [
        Event::Init,
        Event::InitApply(Object::from_yaml(POD).unwrap()),
        Event::InitDone,
    ] {
        checker.cluster(ClusterUpdate::Watch(Kind::Pod, ev));
    }
    let spec = parse_check(
        "http: {pod: {selector: {app: msg-api}}, path: /messages, json: [{path: messages, length: {gte: 1}}]}",
    )
    .unwrap();
    let mut lit = checker.highlights();
    checker.activate("01-ephemeral", "post-a-message", spec);
    let first = next(&mut rx).await;
    // The pane learns which pod the step is about.
    tokio::time::timeout(Duration::from_secs(10), lit.wait_for(|h| !h.is_empty()))
        .await
        .expect("highlights")
        .expect("the checker is running");
    assert_eq!(first.step, "post-a-message");
    assert_eq!(first.state, StepState::Active);
    // The probe answers "no messages" until the learner posts one.
    let u = next(&mut rx).await;
    assert!(
        u.reason.as_deref().unwrap_or("").contains("0 items"),
        "{u:?}"
    );
    *io.body.lock().unwrap() = r#"{"messages": [{"text": "hi"}]}"#.into();
    // The next poll (within a second) sees it.
    let done = next(&mut rx).await;
    assert_eq!(done.state, StepState::Done, "{done:?}");
    let n = io.asked.lock().unwrap().len();
    assert!(n >= 2, "{n}");
    // Done: polling stops.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(io.asked.lock().unwrap().len(), n);
}

#[tokio::test]
async fn quiz_through_the_task() {
    let io = Arc::new(Canned {
        body: Mutex::new(String::new()),
        asked: Mutex::new(Vec::new()),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let checker = spawn_checker("kubetutor", io, tx);
    let spec = parse_check("quiz: {question: Why?, choices: [a, b], answer: b}").unwrap();
    checker.activate("l", "q", spec);
    assert_eq!(next(&mut rx).await.state, StepState::Active);
    checker.answer("q", vec![0]);
    assert_eq!(next(&mut rx).await.state, StepState::Failing);
    checker.answer("q", vec![1]);
    assert_eq!(next(&mut rx).await.state, StepState::Done);
}

#[tokio::test]
async fn a_kind_that_never_lists_does_not_block_checking() {
    // e.g. RBAC forbids listing jobs: their watcher starts relists (Init)
    // that never finish.
    let io = Arc::new(Canned {
        body: Mutex::new(String::new()),
        asked: Mutex::new(Vec::new()),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let checker = spawn_checker("kubetutor", io, tx);
    checker.cluster(ClusterUpdate::Watch(Kind::Job, Event::Init));
    // The pods were listed (empty); jobs never will be.
    checker.cluster(ClusterUpdate::Watch(Kind::Pod, Event::Init));
    checker.cluster(ClusterUpdate::Watch(Kind::Pod, Event::InitDone));
    let spec = parse_check("resource: {kind: Pod, name: msg-api-a, ready: true}").unwrap();
    checker.activate("l", "s", spec);
    assert_eq!(next(&mut rx).await.state, StepState::Active);
    checker.cluster(ClusterUpdate::Watch(
        Kind::Pod,
        Event::Apply(Object::from_yaml(POD).unwrap()),
    ));
    assert_eq!(next(&mut rx).await.state, StepState::Done);
}
