//! A sandbox with short back-offs and a kubectl to drive it, shared by
//! the sandbox_runtime_* tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use sandbox::RuntimeConfig;
use sandbox::{Sandbox, SandboxConfig};

use crate::support;

pub struct Env {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub kubectl: PathBuf,
    pub sandbox: Sandbox,
}

/// A fresh sandbox, or None when kubectl is missing (skip the test).
pub async fn start() -> Option<Env> {
    start_with(|_| {}).await
}

/// A fresh sandbox with some tunables changed (shorter periods...).
pub async fn start_with(tune: impl FnOnce(&mut RuntimeConfig)) -> Option<Env> {
    let kubectl = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL"))?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let sandbox = open_with(&dir, tune).await;
    Some(Env {
        _tmp: tmp,
        dir,
        kubectl,
        sandbox,
    })
}

async fn open(dir: &std::path::Path) -> Sandbox {
    open_with(dir, |_| {}).await
}

async fn open_with(dir: &std::path::Path, tune: impl FnOnce(&mut RuntimeConfig)) -> Sandbox {
    let mut cfg = SandboxConfig::new(dir.join("data"));
    cfg.runtime = RuntimeConfig {
        // Short back-offs, yet longer than the second the kubelet shows a
        // crashed container as Terminated, so CrashLoopBackOff is seen too.
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(3),
        ..RuntimeConfig::default()
    };
    tune(&mut cfg.runtime);
    Sandbox::start(cfg).await.unwrap()
}

fn seq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Env {
    /// Stops the sandbox and starts it again on the same data directory.
    pub async fn restart(self) -> Env {
        let Env {
            _tmp,
            dir,
            kubectl,
            sandbox,
        } = self;
        sandbox.shutdown().await;
        let sandbox = open(&dir).await;
        Env {
            _tmp,
            dir,
            kubectl,
            sandbox,
        }
    }

    pub async fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        let run = tokio::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(self.sandbox.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} hung"))
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// kubectl, which must succeed; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.kubectl(args).await;
        assert_eq!(code, 0, "kubectl {args:?} failed: {err}\n{out}");
        out
    }

    /// Runs kubectl until its stdout satisfies `pred` (at most ~60 s).
    pub async fn until(&self, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..300 {
            let (_, out, err) = self.kubectl(args).await;
            if pred(&out) {
                return out;
            }
            last = format!("{out}{err}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("kubectl {args:?} never satisfied the condition; last output:\n{last}");
    }

    /// kubectl in namespace kubetutor, which must succeed.
    pub async fn k(&self, args: &[&str]) -> String {
        let mut v = vec!["-n", "kubetutor"];
        v.extend_from_slice(args);
        self.ok(&v).await
    }

    /// kubectl in namespace kubetutor until stdout satisfies `pred`.
    pub async fn k_until(&self, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
        let mut v = vec!["-n", "kubetutor"];
        v.extend_from_slice(args);
        self.until(&v, pred).await
    }

    /// Applies a manifest (text) in namespace kubetutor.
    pub async fn apply(&self, yaml: &str) -> String {
        let f = self.dir.join(format!("manifest-{}.yaml", seq()));
        std::fs::write(&f, yaml).unwrap();
        self.k(&["apply", "-f", f.to_str().unwrap()]).await
    }

    /// The data directory of the sandbox.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
}
