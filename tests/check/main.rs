//! The checker: its engine over cluster events, lesson 1's checks, scale, and the checker task.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod engine;
mod lesson01;
mod scale;
mod task;
