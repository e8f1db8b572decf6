//! The event loop: one task owns `App`, everything else sends `AppEvent`s.

use super::app::App;
use super::event::{AppEvent, ConnectionInfo, EventChannel};
use super::terminal::{TerminalGuard, osc52};
use super::theme::Theme;
use super::ui;
use crate::check::engine::CheckerHandle;
use crate::course::Course;
use crate::lesson::Lang;
use crate::live_status::StatusWriter;
use crate::progress::{Progress, ProgressSaver};
use anyhow::Context;
use crossterm::event::EventStream;
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// What the UI needs to start.
pub struct TuiConfig {
    pub course: Course,
    pub lang: Lang,
    /// Loaded progress; `current` says where to resume.
    pub progress: Progress,
    pub saver: ProgressSaver,
    /// A lesson id to open instead of the one in `progress.current`.
    pub start: Option<String>,
    pub connection: ConnectionInfo,
    /// Create it before `run` and hand `events.sender()` clones to the
    /// cluster watchers and the checker.
    pub events: EventChannel,
    /// `None`: from the environment (`NO_COLOR`, locale).
    pub theme: Option<Theme>,
    /// Told the active step and quiz answers (see `live::spawn_bridge` for
    /// the other direction).
    pub checker: Option<CheckerHandle>,
    /// Where to publish the live status (`status::session_file`).
    pub status_file: Option<PathBuf>,
    /// The lab directory, named at the top of every lesson and in the help.
    pub lab_dir: Option<PathBuf>,
    /// Notices shown (one after the other) before anything else.
    pub notices: Vec<String>,
    /// The course's shell (aimed at the cluster, in the lab directory);
    /// `None` when it could not be prepared (`shell_setup.unavailable`).
    pub shell: Option<crate::shell::ShellSpec>,
    /// What the app shows and says about the shell (pane on or off...).
    pub shell_setup: super::app::ShellSetup,
    /// Takes every status document to the classroom joined, if any.
    pub reporter: Option<crate::classroom::Reporter>,
}

impl TuiConfig {
    pub fn new(course: Course, lang: Lang, progress: Progress, saver: ProgressSaver) -> Self {
        Self {
            course,
            lang,
            progress,
            saver,
            start: None,
            connection: ConnectionInfo::default(),
            events: EventChannel::new(),
            theme: None,
            checker: None,
            status_file: None,
            lab_dir: None,
            notices: Vec::new(),
            shell: None,
            shell_setup: Default::default(),
            reporter: None,
        }
    }
}

/// Runs the UI until the learner quits or a signal arrives. The terminal is
/// restored on every way out.
pub async fn run(cfg: TuiConfig) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the tutorial needs an interactive terminal; run kubetutor directly in a terminal, not through a pipe"
        );
    }
    let theme = cfg.theme.unwrap_or_else(Theme::from_env);
    let mut app = App::new(
        cfg.course,
        cfg.lang,
        cfg.progress,
        cfg.saver,
        cfg.start.as_deref(),
        cfg.connection,
        theme,
    );
    if let Some(c) = cfg.checker {
        app.set_checker(c);
    }
    if let Some(dir) = &cfg.lab_dir {
        app.set_lab_dir(dir);
    }
    for n in cfg.notices {
        app.notify(n);
    }
    app.set_shell(cfg.shell_setup);
    let mut status = match cfg.status_file {
        Some(p) => Some(StatusWriter::spawn(p).context("cannot start the status file writer")?),
        None => None,
    };
    let EventChannel { tx, mut rx } = cfg.events;
    // Listen for signals before touching the terminal, so that a SIGTERM
    // during start-up also restores it.
    let signals = tokio::spawn(signal_task(tx.clone(), Signals::listen()));

    let guard =
        TerminalGuard::enter().context("could not switch the terminal to full-screen mode")?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("could not set up the terminal")?;

    let input = tokio::spawn(input_task(tx.clone()));
    let mut shells = cfg.shell.map(|spec| ShellHost {
        spec,
        events: tx.clone(),
    });
    drop(tx);

    let mut reporter = cfg.reporter;
    let result = event_loop(
        &mut terminal,
        &mut app,
        &mut rx,
        status.as_mut(),
        shells.as_mut(),
        reporter.as_mut(),
    )
    .await;
    if let Some(s) = status {
        s.finish();
    }

    input.abort();
    signals.abort();
    drop(terminal);
    drop(guard);
    // The terminal is back: hang up the pane's shell (its jobs with it).
    if let Some(shell) = app.take_shell() {
        shell.shutdown().await;
    }
    result
}

