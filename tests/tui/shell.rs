//! The shell pane inside `App`, without a process behind it: a detached
//! session whose input is read back here and whose screen is fed by hand.
//! Focus and keys (every key to the shell but the leave chord), code
//! blocks typed and run (bracketed paste), the shell's exit, `--no-shell`,
//! and render snapshots of the layouts.

use crate::common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use kubetutor::shell::ShellSession;
use kubetutor::shell::session::Input;
use kubetutor::tui::app::Pane;
use kubetutor::tui::{App, AppEvent, ShellEvent, ShellSetup};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::PathBuf;
use tokio::sync::mpsc::Receiver;

fn setup(pane: bool) -> ShellSetup {
    ShellSetup {
        target: Some(kubetutor::shell::Target {
            files: vec![PathBuf::from("/data/sandbox/kubeconfig")],
            context: "kubetutor-sandbox".into(),
            namespace: "kubetutor".into(),
        }),
        pane,
        command: "kubetutor shell".into(),
        unavailable: None,
    }
}

fn shell_app(pane: bool) -> App {
    let mut a = app();
    a.set_shell(setup(pane));
    a
}

/// Opens the pane with `t`, draws, and "starts" a detached shell at the
/// pane's size, which prints a prompt.
fn open(a: &mut App, w: u16, h: u16) -> (Terminal<TestBackend>, Receiver<Input>) {
    send(a, ch('t'));
    let mut t = draw(a, w, h);
    let (rows, cols) = a.shell_start_wanted().expect("the pane asks for a shell");
    let id = a.next_shell_id();
    let (s, rx) = ShellSession::detached(id, rows, cols);
    a.shell_started(Ok(s));
    output(a, "\x1b[?2004h(kubetutor) $ ");
    draw_on(&mut t, a);
    (t, rx)
}

/// The shell prints `text`.
fn output(a: &mut App, text: &str) {
    let s = a.shell_session().expect("a shell runs");
    s.with_term(|t| t.process(text.as_bytes()));
    let id = s.id;
    send(a, AppEvent::Shell(ShellEvent::Output { id }));
}

/// Everything written to the shell so far.
fn written(rx: &mut Receiver<Input>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(i) = rx.try_recv() {
        if let Input::Bytes(b) = i {
            out.extend(b);
        }
    }
    out
}

#[test]
fn t_opens_and_focuses_the_pane_and_every_key_but_the_chord_goes_to_the_shell() {
    let mut a = shell_app(true);
    let (mut t, mut rx) = open(&mut a, 120, 40);
    assert_eq!(a.focus(), Pane::Shell);
    let s = screen(&t);
    assert!(
        s.contains("Shell · kubetutor-sandbox · ns kubetutor"),
        "{s}"
    );
    assert!(s.contains("(kubetutor) $"), "{s}");
    assert!(s.contains("Ctrl-] back to the lesson"), "{s}");

    // Lesson keys, Ctrl-C and Tab are the shell's now.
    for ev in [
        ch('q'),
        ch('l'),
        ch('?'),
        ctrl('c'),
        key(KeyCode::Tab),
        key(KeyCode::Up),
    ] {
        send(&mut a, ev);
    }
    assert!(!a.should_quit());
    assert!(a.overlay().is_none());
    assert_eq!(written(&mut rx), b"ql?\x03\t\x1b[A");

    // The chord leaves; the shell's output keeps flowing while unfocused.
    send(&mut a, ctrl(']'));
    assert_eq!(a.focus(), Pane::Instructions);
    assert!(written(&mut rx).is_empty());
    output(&mut a, "still here\r\n");
    draw_on(&mut t, &mut a);
    let s = screen(&t);
    assert!(
        s.contains("still here") && s.contains("t: type here"),
        "{s}"
    );
    // q is a lesson key again.
    send(&mut a, ch('q'));
    assert!(a.should_quit());
}

#[test]
fn code_blocks_are_typed_or_run_as_bracketed_pastes() {
    let mut a = shell_app(true);
    let (_t, mut rx) = open(&mut a, 120, 40);
    send(&mut a, ctrl(']'));
    // `r` with no block highlighted picks one first (as `y` does).
    send(&mut a, ch('r'));
    assert!(a.message().unwrap().contains("again"), "{:?}", a.message());
    send(&mut a, ch(']'));
    send(&mut a, ch('r'));
    let run = written(&mut rx);
    assert!(
        run.starts_with(b"\x1b[200~kubectl"),
        "{}",
        String::from_utf8_lossy(&run)
    );
    assert!(
        run.ends_with(b"\x1b[201~\r"),
        "{}",
        String::from_utf8_lossy(&run)
    );
    // Run keeps the lesson's focus while the pane is in view.
    assert_ne!(a.focus(), Pane::Shell);
    // Type: no Enter, and the shell gets the focus for it.
    send(&mut a, ch('i'));
    let typed = written(&mut rx);
    assert!(
        typed.ends_with(b"\x1b[201~"),
        "{}",
        String::from_utf8_lossy(&typed)
    );
    assert_eq!(a.focus(), Pane::Shell);
    // A YAML block is not a command.
    send(&mut a, ctrl(']'));
    send(&mut a, ch('['));
    send(&mut a, ch('r'));
    assert!(a.message().unwrap().contains("not a shell command"));
    assert!(written(&mut rx).is_empty());
}

