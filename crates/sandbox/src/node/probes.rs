//! Readiness and liveness probes: httpGet, tcpSocket and exec run
//! against the container through the pod's network namespace, with
//! upstream's thresholds, periods, failure texts and events.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use crate::node::Node;
use crate::node::kubelet::{CtrRt, PodRt, State, container_shell, field_path, sleep_or_cancel};
use crate::runtime::events::Kind;

/// The container port a probe names (number, or a named port).
fn probe_port(c: &CtrRt, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok().or_else(|| {
            c.spec["ports"]
                .as_array()?
                .iter()
                .find(|p| p["name"].as_str() == Some(s))
                .and_then(|p| p["containerPort"].as_u64())
                .and_then(|n| u16::try_from(n).ok())
        }),
        _ => None,
    }
}

/// Runs one probe: Ok(()) or the failure text upstream shows.
async fn probe_once(node: &Node, prt: &PodRt, c: &CtrRt, probe: &Value) -> Result<(), String> {
    let timeout = Duration::from_secs(probe["timeoutSeconds"].as_u64().unwrap_or(1).max(1));
    if let Some(h) = probe.get("httpGet").filter(|h| h.is_object()) {
        let port = probe_port(c, &h["port"]).unwrap_or(0);
        let path = h["path"].as_str().unwrap_or("/");
        let scheme = h["scheme"].as_str().unwrap_or("HTTP").to_lowercase();
        let url = format!("{scheme}://{}:{port}{path}", prt.ip);
        let refused = || {
            format!(
                "Get \"{url}\": dial tcp {}:{port}: connect: connection refused",
                prt.ip
            )
        };
        let addr = node.netns.lookup(&prt.uid, port).ok_or_else(refused)?;
        let fut = async {
            let mut s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|_| refused())?;
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {}:{port}\r\nUser-Agent: kube-probe/1.34\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                prt.ip
            );
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 256];
            let mut n = 0;
            while n < 12 {
                let k = s.read(&mut buf[n..]).await.map_err(|e| e.to_string())?;
                if k == 0 {
                    break;
                }
                n += k;
            }
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let code: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            }
        };
        return match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
        };
    }
    if let Some(t) = probe.get("tcpSocket").filter(|h| h.is_object()) {
        let port = probe_port(c, &t["port"]).unwrap_or(0);
        return match node.netns.lookup(&prt.uid, port) {
            Some(_) => Ok(()),
            None => Err(format!(
                "dial tcp {}:{port}: connect: connection refused",
                prt.ip
            )),
        };
    }
    if let Some(e) = probe.get("exec").filter(|h| h.is_object()) {
        let argv: Vec<String> = e["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let st = c.state();
        let Some(fs) = st.fs else {
            return Err("container is not running".into());
        };
        let container = container_shell(node, prt, c, fs, st.env, st.procs);
        let out = tokio::task::spawn_blocking(move || container.run(&argv, b""))
            .await
            .map_err(|e| e.to_string())?;
        // An image the sandbox does not emulate has commands its userland
        // lacks: its probe passes rather than leaving the container unready
        // forever.
        let missing =
            out.exit_code == 126 && out.stderr_text().contains("executable file not found");
        return if out.exit_code == 0 || missing {
            Ok(())
        } else {
            Err(out.stdout_text() + &out.stderr_text())
        };
    }
    Ok(())
}

pub(crate) async fn probe_loop(
    node: Arc<Node>,
    prt: Arc<PodRt>,
    c: Arc<CtrRt>,
    probe: Value,
    liveness: bool,
    instance: CancellationToken,
    kill: CancellationToken,
) {
    let secs = |k: &str, d: u64| Duration::from_secs(probe[k].as_u64().unwrap_or(d));
    let period = secs("periodSeconds", 10).max(Duration::from_secs(1));
    let failure_threshold = probe["failureThreshold"].as_u64().unwrap_or(3).max(1);
    let success_threshold = probe["successThreshold"].as_u64().unwrap_or(1).max(1);
    let delay = secs("initialDelaySeconds", 0);
    // The first probe comes shortly after start (the app needs a moment to listen).
    let first = delay.max(Duration::from_millis(200));
    if !sleep_or_cancel(first, &instance).await {
        return;
    }
    // Probes start once the kubelet has seen the container running.
    while !matches!(c.state().state, State::Running { .. }) {
        if !sleep_or_cancel(Duration::from_millis(50), &instance).await {
            return;
        }
    }
    let (mut ok_run, mut fail_run) = (0u64, 0u64);
    let fp = field_path(&c);
    let what = if liveness { "Liveness" } else { "Readiness" };
    loop {
        let r = probe_once(&node, &prt, &c, &probe).await;
        if instance.is_cancelled() {
            return;
        }
        match r {
            Ok(()) => {
                ok_run += 1;
                fail_run = 0;
                if !liveness && ok_run >= success_threshold && !c.state().ready {
                    c.set(|s| s.ready = true);
                    node.wake();
                }
            }
            Err(msg) => {
                fail_run += 1;
                ok_run = 0;
                node.events.record(
                    &prt.pod,
                    Some(&fp),
                    Kind::Warning,
                    "Unhealthy",
                    format!("{what} probe failed: {msg}"),
                    "kubelet",
                );
                if fail_run >= failure_threshold {
                    if liveness {
                        node.events.record(
                            &prt.pod,
                            Some(&fp),
                            Kind::Normal,
                            "Killing",
                            format!(
                                "Container {} failed liveness probe, will be restarted",
                                c.name
                            ),
                            "kubelet",
                        );
                        kill.cancel();
                        return;
                    } else if c.state().ready {
                        c.set(|s| s.ready = false);
                        node.wake();
                    }
                }
            }
        }
        if !sleep_or_cancel(period, &instance).await {
            return;
        }
    }
}
