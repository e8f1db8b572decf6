//! Pod and service subresources served from the kubelet's state: `log`
//! (follow, previous, tailLines, timestamps), `exec` over WebSocket
//! (`v5.channel.k8s.io`) streaming a process of the container (its
//! shell and programs, [`crate::shell`]), `attach` to its main process's
//! console, `portforward`, and `proxy` for pods and services (HTTP
//! forwarded to the emulated app through the pod's network namespace).

use crate::machinery::resources;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::machinery::http::Target;
use crate::machinery::http::{self as h, Body};
use crate::machinery::meta::pod_ready;
use crate::machinery::status::ApiError;
use crate::network::services::{container_port_named, selected_pods, target_port};
use crate::node::Node;
use crate::node::kubelet::{CtrRt, LogLine, PodRt, State};
use crate::node::sessions::{self, ClientAddr};
use crate::node::streams::{self, AfterAttach, ExecRequest, Protocol};

/// Whether this module serves the request.
pub fn handles(t: &Target) -> bool {
    let sub = t.sub.as_deref();
    let core = t.res.group.is_empty();
    match t.res.plural {
        "pods" if core => matches!(
            sub,
            Some("log" | "exec" | "attach" | "proxy" | "portforward")
        ),
        "services" if core => sub == Some("proxy"),
        _ => false,
    }
}

/// Serves a pod/service subresource.
pub async fn handle(node: &Arc<Node>, t: Target, req: Request<Incoming>) -> Response<Body> {
    let r = match (t.res.plural, t.sub.as_deref()) {
        ("pods", Some("log")) => logs(node, &t, &req).await,
        ("pods", Some("exec" | "attach")) => exec(node, &t, req),
        ("pods", Some("proxy")) => pod_proxy(node, &t, req).await,
        ("pods", Some("portforward")) => port_forward(node, &t, req),
        ("services", Some("proxy")) => service_proxy(node, &t, req).await,
        _ => Err(ApiError::path_not_found()),
    };
    r.unwrap_or_else(|e| h::error(&e))
}

fn get_pod(node: &Node, t: &Target) -> Result<Arc<Value>, ApiError> {
    let ns = t.ns.as_deref().unwrap_or("");
    let name = t.name.as_deref().unwrap_or("");
    let name = name.split(':').next().unwrap_or(name);
    node.store
        .get(&resources::PODS, ns, name)
        .ok_or_else(|| ApiError::not_found(&resources::PODS, name))
}

fn names(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request means (`container=` or the only one).
fn pick_container(pod: &Value, wanted: Option<&str>) -> Result<String, ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
    let main = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match wanted.filter(|w| !w.is_empty()) {
        Some(w) => {
            if main.iter().chain(&init).chain(&ephemeral).any(|n| n == w) {
                Ok(w.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {w} is not valid for pod {pod_name}"
                )))
            }
        }
        None => {
            if let Some(name) =
                pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
                    .as_str()
                    .filter(|n| main.iter().any(|m| m == n))
            {
                return Ok(name.to_string());
            }
            if main.len() == 1 {
                return Ok(main[0].clone());
            }
            let mut msg = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                main.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

/// Whether the pod has a node (exec and logs go through its kubelet).
fn scheduled(pod: &Value) -> bool {
    pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
}

fn waiting_error(pod: &Value, container: &str, reason: &str) -> ApiError {
    ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{}\" is waiting to start: {reason}",
        pod["metadata"]["name"].as_str().unwrap_or("")
    ))
}

/// The running pod and container, or the error upstream gives.
fn container_rt(
    node: &Node,
    pod: &Value,
    container: &str,
) -> Result<(Arc<PodRt>, Arc<CtrRt>), ApiError> {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    let prt = node
        .kubelet
        .pod(uid)
        .ok_or_else(|| waiting_error(pod, container, "ContainerCreating"))?;
    let c = prt
        .container(container)
        .ok_or_else(|| waiting_error(pod, container, "ContainerCreating"))?;
    Ok((prt, c))
}

fn format_line(l: &LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}\n", l.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), l.text)
    } else {
        format!("{}\n", l.text)
    }
}

