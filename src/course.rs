//! The course: every lesson of every language, loaded from the copy embedded
//! in the binary or from a directory on disk (for lesson authors).
//!
//! Minimal version written on the `tui` branch (the TUI needs `lessons` and
//! `lesson`); the `lesson` helper's loader replaces it.

use crate::lesson::{Lang, Lesson};

#[derive(Debug, Clone, Default)]
pub struct Course {
    en: Vec<Lesson>,
    fr: Vec<Lesson>,
}

impl Course {
    /// Builds a course from parsed lessons, sorted by their `order`.
    pub fn from_lessons(lessons: Vec<Lesson>) -> Self {
        let (mut en, mut fr): (Vec<_>, Vec<_>) =
            lessons.into_iter().partition(|l| l.lang == Lang::En);
        en.sort_by_key(|l| l.meta.order);
        fr.sort_by_key(|l| l.meta.order);
        Self { en, fr }
    }

    pub fn lessons(&self, lang: Lang) -> &[Lesson] {
        match lang {
            Lang::En => &self.en,
            Lang::Fr => &self.fr,
        }
    }

    pub fn lesson(&self, lang: Lang, id: &str) -> Option<&Lesson> {
        self.lessons(lang).iter().find(|l| l.id() == id)
    }
}
