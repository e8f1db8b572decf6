//! The step checker: the check language (`spec`), its pure evaluation
//! against the cluster snapshot (`eval`), and the engine that follows the
//! active step, asks for logs and probes, and reports `CheckUpdate`s
//! (`engine`).
//!
//! How the app drives it (see `engine::spawn_checker`):
//!
//! - every `cluster::ClusterUpdate` from the watchers → `CheckerHandle::cluster`;
//! - the learner reaches a step that is not done yet →
//!   `CheckerHandle::activate(lesson, step, spec)` (the spec from
//!   `lesson::CheckBlock::spec`); leaving the course → `deactivate`;
//! - a quiz answer → `CheckerHandle::answer(step, choices)`;
//! - the course language → `CheckerHandle::lang` (the engine's own
//!   sentences, `words`, follow it);
//! - out come `engine::CheckUpdate { lesson, step, state, reason, hint }`,
//!   only when one of them changes. A step reported `Done` stays done.
//!
//! The engine is also usable synchronously (`engine::Engine`), with the
//! caller running the fetches it asks for.

pub mod engine;
pub mod eval;
pub mod spec;
pub mod words;

/// The header on every HTTP probe of the checker. The course's demo apps
/// (the scripts and their sandbox emulations) leave these requests out of
/// their logs: polled once a second, they would drown the learner's own.
pub use sandbox::PROBE_HEADER;

pub use engine::{CheckUpdate, CheckerHandle, Engine, spawn_checker};
