//! Lessons as plain, linear text: headings as lines, lists with `-`, code
//! blocks indented under a `Code:` line, tables read row by row, links with
//! their address, no box drawing, no styling. Lines are not wrapped: the
//! terminal or the screen reader does that.
//!
//! A lesson becomes a list of [`Block`]s (a paragraph, a whole list, a code
//! block; a heading stays with what follows it), which `next` and
//! `previous` walk, grouped in [`Section`]s: the introduction, then each
//! step with its question, revealed hints and solution.

use super::words::{Words, fill};
use crate::lesson::Lesson;
use crate::lesson::adapt::{Facts, adapt};
use crate::progress::StepState;
use crate::tui::highlight::CodeLang;
use crate::tui::page::{StepView, letter, quiz, shell_word};
use crate::tui::strings::Strings;
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// One unit of reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    pub lines: Vec<String>,
    /// What `copy` puts on the clipboard for each code block inside.
    pub codes: Vec<String>,
}

/// The introduction (`step: None`) or one step: a range of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub start: usize,
    pub end: usize,
    pub step: Option<usize>,
}

/// A lesson as plain text.
#[derive(Debug, Clone, Default)]
pub struct LessonText {
    pub blocks: Vec<Block>,
    pub sections: Vec<Section>,
}

impl LessonText {
    /// The section holding block `i`.
    pub fn section_of(&self, i: usize) -> Option<&Section> {
        self.sections.iter().find(|s| (s.start..s.end).contains(&i))
    }

    /// The section of step `step` (0-based).
    pub fn step_section(&self, step: usize) -> Option<&Section> {
        self.sections.iter().find(|s| s.step == Some(step))
    }

    /// Lines of blocks `range`, a blank line between blocks.
    pub fn lines(&self, range: std::ops::Range<usize>) -> Vec<String> {
        let mut out = Vec::new();
        for b in self.blocks.get(range).unwrap_or_default() {
            if !out.is_empty() {
                out.push(String::new());
            }
            out.extend(b.lines.iter().cloned());
        }
        out
    }
}

/// What the text is rendered with besides the lesson and its steps.
pub struct TextEnv<'a> {
    pub words: &'static Words,
    pub strings: &'static Strings,
    /// The lab directory, named at the top of the lesson.
    pub lab: Option<&'a str>,
    /// The sandbox's kubeconfig, exported in the same opening block.
    pub kubeconfig: Option<&'a str>,
    pub facts: &'a Facts,
}

/// The state word of a step.
pub fn state_word(words: &Words, state: StepState) -> &'static str {
    match state {
        StepState::Pending => words.states[0],
        StepState::Active => words.states[1],
        StepState::Done => words.states[2],
        StepState::Failing => words.states[3],
    }
}

/// The heading line of step `i` (0-based) of `n`.
pub fn step_heading(words: &Words, i: usize, n: usize, state: StepState, title: &str) -> String {
    fill(
        words.step_heading,
        &[&(i + 1), &n, &state_word(words, state), &title],
    )
}

