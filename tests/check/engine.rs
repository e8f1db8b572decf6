//! The checker engine driven by watch events, with canned logs and probe
//! answers: condition steps, hints, failure reasons, quizzes, I/O pacing,
//! and the sequences with their traps.

use kube::runtime::watcher::Event;
use kubetutor::check::engine::{CheckUpdate, Engine, Output};
use kubetutor::check::eval::{IoKey, Response};
use kubetutor::check::spec::{Kind, parse_check};
use kubetutor::cluster::state::{ClusterState, ClusterUpdate, Object};
use kubetutor::progress::StepState;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A cluster, an engine, a clock and canned answers.
struct Sim {
    state: ClusterState,
    engine: Engine,
    now: Instant,
    /// Probe path suffix (`msg-api-a:8080/proxy/messages`) or log pod name → answer.
    answers: HashMap<String, Response>,
    updates: Vec<CheckUpdate>,
    /// Every fetch asked for, in order.
    asked: Vec<IoKey>,
    /// Fetches asked for and not answered yet.
    pending: Vec<IoKey>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            // After the watchers' first (empty) lists: see
            // `nothing_is_judged_before_the_first_list` for before.
            state: ClusterState::listed("kubetutor"),
            engine: Engine::new(),
            now: Instant::now(),
            answers: HashMap::new(),
            updates: Vec::new(),
            asked: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn take(&mut self, out: Output) {
        self.updates.extend(out.update);
        self.asked.extend(out.requests.iter().cloned());
        self.pending.extend(out.requests);
    }

    fn activate(&mut self, check: &str) {
        let spec = parse_check(check).unwrap();
        let out = self
            .engine
            .activate("01-ephemeral", "step", spec, &self.state, self.now);
        self.take(out);
        self.pump();
    }

    /// Apply one watch event and let the engine react.
    fn event(&mut self, ev: Event<Object>) {
        let kind = match &ev {
            Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => o.kind(),
            _ => panic!("use apply/delete"),
        };
        self.now += Duration::from_millis(10);
        let change = self
            .state
            .apply_at(ClusterUpdate::Watch(kind, ev), self.now);
        let out = self.engine.on_cluster(&self.state, &change, self.now);
        self.take(out);
        self.pump();
    }

    fn apply(&mut self, yaml: &str) {
        self.event(Event::Apply(Object::from_yaml(yaml).unwrap()));
    }

    /// Apply without letting the engine look (a burst of events).
    fn apply_quietly(&mut self, yaml: &str) {
        let o = Object::from_yaml(yaml).unwrap();
        self.state
            .apply_at(ClusterUpdate::Watch(o.kind(), Event::Apply(o)), self.now);
    }

    fn delete(&mut self, yaml: &str) {
        self.event(Event::Delete(Object::from_yaml(yaml).unwrap()));
    }

    /// Answer every pending fetch from the table (a missing answer is a
    /// connection error).
    fn pump(&mut self) {
        for _ in 0..20 {
            if self.pending.is_empty() {
                return;
            }
            let key = self.pending.remove(0);
            self.now += Duration::from_millis(5);
            let answer = match &key {
                IoKey::Probe(p) => self
                    .answers
                    .iter()
                    .filter(|(k, _)| p.path.ends_with(k.as_str()))
                    // The most specific canned answer wins.
                    .max_by_key(|(k, _)| k.len())
                    .map(|(_, v)| v.clone()),
                IoKey::Logs(l) => self.answers.get(&format!("logs:{}", l.pod)).cloned(),
            };
            let result = answer.ok_or_else(|| "connection refused".to_string());
            let out = self.engine.on_io(key, result, &self.state, self.now);
            self.take(out);
        }
    }

    /// Let time pass and the engine poll.
    fn wait(&mut self, secs: f64) {
        self.now += Duration::from_secs_f64(secs);
        let out = self.engine.on_tick(&self.state, self.now);
        self.take(out);
        self.pump();
    }

    fn answer_probe(&mut self, path_end: &str, body: &str) {
        self.answers.insert(
            path_end.into(),
            Response {
                status: 200,
                body: body.into(),
            },
        );
    }

    fn last(&self) -> &CheckUpdate {
        self.updates.last().expect("no update yet")
    }

