//! The parsed form of a lesson. Everything keeps the source position it came
//! from so that `kubetutor lint` and runtime errors can say `file:line:col`.

use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::text::{Lang, Pos};

/// What a lesson needs from the cluster, from the front matter's `requires`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Requires {
    /// A default StorageClass that provisions volumes dynamically.
    #[serde(default)]
    pub dynamic_provisioning: bool,
    /// The lesson creates hostPath volumes (meaningful on one node only).
    #[serde(default)]
    pub host_path: bool,
    /// Minimum number of nodes (default 1).
    #[serde(default)]
    pub min_nodes: Option<u32>,
}

/// The YAML front matter of a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FrontMatter {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// Expected duration in minutes.
    pub minutes: u32,
    /// Position in the course (lessons are sorted by it).
    pub order: u32,
    #[serde(default)]
    pub requires: Requires,
}

/// A block of markdown source kept verbatim for the renderer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Markdown {
    pub source: String,
    /// Where the block starts in the lesson file.
    pub pos: Pos,
}

/// The fenced `check` block of a step: declarative YAML whose language is
/// defined by the checker (`crate::check`). The parser keeps the source and
/// the parsed YAML value.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckBlock {
    pub source: String,
    /// Position of the first line of YAML (the line after the fence).
    pub pos: Pos,
    pub value: serde_json::Value,
}

/// One tier of hints; tiers are revealed one at a time, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub label: String,
    pub body: Markdown,
}

/// A step: a level-2 section `## Title {#id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub pos: Pos,
    /// The instructions, without the check block, hints and solution.
    pub body: Markdown,
    pub check: Option<CheckBlock>,
    pub hints: Vec<Hint>,
    pub solution: Option<Markdown>,
}

/// A parsed lesson file.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    pub lang: Lang,
    /// Path shown in messages, relative to the course root
    /// (e.g. `lessons/en/01-ephemeral.md`).
    pub path: String,
    pub meta: FrontMatter,
    /// The text before the first step (title, introduction).
    pub intro: Markdown,
    pub steps: Vec<Step>,
}

impl Lesson {
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// A problem found in a lesson file, reported as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.pos, self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl CheckBlock {
    /// The validated check of this block. Lessons from `parse_lesson` always
    /// parse (it rejects bad checks), so this only fails on hand-built blocks.
    /// Positions in the error are relative to the block.
    pub fn spec(&self) -> Result<crate::check::spec::CheckSpec, (Pos, String)> {
        crate::check::spec::parse_check(&self.source)
    }
}
