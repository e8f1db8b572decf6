//! Puts the terminal in raw mode + alternate screen + mouse capture +
//! bracketed paste and
//! restores it on every way out: drop (normal return, `?` errors), panic
//! (a hook restores before the message is printed) and signals (they become
//! an `AppEvent::Quit`, so the loop returns and drops the guard).

use crossterm::cursor::Show;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use std::io::{self, Write};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the terminal is in our mode and needs restoring.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        // Set first so that a failure half-way still gets undone by drop.
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard { _private: () };
        enable_raw_mode()?;
        // Cleared here rather than with `Terminal::clear`, which asks the
        // terminal for the cursor position and fails on terminals that do
        // not answer.
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            // A paste arrives whole (for the shell pane), not as keys.
            EnableBracketedPaste,
            Clear(ClearType::All)
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode, the alternate screen and mouse capture, once; safe to
/// call any number of times from anywhere.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        // Best effort: there is nowhere left to report a failure to.
        let _ = execute!(
            out,
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            Show
        );
        let _ = disable_raw_mode();
        let _ = out.flush();
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The OSC 52 escape sequence that asks the terminal to put `text` on the
/// system clipboard (works over SSH too; tmux needs `set-clipboard on`).
pub fn osc52(text: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{b64}\x07")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_encodes_base64() {
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
    }

    #[test]
    fn restore_without_enter_is_a_no_op() {
        restore();
        restore();
    }
}