    fn is_done(&self) -> bool {
        self.updates.iter().any(|u| u.state == StepState::Done)
    }
}

const RS: &str = "
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: msg-api-6f7
  namespace: kubetutor
  uid: rs-1
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: msg-api, uid: dep-1, controller: true}]
spec: {replicas: 1, selector: {matchLabels: {app: msg-api}}}
";

const SVC: &str = "
apiVersion: v1
kind: Service
metadata: {name: msg-api, namespace: kubetutor, uid: svc-1}
spec: {selector: {app: msg-api}, ports: [{port: 80, targetPort: 8080}]}
";

const DEPLOY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: msg-api, namespace: kubetutor, uid: dep-1}
spec: {replicas: 1, selector: {matchLabels: {app: msg-api}}, template: {metadata: {labels: {app: msg-api}}, spec: {containers: [{name: api, image: python}]}}}
status: {replicas: 1, readyReplicas: 1}
";

/// A pod of the msg-api ReplicaSet.
fn pod(name: &str, uid: &str, created: &str, ready: bool) -> String {
    let (state, cond) = if ready {
        ("running: {}", "'True'")
    } else {
        ("waiting: {reason: ContainerCreating}", "'False'")
    };
    format!(
        "
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: kubetutor
  uid: {uid}
  creationTimestamp: '{created}'
  labels: {{app: msg-api}}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: msg-api-6f7, uid: rs-1, controller: true}}]
spec:
  containers: [{{name: api, image: python:3.12-alpine, ports: [{{containerPort: 8080, name: http}}]}}]
status:
  phase: Running
  conditions: [{{type: Ready, status: {cond}}}]
  containerStatuses:
    - {{name: api, ready: {ready}, restartCount: 0, image: python, imageID: '', state: {{{state}}}}}
"
    )
}

/// The same pod, being deleted (30 s grace from `at`).
fn deleting(pod_yaml: &str, grace_end: &str) -> String {
    pod_yaml.replacen(
        "  labels:",
        &format!("  deletionTimestamp: '{grace_end}'\n  deletionGracePeriodSeconds: 30\n  labels:"),
        1,
    )
}

const EPHEMERAL: &str = "
sequence:
  - probe_sees:
      pod: {selector: {app: msg-api}}
      path: /messages
      json: [{path: messages, length: {gte: 1}}]
    as: first_pod
  - resource_deleted: first_pod
  - replacement_ready: {same_owner_as: first_pod}
    as: second_pod
  - probe_sees:
      pod: {ref: second_pod}
      path: /messages
      json: [{path: messages, length: 0}]
";

const PERSISTENT: &str = "
sequence:
  - probe_sees:
      pod: {selector: {app: msg-api}}
      path: /messages
      json: [{path: messages, length: {gte: 1}}]
    as: first_pod
  - resource_deleted: first_pod
  - replacement_ready: {same_owner_as: first_pod}
    as: second_pod
  - probe_sees:
      pod: {ref: second_pod}
      path: /messages
      json: [{path: messages, seen_by: first_pod}]
";

const T0: &str = "2026-01-01T10:00:00Z";
const T1: &str = "2026-01-01T10:05:00Z";
const T1_GRACE_END: &str = "2026-01-01T10:05:30Z";

#[test]
fn ephemeral_sequence_passes_in_order() {
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod("msg-api-a", "uid-a", T0, true);
    s.apply(&a);
    s.answer_probe(
        "msg-api-a:8080/proxy/messages",
        r#"{"messages": [{"text": "hi"}]}"#,
    );
    s.activate(EPHEMERAL);
    assert_eq!(s.last().state, StepState::Active);
    // The pod that answered is what the pane highlights.
    let lit = s.engine.highlighted(&s.state);
    assert!(
        lit.iter()
            .any(|(k, key)| *k == Kind::Pod && key.name == "msg-api-a")
    );
    let reason = s.last().reason.clone().unwrap();
    assert!(
        reason.contains("step 2 of 4") && reason.contains("msg-api-a (first_pod) to be deleted"),
        "{reason}"
    );
    // kubectl delete pod msg-api-a: grace period starts, the ReplicaSet
    // creates a replacement, which becomes ready.
    s.apply(&deleting(&a, T1_GRACE_END));
    let reason = s.last().reason.clone().unwrap();
    assert!(reason.contains("step 3 of 4"), "{reason}");
    let b = pod("msg-api-b", "uid-b", T1, false);
    s.apply(&b);
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("replacement pod msg-api-b"),
        "{:?}",
        s.last()
    );
    s.answer_probe("msg-api-b:8080/proxy/messages", r#"{"messages": []}"#);
    s.apply(&pod("msg-api-b", "uid-b", T1, true));
    s.delete(&a);
    assert_eq!(s.last().state, StepState::Done, "{:?}", s.updates);
    assert_eq!(s.last().reason, None);
    // A done step stays done whatever happens next.
    let n = s.updates.len();
    s.delete(&pod("msg-api-b", "uid-b", T1, true));
    s.wait(5.0);
    assert_eq!(s.updates.len(), n);
}