async fn logs(
    node: &Arc<Node>,
    t: &Target,
    req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = h::parse_query(req.uri().query());
    let flag = |k: &str| matches!(q.get(k).map(String::as_str), Some("true" | "1"));
    let pod = get_pod(node, t)?;
    let container = pick_container(&pod, q.get("container").map(String::as_str))?;
    if !scheduled(&pod) {
        // Upstream has no node to ask: an empty answer.
        return Ok(h::with_type(200, "text/plain", Bytes::new()));
    }
    let (_, c) = container_rt(node, &pod, &container)?;
    let st = c.state();
    let previous = flag("previous");
    if previous && st.last.is_none() {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{}\" not found",
            pod["metadata"]["name"].as_str().unwrap_or("")
        )));
    }
    if !previous
        && !st.started_once
        && let State::Waiting { reason, .. } = &st.state
    {
        return Err(waiting_error(&pod, &container, reason));
    }
    let timestamps = flag("timestamps");
    let mut lines = c.log_lines(previous);
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    if let Some(s) = q.get("sinceSeconds").and_then(|n| n.parse::<i64>().ok()) {
        let since = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s);
        lines.retain(|l| l.ts >= since);
    }
    let text: String = lines.iter().map(|l| format_line(l, timestamps)).collect();
    if !flag("follow") || previous {
        let mut text = text.into_bytes();
        if let Some(n) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
            text.truncate(n);
        }
        return Ok(h::with_type(200, "text/plain", text));
    }
    // Follow: what is there, then new lines until this instance ends.
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let instance = st.container_id.clone();
    let mut sent = c.log_lines(false).len();
    let _ = tx.send(Bytes::from(text)).await;
    tokio::spawn(async move {
        loop {
            let notified = c.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let all = c.log_lines(false);
            let st = c.state();
            if st.container_id != instance {
                break;
            }
            if all.len() > sent {
                let chunk: String = all[sent..]
                    .iter()
                    .map(|l| format_line(l, timestamps))
                    .collect();
                sent = all.len();
                if tx.send(Bytes::from(chunk)).await.is_err() {
                    break;
                }
            } else if all.len() < sent {
                sent = all.len();
            }
            if !matches!(st.state, State::Running { .. }) {
                break;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => break,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    Ok(resp)
}

fn exec(
    node: &Arc<Node>,
    t: &Target,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = get_pod(node, t)?;
    let query = req.uri().query().unwrap_or("").to_string();
    let request = ExecRequest::from_query(&query);
    let container = pick_container(&pod, request.container.as_deref())?;
    if !scheduled(&pod) {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            pod["metadata"]["name"].as_str().unwrap_or("")
        )));
    }
    let (prt, c) = container_rt(node, &pod, &container)?;
    let st = c.state();
    let Some(fs) = st
        .fs
        .clone()
        .filter(|_| matches!(st.state, State::Running { .. }))
    else {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    };
    // One session of this client's; it ends the command when the client
    // goes. Counted first, so kubectl's SPDY retry is told the same.
    let client = req.extensions().get::<ClientAddr>().copied();
    let session = node.sessions.open(client, &node.cancel)?;
    let key = req
        .headers()
        .get("Sec-WebSocket-Key")
        .map(|k| k.as_bytes().to_vec())
        .ok_or_else(|| {
            ApiError::bad_request("exec needs a WebSocket upgrade (Sec-WebSocket-Key missing)")
        })?;
    let offered = req
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let protocol = Protocol::negotiate(offered).ok_or_else(|| {
        ApiError::bad_request(format!(
            "none of the offered subprotocols ({offered}) is supported; use v5.channel.k8s.io"
        ))
    })?;
    if request.command.is_empty() && t.sub.as_deref() == Some("exec") {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let upgrade = hyper::upgrade::on(&mut req);
    let attach = t.sub.as_deref() == Some("attach");
    // Attach: to a main process the shell runs, its console (its output
    // from now on, its stdin and terminal); to any other app, what it
    // logs from now on.
    let console = st.console.clone().filter(|c| c.process().is_some());
    let after = if c.spec["stdinOnce"] == true {
        AfterAttach::CloseStdin
    } else {
        AfterAttach::KeepStdin
    };
    let container =
        crate::node::kubelet::container_shell(node, &prt, &c, fs, st.env.clone(), st.procs.clone());
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let token = session.token.clone();
        // The client going (or the sandbox stopping) ends the session.
        let io = sessions::watch_client(TokioIo::new(upgraded), token.clone());
        if attach && console.is_none() {
            tokio::select! {
                () = attach_output(io, request, c) => {}
                () = token.cancelled() => {}
            }
            drop(session);
            return;
        }
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            io,
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        match console {
            Some(console) if attach => {
                let _ = streams::run_attach(ws, protocol, &request, console, after, token).await;
            }
            _ => {
                let _ = streams::run_process(ws, protocol, &request, container, token).await;
            }
        }
        drop(session);
    });
    let mut resp = Response::new(h::full(Bytes::new()));
    *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let hs = resp.headers_mut();
    hs.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    hs.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&accept) {
        hs.insert("Sec-WebSocket-Accept", v);
    }
    hs.insert(
        "Sec-WebSocket-Protocol",
        header::HeaderValue::from_static(protocol.name()),
    );
    Ok(resp)
}

