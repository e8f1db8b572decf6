//! The instructor's picture of the class: every learner, their last
//! report, and the times the grid shows (on the current step since when,
//! last activity), plus the hold and the latest message.
//!
//! Times are the server's own clock: a learner reports how long it has
//! been on its step, never a date, so a learner's wrong clock cannot skew
//! the grid. Names are unique; a learner who joins again with the token it
//! got the first time is the same learner (the token is kept hashed).

use super::protocol::{ErrorCode, Message};
use super::report::{Report, clean};
use crate::progress::StepState;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest display name, in characters.
pub const MAX_NAME: usize = 40;
/// Learners a classroom takes unless told otherwise.
pub const DEFAULT_MAX_LEARNERS: usize = 500;

/// One learner as the instructor sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learner {
    pub name: String,
    /// SHA-256 (hex) of the token the learner proves itself with on
    /// joining again; empty when the learner is followed through the
    /// cluster (no token).
    #[serde(default)]
    pub token_hash: String,
    #[serde(skip)]
    pub connected: bool,
    #[serde(default)]
    pub report: Option<Report>,
    /// When the learner got to its current step (server clock).
    #[serde(default)]
    pub step_since: Option<Timestamp>,
    /// When its report last changed.
    #[serde(default)]
    pub last_activity: Option<Timestamp>,
    /// Shared-cluster mode: the learner's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Learner {
    fn new(name: &str) -> Learner {
        Learner {
            name: name.to_owned(),
            token_hash: String::new(),
            connected: false,
            report: None,
            step_since: None,
            last_activity: None,
            namespace: None,
        }
    }

    /// The step the learner is on: (lesson, step), step `None` once the
    /// lesson is done.
    pub fn position(&self) -> Option<(&str, Option<&str>)> {
        let r = self.report.as_ref()?;
        Some((r.lesson.as_deref()?, r.step.as_deref()))
    }

    /// How long the learner has been on its current step (`None` when it
    /// has finished its lesson or never reported).
    pub fn on_step(&self, now: Timestamp) -> Option<SignedDuration> {
        let (_, step) = self.position()?;
        step?;
        Some(now.duration_since(self.step_since?))
    }

    /// The states of a lesson's steps as the learner reported them, in the
    /// order of `steps` (a step the report lacks: pending).
    pub fn states(&self, lesson: &str, steps: &[&str]) -> Vec<StepState> {
        let reported = self.report.as_ref().and_then(|r| r.lesson(lesson));
        steps
            .iter()
            .map(|id| {
                reported
                    .and_then(|l| l.steps.iter().find(|s| s.id == *id))
                    .map_or(StepState::Pending, |s| s.state)
            })
            .collect()
    }

    /// What the checker says about the learner's current step.
    pub fn reason(&self) -> Option<&str> {
        let r = self.report.as_ref()?;
        let step = r.step.as_deref()?;
        r.current_lesson()?
            .steps
            .iter()
            .find(|s| s.id == step)?
            .reason
            .as_deref()
    }
}

/// A name as it is accepted: trimmed, printable, 1 to 40 characters.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = clean(name.trim());
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME {
        return Err(format!(
            "a display name has 1 to {MAX_NAME} characters; `{}` has {n}",
            super::report::clip(&name, 60)
        ));
    }
    Ok(name)
}

/// Hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh learner token (32 random bytes, hex).
pub fn new_token() -> Result<String, String> {
    let n = super::handshake::nonce()?;
    Ok(n.iter().map(|b| format!("{b:02x}")).collect())
}

/// Every learner, the hold and the latest message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roster {
    pub learners: BTreeMap<String, Learner>,
    #[serde(default)]
    pub hold: Option<String>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(skip, default = "default_max")]
    pub max_learners: usize,
}

fn default_max() -> usize {
    DEFAULT_MAX_LEARNERS
}

impl Default for Roster {
    fn default() -> Self {
        Roster {
            learners: BTreeMap::new(),
            hold: None,
            message: None,
            max_learners: DEFAULT_MAX_LEARNERS,
        }
    }
}

/// How the grid orders learners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Longest on their current step first; finished and silent ones last.
    StuckLongest,
    Name,
}

impl Roster {
    /// Lets a learner in: a new name gets a new token; a known name must
    /// bring its token. Returns the token to hand back.
    pub fn admit(
        &mut self,
        name: &str,
        token: Option<&str>,
    ) -> Result<(String, String), (ErrorCode, String)> {
        let name = check_name(name).map_err(|e| (ErrorCode::BadName, e))?;
        if let Some(l) = self.learners.get_mut(&name) {
            let known =
                token.is_some_and(|t| !l.token_hash.is_empty() && token_hash(t) == l.token_hash);
            if !known {
                return Err((
                    ErrorCode::NameTaken,
                    format!(
                        "another learner is already called `{name}`: join with another name (--name)"
                    ),
                ));
            }
            l.connected = true;
            return Ok((name, token.unwrap_or_default().to_owned()));
        }
        if self.learners.len() >= self.max_learners {
            return Err((
                ErrorCode::Full,
                format!(
                    "the classroom is full ({} learners): ask your instructor",
                    self.max_learners
                ),
            ));
        }
        let token = new_token().map_err(|e| (ErrorCode::Unexpected, e))?;
        let mut l = Learner::new(&name);
        l.token_hash = token_hash(&token);
        l.connected = true;
        self.learners.insert(name.clone(), l);
        Ok((name, token))
    }

