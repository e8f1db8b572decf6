//! Where a learner stands in the course: each step's state from the saved
//! progress and the checker's last verdicts, and the `lessons`/`current`
//! part of the status document `kubetutor status` reads. One set of rules
//! for the full-screen UI and plain mode.

use std::collections::HashMap;

use crate::check::engine::CheckerHandle;
use crate::lesson::Lesson;
use crate::progress::{Progress, StepState};

/// What the checker last said about a step that is not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: StepState,
    pub reason: Option<String>,
    pub hint: Option<String>,
}

/// Verdicts by (lesson id, step id).
pub type Verdicts = HashMap<(String, String), Verdict>;

/// A borrowed view of the learner's place: the course's lessons, the open
/// one, the progress and the verdicts.
#[derive(Clone, Copy)]
pub struct Standing<'a> {
    pub lessons: &'a [Lesson],
    pub lesson: usize,
    pub progress: &'a Progress,
    pub verdicts: &'a Verdicts,
}

impl<'a> Standing<'a> {
    pub fn current_lesson(&self) -> Option<&'a Lesson> {
        self.lessons.get(self.lesson)
    }

    /// The first step of the open lesson that is not done.
    pub fn active_step(&self) -> Option<usize> {
        let l = self.current_lesson()?;
        first_open(self.progress, l)
    }

    /// The state shown for a step.
    pub fn step_state(&self, lesson: &Lesson, index: usize) -> StepState {
        let Some(step) = lesson.steps.get(index) else {
            return StepState::Pending;
        };
        if self.progress.is_done(lesson.id(), &step.id) {
            return StepState::Done;
        }
        let key = (lesson.id().to_owned(), step.id.clone());
        if self
            .verdicts
            .get(&key)
            .is_some_and(|v| v.state == StepState::Failing)
        {
            return StepState::Failing;
        }
        if first_open(self.progress, lesson) == Some(index) {
            StepState::Active
        } else {
            StepState::Pending
        }
    }

    /// The checker's verdict on a step that is not done.
    pub fn verdict(&self, lesson: &Lesson, index: usize) -> Option<&'a Verdict> {
        let step = lesson.steps.get(index)?;
        if self.progress.is_done(lesson.id(), &step.id) {
            return None;
        }
        self.verdicts
            .get(&(lesson.id().to_owned(), step.id.clone()))
    }

    /// What is still missing for a step, or why it fails.
    pub fn step_reason(&self, lesson: &Lesson, index: usize) -> Option<&'a str> {
        self.verdict(lesson, index)?
            .reason
            .as_deref()
            .filter(|r| !r.trim().is_empty())
    }

    /// The live hint the checker shows for a step that is not done.
    pub fn step_hint(&self, lesson: &Lesson, index: usize) -> Option<&'a str> {
        self.verdict(lesson, index)?
            .hint
            .as_deref()
            .filter(|r| !r.trim().is_empty())
    }

    /// Tells the checker about the active step when it changed from
    /// `checking`: the first open step of the open lesson, or nothing once
    /// the lesson is done. The new key to remember, or None if unchanged.
    #[allow(clippy::option_option)] // unchanged / now nothing / now a step
    pub fn sync_checker(
        &self,
        checker: &CheckerHandle,
        checking: Option<&(String, String)>,
    ) -> Option<Option<(String, String)>> {
        let l = self.current_lesson()?;
        let step = l
            .steps
            .iter()
            .find(|s| !self.progress.is_done(l.id(), &s.id));
        // Compared before the check is parsed: this runs after every event.
        let same = match (step, checking) {
            (Some(s), Some((cl, cs))) => cl == l.id() && *cs == s.id,
            (None, None) => true,
            _ => false,
        };
        if same {
            return None;
        }
        // A step without a (valid) check is remembered too, so that its
        // check is not parsed again at the next event.
        match step.and_then(|s| Some((s, s.check.as_ref()?.spec().ok()?))) {
            Some((s, spec)) => checker.activate(l.id(), &s.id, spec),
            None => checker.deactivate(),
        }
        Some(step.map(|s| (l.id().to_owned(), s.id.clone())))
    }

    /// The status document's `lessons` (each step's state, reason, hint,
    /// hints and solution revealed) and `current` (lesson and step ids).
    pub fn status(&self) -> (serde_json::Value, serde_json::Value) {
        let current_id = self.current_lesson().map(|l| l.id().to_owned());
        let lessons: Vec<serde_json::Value> = self
            .lessons
            .iter()
            .map(|l| {
                let here = current_id.as_deref() == Some(l.id());
                let steps: Vec<serde_json::Value> = (0..l.steps.len())
                    .map(|i| {
                        // Only the open lesson has an active step.
                        let state = match self.step_state(l, i) {
                            StepState::Active if !here => StepState::Pending,
                            s => s,
                        };
                        let id = &l.steps[i].id;
                        serde_json::json!({
                            "id": id,
                            "title": l.steps[i].title,
                            "state": state.as_str(),
                            "reason": self.step_reason(l, i),
                            "hint": self.step_hint(l, i),
                            "hints": self.progress.hints_revealed(l.id(), id),
                            "solution": self.progress.solution_revealed(l.id(), id),
                        })
                    })
                    .collect();
                serde_json::json!({"id": l.id(), "title": l.meta.title, "steps": steps})
            })
            .collect();
        let current = self.current_lesson().map(|l| {
            let step = self
                .active_step()
                .and_then(|i| l.steps.get(i))
                .map(|s| s.id.clone());
            serde_json::json!({"lesson": l.id(), "step": step})
        });
        (
            serde_json::Value::Array(lessons),
            serde_json::json!(current),
        )
    }
}

fn first_open(progress: &Progress, lesson: &Lesson) -> Option<usize> {
    lesson
        .steps
        .iter()
        .position(|s| !progress.is_done(lesson.id(), &s.id))
}