/// `attach` to a container whose process is not a shell waiting for
/// input: what it prints from now on, until it exits or the client goes;
/// then the Success status the kubelet sends at the end of an attach.
async fn attach_output(io: tokio::io::DuplexStream, request: ExecRequest, c: Arc<CtrRt>) {
    use futures::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        io,
        tokio_tungstenite::tungstenite::protocol::Role::Server,
        None,
    )
    .await;
    let (mut tx, mut rx) = ws.split();
    let channel = if request.stdout || request.tty {
        streams::STDOUT
    } else {
        streams::STDERR
    };
    let _ = tx
        .send(Message::Binary(streams::encode(channel, &[]).into()))
        .await;
    let instance = c.state().container_id;
    let mut sent = c.log_lines(false).len();
    loop {
        let notified = c.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let lines = c.log_lines(false);
        let st = c.state();
        if lines.len() > sent {
            let mut text: String = lines[sent..]
                .iter()
                .map(|l| format!("{}\n", l.text))
                .collect();
            if request.tty {
                text = text.replace('\n', "\r\n");
            }
            sent = lines.len();
            if tx
                .send(Message::Binary(
                    streams::encode(channel, text.as_bytes()).into(),
                ))
                .await
                .is_err()
            {
                return;
            }
        } else if lines.len() < sent {
            sent = lines.len();
        }
        if st.container_id != instance || !matches!(st.state, State::Running { .. }) {
            break;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            m = rx.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
    let status = serde_json::json!({"metadata": {}, "status": "Success"}).to_string();
    let _ = tx
        .send(Message::Binary(
            streams::encode(streams::STATUS, status.as_bytes()).into(),
        ))
        .await;
    let _ = tx
        .send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                reason: "".into(),
            },
        )))
        .await;
}

/// `kubectl port-forward`: the pod must be running on the node.
fn port_forward(
    node: &Arc<Node>,
    t: &Target,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = get_pod(node, t)?;
    if !scheduled(&pod) {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            pod["metadata"]["name"].as_str().unwrap_or("")
        )));
    }
    crate::node::portforward::handle(node, &pod, req)
}

/// `[scheme:]name[:port]` of a proxy URL.
fn split_proxy_name(s: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = s.split(':').collect();
    let (name, port) = match parts.as_slice() {
        [name] => (name.to_string(), None),
        ["http" | "https", name, port] => (name.to_string(), Some(port.to_string())),
        ["http" | "https", name] if !name.is_empty() => (name.to_string(), None),
        [name, port] => (name.to_string(), Some(port.to_string())),
        _ => (s.to_string(), None),
    };
    (name, port.filter(|p| !p.is_empty()))
}

/// The path after `/proxy`, exactly as the client sent it.
fn proxy_rest(req: &Request<Incoming>) -> String {
    let path = req.uri().path();
    let rest = match path.find("/proxy") {
        Some(i) => &path[i + "/proxy".len()..],
        None => "",
    };
    let rest = if rest.is_empty() { "/" } else { rest };
    match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    }
}