#[test]
fn trap_end_state_already_there_before_activation() {
    let mut s = Sim::new();
    s.apply(RS);
    // The learner already replaced the pod before reaching the step: the
    // fresh pod has no messages.
    s.apply(&pod("msg-api-b", "uid-b", T1, true));
    s.answer_probe("msg-api-b:8080/proxy/messages", r#"{"messages": []}"#);
    s.activate(EPHEMERAL);
    for _ in 0..5 {
        s.wait(1.0);
    }
    assert!(!s.is_done());
    let reason = s.last().reason.clone().unwrap();
    assert!(
        reason.contains("step 1 of 4") && reason.contains("messages has 0 items"),
        "{reason}"
    );
}

#[test]
fn trap_deleting_a_different_pod() {
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod("msg-api-a", "uid-a", T0, true);
    let c = pod("msg-api-c", "uid-c", T0, true);
    s.apply(&a);
    s.apply(&c);
    s.answer_probe(
        "msg-api-a:8080/proxy/messages",
        r#"{"messages": [{"text": "hi"}]}"#,
    );
    s.answer_probe("/proxy/messages", r#"{"messages": []}"#);
    s.activate(EPHEMERAL);
    // The probe went to msg-api-a (first ready pod by name); the learner
    // deletes msg-api-c instead, and its replacement comes up.
    s.apply(&deleting(&c, T1_GRACE_END));
    s.delete(&c);
    s.apply(&pod("msg-api-d", "uid-d", T1, true));
    s.wait(2.0);
    assert!(!s.is_done());
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("msg-api-a (first_pod) to be deleted"),
        "{:?}",
        s.last()
    );
    // Deleting the right pod: msg-api-d already existed, so it is not the
    // replacement; a new pod is.
    s.apply(&deleting(&a, "2026-01-01T10:09:30Z"));
    s.wait(1.0);
    assert!(!s.is_done());
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("waiting for a new pod to replace msg-api-a"),
        "{:?}",
        s.last()
    );
    s.apply(&pod("msg-api-e", "uid-e", "2026-01-01T10:09:01Z", true));
    assert!(s.is_done(), "{:?}", s.updates);
}

