//! Fixture course and helpers for the TUI tests.
#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kubetutor::course::Course;
use kubetutor::lesson::Lang;
use kubetutor::lesson::parse::parse_lesson;
use kubetutor::progress::{Progress, ProgressSaver, ProgressStore};
use kubetutor::tui::{App, AppEvent, ConnectionInfo, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The fixture course, parsed from tests/fixtures/lessons/ with the real
/// lesson parser.
pub fn course() -> Course {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lessons");
    let mut lessons = Vec::new();
    for (lang, name) in [
        (Lang::En, "01-ephemeral.md"),
        (Lang::En, "02-emptydir.md"),
        (Lang::En, "03-pvc.md"),
        (Lang::Fr, "01-ephemeral.md"),
    ] {
        let path = format!("{}/{name}", lang.code());
        let text = match std::fs::read_to_string(root.join(&path)) {
            Ok(t) => t,
            Err(e) => panic!("{path}: {e}"),
        };
        match parse_lesson(&format!("lessons/{path}"), lang, &text) {
            Ok(l) => lessons.push(l),
            Err(d) => panic!("{name}: {d:?}"),
        }
    }
    Course::from_lessons(lessons)
}

/// A saver writing into a temporary directory that outlives the test.
pub fn saver() -> (ProgressSaver, ProgressStore) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d.keep(),
        Err(e) => panic!("tempdir: {e}"),
    };
    let store = ProgressStore::new(dir.join("progress.json"));
    match ProgressSaver::spawn(ProgressStore::new(dir.join("progress.json"))) {
        Ok((s, _thread)) => (s, store),
        Err(e) => panic!("saver: {e}"),
    }
}

pub fn app_with(progress: Progress, theme: Theme) -> App {
    App::new(
        course(),
        Lang::En,
        progress,
        saver().0,
        None,
        ConnectionInfo {
            context: "sandbox".into(),
            ..ConnectionInfo::default()
        },
        theme,
    )
}

pub fn app() -> App {
    app_with(Progress::default(), Theme::default())
}

pub fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> AppEvent {
    key(KeyCode::Char(c))
}

pub fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn terminal(w: u16, h: u16) -> Terminal<TestBackend> {
    match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    }
}

/// Draws the app and returns the terminal for snapshots.
pub fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = terminal(w, h);
    draw_on(&mut t, app);
    t
}

pub fn draw_on(t: &mut Terminal<TestBackend>, app: &mut App) {
    if let Err(e) = t.draw(|f| kubetutor::tui::ui::draw(f, app)) {
        panic!("draw: {e}");
    }
}

pub fn send(app: &mut App, ev: AppEvent) {
    let _ = app.update(ev);
}

pub fn screen(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}
