//! Whole-screen snapshots of the TUI (TestBackend + insta).

use crate::common;

use common::*;
use kubetutor::progress::{Progress, StepState};
use kubetutor::tui::{AppEvent, Theme};

#[test]
fn lesson_80x24() {
    let mut app = app();
    let t = draw(&mut app, 80, 24);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn lesson_120x40() {
    let mut app = app();
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn help_overlay() {
    let mut app = app();
    send(&mut app, ch('?'));
    let t = draw(&mut app, 100, 30);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn lesson_list() {
    let mut progress = Progress::default();
    progress.mark_done("emptydir", "shared");
    let mut app = app_with(progress, Theme::default());
    send(&mut app, ch('l'));
    send(&mut app, key(crossterm::event::KeyCode::Down));
    let t = draw(&mut app, 100, 30);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn solution_confirmation() {
    let mut app = app();
    send(&mut app, ch('s'));
    let t = draw(&mut app, 100, 30);
    insta::assert_snapshot!(t.backend());
}

fn check(lesson: &str, step: &str, state: StepState, reason: Option<&str>) -> AppEvent {
    AppEvent::Check {
        lesson: lesson.into(),
        step: step.into(),
        state,
        reason: reason.map(str::to_owned),
        hint: None,
    }
}

#[test]
fn done_and_failing_steps() {
    let mut app = app();
    send(
        &mut app,
        check("ephemeral", "create-pod", StepState::Done, None),
    );
    send(
        &mut app,
        check(
            "ephemeral",
            "write-file",
            StepState::Failing,
            Some("pod web has no file /usr/share/nginx/html/hello.txt"),
        ),
    );
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!(t.backend());
}

/// The active step shows what is missing in full and its live hint on lines
/// of its own (not cut to one line).
#[test]
fn live_hint_and_reason_in_full() {
    let mut app = app();
    send(
        &mut app,
        AppEvent::Check {
            lesson: "ephemeral".into(),
            step: "create-pod".into(),
            state: StepState::Active,
            reason: Some(
                "pod msg-api-598b9dd455-rfqvw: the log of api does not contain \"API_DB_FILEPATH is set\""
                    .into(),
            ),
            hint: Some(
                "The ConfigMap is right, but the pod started before you changed it. Restart the rollout."
                    .into(),
            ),
        },
    );
    let t = draw(&mut app, 120, 40);
    let s = screen(&t);
    assert!(s.contains("rollout."), "{s}");
    assert!(s.contains("Hint: The ConfigMap is right"), "{s}");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn hints_and_solution_revealed() {
    let mut app = app();
    let _ = draw(&mut app, 120, 40);
    send(&mut app, ch('h'));
    send(&mut app, ch('h'));
    send(&mut app, ch('s'));
    send(&mut app, ch('y'));
    let t = draw(&mut app, 120, 40);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn no_color() {
    let mut app = app_with(Progress::default(), Theme::no_color());
    send(
        &mut app,
        check("ephemeral", "create-pod", StepState::Done, None),
    );
    send(
        &mut app,
        check(
            "ephemeral",
            "write-file",
            StepState::Failing,
            Some("no file"),
        ),
    );
    send(&mut app, ch(']'));
    let t = draw(&mut app, 120, 40);
    for cell in t.backend().buffer().content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    insta::assert_snapshot!(t.backend());
}

#[test]
fn colors_are_ansi_16_without_backgrounds() {
    let mut app = app();
    send(&mut app, ch(']'));
    let t = draw(&mut app, 120, 40);
    for cell in t.backend().buffer().content() {
        assert!(!matches!(
            cell.fg,
            ratatui::style::Color::Rgb(..) | ratatui::style::Color::Indexed(_)
        ));
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
}

#[test]
fn terminal_too_small() {
    let mut app = app();
    let t = draw(&mut app, 20, 6);
    insta::assert_snapshot!(t.backend());
}

/// Every size under the usable minimum (40x10) shows the notice (where it
/// fits) and nothing else, down to 1x1; the minimum itself draws the UI.
#[test]
fn every_size_below_the_minimum_shows_the_notice() {
    let mut app = app();
    for w in 1..=45u16 {
        for h in 1..=12u16 {
            let t = draw(&mut app, w, h);
            let s = screen(&t);
            let small = w < 40 || h < 10;
            if small && w >= 18 && h >= 1 {
                assert!(s.contains("terminal too"), "{w}x{h}:\n{s}");
            }
            if !small {
                assert!(!s.contains("too small"), "{w}x{h}:\n{s}");
                assert!(s.contains("Ephemeral"), "{w}x{h}:\n{s}");
            }
        }
    }
}

#[test]
fn any_size_never_panics() {
    let mut app = app();
    send(&mut app, ch('h'));
    for (w, h) in [
        (0, 0),
        (1, 1),
        (19, 5),
        (20, 6),
        (21, 7),
        (39, 10),
        (40, 9),
        (40, 10),
        (59, 15),
        (60, 16),
        (99, 30),
        (100, 12),
        (300, 100),
    ] {
        let _ = draw(&mut app, w, h);
        for ev in [
            ch('?'),
            ch('l'),
            ch('j'),
            key(crossterm::event::KeyCode::Esc),
            ch('s'),
            ch('n'),
            ch(']'),
            ch('G'),
            ch('\t'),
        ] {
            send(&mut app, ev);
            let _ = draw(&mut app, w, h);
        }
    }
}

#[test]
fn narrow_single_pane_switches_with_tab() {
    let mut app = app();
    let t = draw(&mut app, 50, 14);
    assert!(screen(&t).contains("Ephemeral storage"));
    send(&mut app, key(crossterm::event::KeyCode::Tab));
    let t = draw(&mut app, 50, 14);
    assert!(screen(&t).contains("Steps 0/3"), "{}", screen(&t));
}

#[test]
fn french_lesson_80x24() {
    let mut app = kubetutor::tui::App::new(
        course(),
        kubetutor::lesson::Lang::Fr,
        Progress::default(),
        saver().0,
        None,
        Default::default(),
        Theme::default(),
    );
    send(&mut app, ch('h'));
    let t = draw(&mut app, 80, 24);
    insta::assert_snapshot!(t.backend());
}

/// Every lesson of the real course renders at every size, with every hint
/// and solution revealed, and the text never overflows the pane.
#[test]
fn real_course_renders_everywhere() {
    use crossterm::event::KeyCode;
    use kubetutor::course::Course;
    let course = Course::embedded().unwrap_or_else(|d| panic!("{d:?}"));
    for lang in kubetutor::lesson::Lang::ALL {
        for lesson in course.lessons(lang) {
            let mut app = kubetutor::tui::App::new(
                course.clone(),
                lang,
                Progress::default(),
                saver().0,
                Some(lesson.id()),
                Default::default(),
                Theme::default(),
            );
            for (w, h) in [(80, 24), (120, 40), (40, 12), (300, 100)] {
                let _ = draw(&mut app, w, h);
            }
            // Reveal everything, step by step.
            for (i, step) in lesson.steps.iter().enumerate() {
                for _ in 0..=step.hints.len() {
                    send(&mut app, ch('h'));
                }
                send(&mut app, ch('s'));
                send(&mut app, ch('y'));
                send(
                    &mut app,
                    AppEvent::Check {
                        lesson: lesson.id().into(),
                        step: step.id.clone(),
                        state: if i % 2 == 0 {
                            StepState::Done
                        } else {
                            StepState::Failing
                        },
                        reason: Some("a reason".into()),
                        hint: Some("a live hint".into()),
                    },
                );
                send(&mut app, check_done(lesson.id(), &step.id));
            }
            for (w, h) in [(80, 24), (120, 40), (40, 12), (20, 6)] {
                let mut t = terminal(w, h);
                draw_on(&mut t, &mut app);
                for _ in 0..200 {
                    send(&mut app, key(KeyCode::PageDown));
                    send(&mut app, ch(']'));
                    draw_on(&mut t, &mut app);
                }
            }
            assert!(
                lesson
                    .steps
                    .iter()
                    .all(|s| app.progress().is_done(lesson.id(), &s.id))
            );
        }
    }
}

fn check_done(lesson: &str, step: &str) -> AppEvent {
    AppEvent::Check {
        lesson: lesson.into(),
        step: step.into(),
        state: StepState::Done,
        reason: None,
        hint: None,
    }
}

#[test]
fn quiz_dialog() {
    let mut app = app();
    send(&mut app, ch('n'));
    send(
        &mut app,
        AppEvent::Check {
            lesson: "emptydir".into(),
            step: "shared".into(),
            state: StepState::Done,
            reason: None,
            hint: None,
        },
    );
    send(&mut app, ch('a'));
    send(&mut app, key(crossterm::event::KeyCode::Down));
    send(&mut app, ch(' '));
    let t = draw(&mut app, 100, 30);
    insta::assert_snapshot!(t.backend());
}
