//! A container's console: what `kubectl attach` reaches of its main
//! process (PID 1). The main process's stdin (kept open with `stdin:
//! true`), its terminal (`tty: true`) and a copy of everything it writes,
//! as it is written, for every attached client. One console per container
//! instance; the app running PID 1 connects it ([`Console::connect`]),
//! the attach sessions use it.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::pipe::PipeWriter;
use super::table::Process;
use super::tty::{LineDiscipline, TtyInput};

/// Which stream a chunk of output was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Output chunks queued for an attached client. Past it the process's
/// output waits for the client (as a runtime's copy into a slow stream
/// does: the container's pipe fills and its writes block), so memory
/// stays bounded and nothing is lost while the client is connected.
const BACKLOG: usize = 256;

#[derive(Default)]
struct Inner {
    process: Option<Arc<Process>>,
    stdin: Option<PipeWriter>,
    terminal: Option<LineDiscipline>,
}

/// The main process's stdio as attach sees it.
pub struct Console {
    inner: Mutex<Inner>,
    /// One queue per attached client.
    output: Mutex<Vec<mpsc::Sender<(Stream, Bytes)>>>,
    /// Set once the main process has exited and its output is all sent.
    done: watch::Sender<bool>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("process", &self.process().map(|p| p.pid()))
            .field("attached", &guard(&self.output).len())
            .finish()
    }
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Console {
    pub fn new() -> Arc<Console> {
        Arc::new(Console {
            inner: Mutex::new(Inner::default()),
            output: Mutex::new(Vec::new()),
            done: watch::channel(false).0,
        })
    }

    /// The main process started: its stdin (None when the container has
    /// no `stdin: true`) and its terminal (with `tty: true`).
    pub fn connect(
        &self,
        process: Arc<Process>,
        stdin: Option<PipeWriter>,
        terminal: Option<LineDiscipline>,
    ) {
        let mut inner = guard(&self.inner);
        inner.process = Some(process);
        inner.stdin = stdin;
        inner.terminal = terminal;
    }

    /// The main process, once an app connected it.
    pub fn process(&self) -> Option<Arc<Process>> {
        guard(&self.inner).process.clone()
    }

    /// Whether the main process has a terminal.
    pub fn has_terminal(&self) -> bool {
        guard(&self.inner).terminal.is_some()
    }

    /// A writer to the main process's stdin, while it is open.
    pub fn stdin(&self) -> Option<PipeWriter> {
        guard(&self.inner).stdin.clone()
    }

    /// Closes the main process's stdin for good (`stdinOnce` after the
    /// first attach): it reads end-of-file once the attached writers are
    /// gone.
    pub fn close_stdin(&self) {
        let mut inner = guard(&self.inner);
        inner.stdin = None;
        inner.terminal = None;
    }

    /// Typed bytes through the terminal's line discipline; None without a
    /// terminal (the bytes go to stdin as they are).
    pub fn type_input(&self, bytes: &[u8]) -> Option<TtyInput> {
        guard(&self.inner).terminal.as_mut().map(|t| t.input(bytes))
    }

    /// The client's window size, for the terminal.
    pub fn resize(&self, columns: u16, rows: u16) {
        if let Some(t) = &guard(&self.inner).terminal {
            t.state().resize(columns, rows);
        }
    }

    /// Copies output to the attached clients (none: it is dropped),
    /// waiting for a client whose queue is full.
    pub async fn publish(&self, stream: Stream, data: &[u8]) {
        let clients: Vec<_> = guard(&self.output).clone();
        if clients.is_empty() {
            return;
        }
        let chunk = Bytes::copy_from_slice(data);
        for client in &clients {
            // A client gone meanwhile is dropped below.
            let _ = client.send((stream, chunk.clone())).await;
        }
        guard(&self.output).retain(|c| !c.is_closed());
    }

    /// Copies a terminal's echo to the clients without waiting (it comes
    /// from a client's own session, which must not wait on itself): a
    /// client whose queue is full misses it.
    pub fn echo(&self, data: &[u8]) {
        let chunk = Bytes::copy_from_slice(data);
        for client in guard(&self.output).iter() {
            let _ = client.try_send((Stream::Stdout, chunk.clone()));
        }
    }

    /// The output from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<(Stream, Bytes)> {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let mut clients = guard(&self.output);
        clients.retain(|c| !c.is_closed());
        clients.push(tx);
        rx
    }

    /// The main process has exited and all it wrote is published.
    pub fn finish(&self) {
        self.done.send_replace(true);
    }

    /// Resolves once [`Console::finish`] was called.
    pub async fn finished(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_reaches_subscribers_and_stdin_closes_once() {
        let c = Console::new();
        c.publish(Stream::Stdout, b"lost: nobody attached").await;
        let mut rx = c.subscribe();
        c.publish(Stream::Stderr, b"x").await;
        assert_eq!(rx.recv().await.unwrap(), (Stream::Stderr, Bytes::from("x")));
        // A slow client holds the output back instead of losing it.
        let c2 = Arc::clone(&c);
        let writer = tokio::spawn(async move {
            for i in 0..(BACKLOG + 10) {
                c2.publish(Stream::Stdout, i.to_string().as_bytes()).await;
            }
        });
        for i in 0..(BACKLOG + 10) {
            let (_, data) = rx.recv().await.unwrap();
            assert_eq!(data, Bytes::from(i.to_string()));
        }
        writer.await.unwrap();
        // A client gone no longer holds anything.
        drop(rx);
        c.publish(Stream::Stdout, b"y").await;
        assert!(guard(&c.output).is_empty());
        let (w, r) = super::super::pipe::pipe();
        let table = super::super::ProcessTable::new(super::super::MemBudget::standalone(1 << 20));
        let p = table.register(0, "sh", true).unwrap();
        c.connect(p, Some(w), None);
        assert!(c.stdin().is_some() && !c.has_terminal());
        assert!(c.type_input(b"ls\n").is_none());
        c.close_stdin();
        assert!(c.stdin().is_none());
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf, &|| false).unwrap(), 0, "EOF once closed");
        c.finish();
        c.finished().await;
    }
}
