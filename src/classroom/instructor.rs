//! `kubetutor classroom serve`: the classroom server (or, with
//! `--cluster`, the follower of a shared cluster), the roster kept on
//! disk, the live status for `classroom status`, and the grid.
//!
//! Without a terminal (or with `--headless`) there is no grid: the join
//! line is printed and the classroom runs until Ctrl-C, SIGTERM or
//! SIGHUP; `classroom status` shows the class.

use super::code::JoinCode;
use super::files::{self, Identity};
use super::grid::{Action, Grid, Source};
use super::server::{self, Classroom};
use crate::course::Course;
use crate::lesson::Lang;
use crate::text::fill;
use anyhow::{Context as _, Result, bail};
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The default address: every interface, port 7443.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7443";

/// How the class is followed.
pub enum Mode {
    /// The classroom server on this address.
    Server {
        listen: String,
        code: Option<JoinCode>,
        new_code: bool,
    },
    /// A shared cluster's ConfigMaps.
    Cluster {
        connect: crate::cluster::connection::ConnectOptions,
        classroom: String,
    },
}

pub struct ServeOptions {
    pub mode: Mode,
    pub headless: bool,
    pub max_learners: usize,
}

/// A LAN address of this machine, to read out when listening on every
/// interface: the one the system would use to reach the outside (nothing
/// is sent), else loopback.
pub fn lan_address() -> std::net::IpAddr {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// The address learners type: the listening one, with a LAN address for
/// "every interface".
pub fn advertised(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(lan_address(), addr.port())
    } else {
        addr
    }
}

/// Runs `classroom serve` until the instructor quits.
pub fn serve(data_dir: &Path, course: Course, lang: Lang, opts: ServeOptions) -> Result<()> {
    if let Some(doc) = crate::live_status::read_live(&files::status_file(data_dir)) {
        bail!(
            "a classroom already runs with the data directory {} (pid {}): use it, or stop it first",
            data_dir.display(),
            doc["classroom"]["pid"]
        );
    }
    files::create_dir(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(data_dir, course, lang, opts))
}

async fn run(data_dir: &Path, course: Course, lang: Lang, opts: ServeOptions) -> Result<()> {
    let (mut roster, warning) = files::load_roster(data_dir);
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    roster.max_learners = opts.max_learners;
    for l in roster.learners.values_mut() {
        l.connected = false;
    }
    let class = Classroom::new(roster);
    let cancel = CancellationToken::new();
    let (source, status_head, task) = match opts.mode {
        Mode::Server {
            listen,
            code,
            new_code,
        } => {
            let id = Identity::load_or_create(data_dir, code, new_code)?;
            if id.code.is_short() {
                eprintln!(
                    "warning: the join code is shorter than a generated one (16 characters): anyone who guesses it joins"
                );
            }
            let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| {
                format!("cannot listen on {listen}: is the port in use, or the address not this machine's? Choose another with --listen ADDR:PORT")
            })?;
            let addr = listener.local_addr()?;
            let join = format!("{}@{}", id.code, advertised(addr));
            let acceptor = super::tls::acceptor(&id.tls)?;
            let task = tokio::spawn(server::serve(
                listener,
                acceptor,
                id.code.clone(),
                class.clone(),
                cancel.clone(),
            ));
            let head = serde_json::json!({"state": "serving", "listen": addr.to_string(), "join_address": advertised(addr).to_string()});
            (Source::Server { join }, head, task)
        }
        Mode::Cluster { connect, classroom } => {
            let (client, info) = crate::cluster::connection::connect(&connect).await?;
            let task = tokio::spawn(super::shared::follow(
                client,
                classroom.clone(),
                class.clone(),
                cancel.clone(),
            ));
            let head = serde_json::json!({"state": "following", "context": info.context, "classroom": classroom});
            (
                Source::Cluster {
                    context: info.context,
                    classroom,
                },
                head,
                task,
            )
        }
    };
    let keeper = tokio::spawn(keep(
        data_dir.to_path_buf(),
        class.clone(),
        course.clone(),
        lang,
        status_head,
        cancel.clone(),
    ));
    let interactive =
        !opts.headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let result = if interactive {
        grid_loop(Grid::new(course, lang, source), &class).await
    } else {
        headless(&source, lang).await
    };
    cancel.cancel();
    let _ = task.await;
    let _ = keeper.await;
    result
}

