//! Markdown to ratatui `Text`, wrapped to a given width.
//!
//! The renderer wraps text itself (instead of letting `Paragraph` do it) so
//! that it knows on which line every code block starts: the instructions
//! pane scrolls to, highlights and copies code blocks by line index.

use super::highlight::{CodeLang, highlight};
use super::theme::Theme;
use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// A code block of the rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    /// Index of the block's first line (its header) in `Doc::lines`.
    pub start: usize,
    /// One past its last line.
    pub end: usize,
    pub lang: CodeLang,
    /// The text a copy puts on the clipboard.
    pub copy: String,
}

/// A rendered document: wrapped lines plus where the code blocks are.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub lines: Vec<Line<'static>>,
    pub code_blocks: Vec<CodeBlock>,
}

/// Renders one markdown source on its own (tests, help texts).
pub fn render(src: &str, width: u16, theme: &Theme) -> Doc {
    let mut b = DocBuilder::new(width, *theme, None);
    b.markdown(src);
    b.finish()
}

/// A container (list item, block quote) that prefixes every line inside it.
struct Frame {
    first: Span<'static>,
    rest: Span<'static>,
    first_used: bool,
}

struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Vec<Span<'static>>>>,
    head_rows: usize,
}

/// Builds a `Doc` from several markdown sources and pre-styled lines.
pub struct DocBuilder {
    theme: Theme,
    width: usize,
    /// Index (in this document) of the code block drawn as focused.
    focused_code: Option<usize>,
    doc: Doc,
    frames: Vec<Frame>,
    inline: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Next number of each open list (`None`: bullet list).
    lists: Vec<Option<u64>>,
    links: Vec<String>,
    code: Option<(String, String)>,
    table: Option<Table>,
    pending_blank: bool,
    copy_label: &'static str,
    /// The same for a shell block when the shell pane can run it.
    command_label: Option<&'static str>,
}

impl DocBuilder {
    pub fn new(width: u16, theme: Theme, focused_code: Option<usize>) -> Self {
        Self {
            theme,
            width: usize::from(width).max(1),
            focused_code,
            doc: Doc::default(),
            frames: Vec::new(),
            inline: Vec::new(),
            styles: Vec::new(),
            lists: Vec::new(),
            links: Vec::new(),
            code: None,
            table: None,
            pending_blank: false,
            copy_label: "y: copy",
            command_label: None,
        }
    }

    /// What the focused code block's header says about copying.
    pub fn copy_label(mut self, label: &'static str) -> Self {
        self.copy_label = label;
        self
    }

    /// What a focused shell block's header says (it can also be typed or
    /// run in the shell pane).
    pub fn command_label(mut self, label: &'static str) -> Self {
        self.command_label = Some(label);
        self
    }

    /// Number of lines so far.
    pub fn len(&self) -> usize {
        self.doc.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc.lines.is_empty()
    }

    /// Adds pre-styled text, wrapped, separated from what precedes it by a
    /// blank line. Returns the index of its first line.
    pub fn paragraph(&mut self, spans: Vec<Span<'static>>) -> usize {
        self.block_start();
        let at = self.len();
        for l in wrap(&spans, self.width) {
            self.emit(l);
        }
        self.pending_blank = true;
        at
    }

