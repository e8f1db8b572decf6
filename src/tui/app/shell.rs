//! The shell pane's part of `App`: its state, where keys, pastes and the
//! mouse go while it has the focus, code blocks typed or run in it, and
//! what the event loop asks before and after each frame (start a shell at
//! the pane's size, keep the pty's size equal to the pane's).
//!
//! While the pane has the focus every key goes to the shell except the
//! leave chord (`Ctrl-]`), and Shift-PgUp/PgDn, which scroll back as
//! terminals do (outside full-screen programs).

use super::{App, Pane, Redraw};
use crate::shell::ShellSession;
use crate::shell::keys::{Modes, encode_key, encode_mouse, encode_paste};
use crate::shell::term::Snapshot;
use crate::tui::event::ShellEvent;
use crate::tui::highlight::CodeLang;
use crate::tui::strings::fill;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

/// Input held back until the shell has printed its first prompt (bytes
/// typed before that could be read with the wrong modes, or discarded).
#[derive(Debug)]
enum Queued {
    Bytes(Vec<u8>),
    Paste { text: String, run: bool },
}

/// Most input held for a shell not ready yet.
const QUEUE_MAX: usize = 256 * 1024;

/// What the app knows of its shell (set once, from the CLI).
#[derive(Debug, Clone, Default)]
pub struct ShellSetup {
    /// The cluster the shell is aimed at; `None`: no shell could be
    /// prepared (`unavailable` says why).
    pub target: Option<crate::shell::Target>,
    /// The pane is on (not `--no-shell`).
    pub pane: bool,
    /// How the learner runs the same shell elsewhere (`kubetutor shell`).
    pub command: String,
    pub unavailable: Option<String>,
}

/// The shell pane's state.
#[derive(Debug, Default)]
pub struct ShellPane {
    pub(crate) setup: ShellSetup,
    pub(crate) session: Option<ShellSession>,
    /// Shown (beneath the lesson, or the whole window on small terminals
    /// while it has the focus).
    pub(crate) visible: bool,
    /// A shell is wanted: the loop starts one after the next frame, at the
    /// pane's size.
    pub(crate) starting: bool,
    /// The shell printed something: input may go.
    ready: bool,
    queue: Vec<Queued>,
    queued: usize,
    /// Why the last start failed.
    pub(crate) failed: Option<String>,
    /// How the last shell ended.
    pub(crate) ended: Option<String>,
    /// Where the leave chord returns to.
    back: Option<Pane>,
    next_id: u64,
    /// The visible cells, copied at each frame (buffers reused).
    pub(crate) snapshot: Snapshot,
}

impl ShellPane {
    /// The pane can be opened at all.
    pub fn enabled(&self) -> bool {
        self.setup.pane && self.setup.target.is_some()
    }

    /// The label of the pane: context and namespace.
    pub fn label(&self) -> String {
        self.setup
            .target
            .as_ref()
            .map(|t| format!("{} · ns {}", t.context, t.namespace))
            .unwrap_or_default()
    }
}

/// The chord that leaves the shell pane (and enters it from the lesson):
/// Ctrl-], telnet's escape character; crossterm reports the byte 0x1d as
/// Ctrl+5.
pub fn is_leave_chord(k: &KeyEvent) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char(']' | '5'))
}

impl App {
    /// The shell the pane runs (aimed at the course's cluster), whether the
    /// pane is on, and how to get the same shell elsewhere.
    pub fn set_shell(&mut self, setup: ShellSetup) {
        self.shell.setup = setup;
        self.revision += 1;
    }

    pub fn shell_pane(&self) -> &ShellPane {
        &self.shell
    }

    /// The running shell, if any.
    pub fn shell_session(&self) -> Option<&ShellSession> {
        self.shell.session.as_ref()
    }

    /// The shell pane's terminal area as last drawn (empty: not shown).
    pub fn view_shell_area(&self) -> ratatui::layout::Rect {
        self.view.shell
    }

