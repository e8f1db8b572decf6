//! The checks of the real lesson 01 (English), evaluated on the states a
//! learner goes through: the course's own manifests, then what the cluster
//! does with them.

use kube::runtime::watcher::Event;
use kubetutor::check::engine::{CheckUpdate, Engine, Output};
use kubetutor::check::eval::{IoKey, Response};
use kubetutor::cluster::state::{ClusterState, ClusterUpdate, Object};
use kubetutor::course::Course;
use kubetutor::lesson::{Lang, Lesson};
use kubetutor::progress::StepState;
use std::time::{Duration, Instant};

struct Sim {
    lesson: Lesson,
    state: ClusterState,
    engine: Engine,
    now: Instant,
    updates: Vec<CheckUpdate>,
    pending: Vec<IoKey>,
    /// (path or pod-name suffix, answer)
    answers: Vec<(String, String)>,
}

impl Sim {
    fn new() -> Sim {
        let course = Course::embedded().unwrap_or_else(|d| panic!("{d:?}"));
        let lesson = course
            .lessons(Lang::En)
            .iter()
            .find(|l| l.id() == "ephemeral-filesystem")
            .expect("lesson 01")
            .clone();
        Sim {
            lesson,
            state: ClusterState::listed("kubetutor"),
            engine: Engine::new(),
            now: Instant::now(),
            updates: Vec::new(),
            pending: Vec::new(),
            answers: Vec::new(),
        }
    }

    fn take(&mut self, out: Output) {
        self.updates.extend(out.update);
        self.pending.extend(out.requests);
        // Answer fetches from the table (last matching answer wins).
        while !self.pending.is_empty() {
            let key = self.pending.remove(0);
            let needle = match &key {
                IoKey::Probe(p) => p.path.clone(),
                IoKey::Logs(l) => format!("logs:{}", l.pod),
            };
            let found = self
                .answers
                .iter()
                .rev()
                .find(|(k, _)| needle.ends_with(k.as_str()))
                .map(|(_, v)| Response {
                    status: 200,
                    body: v.clone(),
                })
                .ok_or_else(|| "connection refused".to_string());
            self.now += Duration::from_millis(5);
            let out = self.engine.on_io(key, found, &self.state, self.now);
            self.updates.extend(out.update);
            self.pending.extend(out.requests);
        }
    }

    fn activate(&mut self, step: &str) {
        let spec = self
            .lesson
            .step(step)
            .and_then(|s| s.check.as_ref())
            .expect("a check")
            .spec()
            .expect("a valid check");
        self.updates.clear();
        let out = self
            .engine
            .activate(self.lesson.id(), step, spec, &self.state, self.now);
        self.take(out);
    }

    fn event(&mut self, ev: Event<Object>, kind: kubetutor::check::spec::Kind) {
        self.now += Duration::from_millis(20);
        let change = self
            .state
            .apply_at(ClusterUpdate::Watch(kind, ev), self.now);
        let out = self.engine.on_cluster(&self.state, &change, self.now);
        self.take(out);
    }

    fn apply(&mut self, yaml: &str) {
        let o = Object::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let k = o.kind();
        self.event(Event::Apply(o), k);
    }

    fn delete(&mut self, yaml: &str) {
        let o = Object::from_yaml(yaml).unwrap();
        let k = o.kind();
        self.event(Event::Delete(o), k);
    }

    fn wait(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        let out = self.engine.on_tick(&self.state, self.now);
        self.take(out);
    }

    fn last(&self) -> &CheckUpdate {
        self.updates.last().expect("an update")
    }
}

/// The course's manifest, placed in the namespace, with some status.
fn asset(name: &str, extra: &str) -> String {
    let course = Course::embedded().unwrap_or_else(|d| panic!("{d:?}"));
    let bytes = course
        .asset(&format!("assets/01-ephemeral/{name}"))
        .unwrap_or_else(|| panic!("asset {name}"));
    let text = std::str::from_utf8(bytes).unwrap();
    text.replacen("metadata:\n", "metadata:\n  namespace: kubetutor\n", 1) + extra
}

