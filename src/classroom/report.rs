//! A learner's progress report: what `kubetutor status --json` says of one
//! learner, in the shape the classroom sends and checks.
//!
//! The learner's kubetutor builds it from the status document its front
//! end publishes after every change ([`Report::from_status`]); the server
//! (and the shared-cluster grid, which reads it from a ConfigMap) accepts
//! it only within bounds ([`Report::check`]): a report that breaks them is
//! refused with a message that says which bound.

use crate::progress::StepState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most lessons and steps a report may hold.
pub const MAX_LESSONS: usize = 64;
pub const MAX_STEPS: usize = 64;
/// Longest id (lesson or step).
pub const MAX_ID: usize = 64;
/// Longest reason or hint, in characters.
pub const MAX_TEXT: usize = 1000;
/// Longest short label (connection state, interface).
pub const MAX_LABEL: usize = 200;

/// One step as the learner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    pub id: String,
    pub state: StepState,
    /// What the checker says is still missing or wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The live hint shown to the learner now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Hint tiers revealed.
    #[serde(default)]
    pub hints: u32,
    /// Whether the solution was revealed.
    #[serde(default)]
    pub solution: bool,
}

/// One lesson's steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LessonReport {
    pub id: String,
    pub steps: Vec<StepReport>,
}

/// Where a learner is and how every step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Report {
    /// The open lesson.
    #[serde(default)]
    pub lesson: Option<String>,
    /// Its first step not done (`None`: the lesson is done).
    #[serde(default)]
    pub step: Option<String>,
    /// Seconds the learner has been on that step (their clock, not ours).
    #[serde(default)]
    pub on_step_secs: u64,
    /// Seconds since anything in this report last changed.
    #[serde(default)]
    pub idle_secs: u64,
    #[serde(default)]
    pub lang: String,
    /// The learner's connection to their cluster (`connected`,
    /// `reconnecting: ...`).
    #[serde(default)]
    pub cluster: String,
    /// `tui` or `plain`.
    #[serde(default)]
    pub ui: String,
    #[serde(default)]
    pub lessons: Vec<LessonReport>,
}

impl Report {
    /// The report of a status document (`status_doc` of either front end);
    /// `on_step_secs` is measured by the caller.
    pub fn from_status(doc: &Value, on_step_secs: u64) -> Report {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let lessons = doc["lessons"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_LESSONS)
            .map(|l| LessonReport {
                id: text(&l["id"]).unwrap_or_default(),
                steps: l["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(MAX_STEPS)
                    .map(|s| StepReport {
                        id: text(&s["id"]).unwrap_or_default(),
                        state: serde_json::from_value(s["state"].clone())
                            .unwrap_or(StepState::Pending),
                        reason: text(&s["reason"]).map(|t| clip(&t, MAX_TEXT)),
                        hint: text(&s["hint"]).map(|t| clip(&t, MAX_TEXT)),
                        hints: s["hints"]
                            .as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(0),
                        solution: s["solution"].as_bool().unwrap_or(false),
                    })
                    .collect(),
            })
            .collect();
        Report {
            lesson: text(&doc["current"]["lesson"]),
            step: text(&doc["current"]["step"]),
            on_step_secs,
            idle_secs: 0,
            lang: text(&doc["lang"]).unwrap_or_default(),
            cluster: clip(doc["connection"]["state"].as_str().unwrap_or(""), MAX_LABEL),
            ui: text(&doc["ui"]).unwrap_or_else(|| "tui".to_owned()),
            lessons,
        }
    }

    /// Checks the bounds, and replaces control characters in the free
    /// text (it reaches the instructor's terminal). `Err`: which bound was
    /// broken, said for the learner's log.
    pub fn check(&mut self) -> Result<(), String> {
        if self.lessons.len() > MAX_LESSONS {
            return Err(format!(
                "the report has {} lessons; at most {MAX_LESSONS} are accepted",
                self.lessons.len()
            ));
        }
        for l in &mut self.lessons {
            check_id("lesson", &l.id)?;
            if l.steps.len() > MAX_STEPS {
                return Err(format!(
                    "lesson {} has {} steps in the report; at most {MAX_STEPS} are accepted",
                    l.id,
                    l.steps.len()
                ));
            }
            for s in &mut l.steps {
                check_id("step", &s.id)?;
                for t in [&mut s.reason, &mut s.hint].into_iter().flatten() {
                    if t.chars().count() > MAX_TEXT {
                        return Err(format!(
                            "a reason or hint of step {} is longer than {MAX_TEXT} characters",
                            s.id
                        ));
                    }
                    *t = clean(t);
                }
                if s.hints > 100 {
                    return Err(format!("step {} claims {} hints", s.id, s.hints));
                }
            }
        }
        for (what, v) in [("lesson", &self.lesson), ("step", &self.step)] {
            if let Some(id) = v {
                check_id(what, id)?;
            }
        }
        if let Some(l) = &self.lesson
            && !self.lessons.iter().any(|x| &x.id == l)
        {
            return Err(format!("the current lesson {l} is not in the report"));
        }
        for (what, v) in [
            ("lang", &mut self.lang),
            ("cluster", &mut self.cluster),
            ("ui", &mut self.ui),
        ] {
            if v.chars().count() > MAX_LABEL {
                return Err(format!("`{what}` is longer than {MAX_LABEL} characters"));
            }
            *v = clean(v);
        }
        Ok(())
    }

    /// The open lesson's steps.
    pub fn current_lesson(&self) -> Option<&LessonReport> {
        let id = self.lesson.as_deref()?;
        self.lessons.iter().find(|l| l.id == id)
    }

    /// A lesson's steps, if the report has it.
    pub fn lesson(&self, id: &str) -> Option<&LessonReport> {
        self.lessons.iter().find(|l| l.id == id)
    }

    /// Hints and solutions revealed, over the whole course.
    pub fn revealed(&self) -> (u32, u32) {
        self.lessons
            .iter()
            .flat_map(|l| &l.steps)
            .fold((0, 0), |(h, s), st| {
                (h.saturating_add(st.hints), s + u32::from(st.solution))
            })
    }

    /// The report without what changes by itself (the time on the step):
    /// two reports equal by this key need not be sent twice.
    pub fn same_as(&self, other: &Report) -> bool {
        let mut a = self.clone();
        a.on_step_secs = other.on_step_secs;
        a.idle_secs = other.idle_secs;
        &a == other
    }
}

fn check_id(what: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a {what} id must be 1 to {MAX_ID} letters, digits, '-', '_' or '.'; got {:?}",
            clip(id, 80)
        ))
    }
}

