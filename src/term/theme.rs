//! Styles for every element of the UI.
//!
//! Only the 16 ANSI colors and modifiers are used, never RGB, and never a
//! background color except for reverse video, so the UI stays readable on
//! light and dark terminals alike. Yellow (unreadable on white) is avoided
//! for text, and so is colour 8 (bright black, the background on some dark
//! themes): it only draws borders and frames, secondary text is faint. With `NO_COLOR` every style falls back to
//! bold / underline / reverse.

use ratatui::style::{Color, Modifier, Style};

/// How the UI draws: with or without colors, with Unicode or ASCII symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            color: true,
            ascii: false,
        }
    }
}

/// What a highlighted token is; the highlighter emits these, the theme
/// turns them into styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Plain,
    Key,
    Str,
    Comment,
    Number,
    Dash,
    Command,
    Flag,
    Prompt,
    Punct,
}

impl Theme {
    /// Reads `NO_COLOR` (any non-empty value disables colors, see
    /// no-color.org) and the locale (a non-UTF-8 locale gets ASCII symbols).
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        let ascii = match locale {
            Some(l) => {
                let l = l.to_ascii_lowercase();
                !(l.contains("utf-8") || l.contains("utf8"))
                    && l != "c.utf-8"
                    && l != "c"
                    && l != "posix"
            }
            None => false,
        };
        Self {
            color: !no_color,
            ascii,
        }
    }

    pub fn no_color() -> Self {
        Self {
            color: false,
            ascii: false,
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn fg_or(&self, c: Color, m: Modifier) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new().add_modifier(m)
        }
    }

    pub fn heading(&self, level: u8) -> Style {
        let base = Style::new().add_modifier(Modifier::BOLD);
        match level {
            1 => base
                .patch(self.fg(Color::Cyan))
                .add_modifier(Modifier::UNDERLINED),
            2 => base.patch(self.fg(Color::Cyan)),
            _ => base,
        }
    }
    pub fn emphasis(&self) -> Style {
        Style::new().add_modifier(Modifier::ITALIC)
    }
    pub fn strong(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn strike(&self) -> Style {
        Style::new().add_modifier(Modifier::CROSSED_OUT)
    }
    pub fn inline_code(&self) -> Style {
        self.fg_or(Color::Magenta, Modifier::BOLD)
    }
    pub fn link(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::UNDERLINED)
    }
    pub fn url(&self) -> Style {
        self.fg(Color::Blue)
    }
    pub fn quote(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn list_marker(&self) -> Style {
        self.fg_or(Color::Cyan, Modifier::BOLD)
    }
    pub fn rule(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn table_border(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn table_head(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    pub fn code_frame(&self) -> Style {
        self.fg(Color::DarkGray)
    }
    pub fn code_frame_focused(&self) -> Style {
        self.fg_or(Color::Magenta, Modifier::REVERSED)
            .add_modifier(Modifier::BOLD)
    }
    pub fn hint_label(&self) -> Style {
        self.fg_or(Color::Green, Modifier::UNDERLINED)
            .add_modifier(Modifier::BOLD)
    }
    /// The text of a live hint in the steps pane (its label is
    /// `hint_label`): italic, so it reads apart from the reason.
    pub fn live_hint(&self) -> Style {
        Style::new().add_modifier(Modifier::ITALIC)
    }
    /// The ↪ that starts the rest of a code line too long for the pane.
    pub fn continuation(&self) -> Style {
        self.fg_or(Color::Magenta, Modifier::BOLD)
    }
    pub fn solution_label(&self) -> Style {
        self.fg_or(Color::Magenta, Modifier::UNDERLINED)
            .add_modifier(Modifier::BOLD)
    }
    pub fn tok(&self, t: Tok) -> Style {
        if !self.color {
            return match t {
                Tok::Key | Tok::Command | Tok::Prompt => Style::new().add_modifier(Modifier::BOLD),
                _ => Style::new(),
            };
        }
        match t {
            Tok::Plain | Tok::Punct => Style::new(),
            Tok::Key => Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
            Tok::Str => Style::new().fg(Color::Green),
            // Faint, not colour 8: a comment can say something essential.
            Tok::Comment => Style::new().add_modifier(Modifier::DIM | Modifier::ITALIC),
            Tok::Number => Style::new().fg(Color::Red),
            Tok::Dash => Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
            Tok::Command => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Tok::Flag => Style::new().fg(Color::Magenta),
            Tok::Prompt => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg_or(Color::Cyan, Modifier::BOLD)
                .add_modifier(Modifier::BOLD)
        } else {
            self.fg(Color::DarkGray)
        }
    }
    pub fn title(&self, focused: bool) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if focused {
            s.patch(self.fg_or(Color::Cyan, Modifier::REVERSED))
        } else {
            s
        }
    }
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn done(&self) -> Style {
        self.fg(Color::Green)
    }
    pub fn failing(&self) -> Style {
        self.fg_or(Color::Red, Modifier::BOLD)
    }
    pub fn active(&self) -> Style {
        self.fg_or(Color::Cyan, Modifier::BOLD)
            .add_modifier(Modifier::BOLD)
    }
    pub fn pending(&self) -> Style {
        Style::new()
    }
    /// Secondary text (table headers, reasons of other steps, ghosts...):
    /// the terminal's faint attribute on the normal colour, never colour 8
    /// ("bright black"), which some dark themes draw as the background.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new()
        }
    }
    pub fn key(&self) -> Style {
        self.fg_or(Color::Cyan, Modifier::BOLD)
            .add_modifier(Modifier::BOLD)
    }
    pub fn status(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn message(&self) -> Style {
        self.fg_or(Color::Magenta, Modifier::BOLD)
            .add_modifier(Modifier::BOLD)
    }
    pub fn connected(&self) -> Style {
        self.fg_or(Color::Green, Modifier::BOLD)
    }
    pub fn disconnected(&self) -> Style {
        self.fg_or(Color::Red, Modifier::BOLD)
    }

    /// Step state markers: pending, active, done, failing.
    pub fn markers(&self) -> [&'static str; 4] {
        if self.ascii {
            ["[ ]", "[>]", "[x]", "[!]"]
        } else {
            ["○", "▶", "✔", "✘"]
        }
    }
    pub fn bullet(&self, depth: usize) -> &'static str {
        match (self.ascii, depth % 3) {
            (true, 0) => "*",
            (true, 1) => "-",
            (true, _) => "+",
            (false, 0) => "•",
            (false, 1) => "◦",
            (false, _) => "▪",
        }
    }
    pub fn quote_bar(&self) -> &'static str {
        if self.ascii { "> " } else { "│ " }
    }
    pub fn hrule(&self) -> char {
        if self.ascii { '-' } else { '─' }
    }
    pub fn vbar(&self) -> &'static str {
        if self.ascii { "|" } else { "│" }
    }
    pub fn code_gutter(&self, focused: bool) -> &'static str {
        match (self.ascii, focused) {
            (true, false) => "| ",
            (true, true) => "# ",
            (false, false) => "│ ",
            (false, true) => "┃ ",
        }
    }
}