#[test]
fn trap_skipping_the_delete() {
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod("msg-api-a", "uid-a", T0, true);
    s.apply(&a);
    s.answer_probe(
        "msg-api-a:8080/proxy/messages",
        r#"{"messages": [{"text": "hi"}]}"#,
    );
    s.activate(EPHEMERAL);
    // The container restarts (same pod, same uid) and loses its messages;
    // a scale-up adds a pod. Neither is "the pod was replaced".
    s.answer_probe("msg-api-a:8080/proxy/messages", r#"{"messages": []}"#);
    s.apply(&a.replace("restartCount: 0", "restartCount: 1"));
    s.apply(&pod("msg-api-z", "uid-z", T1, true));
    s.wait(3.0);
    assert!(!s.is_done());
    assert!(s.last().reason.as_deref().unwrap().contains("step 2 of 4"));
}

#[test]
fn trap_data_written_to_the_replacement() {
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod("msg-api-a", "uid-a", T0, true);
    s.apply(&a);
    s.answer_probe(
        "msg-api-a:8080/proxy/messages",
        r#"{"messages": [{"text": "kept?"}]}"#,
    );
    s.activate(PERSISTENT);
    s.apply(&deleting(&a, T1_GRACE_END));
    // The volume was not persistent: the new pod starts empty and the
    // learner posts a new message to it.
    s.answer_probe(
        "msg-api-b:8080/proxy/messages",
        r#"{"messages": [{"text": "new"}]}"#,
    );
    s.apply(&pod("msg-api-b", "uid-b", T1, true));
    s.wait(2.0);
    assert!(!s.is_done());
    let reason = s.last().reason.clone().unwrap();
    assert!(
        reason.contains("no longer holds what the first probe saw"),
        "{reason}"
    );
    // With a persistent volume the first message is still there.
    s.answer_probe(
        "msg-api-b:8080/proxy/messages",
        r#"{"messages": [{"text": "kept?"}, {"text": "new"}]}"#,
    );
    s.wait(1.0);
    assert!(s.is_done(), "{:?}", s.updates);
}

#[test]
fn replacement_seen_before_the_deletion_in_one_burst() {
    // The watch delivers the new pod and the old pod's deletion before the
    // engine looks: the creation time still proves it is a replacement.
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod("msg-api-a", "uid-a", T0, true);
    s.apply(&a);
    s.answer_probe(
        "msg-api-a:8080/proxy/messages",
        r#"{"messages": [{"text": "hi"}]}"#,
    );
    s.answer_probe("msg-api-b:8080/proxy/messages", r#"{"messages": []}"#);
    s.activate(EPHEMERAL);
    s.apply_quietly(&pod("msg-api-b", "uid-b", T1, true));
    s.apply(&deleting(&a, T1_GRACE_END));
    assert!(s.is_done(), "{:?}", s.updates);
}

#[test]
fn stale_probe_answers_do_not_complete_a_later_stage() {
    // A service probe answered before the delete must not count for the
    // stage after it.
    let check = "
sequence:
  - probe_sees: {service: msg-api, path: /messages, json: [{path: messages, length: {gte: 1}}]}
    as: first
  - probe_sees: {service: msg-api, path: /messages, json: [{path: messages, seen_by: first}]}
";
    let mut s = Sim::new();
    s.apply("apiVersion: v1\nkind: Service\nmetadata: {name: msg-api, namespace: kubetutor}\nspec: {selector: {app: msg-api}, ports: [{port: 80}]}\n");
    s.apply(&pod("msg-api-a", "uid-a", T0, true));
    s.answer_probe("msg-api:80/proxy/messages", r#"{"messages": [1]}"#);
    s.activate(check);
    // Stage 2 needs a new probe, sent after stage 1 completed.
    let probes = s
        .asked
        .iter()
        .filter(|k| matches!(k, IoKey::Probe(_)))
        .count();
    assert_eq!(probes, 2, "{:?}", s.asked);
    assert!(s.is_done());
}

#[test]
fn condition_steps_hints_and_done_is_sticky() {
    let mut s = Sim::new();
    s.activate(
        "
resource: {kind: PersistentVolumeClaim, name: msg-data, phase: Bound}
hints:
  - when: {resource: {kind: PersistentVolumeClaim, name: msg-data, phase: Pending}}
    say: Your claim waits for a pod (WaitForFirstConsumer) — create the Deployment.
",
    );
    assert_eq!(s.last().state, StepState::Active);
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("no PersistentVolumeClaim named msg-data")
    );
    assert_eq!(s.last().hint, None);
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: msg-data, namespace: kubetutor, uid: c1}\nspec: {storageClassName: standard}\nstatus: {phase: Pending}\n";
    s.apply(pvc);
    assert!(
        s.last()
            .hint
            .as_deref()
            .unwrap()
            .contains("WaitForFirstConsumer")
    );
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("phase is Pending")
    );
    s.apply(&pvc.replace("Pending", "Bound"));
    assert_eq!(s.last().state, StepState::Done);
    assert_eq!(s.last().hint, None);
    let n = s.updates.len();
    s.delete(pvc);
    assert_eq!(s.updates.len(), n, "a done step stays done");
}

