//! Key, mouse and checker events driven through `App::update`.

use crate::common;

use common::*;
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use kubetutor::progress::{Current, Progress, StepState};
use kubetutor::tui::app::{Overlay, Pane};
use kubetutor::tui::{AppEvent, ClusterEvent, ClusterView, Redraw, Theme};

fn check(lesson: &str, step: &str, state: StepState) -> AppEvent {
    AppEvent::Check {
        lesson: lesson.into(),
        step: step.into(),
        state,
        reason: None,
        hint: None,
    }
}

#[test]
fn scrolling_keys_move_the_instructions() {
    let mut a = app();
    let _ = draw(&mut a, 80, 24);
    assert_eq!(a.scroll(), 0);
    send(&mut a, ch('j'));
    send(&mut a, key(KeyCode::Down));
    assert_eq!(a.scroll(), 2);
    send(&mut a, ch('k'));
    assert_eq!(a.scroll(), 1);
    send(&mut a, key(KeyCode::PageDown));
    assert!(a.scroll() > 10);
    send(&mut a, key(KeyCode::End));
    let end = a.scroll();
    assert_eq!(
        a.update(key(KeyCode::Down)),
        Redraw::No,
        "already at the end"
    );
    assert_eq!(a.scroll(), end);
    send(&mut a, key(KeyCode::Home));
    assert_eq!(a.scroll(), 0);
    assert_eq!(a.update(key(KeyCode::Up)), Redraw::No);
}

#[test]
fn tab_moves_focus_both_ways() {
    let mut a = app();
    assert_eq!(a.focus(), Pane::Instructions);
    send(&mut a, key(KeyCode::Tab));
    assert_eq!(a.focus(), Pane::Steps);
    send(&mut a, key(KeyCode::Tab));
    assert_eq!(a.focus(), Pane::Cluster);
    send(&mut a, key(KeyCode::Tab));
    assert_eq!(a.focus(), Pane::Instructions);
    send(&mut a, key(KeyCode::BackTab));
    assert_eq!(a.focus(), Pane::Cluster);
}

#[test]
fn steps_pane_selects_and_enter_shows_the_step() {
    let mut a = app();
    let _ = draw(&mut a, 80, 24);
    send(&mut a, key(KeyCode::Tab));
    send(&mut a, ch('j'));
    send(&mut a, ch('j'));
    send(&mut a, ch('j'));
    assert_eq!(a.selected_step(), 2, "the selection stops at the last step");
    send(&mut a, ch('k'));
    send(&mut a, key(KeyCode::Enter));
    let t = draw(&mut a, 80, 24);
    let first_line = screen(&t).lines().nth(1).unwrap_or_default().to_owned();
    assert!(first_line.contains("Step 2/3"), "{first_line}");
}

#[test]
fn hints_are_revealed_one_tier_at_a_time() {
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    send(&mut a, ch('h'));
    assert_eq!(a.progress().hints_revealed("ephemeral", "create-pod"), 1);
    send(&mut a, ch('h'));
    assert_eq!(a.progress().hints_revealed("ephemeral", "create-pod"), 2);
    send(&mut a, ch('h'));
    assert_eq!(a.progress().hints_revealed("ephemeral", "create-pod"), 2);
    assert!(a.message().is_some_and(|m| m.contains("No more hints")));
    let t = draw(&mut a, 120, 40);
    assert!(screen(&t).contains("Hint 2/2: The flag"));
}

#[test]
fn solution_needs_confirmation() {
    let mut a = app();
    send(&mut a, ch('s'));
    assert_eq!(a.overlay(), Some(&Overlay::ConfirmSolution { step: 0 }));
    send(&mut a, ch('x'));
    assert!(a.overlay().is_some(), "other keys keep the dialog");
    send(&mut a, ch('n'));
    assert_eq!(a.overlay(), None);
    assert!(!a.progress().solution_revealed("ephemeral", "create-pod"));
    send(&mut a, ch('s'));
    send(&mut a, key(KeyCode::Esc));
    assert_eq!(a.overlay(), None);
    assert!(!a.should_quit(), "Esc closes the dialog first");
    send(&mut a, ch('s'));
    send(&mut a, ch('y'));
    assert!(a.progress().solution_revealed("ephemeral", "create-pod"));
    assert_eq!(
        a.take_copy_request(),
        None,
        "the y confirmed, it did not copy"
    );
}

