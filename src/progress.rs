//! Learner progress, stored crash-safely.
//!
//! One small JSON file per data directory. Writes go through
//! [`ProgressSaver`], a writer thread, so the UI task never waits on the disk;
//! each write is atomic (see [`crate::paths::write_atomic`]), so a crash or a
//! `kill -9` leaves the previous or the new file, never a torn one. A file that
//! cannot be read is moved aside with a warning and the learner starts fresh:
//! losing progress is bad, refusing to start is worse.

use crate::text::Lang;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

/// Format version written into the file.
pub const FORMAT_VERSION: u32 = 1;

/// The state of one step as the learner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    Pending,
    Active,
    Done,
    Failing,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Active => "active",
            StepState::Done => "done",
            StepState::Failing => "failing",
        }
    }
}

/// Where the learner is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub lesson: String,
    #[serde(default)]
    pub step: Option<String>,
    /// Scroll offset of the instructions pane, so resuming shows the same text.
    #[serde(default)]
    pub scroll: u16,
}

/// Progress in one lesson.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LessonProgress {
    /// Completed steps and when they were completed.
    #[serde(default)]
    pub done: BTreeMap<String, jiff::Timestamp>,
    /// Number of hint tiers revealed per step.
    #[serde(default)]
    pub hints: BTreeMap<String, u32>,
    /// Steps whose solution was revealed.
    #[serde(default)]
    pub solutions: BTreeSet<String>,
}

impl LessonProgress {
    fn is_empty(&self) -> bool {
        self.done.is_empty() && self.hints.is_empty() && self.solutions.is_empty()
    }
}

/// Everything kubetutor remembers about a learner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    #[serde(default = "format_version")]
    pub version: u32,
    /// Language chosen the last time (`--lang` or the lesson list).
    #[serde(default)]
    pub lang: Option<Lang>,
    /// The interface chosen the last time with `--plain` (true) or
    /// `--no-plain` (false); `None`: never chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<bool>,
    #[serde(default)]
    pub current: Option<Current>,
    #[serde(default)]
    pub lessons: BTreeMap<String, LessonProgress>,
    /// The shell pane's remembered setting (`--no-shell`, `--shell-pane`);
    /// unset: on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell_pane: Option<bool>,
}

fn format_version() -> u32 {
    FORMAT_VERSION
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            version: FORMAT_VERSION,
            lang: None,
            plain: None,
            current: None,
            lessons: BTreeMap::new(),
            shell_pane: None,
        }
    }
}

impl Progress {
    pub fn lesson(&self, lesson: &str) -> Option<&LessonProgress> {
        self.lessons.get(lesson)
    }

    pub fn is_done(&self, lesson: &str, step: &str) -> bool {
        self.lessons
            .get(lesson)
            .is_some_and(|l| l.done.contains_key(step))
    }

    /// Number of completed steps of a lesson.
    pub fn done_count(&self, lesson: &str) -> usize {
        self.lessons.get(lesson).map_or(0, |l| l.done.len())
    }

    /// Marks a step done; returns false if it already was (the first
    /// completion time is kept).
    pub fn mark_done(&mut self, lesson: &str, step: &str) -> bool {
        let entry = self.lessons.entry(lesson.to_owned()).or_default();
        if entry.done.contains_key(step) {
            return false;
        }
        entry.done.insert(step.to_owned(), jiff::Timestamp::now());
        true
    }

    /// Hint tiers revealed so far for a step.
    pub fn hints_revealed(&self, lesson: &str, step: &str) -> u32 {
        self.lessons
            .get(lesson)
            .and_then(|l| l.hints.get(step).copied())
            .unwrap_or(0)
    }

    /// Reveals one more hint tier (bounded by `available`); returns the number
    /// now revealed.
    pub fn reveal_hint(&mut self, lesson: &str, step: &str, available: u32) -> u32 {
        let entry = self.lessons.entry(lesson.to_owned()).or_default();
        let n = entry.hints.entry(step.to_owned()).or_insert(0);
        if *n < available {
            *n += 1;
        }
        *n
    }