/// The whole lesson: the lab note, the introduction (without the title
/// heading, which the lesson header says already), then every step.
pub fn lesson_text(lesson: &Lesson, steps: &[StepView], env: &TextEnv<'_>) -> LessonText {
    let w = env.words;
    let adapted = |text: &str| adapt(text, env.facts).into_owned();
    let mut out = LessonText::default();
    let mut intro = Vec::new();
    if let Some(dir) = env.lab {
        let (note, code) = match env.kubeconfig {
            Some(k) => (
                env.strings.lab_note_sandbox,
                format!(
                    "export KUBECONFIG={}\ncd {}",
                    shell_word(k),
                    shell_word(dir)
                ),
            ),
            None => (env.strings.lab_note, format!("cd {}", shell_word(dir))),
        };
        let mut b = Block {
            lines: vec![note.to_owned(), w.code.to_owned()],
            codes: vec![code.clone()],
        };
        b.lines.extend(code.lines().map(|l| format!("    {l}")));
        intro.push(b);
    }
    let mut body = markdown(&adapted(&lesson.intro.source), w);
    // The lesson header names the lesson: its `# Title` would repeat it.
    if let Some(first) = body.first_mut()
        && first.lines.first().map(|l| l.trim()) == Some(lesson.meta.title.trim())
    {
        first.lines.remove(0);
        if first.lines.is_empty() {
            body.remove(0);
        }
    }
    intro.extend(body);
    push_section(&mut out, intro, None);
    let n = lesson.steps.len();
    for (i, step) in lesson.steps.iter().enumerate() {
        let view = steps.get(i).copied().unwrap_or_default();
        let mut blocks = markdown(&adapted(&step.body.source), w);
        let heading = step_heading(w, i, n, view.state, &step.title);
        match blocks.first_mut() {
            Some(first) => first.lines.insert(0, heading),
            None => blocks.push(Block {
                lines: vec![heading],
                codes: Vec::new(),
            }),
        }
        if let Some(q) = quiz(step) {
            let done = view.state == StepState::Done;
            let mut b = Block {
                lines: vec![q.question.clone()],
                codes: Vec::new(),
            };
            for (c, choice) in q.choices.iter().enumerate() {
                b.lines.push(format!("- {}) {choice}", letter(c)));
            }
            if done {
                let right: Vec<String> = q.answers.iter().map(|a| letter(*a).to_string()).collect();
                b.lines
                    .push(fill(w.quiz_right_choice, &[&right.join(", ")]));
            } else if q.answers.len() > 1 {
                b.lines.push(w.quiz_prompt_many.to_owned());
            } else {
                b.lines.push(w.quiz_prompt.to_owned());
            }
            blocks.push(b);
            if done && let Some(ex) = &q.explain {
                blocks.extend(markdown(ex, w));
            }
        }
        for (k, hint) in step.hints.iter().take(view.hints as usize).enumerate() {
            let label = if crate::tui::page::generic_hint_label(&hint.label) {
                fill(w.hint, &[&(k + 1), &step.hints.len()])
            } else {
                fill(
                    w.hint_labelled,
                    &[
                        &(k + 1) as &dyn std::fmt::Display,
                        &step.hints.len(),
                        &hint.label.trim(),
                    ],
                )
            };
            blocks.extend(labelled(label, markdown(&adapted(&hint.body.source), w)));
        }
        if let (Some(sol), true) = (&step.solution, view.solution) {
            blocks.extend(labelled(
                w.solution.to_owned(),
                markdown(&adapted(&sol.source), w),
            ));
        }
        push_section(&mut out, blocks, Some(i));
    }
    out
}

/// `blocks` under a label line (in their first block).
pub fn labelled(label: String, mut blocks: Vec<Block>) -> Vec<Block> {
    match blocks.first_mut() {
        Some(first) => first.lines.insert(0, label),
        None => blocks.push(Block {
            lines: vec![label],
            codes: Vec::new(),
        }),
    }
    blocks
}

fn push_section(out: &mut LessonText, blocks: Vec<Block>, step: Option<usize>) {
    let start = out.blocks.len();
    out.blocks.extend(blocks);
    out.sections.push(Section {
        start,
        end: out.blocks.len(),
        step,
    });
}

/// A container that indents the lines inside it.
#[derive(Debug)]
enum Frame {
    /// A list item: its marker on the first line, spaces after.
    Item {
        marker: String,
        used: bool,
    },
    Quote,
    /// A footnote or a definition: its label first, spaces after.
    Label {
        label: String,
        used: bool,
    },
}

#[derive(Debug, Default)]
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    in_head: bool,
}

/// Markdown to blocks.
struct Renderer {
    words: &'static Words,
    blocks: Vec<Block>,
    cur: Block,
    /// The current block is a heading alone: what follows joins it.
    heading_only: bool,
    frames: Vec<Frame>,
    inline: String,
    lists: Vec<Option<u64>>,
    links: Vec<String>,
    code: Option<(String, String)>,
    table: Option<Table>,
    cell: Option<String>,
}

