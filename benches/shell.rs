//! Benchmarks of the shell pane (run with `cargo bench --bench shell`;
//! results in BENCHMARKS.md):
//!
//! - the emulator alone: `seq 1 1000000`'s output fed to `Term` in the
//!   reader's 16 KiB chunks (MB/s);
//! - a flood through a real pty, the way the UI runs it: `/bin/sh` started
//!   by `shell::session::spawn` in the pane of an `App` on a headless
//!   120x40 terminal, `seq 1 1000000` typed into it, and a loop like
//!   `tui::run`'s (apply every event, draw when something changed) until
//!   the shell exits: throughput (MB/s of seq's output), how many "screen
//!   changed" events the flood became, frame times, and how long a
//!   cluster-pane event sent every 10 ms waited in the same channel.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches may panic

use kubetutor::course::Course;
use kubetutor::lesson::Lang;
use kubetutor::progress::{Progress, ProgressSaver, ProgressStore};
use kubetutor::shell::term::Term;
use kubetutor::tui::{
    App, AppEvent, ClusterEvent, ClusterView, ConnectionInfo, ShellEvent, ShellSetup, Theme,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What `seq 1 N` prints.
fn seq_output(n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        v.len(),
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

fn emulator(n: u32, rounds: usize) {
    let bytes = seq_output(n);
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let mut t = Term::new(38, 118);
        let start = Instant::now();
        for chunk in bytes.chunks(16 * 1024) {
            t.process(chunk);
        }
        best = best.min(start.elapsed());
    }
    println!(
        "emulator: seq 1 {n} ({:.1} MB with CR LF) in {:.1} ms: {:.0} MB/s (best of {rounds})",
        bytes.len() as f64 / 1e6,
        best.as_secs_f64() * 1e3,
        bytes.len() as f64 / 1e6 / best.as_secs_f64()
    );
}

fn app(dir: &std::path::Path) -> Res<App> {
    let course = Course::embedded().map_err(|d| format!("course: {d:?}"))?;
    let (saver, _thread) = ProgressSaver::spawn(ProgressStore::new(dir.join("progress.json")))?;
    Ok(App::new(
        course,
        Lang::En,
        Progress::default(),
        saver,
        None,
        ConnectionInfo {
            context: "kubetutor-sandbox".into(),
            namespace: "kubetutor".into(),
            ..ConnectionInfo::default()
        },
        Theme::no_color(),
    ))
}

async fn flood(n: u32) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\ncurrent-context: kubetutor-sandbox\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: kubetutor-sandbox, context: {cluster: c, user: u}}]\n",
    )?;
    let target = kubetutor::shell::Target {
        files: vec![kc],
        context: "kubetutor-sandbox".into(),
        namespace: "kubetutor".into(),
    };
    let spec =
        kubetutor::shell::env::prepare_with(dir.path(), &target, None, "/bin/sh".into(), &|_| {
            None
        })?;
    let mut app = app(dir.path())?;
    app.set_shell(ShellSetup {
        target: Some(target),
        pane: true,
        command: "kubetutor shell".into(),
        unavailable: None,
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<AppEvent>(1024);
    let mut term = Terminal::new(TestBackend::new(120, 40))?;
    let _ = app.update(AppEvent::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('t'),
    )));
    term.draw(|f| kubetutor::tui::ui::draw(f, &mut app))?;
    let (rows, cols) = app.shell_start_wanted().ok_or("the pane wants no shell")?;
    let id = app.next_shell_id();
    let session = kubetutor::shell::session::spawn(&spec, id, rows, cols, tx.clone())?;
    app.shell_started(Ok(session));
    // Wait for the prompt, then type the command.
    loop {
        let ev = rx.recv().await.ok_or("channel closed")?;
        let first = matches!(ev, AppEvent::Shell(ShellEvent::Output { .. }));
        let _ = app.update(ev);
        if first {
            break;
        }
    }
    // The cluster pane's stand-in: an event every 10 ms, stamped.
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let probe = {
        let (tx, sent) = (tx.clone(), sent.clone());
        tokio::spawn(async move {
            for i in 0u32.. {
                sent.lock().unwrap().push(Instant::now());
                let view = ClusterView {
                    lines: vec![format!("probe {i}")],
                };
                if tx
                    .send(AppEvent::Cluster(ClusterEvent::View(view)))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    drop(tx);
    let bytes = seq_output(n).len() - n as usize; // seq writes LF; the pty adds CR
    for c in format!("seq 1 {n}; exit\n").chars() {
        let _ = app.update(AppEvent::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(c),
        )));
    }
    let start = Instant::now();
    let (mut frames, mut waits, mut outputs) = (Vec::new(), Vec::new(), 0usize);
    loop {
        let ev = rx.recv().await.ok_or("channel closed")?;
        let mut dirty = false;
        let mut done = false;
        let mut handle = |ev: AppEvent, app: &mut App| {
            match &ev {
                AppEvent::Shell(ShellEvent::Output { .. }) => outputs += 1,
                AppEvent::Shell(ShellEvent::Exited { .. }) => done = true,
                AppEvent::Cluster(ClusterEvent::View(v)) => {
                    let i: usize = v.lines[0]["probe ".len()..].parse().unwrap_or(0);
                    if let Some(at) = sent.lock().unwrap().get(i) {
                        waits.push(at.elapsed());
                    }
                }
                _ => {}
            }
            dirty |= app.update(ev).needed();
        };
        handle(ev, &mut app);
        while let Ok(ev) = rx.try_recv() {
            handle(ev, &mut app);
        }
        if dirty {
            let t0 = Instant::now();
            term.draw(|f| kubetutor::tui::ui::draw(f, &mut app))?;
            frames.push(t0.elapsed());
        }
        if done {
            break;
        }
    }
    let took = start.elapsed();
    probe.abort();
    println!(
        "pty flood: seq 1 {n} ({:.1} MB) through /bin/sh in the pane in {:.2} s: {:.1} MB/s; {} screen-changed events, {} frames",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        bytes as f64 / 1e6 / took.as_secs_f64(),
        outputs,
        frames.len()
    );
    report("frame time while flooding (120x40, pane focused)", frames);
    report("cluster event waiting in the channel while flooding", waits);
    if let Some(s) = app.take_shell() {
        s.shutdown().await;
    }
    Ok(())
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not:
    // then run a short smoke version.
    let full = std::env::args().any(|a| a == "--bench");
    let (n, rounds) = if full { (1_000_000, 5) } else { (2_000, 1) };
    emulator(n, rounds);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(flood(n))?;
    Ok(())
}
