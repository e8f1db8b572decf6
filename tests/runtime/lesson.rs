//! The message API lesson end to end on the embedded sandbox, with real
//! kubectl: apply, rollout, logs, service proxy, pod replacement.
//! Skipped when kubectl is not installed (a failure in CI).

use crate::runtime_env;

use runtime_env::start;

use std::time::Duration;

fn assets() -> String {
    format!("{}/assets/01-ephemeral", env!("CARGO_MANIFEST_DIR"))
}

/// A plain HTTP GET on 127.0.0.1:port; the response body.
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
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

    // And through `kubectl proxy`, as the lesson does it.
    let mut proxy_cmd = tokio::process::Command::new(&env.kubectl)
        .arg("--kubeconfig")
        .arg(env.sandbox.kubeconfig_path())
        .args(["proxy", "--port=0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = proxy_cmd.stdout.take().unwrap();
    let mut banner = Vec::new();
    let port = loop {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 256];
        let n = stdout.read(&mut buf).await.unwrap();
        assert!(n > 0, "kubectl proxy exited");
        banner.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&banner);
        if let Some(p) = text
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
        {
            break p;
        }
    };
    let body = http_get(port, proxy).await;
    assert_eq!(body.matches("\"ada\"").count(), 2, "{body}");
    drop(proxy_cmd);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sandbox_runs_its_pods_again() {
    let Some(env) = start().await else { return };
    env.k(&["apply", "-f", &assets()]).await;
    env.k(&["rollout", "status", "deployment/msg-api", "--timeout=60s"])
        .await;
    let pod = env.k(&["get", "pods", "-o", "name"]).await;
    let env = env.restart().await;
    // Same pod object, its container started again by the new kubelet.
    let out = env
        .k_until(&["get", "pods"], |o| o.contains("1/1     Running"))
        .await;
    assert!(out.contains(pod.trim().trim_start_matches("pod/")), "{out}");
    let logs = env
        .k_until(&["logs", pod.trim()], |o| o.contains("listening on :8080"))
        .await;
    assert!(logs.contains("API_DB_FILEPATH not set"), "{logs}");
    env.sandbox.shutdown().await;
}