/// Renders one markdown source to blocks.
pub fn markdown(src: &str, words: &'static Words) -> Vec<Block> {
    let mut r = Renderer {
        words,
        blocks: Vec::new(),
        cur: Block::default(),
        heading_only: false,
        frames: Vec::new(),
        inline: String::new(),
        lists: Vec::new(),
        links: Vec::new(),
        code: None,
        table: None,
        cell: None,
    };
    let opts = crate::lesson::parse::markdown_options() | Options::ENABLE_FOOTNOTES;
    for ev in Parser::new_ext(src, opts) {
        r.event(ev);
    }
    r.flush_inline();
    if let Some((info, code)) = r.code.take() {
        r.code_block(&info, &code);
    }
    r.close_block();
    r.blocks
}

impl Renderer {
    /// A new top-level block starts (inside a container, the container's
    /// block goes on).
    fn block_start(&mut self) {
        self.flush_inline();
        if self.frames.is_empty() && !self.heading_only {
            self.close_block();
        }
        self.heading_only = false;
    }

    fn close_block(&mut self) {
        if !self.cur.lines.is_empty() {
            self.blocks.push(std::mem::take(&mut self.cur));
        }
        self.heading_only = false;
    }

    /// The indentation of a line inside the current containers.
    fn prefix(&mut self) -> String {
        let mut p = String::new();
        for f in &mut self.frames {
            match f {
                Frame::Item { marker, used }
                | Frame::Label {
                    label: marker,
                    used,
                } => {
                    if *used {
                        p.extend(std::iter::repeat_n(' ', marker.chars().count()));
                    } else {
                        *used = true;
                        p.push_str(marker);
                    }
                }
                Frame::Quote => p.push_str("  "),
            }
        }
        p
    }

    fn emit(&mut self, text: &str) {
        let p = self.prefix();
        self.cur
            .lines
            .push(format!("{p}{text}").trim_end().to_owned());
    }

    fn flush_inline(&mut self) {
        if self.inline.trim().is_empty() {
            self.inline.clear();
            return;
        }
        let text = std::mem::take(&mut self.inline);
        for l in text.split('\n') {
            let l = collapse(l);
            if !l.is_empty() {
                self.emit(&l);
            }
        }
    }

    fn push(&mut self, text: &str) {
        match self.cell.as_mut() {
            Some(c) => c.push_str(text),
            None => self.inline.push_str(text),
        }
    }

