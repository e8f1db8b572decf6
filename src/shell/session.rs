//! One running shell on a pseudo-terminal, and the tasks around it.
//!
//! - the reader feeds the pty's output to the emulator (`Term`, behind a
//!   lock the UI takes only to copy the visible cells) and wakes the
//!   notifier;
//! - the notifier sends `ShellEvent::Output` into the UI's channel at most
//!   once per `FRAME` (a flood of output is many reads, one event per
//!   frame, and the channel never fills with it);
//! - the writer owns the pty's write half: keys, pastes, replies to the
//!   terminal's queries, and resizes (the pty is resized together with the
//!   emulator, so programs get their SIGWINCH);
//! - the waiter reaps the shell and reports its exit.
//!
//! `shutdown` closes the pty (the kernel hangs up the shell's session, as
//! when a terminal window closes), waits a moment, then kills the shell.

use super::term::Term;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// At most one "the screen changed" event per this interval.
pub const FRAME: Duration = Duration::from_millis(30);

/// Input chunks queued for the shell (keys, pastes): far more than a
/// person types; a shell that stops reading makes the next ones fail.
const INPUT_QUEUE: usize = 1024;

/// How long a hung-up shell has to exit before it is killed.
const HANGUP_GRACE: Duration = Duration::from_millis(500);

/// What the writer task is asked to do.
#[derive(Debug)]
pub enum Input {
    Bytes(Vec<u8>),
    Resize(u16, u16),
}

/// The UI's handle on one shell.
#[derive(Debug)]
pub struct ShellSession {
    pub id: u64,
    term: Arc<Mutex<Term>>,
    input: mpsc::Sender<Input>,
    closer: Option<Closer>,
}

#[derive(Debug)]
struct Closer {
    hangup: tokio::sync::oneshot::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn lock(term: &Mutex<Term>) -> MutexGuard<'_, Term> {
    // A panic while holding the lock leaves a screen that is still valid.
    term.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShellSession {
    /// A session with no process behind it: what is written goes to the
    /// returned receiver (tests, and the render snapshots).
    pub fn detached(id: u64, rows: u16, cols: u16) -> (ShellSession, mpsc::Receiver<Input>) {
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let s = ShellSession {
            id,
            term: Arc::new(Mutex::new(Term::new(rows, cols))),
            input: tx,
            closer: None,
        };
        (s, rx)
    }

    /// Runs `f` on the emulator (briefly: the reader waits meanwhile).
    pub fn with_term<R>(&self, f: impl FnOnce(&mut Term) -> R) -> R {
        f(&mut lock(&self.term))
    }

    /// Sends bytes to the shell without waiting; false when the shell has
    /// stopped reading (or is gone) and they were dropped.
    pub fn write(&self, bytes: Vec<u8>) -> bool {
        if bytes.is_empty() {
            return true;
        }
        self.input.try_send(Input::Bytes(bytes)).is_ok()
    }

    /// Resizes the emulator now and the pty right after (never one
    /// without the other).
    pub fn resize(&self, rows: u16, cols: u16) {
        let (rows, cols) = (rows.max(1), cols.max(1));
        let changed = self.with_term(|t| {
            let before = t.size();
            t.resize(rows, cols);
            before != (rows, cols)
        });
        if changed {
            // A full queue only delays keys; a resize must get through.
            let input = self.input.clone();
            if let Err(mpsc::error::TrySendError::Full(msg)) =
                input.try_send(Input::Resize(rows, cols))
                && let Ok(handle) = tokio::runtime::Handle::try_current()
            {
                handle.spawn(async move {
                    let _ = input.send(msg).await;
                });
            }
        }
    }

    /// Hangs up the shell and waits (briefly) until it and its tasks are
    /// gone; kills it if it lingers.
    pub async fn shutdown(mut self) {
        let Some(closer) = self.closer.take() else {
            return;
        };
        let _ = closer.hangup.send(());
        for t in closer.tasks {
            let _ = tokio::time::timeout(HANGUP_GRACE * 4, t).await;
        }
    }
}

/// News from the shell pane's shell (sent into the UI's channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellEvent {
    /// Its screen changed (at most one per frame interval, however much
    /// it printed).
    Output { id: u64 },
    /// It ended (the learner typed `exit`...): the next open starts a new
    /// one.
    Exited { id: u64, status: String },
}