    /// Adds pre-styled text right under the previous line (no blank line),
    /// wrapped with a hanging indent the width of its first two spans.
    pub fn list_line(&mut self, spans: Vec<Span<'static>>) {
        self.flush_inline();
        self.pending_blank = false;
        let indent: usize = spans.iter().take(2).map(|s| s.content.width()).sum();
        let avail = self.avail().saturating_sub(indent).max(1);
        let (head, body) = spans.split_at(spans.len().min(2));
        for (i, mut l) in wrap(body, avail).into_iter().enumerate() {
            let mut line = if i == 0 {
                head.to_vec()
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            line.append(&mut l);
            self.emit(line);
        }
        self.pending_blank = true;
    }

    /// Appends a markdown source.
    pub fn markdown(&mut self, src: &str) {
        // The parser's options, so both see the same structure.
        let opts = crate::lesson::parse::markdown_options() | Options::ENABLE_FOOTNOTES;
        for ev in Parser::new_ext(src, opts) {
            self.event(ev);
        }
        self.flush_inline();
        // A source cut in the middle of a container must not leak prefixes
        // into the next one.
        self.frames.clear();
        self.lists.clear();
        self.styles.clear();
        self.links.clear();
        if let Some((info, code)) = self.code.take() {
            self.code_block(&info, &code);
        }
        if let Some(t) = self.table.take() {
            self.render_table(t);
        }
    }

    pub fn finish(mut self) -> Doc {
        self.flush_inline();
        while self
            .doc
            .lines
            .last()
            .is_some_and(|l| l.spans.iter().all(|s| s.content.trim().is_empty()))
        {
            self.doc.lines.pop();
        }
        self.doc
    }

    fn style(&self) -> Style {
        self.styles
            .iter()
            .fold(Style::new(), |acc, s| acc.patch(*s))
    }

    fn push_text(&mut self, text: &str, style: Style) {
        if let Some(t) = self.table.as_mut() {
            if let Some(cell) = t.rows.last_mut().and_then(|r| r.last_mut()) {
                cell.push(Span::styled(text.to_owned(), style));
            }
            return;
        }
        self.inline.push(Span::styled(text.to_owned(), style));
    }

    fn prefix_width(&self) -> usize {
        self.frames.iter().map(|f| f.rest.width()).sum()
    }

    fn avail(&self) -> usize {
        self.width.saturating_sub(self.prefix_width()).max(1)
    }

    /// Emits one line inside the current containers.
    fn emit(&mut self, content: Vec<Span<'static>>) {
        let mut spans = Vec::with_capacity(self.frames.len() + content.len());
        for f in &mut self.frames {
            if f.first_used {
                spans.push(f.rest.clone());
            } else {
                f.first_used = true;
                spans.push(f.first.clone());
            }
        }
        spans.extend(content);
        self.doc.lines.push(Line::from(spans));
    }

    fn blank(&mut self) {
        let mut spans: Vec<Span<'static>> = Vec::new();
        for f in &self.frames {
            // Quote bars continue through blank lines; list indents do not
            // need to.
            if f.rest.content.trim().is_empty() {
                spans.push(f.rest.clone());
            } else {
                spans.push(Span::styled(
                    f.rest.content.trim_end().to_owned(),
                    f.rest.style,
                ));
            }
        }
        while spans.last().is_some_and(|s| s.content.trim().is_empty()) {
            spans.pop();
        }
        self.doc.lines.push(Line::from(spans));
    }

    fn block_start(&mut self) {
        self.flush_inline();
        if self.pending_blank && !self.doc.lines.is_empty() {
            self.blank();
        }
        self.pending_blank = false;
    }

    fn flush_inline(&mut self) {
        if self.inline.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.inline);
        if spans.iter().all(|s| s.content.trim().is_empty()) {
            return;
        }
        for l in wrap(&spans, self.avail()) {
            self.emit(l);
        }
    }