#[test]
fn crash_loop_fails_with_the_last_log_line() {
    let mut s = Sim::new();
    s.apply(RS);
    s.answers.insert(
        "logs:msg-api-a".into(),
        Response {
            status: 200,
            body: "Traceback (most recent call last):\nKeyError: 'API_PORT'\n\n".into(),
        },
    );
    let crashing = pod("msg-api-a", "uid-a", T0, false)
        .replace("reason: ContainerCreating", "reason: CrashLoopBackOff")
        .replace("restartCount: 0", "restartCount: 3");
    s.apply(&crashing);
    s.activate("resource: {kind: Pod, selector: {app: msg-api}, ready: true}");
    let u = s.last();
    assert_eq!(u.state, StepState::Failing);
    assert_eq!(
        u.reason.as_deref(),
        Some("pod msg-api-a is CrashLoopBackOff: KeyError: 'API_PORT'")
    );
    // It asked for the crashed (previous) container's log.
    assert!(
        s.asked
            .iter()
            .any(|k| matches!(k, IoKey::Logs(l) if l.previous && l.container == "api"))
    );
    // A missing ConfigMap: the kubelet's message is the reason.
    let misconfigured = pod("msg-api-a", "uid-a", T0, false).replace(
        "reason: ContainerCreating",
        "reason: CreateContainerConfigError, message: 'configmap \"msg-api-config\" not found'",
    );
    s.apply(&misconfigured);
    assert_eq!(
        s.last().reason.as_deref(),
        Some("pod msg-api-a is CreateContainerConfigError: configmap \"msg-api-config\" not found")
    );
    s.apply(&pod("msg-api-a", "uid-a", T0, true));
    assert_eq!(s.last().state, StepState::Done);
}

#[test]
fn workload_checks_report_their_pods_trouble() {
    let mut s = Sim::new();
    s.apply("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: msg-api, namespace: kubetutor, uid: dep-1}\nspec: {replicas: 1, selector: {matchLabels: {app: msg-api}}, template: {spec: {containers: [{name: api, image: i}]}}}\nstatus: {readyReplicas: 0}\n");
    s.apply(&pod("msg-api-a", "uid-a", T0, false).replace(
        "reason: ContainerCreating",
        "reason: ImagePullBackOff, message: 'Back-off pulling image \"pyhton:3\"'",
    ));
    s.activate("resource: {kind: Deployment, name: msg-api, ready: true}");
    assert_eq!(s.last().state, StepState::Failing);
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("ImagePullBackOff: Back-off pulling image")
    );
}

#[test]
fn quiz_answers() {
    let mut s = Sim::new();
    s.activate("quiz:\n  question: Where do the bytes live?\n  choices: [container layer, emptyDir, PV]\n  answer: [b, c]\n  explain: Both outlive the container.\n");
    assert_eq!(s.last().state, StepState::Active);
    let out = s.engine.answer("step", &[1], &s.state, s.now);
    s.take(out);
    assert_eq!(s.last().state, StepState::Failing);
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("2 choices are right")
    );
    // Answers for another step are ignored.
    let out = s.engine.answer("other", &[1, 2], &s.state, s.now);
    assert!(out.update.is_none());
    let out = s.engine.answer("step", &[2, 1], &s.state, s.now);
    s.take(out);
    assert_eq!(s.last().state, StepState::Done);
}

