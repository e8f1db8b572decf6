//! Plain mode (`kubetutor --plain`) as a screen-reader user meets it: the
//! binary on a fresh data directory (so with its embedded sandbox),
//! commands on stdin, the output compared line by line, in English and in
//! French; a step that ticks while the learner waits at the prompt
//! (kubectl run against the sandbox from here); no box drawing and no
//! escape sequence anywhere; the preference remembered.
//!
//! Announcements of the checker and the connection arrive when the
//! cluster says so: they are taken out before outputs are compared (and
//! checked on their own by the ticking test).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous bound for something to show up: these machines are shared.
/// Not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(240);

/// A running `kubetutor` in plain mode.
struct Plain {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    data: tempfile::TempDir,
    _home: tempfile::TempDir,
}

impl Plain {
    /// Starts kubetutor with `args`, `env` on top of a fixed environment
    /// (no colour asked for, `TERM=dumb` unless given).
    fn start(args: &[&str], env: &[(&str, &str)], data: tempfile::TempDir) -> Plain {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(support::bin());
        cmd.args(args)
            .env("KUBETUTOR_DATA_DIR", data.path())
            .env("HOME", home.path())
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env_remove("KUBETUTOR_LANG")
            .env_remove("KUBETUTOR_COURSE_DIR")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("NO_COLOR")
            .env_remove("KUBECONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut bytes = Vec::new();
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&buf[..n]);
                *sink.lock().unwrap() = String::from_utf8_lossy(&bytes).into_owned();
            }
        });
        Plain {
            child,
            stdin,
            out,
            data,
            _home: home,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn wait_for(&self, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.output().contains(what) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what:?}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes stdin (end of input: kubetutor says goodbye and saves) and
    /// returns everything it printed.
    fn finish(mut self) -> (String, tempfile::TempDir) {
        self.stdin = None;
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "kubetutor exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "kubetutor did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The reader thread has the last bytes once the pipe is closed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.output().ends_with('\n') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        (self.output(), self.data)
    }
}

/// A session of `commands` typed in a row, then the end of input.
fn session(args: &[&str], env: &[(&str, &str)], commands: &[&str]) -> (String, tempfile::TempDir) {
    session_in(tempfile::tempdir().unwrap(), args, env, commands)
}

fn session_in(
    data: tempfile::TempDir,
    args: &[&str],
    env: &[(&str, &str)],
    commands: &[&str],
) -> (String, tempfile::TempDir) {
    let mut p = Plain::start(args, env, data);
    for c in commands {
        p.send(c);
    }
    p.finish()
}

/// Announcements come when the cluster says so: lines that only they
/// print (and the checker's current word in `steps`, which follows it).
fn is_timing_dependent(line: &str) -> bool {
    is_announcement(line)
        || regex::Regex::new(r"^\s+(Waiting for|En attente de|Hint|Indice) ?: ")
            .unwrap()
            .is_match(line)
}

/// Lines only announcements print.
fn is_announcement(line: &str) -> bool {
    let re = regex::Regex::new(
        r"^((Step|Étape) \d+ ?: (waiting|failing|en attente|en échec) — |(Hint|Indice) ?: |Cluster connection|Connexion au cluster|La connexion au cluster)",
    )
    .unwrap();
    re.is_match(line)
}

