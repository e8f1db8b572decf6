//! The instructions page of one lesson: intro, then every step with its
//! state marker, body, revealed hints and solution. Check blocks are never
//! shown.

use super::markdown::{Doc, DocBuilder};
use super::strings::{Strings, fill};
use super::theme::Theme;
use crate::check::spec::{Goal, Quiz};
use crate::lesson::adapt::{Facts, adapt};
use crate::lesson::{Lesson, Step};
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

impl Page {
    /// Lines that mark the same place in the text at any width: the top,
    /// step headings, code block edges, hints, solutions and the end. Used
    /// to keep the same text in view when the width changes.
    pub fn anchors(&self) -> Vec<usize> {
        let mut a = vec![0];
        a.extend(&self.step_lines);
        for b in &self.doc.code_blocks {
            a.push(b.start);
            a.push(b.end);
        }
        a.extend(self.hint_lines.iter().flatten());
        a.extend(self.solution_lines.iter().flatten());
        a.push(self.doc.lines.len());
        a.sort_unstable();
        a
    }
}

/// Maps a scroll offset from one wrapping of a page to another, through
/// their anchors (see `Page::anchors`).
pub fn rescale(scroll: usize, old: &[usize], new: &[usize]) -> usize {
    let (Some(&old_end), Some(&new_end)) = (old.last(), new.last()) else {
        return scroll;
    };
    if old.len() != new.len() {
        // Not the same document: keep the proportion.
        return (scroll * new_end + old_end / 2) / old_end.max(1);
    }
    let i = old.iter().rposition(|&a| a <= scroll).unwrap_or(0);
    let (o0, n0) = (old[i], new[i]);
    let (o1, n1) = (
        old.get(i + 1).copied().unwrap_or(old_end),
        new.get(i + 1).copied().unwrap_or(new_end),
    );
    let within = scroll.saturating_sub(o0);
    if o1 <= o0 {
        return n0;
    }
    n0 + (within * n1.saturating_sub(n0) + (o1 - o0) / 2) / (o1 - o0)
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

/// The quiz of a step whose check is a question.
pub fn quiz(step: &Step) -> Option<Quiz> {
    match step.check.as_ref()?.spec().ok()?.goal {
        Goal::Quiz(q) => Some(q),
        _ => None,
    }
}

/// `a`, `b`, `c`... for choice indices.
pub fn letter(i: usize) -> char {
    u8::try_from(i)
        .ok()
        .filter(|i| *i < 26)
        .map_or('?', |i| char::from(b'a' + i))
}

/// A hint heading that only says "Hint" (or "Indice", "Another hint"...):
/// the label "Hint 1/2" says it already.
pub fn generic_hint_label(label: &str) -> bool {
    let l = label.trim().to_lowercase();
    let l = l.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '.');
    matches!(
        l,
        "" | "hint"
            | "hints"
            | "another hint"
            | "one more hint"
            | "indice"
            | "indices"
            | "un autre indice"
            | "autre indice"
            | "encore un indice"
    )
}

/// `dir` as one shell word (`~/` stays outside the quotes so that it
/// expands).
pub fn shell_word(dir: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c);
    let (home, rest) = match dir.strip_prefix("~/") {
        Some(rest) => ("~/", rest),
        None => ("", dir),
    };
    if rest.chars().all(plain) {
        format!("{home}{rest}")
    } else {
        format!("{home}'{}'", rest.replace('\'', r"'\''"))
    }
}

/// What the page is rendered with besides the lesson and its steps.
pub struct PageEnv<'a> {
    pub width: u16,
    pub theme: Theme,
    /// The code block that `y` copies, if any.
    pub focused_code: Option<usize>,
    pub strings: &'a Strings,
    /// The lab directory, named at the top of the page.
    pub lab: Option<&'a str>,
    /// The sandbox's kubeconfig, exported in the same opening block.
    pub kubeconfig: Option<String>,
    /// What the cluster offers, for adaptive text.
    pub facts: &'a Facts,
    /// The course's shell: the opening block names it instead of the
    /// `export`/`cd` lines.
    pub shell: Option<ShellHeader>,
}

/// What the opening block says about the course's shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellHeader {
    /// The shell pane is on (`t` opens it).
    pub pane: bool,
    /// The command that opens the same shell in another terminal.
    pub command: String,
}