    pub fn set_connected(&mut self, name: &str, connected: bool) -> bool {
        match self.learners.get_mut(name) {
            Some(l) if l.connected != connected => {
                l.connected = connected;
                true
            }
            _ => false,
        }
    }

    /// Takes a learner's (checked) report; true when anything the grid
    /// shows changed.
    pub fn report(&mut self, name: &str, report: Report, now: Timestamp) -> bool {
        let l = self
            .learners
            .entry(name.to_owned())
            .or_insert_with(|| Learner::new(name));
        let moved = l.report.as_ref().is_none_or(|old| {
            (old.lesson.as_deref(), old.step.as_deref())
                != (report.lesson.as_deref(), report.step.as_deref())
        });
        let secs = i64::try_from(report.on_step_secs).unwrap_or(i64::MAX);
        if moved || l.step_since.is_none() {
            l.step_since = now.checked_sub(SignedDuration::from_secs(secs)).ok();
        }
        let same = l.report.as_ref().is_some_and(|old| old.same_as(&report));
        if same && !moved {
            return false;
        }
        let idle = i64::try_from(report.idle_secs).unwrap_or(i64::MAX);
        l.last_activity = Some(
            now.checked_sub(SignedDuration::from_secs(idle))
                .unwrap_or(now),
        );
        l.report = Some(report);
        true
    }

    /// Learners in the grid's order.
    pub fn sorted(&self, order: Order, now: Timestamp) -> Vec<&Learner> {
        let mut v: Vec<&Learner> = self.learners.values().collect();
        if order == Order::StuckLongest {
            v.sort_by(|a, b| {
                let key = |l: &Learner| l.on_step(now).map(|d| std::cmp::Reverse(d.as_secs()));
                match (key(a), key(b)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then_with(|| a.name.cmp(&b.name))
            });
        }
        v
    }

    /// How many learners have done each of `steps` of `lesson`.
    pub fn done_counts(&self, lesson: &str, steps: &[&str]) -> Vec<usize> {
        let mut out = vec![0; steps.len()];
        for l in self.learners.values() {
            for (i, s) in l.states(lesson, steps).into_iter().enumerate() {
                if s == StepState::Done {
                    out[i] += 1;
                }
            }
        }
        out
    }

    pub fn connected_count(&self) -> usize {
        self.learners.values().filter(|l| l.connected).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::report::{LessonReport, StepReport};

    fn report(step: Option<&str>, secs: u64, failing: bool) -> Report {
        let st = |id: &str, state| StepReport {
            id: id.into(),
            state,
            reason: None,
            hint: None,
            hints: 0,
            solution: false,
        };
        Report {
            lesson: Some("l1".into()),
            step: step.map(Into::into),
            on_step_secs: secs,
            lessons: vec![LessonReport {
                id: "l1".into(),
                steps: vec![
                    st("a", StepState::Done),
                    st(
                        "b",
                        if failing {
                            StepState::Failing
                        } else {
                            StepState::Active
                        },
                    ),
                ],
            }],
            ..Report::default()
        }
    }

    #[test]
    fn names_tokens_and_capacity() {
        let mut r = Roster {
            max_learners: 2,
            ..Roster::default()
        };
        let (name, token) = r.admit("  ana ", None).unwrap();
        assert_eq!(name, "ana");
        assert_eq!(r.admit("ana", None).unwrap_err().0, ErrorCode::NameTaken);
        assert_eq!(
            r.admit("ana", Some("nope")).unwrap_err().0,
            ErrorCode::NameTaken
        );
        assert_eq!(r.admit("ana", Some(&token)).unwrap().0, "ana");
        assert_eq!(r.admit("", None).unwrap_err().0, ErrorCode::BadName);
        assert_eq!(
            r.admit(&"x".repeat(41), None).unwrap_err().0,
            ErrorCode::BadName
        );
        r.admit("bob", None).unwrap();
        assert_eq!(r.admit("cy", None).unwrap_err().0, ErrorCode::Full);
        assert_eq!(check_name("a\u{1b}b").unwrap(), "a b");
        // The token is kept hashed only.
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains(&token));
    }

    #[test]
    fn time_on_step_and_order() {
        let mut r = Roster::default();
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        assert!(r.report("ana", report(Some("b"), 30, false), t0));
        assert!(r.report("bob", report(Some("b"), 5, false), t0));
        assert!(r.report("cy", report(None, 0, false), t0));
        let later = t0 + SignedDuration::from_secs(10);
        assert_eq!(r.learners["ana"].on_step(later).unwrap().as_secs(), 40);
        // The same report again changes nothing; a failing one does.
        assert!(!r.report("ana", report(Some("b"), 35, false), later));
        assert!(r.report("ana", report(Some("b"), 36, true), later));
        assert_eq!(r.learners["ana"].on_step(later).unwrap().as_secs(), 40);
        let names: Vec<&str> = r
            .sorted(Order::StuckLongest, later)
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["ana", "bob", "cy"]);
        assert_eq!(r.done_counts("l1", &["a", "b", "zz"]), vec![3, 0, 0]);
        assert_eq!(
            r.learners["ana"].states("l1", &["b", "a"]),
            vec![StepState::Failing, StepState::Done]
        );
    }
}
