//! A terminal between a client (`kubectl exec -it`, later `kubectl attach`)
//! and a process: the kernel's line discipline in canonical mode. Typed
//! bytes are echoed, edited (backspace, ctrl-U), and handed to the process
//! a line at a time; ctrl-C and ctrl-\ signal the foreground process,
//! ctrl-D on an empty line is an end-of-file. Output gets `\r\n` line ends
//! (`onlcr`).

use std::sync::{Arc, Mutex, MutexGuard};

use super::pipe::PipeWriter;
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

/// The line discipline of one terminal.
pub struct LineDiscipline {
    state: Arc<TtyState>,
    /// The process's stdin; None once closed.
    stdin: Option<PipeWriter>,
    /// The screen: the same pipe the process writes its output to.
    echo: PipeWriter,
    line: Vec<u8>,
    escape: Escape,
}

/// The longest line the terminal holds (Linux's is 4095).
const MAX_LINE: usize = 4095;

impl LineDiscipline {
    pub fn new(state: Arc<TtyState>, stdin: PipeWriter, echo: PipeWriter) -> LineDiscipline {
        LineDiscipline {
            state,
            stdin: Some(stdin),
            echo,
            line: Vec::new(),
            escape: Escape::None,
        }
    }

    pub fn state(&self) -> &Arc<TtyState> {
        &self.state
    }

    /// Handles typed bytes.
    pub async fn input(&mut self, bytes: &[u8]) {
        let mut echo = Vec::new();
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
                    echo.push(b'\n');
                    self.line.push(b'\n');
                    self.flush_echo(&mut echo).await;
                    self.deliver().await;
                }
                0x7f | 0x08 => {
                    if self.line.pop().is_some() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x15 => {
                    for _ in 0..self.line.len() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                    self.line.clear();
                }
                0x03 => {
                    echo.extend_from_slice(b"^C");
                    self.line.clear();
                    self.flush_echo(&mut echo).await;
                    self.state.signal(Signal::Int);
                }
                0x1c => {
                    echo.extend_from_slice(b"^\\");
                    self.line.clear();
                    self.flush_echo(&mut echo).await;
                    self.state.signal(Signal::Quit);
                }
                0x04 => {
                    self.flush_echo(&mut echo).await;
                    if self.line.is_empty() {
                        if let Some(stdin) = &self.stdin {
                            stdin.send_eof();
                        }
                    } else {
                        self.deliver().await;
                    }
                }
                b if self.line.len() < MAX_LINE => {
                    self.line.push(b);
                    if b < 0x20 && b != b'\t' {
                        echo.extend_from_slice(&[b'^', b + 0x40]);
                    } else {
                        echo.push(b);
                    }
                }
                _ => {}
            }
        }
        self.flush_echo(&mut echo).await;
    }

    /// Closes the process's stdin (the client went away).
    pub fn close(&mut self) {
        self.stdin = None;
    }

    async fn flush_echo(&mut self, echo: &mut Vec<u8>) {
        if !echo.is_empty() {
            let _ = self.echo.write_all_async(echo).await;
            echo.clear();
        }
    }

    async fn deliver(&mut self) {
        let line = std::mem::take(&mut self.line);
        if let Some(stdin) = &self.stdin
            && stdin.write_all_async(&line).await.is_err()
        {
            self.stdin = None;
        }
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
    use crate::process::{MemBudget, ProcessTable, pipe};

    #[tokio::test]
    async fn lines_echo_edit_and_signals() {
        let (in_w, in_r) = pipe::pipe();
        let (out_w, out_r) = pipe::pipe();
        let state = TtyState::new();
        let table = ProcessTable::new(MemBudget::standalone(1 << 20));
        let sh = table.register(0, "sh", false).unwrap();
        state.set_foreground(Some(Arc::clone(&sh)));
        let mut tty = LineDiscipline::new(Arc::clone(&state), in_w, out_w.clone());
        tty.input(b"lx\x7fs\x1b[A\r").await;
        let mut buf = [0u8; 64];
        let n = in_r.try_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ls\n");
        let n = out_r.try_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"lx\x08 \x08s\n");
        tty.input(b"abc\x03").await;
        assert!(sh.mailbox().has(Signal::Int));
        assert_eq!(in_r.try_read(&mut buf), None, "the line was dropped");
        tty.input(b"\x04").await;
        assert_eq!(in_r.try_read(&mut buf), Some(0));
        let mut prev = 0;
        assert_eq!(onlcr(b"a\nb\r\n", &mut prev), b"a\r\nb\r\n");
    }
}
