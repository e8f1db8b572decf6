//! Learner progress, stored crash-safely.
//!
//! Minimal version written on the `tui` branch so the TUI can code against
//! the interface the lead specified; the lead's version replaces it.

use crate::lesson::Lang;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The state of one step, as the checker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    #[default]
    Pending,
    Active,
    Done,
    Failing,
}

/// Where the learner was, so that the next start reopens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Current {
    pub lesson: String,
    pub step: Option<String>,
    pub scroll: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LessonProgress {
    #[serde(default)]
    pub done: BTreeMap<String, jiff::Timestamp>,
    /// Number of hint tiers revealed, per step.
    #[serde(default)]
    pub hints: BTreeMap<String, u32>,
    /// Steps whose solution was revealed.
    #[serde(default)]
    pub solutions: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Progress {
    #[serde(default)]
    pub lang: Option<Lang>,
    #[serde(default)]
    pub current: Option<Current>,
    #[serde(default)]
    pub lessons: BTreeMap<String, LessonProgress>,
}

impl Progress {
    pub fn is_done(&self, lesson: &str, step: &str) -> bool {
        self.lessons
            .get(lesson)
            .is_some_and(|l| l.done.contains_key(step))
    }

    pub fn mark_done(&mut self, lesson: &str, step: &str) {
        self.lessons
            .entry(lesson.to_owned())
            .or_default()
            .done
            .entry(step.to_owned())
            .or_insert_with(jiff::Timestamp::now);
    }

    /// Reveals one more hint tier; returns how many are now revealed.
    pub fn reveal_hint(&mut self, lesson: &str, step: &str) -> u32 {
        let n = self
            .lessons
            .entry(lesson.to_owned())
            .or_default()
            .hints
            .entry(step.to_owned())
            .or_insert(0);
        *n += 1;
        *n
    }

    pub fn hints_revealed(&self, lesson: &str, step: &str) -> u32 {
        self.lessons
            .get(lesson)
            .and_then(|l| l.hints.get(step).copied())
            .unwrap_or(0)
    }

    pub fn reveal_solution(&mut self, lesson: &str, step: &str) {
        self.lessons
            .entry(lesson.to_owned())
            .or_default()
            .solutions
            .insert(step.to_owned());
    }

    pub fn solution_revealed(&self, lesson: &str, step: &str) -> bool {
        self.lessons
            .get(lesson)
            .is_some_and(|l| l.solutions.contains(step))
    }
}

/// Hands progress to a writer thread so the UI never waits on the disk.
#[derive(Debug, Clone, Default)]
pub struct ProgressSaver {
    tx: Option<std::sync::mpsc::Sender<Progress>>,
}

impl ProgressSaver {
    /// A saver that writes `path` atomically (temp file + rename) on its
    /// own thread.
    pub fn new(path: PathBuf) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Progress>();
        std::thread::spawn(move || {
            while let Ok(mut p) = rx.recv() {
                // Only the newest state matters.
                while let Ok(newer) = rx.try_recv() {
                    p = newer;
                }
                if let Err(e) = write_atomic(&path, &p) {
                    tracing::warn!("could not save progress to {}: {e}", path.display());
                }
            }
        });
        Self { tx: Some(tx) }
    }

    /// A saver that drops everything (tests, `--no-save`).
    pub fn disabled() -> Self {
        Self { tx: None }
    }

    pub fn save(&self, p: &Progress) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(p.clone());
        }
    }
}

fn write_atomic(path: &std::path::Path, p: &Progress) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(tmp, path)
}