/// Starts the pane's shells (the spec and the channel their events go to).
struct ShellHost {
    spec: crate::shell::ShellSpec,
    events: mpsc::Sender<AppEvent>,
}

impl ShellHost {
    /// After a frame: start the shell the pane wants, at the pane's size,
    /// or keep the running one's size equal to the pane's. True when the
    /// screen must be drawn again.
    fn after_frame(&mut self, app: &mut App) -> bool {
        if let Some((rows, cols)) = app.shell_start_wanted() {
            let id = app.next_shell_id();
            let started =
                crate::shell::session::spawn(&self.spec, id, rows, cols, self.events.clone());
            app.shell_started(started);
            return true;
        }
        app.shell_fit()
    }
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    app: &mut App,
    rx: &mut mpsc::Receiver<AppEvent>,
    mut status: Option<&mut StatusWriter>,
    mut shells: Option<&mut ShellHost>,
    mut reporter: Option<&mut crate::classroom::Reporter>,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| ui::draw(f, app))?;
            dirty = false;
            if status.is_some() || reporter.is_some() {
                let doc = app.status_doc();
                if let Some(r) = reporter.as_deref_mut() {
                    r.publish(&doc);
                }
                if let Some(s) = status.as_deref_mut() {
                    s.publish(doc);
                }
            }
            if let Some(h) = shells.as_deref_mut()
                && h.after_frame(app)
            {
                dirty = true;
                continue;
            }
        }
        // The ticker is polled only while a clock is on screen, so an idle
        // UI sleeps in `recv`.
        let ev = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => return Ok(()),
            },
            _ = ticker.tick(), if app.wants_tick() => AppEvent::Tick,
        };
        dirty |= app.update(ev).needed();
        // Handle a burst (paste, many watch events) before drawing once.
        while !app.should_quit() {
            match rx.try_recv() {
                Ok(ev) => dirty |= app.update(ev).needed(),
                Err(_) => break,
            }
        }
        if let Some(text) = app.take_copy_request() {
            let out = terminal.backend_mut();
            out.write_all(osc52(&text).as_bytes())?;
            out.flush()?;
        }
        if app.should_quit() {
            return Ok(());
        }
    }
}

async fn input_task(tx: mpsc::Sender<AppEvent>) {
    let mut events = EventStream::new();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(ev) => {
                if let Some(ev) = AppEvent::from_terminal(ev)
                    && tx.send(ev).await.is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::error!("reading the terminal failed: {e}");
                let _ = tx.send(AppEvent::Quit).await;
                return;
            }
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP listeners (registered when created).
#[cfg(unix)]
struct Signals(
    Option<(
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
    )>,
);

#[cfg(unix)]
impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(i), Ok(h)) => Signals(Some((t, i, h))),
            _ => {
                tracing::warn!("could not listen for SIGTERM/SIGINT/SIGHUP");
                Signals(None)
            }
        }
    }
}

#[cfg(unix)]
async fn signal_task(tx: mpsc::Sender<AppEvent>, signals: Signals) {
    let Some((mut term, mut int, mut hup)) = signals.0 else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
    let _ = tx.send(AppEvent::Quit).await;
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn listen() -> Signals {
        Signals
    }
}

#[cfg(not(unix))]
async fn signal_task(tx: mpsc::Sender<AppEvent>, _: Signals) {
    if tokio::signal::ctrl_c().await.is_ok() {
        let _ = tx.send(AppEvent::Quit).await;
    }
}
