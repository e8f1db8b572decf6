//! Plain mode (`kubetutor --plain`): the whole course as a line-oriented
//! conversation in the current terminal, for screen readers and simple
//! terminals. No panes, no box drawing, no redraws, no colour unless asked
//! (`CLICOLOR_FORCE`): the lesson is printed as plain text, short commands
//! (in English or French) move through it, and changes from the checker
//! and the cluster are announced once, on a line of their own.
//!
//! It is another front end over the same session as the TUI: the same
//! cluster watchers, checker, progress and status file (`cli` starts both
//! the same way and passes the same `TuiConfig`).
//!
//! - `render`: lessons as plain text blocks;
//! - `commands`: what a typed line means;
//! - `tutor`: the state and what each command and event prints;
//! - `announce`: one line per change, never repeated;
//! - `cluster`: the `cluster` command's sentences;
//! - `input`, `output`: the reader and writer threads;
//! - `run`: the loop.

pub mod announce;
pub mod cluster;
pub mod commands;
pub mod input;
pub mod output;
pub mod render;
pub mod run;
pub mod tutor;
pub mod words;

pub use run::{PlainOptions, run};

/// Whether the interactive start should be plain without being asked:
/// `TERM=dumb`, or stdin or stdout not a terminal (the full-screen UI
/// cannot run there).
pub fn wanted_by_environment() -> bool {
    use std::io::IsTerminal;
    std::env::var("TERM").is_ok_and(|t| t == "dumb")
        || !std::io::stdout().is_terminal()
        || !std::io::stdin().is_terminal()
}
