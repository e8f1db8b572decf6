//! Classroom benchmark (issue 16): a hundred learners reporting at once.
//!
//! - update latency: every learner changes step at the same instant, ten
//!   rounds; the time from a learner's report until the server's roster
//!   (what the grid draws, redrawn on every change) shows the new step;
//! - the server's cost: the real `kubetutor classroom serve --headless`
//!   as a child process, a hundred learners connected, first idle, then
//!   every learner changing step every second; its CPU time
//!   (`/proc/PID/stat`) and memory (`VmRSS`, `VmHWM`).
//!
//! Run:
//!
//! ```sh
//! cargo bench --bench classroom
//! LEARNERS=20 cargo bench --bench classroom   # a quicker run
//! ```
//!
//! Prints one line per figure; BENCHMARKS.md records the figures seen.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benches may panic

#[allow(dead_code)]
#[path = "../tests/classroom/sim.rs"]
mod sim;

use kubetutor::classroom::code::JoinTarget;
use kubetutor::classroom::learner::ClassroomEvent;
use kubetutor::classroom::roster::Roster;
use kubetutor::classroom::tls;
use sim::{CODE, Learner, Server, step_of};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The CPU time (user + system) of a process, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces), 1-based 14, 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn mem_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn join_all(target: &JoinTarget, n: usize) -> Vec<Learner> {
    let mut learners: Vec<Learner> = (0..n)
        .map(|i| Learner::join(target.clone(), &format!("learner-{i:03}")))
        .collect();
    for l in &mut learners {
        l.wait_for(|e| matches!(e, ClassroomEvent::Joined { .. }))
            .await;
    }
    learners
}

/// Ten rounds of every learner changing step at once; the latency of
/// each report to the in-process server's roster.
async fn latency(n: usize) {
    let material = tls::generate().unwrap();
    let server = Server::start(0, &material, Roster::default()).await;
    let t0 = Instant::now();
    let mut learners = join_all(&server.target(CODE), n).await;
    println!("{n} learners joined in {:?}", t0.elapsed());
    let mut samples = Vec::new();
    let mut changes = server.class.subscribe();
    for round in 0..10 {
        let step = round % 3 + 1;
        let want = ["a", "b", "c"][step - 1];
        let start = Instant::now();
        for l in &mut learners {
            l.at(step, Some("waiting"));
        }
        let mut pending: std::collections::BTreeSet<String> =
            (0..n).map(|i| format!("learner-{i:03}")).collect();
        while !pending.is_empty() {
            {
                let r = server.class.roster();
                pending.retain(|name| {
                    let arrived = step_of(&r, name).as_deref() == Some(want);
                    if arrived {
                        samples.push(start.elapsed());
                    }
                    !arrived
                });
            }
            if pending.is_empty() {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), changes.changed()).await;
        }
    }
    samples.sort();
    println!(
        "update latency, {n} learners changing step at once ({} reports): p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
    drop(learners);
    server.stop().await;
}

/// The real server as a child process: its CPU and memory with `n`
/// learners, idle and then all changing step every second.
async fn server_cost(n: usize) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubetutor"))
        .args([
            "classroom",
            "serve",
            "--headless",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--code",
            CODE,
        ])
        .env("KUBETUTOR_DATA_DIR", data.path())
        .env("KUBETUTOR_LANG", "en")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let target = JoinTarget::parse(&format!("{CODE}@127.0.0.1:{port}")).unwrap();
    // Wait for the port.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the classroom server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "server RSS before learners: {:.1} MiB",
        mem_mib(pid, "VmRSS:")
    );
    let mut learners = join_all(&target, n).await;
    for l in &mut learners {
        l.at(1, None);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c0, t0) = (cpu_time(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = cpu_time(pid).saturating_sub(c0).as_secs_f64() / t0.elapsed().as_secs_f64();
    println!(
        "server CPU with {n} learners connected, idle: {:.2} % of a core",
        idle * 100.0
    );
    let (c0, t0) = (cpu_time(pid), Instant::now());
    for round in 0..30 {
        let tick = Instant::now();
        for l in &mut learners {
            l.at(round % 3 + 1, Some("waiting for the claim"));
        }
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed())).await;
    }
    let busy = cpu_time(pid).saturating_sub(c0).as_secs_f64() / t0.elapsed().as_secs_f64();
    println!(
        "server CPU with {n} learners each changing step every second: {:.1} % of a core",
        busy * 100.0
    );
    println!(
        "server memory with {n} learners: RSS {:.1} MiB, peak {:.1} MiB",
        mem_mib(pid, "VmRSS:"),
        mem_mib(pid, "VmHWM:")
    );
    drop(learners);
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let n: usize = std::env::var("LEARNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        latency(n).await;
        server_cost(n).await;
    });
}