#[test]
fn probes_are_paced_and_follow_watch_events() {
    let mut s = Sim::new();
    s.apply("apiVersion: v1\nkind: Service\nmetadata: {name: msg-api, namespace: kubetutor}\nspec: {selector: {app: msg-api}, ports: [{port: 80}]}\n");
    s.apply(&pod("msg-api-a", "uid-a", T0, true));
    s.answer_probe("msg-api:80/proxy/messages", r#"{"messages": []}"#);
    s.activate(
        "http: {service: msg-api, path: /messages, json: [{path: messages, length: {gte: 1}}]}",
    );
    let count = |s: &Sim| s.asked.len();
    assert_eq!(count(&s), 1);
    let wake = s.engine.next_wakeup().unwrap();
    assert!(wake > s.now && wake <= s.now + Duration::from_secs(1));
    s.wait(0.3);
    assert_eq!(count(&s), 1, "no probe before a second has passed");
    s.wait(0.8);
    assert_eq!(count(&s), 2, "then one per second");
    // A relevant watch event probes again at once...
    s.wait(0.5);
    assert_eq!(count(&s), 2);
    s.apply(&pod("msg-api-a", "uid-a", T0, true).replace("restartCount: 0", "restartCount: 1"));
    assert_eq!(count(&s), 3);
    // ...but a burst of events does not become a burst of probes: the next
    // one waits a quarter of a second.
    s.apply(&pod("msg-api-a", "uid-a", T0, true).replace("restartCount: 0", "restartCount: 2"));
    assert_eq!(count(&s), 3);
    let wake = s.engine.next_wakeup().unwrap();
    assert!(wake <= s.now + Duration::from_millis(250));
    s.wait(0.3);
    assert_eq!(count(&s), 4);
    // Not a relevant kind: no extra probe.
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: kubetutor}\n");
    assert_eq!(count(&s), 4);
    s.answer_probe("msg-api:80/proxy/messages", r#"{"messages": [1]}"#);
    s.wait(1.0);
    assert_eq!(s.last().state, StepState::Done);
    // Done: nothing is polled any more.
    assert_eq!(s.engine.next_wakeup(), None);
    let n = count(&s);
    s.wait(5.0);
    assert_eq!(count(&s), n);
}

#[test]
fn unreachable_probe_says_so() {
    let mut s = Sim::new();
    s.apply(&pod("msg-api-a", "uid-a", T0, true));
    s.activate("http: {pod: {name: msg-api-a}, path: /healthz}");
    let reason = s.last().reason.clone().unwrap();
    assert!(
        reason.contains("pod msg-api-a did not answer: connection refused"),
        "{reason}"
    );
}

#[test]
fn holds_stages_after_the_first_must_happen_after_activation() {
    // Both conditions already hold when the step starts: nothing happened.
    let check = "
sequence:
  - holds: {resource: {kind: Pod, name: msg-api-a}}
    as: p
  - holds: {resource: {kind: ConfigMap, name: marker}}
";
    let mut s = Sim::new();
    let a = pod("msg-api-a", "uid-a", T0, true);
    let marker =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: marker, namespace: kubetutor}\n";
    s.apply(&a);
    s.apply(marker);
    s.activate(check);
    s.wait(2.0);
    assert!(!s.is_done());
    assert!(
        s.last()
            .reason
            .as_deref()
            .unwrap()
            .contains("waiting for this to happen"),
        "{:?}",
        s.last()
    );
    // It goes away and comes back: now it happened.
    s.delete(marker);
    assert!(!s.is_done());
    s.apply(marker);
    assert!(s.is_done(), "{:?}", s.updates);
}

#[test]
fn a_step_that_asks_for_a_crash_is_not_failing_on_the_way() {
    let mut s = Sim::new();
    s.apply(RS);
    let erroring = pod("msg-api-a", "uid-a", T0, false).replace(
        "waiting: {reason: ContainerCreating}",
        "terminated: {exitCode: 1, reason: Error}",
    );
    s.apply(&erroring);
    s.activate(
        "resource: {kind: Pod, selector: {app: msg-api}, container: {reason: CrashLoopBackOff}}",
    );
    assert_eq!(s.last().state, StepState::Active, "{:?}", s.last());
    s.apply(
        &pod("msg-api-a", "uid-a", T0, false)
            .replace("reason: ContainerCreating", "reason: CrashLoopBackOff"),
    );
    assert_eq!(s.last().state, StepState::Done);
}

#[test]
fn activating_the_active_step_again_keeps_its_progress() {
    let mut s = Sim::new();
    s.apply(RS);
    let a = pod("msg-api-a", "uid-a", T0, true);
    s.apply(&a);
    s.answer_probe(
        "msg-api-a:8080/proxy/messages",
        r#"{"messages": [{"text": "hi"}]}"#,
    );
    s.activate(EPHEMERAL);
    assert!(s.last().reason.as_deref().unwrap().contains("step 2 of 4"));
    // The app activates it again (the learner came back to it).
    let n = s.updates.len();
    s.activate(EPHEMERAL);
    assert_eq!(s.updates.len(), n + 1, "the last verdict is repeated");
    assert!(s.last().reason.as_deref().unwrap().contains("step 2 of 4"));
}

