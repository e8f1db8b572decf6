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
    /// The data directory (kept when the test gave its own).
    dir: PathBuf,
    _data: Option<tempfile::TempDir>,
}

impl Tmux {
    /// Starts kubetutor in a detached tmux session of the given size.
    fn start(name: &str, width: u16, height: u16) -> Option<Tmux> {
        Tmux::start_with(name, width, height, &[], "", None)
    }

    /// The same with more environment (`NAME=value`), arguments (one shell
    /// string) and a given data directory.
    fn start_with(
        name: &str,
        width: u16,
        height: u16,
        env: &[String],
        args: &str,
        data: Option<&Path>,
    ) -> Option<Tmux> {
        let tmux = support::require_tool("tmux", None)?;
        let (dir, data) = match data {
            Some(d) => (d.to_path_buf(), None),
            None => {
                let d = tempfile::tempdir().unwrap();
                (d.path().to_path_buf(), Some(d))
            }
        };
        let socket = format!("kubetutor-test-{}-{name}", std::process::id());
        let bin = support::bin();
        // A shell stays in the pane after kubetutor exits, so the test sees
        // the terminal state kubetutor left behind (a dead pane would not tell).
        // Extra variables are exported by the script: tmux sets some (SHELL)
        // itself for the pane's processes.
        let exports: String = env.iter().map(|e| format!("export '{e}'; ")).collect();
        let script = format!(
            "{exports}'{}' {args}; echo \"EXIT=$?\"; sleep 60",
            bin.display()
        );
        let t = Tmux {
            tmux,
            socket,
            dir,
            _data: data,
        };
        let data_dir = t.dir.to_str().unwrap().to_owned();
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
    let progress =
        std::fs::read_to_string(t.dir.join("progress.json")).expect("progress saved before exit");
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

/// The shell pane as a learner uses it: `t` opens it, `kubectl get pods`
/// answers from the course's cluster and namespace, typing a lesson-1
/// command in it ticks the step, a full-screen program survives a resize
/// (the pty is resized with the pane), `exit` closes it, `q` still quits
/// cleanly and the shell dies with kubetutor.
#[test]
fn the_shell_pane_runs_kubectl_ticks_a_step_and_follows_resizes() {
    let Some(kubectl) = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL")) else {
        return;
    };
    let Some(vi) = support::require_tool("vi", None) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    // kubectl and vi on PATH under those names, nothing else of ours.
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(&kubectl, bin.join("kubectl")).unwrap();
    std::os::unix::fs::symlink(&vi, bin.join("vi")).unwrap();
    let env = [
        format!("PATH={}:/usr/bin:/bin", bin.display()),
        format!("HOME={}", home.path().display()),
        "SHELL=/bin/sh".to_owned(),
        "ENV=".to_owned(),
    ];
    let Some(t) = Tmux::start_with("shell", 120, 40, &env, "", None) else {
        return;
    };
    t.wait_contains("kubetutor-sandbox │ connected");
    t.wait_contains("t shell");

    t.keys(&["t"]);
    t.wait_contains("Ctrl-] back to the lesson");
    t.wait_contains("(kubetutor) $");
    t.keys(&["kubectl get pods", "Enter"]);
    t.wait_contains("No resources found in kubetutor namespace.");

    // Lesson 1, step 1, typed in the pane: the checker sees it as any
    // kubectl and the step ticks.
    t.keys(&["kubectl apply -f assets/01-ephemeral/", "Enter"]);
    t.wait_contains("deployment.apps/msg-api created");
    t.wait_contains("Steps 1/6");

    // A full-screen program, then a smaller window: the pane takes the
    // whole window (it has the focus) and vi redraws at the new size.
    t.keys(&["vi assets/01-ephemeral/configmap.yaml", "Enter"]);
    t.wait_contains("API_PORT");
    t.run(&["resize-window", "-t", "k", "-x", "70", "-y", "20"]);
    let screen = t.wait_for("vi at 68 columns", |s| {
        let lines: Vec<&str> = s.lines().collect();
        // vi fills the pane's 17 rows: its `~` rows end just above its
        // command line, the pane's last row, above the border.
        lines.len() >= 20
            && lines[16].starts_with("│~")
            && lines[0].starts_with("┌ Shell")
            && lines[18].starts_with("└")
    });
    assert!(screen.contains("Ctrl-] back"), "{screen}");
    t.keys(&[":q", "Enter"]);
    // vi discards unread input as it leaves: type on once the prompt is back.
    t.wait_for("the prompt after vi", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines
            .windows(2)
            .any(|w| w[0].contains("$ vi assets/") && w[1].starts_with("│(kubetutor) $"))
    });
    // The pty has the pane's size (68x17 inside the borders).
    t.keys(&["stty size", "Enter"]);
    t.wait_contains("17 68");
    t.run(&["resize-window", "-t", "k", "-x", "120", "-y", "40"]);
    t.wait_for("the prompt again", |s| {
        s.lines().filter(|l| l.contains("(kubetutor) $")).count() >= 2
    });

    // Ctrl-] leaves; lesson keys work again; exit ends the shell.
    t.keys(&["C-]"]);
    t.wait_contains("t: type here");
    t.keys(&["t"]);
    t.wait_contains("Ctrl-] back to the lesson");
    t.keys(&["exit", "Enter"]);
    t.wait_contains("The shell ended");

    // A command still running when kubetutor quits is hung up with it.
    t.keys(&["t"]);
    t.wait_contains("(kubetutor) $");
    t.keys(&["sleep 4321", "Enter"]);
    t.keys(&["C-]", "q"]);
    t.wait_contains("EXIT=0");
    assert_terminal_clean(&t);
    // The pane's shell died with kubetutor (hung up, or killed).
    let deadline = Instant::now() + Duration::from_secs(30);
    while shell_children_left() {
        assert!(
            Instant::now() < deadline,
            "the pane's shell outlived kubetutor"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `sleep 4321` still running (started in the pane above).
fn shell_children_left() -> bool {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x004321\x00")
            })
        })
        .unwrap_or(false)
}

/// `--no-shell` keeps the old layout, says how to get a shell, and is
/// remembered at the next start; `--shell-pane` brings the pane back.
#[test]
fn no_shell_is_remembered_until_shell_pane() {
    let data = tempfile::tempdir().unwrap();
    let Some(t) = Tmux::start_with("noshell", 120, 40, &[], "--no-shell", Some(data.path())) else {
        return;
    };
    t.wait_contains("Steps 0/6");
    t.wait_contains("Run the lessons' commands in the course's shell");
    assert!(!t.screen().contains("t shell"));
    t.keys(&["t"]);
    t.wait_contains("The shell pane is off");
    t.keys(&["q"]);
    t.wait_contains("EXIT=0");
    drop(t);
    let Some(t) = Tmux::start_with("noshell2", 120, 40, &[], "", Some(data.path())) else {
        return;
    };
    t.wait_contains("Steps 0/6");
    t.wait_contains("Run the lessons' commands in the course's shell");
    assert!(!t.screen().contains("t shell"));
    t.keys(&["q"]);
    t.wait_contains("EXIT=0");
    drop(t);
    let Some(t) = Tmux::start_with("noshell3", 120, 40, &[], "--shell-pane", Some(data.path()))
    else {
        return;
    };
    t.wait_contains("t shell");
    t.wait_contains("shell pane: t opens it");
    t.keys(&["q"]);
    t.wait_contains("EXIT=0");
}