    /// Whether the shell pane is shown.
    pub fn shell_visible(&self) -> bool {
        self.shell.visible
    }

    /// The loop's question before starting a shell: the pane's size when
    /// one is wanted and the pane has been laid out.
    pub fn shell_start_wanted(&self) -> Option<(u16, u16)> {
        let r = self.view.shell;
        (self.shell.starting && self.shell.session.is_none() && !r.is_empty())
            .then_some((r.height, r.width))
    }

    /// An id for the next session (events of an old one are ignored).
    pub fn next_shell_id(&mut self) -> u64 {
        self.shell.next_id += 1;
        self.shell.next_id
    }

    /// What starting the shell gave.
    pub fn shell_started(&mut self, result: Result<ShellSession, String>) {
        self.shell.starting = false;
        match result {
            Ok(s) => {
                self.shell.session = Some(s);
                self.shell.ready = false;
                self.shell.failed = None;
            }
            Err(e) => {
                self.shell.queue.clear();
                self.shell.queued = 0;
                self.shell.failed = Some(e);
            }
        }
    }

    /// Keeps the shell's terminal (emulator and pty) the size of the pane
    /// as last drawn; true when it changed (draw again).
    pub fn shell_fit(&mut self) -> bool {
        let r = self.view.shell;
        let Some(s) = &self.shell.session else {
            return false;
        };
        if r.is_empty() || s.with_term(|t| t.size()) == (r.height, r.width) {
            return false;
        }
        s.resize(r.height, r.width);
        true
    }

    /// The running shell, for the loop to hang up when the UI ends.
    pub fn take_shell(&mut self) -> Option<ShellSession> {
        self.shell.session.take()
    }

    /// `t` (and the leave chord from the lesson): show the pane, start a
    /// shell if none runs, and give it the focus if `focus`.
    pub(super) fn open_shell(&mut self, focus: bool) -> bool {
        let s = self.strings();
        if let Some(why) = &self.shell.setup.unavailable {
            self.message = Some(fill(s.msg_shell_unavailable, &[why]));
            return false;
        }
        if !self.shell.enabled() {
            self.message = Some(fill(s.msg_shell_off, &[&self.shell.setup.command]));
            return false;
        }
        self.shell.visible = true;
        if focus && self.focus != Pane::Shell {
            self.shell.back = Some(self.focus);
            self.focus = Pane::Shell;
        }
        if self.shell.session.is_none() && !self.shell.starting {
            self.shell.starting = true;
            self.shell.failed = None;
            self.shell.ended = None;
        }
        true
    }

    /// `T`: hide the pane; the shell keeps running.
    pub(super) fn hide_shell(&mut self) {
        if !self.shell.visible {
            return;
        }
        self.shell.visible = false;
        if self.focus == Pane::Shell {
            self.leave_shell();
        }
        self.message = Some(self.strings().msg_shell_hidden.into());
    }

    fn leave_shell(&mut self) {
        self.focus = self.shell.back.take().unwrap_or(Pane::Instructions);
    }

    fn shell_modes(&self) -> Modes {
        self.shell
            .session
            .as_ref()
            .map(|s| s.with_term(|t| Modes::of(t.screen())))
            .unwrap_or_default()
    }

    /// Sends (or holds until the shell is ready) input for the shell.
    fn shell_input(&mut self, q: Queued) {
        if self.shell.ready
            && let Some(s) = &self.shell.session
        {
            let bytes = match q {
                Queued::Bytes(b) => b,
                Queued::Paste { text, run } => {
                    let mut b = encode_paste(&text, self.shell_modes());
                    if run {
                        b.push(b'\r');
                    }
                    b
                }
            };
            if !s.write(bytes) {
                self.message = Some(self.strings().msg_shell_busy.into());
            }
            return;
        }
        let n = match &q {
            Queued::Bytes(b) => b.len(),
            Queued::Paste { text, .. } => text.len(),
        };
        if self.shell.queued + n > QUEUE_MAX {
            self.message = Some(self.strings().msg_shell_busy.into());
            return;
        }
        self.shell.queued += n;
        self.shell.queue.push(q);
    }

