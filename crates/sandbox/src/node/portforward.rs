//! `pods/<name>/portforward`: what `kubectl port-forward` talks to.
//!
//! kubectl (1.31+) first asks for a WebSocket whose subprotocol is
//! `SPDY/3.1+portforward.k8s.io`: the SPDY byte stream then travels in the
//! WebSocket's binary messages. Older clients, or a newer one told
//! `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`, ask for `Upgrade: SPDY/3.1`
//! with `X-Stream-Protocol-Version: portforward.k8s.io` and speak SPDY on
//! the socket itself. Either way each local connection becomes a pair of
//! streams with the same `requestid`: `streamtype: error` and `streamtype:
//! data`, both naming the pod's `port`. The kubelet dials the port inside
//! the pod's network namespace (here: [`NetNamespaces::lookup`]) and
//! splices the data stream to it; when nothing listens it writes
//! containerd's error text on the error stream, which kubectl prints before
//! it gives up (`error: lost connection to pod`).
//!
//! kube-rs and other clients use the older WebSocket protocol
//! (`v4.channel.k8s.io`, ports in the query): one channel pair per port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_util::sync::CancellationToken;

use crate::machinery::http::{self as h, Body};
use crate::machinery::status::ApiError;
use crate::network::netns::NetNamespaces;
use crate::node::Node;
use crate::node::sessions::{ClientAddr, Session, watch_client};
use crate::node::spdy::{self, FrameSink, Stream, StreamReader, StreamWriter};

/// The stream protocol kubectl asks for.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol of the tunnel (KEP-4006).
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// How long the kubelet waits for both streams of a request.
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests waiting for their second stream, per connection.
const MAX_PENDING: usize = 256;
/// Once one direction of a forwarded connection ends, how long the other
/// gets to finish (containerd's grace).
const HALF_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What a connection forwards to: one pod's network namespace.
#[derive(Clone)]
pub struct Target {
    pub pod_uid: String,
    pub netns: NetNamespaces,
}

impl Target {
    /// The CRI sandbox id containerd names in its errors (64 hex digits,
    /// stable for the pod).
    fn sandbox_id(&self) -> String {
        hex_digest(&self.pod_uid, 4)
    }

    /// The CNI network namespace path of the pod.
    fn netns_path(&self) -> String {
        let h = hex_digest(&format!("netns/{}", self.pod_uid), 2);
        format!(
            "/var/run/netns/cni-{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The text the kubelet writes on the error stream when nothing
    /// listens on `port` in the pod (containerd's wording, the CRI's empty
    /// uid included).
    pub fn refused(&self, port: u16) -> String {
        let id = self.sandbox_id();
        format!(
            "error forwarding port {port} to pod {id}, uid : failed to execute portforward in network namespace \"{}\": failed to connect to localhost:{port} inside namespace \"{id}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused ",
            self.netns_path()
        )
    }
}

/// `n` × 16 hex digits derived from `seed` (FNV-1a with n seeds).
fn hex_digest(seed: &str, n: u64) -> String {
    let mut out = String::new();
    for k in 0..n {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The transport a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transport {
    /// SPDY inside a WebSocket (kubectl 1.31+).
    Tunnel,
    /// SPDY on the upgraded socket.
    Spdy,
    /// The channel protocol over WebSocket, ports in the query.
    Channels { base64: bool, protocol: String },
}

/// Which transport the headers ask for, or the error upstream answers.
fn negotiate(req: &Request<Incoming>) -> Result<Transport, ApiError> {
    let upgrade = header_str(req, "upgrade").to_ascii_lowercase();
    if upgrade == "websocket" {
        let offered: Vec<String> = header_str(req, "sec-websocket-protocol")
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if offered.iter().any(|p| p == TUNNEL_PROTOCOL) {
            return Ok(Transport::Tunnel);
        }
        if offered
            .iter()
            .any(|p| p.starts_with("SPDY/3.1+") && p.ends_with(".k8s.io"))
        {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [\"{PROTOCOL}\"]"
            )));
        }
        for p in [
            "v4.channel.k8s.io",
            "v4.base64.channel.k8s.io",
            "channel.k8s.io",
            "base64.channel.k8s.io",
        ] {
            if offered.iter().any(|o| o == p) {
                return Ok(Transport::Channels {
                    base64: p.contains("base64"),
                    protocol: p.to_string(),
                });
            }
        }
        if offered.is_empty() {
            return Ok(Transport::Channels {
                base64: false,
                protocol: String::new(),
            });
        }
        return Err(ApiError::bad_request(format!(
            "unable to upgrade: no tunneling spdy protocols provided: {offered:?}"
        )));
    }
    let connection = header_str(req, "connection").to_ascii_lowercase();
    if !connection.contains("upgrade") || !upgrade.contains("spdy/3.1") {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade: missing upgrade headers in request: {:?}",
            req.headers()
                .iter()
                .filter(|(k, _)| *k == header::CONNECTION || *k == header::UPGRADE)
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
                .collect::<Vec<_>>()
        )));
    }
    let versions: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if versions.is_empty() {
        return Err(ApiError::bad_request(
            "unable to upgrade: X-Stream-Protocol-Version is required",
        ));
    }
    if !versions.iter().any(|v| v == PROTOCOL) {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {versions:?}, server accepts [\"{PROTOCOL}\"]"
            ),
        ));
    }
    Ok(Transport::Spdy)
}