    fn event(&mut self, ev: Event<'_>) {
        let t = self.theme;
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(s) => {
                if let Some((_, code)) = self.code.as_mut() {
                    code.push_str(&s);
                } else {
                    let st = self.style();
                    self.push_text(&s, st);
                }
            }
            Event::Code(s) => {
                let st = self.style().patch(t.inline_code());
                self.push_text(&s, st);
            }
            Event::InlineMath(s) | Event::DisplayMath(s) => {
                let st = self.style().patch(t.inline_code());
                self.push_text(&s, st);
            }
            Event::SoftBreak => {
                let st = self.style();
                self.push_text(" ", st);
            }
            Event::HardBreak => {
                if self.table.is_some() {
                    self.push_text(" ", Style::new());
                } else {
                    self.inline.push(Span::raw("\n"));
                }
            }
            Event::Rule => {
                self.block_start();
                let n = self.avail();
                let rule: String = std::iter::repeat_n(t.hrule(), n).collect();
                self.emit(vec![Span::styled(rule, t.rule())]);
                self.pending_blank = true;
            }
            Event::TaskListMarker(done) => {
                let st = t.list_marker();
                self.push_text(if done { "[x] " } else { "[ ] " }, st);
            }
            Event::FootnoteReference(name) => {
                let st = self.style().patch(t.link());
                self.push_text(&format!("[{name}]"), st);
            }
            // Raw HTML (comments, <br>) has no place in a terminal.
            Event::Html(_) | Event::InlineHtml(_) => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let t = self.theme;
        match tag {
            Tag::Paragraph => self.block_start(),
            Tag::Heading { level, .. } => {
                self.block_start();
                let n = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    _ => 4,
                };
                self.styles.push(t.heading(n));
            }
            Tag::BlockQuote(_) => {
                self.block_start();
                let bar = Span::styled(t.quote_bar(), t.quote());
                self.frames.push(Frame {
                    first: bar.clone(),
                    rest: bar,
                    first_used: false,
                });
                self.styles.push(t.quote());
            }
            Tag::CodeBlock(kind) => {
                self.block_start();
                let info = match kind {
                    CodeBlockKind::Fenced(i) => i.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((info, String::new()));
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.block_start();
                } else {
                    self.flush_inline();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush_inline();
                if self.pending_blank {
                    self.blank();
                    self.pending_blank = false;
                }
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => format!("{} ", t.bullet(depth)),
                };
                let w = marker.width();
                self.frames.push(Frame {
                    first: Span::styled(marker, t.list_marker()),
                    rest: Span::raw(" ".repeat(w)),
                    first_used: false,
                });
            }
            Tag::Table(aligns) => {
                self.block_start();
                self.table = Some(Table {
                    aligns,
                    rows: Vec::new(),
                    head_rows: 0,
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(tb) = self.table.as_mut() {
                    tb.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(row) = self.table.as_mut().and_then(|tb| tb.rows.last_mut()) {
                    row.push(Vec::new());
                }
            }
            Tag::Emphasis => self.styles.push(t.emphasis()),
            Tag::Strong => self.styles.push(t.strong()),
            Tag::Strikethrough => self.styles.push(t.strike()),
            Tag::Superscript | Tag::Subscript => self.styles.push(Style::new()),
            Tag::Link { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                self.styles.push(t.link());
            }
            Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                self.styles.push(t.link());
                let st = self.style();
                self.push_text("[image: ", st);
            }
            Tag::FootnoteDefinition(name) => {
                self.block_start();
                let label = format!("[{name}]: ");
                let w = label.width();
                self.frames.push(Frame {
                    first: Span::styled(label, t.link()),
                    rest: Span::raw(" ".repeat(w)),
                    first_used: false,
                });
            }
            Tag::DefinitionListDefinition => {
                self.flush_inline();
                self.frames.push(Frame {
                    first: Span::raw("    "),
                    rest: Span::raw("    "),
                    first_used: false,
                });
            }
            Tag::HtmlBlock
            | Tag::MetadataBlock(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle => self.block_start(),
        }
    }

    fn end(&mut self, tag: TagEnd) {
        let t = self.theme;
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => {
                self.flush_inline();
                self.pending_blank = true;
            }
            TagEnd::Heading(_) => {
                self.flush_inline();
                self.styles.pop();
                self.pending_blank = true;
            }
            TagEnd::BlockQuote(_) => {
                self.flush_inline();
                self.frames.pop();
                self.styles.pop();
                self.pending_blank = true;
            }
            TagEnd::CodeBlock => {
                if let Some((info, code)) = self.code.take() {
                    self.code_block(&info, &code);
                }
                self.pending_blank = true;
            }
            TagEnd::List(_) => {
                self.flush_inline();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.pending_blank = true;
                }
            }
            TagEnd::Item => {
                self.flush_inline();
                // An empty item still shows its marker.
                if self.frames.last().is_some_and(|f| !f.first_used) {
                    self.emit(Vec::new());
                }
                self.frames.pop();
            }
            TagEnd::Table => {
                if let Some(tb) = self.table.take() {
                    self.render_table(tb);
                }
                self.pending_blank = true;
            }
            TagEnd::TableHead => {
                if let Some(tb) = self.table.as_mut() {
                    tb.head_rows = tb.rows.len();
                }
            }
            TagEnd::TableRow | TagEnd::TableCell => {}
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                let url = self.links.pop().unwrap_or_default();
                let shown = self.last_text_ends_with(&url);
                if !url.is_empty() && !shown {
                    let st = self.style().patch(t.url());
                    self.push_text(&format!(" <{url}>"), st);
                }
            }
            TagEnd::Image => {
                let url = self.links.pop().unwrap_or_default();
                let st = self.style();
                self.push_text("]", st);
                self.styles.pop();
                if !url.is_empty() {
                    let st = self.style().patch(t.url());
                    self.push_text(&format!(" <{url}>"), st);
                }
            }
            TagEnd::FootnoteDefinition | TagEnd::DefinitionListDefinition => {
                self.flush_inline();
                self.frames.pop();
                self.pending_blank = true;
            }
            TagEnd::DefinitionList | TagEnd::DefinitionListTitle => {
                self.flush_inline();
            }
        }
    }

    /// An autolink (`<https://...>`) already shows its URL as its text.
    fn last_text_ends_with(&self, url: &str) -> bool {
        let last = match self.table.as_ref() {
            Some(tb) => tb.rows.last().and_then(|r| r.last()).and_then(|c| c.last()),
            None => self.inline.last(),
        };
        last.is_some_and(|s| {
            !url.is_empty() && s.content.ends_with(url.trim_start_matches("mailto:"))
        })
    }

    fn code_block(&mut self, info: &str, code: &str) {
        let t = self.theme;
        let code = code.strip_suffix('\n').unwrap_or(code);
        let lang = CodeLang::detect(info, code);
        let index = self.doc.code_blocks.len();
        let focused = self.focused_code == Some(index);
        let frame = if focused {
            t.code_frame_focused()
        } else {
            t.code_frame()
        };
        let avail = self.avail();
        let start = self.len();
        let label = info
            .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("code");
        let head = if focused {
            format!(
                "{} {label} · {} ",
                if t.ascii { "#=" } else { "┏━" },
                match (lang, self.command_label) {
                    (CodeLang::Shell, Some(l)) => l,
                    _ => self.copy_label,
                }
            )
        } else {
            format!("{} {label} ", if t.ascii { "+-" } else { "╭─" })
        };
        let mut head: String = head.chars().take(avail).collect();
        let fill = avail.saturating_sub(head.width()).min(40);
        let fill_char = match (t.ascii, focused) {
            (true, true) => '=',
            (true, false) => '-',
            (false, true) => '━',
            (false, false) => '─',
        };
        head.extend(std::iter::repeat_n(fill_char, fill));
        self.emit(vec![Span::styled(head, frame)]);
        let gutter = t.code_gutter(focused);
        let inner = avail.saturating_sub(gutter.width()).max(1);
        for hl in highlight(lang, code) {
            let spans: Vec<Span<'static>> = hl
                .into_iter()
                .map(|(tok, s)| Span::styled(s.replace('\t', "    "), t.tok(tok)))
                .collect();
            // A line too long for the pane goes on under a ↪ mark, so that a
            // learner copying with the mouse sees it is one line.
            let mark = if t.ascii { "+ " } else { "↪ " };
            for (k, piece) in hard_wrap(spans, inner, mark.width())
                .into_iter()
                .enumerate()
            {
                let mut l = vec![Span::styled(gutter, frame)];
                if k > 0 {
                    l.push(Span::styled(mark, t.continuation()));
                }
                l.extend(piece);
                self.emit(l);
            }
        }
        let end = self.len();
        self.doc.code_blocks.push(CodeBlock {
            start,
            end,
            lang,
            copy: copy_text(lang, code),
        });
    }

    fn render_table(&mut self, tb: Table) {
        let t = self.theme;
        let ncols = tb.rows.iter().map(Vec::len).max().unwrap_or(0);
        if ncols == 0 {
            return;
        }
        let sep_w = 3; // " │ "
        let avail = self.avail();
        let mut widths = vec![1usize; ncols];
        for row in &tb.rows {
            for (i, cell) in row.iter().enumerate() {
                let w: usize = cell.iter().map(|s| s.content.width()).sum();
                widths[i] = widths[i].max(w);
            }
        }
        // Shrink the widest column until the table fits.
        let budget = avail.saturating_sub(sep_w * (ncols - 1)).max(ncols);
        while widths.iter().sum::<usize>() > budget {
            let Some((i, _)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if widths[i] <= 1 {
                break;
            }
            widths[i] -= 1;
        }
        let bar = t.vbar();
        for (ri, row) in tb.rows.iter().enumerate() {
            let head = ri < tb.head_rows;
            let cells: Vec<Vec<Vec<Span<'static>>>> = (0..ncols)
                .map(|i| {
                    let spans: Vec<Span<'static>> = row
                        .get(i)
                        .map(|c| {
                            c.iter()
                                .map(|s| {
                                    let st = if head {
                                        s.style.patch(t.table_head())
                                    } else {
                                        s.style
                                    };
                                    Span::styled(s.content.clone(), st)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    wrap(&spans, widths[i])
                })
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for li in 0..height {
                let mut line = Vec::new();
                for (ci, cell) in cells.iter().enumerate() {
                    if ci > 0 {
                        line.push(Span::styled(format!(" {bar} "), t.table_border()));
                    }
                    let content = cell.get(li).cloned().unwrap_or_default();
                    let w: usize = content.iter().map(|s| s.content.width()).sum();
                    let pad = widths[ci].saturating_sub(w);
                    let (l, r) = match tb.aligns.get(ci) {
                        Some(Alignment::Right) => (pad, 0),
                        Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                        _ => (0, pad),
                    };
                    if l > 0 {
                        line.push(Span::raw(" ".repeat(l)));
                    }
                    line.extend(content);
                    if r > 0 && ci + 1 < ncols {
                        line.push(Span::raw(" ".repeat(r)));
                    }
                }
                self.emit(line);
            }
            if head && ri + 1 == tb.head_rows {
                let h = t.hrule().to_string();
                let cross = if t.ascii { "-+-" } else { "─┼─" };
                let sep: Vec<String> = widths.iter().map(|w| h.repeat(*w)).collect();
                self.emit(vec![Span::styled(sep.join(cross), t.table_border())]);
            }
        }
    }
}

/// What `y` copies: the code as is, except that console transcripts give
/// only their commands, without prompts or output.
pub fn copy_text(lang: CodeLang, code: &str) -> String {
    if lang == CodeLang::Shell && code.lines().any(|l| l.trim_start().starts_with("$ ")) {
        let mut out = Vec::new();
        let mut cont = false;
        for l in code.lines() {
            let t = l.trim_start();
            if let Some(cmd) = t.strip_prefix("$ ") {
                out.push(cmd);
                cont = cmd.ends_with('\\');
            } else if cont {
                out.push(l);
                cont = l.ends_with('\\');
            }
        }
        out.join("\n")
    } else {
        code.to_owned()
    }
}

enum Chunk {
    Word(Vec<Span<'static>>),
    Space(Span<'static>),
    Break,
}

/// Splits styled text into words (runs of non-space across span
/// boundaries), spaces and forced line breaks.
fn chunks(spans: &[Span<'static>]) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    for s in spans {
        if s.content == "\n" {
            out.push(Chunk::Break);
            continue;
        }
        let text: &str = &s.content;
        let mut start = 0;
        let mut in_space: Option<bool> = None;
        let flush = |out: &mut Vec<Chunk>, piece: &str, space: bool| {
            if piece.is_empty() {
                return;
            }
            if space {
                out.push(Chunk::Space(Span::styled(
                    piece.replace(['\n', '\t'], " "),
                    s.style,
                )));
            } else {
                let sp = Span::styled(piece.to_owned(), s.style);
                match out.last_mut() {
                    Some(Chunk::Word(w)) => w.push(sp),
                    _ => out.push(Chunk::Word(vec![sp])),
                }
            }
        };
        for (i, c) in text.char_indices() {
            let sp = c.is_whitespace() && c != '\u{a0}';
            match in_space {
                Some(prev) if prev != sp => {
                    flush(&mut out, &text[start..i], prev);
                    start = i;
                }
                _ => {}
            }
            in_space = Some(sp);
        }
        if let Some(prev) = in_space {
            flush(&mut out, &text[start..], prev);
        }
    }
    out
}

fn push_merged(line: &mut Vec<Span<'static>>, s: Span<'static>) {
    if s.content.is_empty() {
        return;
    }
    match line.last_mut() {
        Some(last) if last.style == s.style => last.content.to_mut().push_str(&s.content),
        _ => line.push(s),
    }
}

/// Greedy word wrap to `width` columns (unicode-width aware); words longer
/// than a line are broken between characters.
pub fn wrap(spans: &[Span<'static>], width: usize) -> Vec<Vec<Span<'static>>> {
    let width = width.max(1);
    let mut lines: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut cur = 0usize;
    let mut pending: Option<Span<'static>> = None;
    for chunk in chunks(spans) {
        match chunk {
            Chunk::Break => {
                lines.push(Vec::new());
                cur = 0;
                pending = None;
            }
            Chunk::Space(s) => {
                if cur > 0 {
                    pending = Some(s);
                }
            }
            Chunk::Word(parts) => {
                let w: usize = parts.iter().map(|p| p.content.width()).sum();
                let pw = pending.as_ref().map_or(0, |p| p.content.width());
                if cur > 0 && cur + pw + w > width {
                    lines.push(Vec::new());
                    cur = 0;
                    pending = None;
                }
                let line = lines.last_mut();
                let Some(line) = line else { continue };
                if let Some(p) = pending.take() {
                    cur += p.content.width();
                    push_merged(line, p);
                }
                if cur + w <= width {
                    cur += w;
                    for p in parts {
                        push_merged(line, p);
                    }
                    continue;
                }
                // Too long for any line: break it between characters.
                for p in parts {
                    for c in p.content.chars() {
                        let cw = c.width().unwrap_or(0);
                        if cur > 0 && cur + cw > width {
                            lines.push(Vec::new());
                            cur = 0;
                        }
                        if let Some(line) = lines.last_mut() {
                            push_merged(line, Span::styled(c.to_string(), p.style));
                        }
                        cur += cw;
                    }
                }
            }
        }
    }
    if lines.len() > 1 && lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

/// Cuts a line of code into pieces of at most `width` columns (the pieces
/// after the first `indent` fewer, for their continuation mark), keeping
/// every character (code is never reflowed). A piece ends after a space
/// when there is one in its second half, so words stay whole.
fn hard_wrap(spans: Vec<Span<'static>>, width: usize, indent: usize) -> Vec<Vec<Span<'static>>> {
    let chars: Vec<(char, Style)> = spans
        .iter()
        .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
        .collect();
    let mut lines: Vec<Vec<Span<'static>>> = Vec::new();
    let mut start = 0;
    loop {
        let w = if lines.is_empty() {
            width.max(1)
        } else {
            width.saturating_sub(indent).max(1)
        };
        // How many chars fit in `w` columns (at least one).
        let mut end = start;
        let mut used = 0;
        while end < chars.len() {
            let cw = chars[end].0.width().unwrap_or(0);
            if end > start && used + cw > w {
                break;
            }
            used += cw;
            end += 1;
        }
        if end < chars.len()
            && let Some(sp) = (start + (end - start) / 2..end)
                .rev()
                .find(|i| chars[*i].0 == ' ')
        {
            end = sp + 1;
        }
        let mut line = Vec::new();
        for (c, style) in &chars[start..end] {
            push_merged(&mut line, Span::styled(c.to_string(), *style));
        }
        lines.push(line);
        start = end;
        if start >= chars.len() {
            break;
        }
    }
    lines
}

/// The plain text of a line (tests, searching).
pub fn line_text(line: &Line<'_>) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    fn text(doc: &Doc) -> Vec<String> {
        doc.lines.iter().map(line_text).collect()
    }

    fn plain(src: &str, width: u16) -> Vec<String> {
        text(&render(src, width, &Theme::default()))
    }

    #[test]
    fn paragraphs_wrap_to_width_and_are_separated() {
        let t = plain("one two three four five six\n\nnext para", 10);
        assert_eq!(
            t,
            vec!["one two", "three four", "five six", "", "next para"]
        );
    }

    #[test]
    fn wrap_is_unicode_width_aware() {
        // Each CJK character is two columns wide.
        let t = plain("日本語の文章です", 6);
        assert_eq!(t, vec!["日本語", "の文章", "です"]);
        for l in &t {
            assert!(l.width() <= 6);
        }
        let t = plain("café déjà vu", 5);
        assert_eq!(t, vec!["café", "déjà", "vu"]);
    }

    #[test]
    fn long_words_are_broken() {
        assert_eq!(plain("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn emphasis_strong_strike_and_inline_code_are_styled() {
        let d = render("a *b* **c** ~~d~~ `e`", 80, &Theme::default());
        let spans = &d.lines[0].spans;
        let find = |s: &str| {
            spans
                .iter()
                .find(|sp| sp.content.contains(s))
                .map(|sp| sp.style)
        };
        assert!(find("b").is_some_and(|s| s.add_modifier.contains(Modifier::ITALIC)));
        assert!(find("c").is_some_and(|s| s.add_modifier.contains(Modifier::BOLD)));
        assert!(find("d").is_some_and(|s| s.add_modifier.contains(Modifier::CROSSED_OUT)));
        assert_eq!(find("e"), Some(Theme::default().inline_code()));
        assert_eq!(line_text(&d.lines[0]), "a b c d e");
    }

    #[test]
    fn words_glued_across_styles_do_not_break() {
        let t = plain("xx **bold**text", 8);
        assert_eq!(t, vec!["xx", "boldtext"]);
    }

    #[test]
    fn headings_are_styled_without_markup() {
        let d = render("# Title {#t}\n\ntext", 80, &Theme::default());
        assert_eq!(text(&d), vec!["Title", "", "text"]);
        assert!(
            d.lines[0].spans[0]
                .style
                .add_modifier
                .contains(Modifier::BOLD)
        );
    }

    #[test]
    fn nested_and_ordered_lists() {
        let t = plain(
            "- a\n- b long text here\n  - c\n  - d\n\n1. one\n2. two\n",
            12,
        );
        assert_eq!(
            t,
            vec![
                "• a",
                "• b long",
                "  text here",
                "  ◦ c",
                "  ◦ d",
                "",
                "1. one",
                "2. two"
            ]
        );
        let t = plain("3. x\n4. y", 20);
        assert_eq!(t, vec!["3. x", "4. y"]);
    }

    #[test]
    fn ascii_bullets() {
        let th = Theme {
            color: true,
            ascii: true,
        };
        let d = render("- a\n  - b", 20, &th);
        assert_eq!(text(&d), vec!["* a", "  - b"]);
    }

    #[test]
    fn blockquotes_have_a_bar_on_every_line() {
        let t = plain("> quoted text that wraps\n>\n> second", 12);
        assert_eq!(
            t,
            vec!["│ quoted", "│ text that", "│ wraps", "│", "│ second"]
        );
    }

    #[test]
    fn links_show_their_url() {
        let t = plain("see [docs](https://k8s.io/x) and <https://a.b>", 80);
        assert_eq!(t, vec!["see docs <https://k8s.io/x> and https://a.b"]);
    }

    #[test]
    fn rules_span_the_width() {
        let t = plain("a\n\n---\n\nb", 5);
        assert_eq!(t, vec!["a", "", "─────", "", "b"]);
    }

    #[test]
    fn code_blocks_are_framed_highlighted_and_recorded() {
        let d = render(
            "intro\n\n```yaml\nkind: Pod\n```\n\nafter",
            30,
            &Theme::default(),
        );
        assert_eq!(
            text(&d),
            vec![
                "intro",
                "",
                "╭─ yaml ──────────────────────",
                "│ kind: Pod",
                "",
                "after"
            ]
        );
        assert_eq!(d.code_blocks.len(), 1);
        let cb = &d.code_blocks[0];
        assert_eq!((cb.start, cb.end), (2, 4));
        assert_eq!(cb.lang, CodeLang::Yaml);
        assert_eq!(cb.copy, "kind: Pod");
        // The key is highlighted.
        let key = d.lines[3].spans.iter().find(|s| s.content == "kind");
        assert_eq!(
            key.map(|s| s.style),
            Some(Theme::default().tok(super::super::theme::Tok::Key))
        );
    }

    #[test]
    fn focused_code_block_is_marked() {
        let mut b = DocBuilder::new(30, Theme::default(), Some(1));
        b.markdown("```sh\nls\n```\n\n```sh\npwd\n```");
        let d = b.finish();
        let t = text(&d);
        assert!(t[0].starts_with("╭─ sh"));
        assert!(t[3].starts_with("┏━ sh · y: copy"));
        assert_eq!(t[4], "┃ pwd");
    }

    #[test]
    fn long_code_lines_wrap_without_losing_characters() {
        let d = render("```\n0123456789\n```", 6, &Theme::default());
        assert_eq!(text(&d)[1..], ["│ 0123", "│ ↪ 45", "│ ↪ 67", "│ ↪ 89"]);
        // A break after a space when there is one; the copy is one line.
        let d = render(
            "```sh\nkubectl config set-context --current --namespace kubetutor\n```",
            40,
            &Theme::default(),
        );
        assert_eq!(
            text(&d)[1..],
            [
                "│ kubectl config set-context --current ",
                "│ ↪ --namespace kubetutor"
            ]
        );
        assert_eq!(
            d.code_blocks[0].copy,
            "kubectl config set-context --current --namespace kubetutor"
        );
    }

    #[test]
    fn console_blocks_copy_only_commands() {
        let d = render(
            "```console\n$ kubectl get pods \\\n  -A\nNAME READY\n$ ls\n```",
            40,
            &Theme::default(),
        );
        assert_eq!(d.code_blocks[0].copy, "kubectl get pods \\\n  -A\nls");
    }

    #[test]
    fn tables_align_columns() {
        let t = plain(
            "| Name | Size |\n|:-----|-----:|\n| data | 1Gi |\n| x | 10Gi |",
            40,
        );
        assert_eq!(
            t,
            vec!["Name │ Size", "─────┼─────", "data │  1Gi", "x    │ 10Gi"]
        );
    }

    #[test]
    fn wide_tables_wrap_cells() {
        let t = plain("| a | b |\n|---|---|\n| long words here | x |", 12);
        for l in &t {
            assert!(l.width() <= 12, "{l:?}");
        }
        assert!(t.len() > 3);
    }

    #[test]
    fn no_color_theme_uses_no_colors() {
        let d = render(
            "# T\n\n*a* `b` [c](d)\n\n```yaml\nk: 1\n```",
            40,
            &Theme::no_color(),
        );
        for l in &d.lines {
            for s in &l.spans {
                assert_eq!(s.style.fg, None, "{s:?}");
                assert_eq!(s.style.bg, None, "{s:?}");
            }
        }
    }

    #[test]
    fn never_panics_and_fits_any_width() {
        let src = "# h\n\n> - a\n>   ```\n>   code that is long\n>   ```\n\n| a | b | c |\n|-|-|-|\n| 1 | 2 | 3 |\n\n1. x\n   > y\n\n[^1]: note\n\n<!-- c -->\n\n* [x] done\n\n![img](u.png)";
        for w in [0u16, 1, 2, 3, 5, 8, 20, 200] {
            let d = render(src, w, &Theme::default());
            for l in &d.lines {
                // Containers and tables may overflow absurdly narrow widths (the pane clips).
                assert!(l.width() <= usize::from(w).max(12), "w={w} {l:?}");
            }
        }
        render("", 10, &Theme::default());
        render("```", 10, &Theme::default());
        render("- ", 10, &Theme::default());
        render("|a|\n|-|", 10, &Theme::default());
    }
}
