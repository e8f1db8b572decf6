//! The shell pane's terminal: a vt100 0.18 parser fed with the pty's output,
//! the few answers a terminal owes its programs (device attributes, cursor
//! position), and a copy of the visible cells for tui-term's widget.
//!
//! The copy (`Snapshot`) is taken under the lock and drawn after it is
//! released, so the reader that feeds the parser waits only for the copy;
//! it also strips control characters from every cell, so nothing the
//! shell prints reaches the real terminal except as drawn text.

use ratatui::style::{Color, Modifier, Style};
use std::num::NonZeroU16;

/// Rows of scrollback kept (each row is at most a screen width of cells):
/// bounded memory whatever the shell prints.
pub const SCROLLBACK: usize = 5_000;

/// Longest window title kept, in characters.
const TITLE_MAX: usize = 200;

/// What the parser reports besides the screen: the title programs set, and
/// the answers to send back to them.
#[derive(Debug, Default)]
pub struct Events {
    title: String,
    /// Bytes the terminal owes the program (replies to queries), taken by
    /// the reader and written to the pty.
    replies: Vec<u8>,
}

impl vt100::Callbacks for Events {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = String::from_utf8_lossy(title)
            .chars()
            .filter(|c| !c.is_control())
            .take(TITLE_MAX)
            .collect();
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied();
        // Bounded: a program that floods queries without reading gets no
        // more answers than this.
        if self.replies.len() > 4096 {
            return;
        }
        match (i1, c, first) {
            // Primary device attributes: a VT100 with advanced video, as
            // xterm answers by default. Programs (fish, vim) wait for it.
            (None, 'c', None | Some(0)) => self.replies.extend_from_slice(b"\x1b[?1;2c"),
            // Device status: "OK", and the cursor position (1-based).
            (None, 'n', Some(5)) => self.replies.extend_from_slice(b"\x1b[0n"),
            (None, 'n', Some(6)) => {
                let (row, col) = screen.cursor_position();
                let reply = format!("\x1b[{};{}R", u32::from(row) + 1, u32::from(col) + 1);
                self.replies.extend_from_slice(reply.as_bytes());
            }
            _ => {}
        }
    }
}

/// The emulated terminal of one shell.
pub struct Term {
    parser: vt100::Parser<Events>,
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.parser.screen().size();
        f.debug_struct("Term")
            .field("rows", &rows)
            .field("cols", &cols)
            .finish()
    }
}

fn non_zero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

impl Term {
    pub fn new(rows: u16, cols: u16) -> Term {
        Term {
            parser: vt100::Parser::new_with_callbacks(
                non_zero(rows),
                non_zero(cols),
                SCROLLBACK,
                Events::default(),
            ),
        }
    }

    /// Feeds output of the shell.
    pub fn process(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    /// The answers owed to the program since the last call.
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.parser.callbacks_mut().replies)
    }

    /// (rows, cols).
    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.parser.screen().size();
        (r.get(), c.get())
    }

    /// Resizes the screen (the pty is resized by its owner, always with it).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        if self.size() != (rows, cols) {
            self.parser.set_size(non_zero(rows), non_zero(cols));
        }
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// The title a program set (OSC 0/2), control characters removed.
    pub fn title(&self) -> &str {
        &self.parser.callbacks().title
    }

    /// How many rows back the view is scrolled (0: the live screen).
    pub fn scrollback(&self) -> usize {
        self.parser.screen().scrollback()
    }

    /// Scrolls the view `rows` back from the live screen (clamped to what
    /// the scrollback holds); returns the offset now in effect.
    pub fn set_scrollback(&mut self, rows: usize) -> usize {
        self.parser.screen_mut().set_scrollback(rows);
        self.parser.screen().scrollback()
    }

    /// A copy of the visible cells, for drawing without the lock.
    pub fn snapshot(&self, into: &mut Snapshot) {
        let screen = self.parser.screen();
        let (rows, cols) = self.size();
        into.rows = rows;
        into.cols = cols;
        into.cells
            .resize_with(usize::from(rows) * usize::from(cols), SnapCell::default);
        for row in 0..rows {
            for col in 0..cols {
                let i = usize::from(row) * usize::from(cols) + usize::from(col);
                let Some(out) = into.cells.get_mut(i) else {
                    continue;
                };
                match screen.cell(row, col) {
                    Some(cell) => out.copy_from(cell),
                    None => out.clear(),
                }
            }
        }
        let (crow, ccol) = screen.cursor_position();
        // Scrolled back, the live screen (and its cursor) moves down.
        let back = u16::try_from(screen.scrollback()).unwrap_or(u16::MAX);
        into.cursor = (crow.saturating_add(back), ccol);
        into.hide_cursor = screen.hide_cursor() || screen.scrollback() > 0;
        into.title.clear();
        into.title.push_str(self.title());
        into.alternate = screen.alternate_screen();
        into.scrollback = screen.scrollback();
    }
}

/// One cell as drawn: text without control characters, and its style.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapCell {
    text: String,
    style: Style,
}

impl SnapCell {
    fn clear(&mut self) {
        self.text.clear();
        self.style = Style::reset();
    }