    fn flush_shell_queue(&mut self) {
        self.shell.queued = 0;
        for q in std::mem::take(&mut self.shell.queue) {
            self.shell_input(q);
        }
    }

    /// Scrolls the shell's view `delta` rows (negative: back in time).
    pub(super) fn scroll_shell(&mut self, delta: i32) -> Redraw {
        let Some(s) = &self.shell.session else {
            return Redraw::No;
        };
        let changed = s.with_term(|t| {
            let cur = i64::try_from(t.scrollback()).unwrap_or(i64::MAX);
            let want = usize::try_from((cur - i64::from(delta)).max(0)).unwrap_or(0);
            let before = t.scrollback();
            t.set_scrollback(want) != before
        });
        if changed { Redraw::Yes } else { Redraw::No }
    }

    /// A key while the pane has the focus.
    pub(super) fn shell_key(&mut self, k: KeyEvent) -> Redraw {
        let had_message = self.message.take().is_some();
        if is_leave_chord(&k) {
            self.leave_shell();
            return Redraw::Yes;
        }
        let shift = k.modifiers.contains(KeyModifiers::SHIFT);
        let Some(s) = &self.shell.session else {
            if self.shell.starting {
                self.shell_input(Queued::Bytes(encode_key(&k, Modes::default())));
            } else if matches!(k.code, KeyCode::Esc | KeyCode::Char('q')) {
                // Nothing runs here: the usual ways out work too.
                self.leave_shell();
                return Redraw::Yes;
            }
            return if had_message { Redraw::Yes } else { Redraw::No };
        };
        let (modes, alternate) =
            s.with_term(|t| (Modes::of(t.screen()), t.screen().alternate_screen()));
        if shift && !alternate && matches!(k.code, KeyCode::PageUp | KeyCode::PageDown) {
            let page = i32::from(self.view.shell.height.saturating_sub(1).max(1));
            let delta = if k.code == KeyCode::PageUp {
                -page
            } else {
                page
            };
            let r = self.scroll_shell(delta);
            return if had_message { Redraw::Yes } else { r };
        }
        // Typing brings the view back to the live screen, as terminals do.
        let unscrolled = self.scroll_shell(i32::MAX).needed();
        self.shell_input(Queued::Bytes(encode_key(&k, modes)));
        if had_message || unscrolled || self.message.is_some() {
            Redraw::Yes
        } else {
            Redraw::No
        }
    }

    /// Pasted text: to the shell when it has the focus.
    pub(super) fn shell_paste(&mut self, text: String) -> Redraw {
        if self.focus != Pane::Shell || self.overlay.is_some() {
            return Redraw::No;
        }
        let unscrolled = self.scroll_shell(i32::MAX).needed();
        self.shell_input(Queued::Paste { text, run: false });
        if unscrolled || self.message.is_some() {
            Redraw::Yes
        } else {
            Redraw::No
        }
    }

