//! The step checker: the check language (`spec`), its pure evaluation
//! against the cluster snapshot (`eval`), and the engine that follows the
//! active step, asks for logs and probes, and reports `CheckUpdate`s
//! (`engine`).

pub mod engine;
pub mod eval;
pub mod spec;