#[test]
fn code_blocks_are_focused_and_copied() {
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    assert_eq!(a.code_focus(), None);
    // The first y only picks a block.
    send(&mut a, ch('y'));
    assert_eq!(a.code_focus(), Some(0));
    assert_eq!(a.take_copy_request(), None);
    send(&mut a, ch('y'));
    let copied = a.take_copy_request().unwrap_or_default();
    assert!(copied.starts_with("apiVersion: v1\nkind: Pod"), "{copied}");
    send(&mut a, ch(']'));
    assert_eq!(a.code_focus(), Some(1));
    send(&mut a, ch('y'));
    assert_eq!(
        a.take_copy_request().as_deref(),
        Some("kubectl apply -f pod.yaml")
    );
    send(&mut a, ch('['));
    assert_eq!(a.code_focus(), Some(0));
    send(&mut a, ch('['));
    assert_eq!(a.code_focus(), Some(0));
    // Moving to a block further down scrolls it into view.
    for _ in 0..2 {
        send(&mut a, ch(']'));
    }
    assert!(a.scroll() > 0);
    let t = draw(&mut a, 120, 40);
    assert!(screen(&t).contains("┏━ sh · y: copy"), "{}", screen(&t));
}

#[test]
fn lesson_list_opens_a_lesson() {
    let mut a = app();
    send(&mut a, ch('l'));
    assert_eq!(a.overlay(), Some(&Overlay::Lessons { selected: 0 }));
    send(&mut a, key(KeyCode::Down));
    send(&mut a, key(KeyCode::Enter));
    assert_eq!(a.overlay(), None);
    assert_eq!(a.lesson_index(), 1);
    assert_eq!(
        a.progress().current.as_ref().map(|c| c.lesson.as_str()),
        Some("emptydir")
    );
}

#[test]
fn next_and_previous_lesson() {
    let mut a = app();
    send(&mut a, ch('p'));
    assert_eq!(a.lesson_index(), 0);
    assert!(a.message().is_some());
    send(&mut a, ch('n'));
    send(&mut a, ch('n'));
    assert_eq!(a.lesson_index(), 2);
    send(&mut a, ch('n'));
    assert_eq!(a.lesson_index(), 2);
    send(&mut a, ch('p'));
    assert_eq!(a.lesson_index(), 1);
}

#[test]
fn help_toggles_and_esc_only_closes_overlays() {
    let mut a = app();
    send(&mut a, ch('?'));
    assert_eq!(a.overlay(), Some(&Overlay::Help));
    send(&mut a, ch('?'));
    assert_eq!(a.overlay(), None);
    send(&mut a, ch('?'));
    send(&mut a, key(KeyCode::Esc));
    assert_eq!(a.overlay(), None);
    assert!(!a.should_quit());
    // A second Esc (one too many) does not end the course: it says how to.
    send(&mut a, key(KeyCode::Esc));
    assert!(!a.should_quit());
    assert_eq!(a.message(), Some("Esc closes dialogs; q quits."));
    send(&mut a, ch('q'));
    assert!(a.should_quit());
}

#[test]
fn notices_are_shown_one_after_the_other_and_any_key_closes_them() {
    let mut a = app();
    a.notify("first");
    a.notify("second");
    assert_eq!(
        a.overlay(),
        Some(&Overlay::Notice {
            text: "first".into()
        })
    );
    let t = draw(&mut a, 80, 24);
    assert!(screen(&t).contains("first"));
    send(&mut a, ch('j'));
    assert_eq!(
        a.overlay(),
        Some(&Overlay::Notice {
            text: "second".into()
        })
    );
    send(&mut a, key(KeyCode::Enter));
    assert_eq!(a.overlay(), None);
    assert!(!a.should_quit());
}