async fn pod_proxy(
    node: &Arc<Node>,
    t: &Target,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = get_pod(node, t)?;
    let (_, port) = split_proxy_name(t.name.as_deref().unwrap_or(""));
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) => n,
            Err(_) => container_port_named(&pod, &p)
                .ok_or_else(|| ApiError::bad_request(format!("no such port {p:?} in pod")))?,
        },
        None => pod["spec"]["containers"][0]["ports"][0]["containerPort"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(80),
    };
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    let ip = pod["status"]["podIP"].as_str().unwrap_or("");
    let addr = node.netns.lookup(uid, port).ok_or_else(|| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!(
                "error trying to reach service: dial tcp {ip}:{port}: connect: connection refused"
            ),
        )
    })?;
    forward(addr, req).await
}

async fn service_proxy(
    node: &Arc<Node>,
    t: &Target,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let ns = t.ns.as_deref().unwrap_or("");
    let (name, port) = split_proxy_name(t.name.as_deref().unwrap_or(""));
    let svc = node
        .store
        .get(&resources::SERVICES, ns, &name)
        .ok_or_else(|| ApiError::not_found(&resources::SERVICES, &name))?;
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let sp = match &port {
        Some(p) => ports
            .iter()
            .find(|sp| {
                sp["name"].as_str() == Some(p.as_str())
                    || p.parse::<u64>().ok() == sp["port"].as_u64()
            })
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    503,
                    "ServiceUnavailable",
                    format!("no service port {p:?} found for service {name:?}"),
                )
            })?,
        None => ports.first().cloned().ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("no service port found for service {name:?}"),
            )
        })?,
    };
    let unavailable = || {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{name}\""),
        )
    };
    // One ready endpoint at random per request, as the API server picks.
    let ready: Vec<Arc<Value>> = selected_pods(&node.store, &svc)
        .into_iter()
        .filter(|p| pod_ready(p))
        .collect();
    if ready.is_empty() {
        return Err(unavailable());
    }
    let pod = &ready[rand::random_range(0..ready.len())];
    let port = target_port(&sp, pod).ok_or_else(unavailable)?;
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
    let addr = node.netns.lookup(uid, port).ok_or_else(unavailable)?;
    forward(addr, req).await
}

/// Forwards the request (method, path, headers, body) to `addr` and
/// returns the app's answer.
async fn forward(
    addr: std::net::SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let bad_gateway = |e: String| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("error trying to reach service: {e}"),
        )
    };
    let target = proxy_rest(&req);
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, 16 * 1024 * 1024)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("the request body could not be read: {e}")))?
        .to_bytes();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut out = Request::builder().method(parts.method).uri(&target);
    for (k, v) in &parts.headers {
        if k == header::AUTHORIZATION || k == header::CONNECTION || k == header::UPGRADE {
            continue;
        }
        out = out.header(k, v);
    }
    let out = out
        .body(Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("cannot forward the request: {e}")))?;
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(out))
        .await
        .map_err(|_| bad_gateway("timed out".into()))?
        .map_err(|e| bad_gateway(e.to_string()))?;
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| bad_gateway(e.to_string()))?
        .to_bytes();
    let mut r = Response::new(h::full(bytes));
    *r.status_mut() = parts.status;
    for (k, v) in &parts.headers {
        if k == header::CONNECTION || k == header::TRANSFER_ENCODING || k == header::CONTENT_LENGTH
        {
            continue;
        }
        r.headers_mut().append(k, v.clone());
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_names() {
        assert_eq!(split_proxy_name("msg-api"), ("msg-api".into(), None));
        assert_eq!(
            split_proxy_name("msg-api:80"),
            ("msg-api".into(), Some("80".into()))
        );
        assert_eq!(
            split_proxy_name("http:msg-api:http"),
            ("msg-api".into(), Some("http".into()))
        );
        assert_eq!(split_proxy_name("msg-api:"), ("msg-api".into(), None));
    }

    #[test]
    fn container_choice() {
        let pod = serde_json::json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(pick_container(&pod, Some("b")).unwrap(), "b");
        let e = pick_container(&pod, None).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        assert!(pick_container(&pod, Some("c")).is_err());
    }
}
