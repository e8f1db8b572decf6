//! Lessons: the data model, the markdown parser and how a lesson adapts
//! to the cluster (the course-wide linter is `course::lint`).
//!
//! A lesson is one markdown file with YAML front matter; level-2 headings
//! with an `{#id}` attribute are its steps. See `docs/lesson-format.md`.

pub mod adapt;
pub mod model;
pub mod parse;
pub mod vars;

pub use model::*;
pub use parse::{markdown_options, parse_lesson};