    fn copy_from(&mut self, cell: &vt100::Cell) {
        self.text.clear();
        // A wide character's second half has no text of its own.
        if cell.has_contents() {
            self.text
                .extend(cell.contents().chars().filter(|c| !c.is_control()));
        }
        let mut m = Modifier::empty();
        for (on, bit) in [
            (cell.bold(), Modifier::BOLD),
            (cell.dim(), Modifier::DIM),
            (cell.italic(), Modifier::ITALIC),
            (cell.underline(), Modifier::UNDERLINED),
            (cell.inverse(), Modifier::REVERSED),
        ] {
            if on {
                m |= bit;
            }
        }
        self.style = Style::reset()
            .fg(color(cell.fgcolor()))
            .bg(color(cell.bgcolor()))
            .add_modifier(m);
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

fn color(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

impl tui_term::widget::Cell for SnapCell {
    fn has_contents(&self) -> bool {
        !self.text.is_empty()
    }

    fn apply(&self, cell: &mut ratatui::buffer::Cell) {
        if !self.text.is_empty() {
            cell.set_symbol(&self.text);
        }
        cell.set_style(self.style);
    }
}

/// The visible part of the terminal, copied for one frame (buffers are
/// reused from frame to frame).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub rows: u16,
    pub cols: u16,
    cells: Vec<SnapCell>,
    pub cursor: (u16, u16),
    pub hide_cursor: bool,
    pub title: String,
    pub alternate: bool,
    pub scrollback: usize,
}

impl Snapshot {
    /// The text of one visible row (tests, and the plain status).
    pub fn row_text(&self, row: u16) -> String {
        let start = usize::from(row) * usize::from(self.cols);
        let end = start + usize::from(self.cols);
        let mut s: String = self
            .cells
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(|c| if c.text.is_empty() { " " } else { &c.text })
            .collect();
        s.truncate(s.trim_end().len());
        s
    }
}

impl tui_term::widget::Screen for Snapshot {
    type C = SnapCell;

    fn cell(&self, row: u16, col: u16) -> Option<&SnapCell> {
        if row >= self.rows || col >= self.cols {
            return None;
        }
        self.cells
            .get(usize::from(row) * usize::from(self.cols) + usize::from(col))
    }

    fn hide_cursor(&self) -> bool {
        self.hide_cursor
    }

    fn cursor_position(&self) -> (u16, u16) {
        self.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: &Term) -> Snapshot {
        let mut s = Snapshot::default();
        t.snapshot(&mut s);
        s
    }

    #[test]
    fn text_colours_and_utf8_land_in_the_snapshot() {
        let mut t = Term::new(4, 20);
        t.process("\x1b[31mred\x1b[0m é中\r\n$ ".as_bytes());
        let s = snap(&t);
        assert_eq!(s.row_text(0), "red é中");
        assert_eq!(s.row_text(1), "$");
        let red = tui_term::widget::Screen::cell(&s, 0, 0).unwrap();
        assert_eq!(red.style.fg, Some(Color::Indexed(1)));
        assert_eq!(s.cursor, (1, 2));
    }

    #[test]
    fn control_characters_never_reach_a_cell() {
        let mut t = Term::new(2, 20);
        // C1 controls encoded in UTF-8, and a bell.
        t.process("a\u{9b}31mb\u{85}c\x07".as_bytes());
        let s = snap(&t);
        assert!(
            s.row_text(0).chars().all(|c| !c.is_control()),
            "{:?}",
            s.row_text(0)
        );
    }

    #[test]
    fn queries_are_answered() {
        let mut t = Term::new(5, 20);
        t.process(b"ab\x1b[6n\x1b[c");
        assert_eq!(t.take_replies(), b"\x1b[1;3R\x1b[?1;2c");
        assert!(t.take_replies().is_empty());
    }

    #[test]
    fn title_is_kept_without_controls() {
        let mut t = Term::new(2, 10);
        t.process(b"\x1b]2;my\x01 title\x07");
        assert_eq!(t.title(), "my title");
    }

    #[test]
    fn alternate_screen_and_resize() {
        let mut t = Term::new(3, 10);
        t.process(b"shell\x1b[?1049h\x1b[Hfull");
        assert!(snap(&t).alternate);
        t.resize(6, 30);
        assert_eq!(t.size(), (6, 30));
        t.process(b"\x1b[?1049l");
        let s = snap(&t);
        assert!(!s.alternate);
        assert!(s.row_text(0).starts_with("shell"), "{}", s.row_text(0));
        // Zero sizes are clamped, never a panic.
        t.resize(0, 0);
        assert_eq!(t.size(), (1, 1));
    }

    #[test]
    fn scrollback_is_bounded_and_scrolls() {
        let mut t = Term::new(3, 10);
        for i in 0..(SCROLLBACK + 100) {
            t.process(format!("{i}\r\n").as_bytes());
        }
        assert_eq!(t.screen().scrollback(), 0);
        assert_eq!(t.set_scrollback(usize::MAX), SCROLLBACK);
        let s = snap(&t);
        assert!(s.hide_cursor);
        assert_eq!(t.set_scrollback(0), 0);
    }
}