/// The output without announcements, the data directory as `<DATA>`.
fn comparable(out: &str, data: &Path) -> String {
    let data = data.to_string_lossy();
    out.lines()
        .filter(|l| !is_timing_dependent(l))
        .map(|l| l.replace(data.as_ref(), "<DATA>"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the learner types in the scripted sessions (each word in the
/// language of the session).
const SESSION_EN: &[&str] = &[
    "help",
    "steps",
    "next",
    "previous",
    "next step",
    "previous step",
    "",
    "copy",
    "hint",
    "hint",
    "hint",
    "solution",
    "no",
    "answer b",
    "lessons",
    "lesson 12",
    "next lesson",
    "previous lesson",
    "frobnicate",
    "quit",
];

const SESSION_FR: &[&str] = &[
    "aide",
    "étapes",
    "suivant",
    "précédent",
    "étape suivante",
    "étape précédente",
    "",
    "copier",
    "indice",
    "indice",
    "indice",
    "solution",
    "non",
    "répondre b",
    "leçons",
    "leçon 12",
    "leçon suivante",
    "leçon précédente",
    "bidule",
    "quitter",
];

#[test]
fn a_scripted_session_in_english() {
    let (out, data) = session(&["--plain"], &[], SESSION_EN);
    insta::assert_snapshot!("session_en", comparable(&out, data.path()));
}

#[test]
fn a_scripted_session_in_french() {
    // No --plain: TERM=dumb and a pipe choose it.
    let (out, data) = session(&["--lang", "fr"], &[], SESSION_FR);
    insta::assert_snapshot!("session_fr", comparable(&out, data.path()));
}

/// A data directory where every step of lesson 1 is done but its question
/// (its last step, cleaning up, would pass by itself on an empty sandbox
/// as soon as it became the active one).
fn at_the_question() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let done: serde_json::Map<String, serde_json::Value> = [
        "deploy",
        "save-to-file",
        "post-messages",
        "delete-pod",
        "clean-up",
    ]
    .iter()
    .map(|s| (s.to_string(), "2025-01-01T00:00:00Z".into()))
    .collect();
    let progress = serde_json::json!({
        "version": 1,
        "current": {"lesson": "ephemeral-filesystem", "step": "why"},
        "lessons": {"ephemeral-filesystem": {"done": done}},
    });
    std::fs::write(
        data.path().join("progress.json"),
        serde_json::to_vec_pretty(&progress).unwrap(),
    )
    .unwrap();
    data
}

fn progress(data: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data.join("progress.json")).unwrap()).unwrap()
}

#[test]
fn answering_the_question_in_english_and_in_french() {
    for (lang, commands) in [
        (
            "en",
            &[
                "step",
                "answer",
                "answer e",
                "answer a b",
                "answer a",
                "answer b",
                "steps",
                "answer b",
            ][..],
        ),
        (
            "fr",
            &[
                "étape",
                "répondre",
                "répondre e",
                "répondre a b",
                "répondre a",
                "répondre b",
                "étapes",
                "répondre b",
            ][..],
        ),
    ] {
        let (out, data) = session_in(
            at_the_question(),
            &["--plain", "--lang", lang],
            &[],
            commands,
        );
        insta::assert_snapshot!(format!("question_{lang}"), comparable(&out, data.path()));
        let p = progress(data.path());
        assert!(
            p["lessons"]["ephemeral-filesystem"]["done"]["why"].is_string(),
            "{p}"
        );
        assert_eq!(p["current"]["step"], serde_json::Value::Null, "{p}");
        assert_eq!(p["plain"], true, "--plain is remembered: {p}");
    }
}

/// Every character a screen reader or a dumb terminal would choke on.
fn assert_plain_text(out: &str) {
    for (n, line) in out.lines().enumerate() {
        for c in line.chars() {
            assert!(
                !c.is_control(),
                "line {}: control character {c:?} in {line:?}",
                n + 1
            );
            assert!(
                !('\u{2500}'..='\u{259f}').contains(&c),
                "line {}: box drawing {c:?} in {line:?}",
                n + 1
            );
        }
    }
}

#[test]
fn no_box_drawing_nor_escape_sequence_in_plain_output() {
    for (lang, term) in [("en", "dumb"), ("fr", "xterm-256color")] {
        let (out, _data) = session(
            &["--plain", "--lang", lang],
            &[("TERM", term)],
            &[
                "read", "help", "steps", "lessons", "cluster", "hint", "hint", "solution", "yes",
                "copy", "next", "lesson 3", "read", "lesson 7", "read", "quit",
            ],
        );
        assert_plain_text(&out);
        assert!(
            !out.lines().any(|l| l.starts_with("> ")),
            "no prompt without a terminal: {out}"
        );
        assert!(out.contains("Code"), "{out}");
    }
}

/// kubectl for the sandbox, or `None` (with a notice) outside CI.
fn kubectl() -> Option<PathBuf> {
    support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL"))
}

/// The learner waits at the prompt; in another terminal they apply the
/// lesson's manifests; the step ticks and is announced once, then the next
/// step and what it waits for.
fn step_ticks_at_the_prompt(lang: &str, done: &str, next: &str, steps_row: &str) {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let mut p = Plain::start(
        &["--plain", "--lang", lang],
        &[],
        tempfile::tempdir().unwrap(),
    );
    // The end of the opening text: the sandbox is up.
    p.wait_for("kubectl logs deployment/msg-api");
    let data = p.data.path().to_path_buf();
    let out = Command::new(&kubectl)
        .args(["apply", "-f", "assets/01-ephemeral/"])
        .env("KUBECONFIG", data.join("sandbox").join("kubeconfig"))
        .current_dir(data.join("lab"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.wait_for(done);
    p.wait_for(next);
    p.send(if lang == "fr" { "étapes" } else { "steps" });
    p.send("cluster");
    let (out, _data) = p.finish();
    assert_plain_text(&out);
    assert_eq!(out.matches(done).count(), 1, "announced once:\n{out}");
    assert!(out.contains(steps_row), "{out}");
    // Announcements never repeat a line.
    let news: Vec<&str> = out.lines().filter(|l| is_announcement(l)).collect();
    let mut seen = std::collections::HashSet::new();
    for l in &news {
        assert!(seen.insert(*l), "{l:?} announced twice:\n{out}");
    }
    let pod = if lang == "fr" {
        "Le pod msg-api-"
    } else {
        "Pod msg-api-"
    };
    assert!(out.contains(pod), "the cluster in sentences:\n{out}");
}

#[test]
fn a_step_ticks_while_the_learner_is_at_the_prompt() {
    step_ticks_at_the_prompt(
        "en",
        "Step 1 done: Deploy the message API.",
        "Next, step 2 of 6: Save the messages to a file. Type step to read it.",
        "Step 1 of 6, done: Deploy the message API.",
    );
}

#[test]
fn une_etape_se_coche_pendant_que_l_apprenant_attend() {
    step_ticks_at_the_prompt(
        "fr",
        "Étape 1 réussie : Déployer l'API de messagerie.",
        "Ensuite, étape 2 sur 6 :",
        "Étape 1 sur 6, faite : Déployer l'API de messagerie.",
    );
}

#[test]
fn the_choice_is_remembered_and_a_pipe_chooses_plain_by_itself() {
    let (_, data) = session(&["--plain"], &[("TERM", "xterm")], &["quit"]);
    assert_eq!(progress(data.path())["plain"], true);
    // Without a terminal plain mode is chosen anyway, and that is not a
    // preference.
    let (out, data) = session(&[], &[("TERM", "xterm")], &["quit"]);
    assert!(out.starts_with("kubetutor, plain mode."), "{out}");
    assert!(progress(data.path()).get("plain").is_none());
    // --no-plain asks for the full-screen interface, which needs a terminal.
    let out = Command::new(support::bin())
        .arg("--no-plain")
        .env("KUBETUTOR_DATA_DIR", data.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--plain"), "{err}");
}

/// Whether this build has `kubetutor shell` (the shell pane's subcommand).
fn has_shell_command() -> bool {
    let out = Command::new(support::bin()).arg("--help").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim_start().starts_with("shell "))
}

#[test]
fn shell_hands_the_terminal_over_or_says_what_to_type() {
    // With `kubetutor shell`, the shell reads the next lines (stdin is a
    // pipe here), runs `exit`, and plain mode goes on; without it, plain
    // mode says what to type in another terminal, and `exit` quits.
    let (out, data) = session(&["--plain"], &[], &["shell", "exit"]);
    let out = comparable(&out, data.path());
    assert_plain_text(&out);
    if has_shell_command() {
        assert!(
            out.contains("Opening the course shell. Type exit to come back here."),
            "{out}"
        );
        assert!(out.contains("Back in the course."), "{out}");
    } else {
        assert!(
            out.contains(
                "This kubetutor has no shell command. In another terminal, run: \
                 export KUBECONFIG=<DATA>/sandbox/kubeconfig; cd <DATA>/lab"
            ),
            "{out}"
        );
    }
    assert!(out.ends_with("Bye. Your progress is saved."), "{out}");
}
