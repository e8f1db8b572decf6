//! The step checker (declarative conditions, probes, quizzes and sequences).
//! Filled by the checker issue; the TUI already receives its results as
//! `tui::event::AppEvent::Check`.

pub mod spec;