#[test]
fn the_lab_directory_is_named_at_the_top_and_in_the_help() {
    let mut a = app();
    a.set_lab_dir(std::path::Path::new("/srv/my lab"));
    let t = draw(&mut a, 100, 30);
    let s = screen(&t);
    assert!(
        s.contains("Run the lessons' commands from your lab directory"),
        "{s}"
    );
    assert!(s.contains("cd '/srv/my lab'"), "{s}");
    send(&mut a, ch('?'));
    let t = draw(&mut a, 100, 30);
    assert!(screen(&t).contains("Lab directory: cd /srv/my lab"));
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut a = app();
    send(&mut a, ch('q'));
    assert!(a.should_quit());
    let mut a = app();
    send(&mut a, ch('l'));
    send(&mut a, ctrl('c'));
    assert!(a.should_quit(), "Ctrl-C quits even with a dialog open");
    let mut a = app();
    send(&mut a, AppEvent::Quit);
    assert!(a.should_quit(), "signals quit");
}

#[test]
fn key_releases_are_ignored() {
    use crossterm::event::{Event, KeyEvent, KeyEventKind, KeyEventState};
    let release = Event::Key(KeyEvent {
        code: KeyCode::Char('q'),
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Release,
        state: KeyEventState::NONE,
    });
    assert!(AppEvent::from_terminal(release).is_none());
}

#[test]
fn checks_tick_steps_off_without_moving_the_text() {
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    send(&mut a, key(KeyCode::PageDown));
    let scroll = a.scroll();
    assert_eq!(
        a.update(check("ephemeral", "create-pod", StepState::Done)),
        Redraw::Yes
    );
    assert!(a.progress().is_done("ephemeral", "create-pod"));
    let _ = draw(&mut a, 120, 40);
    assert_eq!(a.scroll(), scroll);
    assert_eq!(
        a.selected_step(),
        1,
        "the selection follows the active step"
    );
    assert_eq!(
        a.progress()
            .current
            .as_ref()
            .and_then(|c| c.step.as_deref()),
        Some("write-file")
    );
    // The same verdict again changes nothing.
    assert_eq!(
        a.update(check("ephemeral", "write-file", StepState::Pending)),
        Redraw::Yes
    );
    assert_eq!(
        a.update(check("ephemeral", "write-file", StepState::Pending)),
        Redraw::No
    );
    // Unknown lessons and steps are ignored.
    assert_eq!(a.update(check("nope", "x", StepState::Done)), Redraw::No);
    assert_eq!(
        a.update(check("ephemeral", "x", StepState::Done)),
        Redraw::No
    );
    // Finishing the lesson does not move to the next one by itself.
    send(&mut a, check("ephemeral", "write-file", StepState::Done));
    send(&mut a, check("ephemeral", "delete-pod", StepState::Done));
    assert_eq!(a.lesson_index(), 0);
    assert!(a.message().is_some_and(|m| m.contains("Lesson complete")));
    send(&mut a, ch('j'));
    let t = draw(&mut a, 120, 40);
    assert!(
        screen(&t).contains("Lesson complete: n for the next one."),
        "{}",
        screen(&t)
    );
}

#[test]
fn checks_for_other_lessons_are_recorded() {
    let mut a = app();
    send(&mut a, check("pvc", "claim", StepState::Done));
    assert!(a.progress().is_done("pvc", "claim"));
    assert_eq!(a.lesson_index(), 0);
}

#[test]
fn resumes_lesson_step_and_scroll() {
    let progress = Progress {
        current: Some(Current {
            lesson: "emptydir".into(),
            step: Some("shared".into()),
            scroll: 3,
        }),
        ..Progress::default()
    };
    let a = app_with(progress.clone(), Theme::default());
    assert_eq!(a.lesson_index(), 1);
    assert_eq!(a.scroll(), 3);

    // Quitting records where the learner is.
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    send(&mut a, ch('j'));
    send(&mut a, ch('j'));
    send(&mut a, ch('q'));
    let cur = a.progress().current.clone();
    let cur = cur
        .as_ref()
        .map(|c| (c.lesson.as_str(), c.step.as_deref(), c.scroll));
    assert_eq!(cur, Some(("ephemeral", Some("create-pod"), 2)));

    // A start lesson wins over the saved one.
    let a = kubetutor::tui::App::new(
        course(),
        kubetutor::lesson::Lang::En,
        progress,
        saver().0,
        Some("pvc"),
        Default::default(),
        Theme::default(),
    );
    assert_eq!((a.lesson_index(), a.scroll()), (2, 0));
}

