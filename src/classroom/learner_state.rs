//! What a learner's front end knows of its classroom — the hold, the
//! connection, the name — and what it says when that changes. Both front
//! ends (the TUI and plain mode) own one and ask it before opening a
//! lesson: the hold is enforced where lessons change, nowhere else.

use super::learner::ClassroomEvent;
use super::words::words;
use crate::lesson::{Lang, Lesson};
use crate::text::fill;

/// The link to the classroom as the learner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Link {
    #[default]
    Joining,
    Joined {
        server: String,
        name: String,
    },
    Away(String),
    Refused(String),
}

/// How something is said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say {
    /// Worth stopping for (the instructor's message, a hold): a notice the
    /// learner dismisses.
    Notice(String),
    /// A line in passing (the status bar, an announcement).
    Line(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassroomState {
    pub link: Link,
    /// The lesson id the class is held at.
    pub hold: Option<String>,
}

impl ClassroomState {
    /// Takes one event; what to tell the learner, if anything.
    pub fn apply(&mut self, ev: ClassroomEvent, lang: Lang, lessons: &[Lesson]) -> Option<Say> {
        let w = words(lang);
        match ev {
            ClassroomEvent::Joined { server, name } => {
                let first = !matches!(self.link, Link::Joined { .. });
                self.link = Link::Joined {
                    server: server.clone(),
                    name: name.clone(),
                };
                first.then(|| Say::Line(fill(w.joined, &[&server, &name])))
            }
            ClassroomEvent::Away { reason } => {
                self.link = Link::Away(reason.clone());
                Some(Say::Line(fill(w.away, &[&reason])))
            }
            ClassroomEvent::Refused { reason } => {
                self.link = Link::Refused(reason.clone());
                Some(Say::Notice(fill(w.refused, &[&reason])))
            }
            ClassroomEvent::Message { text, .. } => Some(Say::Notice(fill(
                w.message,
                &[&super::report::clean(&text)],
            ))),
            ClassroomEvent::Hold { lesson } => {
                if lesson == self.hold {
                    return None;
                }
                let was_held = self.hold.is_some();
                self.hold = lesson.clone();
                match lesson {
                    None if was_held => Some(Say::Notice(w.released.to_owned())),
                    None => None,
                    Some(id) => Some(Say::Notice(
                        match lessons.iter().position(|l| l.id() == id) {
                            Some(i) => fill(w.held, &[&(i + 1), &lessons[i].meta.title]),
                            None => fill(w.held_unknown, &[&id]),
                        },
                    )),
                }
            }
        }
    }

    /// Whether the learner may go from lesson `from` to lesson `to`
    /// (indices): always back, forward only up to the held lesson. `Err`:
    /// what to say instead.
    pub fn allows(
        &self,
        lessons: &[Lesson],
        from: usize,
        to: usize,
        lang: Lang,
    ) -> Result<(), String> {
        let Some(held) = self
            .hold
            .as_deref()
            .and_then(|id| lessons.iter().position(|l| l.id() == id))
        else {
            return Ok(());
        };
        if to <= held || to <= from {
            return Ok(());
        }
        Err(fill(
            words(lang).hold_stops,
            &[&(held + 1), &lessons[held].meta.title],
        ))
    }

    /// The `classroom` part of the status document.
    pub fn status(&self) -> serde_json::Value {
        let (state, server, name, reason) = match &self.link {
            Link::Joining => ("joining", None, None, None),
            Link::Joined { server, name } => ("joined", Some(server), Some(name), None),
            Link::Away(r) => ("away", None, None, Some(r)),
            Link::Refused(r) => ("refused", None, None, Some(r)),
        };
        serde_json::json!({
            "state": state,
            "server": server,
            "name": name,
            "reason": reason,
            "hold": self.hold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::Course;

    #[test]
    fn holds_stop_going_forward_only() {
        let course = Course::embedded().unwrap();
        let lessons = course.lessons(Lang::En);
        let mut s = ClassroomState::default();
        assert!(s.allows(lessons, 0, 5, Lang::En).is_ok());
        let said = s.apply(
            ClassroomEvent::Hold {
                lesson: Some(lessons[2].id().to_owned()),
            },
            Lang::En,
            lessons,
        );
        assert!(matches!(said, Some(Say::Notice(t)) if t.contains("lesson 3")));
        assert!(s.allows(lessons, 1, 2, Lang::En).is_ok());
        assert!(
            s.allows(lessons, 2, 3, Lang::En)
                .unwrap_err()
                .contains("held at lesson 3")
        );
        // Someone already ahead may go back, and stay.
        assert!(s.allows(lessons, 5, 4, Lang::En).is_ok());
        assert!(s.allows(lessons, 5, 5, Lang::En).is_ok());
        assert!(
            s.apply(ClassroomEvent::Hold { lesson: None }, Lang::Fr, lessons)
                .is_some()
        );
        assert!(s.allows(lessons, 2, 8, Lang::En).is_ok());
        assert_eq!(
            s.apply(ClassroomEvent::Hold { lesson: None }, Lang::En, lessons),
            None
        );
    }

    #[test]
    fn messages_are_cleaned_and_joins_said_once() {
        let mut s = ClassroomState::default();
        let joined = ClassroomEvent::Joined {
            server: "h:1".into(),
            name: "ana".into(),
        };
        assert!(s.apply(joined.clone(), Lang::En, &[]).is_some());
        assert_eq!(s.apply(joined, Lang::En, &[]), None);
        let m = s.apply(
            ClassroomEvent::Message {
                text: "look \u{1b}[2J up".into(),
                at: jiff::Timestamp::now(),
            },
            Lang::En,
            &[],
        );
        assert_eq!(
            m,
            Some(Say::Notice(
                "Message from your instructor: look  [2J up".into()
            ))
        );
        assert_eq!(s.status()["state"], "joined");
    }
}
