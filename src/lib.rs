//! kubetutor: an interactive terminal tutorial that teaches Kubernetes storage.
//!
//! See `docs/architecture.md` for a map of the modules and how data flows
//! between them.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod check;
pub mod classroom;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod course;
pub mod lab;
pub mod lesson;
pub mod live_status;
pub mod logging;
pub mod paths;
pub mod plain;
pub mod progress;
pub mod prompt;
pub mod shell;
pub mod solution;
pub mod standing;
pub mod term;
pub mod term_text;
pub mod text;
pub mod tui;