fn pod(name: &str, uid: &str, created: &str, state: &str, ready: bool) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: kubetutor
  uid: {uid}
  creationTimestamp: '{created}'
  labels: {{app: msg-api}}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: msg-api-1, uid: rs-1, controller: true}}]
spec:
  containers: [{{name: api, image: 'python:3.12-alpine', ports: [{{containerPort: 8080, name: http}}]}}]
status:
  phase: Running
  conditions: [{{type: Ready, status: '{}'}}]
  containerStatuses:
    - {{name: api, ready: {ready}, restartCount: 0, image: python, imageID: '', state: {{{state}}}}}
",
        if ready { "True" } else { "False" }
    )
}

const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: msg-api-1
  namespace: kubetutor
  uid: rs-1
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: msg-api, uid: dep-1, controller: true}]
spec: {selector: {matchLabels: {app: msg-api}}}
";

/// Only deployment.yaml applied: the pod waits in ContainerCreating for its
/// ConfigMap volume (FailedMount), the commonest mistake: the hint says to
/// apply the whole directory.
#[test]
fn deploy_step_hint_for_a_missing_configmap_volume() {
    let mut s = Sim::new();
    s.activate("deploy");
    s.apply(&asset("deployment.yaml", "status: {readyReplicas: 0}\n"));
    s.apply(RS);
    s.apply(&pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "waiting: {reason: ContainerCreating}",
        false,
    ));
    assert!(s.last().hint.is_none(), "{:?}", s.last());
    s.apply(
        "apiVersion: v1
kind: Event
metadata: {name: msg-api-1-a.1, namespace: kubetutor}
involvedObject: {kind: Pod, name: msg-api-1-a, namespace: kubetutor, uid: a}
type: Warning
reason: FailedMount
message: 'MountVolume.SetUp failed for volume \"code\" : configmap \"msg-api-script\" not found'
lastTimestamp: '2026-01-01T10:00:01Z'
",
    );
    let u = s.last().clone();
    assert!(
        u.hint
            .as_deref()
            .unwrap_or("")
            .contains("Apply the whole directory"),
        "{u:?}"
    );
    // Once the pod runs, the old warning no longer makes the hint hold.
    for f in ["configmap.yaml", "script-configmap.yaml", "service.yaml"] {
        s.apply(&asset(f, ""));
    }
    s.apply(&pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "running: {}",
        false,
    ));
    assert!(s.last().hint.is_none(), "{:?}", s.last());
}

#[test]
fn deploy_step_with_its_hint_and_failure() {
    let mut s = Sim::new();
    s.activate("deploy");
    assert_eq!(s.last().state, StepState::Active);
    // Only deployment.yaml applied: the pod cannot find its ConfigMap.
    s.apply(&asset("deployment.yaml", "status: {readyReplicas: 0}\n"));
    s.apply(RS);
    s.apply(&pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "waiting: {reason: CreateContainerConfigError, message: 'configmap \"msg-api-config\" not found'}",
        false,
    ));
    let u = s.last().clone();
    assert_eq!(u.state, StepState::Failing, "{u:?}");
    assert!(
        u.reason
            .unwrap()
            .contains("configmap \"msg-api-config\" not found")
    );
    assert!(u.hint.unwrap().contains("Apply the whole directory"));
    // The whole directory: everything exists and the pod becomes ready.
    for f in ["configmap.yaml", "script-configmap.yaml", "service.yaml"] {
        s.apply(&asset(f, ""));
    }
    s.apply(&pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "running: {}",
        true,
    ));
    s.apply(&asset("deployment.yaml", "status: {readyReplicas: 1}\n"));
    assert_eq!(s.last().state, StepState::Done, "{:?}", s.updates);
}