    fn event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(s) => match self.code.as_mut() {
                Some((_, code)) => code.push_str(&s),
                None => self.push(&s),
            },
            Event::Code(s) | Event::InlineMath(s) | Event::DisplayMath(s) => self.push(&s),
            Event::SoftBreak => self.push(" "),
            Event::HardBreak => match self.cell {
                Some(_) => self.push(" "),
                None => self.push("\n"),
            },
            Event::Rule => self.block_start(),
            Event::TaskListMarker(done) => self.push(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(name) => self.push(&format!("[{name}]")),
            // Raw HTML (comments, <br>) has no place in plain text.
            Event::Html(_) | Event::InlineHtml(_) => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                if self.frames.is_empty() {
                    self.block_start();
                } else {
                    self.flush_inline();
                }
            }
            Tag::Heading { .. } => {
                self.block_start();
            }
            Tag::BlockQuote(_) => {
                self.block_start();
                self.frames.push(Frame::Quote);
            }
            Tag::CodeBlock(kind) => {
                if self.frames.is_empty() {
                    self.block_start();
                } else {
                    self.flush_inline();
                }
                let info = match kind {
                    CodeBlockKind::Fenced(i) => i.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((info, String::new()));
            }
            Tag::List(start) => {
                if self.lists.is_empty() && self.frames.is_empty() {
                    self.block_start();
                } else {
                    self.flush_inline();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush_inline();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "- ".to_owned(),
                };
                self.frames.push(Frame::Item {
                    marker,
                    used: false,
                });
            }
            Tag::Table(_) => {
                self.block_start();
                self.table = Some(Table::default());
            }
            Tag::TableHead => {
                if let Some(t) = self.table.as_mut() {
                    t.in_head = true;
                }
            }
            Tag::TableRow => {
                if let Some(t) = self.table.as_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => self.cell = Some(String::new()),
            Tag::Link { dest_url, .. } => self.links.push(dest_url.to_string()),
            Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                self.push("(");
            }
            Tag::FootnoteDefinition(name) => {
                self.block_start();
                self.frames.push(Frame::Label {
                    label: format!("[{name}]: "),
                    used: false,
                });
            }
            Tag::DefinitionListDefinition => {
                self.flush_inline();
                self.frames.push(Frame::Label {
                    label: "  ".to_owned(),
                    used: false,
                });
            }
            Tag::HtmlBlock | Tag::MetadataBlock(_) | Tag::DefinitionList => self.block_start(),
            Tag::DefinitionListTitle => self.flush_inline(),
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.flush_inline();
                // The heading waits for its first paragraph.
                self.heading_only = self.frames.is_empty();
            }
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => {
                self.flush_inline();
            }
            TagEnd::BlockQuote(_) => {
                self.flush_inline();
                self.frames.pop();
            }
            TagEnd::CodeBlock => {
                if let Some((info, code)) = self.code.take() {
                    self.code_block(&info, &code);
                }
            }
            TagEnd::List(_) => {
                self.flush_inline();
                self.lists.pop();
            }
            TagEnd::Item => {
                self.flush_inline();
                // An empty item still shows its marker.
                if matches!(self.frames.last(), Some(Frame::Item { used: false, .. })) {
                    self.emit("");
                }
                self.frames.pop();
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.table_lines(t);
                }
            }
            TagEnd::TableHead => {
                if let Some(t) = self.table.as_mut() {
                    t.in_head = false;
                }
            }
            TagEnd::TableCell => {
                let cell = collapse(&self.cell.take().unwrap_or_default());
                if let Some(t) = self.table.as_mut() {
                    if t.in_head {
                        t.head.push(cell);
                    } else if let Some(row) = t.rows.last_mut() {
                        row.push(cell);
                    }
                }
            }
            TagEnd::TableRow => {}
            TagEnd::Link => {
                let url = self.links.pop().unwrap_or_default();
                let text = self.cell.as_deref().unwrap_or(&self.inline);
                let shown = text.ends_with(url.trim_start_matches("mailto:"));
                if !url.is_empty() && !shown {
                    self.push(&format!(" ({url})"));
                }
            }
            TagEnd::Image => {
                let url = self.links.pop().unwrap_or_default();
                // `(alt` was pushed at the start: make it `(image: alt)`.
                let text = match self.cell.as_mut() {
                    Some(c) => c,
                    None => &mut self.inline,
                };
                if let Some(open) = text.rfind('(') {
                    let alt = text.split_off(open + 1);
                    text.push_str(&fill(self.words.image, &[&alt.trim()]));
                }
                if !url.is_empty() {
                    text.push_str(&format!(", {url}"));
                }
                text.push(')');
            }
            TagEnd::FootnoteDefinition | TagEnd::DefinitionListDefinition => {
                self.flush_inline();
                self.frames.pop();
            }
            TagEnd::DefinitionList | TagEnd::DefinitionListTitle => self.flush_inline(),
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {}
        }
    }

    fn code_block(&mut self, info: &str, code: &str) {
        let code = code.strip_suffix('\n').unwrap_or(code);
        let lang = CodeLang::detect(info, code);
        self.emit(self.words.code);
        for l in code.lines() {
            let l = l.replace('\t', "    ");
            self.emit(&format!("    {l}"));
        }
        self.cur
            .codes
            .push(crate::tui::markdown::copy_text(lang, code));
    }

    /// A table read row by row: `- Header: cell; Header: cell`.
    fn table_lines(&mut self, t: Table) {
        for row in &t.rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_empty())
                .map(|(i, c)| match t.head.get(i).filter(|h| !h.is_empty()) {
                    Some(h) => format!("{h}: {c}"),
                    None => c.clone(),
                })
                .collect();
            self.emit(&format!("- {}", cells.join("; ")));
        }
    }
}