/// Starts `spec`'s shell on a new pty of `rows` x `cols`. Errors say what
/// failed (no pty on this system, the shell cannot be run...).
#[cfg(unix)]
pub fn spawn<E: From<ShellEvent> + Send + 'static>(
    spec: &super::ShellSpec,
    id: u64,
    rows: u16,
    cols: u16,
    events: mpsc::Sender<E>,
) -> Result<ShellSession, String> {
    let (rows, cols) = (rows.max(1), cols.max(1));
    let (pty, pts) =
        pty_process::open().map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
    pty.resize(pty_process::Size::new(rows, cols))
        .map_err(|e| format!("cannot size the pseudo-terminal: {e}"))?;
    let mut cmd = pty_process::Command::new(&spec.program)
        .args(spec.args(true, None))
        .current_dir(&spec.cwd)
        // Programs in the pane talk to our emulator, not to the outer
        // terminal (or tmux) kubetutor runs in.
        .env("TERM", "xterm-256color")
        .env_remove("COLUMNS")
        .env_remove("LINES")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .kill_on_drop(true);
    for k in &spec.remove {
        cmd = cmd.env_remove(k);
    }
    cmd = cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    let child = cmd
        .spawn(pts)
        .map_err(|e| format!("cannot start {}: {e}", spec.program.display()))?;
    let (read, write) = pty.into_split();
    let term = Arc::new(Mutex::new(Term::new(rows, cols)));
    let notify = Arc::new(Notify::new());
    let (input, input_rx) = mpsc::channel(INPUT_QUEUE);
    let (hangup, hangup_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(read_task(read, term.clone(), notify.clone(), input.clone()));
    let writer = tokio::spawn(write_task(write, input_rx));
    tokio::spawn(notify_task(notify, events.clone(), id));
    let waiter = tokio::spawn(wait_task(child, events, id, hangup_rx, reader, writer));
    Ok(ShellSession {
        id,
        term,
        input,
        closer: Some(Closer {
            hangup,
            tasks: vec![waiter],
        }),
    })
}

/// No pseudo-terminals here: the pane says so and the rest works.
#[cfg(not(unix))]
pub fn spawn<E: From<ShellEvent> + Send + 'static>(
    _spec: &super::ShellSpec,
    _id: u64,
    _rows: u16,
    _cols: u16,
    _events: mpsc::Sender<E>,
) -> Result<ShellSession, String> {
    Err(NO_PTY.to_owned())
}

/// Why there is no shell pane on this platform.
pub const NO_PTY: &str = "this system has no pseudo-terminals kubetutor can use, so there is no shell pane here; run `kubetutor shell` in another terminal";

#[cfg(unix)]
async fn read_task(
    mut read: pty_process::OwnedReadPty,
    term: Arc<Mutex<Term>>,
    notify: Arc<Notify>,
    input: mpsc::Sender<Input>,
) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match read.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                let replies = {
                    let mut t = lock(&term);
                    t.process(&buf[..n]);
                    t.take_replies()
                };
                if !replies.is_empty() {
                    let _ = input.try_send(Input::Bytes(replies));
                }
                notify.notify_one();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO: the shell's side of the pty is closed.
            Err(_) => break,
        }
    }
    notify.notify_one();
}

#[cfg(unix)]
async fn write_task(mut write: pty_process::OwnedWritePty, mut input: mpsc::Receiver<Input>) {
    use tokio::io::AsyncWriteExt as _;
    while let Some(msg) = input.recv().await {
        match msg {
            Input::Bytes(b) => {
                if write.write_all(&b).await.is_err() {
                    break;
                }
            }
            Input::Resize(rows, cols) => {
                let _ = write.resize(pty_process::Size::new(rows, cols));
            }
        }
    }
}

/// One `Output` event per wake-up, then a pause of a frame: wake-ups
/// during the pause are remembered by `Notify` and fold into one event.
async fn notify_task<E: From<ShellEvent>>(notify: Arc<Notify>, events: mpsc::Sender<E>, id: u64) {
    loop {
        notify.notified().await;
        if events.send(ShellEvent::Output { id }.into()).await.is_err() {
            return;
        }
        tokio::time::sleep(FRAME).await;
    }
}

#[cfg(unix)]
async fn wait_task<E: From<ShellEvent>>(
    mut child: tokio::process::Child,
    events: mpsc::Sender<E>,
    id: u64,
    hangup: tokio::sync::oneshot::Receiver<()>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
) {
    let mut reader = reader;
    let status = tokio::select! {
        s = child.wait() => {
            // The shell is gone: once its last output is read, close the
            // pty (what it left running in the background is hung up, as
            // when a terminal window closes).
            let _ = tokio::time::timeout(Duration::from_millis(200), &mut reader).await;
            reader.abort();
            writer.abort();
            s
        }
        _ = hangup => {
            // Closing both halves of the pty hangs up the shell's session
            // (its jobs get SIGHUP from it); one that lingers is killed.
            reader.abort();
            writer.abort();
            let _ = reader.await;
            let _ = writer.await;
            if tokio::time::timeout(HANGUP_GRACE, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            // The UI is gone: nobody to tell.
            return;
        }
    };
    let status = match status {
        Ok(s) => match s.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_owned(),
        },
        Err(e) => format!("lost: {e}"),
    };
    let _ = events.send(ShellEvent::Exited { id, status }.into()).await;
}
