//! Benchmarks of the live cluster pane (run with `cargo bench --bench pane`;
//! results in BENCHMARKS.md):
//!
//! - latency from an API write acknowledged to the first frame that shows
//!   it: the embedded sandbox, a real `Session` (kube-rs watchers), `App`
//!   and `ui::draw` on a headless 120x40 terminal, the way the UI task runs
//!   them (one update applied, then one frame);
//! - frame time with 5,000 pods in the namespace (pane unfocused, and
//!   focused with the selected pod's lineage).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kubetutor::check::spec::Kind;
use kubetutor::cluster::connection::ConnectOptions;
use kubetutor::cluster::state::Object;
use kubetutor::cluster::{ClusterUpdate, Session};
use kubetutor::course::Course;
use kubetutor::lesson::Lang;
use kubetutor::progress::{Progress, ProgressSaver, ProgressStore};
use kubetutor::tui::{App, AppEvent, ClusterEvent, ConnectionInfo, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sandbox::{Sandbox, SandboxConfig};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

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

fn shows(t: &Terminal<TestBackend>, name: &str) -> bool {
    let buf = t.backend().buffer();
    let area = buf.area;
    (0..area.height).any(|y| {
        let row: String = (0..area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect();
        row.contains(name)
    })
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

async fn latency(samples: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox"))).await?;
    let opts = ConnectOptions {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ConnectOptions::default()
    };
    let (tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let session = Session::start(&opts, tx).await?;
    let mut app = app(dir.path())?;
    let mut term = Terminal::new(TestBackend::new(120, 40))?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), "kubetutor");
    let mut lat = Vec::new();
    for i in 0..samples {
        let name = format!("lat-{i:04}");
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
        }))?;
        let api = pods.clone();
        let create = tokio::spawn(async move {
            let r = api.create(&PostParams::default(), &pod).await;
            (r.is_ok(), Instant::now())
        });
        // The UI task's loop: apply what arrives, draw, look for the pod.
        let shown = loop {
            let u = tokio::time::timeout(Duration::from_secs(10), updates.recv())
                .await?
                .ok_or("the watchers stopped")?;
            let _ = app.update(AppEvent::Cluster(ClusterEvent::Update(u)));
            term.draw(|f| kubetutor::tui::ui::draw(f, &mut app))?;
            if shows(&term, &name) {
                break Instant::now();
            }
        };
        let (ok, acked) = create.await?;
        if !ok {
            return Err(format!("creating {name} failed").into());
        }
        // Shown before the acknowledgement arrived counts as zero.
        lat.push(shown.saturating_duration_since(acked));
        pods.delete(&name, &DeleteParams::default().grace_period(0))
            .await?;
    }
    report("write acknowledged → frame showing it", lat);
    drop(session);
    sandbox.shutdown().await;
    Ok(())
}

fn frames(focused: bool, n: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let mut app = app(dir.path())?;
    for i in 0..5000 {
        let y = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i:04}, namespace: kubetutor, uid: u{i}, creationTimestamp: \"2026-01-01T00:00:00Z\"}}\nspec: {{containers: [{{name: c, image: x, volumeMounts: [{{name: d, mountPath: /d}}]}}], volumes: [{{name: d, emptyDir: {{}}}}]}}\nstatus: {{phase: Running}}\n"
        );
        let obj = Object::from_yaml(&y)?;
        let _ = app.update(AppEvent::Cluster(ClusterEvent::Update(
            ClusterUpdate::Watch(Kind::Pod, kube::runtime::watcher::Event::Apply(obj)),
        )));
    }
    if focused {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        for _ in 0..2 {
            let _ = app.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Tab,
                KeyModifiers::NONE,
            )));
        }
    }
    let mut term = Terminal::new(TestBackend::new(120, 40))?;
    let mut times = Vec::new();
    for i in 0..n {
        if focused {
            use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
            // Move the selection so every frame differs.
            let k = if i % 100 < 50 { 'j' } else { 'k' };
            let _ = app.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Char(k),
                KeyModifiers::NONE,
            )));
        }
        let t0 = Instant::now();
        term.draw(|f| kubetutor::tui::ui::draw(f, &mut app))?;
        times.push(t0.elapsed());
    }
    report(
        if focused {
            "frame, 5,000 pods, pane focused (lineage)"
        } else {
            "frame, 5,000 pods"
        },
        times,
    );
    Ok(())
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not:
    // then run a short smoke version.
    let full = std::env::args().any(|a| a == "--bench");
    let (samples, n) = if full { (200, 500) } else { (3, 3) };
    frames(false, n)?;
    frames(true, n)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(latency(samples))?;
    Ok(())
}
