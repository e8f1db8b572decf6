//! Binary-level tests of the commands that need no cluster: lint, list,
//! status and reset.

use crate::support;

use support::{run, stderr, stdout};

#[test]
fn lint_of_the_shipped_course_is_clean() {
    let data = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = run(data.path(), &["lint", root]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no problems found"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn lint_reports_file_line_col_and_exits_1() {
    let data = tempfile::tempdir().unwrap();
    let course = tempfile::tempdir().unwrap();
    let en = course.path().join("lessons/en");
    std::fs::create_dir_all(&en).unwrap();
    std::fs::write(
        en.join("01-broken.md"),
        "---\nid: broken\ntitle: Broken\nsummary: s\nminutes: 1\norder: 1\ncolour: red\n---\n\n## A step {#a}\n\nNo check here.\n",
    )
    .unwrap();
    let out = run(data.path(), &["lint", course.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lessons/en/01-broken.md:7:1:"),
        "expected an unknown-field diagnostic at 7:1, got:\n{err}"
    );
    assert!(err.contains("lessons/en/01-broken.md:10:"), "{err}");
    assert!(err.contains("problem(s) found"), "{err}");
}

#[test]
fn list_shows_lessons_and_progress_in_both_languages() {
    let data = tempfile::tempdir().unwrap();
    let out = run(data.path(), &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ephemeral-filesystem"), "{text}");
    assert!(text.contains("0/6 steps"), "{text}");
    let out = run(data.path(), &["--lang", "fr", "list"]);
    let text = stdout(&out);
    assert!(text.contains("Cours sur le stockage"), "{text}");
}

#[test]
fn lang_defaults_from_the_locale() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(support::bin())
        .args(["list"])
        .env("KUBETUTOR_DATA_DIR", data.path())
        .env_remove("KUBETUTOR_LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "fr_FR.UTF-8")
        .output()
        .unwrap();
    assert!(stdout(&out).contains("langue : fr"), "{}", stdout(&out));
}

#[test]
fn unknown_language_is_a_usage_error() {
    let data = tempfile::tempdir().unwrap();
    let out = run(data.path(), &["--lang", "de", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("use en or fr"), "{}", stderr(&out));
}

#[test]
fn status_text_and_json_agree() {
    let data = tempfile::tempdir().unwrap();
    let text = stdout(&run(data.path(), &["status"]));
    assert!(text.contains("Lesson 1/"), "{text}");
    assert!(
        text.contains("[active]  Deploy the message API (deploy)"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(data.path(), &["status", "--json"]))).unwrap();
    assert_eq!(json["current"]["lesson"], "ephemeral-filesystem");
    assert_eq!(json["current"]["step"], "deploy");
    assert_eq!(json["lessons"][0]["steps"][0]["state"], "active");
    assert_eq!(json["lessons"][0]["steps"][1]["state"], "pending");
    assert!(json["connection"]["state"].is_string());
}

#[test]
fn status_reflects_saved_progress_and_reset_forgets_it() {
    let data = tempfile::tempdir().unwrap();
    let progress = serde_json::json!({
        "version": 1,
        "current": {"lesson": "ephemeral-filesystem", "step": "save-to-file"},
        "lessons": {"ephemeral-filesystem": {"done": {"deploy": "2026-01-01T00:00:00Z"}}}
    });
    std::fs::write(
        data.path().join("progress.json"),
        serde_json::to_vec(&progress).unwrap(),
    )
    .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(data.path(), &["status", "--json"]))).unwrap();
    assert_eq!(json["lessons"][0]["steps"][0]["state"], "done");
    assert_eq!(json["current"]["step"], "save-to-file");
    assert!(stdout(&run(data.path(), &["list"])).contains("1/6 steps"));

    // Without a terminal and without --yes, reset refuses and changes nothing.
    let out = run(data.path(), &["reset", "ephemeral-filesystem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(stdout(&run(data.path(), &["list"])).contains("1/6 steps"));

    let out = run(data.path(), &["reset", "1", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&run(data.path(), &["list"])).contains("0/6 steps"));
}

#[test]
fn reset_of_an_unknown_lesson_names_the_lessons() {
    let data = tempfile::tempdir().unwrap();
    let out = run(data.path(), &["reset", "nope", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no lesson 'nope'; the lessons are: ephemeral-filesystem"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn corrupt_progress_is_moved_aside_not_fatal() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("progress.json"), b"{{{{").unwrap();
    let out = run(data.path(), &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("moved to"), "{}", stderr(&out));
}

#[test]
fn help_reads_well() {
    let data = tempfile::tempdir().unwrap();
    let out = run(data.path(), &["--help"]);
    let text = stdout(&out);
    for needle in [
        "start",
        "list",
        "status",
        "reset",
        "lint",
        "--lang",
        "Examples:",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

/// Only the lesson the learner is on has an active step (the others have
/// not been reached).
#[test]
fn status_json_has_one_active_step() {
    let data = tempfile::tempdir().unwrap();
    let text = stdout(&run(data.path(), &["status", "--json"]));
    assert_eq!(text.matches("\"active\"").count(), 1, "{text}");
}

/// `kubetutor reset` while the UI runs would be undone by the UI's next
/// save: it refuses and says why.
#[test]
fn reset_refuses_while_kubetutor_runs() {
    let data = tempfile::tempdir().unwrap();
    // A live session: this test's own pid is alive.
    std::fs::write(
        data.path().join("session.json"),
        serde_json::json!({"pid": std::process::id(), "lessons": []}).to_string(),
    )
    .unwrap();
    let out = run(data.path(), &["reset", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: kubetutor is running (pid"), "{err}");
    assert!(err.contains("quit it first"), "{err}");
}

/// The export line of a headless `kubetutor sandbox`, and where the lab is.
#[test]
fn status_names_a_headless_sandbox_and_the_lab() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("sandbox.json"),
        serde_json::json!({"pid": std::process::id(), "kubeconfig": "/x/sandbox/kubeconfig"})
            .to_string(),
    )
    .unwrap();
    let text = stdout(&run(data.path(), &["status"]));
    assert!(text.contains("the sandbox runs alone"), "{text}");
    assert!(
        text.contains("export KUBECONFIG=/x/sandbox/kubeconfig"),
        "{text}"
    );
    assert!(
        text.contains(&format!("cd {}", data.path().join("lab").display())),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(data.path(), &["status", "--json"]))).unwrap();
    assert_eq!(json["connection"]["kubeconfig"], "/x/sandbox/kubeconfig");
    assert_eq!(json["connection"]["state"], "not running");
}

/// `kubetutor status | head -1`: no "Broken pipe" error.
#[test]
fn a_closed_pipe_ends_quietly() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' status | head -c 1 >/dev/null; '{}' list | head -c 1 > /dev/null",
            support::bin().display(),
            support::bin().display()
        ))
        .env("KUBETUTOR_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert_eq!(stderr(&out), "");
}

#[test]
fn sandbox_help_lists_only_its_options() {
    let data = tempfile::tempdir().unwrap();
    let out = run(data.path(), &["sandbox", "--help"]);
    let text = stdout(&out);
    assert!(text.contains("--port"), "{text}");
    for absent in ["--context", "--kubeconfig", "--namespace", "--allow-remote"] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
    let out = run(data.path(), &["sandbox", "--context", "kind-kind"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does not apply"), "{}", stderr(&out));
}

#[test]
fn lint_takes_one_lesson_file() {
    let data = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = root.join("lessons/en/01-ephemeral-filesystem.md");
    let out = run(data.path(), &["lint", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no problems found"),
        "{}",
        stdout(&out)
    );
    // A broken file on its own (outside any course).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("01-broken.md");
    std::fs::write(&bad, "---\nid: broken\n---\n\n## A step {#a}\n").unwrap();
    let out = run(data.path(), &["lint", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("01-broken.md:"), "{}", stderr(&out));
}

/// Every error starts with `error:` on one line, a bad kubeconfig too.
#[test]
fn a_bad_kubeconfig_is_one_error_line() {
    let data = tempfile::tempdir().unwrap();
    let kc = data.path().join("kc");
    std::fs::write(&kc, "clusters: [ {").unwrap();
    let out = run(
        data.path(),
        &["--kubeconfig", kc.to_str().unwrap(), "doctor"],
    );
    let err = stderr(&out) + &stdout(&out);
    let start = run(data.path(), &["--kubeconfig", kc.to_str().unwrap()]);
    let start_err = stderr(&start);
    assert!(
        start_err.starts_with("error: cannot read the kubeconfig"),
        "{start_err}"
    );
    assert_eq!(start_err.trim_end().lines().count(), 1, "{start_err}");
    assert!(!err.contains("Error:"), "{err}");
}