/// Answers a port-forward request for `pod` (a running pod of this node):
/// 101 and the session on a task of its own.
pub fn handle(
    node: &Arc<Node>,
    pod: &Value,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
    if node.kubelet.pod(&uid).is_none() {
        return Err(ApiError::new(404, "NotFound", "pod does not exist"));
    }
    let transport = negotiate(&req)?;
    let ports = match &transport {
        Transport::Channels { .. } => query_ports(req.uri().query().unwrap_or(""))?,
        _ => Vec::new(),
    };
    let client = req.extensions().get::<ClientAddr>().copied();
    let session = node.sessions.open(client, &node.cancel)?;
    let target = Target {
        pod_uid: uid,
        netns: node.netns.clone(),
    };
    let ws_key = header_str(&req, "sec-websocket-key").to_string();
    let upgrade = hyper::upgrade::on(&mut req);
    let mut resp = Response::new(h::full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = resp.headers_mut();
    hs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match &transport {
        Transport::Spdy => {
            hs.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
            hs.insert(
                "X-Stream-Protocol-Version",
                HeaderValue::from_static(PROTOCOL),
            );
        }
        Transport::Tunnel | Transport::Channels { .. } => {
            if ws_key.is_empty() {
                return Err(ApiError::bad_request(
                    "unable to upgrade: Sec-WebSocket-Key is missing",
                ));
            }
            hs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(ws_key.as_bytes());
            if let Ok(v) = HeaderValue::from_str(&accept) {
                hs.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            let protocol = match &transport {
                Transport::Channels { protocol, .. } => protocol.clone(),
                _ => TUNNEL_PROTOCOL.to_string(),
            };
            if !protocol.is_empty()
                && let Ok(v) = HeaderValue::from_str(&protocol)
            {
                hs.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
            }
        }
    }
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        run(transport, ports, TokioIo::new(upgraded), target, session).await;
    });
    Ok(resp)
}

/// Runs one port-forward connection over the upgraded socket.
async fn run<IO>(transport: Transport, ports: Vec<u16>, io: IO, target: Target, session: Session)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let token = session.token.clone();
    match transport {
        Transport::Spdy => {
            let (r, w) = tokio::io::split(io);
            serve_spdy(r, spdy::ByteSink(w), target, token).await;
        }
        Transport::Tunnel => {
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            let (sink, stream) = ws.split();
            let reader = tokio_util::io::StreamReader::new(ws_bytes(stream));
            serve_spdy(reader, WsSink(sink), target, token).await;
        }
        Transport::Channels { base64, .. } => {
            let io = watch_client(io, token.clone());
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            channels::serve(ws, base64, ports, target, token).await;
        }
    }
    drop(session);
}

