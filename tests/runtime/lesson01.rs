//! End to end, as a learner: `kubetutor` in tmux on a fresh data directory
//! (so with its embedded sandbox), the KUBECONFIG read from
//! `kubetutor status --json`, lesson 01's commands run with the real kubectl
//! from the lesson's own code blocks, and the UI followed on screen and in
//! the status file. tmux and kubectl (`KUBETUTOR_KUBECTL` or PATH) are
//! required in CI; elsewhere the test skips with a notice.

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous bound for anything to show up: these machines are shared.
/// Not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

struct Session {
    tmux: PathBuf,
    socket: String,
    data: tempfile::TempDir,
}

impl Session {
    fn start(tmux: PathBuf, width: u16, height: u16) -> Session {
        let data = tempfile::tempdir().unwrap();
        let socket = format!("kubetutor-e2e-{}", std::process::id());
        let s = Session { tmux, socket, data };
        let script = format!("'{}'; echo \"EXIT=$?\"; sleep 60", support::bin().display());
        s.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "k",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-e",
            &format!("KUBETUTOR_DATA_DIR={}", s.data.path().display()),
            "-e",
            "LANG=C.UTF-8",
            "-e",
            "KUBETUTOR_LANG=en",
            "sh",
            "-c",
            &script,
        ]);
        s
    }

    fn tmux(&self, args: &[&str]) -> String {
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
        self.tmux(&["capture-pane", "-p", "-t", "k"])
    }

    fn status(&self) -> Value {
        let out = support::run(self.data.path(), &["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Polls `what` until it returns `Some`.
    fn wait<T>(&self, what: &str, mut f: impl FnMut(&Session) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}\nscreen:\n{}\nstatus: {}",
                    self.screen(),
                    self.status()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn step(&self, lesson: &str, step: &str) -> Value {
        let doc = self.status();
        doc["lessons"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["id"] == lesson))
            .and_then(|l| l["steps"].as_array())
            .and_then(|ss| ss.iter().find(|s| s["id"] == step))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux)
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The commands of the first `sh` block after the heading of `step`.
fn step_commands(lesson: &str, step: &str) -> Vec<String> {
    let anchor = format!("{{#{step}}}");
    let mut lines = lesson.lines().skip_while(|l| !l.contains(&anchor));
    let mut out = Vec::new();
    let mut inside = false;
    for l in lines.by_ref() {
        if !inside && l.trim() == "```sh" {
            inside = true;
        } else if inside && l.trim() == "```" {
            break;
        } else if inside {
            out.push(l.split(" #").next().unwrap_or("").trim().to_owned());
        }
    }
    out.retain(|l| !l.is_empty());
    out
}

fn kubectl(kubectl: &Path, kubeconfig: &str, line: &str) -> std::process::Output {
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    Command::new(kubectl)
        .args(&args)
        .env("KUBECONFIG", kubeconfig)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn lesson_01_with_kubectl_against_the_embedded_sandbox() {
    let Some(tmux) = support::require_tool("tmux", None) else {
        return;
    };
    let Some(kubectl_bin) = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL")) else {
        return;
    };
    let s = Session::start(tmux, 120, 40);

    // The UI connects to its sandbox and says so, on screen and in status.
    let kubeconfig = s.wait("the UI to connect", |s| {
        let doc = s.status();
        (doc["connection"]["state"] == "connected")
            .then(|| doc["connection"]["kubeconfig"].as_str().map(str::to_owned))
            .flatten()
    });
    assert!(Path::new(&kubeconfig).is_file(), "{kubeconfig}");
    s.wait("the status bar", |s| {
        let screen = s.screen();
        (screen.contains("kubetutor-sandbox") && screen.contains("ns kubetutor")).then_some(())
    });
    let plain = support::stdout(&support::run(s.data.path(), &["status"]));
    assert!(
        plain.contains(&format!("export KUBECONFIG={kubeconfig}")),
        "{plain}"
    );
    assert_eq!(s.status()["current"]["step"], "deploy");

    // A pod appears in the pane, and is dimmed for a while once deleted.
    let run = kubectl(
        &kubectl_bin,
        &kubeconfig,
        "kubectl run e2e-probe --image=busybox --restart=Never -- sleep 3600",
    );
    assert!(run.status.success(), "{run:?}");
    s.wait("the pod in the pane", |s| {
        s.screen().contains("e2e-probe").then_some(())
    });
    let del = kubectl(
        &kubectl_bin,
        &kubeconfig,
        "kubectl delete pod e2e-probe --wait=false --grace-period=1",
    );
    assert!(del.status.success(), "{del:?}");
    s.wait("the deleted pod to leave the pane", |s| {
        (!s.screen().contains("e2e-probe")).then_some(())
    });

    // Lesson 01, step deploy, with the lesson's own commands.
    let lesson = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/en/01-ephemeral-filesystem.md"),
    )
    .unwrap();
    let commands = step_commands(&lesson, "deploy");
    assert!(
        commands.iter().any(|c| c.starts_with("kubectl apply")),
        "{commands:?}"
    );
    for c in &commands {
        // `rollout status` waits for pods: bounded here, and allowed to
        // fail while the sandbox runs no controllers.
        let c = if c.contains("rollout status") {
            format!("{c} --timeout=20s")
        } else {
            c.clone()
        };
        let out = kubectl(&kubectl_bin, &kubeconfig, &c);
        if c.starts_with("kubectl apply") {
            assert!(out.status.success(), "{c}: {out:?}");
        }
    }
    // The checker sees the deployment: the step reports on it, or is done
    // once the sandbox runs its pods.
    let verdict = s.wait("a verdict about msg-api", |s| {
        let step = s.step("ephemeral-filesystem", "deploy");
        let reason = step["reason"].as_str().unwrap_or("");
        (step["state"] == "done" || reason.contains("msg-api")).then_some(step)
    });
    eprintln!("deploy: {verdict}");
    let pods = kubectl(
        &kubectl_bin,
        &kubeconfig,
        "kubectl get pods -l app=msg-api -o name",
    );
    if !String::from_utf8_lossy(&pods.stdout).trim().is_empty() {
        // Pods run: the pane shows them and the step ticks.
        s.wait("the msg-api pod in the pane", |s| {
            s.screen().contains("msg-api-").then_some(())
        });
        s.wait("deploy done", |s| {
            (s.step("ephemeral-filesystem", "deploy")["state"] == "done").then_some(())
        });
        s.wait("the next step", |s| {
            (s.status()["current"]["step"] == "save-to-file").then_some(())
        });
    }

    // Quitting removes the status file: status says not running.
    s.tmux(&["send-keys", "-t", "k", "q"]);
    s.wait("kubetutor to exit", |s| {
        s.screen().contains("EXIT=0").then_some(())
    });
    assert_eq!(s.status()["connection"]["state"], "not running");
}
