//! The plain-mode loop: one task owns the `Tutor`; the cluster watchers and
//! the checker arrive on the UI's event channel (`tui::live::spawn_bridge`,
//! as for the TUI), typed lines, signals and the end of a shell on a second
//! one. Output goes through the writer thread (`output`), input comes from
//! the reader thread (`input`), so the task itself never blocks.

use super::input::{self, Input};
use super::output::{OutLine, Output, OutputConfig};
use super::tutor::{Action, Tutor};
use super::words::fill;
use crate::live_status::StatusWriter;
use crate::tui::event::EventChannel;
use crate::tui::run::TuiConfig;
use anyhow::Context;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::mpsc;

/// What plain mode needs besides what the TUI gets.
#[derive(Debug, Clone, Default)]
pub struct PlainOptions {
    /// The arguments that start the course shell from this executable
    /// (`... shell`); `None` when this build has no `shell` command.
    pub shell: Option<Vec<OsString>>,
}

/// Typed lines, signals, and the shell's end.
enum Local {
    Input(Input),
    /// SIGINT (`true`: Ctrl-C, which a running shell handles itself),
    /// SIGTERM or SIGHUP.
    Signal {
        interrupt: bool,
    },
    ShellDone(Result<std::process::ExitStatus, String>),
    OutputFailed,
}

/// Whether colours were asked for (`CLICOLOR_FORCE`, unless `NO_COLOR`).
fn colour_wanted() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
    set("CLICOLOR_FORCE") && !set("NO_COLOR")
}

