//! A sandbox in a temporary directory and the clients run against it, as
//! a learner runs them: with the kubeconfig it writes and its namespace.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sandbox::{Sandbox, SandboxConfig};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

/// A running sandbox and its directory.
pub struct Env {
    pub sandbox: Option<Sandbox>,
    pub dir: tempfile::TempDir,
}

/// What a client printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(|_| {}).await
    }

    /// A sandbox whose configuration `tune` changes first.
    pub async fn start_with(tune: impl FnOnce(&mut SandboxConfig)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = SandboxConfig::new(dir.path().join("data"));
        tune(&mut cfg);
        let sandbox = Sandbox::start(cfg).await.unwrap();
        Env {
            sandbox: Some(sandbox),
            dir,
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().unwrap()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.sandbox().kubeconfig_path().to_path_buf()
    }

    /// A client command with the sandbox's kubeconfig in its environment.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env("HELM_CACHE_HOME", self.dir.path().join("helm-cache"))
            .env("HELM_CONFIG_HOME", self.dir.path().join("helm-config"))
            .env("HELM_DATA_HOME", self.dir.path().join("helm-data"))
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .kill_on_drop(true);
        c
    }

    /// Runs a client (at most `limit`), feeding it `stdin`.
    pub async fn run_for(
        &self,
        program: &Path,
        args: &[&str],
        stdin: Option<&str>,
        limit: Duration,
    ) -> Out {
        let mut c = self.command(program, args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).await.unwrap();
        }
        drop(input);
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{} {args:?} took longer than {limit:?}", program.display()))
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a client (at most two minutes).
    pub async fn run(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Out {
        self.run_for(program, args, stdin, Duration::from_secs(120))
            .await
    }

    /// Runs a client and expects success; answers stdout.
    pub async fn ok(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(program, args, stdin).await;
        assert!(
            out.ok(),
            "{} {args:?} failed ({}):\n{}\n{}",
            program.display(),
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    pub async fn stop(mut self) {
        if let Some(sb) = self.sandbox.take() {
            sb.shutdown().await;
        }
    }
}
