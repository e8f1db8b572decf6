//! Issue 14's attacks on the CLI, replayed: cluster and lesson text with
//! escape sequences is printed without them (`status`, `list`), `status
//! --json` escapes C1 controls, and an oversized lesson file is refused
//! with a clear error instead of being parsed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod support;

use support::{run, stderr, stdout};

/// A course whose first lesson's title retitles the terminal, sets the
/// clipboard (OSC 52), clears the screen and carries an 8-bit CSI.
fn evil_course() -> tempfile::TempDir {
    let course = tempfile::tempdir().unwrap();
    let en = course.path().join("lessons/en");
    std::fs::create_dir_all(&en).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lesson =
        std::fs::read_to_string(root.join("lessons/en/01-ephemeral-filesystem.md")).unwrap();
    let evil = lesson.replacen(
        "title: A container's files die with its pod",
        "title: \"Evil \\e]0;pwned\\a\\e]52;c;aGk=\\a\\e[2J\\x9b31m title\"",
        1,
    );
    assert_ne!(evil, lesson);
    std::fs::write(en.join("01-ephemeral-filesystem.md"), evil).unwrap();
    copy(&root.join("assets"), &course.path().join("assets"));
    course
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn has_controls(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[test]
fn lesson_text_reaches_the_terminal_without_escape_sequences() {
    let data = tempfile::tempdir().unwrap();
    let course = evil_course();
    let dir = course.path().to_str().unwrap();
    for args in [
        vec!["--course-dir", dir, "status"],
        vec!["--course-dir", dir, "list"],
    ] {
        let out = run(data.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(!has_controls(&text), "{args:?}: {text:?}");
        assert!(text.contains("Evil  title"), "{args:?}: {text}");
    }
    let out = run(data.path(), &["--course-dir", dir, "status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!has_controls(&text), "{text:?}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["lessons"][0]["title"],
        "Evil \u{1b}]0;pwned\u{7}\u{1b}]52;c;aGk=\u{7}\u{1b}[2J\u{9b}31m title"
    );
    assert!(text.contains("\\u009b31m"), "{text}");
}

#[test]
fn an_oversized_lesson_is_refused_with_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    let course = evil_course();
    let big = course.path().join("lessons/en/02-big.md");
    std::fs::write(&big, "x".repeat(1024 * 1024 + 1)).unwrap();
    let dir = course.path().to_str().unwrap();
    let out = run(data.path(), &["--course-dir", dir, "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("02-big.md is too large (1048577 bytes): a lesson file may be at most 1 MiB"),
        "{err}"
    );
    let out = run(data.path(), &["lint", big.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a lesson file may be at most 1 MiB"),
        "{}",
        stderr(&out)
    );
}