    pub fn solution_revealed(&self, lesson: &str, step: &str) -> bool {
        self.lessons
            .get(lesson)
            .is_some_and(|l| l.solutions.contains(step))
    }

    pub fn reveal_solution(&mut self, lesson: &str, step: &str) {
        self.lessons
            .entry(lesson.to_owned())
            .or_default()
            .solutions
            .insert(step.to_owned());
    }

    /// Forgets one lesson (or, with `None`, everything but the language).
    pub fn reset(&mut self, lesson: Option<&str>) {
        match lesson {
            Some(id) => {
                self.lessons.remove(id);
                if let Some(current) = self.current.as_mut().filter(|c| c.lesson == id) {
                    current.step = None;
                    current.scroll = 0;
                }
            }
            None => {
                self.lessons.clear();
                self.current = None;
            }
        }
        self.lessons.retain(|_, l| !l.is_empty());
    }
}

/// The result of loading the progress file.
#[derive(Debug)]
pub struct Loaded {
    pub progress: Progress,
    /// Set when the file was unreadable and was moved aside.
    pub warning: Option<String>,
}

/// Reads and writes the progress file.
#[derive(Debug, Clone)]
pub struct ProgressStore {
    path: PathBuf,
}

impl ProgressStore {
    pub fn new(path: PathBuf) -> Self {
        ProgressStore { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads progress. A missing file is a fresh start; an unreadable one is
    /// renamed to `progress.json.corrupt-<timestamp>` and reported.
    pub fn load(&self) -> Loaded {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Loaded {
                    progress: Progress::default(),
                    warning: None,
                };
            }
            Err(e) => {
                return Loaded {
                    progress: Progress::default(),
                    warning: Some(format!(
                        "could not read {}: {e}; starting with empty progress",
                        self.path.display()
                    )),
                };
            }
        };
        match serde_json::from_slice::<Progress>(&bytes) {
            Ok(progress) => Loaded {
                progress,
                warning: None,
            },
            Err(parse_err) => {
                let stamp = jiff::Timestamp::now().as_second();
                let aside = self
                    .path
                    .with_file_name(format!("progress.json.corrupt-{stamp}"));
                let moved = std::fs::rename(&self.path, &aside);
                let warning = match moved {
                    Ok(()) => format!(
                        "progress file {} was unreadable ({parse_err}); it was moved to {} \
                         and progress starts afresh",
                        self.path.display(),
                        aside.display()
                    ),
                    Err(e) => format!(
                        "progress file {} was unreadable ({parse_err}) and could not be moved \
                         aside ({e}); progress starts afresh",
                        self.path.display()
                    ),
                };
                Loaded {
                    progress: Progress::default(),
                    warning: Some(warning),
                }
            }
        }
    }

    /// Writes progress atomically.
    pub fn save(&self, progress: &Progress) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(progress).map_err(std::io::Error::other)?;
        crate::paths::write_atomic(&self.path, &json)
    }
}

/// A non-blocking handle that hands progress to a writer thread. Saves are
/// coalesced: if the UI saves faster than the disk writes, only the newest
/// state is written, and every state handed over before [`ProgressSaver::finish`]
/// is on disk when it returns.
#[derive(Debug, Clone)]
pub struct ProgressSaver {
    tx: mpsc::Sender<Progress>,
    last_error: Arc<Mutex<Option<String>>>,
}

/// Owns the writer thread; `finish` waits for pending writes.
#[derive(Debug)]
pub struct SaverThread {
    handle: Option<JoinHandle<()>>,
}