/// The binary messages of a WebSocket as one byte stream (their
/// boundaries mean nothing in the tunnel); a Close ends it.
fn ws_bytes<S>(
    stream: futures::stream::SplitStream<WebSocketStream<S>>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + Unpin
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    stream
        .take_while(|m| futures::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| {
            futures::future::ready(match m {
                Ok(Message::Binary(b)) => Some(Ok(b)),
                Ok(Message::Text(_)) => Some(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "invalid message type received",
                ))),
                Ok(_) => None,
                Err(e) => Some(Err(std::io::Error::other(e))),
            })
        })
}

/// Each SPDY frame as one binary WebSocket message.
struct WsSink<S>(futures::stream::SplitSink<WebSocketStream<S>, Message>);

impl<S> FrameSink for WsSink<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn send(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        self.0
            .send(Message::Binary(frame.into()))
            .await
            .map_err(std::io::Error::other)
    }

    async fn close(&mut self) {
        let _ = self
            .0
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = self.0.close().await;
    }
}

/// Runs the SPDY connection and pairs its streams into forwarded
/// connections.
async fn serve_spdy<R, S>(reader: R, sink: S, target: Target, token: CancellationToken)
where
    R: AsyncRead + Unpin + Send,
    S: FrameSink + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    let pairs = tokio::spawn(pair_streams(rx, target, token.clone()));
    let _ = spdy::serve(reader, sink, tx, token.clone(), check_stream).await;
    token.cancel();
    let _ = pairs.await;
}

/// The kubelet's checks on a new stream's headers (a failure resets it).
fn check_stream(headers: &spdy::Headers) -> Result<(), String> {
    let port = spdy::header(headers, "port").unwrap_or("");
    if port.is_empty() {
        return Err("\"port\" header is required".into());
    }
    let n: u64 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if n > u64::from(u16::MAX) {
        return Err(format!(
            "unable to parse {port:?} as a port: strconv.ParseUint: parsing {port:?}: value out of range"
        ));
    }
    if n < 1 {
        return Err(format!("port {port:?} must be > 0"));
    }
    match spdy::header(headers, "streamtype").unwrap_or("") {
        "error" | "data" => Ok(()),
        "" => Err("\"streamType\" header is required".into()),
        other => Err(format!("invalid stream type {other:?}")),
    }
}

/// A request's two streams, as they arrive.
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
    deadline: tokio::time::Instant,
}