pub fn build(lesson: &Lesson, steps: &[StepView], env: &PageEnv<'_>) -> Page {
    let PageEnv {
        width,
        theme,
        focused_code,
        strings: s,
        lab,
        ref kubeconfig,
        facts,
        ref shell,
    } = *env;
    let adapt = |text: &str| adapt(text, facts).into_owned();
    let mut b = DocBuilder::new(width, theme, focused_code).copy_label(s.copy_label);
    if shell.as_ref().is_some_and(|h| h.pane) {
        b = b.command_label(s.command_label);
    }
    // Where the lessons' `assets/...` paths are: said before anything else.
    // On the sandbox, with the line that points kubectl at it: a learner
    // copies the whole block (y) into their terminal.
    if let Some(dir) = lab {
        match (shell, kubeconfig) {
            // The course's shell is aimed at the cluster and the lab
            // already: the block is the one command that opens it.
            (Some(sh), _) => {
                let note = if sh.pane {
                    s.lab_note_pane
                } else {
                    s.lab_note_shell
                };
                b.paragraph(vec![Span::styled(fill(note, &[&dir]), theme.strong())]);
                b.markdown(&format!("```sh\n{}\n```", sh.command));
            }
            (None, Some(path)) => {
                b.paragraph(vec![Span::styled(s.lab_note_sandbox, theme.strong())]);
                b.markdown(&format!(
                    "```sh\nexport KUBECONFIG={}\ncd {}\n```",
                    shell_word(path),
                    shell_word(dir)
                ));
            }
            (None, None) => {
                b.paragraph(vec![Span::styled(s.lab_note, theme.strong())]);
                b.markdown(&format!("```sh\ncd {}\n```", shell_word(dir)));
            }
        }
    }
    b.markdown(&adapt(&lesson.intro.source));
    let n = lesson.steps.len();
    let mut page = Page::default();
    for (i, step) in lesson.steps.iter().enumerate() {
        let view = steps.get(i).copied().unwrap_or_default();
        let (m, style) = marker(&theme, view.state);
        let heading = theme.heading(2);
        let at = b.paragraph(vec![
            Span::styled(format!("{m} "), style),
            Span::styled(fill(s.step_heading, &[&(i + 1), &n]), heading),
            Span::styled(step.title.clone(), heading),
        ]);
        page.step_lines.push(at);
        b.markdown(&adapt(&step.body.source));
        if let Some(q) = quiz(step) {
            let done = view.state == StepState::Done;
            b.paragraph(vec![Span::styled(q.question.clone(), theme.strong())]);
            for (c, choice) in q.choices.iter().enumerate() {
                let right = done && q.answers.contains(&c);
                let (mark, st) = if right {
                    (theme.markers()[2], theme.done())
                } else {
                    (" ", ratatui::style::Style::new())
                };
                b.list_line(vec![
                    Span::styled(format!("{mark} "), st),
                    Span::styled(format!("{}) ", letter(c)), theme.list_marker()),
                    Span::styled(choice.clone(), st),
                ]);
            }
            if done {
                if let Some(ex) = &q.explain {
                    b.markdown(&quoted(ex));
                }
            } else {
                b.paragraph(vec![Span::styled(s.quiz_prompt, theme.dim())]);
            }
        }
        let mut hints = Vec::new();
        for (k, hint) in step.hints.iter().take(view.hints as usize).enumerate() {
            let label = if generic_hint_label(&hint.label) {
                fill(s.hint, &[&(k + 1), &step.hints.len()])
            } else {
                fill(
                    s.hint_labelled,
                    &[
                        &(k + 1) as &dyn std::fmt::Display,
                        &step.hints.len(),
                        &hint.label.trim(),
                    ],
                )
            };
            hints.push(b.paragraph(vec![Span::styled(label, theme.hint_label())]));
            b.markdown(&quoted(&adapt(&hint.body.source)));
        }
        page.hint_lines.push(hints);
        let sol = match (&step.solution, view.solution) {
            (Some(sol), true) => {
                let at = b.paragraph(vec![Span::styled(s.solution, theme.solution_label())]);
                b.markdown(&quoted(&adapt(&sol.source)));
                Some(at)
            }
            _ => None,
        };
        page.solution_lines.push(sol);
    }
    page.doc = b.finish();
    page
}

#[cfg(test)]
mod tests {
    use super::rescale;

    /// The page's text as plain lines.
    fn page_text(facts: &crate::lesson::adapt::Facts) -> String {
        page_text_with(facts, None, None, None)
    }

