//! Drives the real binary in tmux, as a learner would: it starts, shows the
//! lesson, reacts to keys, survives resizing, and leaves the terminal clean on
//! `q` and on SIGTERM. tmux is required in CI; elsewhere the test skips with a
//! notice when it is missing.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    tmux: PathBuf,
    socket: String,
    _data: tempfile::TempDir,
}

impl Tmux {
    /// Starts kubetutor in a detached tmux session of the given size.
    fn start(name: &str, width: u16, height: u16) -> Option<Tmux> {
        let tmux = support::require_tool("tmux", None)?;
        let data = tempfile::tempdir().unwrap();
        let socket = format!("kubetutor-test-{}-{name}", std::process::id());
        let bin = support::bin();
        // A shell stays in the pane after kubetutor exits, so the test sees
        // the terminal state kubetutor left behind (a dead pane would not tell).
        let script = format!("'{}'; echo \"EXIT=$?\"; sleep 60", bin.display());
        let t = Tmux {
            tmux,
            socket,
            _data: data,
        };
        let data_dir = t._data.path().to_str().unwrap().to_owned();
        t.run(&[
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
            &format!("KUBETUTOR_DATA_DIR={data_dir}"),
            "-e",
            "LANG=C.UTF-8",
            "-e",
            "KUBETUTOR_LANG=en",
            "sh",
            "-c",
            &script,
        ]);
        t.run(&["set-option", "-t", "k", "remain-on-exit", "on"]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.tmux)
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
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

    fn flag(&self, name: &str) -> String {
        self.run(&["display-message", "-p", "-t", "k", &format!("#{{{name}}}")])
            .trim()
            .to_owned()
    }

    /// Waits until the screen satisfies `pred` (generous bound: these
    /// machines are shared; this is not a timing assertion).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_contains(&self, needle: &str) -> String {
        self.wait_for(needle, |s| s.contains(needle))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux)
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

fn assert_terminal_clean(t: &Tmux) {
    assert_eq!(t.flag("alternate_on"), "0", "still on the alternate screen");
    assert_eq!(t.flag("mouse_any_flag"), "0", "mouse capture left on");
    assert_eq!(t.flag("cursor_flag"), "1", "cursor left hidden");
}

#[test]
fn starts_shows_the_lesson_reacts_to_keys_and_quits_cleanly() {
    let Some(t) = Tmux::start("keys", 120, 40) else {
        return;
    };
    t.wait_contains("A container's files die with its pod");
    // Waited for, not asserted: tmux may capture a frame half written.
    t.wait_contains("Steps 0/6");
    // With no --context, kubetutor runs its own sandbox and connects to it.
    t.wait_contains("kubetutor-sandbox │ connected");
    assert_eq!(t.flag("alternate_on"), "1");

    t.keys(&["?"]);
    t.wait_contains("Keys");
    t.keys(&["Escape"]);
    t.wait_for("help closed", |s| !s.contains("Esc closes"));

    t.keys(&["l"]);
    t.wait_contains("Lessons");
    t.keys(&["Escape"]);

    t.keys(&["h"]);
    t.wait_contains("Hint 1/2");

    // Resizing below the minimum shows the notice; growing back redraws.
    t.run(&["resize-window", "-t", "k", "-x", "20", "-y", "6"]);
    t.wait_contains("too small");
    t.run(&["resize-window", "-t", "k", "-x", "1", "-y", "1"]);
    t.run(&["resize-window", "-t", "k", "-x", "39", "-y", "30"]);
    t.wait_contains("need 40x10");
    t.run(&["resize-window", "-t", "k", "-x", "80", "-y", "24"]);
    t.wait_contains("Steps");

    t.keys(&["q"]);
    t.wait_contains("EXIT=0");
    assert_terminal_clean(&t);
}

#[test]
fn sigterm_restores_the_terminal_and_keeps_progress() {
    let Some(t) = Tmux::start("term", 100, 30) else {
        return;
    };
    t.wait_contains("Steps 0/6");
    t.keys(&["h"]);
    t.wait_contains("Hint 1/2");
    let shell: u32 = t.flag("pane_pid").parse().unwrap();
    let pid = child_of(shell).expect("kubetutor runs under the pane's shell");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // 143 = 128 + SIGTERM, or 0 if kubetutor treats it as a quit.
    t.wait_for("kubetutor to exit", |s| s.contains("EXIT="));
    assert_terminal_clean(&t);
    let progress = std::fs::read_to_string(Path::new(t._data.path()).join("progress.json"))
        .expect("progress saved before exit");
    assert!(progress.contains("\"deploy\": 1"), "{progress}");
}

/// The first child process of `parent`, from /proc.
fn child_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces; the
        // parent pid is the second field after it.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest)?;
        let ppid = after.split_whitespace().nth(1)?.parse::<u32>().ok()?;
        if ppid == parent {
            return Some(pid);
        }
    }
    None
}