/// At most `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

/// Control characters (escape sequences...) replaced by spaces: the text
/// goes to a terminal.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "connection": {"state": "connected"},
            "lang": "fr",
            "current": {"lesson": "l2", "step": "b"},
            "lessons": [
                {"id": "l1", "steps": [{"id": "a", "state": "done", "hints": 1, "solution": true}]},
                {"id": "l2", "steps": [
                    {"id": "a", "state": "done"},
                    {"id": "b", "state": "failing", "reason": "pod x is \u{1b}[31mPending", "hint": "wait", "hints": 2},
                    {"id": "c", "state": "pending"}
                ]}
            ],
            "pid": 1,
            "ui": "plain"
        })
    }

    #[test]
    fn built_from_a_status_document() {
        let mut r = Report::from_status(&doc(), 42);
        assert_eq!(r.lesson.as_deref(), Some("l2"));
        assert_eq!(r.step.as_deref(), Some("b"));
        assert_eq!((r.on_step_secs, r.ui.as_str()), (42, "plain"));
        assert_eq!(r.revealed(), (3, 1));
        r.check().unwrap();
        let b = &r.current_lesson().unwrap().steps[1];
        assert_eq!(b.state, StepState::Failing);
        assert_eq!(b.reason.as_deref(), Some("pod x is  [31mPending"));
        let later = Report::from_status(&doc(), 50);
        assert!(later.same_as(&r) || later.same_as(&Report::from_status(&doc(), 42)));
    }

    #[test]
    fn bounds_are_enforced() {
        let mut r = Report::from_status(&doc(), 0);
        r.lessons[0].id = "bad id".into();
        assert!(r.check().unwrap_err().contains("lesson id"));
        let mut r = Report::from_status(&doc(), 0);
        r.lessons[1].steps[1].reason = Some("x".repeat(MAX_TEXT + 1));
        assert!(r.check().unwrap_err().contains("longer than"));
        let mut r = Report::from_status(&doc(), 0);
        r.lesson = Some("l9".into());
        assert!(r.check().unwrap_err().contains("not in the report"));
        let mut r = Report::from_status(&doc(), 0);
        r.lessons = vec![r.lessons[0].clone(); MAX_LESSONS + 1];
        assert!(r.check().unwrap_err().contains("at most"));
        assert_eq!(clip("héllo", 2), "hé");
    }
}