#[test]
fn mouse_wheel_scrolls_and_click_focuses() {
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    let ev = |kind, column, row| {
        AppEvent::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    send(&mut a, ev(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(a.scroll(), 3);
    // Click in the steps pane (right, bottom) on the second step.
    let t = draw(&mut a, 120, 40);
    let row = screen(&t)
        .lines()
        .position(|l| l.contains("○ 2. Write a file"))
        .unwrap_or(0);
    send(
        &mut a,
        ev(
            MouseEventKind::Down(MouseButton::Left),
            90,
            u16::try_from(row).unwrap_or(0),
        ),
    );
    assert_eq!(a.focus(), Pane::Steps);
    assert_eq!(a.selected_step(), 1);
    // Click on a code block line in the instructions.
    let row = screen(&t)
        .lines()
        .position(|l| l.contains("kind: Pod"))
        .unwrap_or(0);
    send(
        &mut a,
        ev(
            MouseEventKind::Down(MouseButton::Left),
            10,
            u16::try_from(row).unwrap_or(0),
        ),
    );
    assert_eq!(a.focus(), Pane::Instructions);
    assert_eq!(a.code_focus(), Some(0));
}

#[test]
fn tick_only_while_a_clock_is_shown() {
    let mut a = app();
    assert!(!a.wants_tick());
    assert_eq!(a.update(AppEvent::Tick), Redraw::No);
    send(
        &mut a,
        AppEvent::Cluster(ClusterEvent::View(ClusterView {
            lines: vec!["pod/web Running".into()],
        })),
    );
    let t = draw(&mut a, 120, 40);
    assert!(a.wants_tick());
    assert_eq!(a.update(AppEvent::Tick), Redraw::Yes);
    assert!(screen(&t).contains("pod/web Running"));
    assert!(screen(&t).contains("updated"));
    // Hidden cluster pane (one pane at a time): no clock on screen.
    let _ = draw(&mut a, 50, 14);
    assert!(!a.wants_tick());
}

#[test]
fn progress_reaches_the_disk_and_resumes() {
    use kubetutor::progress::ProgressSaver;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = || kubetutor::progress::ProgressStore::new(dir.path().join("progress.json"));
    let (saver, thread) = ProgressSaver::spawn(store()).unwrap_or_else(|e| panic!("{e}"));
    let mut a = kubetutor::tui::App::new(
        course(),
        kubetutor::lesson::Lang::En,
        Progress::default(),
        saver,
        None,
        Default::default(),
        Theme::default(),
    );
    let _ = draw(&mut a, 80, 24);
    send(&mut a, check("ephemeral", "create-pod", StepState::Done));
    send(&mut a, ch('h'));
    send(&mut a, key(KeyCode::Home));
    for _ in 0..5 {
        send(&mut a, ch('j'));
    }
    send(&mut a, ch('q'));
    drop(a);
    thread.finish();

    let loaded = store().load();
    let a = app_with(loaded.progress, Theme::default());
    assert!(a.progress().is_done("ephemeral", "create-pod"));
    assert_eq!(a.progress().hints_revealed("ephemeral", "write-file"), 1);
    assert_eq!(a.scroll(), 5);
    assert_eq!(a.selected_step(), 1);
}

#[test]
fn quizzes_are_answered_in_a_dialog() {
    let mut a = app();
    send(&mut a, ch('a'));
    assert_eq!(a.overlay(), None);
    assert!(a.message().is_some_and(|m| m.contains("not a question")));

    send(&mut a, ch('n'));
    send(&mut a, check("emptydir", "shared", StepState::Done));
    send(&mut a, ch('a'));
    assert!(matches!(a.overlay(), Some(Overlay::Quiz { step: 1, .. })));
    // A wrong answer keeps the dialog open and says so.
    send(&mut a, ch('a'));
    send(&mut a, key(KeyCode::Enter));
    assert!(matches!(
        a.overlay(),
        Some(Overlay::Quiz { wrong: true, .. })
    ));
    assert!(!a.progress().is_done("emptydir", "why"));
    let t = draw(&mut a, 100, 30);
    assert!(screen(&t).contains("Not quite"), "{}", screen(&t));
    // Single-answer quizzes: picking b replaces a.
    send(&mut a, ch('b'));
    send(&mut a, key(KeyCode::Enter));
    assert_eq!(a.overlay(), None);
    assert!(a.progress().is_done("emptydir", "why"));
    // Once answered, the page shows the right answer and the explanation.
    let t = draw(&mut a, 100, 30);
    assert!(screen(&t).contains("An emptyDir lives exactly as long as its pod."));
}

#[test]
fn resizing_keeps_the_same_text_in_view() {
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    send(&mut a, ch('G'));
    let t = draw(&mut a, 120, 40);
    let before = screen(&t);
    assert!(before.contains("Step 3/3"));
    let _ = draw(&mut a, 100, 40);
    let t = draw(&mut a, 120, 40);
    assert!(screen(&t).contains("Step 3/3"));
    // Narrower then wider again: the same line at the top.
    let _ = draw(&mut a, 120, 20);
    send(&mut a, ch('g'));
    for _ in 0..20 {
        send(&mut a, ch('j'));
    }
    let t = draw(&mut a, 120, 20);
    assert_eq!(a.scroll(), 20);
    let top = screen(&t).lines().nth(1).unwrap_or_default().to_owned();
    let t = draw(&mut a, 60, 20);
    let narrow_top = screen(&t).lines().nth(1).unwrap_or_default().to_owned();
    let t = draw(&mut a, 120, 20);
    assert_eq!(a.scroll(), 20);
    assert_eq!(screen(&t).lines().nth(1).unwrap_or_default(), top);
    let words = |s: &str| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert_eq!(words(&narrow_top), words(&top), "{narrow_top} / {top}");
}

#[test]
fn esc_then_key_read_as_alt_closes_the_dialog_first() {
    let mut a = app();
    let _ = draw(&mut a, 120, 40);
    send(&mut a, ch('l'));
    send(
        &mut a,
        AppEvent::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('h'),
            KeyModifiers::ALT,
        )),
    );
    assert_eq!(a.overlay(), None);
    assert_eq!(a.progress().hints_revealed("ephemeral", "create-pod"), 1);
    // Without a dialog, Alt+key is just the key (never a quit).
    send(
        &mut a,
        AppEvent::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('j'),
            KeyModifiers::ALT,
        )),
    );
    assert!(!a.should_quit());
}