/// Pairs streams by `requestid` and forwards each complete pair.
async fn pair_streams(mut rx: mpsc::Receiver<Stream>, target: Target, token: CancellationToken) {
    let mut pending: HashMap<String, Pair> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let next = pending.values().map(|p| p.deadline).min();
        let stream = tokio::select! {
            s = rx.recv() => match s {
                Some(s) => s,
                None => break,
            },
            () = async {
                match next {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = tokio::time::Instant::now();
                let expired: Vec<String> = pending
                    .iter()
                    .filter(|(_, p)| p.deadline <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for id in expired {
                    if let Some(p) = pending.remove(&id) {
                        let msg = format!("(conn=&{{{:p}}}, request={id}) timed out waiting for streams", &target);
                        fail_pair(p, &msg).await;
                    }
                }
                continue;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let is_error = stream.header("streamtype") == Some("error");
        let id = match stream.header("requestid").filter(|r| !r.is_empty()) {
            Some(r) => r.to_string(),
            None if is_error => stream.id.to_string(),
            None => stream.id.saturating_sub(2).to_string(),
        };
        if !pending.contains_key(&id) && pending.len() >= MAX_PENDING {
            spdy::refuse(stream).await;
            continue;
        }
        let pair = pending.entry(id.clone()).or_insert_with(|| Pair {
            error: None,
            data: None,
            deadline: tokio::time::Instant::now() + PAIR_TIMEOUT,
        });
        let slot = if is_error {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() {
            let what = if is_error { "error" } else { "data" };
            let msg =
                format!("error processing stream for request {id}: {what} stream already assigned");
            if let Some(e) = &pair.error {
                let _ = e.writer().write(msg.as_bytes()).await;
            }
            spdy::refuse(stream).await;
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair {
                error: Some(error),
                data: Some(data),
                ..
            }) = pending.remove(&id)
        {
            tasks.spawn(forward(target.clone(), error, data, token.clone()));
        }
    }
    // The connection is over: what still forwards ends with it.
    token.cancel();
    while tasks.join_next().await.is_some() {}
}

/// A pair that will not be forwarded: its error stream says why.
async fn fail_pair(p: Pair, msg: &str) {
    if let Some(e) = p.error {
        let w = e.writer();
        let _ = w.write(msg.as_bytes()).await;
        w.close().await;
    }
    if let Some(d) = p.data {
        d.writer().close().await;
    }
}

/// Forwards one local connection: dials the pod's port and splices.
async fn forward(target: Target, error: Stream, data: Stream, token: CancellationToken) {
    let port: u16 = data
        .header("port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let (_, error_w) = error.split();
    let (data_r, data_w) = data.split();
    let conn = match target.netns.lookup(&target.pod_uid, port) {
        Some(addr) => tokio::net::TcpStream::connect(addr).await.ok(),
        None => None,
    };
    match conn {
        Some(conn) => splice(conn, data_r, &data_w, &token).await,
        None => {
            let _ = error_w.write(target.refused(port).as_bytes()).await;
        }
    }
    data_w.close().await;
    error_w.close().await;
}

/// Copies both ways between the pod's socket and the data stream until one
/// side is done (then the other gets a moment), the client resets the
/// stream, or the connection ends.
async fn splice(
    conn: tokio::net::TcpStream,
    mut from_client: StreamReader,
    to_client: &StreamWriter,
    token: &CancellationToken,
) {
    let (mut pod_r, mut pod_w) = conn.into_split();
    let up = async {
        while let Some(b) = from_client.read().await {
            if pod_w.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = pod_w.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pod_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_client.write(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::pin!(up, down);
    let first_up = tokio::select! {
        () = &mut up => true,
        () = &mut down => false,
        () = to_client.was_reset() => return,
        () = token.cancelled() => return,
    };
    let rest = async {
        if first_up {
            (&mut down).await;
        } else {
            (&mut up).await;
        }
    };
    let _ = tokio::time::timeout(HALF_CLOSE_GRACE, rest).await;
}

/// The ports of a `?ports=80&ports=443` (or `ports=80,443`) query.
fn query_ports(query: &str) -> Result<Vec<u16>, ApiError> {
    let mut out = Vec::new();
    let mut seen = false;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "ports" {
            continue;
        }
        seen = true;
        for p in h::decode(v).split(',').map(str::trim) {
            if p.is_empty() {
                return Err(ApiError::bad_request(
                    "query parameter \"ports\" cannot be empty",
                ));
            }
            let n: u16 = p.parse().map_err(|e| {
                ApiError::bad_request(format!("unable to parse {p:?} as a port: {e}"))
            })?;
            if n == 0 {
                return Err(ApiError::bad_request(format!("port {p:?} must be > 0")));
            }
            out.push(n);
        }
    }
    if !seen {
        return Err(ApiError::bad_request(
            "query parameter \"ports\" is required",
        ));
    }
    Ok(out)
}

/// The channel protocol (`v4.channel.k8s.io`): one data and one error
/// channel per port; each message starts with its channel byte, and the
/// first message on each channel is the port (u16, little-endian).
mod channels {
    use super::*;

    pub(super) async fn serve<S>(
        ws: WebSocketStream<S>,
        base64: bool,
        ports: Vec<u16>,
        target: Target,
        token: CancellationToken,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(32);
        let mut to_pod: Vec<Option<tokio::net::tcp::OwnedWriteHalf>> = Vec::new();
        let mut readers = tokio::task::JoinSet::new();
        let encode = move |ch: u8, data: &[u8]| -> Message {
            if base64 {
                use base64::Engine as _;
                let mut s = String::from(char::from(b'0' + ch));
                s.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
                Message::Text(s.into())
            } else {
                let mut m = Vec::with_capacity(data.len() + 1);
                m.push(ch);
                m.extend_from_slice(data);
                Message::Binary(m.into())
            }
        };
        for (i, port) in ports.iter().enumerate() {
            let Ok(i) = u8::try_from(i) else { break };
            let (data_ch, err_ch) = (i.saturating_mul(2), i.saturating_mul(2).saturating_add(1));
            let prefix = port.to_le_bytes();
            let _ = sink.send(encode(data_ch, &prefix)).await;
            let _ = sink.send(encode(err_ch, &prefix)).await;
            let conn = match target.netns.lookup(&target.pod_uid, *port) {
                Some(addr) => tokio::net::TcpStream::connect(addr).await.ok(),
                None => None,
            };
            match conn {
                Some(conn) => {
                    let (mut r, w) = conn.into_split();
                    to_pod.push(Some(w));
                    let tx = out_tx.clone();
                    readers.spawn(async move {
                        let mut buf = vec![0u8; 32 * 1024];
                        while let Ok(n) = r.read(&mut buf).await {
                            if n == 0 || tx.send((data_ch, buf[..n].to_vec())).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                None => {
                    to_pod.push(None);
                    let _ = sink
                        .send(encode(err_ch, target.refused(*port).as_bytes()))
                        .await;
                }
            }
        }
        drop(out_tx);
        let mut pods_open = readers.len();

        loop {
            tokio::select! {
                () = token.cancelled() => break,
                out = out_rx.recv() => match out {
                    Some((ch, data)) => {
                        if sink.send(encode(ch, &data)).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                Some(_) = readers.join_next(), if !readers.is_empty() => {
                    pods_open = pods_open.saturating_sub(1);
                    if pods_open == 0 && out_rx.is_empty() {
                        break;
                    }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Binary(b))) => {
                        if let Some((&ch, data)) = b.split_first()
                            && ch % 2 == 0
                            && let Some(Some(w)) = to_pod.get_mut(usize::from(ch / 2))
                            && w.write_all(data).await.is_err()
                        {
                            to_pod[usize::from(ch / 2)] = None;
                        }
                    }
                    Some(Ok(Message::Text(t))) if base64 => {
                        use base64::Engine as _;
                        let t = t.as_bytes();
                        if let Some((&c, rest)) = t.split_first()
                            && let Some(ch) = c.checked_sub(b'0')
                            && ch % 2 == 0
                            && let Ok(data) = base64::engine::general_purpose::STANDARD.decode(rest)
                            && let Some(Some(w)) = to_pod.get_mut(usize::from(ch / 2))
                            && w.write_all(&data).await.is_err()
                        {
                            to_pod[usize::from(ch / 2)] = None;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
        readers.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::spdy::tests::{Got, TestClient};
    use crate::node::spdy::{Control, FLAG_FIN};

    #[test]
    fn the_refusal_text_is_containerds() {
        let t = Target {
            pod_uid: "u-1".into(),
            netns: NetNamespaces::new(),
        };
        let msg = t.refused(80);
        let id = t.sandbox_id();
        assert_eq!(id.len(), 64);
        assert!(msg.starts_with(&format!("error forwarding port 80 to pod {id}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-")));
        assert!(msg.ends_with(&format!("failed to connect to localhost:80 inside namespace \"{id}\", IPv4: dial tcp4 127.0.0.1:80: connect: connection refused IPv6 dial tcp6 [::1]:80: connect: connection refused ")));
        assert_eq!(t.sandbox_id(), id, "stable");
    }

    #[test]
    fn stream_checks() {
        let h = |pairs: &[(&str, &str)]| -> spdy::Headers {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            check_stream(&h(&[("streamtype", "data")])).unwrap_err(),
            "\"port\" header is required"
        );
        assert_eq!(
            check_stream(&h(&[("port", "0"), ("streamtype", "data")])).unwrap_err(),
            "port \"0\" must be > 0"
        );
        assert!(check_stream(&h(&[("port", "x"), ("streamtype", "data")])).is_err());
        assert_eq!(
            check_stream(&h(&[("port", "80")])).unwrap_err(),
            "\"streamType\" header is required"
        );
        assert_eq!(
            check_stream(&h(&[("port", "80"), ("streamtype", "x")])).unwrap_err(),
            "invalid stream type \"x\""
        );
        assert!(check_stream(&h(&[("port", "80"), ("streamtype", "error")])).is_ok());
        assert_eq!(
            query_ports("ports=80&ports=443,8080").unwrap(),
            [80, 443, 8080]
        );
        assert!(query_ports("").is_err());
        assert!(query_ports("ports=0").is_err());
    }

    /// A client over an in-memory pipe: one forwarded connection to a
    /// port that answers, one to a port where nothing listens.
    #[tokio::test]
    async fn streams_are_paired_and_spliced_or_refused() {
        let netns = NetNamespaces::new();
        let mut bound = netns.bind("pod-1", "web", 80).await.unwrap();
        let listener = bound.take_listener().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(b"echo:").await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let target = Target {
            pod_uid: "pod-1".into(),
            netns: netns.clone(),
        };
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(server_io);
        let (cr, cw) = tokio::io::split(client_io);
        let token = CancellationToken::new();
        let conn = tokio::spawn(serve_spdy(sr, spdy::ByteSink(sw), target.clone(), token));
        let mut c = TestClient::new(cr, cw);
        c.syn(
            1,
            &[("streamtype", "error"), ("port", "80"), ("requestid", "0")],
            true,
        )
        .await;
        c.syn(
            3,
            &[("streamtype", "data"), ("port", "80"), ("requestid", "0")],
            false,
        )
        .await;
        c.data(3, b"hello", false).await;
        let mut got_data = Vec::new();
        let mut fins = Vec::new();
        while fins.len() < 2 {
            match c.next().await.unwrap() {
                Got::Data(3, f, d) => {
                    got_data.extend(d);
                    if f & FLAG_FIN != 0 {
                        fins.push(3);
                    }
                }
                Got::Data(1, f, d) => {
                    assert!(
                        d.is_empty(),
                        "no error text: {}",
                        String::from_utf8_lossy(&d)
                    );
                    if f & FLAG_FIN != 0 {
                        fins.push(1);
                    }
                }
                Got::Control(Control::SynReply { .. }) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got_data, b"echo:hello");

        // Port 81: nothing listens.
        c.syn(
            5,
            &[("streamtype", "error"), ("port", "81"), ("requestid", "1")],
            true,
        )
        .await;
        c.syn(
            7,
            &[("streamtype", "data"), ("port", "81"), ("requestid", "1")],
            false,
        )
        .await;
        let mut error_text = Vec::new();
        loop {
            if let Got::Data(5, f, d) = c.next().await.unwrap() {
                error_text.extend(d);
                if f & FLAG_FIN != 0 {
                    break;
                }
            }
        }
        assert_eq!(String::from_utf8(error_text).unwrap(), target.refused(81));

        // A stream without a port is reset instead of answered.
        c.syn(9, &[("streamtype", "data")], false).await;
        assert_eq!(
            c.next().await,
            Some(Got::Control(Control::RstStream {
                stream_id: 9,
                status: spdy::RST_CANCEL
            }))
        );
        drop(c);
        conn.await.unwrap();
    }
}
