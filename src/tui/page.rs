//! The instructions page of one lesson: intro, then every step with its
//! state marker, body, revealed hints and solution. Check blocks are never
//! shown.

use super::markdown::{Doc, DocBuilder};
use super::theme::Theme;
use crate::lesson::Lesson;
use crate::progress::StepState;
use ratatui::text::Span;

/// What the page needs to know about each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepView {
    pub state: StepState,
    pub hints: u32,
    pub solution: bool,
}

impl Default for StepView {
    fn default() -> Self {
        Self {
            state: StepState::Pending,
            hints: 0,
            solution: false,
        }
    }
}

/// The rendered page and the lines the UI scrolls to.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub doc: Doc,
    /// First line of each step's heading.
    pub step_lines: Vec<usize>,
    /// First line of each revealed hint, per step.
    pub hint_lines: Vec<Vec<usize>>,
    /// First line of each revealed solution.
    pub solution_lines: Vec<Option<usize>>,
}

pub fn marker(theme: &Theme, state: StepState) -> (&'static str, ratatui::style::Style) {
    let m = theme.markers();
    match state {
        StepState::Pending => (m[0], theme.pending()),
        StepState::Active => (m[1], theme.active()),
        StepState::Done => (m[2], theme.done()),
        StepState::Failing => (m[3], theme.failing()),
    }
}

/// Quotes a markdown source so hints and solutions stand apart.
fn quoted(src: &str) -> String {
    src.lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_owned()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn build(
    lesson: &Lesson,
    steps: &[StepView],
    width: u16,
    theme: Theme,
    focused_code: Option<usize>,
) -> Page {
    let mut b = DocBuilder::new(width, theme, focused_code);
    b.markdown(&lesson.intro.source);
    let n = lesson.steps.len();
    let mut page = Page::default();
    for (i, step) in lesson.steps.iter().enumerate() {
        let view = steps.get(i).copied().unwrap_or_default();
        let (m, style) = marker(&theme, view.state);
        let heading = theme.heading(2);
        let at = b.paragraph(vec![
            Span::styled(format!("{m} "), style),
            Span::styled(format!("Step {}/{n} · ", i + 1), heading),
            Span::styled(step.title.clone(), heading),
        ]);
        page.step_lines.push(at);
        b.markdown(&step.body.source);
        let mut hints = Vec::new();
        for (k, hint) in step.hints.iter().take(view.hints as usize).enumerate() {
            let label = if hint.label.trim().is_empty() {
                format!("Hint {}/{}", k + 1, step.hints.len())
            } else {
                format!("Hint {}/{}: {}", k + 1, step.hints.len(), hint.label.trim())
            };
            hints.push(b.paragraph(vec![Span::styled(label, theme.hint_label())]));
            b.markdown(&quoted(&hint.body.source));
        }
        page.hint_lines.push(hints);
        let sol = match (&step.solution, view.solution) {
            (Some(sol), true) => {
                let at = b.paragraph(vec![Span::styled("Solution", theme.solution_label())]);
                b.markdown(&quoted(&sol.source));
                Some(at)
            }
            _ => None,
        };
        page.solution_lines.push(sol);
    }
    page.doc = b.finish();
    page
}
