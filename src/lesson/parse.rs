//! Markdown lesson files → `Lesson`.
//!
//! The parser walks pulldown-cmark events with their source offsets, so
//! every step, check block and hint keeps the `line:col` it came from, and
//! the markdown handed to the renderer is the author's text, verbatim.
//! It collects as many diagnostics as it can instead of stopping at the first.

use super::model::{CheckBlock, Diagnostic, FrontMatter, Hint, Lang, Lesson, Markdown, Pos, Step};
use crate::check::spec::{is_slug, parse_check, yaml_error};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::ops::Range;

/// The pulldown-cmark options lessons are written for; the renderer should
/// use the same so both see the same structure.
pub fn markdown_options() -> Options {
    Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// Parse one lesson file. `path` is only used in diagnostics.
pub fn parse_lesson(path: &str, lang: Lang, text: &str) -> Result<Lesson, Vec<Diagnostic>> {
    let mut p = LessonParser::new(path, text);
    let meta = p.front_matter();
    let (intro, steps) = p.body();
    match meta {
        Some(meta) if p.diags.is_empty() => Ok(Lesson {
            lang,
            path: path.to_string(),
            meta,
            intro,
            steps,
        }),
        _ => {
            let mut diags = p.diags;
            diags.sort_by_key(|d| (d.pos.line, d.pos.col));
            Err(diags)
        }
    }
}

/// Byte offsets → 1-based line:col (col counted in chars).
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LineIndex {
            text,
            starts: line_starts(text),
        }
    }

    pub(crate) fn pos(&self, offset: usize) -> Pos {
        pos_at(self.text, &self.starts, offset)
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    starts
}

fn pos_at(text: &str, starts: &[usize], offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let line = starts.partition_point(|&s| s <= offset).max(1);
    let start = starts.get(line - 1).copied().unwrap_or(0);
    let col = text
        .get(start..offset)
        .map(|s| s.chars().count())
        .unwrap_or(0);
    Pos { line, col: col + 1 }
}

struct LessonParser<'a> {
    path: &'a str,
    /// The source with CRLF turned into LF (line numbers do not change).
    text: String,
    /// Byte offset of each line start in `text`.
    starts: Vec<usize>,
    /// Where the markdown body starts (after the front matter).
    body_start: usize,
    diags: Vec<Diagnostic>,
}

/// A level-2/3 heading or a check block at the top level of the body.
#[derive(Debug)]
enum Mark {
    Step {
        range: Range<usize>,
        id: Option<String>,
        title: String,
    },
    Section {
        range: Range<usize>,
        solution: bool,
        /// Both `.hint` and `.solution`: an error.
        both: bool,
        label: String,
    },
    /// Any other heading of level ≤ 3: ends a hint/solution section.
    OtherHeading { range: Range<usize> },
    Check {
        range: Range<usize>,
        content: String,
        content_start: usize,
    },
}

/// A heading whose text is being read.
struct OpenHeading {
    level: HeadingLevel,
    range: Range<usize>,
    id: Option<String>,
    classes: Vec<String>,
    title: String,
}

impl Mark {
    fn start(&self) -> usize {
        match self {
            Mark::Step { range, .. }
            | Mark::Section { range, .. }
            | Mark::OtherHeading { range }
            | Mark::Check { range, .. } => range.start,
        }
    }
}

