//! Binary-level tests of the commands that need no cluster: lint, list,
//! status and reset.

mod support;

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
    assert!(stdout(&out).contains("language: fr"), "{}", stdout(&out));
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