/// Prints how to join and waits for a signal.
async fn headless(source: &Source, lang: Lang) -> Result<()> {
    let w = super::grid::words(lang);
    let line = match source {
        Source::Server { join } => fill(w.join, &[join]),
        Source::Cluster { context, classroom } => fill(w.following, &[context, classroom]),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: {line}", w.title)?;
    writeln!(
        out,
        "`kubetutor classroom status` shows the class; Ctrl-C stops it."
    )?;
    out.flush()?;
    drop(out);
    wait_for_signal().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut t), Ok(mut h)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = t.recv() => {}
                _ = h.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Keeps the roster on disk and the live status current (at most every
/// 250 ms), and removes the status when the classroom stops.
async fn keep(
    data_dir: PathBuf,
    class: Classroom,
    course: Course,
    lang: Lang,
    mut head: serde_json::Value,
    cancel: CancellationToken,
) {
    head["pid"] = serde_json::json!(std::process::id());
    let mut changes = class.subscribe();
    let status = files::status_file(&data_dir);
    // The times in the status (on the step, last activity) move on their
    // own: refreshed every few seconds even without news.
    let mut refresh = tokio::time::interval(Duration::from_secs(5));
    loop {
        let (roster, doc) = {
            let r = class.roster();
            let now = jiff::Timestamp::now();
            let mut doc = super::status::document(&r, course.lessons(lang), head.clone(), now);
            // `status` reads the file only while this pid lives.
            doc["pid"] = head["pid"].clone();
            (r.clone(), doc)
        };
        let dir = data_dir.clone();
        let path = status.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = files::save_roster(&dir, &roster) {
                tracing::warn!("cannot save the roster: {e}");
            }
            let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            if let Err(e) = crate::paths::write_private(&path, &bytes) {
                tracing::warn!("cannot write {}: {e}", path.display());
            }
        })
        .await;
        tokio::select! {
            _ = cancel.cancelled() => break,
            c = changes.changed() => if c.is_err() { break },
            _ = refresh.tick() => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = std::fs::remove_file(&status);
}

/// The grid: keys, changes and a 1 Hz clock in, frames out.
async fn grid_loop(mut grid: Grid, class: &Classroom) -> Result<()> {
    use crossterm::event::{Event, EventStream, KeyEventKind};
    use futures::StreamExt as _;
    let theme = crate::term::theme::Theme::from_env();
    let guard = crate::term::guard::TerminalGuard::enter()
        .context("could not switch the terminal to full-screen mode")?;
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
            .context("could not set up the terminal")?;
    let mut keys = EventStream::new();
    let mut changes = class.subscribe();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut dirty = true;
    let out = loop {
        if dirty {
            let now = jiff::Timestamp::now();
            let roster = class.roster().clone();
            grid.follow(&roster);
            terminal.draw(|f| super::grid_ui::draw(f, &mut grid, &roster, &theme, now))?;
            dirty = false;
        }
        tokio::select! {
            _ = &mut signal => break Ok(()),
            _ = clock.tick() => dirty = true,
            c = changes.changed() => {
                if c.is_err() {
                    break Ok(());
                }
                dirty = true;
            }
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    let roster = class.roster().clone();
                    match grid.key(k, &roster, jiff::Timestamp::now()) {
                        Action::None => {}
                        Action::Redraw => dirty = true,
                        Action::Quit => break Ok(()),
                        Action::Post(text) => {
                            grid.note = Some(match class.post(&text) {
                                Ok(m) => fill(grid.words().posted, &[&m.text]),
                                Err(e) => e,
                            });
                            dirty = true;
                        }
                        Action::Hold(lesson) => {
                            let n = lesson
                                .as_deref()
                                .and_then(|id| grid.lessons().iter().position(|l| l.id() == id))
                                .map(|i| i + 1);
                            class.hold(lesson);
                            let w = grid.words();
                            grid.note = Some(match n {
                                Some(n) => fill(w.holding, &[&n]),
                                None => w.released.to_owned(),
                            });
                            dirty = true;
                        }
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(anyhow::anyhow!("reading the terminal failed: {e}")),
                None => break Ok(()),
            },
        }
        // Many learners reporting at once: one frame for the burst.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(terminal);
    drop(guard);
    out
}