impl<'a> LessonParser<'a> {
    fn new(path: &'a str, text: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = text.replace("\r\n", "\n");
        LessonParser {
            path,
            starts: line_starts(&text),
            text,
            body_start: 0,
            diags: Vec::new(),
        }
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.path.to_string(),
            pos,
            message: message.into(),
        });
    }

    /// Split off and deserialise the front matter. Sets `body_start`.
    fn front_matter(&mut self) -> Option<FrontMatter> {
        const FIELDS: &str = "id, title, summary, minutes, order";
        let top = Pos { line: 1, col: 1 };
        if self.text.trim().is_empty() {
            self.error(
                top,
                format!("the file is empty: a lesson starts with front matter ({FIELDS}) between two `---` lines, then its steps"),
            );
            self.body_start = self.text.len();
            return None;
        }
        let mut lines = self.text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some("---") {
            self.error(
                top,
                format!("missing front matter: start the file with a line `---`, then the YAML fields ({FIELDS}), then another `---`"),
            );
            return None;
        }
        let yaml_start = self.text.find('\n').map_or(self.text.len(), |i| i + 1);
        let mut offset = yaml_start;
        let mut close = None;
        for line in lines {
            let t = line.trim_end();
            if t == "---" || t == "..." {
                close = Some((offset, offset + line.len()));
                break;
            }
            offset += line.len();
        }
        let Some((yaml_end, body_start)) = close else {
            self.error(
                top,
                "the front matter is never closed: add a line `---` after its last field",
            );
            self.body_start = self.text.len();
            return None;
        };
        self.body_start = body_start;
        let yaml = self.text[yaml_start..yaml_end].to_string();
        let first_line = self.pos(yaml_start).line;
        if yaml.trim().is_empty() {
            self.error(
                Pos {
                    line: first_line,
                    col: 1,
                },
                format!("the front matter is empty: give {FIELDS}"),
            );
            return None;
        }
        let meta: FrontMatter = match serde_saphyr::from_str(&yaml) {
            Ok(m) => m,
            Err(e) => {
                let (rel, msg) = yaml_error(&e);
                self.error(
                    Pos {
                        line: first_line + rel.line - 1,
                        col: rel.col,
                    },
                    format!("front matter: {msg}"),
                );
                return None;
            }
        };
        let field_pos = |name: &str| {
            let line = yaml
                .lines()
                .position(|l| l.starts_with(&format!("{name}:")))
                .unwrap_or(0);
            Pos {
                line: first_line + line,
                col: 1,
            }
        };
        if !is_slug(&meta.id, '-') {
            self.error(
                field_pos("id"),
                format!(
                    "lesson id `{}`: use lowercase letters, digits and dashes (e.g. `ephemeral-filesystem`)",
                    meta.id
                ),
            );
        }
        for (name, value) in [("title", &meta.title), ("summary", &meta.summary)] {
            if value.trim().is_empty() {
                self.error(field_pos(name), format!("the lesson `{name}` is empty"));
            }
        }
        if meta.requires.min_nodes == Some(0) {
            self.error(
                field_pos("requires"),
                "`requires.min_nodes` must be at least 1",
            );
        }
        Some(meta)
    }

    /// Find steps, check blocks and hint/solution sections in the body.
    fn marks(&self) -> Vec<Mark> {
        let body = &self.text[self.body_start..];
        let base = self.body_start;
        let mut marks = Vec::new();
        let mut depth = 0usize;
        // The heading or check block being read: its mark and its text.
        let mut heading: Option<OpenHeading> = None;
        let mut check: Option<(Range<usize>, String, Option<usize>)> = None;
        for (event, range) in Parser::new_ext(body, markdown_options()).into_offset_iter() {
            let range = range.start + base..range.end + base;
            match event {
                Event::Start(Tag::Heading {
                    level, id, classes, ..
                }) => {
                    if depth == 0 {
                        heading = Some(OpenHeading {
                            level,
                            range,
                            id: id.map(|s| s.to_string()),
                            classes: classes.iter().map(|c| c.to_string()).collect(),
                            title: String::new(),
                        });
                    }
                    depth += 1;
                }
                Event::End(TagEnd::Heading(_)) => {
                    depth = depth.saturating_sub(1);
                    if depth == 0
                        && let Some(OpenHeading {
                            level,
                            range,
                            id,
                            classes,
                            title,
                        }) = heading.take()
                    {
                        let title = title.trim().to_string();
                        let hint = classes.iter().any(|c| c == "hint");
                        let solution = classes.iter().any(|c| c == "solution");
                        match level {
                            HeadingLevel::H2 => marks.push(Mark::Step { range, id, title }),
                            HeadingLevel::H3 if hint || solution => marks.push(Mark::Section {
                                range,
                                solution,
                                both: hint && solution,
                                label: title,
                            }),
                            HeadingLevel::H1 | HeadingLevel::H3 => {
                                marks.push(Mark::OtherHeading { range })
                            }
                            _ => {}
                        }
                    }
                }
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                    if info.split_whitespace().next() == Some("check") {
                        check = Some((range, String::new(), None));
                    }
                    depth += 1;
                }
                Event::End(TagEnd::CodeBlock) => {
                    depth = depth.saturating_sub(1);
                    if let Some((range, content, first)) = check.take() {
                        // An empty block: its YAML would start on the line
                        // after the opening fence.
                        let content_start = first.unwrap_or_else(|| {
                            self.text[range.start..range.end]
                                .find('\n')
                                .map_or(range.end, |i| range.start + i + 1)
                        });
                        marks.push(Mark::Check {
                            range,
                            content,
                            content_start,
                        });
                    }
                }
                Event::Start(_) => depth += 1,
                Event::End(_) => depth = depth.saturating_sub(1),
                Event::Text(t) | Event::Code(t) => {
                    if let Some((_, content, first)) = check.as_mut() {
                        first.get_or_insert(range.start);
                        content.push_str(&t);
                    } else if let Some(h) = heading.as_mut() {
                        h.title.push_str(&t);
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some(h) = heading.as_mut() {
                        h.title.push(' ');
                    }
                }
                _ => {}
            }
        }
        marks
    }

    fn pos(&self, offset: usize) -> Pos {
        pos_at(&self.text, &self.starts, offset)
    }

    /// Verbatim markdown for `range`, without leading blank lines and
    /// trailing whitespace; `pos` is where the kept text starts.
    fn markdown(&self, pieces: &[Range<usize>]) -> Markdown {
        let mut source = String::new();
        let mut start = None;
        for r in pieces {
            let mut s = &self.text[r.clone()];
            if start.is_none() {
                let trimmed = s.trim_start_matches(['\n', ' ', '\t']);
                // Keep the indentation of the first line, drop blank lines.
                let blank = s.len() - trimmed.len();
                let cut = s[..blank].rfind('\n').map_or(0, |i| i + 1);
                s = &s[cut..];
                if s.trim().is_empty() {
                    continue;
                }
                start = Some(r.start + cut);
            }
            if source.is_empty() {
                source.push_str(s);
            } else if !s.trim().is_empty() {
                // Where a check block or a hint was cut out, keep a single
                // blank line between the blocks around it.
                source.truncate(source.trim_end_matches('\n').len());
                source.push_str("\n\n");
                source.push_str(s.trim_start_matches('\n'));
            }
        }
        let source = source.trim_end().to_string();
        let pos = start.map_or(Pos { line: 1, col: 1 }, |s| self.pos(s));
        Markdown { source, pos }
    }

    fn body(&mut self) -> (Markdown, Vec<Step>) {
        let marks = self.marks();
        let end = self.text.len();
        let first_step = marks
            .iter()
            .position(|m| matches!(m, Mark::Step { .. }))
            .unwrap_or(marks.len());
        let intro_end = marks.get(first_step).map_or(end, Mark::start);
        let intro = self.markdown(std::slice::from_ref(&(self.body_start..intro_end)));

        for m in &marks[..first_step] {
            match m {
                Mark::Check { range, .. } => {
                    let pos = self.pos(range.start);
                    self.error(pos, "this check block is not inside a step: move it under a `## Title {#id}` heading");
                }
                Mark::Section {
                    range, label, both, ..
                } => {
                    if *both {
                        let pos = self.pos(range.start);
                        self.error(pos, BOTH_CLASSES);
                    } else {
                        let pos = self.pos(range.start);
                        self.error(pos, format!("the section `{label}` is not inside a step: move it under a `## Title {{#id}}` heading"));
                    }
                }
                _ => {}
            }
        }
        if first_step == marks.len() && self.body_start < end {
            let pos = self.pos(self.body_start);
            self.error(
                pos,
                "the lesson has no steps: add sections like `## Write a message {#write-message}`, each with a ```check block",
            );
        }

        let mut steps: Vec<Step> = Vec::new();
        let mut i = first_step;
        while i < marks.len() {
            let Mark::Step { range, id, title } = &marks[i] else {
                i += 1;
                continue;
            };
            let next = marks[i + 1..]
                .iter()
                .position(|m| matches!(m, Mark::Step { .. }))
                .map_or(marks.len(), |p| p + i + 1);
            let region_end = marks.get(next).map_or(end, Mark::start);
            let step = self.step(
                range.clone(),
                id.clone(),
                title,
                &marks[i + 1..next],
                region_end,
            );
            if let Some(step) = step {
                if let Some(prev) = steps.iter().find(|s| s.id == step.id) {
                    let msg = format!(
                        "step id `{}` is already used at line {}: step ids must be unique in a lesson",
                        step.id, prev.pos.line
                    );
                    self.error(step.pos, msg);
                } else {
                    steps.push(step);
                }
            }
            i = next;
        }
        (intro, steps)
    }

    /// One step: the heading `range`, the marks inside it, up to `end`.
    fn step(
        &mut self,
        range: Range<usize>,
        id: Option<String>,
        title: &str,
        marks: &[Mark],
        end: usize,
    ) -> Option<Step> {
        let pos = self.pos(range.start);
        let id = match id {
            None => {
                self.error(
                    pos,
                    format!("step heading `{title}` has no id: write `## {title} {{#some-id}}`"),
                );
                None
            }
            Some(id) if !is_slug(&id, '-') => {
                self.error(
                    pos,
                    format!("step id `{id}`: use lowercase letters, digits and dashes"),
                );
                None
            }
            Some(id) => Some(id),
        };
        if title.is_empty() {
            self.error(pos, "the step heading has no title");
        }
        let name = id.clone().unwrap_or_else(|| title.to_string());

        // Hint/solution sections run until the next heading of level ≤ 3.
        let mut cut: Vec<Range<usize>> = Vec::new();
        let (hints, solution) = self.hints_and_solution(&name, marks, end, &mut cut);
        let check = self.check_block(&name, pos, marks, &mut cut);
        cut.sort_by_key(|r| r.start);
        let mut kept = Vec::new();
        let mut at = range.end;
        for c in &cut {
            if c.start > at {
                kept.push(at..c.start);
            }
            at = at.max(c.end);
        }
        if at < end {
            kept.push(at..end);
        }
        let body = self.markdown(&kept);
        let id = id?;
        Some(Step {
            id,
            title: title.to_string(),
            pos,
            body: Markdown {
                pos: if body.source.is_empty() {
                    pos
                } else {
                    body.pos
                },
                ..body
            },
            check,
            hints,
            solution,
        })
    }

    /// A step's hint and solution sections, each running until the next
    /// heading of level 3 or less; their ranges go into `cut`.
    fn hints_and_solution(
        &mut self,
        name: &str,
        marks: &[Mark],
        end: usize,
        cut: &mut Vec<Range<usize>>,
    ) -> (Vec<Hint>, Option<Markdown>) {
        let mut hints = Vec::new();
        let mut solution: Option<Markdown> = None;
        for (k, m) in marks.iter().enumerate() {
            let Mark::Section {
                range: head,
                solution: is_solution,
                both,
                label,
            } = m
            else {
                continue;
            };
            if *both {
                let p = self.pos(head.start);
                self.error(p, BOTH_CLASSES);
                continue;
            }
            let section_end = marks[k + 1..]
                .iter()
                .find(|m| matches!(m, Mark::Section { .. } | Mark::OtherHeading { .. }))
                .map_or(end, Mark::start);
            cut.push(head.start..section_end);
            let body = self.markdown(std::slice::from_ref(&(head.end..section_end)));
            let head_pos = self.pos(head.start);
            let what = if *is_solution { "solution" } else { "hint" };
            if label.is_empty() {
                self.error(
                    head_pos,
                    format!("this {what} heading has no label: write e.g. `### Hint {{.hint}}`"),
                );
            }
            if body.source.is_empty() {
                self.error(
                    head_pos,
                    format!("the {what} `{label}` is empty: write its text below the heading"),
                );
            }
            if *is_solution {
                if solution.is_some() {
                    self.error(
                        head_pos,
                        format!(
                            "step `{name}` has a second solution: keep one `{{.solution}}` section"
                        ),
                    );
                } else {
                    solution = Some(body);
                }
            } else {
                hints.push(Hint {
                    label: label.clone(),
                    body,
                });
            }
        }
        (hints, solution)
    }

    /// A step's one check block (errors for none, two, or one inside a hint
    /// or solution); its range goes into `cut`.
    fn check_block(
        &mut self,
        name: &str,
        pos: Pos,
        marks: &[Mark],
        cut: &mut Vec<Range<usize>>,
    ) -> Option<CheckBlock> {
        let mut check: Option<CheckBlock> = None;
        let mut checks_seen = 0;
        for m in marks {
            let Mark::Check {
                range,
                content,
                content_start,
            } = m
            else {
                continue;
            };
            let block_pos = self.pos(range.start);
            if cut.iter().any(|c| c.contains(&range.start)) {
                self.error(
                    block_pos,
                    "a check block inside a hint or solution: move it into the step itself",
                );
                continue;
            }
            cut.push(range.clone());
            checks_seen += 1;
            if checks_seen > 1 {
                self.error(
                block_pos,
                format!("step `{name}` has a second check block: a step has one, combine conditions with `all:`"),
            );
                continue;
            }
            let yaml_pos = self.pos(*content_start);
            match parse_check(content) {
                Ok(_) => {
                    let value = serde_saphyr::from_str::<serde_json::Value>(content)
                        .unwrap_or(serde_json::Value::Null);
                    check = Some(CheckBlock {
                        source: content.clone(),
                        pos: yaml_pos,
                        value,
                    });
                }
                Err((rel, msg)) => {
                    let line = yaml_pos.line + rel.line.max(1) - 1;
                    // Indented fences (in a list) shift every column.
                    let col = rel.col.max(1) + yaml_pos.col - 1;
                    self.error(Pos { line, col }, format!("check of step `{name}`: {msg}"));
                }
            }
        }
        if checks_seen == 0 {
            self.error(
                pos,
                format!(
                    "step `{name}` has no check: add a ```check block saying when the step is done"
                ),
            );
        }
        check
    }
}

