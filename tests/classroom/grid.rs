//! The instructor's grid in tmux, driven as an instructor would: the real
//! `kubetutor classroom serve` in a terminal, two simulated learners
//! joining; the grid shows them and follows their steps; a message and a
//! hold typed in the grid reach the learners; `q` then `y` quits. tmux is
//! required in CI; elsewhere the test skips with a notice.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kubetutor::classroom::code::JoinTarget;
use kubetutor::classroom::learner::ClassroomEvent;
use serde_json::{Value, json};

use crate::sim::{CODE, Learner};
use crate::support;

struct Tmux {
    tmux: PathBuf,
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.tmux)
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "k"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "k"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits until the screen satisfies `pred` (a generous bound, not a
    /// timing assertion).
    async fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {what} on the grid:\n{s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux)
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// A learner's status document on lesson 1 of the course: `step`
/// (0-based) of its steps is current and failing with `reason`.
fn lesson_one(step: usize, reason: &str) -> Value {
    let ids = [
        "deploy",
        "save-to-file",
        "post-messages",
        "delete-pod",
        "why",
        "clean-up",
    ];
    let steps: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let state = match i.cmp(&step) {
                std::cmp::Ordering::Less => "done",
                std::cmp::Ordering::Equal => "failing",
                std::cmp::Ordering::Greater => "pending",
            };
            json!({"id": id, "state": state, "reason": (i == step).then_some(reason), "hints": 0, "solution": false})
        })
        .collect();
    json!({
        "connection": {"state": "connected"},
        "lang": "en",
        "current": {"lesson": "ephemeral-filesystem", "step": ids[step]},
        "lessons": [{"id": "ephemeral-filesystem", "steps": steps}],
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grid_follows_learners_and_sends_messages_and_holds() {
    let Some(tmux) = support::require_tool("tmux", None) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let t = Tmux {
        tmux,
        socket: format!("kubetutor-grid-{}", std::process::id()),
    };
    let script = format!(
        "'{}' classroom serve --listen 127.0.0.1:{port} --code {CODE}; echo EXIT=$?; sleep 60",
        support::bin().display()
    );
    t.run(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "k",
        "-x",
        "160",
        "-y",
        "40",
        "-e",
        &format!("KUBETUTOR_DATA_DIR={}", data.path().display()),
        "-e",
        "LANG=C.UTF-8",
        "-e",
        "KUBETUTOR_LANG=en",
        "sh",
        "-c",
        &script,
    ]);
    t.wait_for("join line", |s| s.contains(&format!("127.0.0.1:{port}")))
        .await;
    let target = JoinTarget::parse(&format!("{CODE}@127.0.0.1:{port}")).unwrap();
    let mut ana = Learner::join(target.clone(), "ana");
    let mut bob = Learner::join(target, "bob");
    for l in [&mut ana, &mut bob] {
        l.wait_for(|e| matches!(e, ClassroomEvent::Joined { .. }))
            .await;
    }
    ana.reporter
        .publish(&lesson_one(0, "no Deployment message-api yet"));
    bob.reporter
        .publish(&lesson_one(2, "2 of 3 messages posted"));
    let s = t
        .wait_for("both learners", |s| s.contains("ana") && s.contains("bob"))
        .await;
    assert!(s.contains("deploy") || s.contains("Deploy"), "{s}");
    // Ana moves on: the grid follows.
    ana.reporter
        .publish(&lesson_one(1, "the file /data/messages.txt is missing"));
    t.wait_for("ana's new step", |s| {
        s.contains("save-to-file") || s.contains("messages.txt")
    })
    .await;
    // A drill-in shows the learner's reason.
    t.keys(&["Enter"]);
    t.wait_for("a learner's details", |s| {
        s.contains("messages.txt") || s.contains("2 of 3 messages")
    })
    .await;
    // Enter closes it (Escape then a key would read as Alt+key in tmux).
    t.keys(&["Enter"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A message to everyone.
    t.keys(&["m"]);
    t.wait_for("the message box", |s| s.contains("Enter sends"))
        .await;
    t.keys(&["-l", "Break at 11"]);
    t.keys(&["Enter"]);
    for l in [&mut ana, &mut bob] {
        let ev = l
            .wait_for(|e| matches!(e, ClassroomEvent::Message { .. }))
            .await;
        assert!(matches!(ev, ClassroomEvent::Message { text, .. } if text == "Break at 11"));
    }
    // Hold the class at the lesson shown, then release it.
    t.keys(&["H"]);
    for l in [&mut ana, &mut bob] {
        let ev = l
            .wait_for(|e| matches!(e, ClassroomEvent::Hold { .. }))
            .await;
        assert!(
            matches!(&ev, ClassroomEvent::Hold { lesson: Some(id) } if id == "ephemeral-filesystem"),
            "{ev:?}"
        );
    }
    t.keys(&["R"]);
    ana.wait_for(|e| matches!(e, ClassroomEvent::Hold { lesson: None }))
        .await;
    // The status command sees what the grid sees.
    let out = support::run(data.path(), &["classroom", "status", "--json"]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let status: Value = serde_json::from_str(&support::stdout(&out)).unwrap();
    let names: Vec<&str> = status["learners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{status}");
    // Quitting asks first.
    t.keys(&["q"]);
    t.keys(&["y"]);
    t.wait_for("a clean exit", |s| s.contains("EXIT=0")).await;
}