/// Resuming lesson 1 at "Clean up" while msg-api still exists: the checker
/// is activated (and sees a connection change and some kinds' lists) before
/// every watcher has listed. An `absent` check must not pass on that empty
/// snapshot, or the step ticks by accident and is saved.
#[test]
fn nothing_is_judged_before_the_first_list() {
    use kubetutor::cluster::ConnectionState;
    let mut state = ClusterState::new("kubetutor");
    let mut engine = Engine::new();
    let mut now = Instant::now();
    let mut updates: Vec<CheckUpdate> = Vec::new();
    let spec = parse_check(
        "all:
  - resource: {kind: Deployment, name: msg-api, absent: true}
  - resource: {kind: Service, name: msg-api, absent: true}
  - resource: {kind: Pod, selector: {app: msg-api}, absent: true}
",
    )
    .unwrap();
    let out = engine.activate("ephemeral-filesystem", "clean-up", spec, &state, now);
    updates.extend(out.update);
    let mut feed = |state: &mut ClusterState, u: ClusterUpdate, updates: &mut Vec<CheckUpdate>| {
        now += Duration::from_millis(5);
        let change = state.apply_at(u, now);
        updates.extend(engine.on_cluster(state, &change, now).update);
    };
    feed(
        &mut state,
        ClusterUpdate::Connection(ConnectionState::Connected),
        &mut updates,
    );
    // Pods and services list first (no msg-api pod: it was being replaced).
    for kind in [Kind::Pod, Kind::Service] {
        feed(
            &mut state,
            ClusterUpdate::Watch(kind, Event::Init),
            &mut updates,
        );
        feed(
            &mut state,
            ClusterUpdate::Watch(kind, Event::InitDone),
            &mut updates,
        );
    }
    feed(
        &mut state,
        ClusterUpdate::Watch(Kind::Service, Event::Apply(Object::from_yaml(SVC).unwrap())),
        &mut updates,
    );
    assert!(!updates.is_empty(), "the step says it is waiting");
    assert!(
        updates.iter().all(|u| u.state != StepState::Done),
        "ticked before the deployments were listed: {updates:?}"
    );
    let waiting = updates[0].reason.clone().unwrap_or_default();
    assert!(waiting.contains("reading the cluster"), "{waiting}");
    assert!(waiting.contains("deployments"), "{waiting}");
    // The deployments' list arrives, with msg-api in it.
    feed(
        &mut state,
        ClusterUpdate::Watch(Kind::Deployment, Event::Init),
        &mut updates,
    );
    let dep = Object::from_yaml(DEPLOY).unwrap();
    feed(
        &mut state,
        ClusterUpdate::Watch(Kind::Deployment, Event::InitApply(dep.clone())),
        &mut updates,
    );
    feed(
        &mut state,
        ClusterUpdate::Watch(Kind::Deployment, Event::InitDone),
        &mut updates,
    );
    let last = updates.last().unwrap().clone();
    assert_eq!(last.state, StepState::Active, "{last:?}");
    assert!(
        last.reason
            .as_deref()
            .unwrap_or("")
            .contains("still exists"),
        "{last:?}"
    );
    // Now the learner deletes them: that ticks.
    feed(
        &mut state,
        ClusterUpdate::Watch(
            Kind::Service,
            Event::Delete(Object::from_yaml(SVC).unwrap()),
        ),
        &mut updates,
    );
    feed(
        &mut state,
        ClusterUpdate::Watch(Kind::Deployment, Event::Delete(dep)),
        &mut updates,
    );
    assert_eq!(updates.last().unwrap().state, StepState::Done);
}

/// The checker's own sentences follow the course language.
#[test]
fn the_engine_speaks_the_course_language() {
    let state = ClusterState::new("kubetutor");
    let mut engine = Engine::new();
    engine.set_lang(kubetutor::lesson::Lang::Fr);
    let spec = parse_check("resource: {kind: Pod, name: web}").unwrap();
    let out = engine.activate("l", "s", spec, &state, Instant::now());
    let reason = out.update.unwrap().reason.unwrap();
    assert!(reason.starts_with("lecture du cluster"), "{reason}");
    let mut engine = Engine::new();
    engine.set_lang(kubetutor::lesson::Lang::Fr);
    let spec = parse_check("quiz: {question: Why?, choices: [a, b], answer: b}").unwrap();
    let listed = ClusterState::listed("kubetutor");
    engine.activate("l", "q", spec, &listed, Instant::now());
    let out = engine.answer("q", &[0], &listed, Instant::now());
    assert_eq!(
        out.update.unwrap().reason.as_deref(),
        Some("pas tout à fait : réessayez")
    );
}