const BOTH_CLASSES: &str =
    "a heading is either `{.hint}` or `{.solution}`, not both: keep one class";

#[cfg(test)]
mod tests {
    use super::*;

    const FM: &str =
        "---\nid: first\ntitle: First\nsummary: A lesson.\nminutes: 5\norder: 1\n---\n";

    fn lesson(body: &str) -> Lesson {
        match parse_lesson("l.md", Lang::En, &format!("{FM}{body}")) {
            Ok(l) => l,
            Err(d) => panic!(
                "{}",
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        match parse_lesson("l.md", Lang::En, text) {
            Ok(l) => panic!("expected errors, got {l:?}"),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        }
    }

    const CHECK: &str = "```check\nresource: {kind: Pod, name: a}\n```\n";

    #[test]
    fn parses_steps_hints_and_solution() {
        let l = lesson(&format!(
            "# Title\n\nIntro text.\n\n## Deploy it {{#deploy}}\n\nRun this:\n\n```sh\nkubectl apply -f x\n```\n\n{CHECK}\nAfter the check.\n\n### Hint {{.hint}}\n\nFirst hint.\n\n### Another {{.hint}}\n\nSecond.\n\n### Solution {{.solution}}\n\n```sh\nkubectl apply -f x\n```\n\n## Second {{#second}}\n\n{CHECK}"
        ));
        assert_eq!(l.meta.id, "first");
        assert_eq!(l.intro.source, "# Title\n\nIntro text.");
        assert_eq!(l.intro.pos, Pos { line: 8, col: 1 });
        assert_eq!(l.steps.len(), 2);
        let s = &l.steps[0];
        assert_eq!(s.id, "deploy");
        assert_eq!(s.title, "Deploy it");
        assert_eq!(s.pos, Pos { line: 12, col: 1 });
        assert_eq!(
            s.body.source,
            "Run this:\n\n```sh\nkubectl apply -f x\n```\n\nAfter the check."
        );
        assert_eq!(s.body.pos, Pos { line: 14, col: 1 });
        let c = s.check.as_ref().unwrap();
        assert_eq!(c.pos, Pos { line: 21, col: 1 });
        assert_eq!(c.source, "resource: {kind: Pod, name: a}\n");
        assert_eq!(c.value["resource"]["kind"], "Pod");
        assert!(c.spec().is_ok());
        assert_eq!(s.hints.len(), 2);
        assert_eq!(s.hints[0].label, "Hint");
        assert_eq!(s.hints[0].body.source, "First hint.");
        assert_eq!(s.hints[1].label, "Another");
        assert_eq!(s.hints[1].body.pos, Pos { line: 32, col: 1 });
        assert_eq!(
            s.solution.as_ref().unwrap().source,
            "```sh\nkubectl apply -f x\n```"
        );
        assert_eq!(l.steps[1].id, "second");
        assert!(l.steps[1].hints.is_empty());
    }

    #[test]
    fn h3_without_class_ends_a_hint_and_stays_in_the_body() {
        let l = lesson(&format!(
            "## S {{#s}}\n\n{CHECK}\n### Indice {{.hint}}\n\nCherche.\n\n### More\n\nBody again.\n"
        ));
        let s = &l.steps[0];
        assert_eq!(s.hints[0].label, "Indice");
        assert_eq!(s.hints[0].body.source, "Cherche.");
        assert_eq!(s.body.source, "### More\n\nBody again.");
    }

    #[test]
    fn crlf_line_endings() {
        let text = format!("{FM}## S {{#s}}\n\nText.\n\n{CHECK}").replace('\n', "\r\n");
        let l = parse_lesson("l.md", Lang::Fr, &text).unwrap();
        assert_eq!(l.steps[0].pos, Pos { line: 8, col: 1 });
        assert_eq!(l.steps[0].body.source, "Text.");
        assert!(!l.steps[0].check.as_ref().unwrap().source.contains('\r'));
    }

    #[test]
    fn empty_file() {
        let e = errors("");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("l.md:1:1: the file is empty"), "{e:?}");
        errors("\n  \n");
    }

    #[test]
    fn missing_front_matter() {
        let e = errors(&format!("# Hello\n\n## S {{#s}}\n\n{CHECK}"));
        assert!(e[0].contains("missing front matter"), "{e:?}");
    }

    #[test]
    fn unterminated_front_matter() {
        let e = errors("---\nid: x\ntitle: y\n");
        assert_eq!(
            e,
            vec![
                "l.md:1:1: the front matter is never closed: add a line `---` after its last field"
            ]
        );
    }

    #[test]
    fn bad_front_matter_yaml() {
        let e = errors(&format!("---\nid: [x\n---\n## S {{#s}}\n{CHECK}"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("l.md:2:"), "{e:?}");
        assert!(e[0].contains("front matter:"), "{e:?}");
    }

    #[test]
    fn unknown_front_matter_field() {
        let e = errors(&format!(
            "---\nid: x\ntitle: y\nsummary: z\nminutes: 1\norder: 1\nauthor: me\n---\n## S {{#s}}\n{CHECK}"
        ));
        assert!(
            e[0].starts_with("l.md:7:1: front matter: unknown field `author`"),
            "{e:?}"
        );
        let e = errors(&format!("---\nid: x\ntitle: y\n---\n## S {{#s}}\n{CHECK}"));
        assert!(e[0].contains("missing field"), "{e:?}");
        let e = errors(&format!(
            "---\nid: x\ntitle: y\nsummary: z\nminutes: 1\norder: 1\nrequires: {{gpu: true}}\n---\n## S {{#s}}\n{CHECK}"
        ));
        assert!(e[0].contains("unknown field `gpu`"), "{e:?}");
        let e = errors(&format!(
            "---\nid: Bad_Id\ntitle: y\nsummary: z\nminutes: 1\norder: 1\n---\n## S {{#s}}\n{CHECK}"
        ));
        assert!(e[0].starts_with("l.md:2:1: lesson id `Bad_Id`"), "{e:?}");
    }

    #[test]
    fn missing_step_id() {
        let e = errors(&format!("{FM}## Deploy it\n\n{CHECK}"));
        assert_eq!(
            e,
            vec!["l.md:8:1: step heading `Deploy it` has no id: write `## Deploy it {#some-id}`"]
        );
    }

    #[test]
    fn duplicate_step_id() {
        let e = errors(&format!(
            "{FM}## A {{#a}}\n\n{CHECK}\n## B {{#a}}\n\n{CHECK}"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("l.md:14:1: step id `a` is already used at line 8"),
            "{e:?}"
        );
    }

    #[test]
    fn step_without_check() {
        let e = errors(&format!("{FM}## A {{#a}}\n\nJust text.\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("l.md:8:1: step `a` has no check"), "{e:?}");
    }

    #[test]
    fn two_check_blocks() {
        let e = errors(&format!("{FM}## A {{#a}}\n\n{CHECK}\n{CHECK}"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("l.md:14:1: step `a` has a second check block"),
            "{e:?}"
        );
    }

    #[test]
    fn bad_check_yaml_points_into_the_block() {
        let e = errors(&format!(
            "{FM}## A {{#a}}\n\n```check\nresource:\n  kind: Pod\n  nmae: x\n```\n"
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("l.md:13:3: check of step `a`: unknown field `nmae`"),
            "{e:?}"
        );
        let e = errors(&format!("{FM}## A {{#a}}\n\n```check\n```\n"));
        assert!(
            e[0].starts_with("l.md:11:1: check of step `a`: the check block is empty"),
            "{e:?}"
        );
        let e = errors(&format!("{FM}## A {{#a}}\n\n```check\nresource: [\n```\n"));
        assert!(e[0].starts_with("l.md:11:"), "{e:?}");
    }

    #[test]
    fn several_errors_at_once_sorted() {
        let e = errors(&format!(
            "{FM}```check\nresource: {{kind: Pod}}\n```\n## A\n\ntext\n\n## B {{#b}}\n\n### Hint {{.hint}}\n\n## C {{#c}}\n{CHECK}### {{.hint .solution}}\n\nx\n"
        ));
        assert!(e.len() >= 5, "{e:?}");
        assert!(
            e[0].starts_with("l.md:8:1: this check block is not inside a step"),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("has no id")), "{e:?}");
        assert!(
            e.iter().any(|m| m.contains("step `b` has no check")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.contains("the hint `Hint` is empty")),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("not both")), "{e:?}");
        let lines: Vec<usize> = e
            .iter()
            .map(|m| m.split(':').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{e:?}");
    }

    #[test]
    fn no_steps() {
        let e = errors(&format!("{FM}# Only an intro\n"));
        assert!(e[0].contains("has no steps"), "{e:?}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "---",
            "---\n",
            "---\n---",
            "---\n---\n",
            "\u{feff}---\nid: a\n---\n",
            "---\r\nid: x\r\n",
            "---\n: : :\n---\n## {#}\n```check\n```",
            "---\n- a\n---\n## é {#é}\n",
            "---\nid: a\ntitle: b\nsummary: c\nminutes: 1\norder: 1\n---\n##  {#a}\n```check\nquiz: {question: q, choices: [a, b], answer: z}\n",
            "---\nid: a\ntitle: b\nsummary: c\nminutes: 1\norder: 1\n---\n- ## in list {#x}\n  ```check\n  resource: {kind: Pod}\n  ```\n",
        ] {
            let _ = parse_lesson("x.md", Lang::En, text);
        }
    }
}