#[test]
fn input_waits_for_the_first_prompt() {
    let mut a = shell_app(true);
    send(&mut a, ch('t'));
    let mut t = draw(&mut a, 120, 40);
    assert!(screen(&t).contains("Starting your shell"));
    // Typed before the shell exists: held.
    send(&mut a, ch('l'));
    send(&mut a, ch('s'));
    let (rows, cols) = a.shell_start_wanted().unwrap();
    let id = a.next_shell_id();
    let (s, mut rx) = ShellSession::detached(id, rows, cols);
    a.shell_started(Ok(s));
    assert!(written(&mut rx).is_empty());
    output(&mut a, "$ ");
    assert_eq!(written(&mut rx), b"ls");
    draw_on(&mut t, &mut a);
}

#[test]
fn the_shell_exit_closes_the_pane_and_the_next_open_starts_a_new_one() {
    let mut a = shell_app(true);
    let (_t, _rx) = open(&mut a, 120, 40);
    let id = a.shell_session().unwrap().id;
    send(
        &mut a,
        AppEvent::Shell(ShellEvent::Exited {
            id,
            status: "exit status 0".into(),
        }),
    );
    assert!(a.shell_session().is_none());
    assert!(!a.shell_visible());
    assert_eq!(a.focus(), Pane::Instructions);
    assert!(a.message().unwrap().contains("t starts a new one"));
    send(&mut a, ch('t'));
    let _ = draw(&mut a, 120, 40);
    assert!(a.shell_start_wanted().is_some());
}

#[test]
fn scrollback_with_the_wheel_and_shift_page_keys() {
    let mut a = shell_app(true);
    let (mut t, mut rx) = open(&mut a, 120, 40);
    let lines: String = (0..200).map(|i| format!("line {i}\r\n")).collect();
    output(&mut a, &lines);
    send(
        &mut a,
        AppEvent::Key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::SHIFT)),
    );
    draw_on(&mut t, &mut a);
    let s = screen(&t);
    assert!(s.contains("lines back"), "{s}");
    assert!(written(&mut rx).is_empty());
    // Typing comes back to the live screen.
    send(&mut a, ch('x'));
    draw_on(&mut t, &mut a);
    assert!(!screen(&t).contains("lines back"));
    assert_eq!(written(&mut rx), b"x");
    // The wheel over the pane scrolls back too.
    let r = a.view_shell_area();
    send(
        &mut a,
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: r.x + 1,
            row: r.y + 1,
            modifiers: KeyModifiers::NONE,
        }),
    );
    draw_on(&mut t, &mut a);
    assert!(screen(&t).contains("3 lines back"));
}

#[test]
fn no_shell_keeps_the_old_layout_and_says_how_to_get_one() {
    let mut a = shell_app(false);
    send(&mut a, ch('t'));
    assert!(a.shell_start_wanted().is_none());
    assert!(a.message().unwrap().contains("kubetutor shell"));
    let t = draw(&mut a, 120, 40);
    let s = screen(&t);
    assert!(!s.contains("Shell ·"), "{s}");
    assert!(!s.contains("t shell"), "{s}");
}

#[test]
fn a_start_failure_is_shown_in_the_pane_and_the_chord_leaves() {
    let mut a = shell_app(true);
    send(&mut a, ch('t'));
    let mut t = draw(&mut a, 120, 40);
    a.shell_started(Err("cannot open a pseudo-terminal: no".into()));
    draw_on(&mut t, &mut a);
    assert!(screen(&t).contains("No shell here: cannot open a pseudo-terminal"));
    send(&mut a, ch('q'));
    assert_eq!(a.focus(), Pane::Instructions);
    assert!(!a.should_quit());
}

#[test]
fn resizing_resizes_the_shell_terminal() {
    let mut a = shell_app(true);
    let (_t, mut rx) = open(&mut a, 120, 40);
    let before = a.shell_session().unwrap().with_term(|t| t.size());
    let _ = draw(&mut a, 80, 24);
    assert!(a.shell_fit());
    let after = a.shell_session().unwrap().with_term(|t| t.size());
    assert_ne!(before, after);
    assert_eq!(
        after,
        (a.view_shell_area().height, a.view_shell_area().width)
    );
    // The pty is told too.
    let mut resized = false;
    while let Ok(i) = rx.try_recv() {
        resized |= matches!(i, Input::Resize(r, c) if (r, c) == after);
    }
    assert!(resized);
    assert!(!a.shell_fit());
}

// Render snapshots of the layouts.

fn sample(a: &mut App) {
    output(
        a,
        "kubectl get pods\r\nNAME                      READY   STATUS    RESTARTS   AGE\r\nmsg-api-69476bbf4d-llspr   1/1     \x1b[32mRunning\x1b[0m   0          12s\r\n(kubetutor) $ ",
    );
}

#[test]
fn layout_wide_with_the_shell_focused_beneath_the_lesson() {
    let mut a = shell_app(true);
    let (mut t, _rx) = open(&mut a, 120, 40);
    sample(&mut a);
    draw_on(&mut t, &mut a);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn layout_medium_with_the_shell_unfocused() {
    let mut a = shell_app(true);
    let (mut t, _rx) = open(&mut a, 90, 36);
    sample(&mut a);
    send(&mut a, ctrl(']'));
    let _ = a.shell_fit();
    draw_on(&mut t, &mut a);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn layout_small_shell_takes_the_window_while_focused() {
    let mut a = shell_app(true);
    let (mut t, _rx) = open(&mut a, 80, 24);
    sample(&mut a);
    draw_on(&mut t, &mut a);
    insta::assert_snapshot!("small_focused", t.backend());
    send(&mut a, ctrl(']'));
    draw_on(&mut t, &mut a);
    let s = screen(&t);
    assert!(!s.contains("Shell ·"), "{s}");
    insta::assert_snapshot!("small_unfocused", t.backend());
    // Below the floor, the notice still holds.
    send(&mut a, ch('t'));
    let small = draw(&mut a, 39, 9);
    assert!(screen(&small).contains("terminal too small"));
}