    /// A mouse event over the shell pane: to the program when it asked for
    /// the mouse; otherwise the wheel scrolls back (or, in a full-screen
    /// program, moves its cursor as arrow keys) and a click focuses.
    pub(super) fn shell_mouse(&mut self, m: MouseEvent) -> Redraw {
        let r = self.view.shell;
        let pos = Position::new(m.column, m.row);
        let modes = self.shell_modes();
        if r.contains(pos)
            && let Some(bytes) = encode_mouse(&m, m.column - r.x, m.row - r.y, modes)
        {
            let click = matches!(m.kind, MouseEventKind::Down(_));
            let refocus = click && self.focus != Pane::Shell;
            if refocus {
                self.shell.back = Some(self.focus);
                self.focus = Pane::Shell;
            }
            self.shell_input(Queued::Bytes(bytes));
            return if refocus { Redraw::Yes } else { Redraw::No };
        }
        let alternate = self
            .shell
            .session
            .as_ref()
            .is_some_and(|s| s.with_term(|t| t.screen().alternate_screen()));
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown if alternate => {
                let code = if m.kind == MouseEventKind::ScrollUp {
                    KeyCode::Up
                } else {
                    KeyCode::Down
                };
                let key = encode_key(&KeyEvent::new(code, KeyModifiers::NONE), modes);
                self.shell_input(Queued::Bytes(key.repeat(3)));
                Redraw::No
            }
            MouseEventKind::ScrollUp => self.scroll_shell(-3),
            MouseEventKind::ScrollDown => self.scroll_shell(3),
            MouseEventKind::Down(MouseButton::Left) => {
                if self.focus != Pane::Shell {
                    self.shell.back = Some(self.focus);
                    self.focus = Pane::Shell;
                }
                Redraw::Yes
            }
            _ => Redraw::No,
        }
    }

    /// `i` types the highlighted code block into the shell (the learner
    /// presses Enter); `r` runs it.
    pub(super) fn code_to_shell(&mut self, run: bool) {
        let w = self.page_width();
        let Some(i) = self.code_focus else {
            self.move_code_focus(true);
            if self.code_focus.is_some() {
                let key = if run { "r" } else { "i" };
                self.message = Some(fill(self.strings().msg_shell_again, &[&key]));
            }
            return;
        };
        let Some(block) = self.page(w).doc.code_blocks.get(i) else {
            return;
        };
        if block.lang != CodeLang::Shell {
            self.message = Some(self.strings().msg_not_a_command.into());
            return;
        }
        let text = block.copy.trim_end_matches(['\n', '\r']).to_owned();
        let lines = text.lines().count();
        // Typed: the learner presses Enter in the shell, so it gets the
        // focus. Run: the lesson keeps it while the pane is in view.
        let focus = !run || !self.view.shell_room;
        if !self.open_shell(focus) {
            return;
        }
        let _ = self.scroll_shell(i32::MAX);
        self.shell_input(Queued::Paste { text, run });
        if self.message.is_none() {
            let s = self.strings();
            let m = if run {
                s.msg_shell_ran
            } else {
                s.msg_shell_typed
            };
            self.message = Some(fill(m, &[&lines]));
        }
    }

    /// News from the shell.
    pub(super) fn shell_event(&mut self, ev: ShellEvent) -> Redraw {
        let current = self.shell.session.as_ref().map(|s| s.id);
        match ev {
            ShellEvent::Output { id } if current == Some(id) => {
                if !self.shell.ready {
                    self.shell.ready = true;
                    self.flush_shell_queue();
                }
                // Output of a pane not on screen (hidden, or no room for
                // it) changes nothing there.
                if self.view.shell.is_empty() {
                    Redraw::No
                } else {
                    Redraw::Yes
                }
            }
            ShellEvent::Exited { id, status } if current == Some(id) => {
                self.shell.session = None;
                self.shell.ready = false;
                self.shell.queue.clear();
                self.shell.queued = 0;
                self.shell.visible = false;
                if self.focus == Pane::Shell {
                    self.leave_shell();
                }
                self.message = Some(fill(self.strings().msg_shell_ended, &[&status]));
                self.shell.ended = Some(status);
                Redraw::Yes
            }
            _ => Redraw::No,
        }
    }

    /// What `kubetutor status --json` says about the shell.
    pub(super) fn shell_status(&self) -> serde_json::Value {
        let Some(t) = &self.shell.setup.target else {
            return serde_json::Value::Null;
        };
        let pane = if !self.shell.enabled() {
            "off"
        } else if self.shell.session.is_none() {
            "not started"
        } else if self.shell.visible {
            "open"
        } else {
            "hidden"
        };
        serde_json::json!({
            "command": self.shell.setup.command,
            "context": t.context,
            "namespace": t.namespace,
            "kubeconfig_files": t.files,
            "pane": pane,
        })
    }
}
