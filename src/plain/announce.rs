//! Announcements instead of redraws: each thing that can change (a step's
//! verdict, its live hint, the connection) has one line, printed when that
//! line changes and never again while it stays the same.

use std::collections::HashMap;

/// What an announcement is about: one line is kept per subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The verdict of a step (lesson id, step id).
    Verdict(String, String),
    /// The live hint of a step.
    Hint(String, String),
    Connection,
}

/// Remembers the last line said about each subject.
#[derive(Debug, Default)]
pub struct Announcer {
    last: HashMap<Subject, String>,
}

/// At most this many subjects are remembered (a course has a few dozen
/// steps; the bound only guards against a runaway producer).
const MAX_SUBJECTS: usize = 1024;

impl Announcer {
    /// `Some(line)` when `line` is news about `subject`; `None` when it is
    /// what was said last.
    pub fn say(&mut self, subject: Subject, line: String) -> Option<String> {
        if self.last.get(&subject) == Some(&line) {
            return None;
        }
        if self.last.len() >= MAX_SUBJECTS && !self.last.contains_key(&subject) {
            self.last.clear();
        }
        self.last.insert(subject, line.clone());
        Some(line)
    }

    /// The subject has nothing to say any more (a hint whose condition
    /// stopped holding): the same line later is news again.
    pub fn forget(&mut self, subject: &Subject) {
        self.last.remove(subject);
    }

    /// Record `line` as said without saying it (what a command just
    /// printed, or the connection state at start).
    pub fn said(&mut self, subject: Subject, line: String) {
        self.last.insert(subject, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Subject {
        Subject::Verdict("l".into(), "s".into())
    }

    #[test]
    fn an_unchanged_line_is_said_once() {
        let mut a = Announcer::default();
        assert_eq!(a.say(verdict(), "x".into()), Some("x".into()));
        assert_eq!(a.say(verdict(), "x".into()), None);
        assert_eq!(a.say(verdict(), "y".into()), Some("y".into()));
        assert_eq!(a.say(verdict(), "x".into()), Some("x".into()));
        // Subjects are apart.
        assert_eq!(
            a.say(Subject::Hint("l".into(), "s".into()), "x".into()),
            Some("x".into())
        );
    }

    #[test]
    fn a_forgotten_subject_speaks_again() {
        let mut a = Announcer::default();
        a.said(Subject::Connection, "up".into());
        assert_eq!(a.say(Subject::Connection, "up".into()), None);
        a.forget(&Subject::Connection);
        assert_eq!(a.say(Subject::Connection, "up".into()), Some("up".into()));
    }
}