impl ProgressSaver {
    pub fn spawn(store: ProgressStore) -> std::io::Result<(ProgressSaver, SaverThread)> {
        let (tx, rx) = mpsc::channel::<Progress>();
        let last_error = Arc::new(Mutex::new(None));
        let errors = Arc::clone(&last_error);
        let handle = std::thread::Builder::new()
            .name("progress-writer".into())
            .spawn(move || {
                while let Ok(mut latest) = rx.recv() {
                    while let Ok(newer) = rx.try_recv() {
                        latest = newer;
                    }
                    let result = store.save(&latest);
                    if let Ok(mut slot) = errors.lock() {
                        *slot = result.err().map(|e| {
                            format!("could not save progress to {}: {e}", store.path.display())
                        });
                    }
                }
            })?;
        Ok((
            ProgressSaver { tx, last_error },
            SaverThread {
                handle: Some(handle),
            },
        ))
    }

    /// Queues a write of `progress`; never blocks.
    pub fn save(&self, progress: &Progress) {
        // The writer only stops after every sender is gone, so this cannot
        // fail while `self` exists.
        let _ = self.tx.send(progress.clone());
    }

    /// The error of the most recent write, if it failed (shown in the UI).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl SaverThread {
    /// Waits until every queued write is done. Call after dropping every
    /// [`ProgressSaver`] clone.
    pub fn finish(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ProgressStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ProgressStore::new(dir.path().join("progress.json"));
        (dir, store)
    }

    #[test]
    fn missing_file_is_a_fresh_start() {
        let (_d, store) = store();
        let loaded = store.load();
        assert_eq!(loaded.progress, Progress::default());
        assert!(loaded.warning.is_none());
    }

    #[test]
    fn round_trip() {
        let (_d, store) = store();
        let mut p = Progress::default();
        assert!(p.mark_done("l1", "s1"));
        assert!(!p.mark_done("l1", "s1"));
        assert_eq!(p.reveal_hint("l1", "s2", 2), 1);
        assert_eq!(p.reveal_hint("l1", "s2", 2), 2);
        assert_eq!(p.reveal_hint("l1", "s2", 2), 2);
        p.reveal_solution("l1", "s2");
        p.lang = Some(Lang::Fr);
        p.current = Some(Current {
            lesson: "l1".into(),
            step: Some("s2".into()),
            scroll: 7,
        });
        store.save(&p).unwrap();
        let loaded = store.load();
        assert_eq!(loaded.progress, p);
        assert!(loaded.progress.is_done("l1", "s1"));
        assert!(loaded.progress.solution_revealed("l1", "s2"));
        assert_eq!(loaded.progress.hints_revealed("l1", "s2"), 2);
    }

    #[test]
    fn corrupt_file_is_moved_aside_with_a_warning() {
        let (dir, store) = store();
        std::fs::write(store.path(), b"{ not json").unwrap();
        let loaded = store.load();
        assert_eq!(loaded.progress, Progress::default());
        let warning = loaded.warning.unwrap();
        assert!(warning.contains("moved to"), "{warning}");
        assert!(!store.path().exists());
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn reset_one_lesson_or_all() {
        let mut p = Progress::default();
        p.mark_done("a", "1");
        p.mark_done("b", "1");
        p.current = Some(Current {
            lesson: "a".into(),
            step: Some("1".into()),
            scroll: 3,
        });
        p.reset(Some("a"));
        assert!(!p.is_done("a", "1"));
        assert!(p.is_done("b", "1"));
        assert_eq!(p.current.as_ref().unwrap().step, None);
        p.reset(None);
        assert!(p.lessons.is_empty());
        assert!(p.current.is_none());
    }

    #[test]
    fn saver_writes_the_latest_state() {
        let (_d, store) = store();
        let (saver, thread) = ProgressSaver::spawn(store.clone()).unwrap();
        let mut p = Progress::default();
        for i in 0..50 {
            p.mark_done("l", &format!("s{i}"));
            saver.save(&p);
        }
        drop(saver);
        thread.finish();
        assert_eq!(store.load().progress, p);
    }
}
