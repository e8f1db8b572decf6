//! Classroom workshops: simulated learners joining a classroom server
//! (reports, messages, holds, the server going away, bad reports), a
//! hundred learners at once, provisioning a shared cluster (the sandbox
//! with RBAC), and the instructor's grid in tmux.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod grid;
mod provision;
mod scale;
mod server;
mod sim;
#[path = "../support/mod.rs"]
mod support;
