//! Simulated learners and an in-process classroom server: the real
//! learner side (`classroom::learner::run`, the same code a learner's
//! kubetutor runs) fed with status documents, its events collected.

use kubetutor::classroom::code::{JoinCode, JoinTarget};
use kubetutor::classroom::learner::{self, ClassroomEvent, Link};
use kubetutor::classroom::roster::Roster;
use kubetutor::classroom::server::{self, Classroom};
use kubetutor::classroom::{Reporter, tls};
use kubetutor::tui::event::AppEvent;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const CODE: &str = "ABCD-EFGH-JKMN-PQRS";

/// A classroom server on loopback.
pub struct Server {
    pub class: Classroom,
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves on `port` (0: any) with the given TLS material and roster.
    pub async fn start(port: u16, tls_material: &tls::Material, roster: Roster) -> Server {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let class = Classroom::new(roster);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(server::serve(
            listener,
            tls::acceptor(tls_material).unwrap(),
            JoinCode::parse(CODE).unwrap(),
            class.clone(),
            cancel.clone(),
        ));
        Server {
            class,
            addr,
            cancel,
            task,
        }
    }

    /// Stops serving; returns the roster as it was.
    pub async fn stop(self) -> Roster {
        self.cancel.cancel();
        let _ = self.task.await;
        self.class.roster().clone()
    }

    pub fn target(&self, code: &str) -> JoinTarget {
        JoinTarget::parse(&format!("{code}@{}", self.addr)).unwrap()
    }

    /// Waits until the roster satisfies `pred` (bounded generously: not a
    /// timing assertion).
    pub async fn wait(&self, what: &str, pred: impl Fn(&Roster) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut changes = self.class.subscribe();
        loop {
            if pred(&self.class.roster()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                self.class.roster().learners.keys()
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
        }
    }
}

/// One simulated learner.
pub struct Learner {
    pub reporter: Reporter,
    pub events: mpsc::Receiver<AppEvent>,
    /// Its data directory (its token), removed with it.
    _data: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Learner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Learner {
    pub fn join(target: JoinTarget, name: &str) -> Learner {
        Learner::join_in(target, name, tempfile::tempdir().unwrap())
    }

    /// Joins keeping its data directory (its token) from before.
    pub fn join_in(target: JoinTarget, name: &str, data: tempfile::TempDir) -> Learner {
        let (tx, events) = mpsc::channel::<AppEvent>(64);
        let reporter = Reporter::new();
        let link = Link {
            target,
            name: name.to_owned(),
            data_dir: data.path().to_path_buf(),
            events: kubetutor::classroom::learner::Sink::new(tx),
        };
        let task = tokio::spawn(learner::run(link, reporter.subscribe()));
        Learner {
            reporter,
            events,
            _data: data,
            task,
        }
    }

    /// Reports being at `step` (1-based) of lesson `l1` of three steps,
    /// earlier ones done, `failing` with a reason.
    pub fn at(&mut self, step: usize, reason: Option<&str>) {
        self.reporter.publish(&doc(step, reason));
    }

    /// The next classroom event (bounded wait).
    pub async fn next(&mut self) -> ClassroomEvent {
        loop {
            match tokio::time::timeout(Duration::from_secs(60), self.events.recv()).await {
                Ok(Some(AppEvent::Classroom(ev))) => return ev,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the learner task ended"),
                Err(_) => panic!("no classroom event within a minute"),
            }
        }
    }

    /// Waits for an event that satisfies `pred`, skipping others.
    pub async fn wait_for(&mut self, pred: impl Fn(&ClassroomEvent) -> bool) -> ClassroomEvent {
        loop {
            let ev = self.next().await;
            if pred(&ev) {
                return ev;
            }
        }
    }
}

/// A status document as a front end publishes it: lesson `l1` with steps
/// a, b, c; `step` (1-based) is the current one (4: all done).
pub fn doc(step: usize, reason: Option<&str>) -> Value {
    let steps: Vec<Value> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let n = i + 1;
            let state = if n < step {
                "done"
            } else if n == step {
                if reason.is_some() { "failing" } else { "active" }
            } else {
                "pending"
            };
            json!({"id": id, "state": state, "reason": if n == step { reason } else { None }, "hints": 0, "solution": false})
        })
        .collect();
    let current = ["a", "b", "c"].get(step.wrapping_sub(1)).copied();
    json!({
        "connection": {"state": "connected"},
        "lang": "en",
        "current": {"lesson": "l1", "step": current},
        "lessons": [{"id": "l1", "steps": steps}],
    })
}

/// The current step id of a learner in a roster.
pub fn step_of(r: &Roster, name: &str) -> Option<String> {
    r.learners.get(name)?.report.as_ref()?.step.clone()
}