/// Runs of spaces as one, and no space at the ends.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::Lang;

    fn text(src: &str) -> String {
        markdown(src, super::super::words::words(Lang::En))
            .iter()
            .map(|b| b.lines.join("\n"))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    #[test]
    fn headings_lists_and_code_as_plain_lines() {
        let src = "# Title\n\nSome *text* with `code`\nand a soft break.\n\n\
                   - one\n- two\n  - nested\n\n1. first\n2. second\n\n\
                   ```sh\n$ kubectl get pods\nNAME\n```\n";
        assert_eq!(
            text(src),
            "Title\nSome text with code and a soft break.\n\n\
             - one\n- two\n  - nested\n\n1. first\n2. second\n\n\
             Code:\n    $ kubectl get pods\n    NAME"
        );
        let blocks = markdown(src, super::super::words::words(Lang::En));
        assert_eq!(blocks[3].codes, vec!["kubectl get pods".to_owned()]);
    }

    #[test]
    fn links_images_tables_and_quotes() {
        let src = "See [the docs](https://k8s.io) or <https://x.y>.\n\n\
                   ![a diagram](d.png)\n\n\
                   | Mode | Meaning |\n|---|---|\n| RWO | one node |\n| RWX | many |\n\n\
                   > **Note.** quoted\n> text\n";
        assert_eq!(
            text(src),
            "See the docs (https://k8s.io) or https://x.y.\n\n\
             (image: a diagram, d.png)\n\n\
             - Mode: RWO; Meaning: one node\n- Mode: RWX; Meaning: many\n\n  Note. quoted text"
        );
    }

    #[test]
    fn html_comments_vanish_and_code_in_a_list_stays_in_it() {
        let src = "<!-- when binding: none -->\ntext\n<!-- end -->\n\n\
                   - apply:\n\n  ```yaml\n  kind: Pod\n  ```\n";
        assert_eq!(text(src), "text\n\n- apply:\n  Code:\n      kind: Pod");
    }

    #[test]
    fn every_lesson_renders_without_box_drawing_or_control_characters() {
        let course = crate::course::Course::embedded().unwrap();
        for lang in Lang::ALL {
            for l in course.lessons(lang) {
                let views: Vec<StepView> = l
                    .steps
                    .iter()
                    .map(|_| StepView {
                        state: StepState::Done,
                        hints: 9,
                        solution: true,
                    })
                    .collect();
                let env = TextEnv {
                    words: super::super::words::words(lang),
                    strings: crate::tui::strings::strings(lang),
                    lab: Some("/tmp/lab dir"),
                    kubeconfig: Some("/tmp/k"),
                    facts: &Facts::default(),
                };
                let t = lesson_text(l, &views, &env);
                assert_eq!(t.sections.len(), l.steps.len() + 1);
                let all = t.lines(0..t.blocks.len()).join("\n");
                for c in all.chars() {
                    assert!(
                        !('\u{2500}'..='\u{259f}').contains(&c) && (!c.is_control() || c == '\n'),
                        "{} has {c:?}",
                        l.path
                    );
                }
                assert!(all.contains("cd '/tmp/lab dir'"), "{all}");
                assert!(!all.contains("```"), "{}", l.path);
                assert!(!all.contains("<!--"), "{}", l.path);
            }
        }
    }

    #[test]
    fn a_step_has_its_heading_question_hints_and_solution() {
        let course = crate::course::Course::embedded().unwrap();
        let l = course.lesson(Lang::En, "ephemeral-filesystem").unwrap();
        let why = l.step_index("why").unwrap();
        let mut views = vec![StepView::default(); l.steps.len()];
        views[why] = StepView {
            state: StepState::Active,
            hints: 1,
            solution: false,
        };
        let env = TextEnv {
            words: super::super::words::words(Lang::En),
            strings: crate::tui::strings::strings(Lang::En),
            lab: None,
            kubeconfig: None,
            facts: &Facts::default(),
        };
        let t = lesson_text(l, &views, &env);
        let s = t.step_section(why).unwrap();
        let lines = t.lines(s.start..s.end).join("\n");
        assert!(
            lines.starts_with("Step 5 of 6, current: Why did they vanish?\n"),
            "{lines}"
        );
        assert!(lines.contains("\n- b) The file was in the container's writable layer"));
        assert!(lines.contains("To answer, type answer and the letter"));
        assert!(
            lines.contains("Hint 1 of 1:\nThe replacement's log"),
            "{lines}"
        );
        assert!(!lines.contains("Solution:"));
        // The intro has no `# Title` (the lesson header says it).
        let intro = t.lines(0..t.sections[0].end).join("\n");
        assert!(intro.starts_with("A container can write files"), "{intro}");
    }
}
