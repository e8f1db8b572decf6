//! A real kubectl against an embedded sandbox, for the integration tests
//! of this crate: kubectl is `$KUBETUTOR_KUBECTL`, else `.tools/kubectl`
//! (see scripts/get-kubectl.sh), else `kubectl` on PATH; without one the
//! tests fail in CI (`CI` set) and are skipped with a notice elsewhere.
#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sandbox::{Sandbox, SandboxConfig};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

fn find_kubectl() -> Option<PathBuf> {
    if let Ok(k) = std::env::var("KUBETUTOR_KUBECTL") {
        return Some(PathBuf::from(k));
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/kubectl");
    if tools.exists() {
        return Some(tools);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

fn kubectl_or_skip() -> Option<PathBuf> {
    match find_kubectl() {
        Some(k) => Some(k),
        None if std::env::var_os("CI").is_some() => {
            panic!("kubectl is required in CI: run scripts/get-kubectl.sh or set KUBETUTOR_KUBECTL")
        }
        None => {
            eprintln!(
                "notice: no kubectl found (set KUBETUTOR_KUBECTL); skipping the kubectl tests"
            );
            None
        }
    }
}

pub struct Env {
    kubectl: PathBuf,
    sandbox: Option<Sandbox>,
    dir: tempfile::TempDir,
}

pub struct Out {
    pub ok: bool,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// A fresh sandbox, or None (with a notice) when there is no kubectl.
    pub async fn start() -> Option<Env> {
        let kubectl = kubectl_or_skip()?;
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("data")))
            .await
            .unwrap();
        Some(Env {
            kubectl,
            sandbox: Some(sandbox),
            dir,
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let sb = self.sandbox.as_ref().unwrap();
        let mut c = Command::new(&self.kubectl);
        c.arg("--kubeconfig")
            .arg(sb.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        c
    }

    /// Runs kubectl (a minute at most), with `stdin` if given.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Out {
        self.run_for(args, stdin, Duration::from_secs(60)).await
    }

    pub async fn run_for(&self, args: &[&str], stdin: Option<&str>, bound: Duration) -> Out {
        let mut c = self.command(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).await.unwrap();
        }
        drop(input);
        let out = tokio::time::timeout(bound, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} took more than {bound:?}"))
            .unwrap();
        Out {
            ok: out.status.success(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl and expects success: its stdout.
    pub async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(
            out.ok,
            "kubectl {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs kubectl and expects failure: its stderr.
    pub async fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(!out.ok, "kubectl {args:?} succeeded:\n{}", out.stdout);
        out.stderr
    }

    /// `kubectl get -o jsonpath=...` of one object, trimmed.
    pub async fn jsonpath(&self, what: &[&str], path: &str) -> String {
        let mut args: Vec<&str> = vec!["get"];
        args.extend_from_slice(what);
        let arg = format!("-o=jsonpath={path}");
        args.push(&arg);
        self.run(&args, None).await.stdout.trim().to_string()
    }

    /// A field of one object (`get("pod", "db-0", "{.spec.hostname}")`).
    pub async fn field(&self, kind: &str, name: &str, path: &str) -> String {
        self.jsonpath(&[kind, name], path).await
    }

    /// Polls `kubectl get ... -o jsonpath` until `done` holds (a bound, not
    /// a timing expectation), returning the last value.
    pub async fn until(
        &self,
        what: &[&str],
        path: &str,
        bound: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let end = tokio::time::Instant::now() + bound;
        loop {
            let v = self.jsonpath(what, path).await;
            if done(&v) {
                return v;
            }
            if tokio::time::Instant::now() > end {
                panic!("{what:?} {path}: still {v:?} after {bound:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the pod is Running (a bound, not a timing expectation).
    pub async fn wait_running(&self, name: &str) {
        self.until(
            &["pod", name],
            "{.status.phase}",
            Duration::from_secs(60),
            |p| p == "Running",
        )
        .await;
    }

    /// `kubectl exec POD -- argv...`.
    pub async fn exec(&self, pod: &str, argv: &[&str]) -> Out {
        let mut args = vec!["exec", pod, "--"];
        args.extend_from_slice(argv);
        self.run(&args, None).await
    }

    pub async fn stop(mut self) {
        if let Some(sb) = self.sandbox.take() {
            sb.shutdown().await;
        }
    }
}

/// The words of a table's header line.
pub fn header(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or("");
    // Column names contain single spaces; columns are separated by two or more.
    first
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The cells of the row whose first cell is `name`.
pub fn row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
