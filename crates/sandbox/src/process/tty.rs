//! A terminal between a client (`kubectl exec -it`, later `kubectl attach`)
//! and a process: the kernel's line discipline in canonical mode. Typed
//! bytes are echoed, edited (backspace, ctrl-U), and handed to the process
//! a line at a time; ctrl-C and ctrl-\ signal the foreground process,
//! ctrl-D on an empty line is an end-of-file. Output gets `\r\n` line ends
//! (`onlcr`).

use std::sync::{Arc, Mutex, MutexGuard};

use super::signal::Signal;
use super::table::Process;

/// What the terminal and the processes on it share: the foreground
/// process (the one ctrl-C reaches) and the window size.
#[derive(Debug, Default)]
pub struct TtyState {
    foreground: Mutex<Option<Arc<Process>>>,
    size: Mutex<(u16, u16)>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TtyState {
    pub fn new() -> Arc<TtyState> {
        Arc::new(TtyState {
            foreground: Mutex::new(None),
            size: Mutex::new((80, 24)),
        })
    }

    /// Makes `p` the foreground process; returns the previous one.
    pub fn set_foreground(&self, p: Option<Arc<Process>>) -> Option<Arc<Process>> {
        std::mem::replace(&mut *guard(&self.foreground), p)
    }

    pub fn foreground(&self) -> Option<Arc<Process>> {
        guard(&self.foreground).clone()
    }

    /// (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        *guard(&self.size)
    }

    pub fn resize(&self, columns: u16, rows: u16) {
        if columns > 0 && rows > 0 {
            *guard(&self.size) = (columns, rows);
        }
    }

    fn signal(&self, sig: Signal) {
        if let Some(p) = self.foreground() {
            p.signal(sig);
        }
    }
}

/// Where an escape sequence (arrow keys...) is in its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Started,
    Csi,
}

/// What typed bytes produced: the echo for the screen, the bytes that
/// reach the process's stdin (whole lines), and whether an end-of-file
/// (ctrl-D on an empty line) was typed. Signals (ctrl-C, ctrl-\\) are
/// delivered to the foreground process at once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TtyInput {
    pub echo: Vec<u8>,
    pub stdin: Vec<u8>,
    pub eof: bool,
}

/// The line discipline of one terminal. It does no I/O: the session
/// that owns it sends the echo to the screen and the lines to stdin,
/// so it never blocks on a full pipe.
pub struct LineDiscipline {
    state: Arc<TtyState>,
    line: Vec<u8>,
    escape: Escape,
}

/// The longest line the terminal holds (Linux's is 4095).
const MAX_LINE: usize = 4095;

impl LineDiscipline {
    pub fn new(state: Arc<TtyState>) -> LineDiscipline {
        LineDiscipline {
            state,
            line: Vec::new(),
            escape: Escape::None,
        }
    }

    pub fn state(&self) -> &Arc<TtyState> {
        &self.state
    }

    /// Handles typed bytes.
    pub fn input(&mut self, bytes: &[u8]) -> TtyInput {
        let mut r = TtyInput::default();
        for &b in bytes {
            match self.escape {
                Escape::Started => {
                    self.escape = if b == b'[' || b == b'O' {
                        Escape::Csi
                    } else {
                        Escape::None
                    };
                    continue;
                }
                Escape::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.escape = Escape::None;
                    }
                    continue;
                }
                Escape::None => {}
            }
            match b {
                0x1b => self.escape = Escape::Started,
                b'\r' | b'\n' => {
                    r.echo.push(b'\n');
                    self.line.push(b'\n');
                    r.stdin.append(&mut self.line);
                }
                0x7f | 0x08 if self.line.pop().is_some() => {
                    r.echo.extend_from_slice(b"\x08 \x08");
                }
                0x7f | 0x08 => {}
                0x15 => {
                    for _ in 0..self.line.len() {
                        r.echo.extend_from_slice(b"\x08 \x08");
                    }
                    self.line.clear();
                }
                0x03 => {
                    r.echo.extend_from_slice(b"^C");
                    self.line.clear();
                    self.state.signal(Signal::Int);
                }
                0x1c => {
                    r.echo.extend_from_slice(b"^\\");
                    self.line.clear();
                    self.state.signal(Signal::Quit);
                }
                0x04 => {
                    if self.line.is_empty() {
                        r.eof = true;
                    } else {
                        r.stdin.append(&mut self.line);
                    }
                }
                b if self.line.len() < MAX_LINE => {
                    self.line.push(b);
                    if b < 0x20 && b != b'\t' {
                        r.echo.extend_from_slice(&[b'^', b + 0x40]);
                    } else {
                        r.echo.push(b);
                    }
                }
                _ => {}
            }
        }
        r
    }
}

/// Output post-processing of a terminal: `\n` becomes `\r\n`. `prev` is
/// the last byte of the previous chunk (so a `\r\n` split across chunks
/// is left alone).
pub fn onlcr(data: &[u8], prev: &mut u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' && *prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        *prev = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{MemBudget, ProcessTable};

    #[test]
    fn lines_echo_edit_and_signals() {
        let state = TtyState::new();
        let table = ProcessTable::new(MemBudget::standalone(1 << 20));
        let sh = table.register(0, "sh", false).unwrap();
        state.set_foreground(Some(Arc::clone(&sh)));
        let mut tty = LineDiscipline::new(Arc::clone(&state));
        let r = tty.input(b"lx\x7fs\x1b[A\r");
        assert_eq!(r.stdin, b"ls\n");
        assert_eq!(r.echo, b"lx\x08 \x08s\n");
        let r = tty.input(b"abc\x03");
        assert!(sh.mailbox().has(Signal::Int));
        assert!(r.stdin.is_empty(), "the line was dropped");
        assert!(tty.input(b"\x04").eof);
        let mut prev = 0;
        assert_eq!(onlcr(b"a\nb\r\n", &mut prev), b"a\r\nb\r\n");
    }
}