    fn page_text_with(
        facts: &crate::lesson::adapt::Facts,
        lab: Option<&str>,
        kubeconfig: Option<&str>,
        shell: Option<super::ShellHeader>,
    ) -> String {
        let course = crate::course::Course::embedded().unwrap();
        let lesson = course
            .lesson(crate::lesson::Lang::En, "persistent-volume-claims")
            .unwrap()
            .clone();
        let page = super::build(
            &lesson,
            &[],
            &super::PageEnv {
                width: 100,
                theme: crate::tui::theme::Theme::default(),
                focused_code: None,
                strings: crate::tui::strings::strings(crate::lesson::Lang::En),
                lab,
                kubeconfig: kubeconfig.map(str::to_string),
                facts,
                shell,
            },
        );
        page.doc
            .lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_page_opens_with_the_lab_directory_and_the_sandbox_kubeconfig() {
        use crate::lesson::adapt::Facts;
        let real = page_text_with(&Facts::default(), Some("/home/ana/lab"), None, None);
        assert!(real.contains("cd /home/ana/lab"), "{real}");
        assert!(!real.contains("export KUBECONFIG"), "{real}");
        let sandbox = page_text_with(
            &Facts::default(),
            Some("/home/ana/lab"),
            Some("/home/ana/.local/share/kubetutor/sandbox/kubeconfig"),
            None,
        );
        let export = sandbox
            .find("export KUBECONFIG=/home/ana/.local/share/kubetutor/sandbox/kubeconfig")
            .expect("the export line, in full");
        let cd = sandbox.find("cd /home/ana/lab").expect("the cd line");
        assert!(export < cd);
        assert!(sandbox.contains("point kubectl at the sandbox"));
    }

    #[test]
    fn the_page_opens_with_the_course_shell_when_there_is_one() {
        use crate::lesson::adapt::Facts;
        let header = |pane| {
            page_text_with(
                &Facts::default(),
                Some("~/lab"),
                Some("/home/ana/.local/share/kubetutor/sandbox/kubeconfig"),
                Some(super::ShellHeader {
                    pane,
                    command: "kubetutor shell".into(),
                }),
            )
        };
        let pane = header(true);
        assert!(pane.contains("shell pane: t opens it"), "{pane}");
        assert!(pane.contains("~/lab"), "{pane}");
        assert!(pane.contains("kubetutor shell"), "{pane}");
        assert!(!pane.contains("export KUBECONFIG"), "{pane}");
        let off = header(false);
        assert!(!off.contains("t opens it"), "{off}");
        assert!(off.contains("kubetutor shell"), "{off}");
    }

    #[test]
    fn lesson_text_follows_the_cluster() {
        use crate::lesson::adapt::Facts;
        let unknown = page_text(&Facts::default());
        assert!(unknown.contains("Depending on your class"), "{unknown}");
        let wffc = page_text(&Facts {
            binding: Some(Some("WaitForFirstConsumer".into())),
            ..Facts::default()
        });
        assert!(wffc.contains("waits for the first consumer"));
        assert!(!wffc.contains("Depending on your class"));
        assert!(!wffc.contains("<!--"));
        let none = page_text(&Facts {
            binding: Some(None),
            ..Facts::default()
        });
        assert!(none.contains("no default StorageClass"));
    }

    #[test]
    fn generic_hint_headings_are_not_repeated() {
        for l in [
            "Hint",
            "hint 2",
            "Another hint",
            "Indice",
            "Un autre indice",
            "",
        ] {
            assert!(super::generic_hint_label(l), "{l}");
        }
        assert!(!super::generic_hint_label("Where the data lives"));
    }

    #[test]
    fn rescale_follows_anchors() {
        let old = [0, 10, 20, 30];
        let new = [0, 20, 25, 40];
        assert_eq!(rescale(0, &old, &new), 0);
        assert_eq!(rescale(5, &old, &new), 10);
        assert_eq!(rescale(10, &old, &new), 20);
        assert_eq!(rescale(15, &old, &new), 23);
        assert_eq!(rescale(30, &old, &new), 40);
        // Different documents: proportional.
        assert_eq!(rescale(10, &[0, 20], &[0, 5, 40]), 20);
        assert_eq!(rescale(3, &[], &[]), 3);
        assert_eq!(rescale(3, &[0, 0], &[0, 0]), 0);
    }
}
