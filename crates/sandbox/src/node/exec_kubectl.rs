//! Real `kubectl exec` against the sandbox's exec pieces: a minimal server
//! (legacy discovery, one pod, the exec upgrade) that runs commands as
//! processes of a container ([`crate::shell::Container`]) over
//! [`crate::node::streams::run_process`]. Skipped when kubectl is not
//! installed.

// The handshake callback signature is tungstenite's (its error is an HTTP response).
#![allow(clippy::result_large_err)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::hostfs::{ContainerFs, MountKind, SandboxRoot};
use crate::node::streams::{ExecRequest, Protocol, run_process};
use crate::shell::Container;
use crate::shell::userland::Userland;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// The kubectl to drive: `KUBETUTOR_KUBECTL`, else the machine's.
fn kubectl_bin() -> String {
    std::env::var("KUBETUTOR_KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".to_string())
}

fn discovery(path: &str) -> Option<String> {
    let body = match path {
        "/version" => r#"{"major":"1","minor":"32","gitVersion":"v1.32.0"}"#,
        "/api" => {
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#
        }
        "/apis" => r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#,
        "/api/v1" => {
            r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[
            {"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"]},
            {"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]}]}"#
        }
        "/api/v1/namespaces/default/pods/web" => {
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},
            "spec":{"containers":[{"name":"app","image":"busybox"}]},"status":{"phase":"Running"}}"#
        }
        _ => return None,
    };
    Some(body.to_string())
}

async fn serve(stream: TcpStream, fs: ContainerFs) {
    // Peek at the request head to tell plain GETs from the exec upgrade.
    let mut head = vec![0u8; 8192];
    let mut n = 0;
    // Headers normally arrive at once; a loaded machine may split them.
    for _ in 0..1000 {
        n = stream.peek(&mut head).await.unwrap_or(0);
        if head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let text = String::from_utf8_lossy(&head[..n]).to_string();
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    if path.ends_with("/exec") {
        let request = ExecRequest::from_query(query);
        let chosen = Arc::new(Mutex::new(None));
        let chosen_cb = Arc::clone(&chosen);
        let callback = move |req: &Request, mut resp: Response| {
            let offered = req
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if let Some(p) = Protocol::negotiate(offered) {
                resp.headers_mut()
                    .insert("Sec-WebSocket-Protocol", p.name().parse().unwrap());
                *chosen_cb.lock().unwrap() = Some(p);
            }
            Ok(resp)
        };
        let ws = tokio_tungstenite::accept_hdr_async(stream, callback)
            .await
            .unwrap();
        let protocol = chosen.lock().unwrap().unwrap();
        let container = Container::new(fs, Userland::busybox(), "web");
        run_process(ws, protocol, &request, container, Default::default())
            .await
            .unwrap();
        return;
    }
    let mut stream = stream;
    let _ = stream.read(&mut head).await;
    let (status, body) = match discovery(path) {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.to_string()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
}

async fn kubectl(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(kubectl_bin())
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts the stub API server over a fresh data dir; writes its kubeconfig.
async fn start_server() -> (tempfile::TempDir, SandboxRoot) {
    let tmp = tempfile::tempdir().unwrap();
    let root = SandboxRoot::new(tmp.path().join("data")).unwrap();
    let mut fs = ContainerFs::new(root.container_rootfs("uid-1", "app").unwrap());
    fs.mount(
        "/data",
        root.empty_dir("uid-1", "data").unwrap(),
        false,
        MountKind::EmptyDir,
        "data",
    )
    .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_fs = fs.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, server_fs.clone()));
        }
    });
    std::fs::write(
        tmp.path().join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"http://{addr}\"}}}}]\n\
             contexts: [{{name: c, context: {{cluster: c, user: u, namespace: default}}}}]\n\
             users: [{{name: u, user: {{}}}}]\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    (tmp, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_runs_the_mini_shell() {
    let bin = kubectl_bin();
    if !Path::new(&bin).exists() {
        eprintln!("skipped: {bin} not installed");
        return;
    }
    let (tmp, root) = start_server().await;

    let (code, out, err) = kubectl(
        tmp.path(),
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo hello > /data/f && cat /data/f",
        ],
        b"",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "hello\n"), "stderr: {err}");
    let real = root.empty_dir("uid-1", "data").unwrap().join("f");
    assert_eq!(std::fs::read_to_string(real).unwrap(), "hello\n");

    let (code, _, err) = kubectl(tmp.path(), &["exec", "web", "--", "cat", "/nope"], b"").await;
    assert_eq!(code, 1);
    assert!(
        err.contains("cat: can't open '/nope': No such file or directory"),
        "{err}"
    );
    assert!(err.contains("command terminated with exit code 1"), "{err}");

    let (code, out, _) = kubectl(
        tmp.path(),
        &[
            "exec",
            "-i",
            "web",
            "--",
            "sh",
            "-c",
            "cat > /data/in; cat /data/in",
        ],
        b"from stdin\n",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "from stdin\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_it_gets_an_interactive_shell() {
    let kubectl = kubectl_bin();
    if !Path::new(&kubectl).exists() || !Path::new("/usr/bin/script").exists() {
        eprintln!("skipped: kubectl or script(1) not installed");
        return;
    }
    let (tmp, root) = start_server().await;
    // script(1) gives kubectl the terminal `-t` requires; its stdin is ours.
    let command = format!(
        "{kubectl} --kubeconfig {} --cache-dir {} exec -it web -- sh",
        tmp.path().join("kubeconfig").display(),
        tmp.path().join("cache").display()
    );
    let mut child = tokio::process::Command::new("/usr/bin/script")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(b"cd /data\recho typed > t\rexit 4\r")
        .await
        .unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    drop(input);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/data # "), "{text}");
    assert_eq!(out.status.code(), Some(4), "{text}");
    let real = root.empty_dir("uid-1", "data").unwrap().join("t");
    assert_eq!(std::fs::read_to_string(real).unwrap(), "typed\n");
}
