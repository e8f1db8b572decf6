//! Durability: the sandbox runs in a child process (this test binary
//! re-executed in "child mode"), gets SIGKILLed in the middle of a stream
//! of writes, and a restart must still hold every acknowledged write with
//! resourceVersions that keep increasing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;

use sandbox::{Sandbox, SandboxConfig};
use tokio_rustls::rustls;

const CHILD_ENV: &str = "KUBETUTOR_SANDBOX_CHILD_DIR";

/// Child mode: serve the sandbox from the directory in the environment
/// until killed. In a normal test run this returns at once.
#[test]
fn child_sandbox() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let port: u16 = std::env::var("KUBETUTOR_SANDBOX_CHILD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let mut cfg = SandboxConfig::new(dir);
        cfg.port = port;
        let sb = Sandbox::start(cfg).await.unwrap();
        println!("READY {} {}", sb.addr(), sb.token());
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

struct ChildSandbox {
    child: Child,
    addr: String,
    token: String,
    tls: Arc<rustls::ClientConfig>,
}

impl Drop for ChildSandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for in `ChildSandbox::drop`.
#[allow(clippy::zombie_processes)]
fn spawn_child(dir: &Path) -> ChildSandbox {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_sandbox",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the child sandbox exited before it was ready")
            .unwrap();
        if let Some(rest) = line.split_once("READY ").map(|(_, r)| r) {
            let mut parts = rest.split(' ');
            let addr = parts.next().unwrap().to_string();
            let token = parts.next().unwrap().to_string();
            // Keep draining stdout in the background so the child never blocks.
            std::thread::spawn(move || for _ in lines {});
            let tls = tls_config(dir);
            return ChildSandbox {
                child,
                addr,
                token,
                tls,
            };
        }
    }
}

/// The TLS client configuration trusting the sandbox's CA (from its kubeconfig).
fn tls_config(dir: &Path) -> Arc<rustls::ClientConfig> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(dir.join("kubeconfig")).unwrap();
    let kc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let pem_b64 = kc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(pem_b64)
        .unwrap();
    let body: String = String::from_utf8(pem)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Conn = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

fn connect(addr: &str, tls: &Arc<rustls::ClientConfig>) -> std::io::Result<Conn> {
    let tcp = std::net::TcpStream::connect(addr)?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// A minimal blocking HTTPS/1.1 client (no keep-alive) for the test.
fn request(
    addr: &str,
    tls: &Arc<rustls::ClientConfig>,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut s = connect(addr, tls).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    // The server may close without a TLS close_notify; what arrived is enough.
    let _ = s.read_to_string(&mut out);
    let code = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn json_body(raw: &str) -> serde_json::Value {
    // Responses are small enough to arrive with Content-Length, not chunked.
    serde_json::from_str(raw).unwrap_or(serde_json::Value::Null)
}

/// Creates ConfigMaps one after another until a request fails; returns
/// the acknowledged ones with their resourceVersions.
fn write_until_error(
    addr: &str,
    tls: &Arc<rustls::ClientConfig>,
    token: &str,
    prefix: &str,
) -> Vec<(String, u64)> {
    use std::io::{Read as _, Write as _};
    let mut done = Vec::new();
    for i in 0..100_000 {
        let name = format!("{prefix}-{i}");
        let body = format!(r#"{{"metadata":{{"name":"{name}"}},"data":{{"k":"v{i}"}}}}"#);
        let Ok(mut s) = connect(addr, tls) else {
            break;
        };
        let req = format!(
            "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(req.as_bytes()).is_err() {
            break;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if !out.starts_with("HTTP/1.1 201") || !out.ends_with('}') {
            break;
        }
        let b = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(b).unwrap_or_default();
        let Some(rv) = v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse().ok())
        else {
            break;
        };
        done.push((name, rv));
    }
    done
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<(String, u64)> = Vec::new();
    let mut max_rv = 0;
    for round in 0..3 {
        let sb = spawn_child(dir.path());
        // Every object acknowledged before must still be there.
        for (name, rv) in &acked {
            let (code, body) = request(
                &sb.addr,
                &sb.tls,
                &sb.token,
                "GET",
                &format!("/api/v1/namespaces/default/configmaps/{name}"),
                None,
            );
            assert_eq!(
                code, 200,
                "{name} was acknowledged but is gone after kill -9"
            );
            let got: u64 = json_body(&body)["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(got, *rv);
        }
        // Write from several threads at once (so that writes share group
        // commits), and SIGKILL while they are writing.
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let addr = sb.addr.clone();
                let token = sb.token.clone();
                let tls = sb.tls.clone();
                std::thread::spawn(move || {
                    write_until_error(&addr, &tls, &token, &format!("r{round}-t{t}"))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + 200 * round as u64));
        let mut sb = sb;
        // SIGKILL: no chance to flush anything.
        sb.child.kill().unwrap();
        sb.child.wait().unwrap();
        let mut round_max = max_rv;
        let mut done = Vec::new();
        for w in writers {
            let mine = w.join().unwrap();
            let mut last = max_rv;
            for (_, rv) in &mine {
                assert!(*rv > last, "resourceVersions must keep increasing");
                last = *rv;
            }
            round_max = round_max.max(last);
            done.extend(mine);
        }
        assert!(
            !done.is_empty(),
            "no write was acknowledged before the kill"
        );
        eprintln!(
            "round {round}: {} writes acknowledged before SIGKILL",
            done.len()
        );
        max_rv = round_max;
        acked.extend(done);
    }
    // A last restart: the next write gets a higher resourceVersion.
    let sb = spawn_child(dir.path());
    let (code, body) = request(
        &sb.addr,
        &sb.tls,
        &sb.token,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(r#"{"metadata":{"name":"last"}}"#),
    );
    assert_eq!(code, 201, "{body}");
    let rv: u64 = json_body(&body)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv > max_rv);
}