#[test]
fn live_hints_show_under_the_step() {
    let mut a = app();
    send(
        &mut a,
        AppEvent::Check {
            lesson: "ephemeral".into(),
            step: "create-pod".into(),
            state: StepState::Active,
            reason: Some("pod web exists but is not Running yet".into()),
            hint: None,
        },
    );
    let t = draw(&mut a, 120, 40);
    assert!(screen(&t).contains("pod web exists but is not Running yet"));
    send(&mut a, check("ephemeral", "create-pod", StepState::Done));
    let t = draw(&mut a, 120, 40);
    assert!(!screen(&t).contains("not Running yet"));
}

#[test]
fn clicking_a_lesson_in_the_list_opens_it() {
    let mut a = app();
    send(&mut a, ch('l'));
    let t = draw(&mut a, 120, 40);
    let row = screen(&t)
        .lines()
        .position(|l| l.contains("3. Claims that outlive pods"))
        .unwrap_or(0);
    send(
        &mut a,
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 60,
            row: u16::try_from(row).unwrap_or(0),
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(a.overlay(), None);
    assert_eq!(a.lesson_index(), 2);
}

#[test]
fn small_terminals_show_one_pane_and_say_tab() {
    let mut a = app();
    let t = draw(&mut a, 50, 14);
    assert!(screen(&t).contains("Tab pane"), "{}", screen(&t));
}

#[test]
fn q_quits_from_dialogs_but_not_from_a_quiz() {
    for open in ['?', 'l', 's'] {
        let mut a = app();
        send(&mut a, ch(open));
        assert!(a.overlay().is_some());
        send(&mut a, ch('q'));
        assert!(a.should_quit(), "q in the {open} dialog");
    }
    let mut a = app();
    send(&mut a, ch('n'));
    send(&mut a, check("emptydir", "shared", StepState::Done));
    send(&mut a, ch('a'));
    send(&mut a, ch('q'));
    assert!(!a.should_quit());
    assert!(a.overlay().is_some());
}
