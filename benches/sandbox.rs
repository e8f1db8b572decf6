//! Sandbox benchmark (issue 3): cold start to ready, single GET p50/p99,
//! pod create throughput through kube-rs, `kubectl get pods` with 5,000 pods,
//! and RSS with 5,000 pods.
//!
//!     cargo bench --bench sandbox            # 5,000 pods
//!     PODS=1000 cargo bench --bench sandbox  # a quicker run
//!
//! Prints one line per figure; BENCHMARKS.md records the figures seen. Uses
//! `KUBETUTOR_KUBECTL`, else `kubectl` on PATH, for the kubectl figure.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use sandbox::{Sandbox, SandboxConfig};
use std::time::{Duration, Instant};

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
    }))
    .unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn kubectl() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("KUBETUTOR_KUBECTL").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("kubectl"))
            .find(|p| p.is_file())
    })
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; ignore arguments.
    let pods: usize = std::env::var("PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(pods))
}

async fn run(pods: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rss_before = rss_mib();

    let t = Instant::now();
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path())).await?;
    let start = t.elapsed();
    println!("cold start to ready: {:.1} ms", start.as_secs_f64() * 1e3);

    let kubeconfig = Kubeconfig::read_from(sandbox.kubeconfig_path())?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config)?;

    // Single GET latency, after a warm-up.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for _ in 0..50 {
        namespaces.get("kubetutor").await?;
    }
    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let t = Instant::now();
        namespaces.get("kubetutor").await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "GET namespace: p50 {:.3} ms, p99 {:.3} ms ({} requests)",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );

    // Create throughput, 32 requests in flight.
    let api: Api<Pod> = Api::namespaced(client.clone(), "kubetutor");
    let t = Instant::now();
    let mut next = 0usize;
    let mut inflight = futures::stream::FuturesUnordered::new();
    use futures::StreamExt as _;
    while next < pods || !inflight.is_empty() {
        while next < pods && inflight.len() < 32 {
            let api = api.clone();
            let p = pod(&format!("bench-{next:05}"));
            inflight.push(async move { api.create(&PostParams::default(), &p).await });
            next += 1;
        }
        if let Some(r) = inflight.next().await {
            r?;
        }
    }
    let took = t.elapsed();
    println!(
        "create {pods} pods through kube-rs: {:.0} creates/s ({:.2} s)",
        pods as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );

    // kubectl get pods (table) with every pod present.
    if let Some(kubectl) = kubectl() {
        let cache = dir.path().join("kubectl-cache");
        let mut runs = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let out = tokio::process::Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(sandbox.kubeconfig_path())
                .arg("--cache-dir")
                .arg(&cache)
                .args(["get", "pods", "-n", "kubetutor"])
                .output()
                .await?;
            runs.push(t.elapsed());
            let lines = out.stdout.iter().filter(|b| **b == b'\n').count();
            anyhow::ensure!(
                out.status.success() && lines == pods + 1,
                "kubectl get pods printed {lines} lines: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        runs.sort();
        println!(
            "kubectl get pods with {pods} pods: median {:.0} ms (min {:.0} ms, 5 runs)",
            runs[2].as_secs_f64() * 1e3,
            runs[0].as_secs_f64() * 1e3
        );
    } else {
        println!("kubectl get pods: skipped (no kubectl; set KUBETUTOR_KUBECTL)");
    }

    // Let controllers settle before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "RSS with {pods} pods: {:.1} MiB (process, sandbox in-process; {:.1} MiB before start)",
        rss_mib(),
        rss_before
    );
    let t = Instant::now();
    sandbox.shutdown().await;
    println!(
        "shutdown with {pods} pods: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
