//! The message API lesson end to end on the embedded sandbox, with real
//! kubectl: apply, rollout, logs, service proxy, pod replacement.
//! Skipped when kubectl is not installed (a failure in CI).

mod support;

use std::path::PathBuf;
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

fn pod_names(out: &str) -> Vec<String> {
    out.split_whitespace()
        .map(|s| s.trim_start_matches("pod/").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_api_lesson_flow() {
    let Some(env) = start().await else { return };
    let k = |args: &[&str]| {
        let mut v = vec!["-n", "kubetutor"];
        v.extend_from_slice(args);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let env = &env;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            env.ok(&refs).await
        }
    };
    let out = run(k(&["apply", "-f", &assets()])).await;
    assert!(out.contains("deployment.apps/msg-api created"), "{out}");
    let out = run(k(&[
        "rollout",
        "status",
        "deployment/msg-api",
        "--timeout=60s",
    ]))
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = run(k(&["get", "deploy", "msg-api"])).await;
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .contains("1/1     1            1"),
        "{out}"
    );
    let pods = run(k(&["get", "pods"])).await;
    assert!(pods.contains("1/1     Running"), "{pods}");

    // Logs: in memory at first.
    let logs = run(k(&["logs", "deploy/msg-api"])).await;
    assert!(
        logs.contains("API_DB_FILEPATH not set: messages are kept in memory"),
        "{logs}"
    );

    // Save to a file in the container, restart, and the log says so.
    run(k(&[
        "patch",
        "configmap",
        "msg-api-config",
        "-p",
        r#"{"data":{"API_DB_FILEPATH":"/var/lib/msg-api/messages.json"}}"#,
    ]))
    .await;
    let out = run(k(&["rollout", "restart", "deployment/msg-api"])).await;
    assert!(out.contains("restarted"), "{out}");
    let out = run(k(&[
        "rollout",
        "status",
        "deployment/msg-api",
        "--timeout=60s",
    ]))
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let names = env
        .until(
            &k(&["get", "pods", "-o", "name"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            |o| pod_names(o).len() == 1,
        )
        .await;
    let pod = pod_names(&names).remove(0);
    let logs = run(k(&["logs", &pod])).await;
    assert!(
        logs.contains(
            "API_DB_FILEPATH is set: messages are saved to /var/lib/msg-api/messages.json"
        ),
        "{logs}"
    );

    // POST two messages through the service proxy, read them back.
    let proxy = "/api/v1/namespaces/kubetutor/services/msg-api:80/proxy/messages";
    let msg = env.dir.join("msg.json");
    std::fs::write(&msg, r#"{"author":"ada","text":"hello"}"#).unwrap();
    for _ in 0..2 {
        let out = run(k(&["create", "--raw", proxy, "-f", msg.to_str().unwrap()])).await;
        assert!(out.contains("hello"), "{out}");
    }
    let out = run(k(&["get", "--raw", proxy])).await;
    assert_eq!(out.matches("\"ada\"").count(), 2, "{out}");

    // The file really is in the container's writable layer.
    let uid = run(k(&["get", "pod", &pod, "-o", "jsonpath={.metadata.uid}"])).await;
    let layer = env.dir.join("data/pods").join(&uid);
    let file = layer.join("containers/api/rootfs/var/lib/msg-api/messages.json");
    assert!(file.is_file(), "{} missing", file.display());

    // Delete the pod: a new one (new uid) starts with no messages, the old layer is gone.
    run(k(&["delete", "pod", &pod])).await;
    let out = run(k(&[
        "rollout",
        "status",
        "deployment/msg-api",
        "--timeout=60s",
    ]))
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let names = env
        .until(
            &k(&["get", "pods", "-o", "name"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            |o| pod_names(o).len() == 1 && !o.contains(&pod),
        )
        .await;
    let new_pod = pod_names(&names).remove(0);
    let new_uid = run(k(&[
        "get",
        "pod",
        &new_pod,
        "-o",
        "jsonpath={.metadata.uid}",
    ]))
    .await;
    assert_ne!(new_uid, uid);
    let out = env
        .until(&["get", "--raw", proxy], |o| o.contains("messages"))
        .await;
    assert_eq!(out.trim(), r#"{"messages": []}"#);
    for _ in 0..50 {
        if !layer.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !layer.exists(),
        "the deleted pod's layer {} is still there",
        layer.display()
    );

    // Events as upstream words them.
    let events = run(k(&["get", "events"])).await;
    for want in [
        "ScalingReplicaSet",
        "Scaled up replica set msg-api-",
        "SuccessfulCreate",
        "Created pod: msg-api-",
        "Successfully assigned kubetutor/msg-api-",
        "to kubetutor-node",
        "Created container: api",
        "Started container api",
        "Stopping container api",
    ] {
        assert!(events.contains(want), "no {want:?} in:\n{events}");
    }
    env.sandbox.shutdown().await;
}
