//! The terminal UI: render snapshots, keys, the cluster pane, terminal restoration, and tmux as a learner sees it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod cluster_pane;
mod common;
mod keys;
mod render;
mod shell;
#[path = "../support/mod.rs"]
mod support;
mod terminal;
mod tmux;
