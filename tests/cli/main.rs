//! The command line: every command's output, cleanup, the shipped course, and error messages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod cleanup;
mod commands;
mod course;
mod errors;
mod shell;
#[path = "../support/mod.rs"]
mod support;