#[test]
fn save_to_file_needs_the_restarted_pod() {
    let mut s = Sim::new();
    s.apply(RS);
    s.apply(&pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "running: {}",
        true,
    ));
    s.answers.push((
        "logs:msg-api-1-a".into(),
        "API_DB_FILEPATH not set: messages are kept in memory\nlistening on :8080\n".into(),
    ));
    s.activate("save-to-file");
    assert_eq!(s.last().state, StepState::Active);
    // ConfigMap edited, pod not restarted: the live hint says so.
    s.apply(&asset("configmap.yaml", "").replace(
        "API_PORT: \"8080\"",
        "API_PORT: \"8080\"\n  API_DB_FILEPATH: /var/lib/msgapi/db.json",
    ));
    s.wait(1);
    assert!(
        s.last()
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("Restart the rollout"),
        "{:?}",
        s.updates
    );
    // kubectl rollout restart: a new pod logs the new setting.
    s.answers.push((
        "logs:msg-api-1-b".into(),
        "API_DB_FILEPATH is set: messages are saved to /var/lib/msgapi/db.json\n".into(),
    ));
    let old = pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "running: {}",
        true,
    );
    s.delete(&old);
    s.apply(&pod(
        "msg-api-1-b",
        "b",
        "2026-01-01T10:03:00Z",
        "running: {}",
        true,
    ));
    assert_eq!(s.last().state, StepState::Done, "{:?}", s.updates);
}

#[test]
fn delete_pod_sequence_on_the_real_check() {
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "running: {}",
        true,
    );
    s.apply(&a);
    s.answers.push((
        "msg-api-1-a:8080/proxy/messages".into(),
        r#"{"messages": [{"author": "ana", "text": "hi"}, {"author": "bo", "text": "yo"}]}"#.into(),
    ));
    s.activate("delete-pod");
    assert!(s.last().reason.as_deref().unwrap().contains("step 2 of 4"));
    s.apply(&a.replace(
        "  labels:",
        "  deletionTimestamp: '2026-01-01T10:10:30Z'\n  deletionGracePeriodSeconds: 30\n  labels:",
    ));
    s.answers.push((
        "msg-api-1-b:8080/proxy/messages".into(),
        r#"{"messages": []}"#.into(),
    ));
    s.apply(&pod(
        "msg-api-1-b",
        "b",
        "2026-01-01T10:10:00Z",
        "waiting: {reason: ContainerCreating}",
        false,
    ));
    // Two pods for a while: the live hint reassures.
    assert!(
        s.last().hint.as_deref().unwrap_or("").contains("Two pods"),
        "{:?}",
        s.last()
    );
    s.apply(&pod(
        "msg-api-1-b",
        "b",
        "2026-01-01T10:10:00Z",
        "running: {}",
        true,
    ));
    assert_eq!(s.last().state, StepState::Done, "{:?}", s.updates);
}

#[test]
fn clean_up_waits_for_everything_to_go() {
    let mut s = Sim::new();
    let dep = asset("deployment.yaml", "");
    let svc = asset("service.yaml", "");
    let cm = asset("configmap.yaml", "");
    let script = asset("script-configmap.yaml", "");
    let p = pod(
        "msg-api-1-a",
        "a",
        "2026-01-01T10:00:00Z",
        "running: {}",
        true,
    );
    for y in [&dep, &svc, &cm, &script, &p] {
        s.apply(y);
    }
    s.activate("clean-up");
    assert!(s.last().reason.as_deref().unwrap().contains("still exists"));
    for y in [&dep, &svc, &cm, &script] {
        s.delete(y);
    }
    assert_ne!(s.last().state, StepState::Done, "the pod is still there");
    // Terminating is still there (kubectl lists it); gone is gone.
    let terminating = p.replace(
        "  labels:",
        "  deletionTimestamp: '2026-01-01T10:10:30Z'\n  labels:",
    );
    s.apply(&terminating);
    assert_ne!(s.last().state, StepState::Done);
    s.delete(&terminating);
    assert_eq!(s.last().state, StepState::Done, "{:?}", s.updates);
}