/// Whether the clipboard can be asked for through the terminal (OSC 52).
fn can_copy() -> bool {
    std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Runs plain mode until the learner quits, input ends or a signal
/// arrives. Progress is saved on every way out.
pub async fn run(cfg: TuiConfig, opts: PlainOptions) -> anyhow::Result<()> {
    let mut tutor = Tutor::new(
        cfg.course,
        cfg.lang,
        cfg.progress,
        cfg.saver,
        cfg.start.as_deref(),
        cfg.connection,
    );
    if let Some(c) = cfg.checker {
        tutor.set_checker(c);
    }
    if let Some(dir) = &cfg.lab_dir {
        tutor.set_lab_dir(dir);
    }
    let mut status = match cfg.status_file {
        Some(p) => Some(StatusWriter::spawn(p).context("cannot start the status file writer")?),
        None => None,
    };
    let EventChannel { tx, rx: mut events } = cfg.events;
    drop(tx);
    let (local_tx, mut local) = mpsc::unbounded_channel::<Local>();
    let signals = tokio::spawn(signal_task(local_tx.clone()));

    let (permit_tx, permit_rx) = std::sync::mpsc::channel();
    let waiting = Arc::new(AtomicBool::new(false));
    let to_loop = local_tx.clone();
    input::spawn(permit_rx, waiting.clone(), move |i| {
        to_loop.send(Local::Input(i)).is_ok()
    })
    .context("cannot start reading the terminal")?;
    let on_error = local_tx.clone();
    let output = Output::spawn(
        Box::new(std::io::stdout()),
        OutputConfig {
            prompt: std::io::stdin().is_terminal().then(|| "> ".to_owned()),
            colour: colour_wanted(),
            permits: permit_tx,
            waiting,
            on_error: Box::new(move |_| {
                let _ = on_error.send(Local::OutputFailed);
            }),
        },
    )
    .context("cannot start writing to the terminal")?;

    output.reply(tutor.opening(&cfg.notices), true);
    let mut session = Loop {
        tutor,
        output,
        opts,
        local_tx,
        shell: None,
        held: Vec::new(),
        news: Vec::new(),
        news_due: None,
        events_open: true,
    };
    let mut reporter = cfg.reporter;
    loop {
        if status.is_some() || reporter.is_some() {
            let doc = session.tutor.status_doc();
            if let Some(r) = reporter.as_mut() {
                r.publish(&doc);
            }
            if let Some(s) = status.as_mut() {
                s.publish(doc);
            }
        }
        let go_on = tokio::select! {
            ev = events.recv(), if session.events_open => match ev {
                Some(ev) => {
                    let news = session.tutor.event(ev);
                    session.announce(news);
                    true
                }
                None => {
                    session.events_open = false;
                    true
                }
            },
            l = local.recv() => match l {
                Some(l) => session.local(l).await,
                None => false,
            },
            _ = sleep_until(session.news_due), if session.news_due.is_some() => {
                session.flush_news();
                true
            }
        };
        if !go_on {
            break;
        }
    }
    session.flush_news();
    session.tutor.finish();
    if let Some(s) = status {
        s.finish();
    }
    if let Some(shell) = session.shell.take() {
        // Dropping the child (kill_on_drop) ends a shell still running.
        shell.abort();
    }
    signals.abort();
    session.output.finish();
    Ok(())
}

/// The loop's state besides the tutor.
struct Loop {
    tutor: Tutor,
    output: Output,
    opts: PlainOptions,
    local_tx: mpsc::UnboundedSender<Local>,
    /// The task waiting for the course shell, while it runs.
    shell: Option<tokio::task::JoinHandle<()>>,
    /// News that came while the shell had the terminal.
    held: Vec<OutLine>,
    /// News waiting a moment for more: a step done, the next one and what
    /// it waits for come within milliseconds, and are said together (one
    /// prompt, not three).
    news: Vec<OutLine>,
    news_due: Option<tokio::time::Instant>,
    events_open: bool,
}

/// How long news waits for more before it is said.
const NEWS_GATHER: std::time::Duration = std::time::Duration::from_millis(300);

async fn sleep_until(when: Option<tokio::time::Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// At most this many lines of news are kept while a shell runs.
const MAX_HELD: usize = 200;

impl Loop {
    fn announce(&mut self, news: Vec<OutLine>) {
        if news.is_empty() {
            return;
        }
        let queue = if self.shell.is_some() {
            &mut self.held
        } else {
            self.news_due
                .get_or_insert_with(|| tokio::time::Instant::now() + NEWS_GATHER);
            &mut self.news
        };
        queue.extend(news);
        let over = queue.len().saturating_sub(MAX_HELD);
        queue.drain(..over);
    }

    /// Says the news gathered so far.
    fn flush_news(&mut self) {
        self.news_due = None;
        self.output.announce(std::mem::take(&mut self.news));
    }

    /// Handles one local event; false ends the session.
    async fn local(&mut self, l: Local) -> bool {
        match l {
            Local::Input(Input::Line(line)) => self.command(&line).await,
            Local::Input(Input::Closed) | Local::OutputFailed => {
                self.output
                    .reply(vec![OutLine::plain(self.tutor.words().bye)], false);
                false
            }
            Local::Input(Input::Failed(e)) => {
                let w = self.tutor.words();
                self.output.reply(
                    vec![OutLine::plain(fill(w.note, &[&e])), OutLine::plain(w.bye)],
                    false,
                );
                false
            }
            // Ctrl-C in the course shell is the shell's.
            Local::Signal { interrupt: true } if self.shell.is_some() => true,
            Local::Signal { .. } => {
                self.output
                    .reply(vec![OutLine::plain(self.tutor.words().bye)], false);
                false
            }
            Local::ShellDone(result) => {
                self.shell = None;
                let w = self.tutor.words();
                let mut lines = vec![match result {
                    Ok(_) => OutLine::plain(w.shell_back),
                    Err(e) => OutLine::plain(fill(w.shell_failed, &[&e])),
                }];
                lines.append(&mut self.held);
                self.output.reply(lines, true);
                true
            }
        }
    }

    async fn command(&mut self, line: &str) -> bool {
        // What happened before the command is said before its answer.
        self.flush_news();
        let (mut lines, action) = self.tutor.command(line);
        let w = self.tutor.words();
        match action {
            Action::None => self.output.reply(lines, true),
            Action::Quit => {
                lines.push(OutLine::plain(w.bye));
                self.output.reply(lines, false);
                return false;
            }
            Action::Copy(text) => {
                if can_copy() {
                    self.output.raw(crate::tui::terminal::osc52(&text));
                    lines.push(OutLine::plain(fill(w.copied, &[&text.lines().count()])));
                } else {
                    lines.push(OutLine::plain(w.copy_no_terminal));
                    lines.extend(text.lines().map(|l| OutLine::plain(format!("    {l}"))));
                }
                self.output.reply(lines, true);
            }
            Action::Shell => match self.opts.shell.clone() {
                Some(args) => {
                    lines.push(OutLine::plain(w.shell_opening));
                    self.output.reply(lines, false);
                    // Everything is on screen before the shell draws.
                    self.output.sync().await;
                    match self.spawn_shell(args) {
                        Ok(task) => self.shell = Some(task),
                        Err(e) => self
                            .output
                            .reply(vec![OutLine::plain(fill(w.shell_failed, &[&e]))], true),
                    }
                }
                None => {
                    lines.push(OutLine::plain(fill(
                        w.shell_unavailable,
                        &[&self.manual_shell()],
                    )));
                    self.output.reply(lines, true);
                }
            },
        }
        true
    }

    /// Runs `kubetutor shell` (this executable) on the same terminal and
    /// reports its end.
    fn spawn_shell(&self, args: Vec<OsString>) -> Result<tokio::task::JoinHandle<()>, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let tx = self.local_tx.clone();
        Ok(tokio::spawn(async move {
            let r = child.wait().await.map_err(|e| e.to_string());
            let _ = tx.send(Local::ShellDone(r));
        }))
    }

    /// What to type in another terminal to work on the course's cluster.
    fn manual_shell(&self) -> String {
        let c = self.tutor.connection();
        let mut parts = Vec::new();
        if c.context == sandbox::CONTEXT
            && let Some(k) = &c.kubeconfig
        {
            parts.push(format!(
                "export KUBECONFIG={}",
                crate::tui::page::shell_word(&k.to_string_lossy())
            ));
        }
        if let Some(dir) = self.tutor.lab_path() {
            parts.push(format!(
                "cd {}",
                crate::tui::page::shell_word(&dir.to_string_lossy())
            ));
        }
        parts.join("; ")
    }
}

#[cfg(unix)]
async fn signal_task(tx: mpsc::UnboundedSender<Local>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("could not listen for SIGTERM/SIGINT/SIGHUP");
        return;
    };
    loop {
        let interrupt = tokio::select! {
            _ = term.recv() => false,
            _ = int.recv() => true,
            _ = hup.recv() => false,
        };
        if tx.send(Local::Signal { interrupt }).is_err() {
            return;
        }
    }
}

#[cfg(not(unix))]
async fn signal_task(tx: mpsc::UnboundedSender<Local>) {
    while tokio::signal::ctrl_c().await.is_ok() {
        if tx.send(Local::Signal { interrupt: true }).is_err() {
            return;
        }
    }
}
