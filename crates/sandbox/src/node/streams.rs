//! The WebSocket side of `kubectl exec`: the `v5.channel.k8s.io` (and
//! `v4.channel.k8s.io`) framing, and a session that streams a process of
//! the container: its output frames as it is written, client stdin fed to
//! it as it arrives (through a terminal's line discipline with `-t`),
//! resize frames applied, and the exit status last.
//!
//! Every binary frame starts with a channel byte: 0 stdin, 1 stdout,
//! 2 stderr, 3 status (a `metav1.Status` JSON), 4 terminal resize, and in
//! v5 255 "close" (`[255, n]`: the peer will send nothing more on channel n,
//! which is how kubectl says stdin reached EOF). kubectl takes its exit
//! code from the final status message: without one it exits 0 even when the
//! command failed.

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use tokio_util::sync::CancellationToken;

use crate::process::{Console, ExitStatus, Signal, Stream, tty::onlcr};
use crate::shell::{Container, SpawnError, SpawnOptions};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const STATUS: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

/// The subprotocols the sandbox speaks, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V5,
    V4,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V5 => "v5.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
        }
    }

    /// Picks the best protocol from a `Sec-WebSocket-Protocol` request
    /// header (comma-separated offers); the reply must echo its name.
    pub fn negotiate(offered: &str) -> Option<Protocol> {
        let offers: Vec<&str> = offered.split(',').map(str::trim).collect();
        [Protocol::V5, Protocol::V4]
            .into_iter()
            .find(|p| offers.contains(&p.name()))
    }
}

/// A malformed exec frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty websocket frame: expected a channel byte")]
    Empty,
    #[error("unknown exec channel {0}")]
    UnknownChannel(u8),
}

/// A decoded frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Stdin(&'a [u8]),
    Resize {
        width: u16,
        height: u16,
    },
    /// The client closed channel n (v5).
    Close(u8),
    /// Output channels the client should not send on; ignored.
    Other(u8, &'a [u8]),
}

/// One frame: the channel byte then the data.
pub fn encode(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    frame
}

/// Reads a frame sent by the client.
pub fn decode(frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (&channel, data) = frame.split_first().ok_or(FrameError::Empty)?;
    Ok(match channel {
        STDIN => Frame::Stdin(data),
        RESIZE => {
            // {"Width":80,"Height":24}; a bad one is ignored like upstream.
            let size: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
            let dim = |k: &str| {
                size.get(k)
                    .and_then(Value::as_u64)
                    .and_then(|v| u16::try_from(v).ok())
                    .unwrap_or(0)
            };
            Frame::Resize {
                width: dim("Width"),
                height: dim("Height"),
            }
        }
        CLOSE => Frame::Close(data.first().copied().unwrap_or(STDIN)),
        STDOUT | STDERR | STATUS => Frame::Other(channel, data),
        other => return Err(FrameError::UnknownChannel(other)),
    })
}

/// The final status message for an exit code, as the kubelet words it.
pub fn status(exit_code: i32, command: &[String]) -> Value {
    if exit_code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {exit_code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": exit_code.to_string()}]}
    })
}

/// What an exec request asks for (its query string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub container: Option<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecRequest {
    /// Parses `command=sh&command=-c&command=ls&stdin=true&tty=false&container=x`.
    pub fn from_query(query: &str) -> ExecRequest {
        let mut req = ExecRequest::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let yes = v == "true" || v == "1";
            match k {
                "command" => req.command.push(v),
                "container" => req.container = Some(v),
                "stdin" => req.stdin = yes,
                "stdout" => req.stdout = yes,
                "stderr" => req.stderr = yes,
                "tty" => req.tty = yes,
                _ => {}
            }
        }
        req
    }
}

/// Decodes `%XX` and `+` in a query value (invalid escapes stay as typed).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("websocket error: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// How long after the upgrade the first output may be sent (see below).
const CLIENT_SETUP_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// How long to wait for the client's half of the close handshake.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The largest frame sent: kubectl's own chunks are 32 KiB.
const FRAME: usize = 32 * 1024;

/// Sends an empty frame on the lowest channel the client reads, as the
/// kubelet does, to tell it the stream is up.
async fn announce<S>(ws: &mut WebSocketStream<S>, request: &ExecRequest) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let channel = if request.stdout || request.tty {
        STDOUT
    } else if request.stderr {
        STDERR
    } else {
        STATUS
    };
    if channel != STATUS {
        ws.send(Message::Binary(encode(channel, &[]).into()))
            .await?;
    }
    Ok(())
}

/// The status for a process that could not start (the runtime's error,
/// as the kubelet relays it).
pub fn start_error(e: &SpawnError) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"{:016x}\": {e}",
            rand::random::<u64>()
        ),
        "reason": "InternalError",
        "details": {"causes": [{"message": format!("error executing command in container: failed to exec in container: {e}")}]},
        "code": 500
    })
}

/// Sends the final status, closes with 1000, and reads until the client
/// answers the close: dropping the socket with unread client frames would
/// make the kernel reset the connection, and kubectl could lose the status.
async fn finish<S>(mut ws: WebSocketStream<S>, status: Value) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::Binary(
        encode(STATUS, status.to_string().as_bytes()).into(),
    ))
    .await?;
    ws.close(Some(normal_close())).await?;
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
    Ok(())
}

/// A close frame with status 1000: kubectl reports a close without a status
/// code (1005) as an error even after a successful command.
fn normal_close() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }
}

/// Runs `request.command` as a process of `container` over an upgraded
/// exec connection, streaming both ways until the process exits; returns
/// its exit code.
// Long: one select loop owns the WebSocket and the process's pipes (output
// frames, client frames, stdin backpressure, the terminal), so that no
// direction can block another.
pub async fn run_process<S>(
    mut ws: WebSocketStream<S>,
    protocol: Protocol,
    request: &ExecRequest,
    container: Container,
    hangup: CancellationToken,
) -> Result<i32, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = tokio::time::Instant::now();
    announce(&mut ws, request).await?;
    let child = match container.spawn(SpawnOptions {
        argv: request.command.clone(),
        env: None,
        cwd: None,
        tty: request.tty,
        stdin: request.stdin,
        init: false,
    }) {
        Ok(c) => c,
        Err(e) => {
            tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
            finish(ws, start_error(&e)).await?;
            return Ok(126);
        }
    };
    let process = std::sync::Arc::clone(&child.process);
    let mut stdin = child.stdin;
    let mut terminal = child.terminal;
    let stdout = child.stdout;
    let stderr = child.stderr;
    let tty = request.tty;
    // Bytes typed or sent, waiting for room in the process's stdin.
    let mut pending: Vec<u8> = Vec::new();
    let mut stdin_closed = !request.stdin;
    let mut client_gone = false;
    let mut exited: Option<ExitStatus> = None;
    let mut out_done = false;
    let mut err_done = stderr.is_none();
    let mut prev = 0u8;
    let mut out_buf = vec![0u8; FRAME];
    let mut err_buf = vec![0u8; FRAME];
    let mut grace_passed = false;
    loop {
        if exited.is_some() {
            // Whatever the process wrote before it ended is in the pipes:
            // send it, without waiting for orphans that hold them open.
            for (reader, channel) in [(Some(&stdout), STDOUT), (stderr.as_ref(), STDERR)] {
                let Some(reader) = reader else { continue };
                let mut buf = vec![0u8; FRAME];
                while let Some(n) = reader.try_read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let data = if tty {
                        onlcr(&buf[..n], &mut prev)
                    } else {
                        buf[..n].to_vec()
                    };
                    let wanted = if channel == STDOUT {
                        request.stdout || tty
                    } else {
                        request.stderr
                    };
                    if wanted && !client_gone {
                        if !grace_passed {
                            tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
                            grace_passed = true;
                        }
                        ws.send(Message::Binary(encode(channel, &data).into()))
                            .await?;
                    }
                }
            }
            break;
        }
        // With stdin closed and nothing pending, the process sees EOF.
        if stdin_closed && pending.is_empty() && stdin.is_some() {
            if terminal.is_some() {
                // A terminal's ctrl-D: one end-of-file, the line stays.
                if let Some(w) = &stdin {
                    w.send_eof();
                }
                stdin_closed = false;
            } else {
                // Dropping the writer is the pipe's EOF.
                stdin = None;
            }
        }
        let can_write = stdin.is_some() && !pending.is_empty();
        tokio::select! {
            st = process.wait_async() => exited = Some(st),
            n = stdout.read_async(&mut out_buf), if !out_done => {
                if n == 0 {
                    out_done = true;
                } else if (request.stdout || tty) && !client_gone {
                    if !grace_passed {
                        // kubectl before v1.33 reads frames before it has
                        // registered its streams and drops what arrives
                        // too early ("Unknown stream id").
                        tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
                        grace_passed = true;
                    }
                    let data = if tty { onlcr(&out_buf[..n], &mut prev) } else { out_buf[..n].to_vec() };
                    ws.send(Message::Binary(encode(STDOUT, &data).into())).await?;
                }
            }
            n = async { match &stderr { Some(r) => r.read_async(&mut err_buf).await, None => 0 } }, if !err_done => {
                if n == 0 {
                    err_done = true;
                } else if request.stderr && !client_gone {
                    if !grace_passed {
                        tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
                        grace_passed = true;
                    }
                    ws.send(Message::Binary(encode(STDERR, &err_buf[..n]).into())).await?;
                }
            }
            r = async { match &stdin { Some(w) => w.write_some_async(&pending).await, None => Ok(0) } }, if can_write => {
                match r {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(_) => {
                        // The process closed its stdin.
                        pending.clear();
                        stdin = None;
                    }
                }
            }
            () = hangup.cancelled(), if !client_gone => {
                // The session is over (its client went, the sandbox
                // stops): the terminal hangs up, the process is killed.
                client_gone = true;
                stdin_closed = true;
                if tty {
                    process.signal(Signal::Hup);
                }
                process.signal(Signal::Kill);
            }
            message = ws.next(), if !client_gone => {
                let data = match message {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        client_gone = true;
                        stdin_closed = true;
                        if tty {
                            // The terminal hangs up.
                            process.signal(Signal::Hup);
                        }
                        process.signal(Signal::Kill);
                        continue;
                    }
                    Some(Ok(_)) => continue,
                };
                match decode(&data) {
                    Ok(Frame::Stdin(bytes)) => {
                        if let Some(t) = terminal.as_mut() {
                            let r = t.input(bytes);
                            if !r.echo.is_empty() {
                                let echo = onlcr(&r.echo, &mut prev);
                                ws.send(Message::Binary(encode(STDOUT, &echo).into())).await?;
                            }
                            pending.extend_from_slice(&r.stdin);
                            if r.eof
                                && pending.is_empty()
                                && let Some(w) = &stdin
                            {
                                w.send_eof();
                            }
                        } else if !stdin_closed {
                            let mut bytes = bytes.to_vec();
                            // v4 has no close signal: ctrl-D ends stdin.
                            if protocol == Protocol::V4 && bytes.last() == Some(&4) {
                                bytes.pop();
                                stdin_closed = true;
                            }
                            pending.extend_from_slice(&bytes);
                        }
                        if pending.len() > 1 << 20 && stdin.is_none() {
                            pending.clear();
                        }
                    }
                    Ok(Frame::Close(STDIN)) => {
                        stdin_closed = true;
                        if terminal.is_some() {
                            terminal = None;
                        }
                    }
                    Ok(Frame::Resize { width, height }) => {
                        if let Some(t) = &terminal {
                            t.state().resize(width, height);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let st = exited.unwrap_or(ExitStatus::Exited(0));
    let code = st.code();
    if client_gone {
        return Ok(code);
    }
    if !grace_passed {
        tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
    }
    finish(ws, status(code, &request.command)).await?;
    Ok(code)
}

/// What an attach session does with its main process's stdin once it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttach {
    /// Leave it open for the next attach.
    KeepStdin,
    /// Close it (`stdinOnce: true`): the process reads end-of-file.
    CloseStdin,
}

/// Runs `kubectl attach` to a container's main process over an upgraded
/// connection: what the process writes from now on goes to the client,
/// what the client types goes to its stdin (through its terminal with
/// `tty: true`), until the process exits (then the Success status the
/// kubelet's attach always ends with) or the client detaches (the process
/// goes on).
// Long: like run_process, one select loop owns the WebSocket, the output
// copy and the stdin backlog.
pub async fn run_attach<S>(
    mut ws: WebSocketStream<S>,
    protocol: Protocol,
    request: &ExecRequest,
    console: std::sync::Arc<Console>,
    after: AfterAttach,
    hangup: CancellationToken,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = tokio::time::Instant::now();
    announce(&mut ws, request).await?;
    let mut output = console.subscribe();
    let tty = request.tty && console.has_terminal();
    let mut stdin = if request.stdin { console.stdin() } else { None };
    let uses_stdin = stdin.is_some();
    let mut pending: Vec<u8> = Vec::new();
    let mut prev = 0u8;
    let mut client_gone = false;
    let mut grace_passed = false;
    let finished = console.finished();
    tokio::pin!(finished);
    // (What it wrote before it finished is drained after the loop.)
    let mut stdin_closed = false;
    loop {
        if stdin_closed && pending.is_empty() && stdin.is_some() {
            // The client's stdin ended: so does this session's writer
            // (and with `stdinOnce`, the process's stdin).
            stdin = None;
            if after == AfterAttach::CloseStdin {
                console.close_stdin();
            }
        }
        let can_write = stdin.is_some() && !pending.is_empty();
        tokio::select! {
            () = &mut finished => break,
            () = hangup.cancelled() => {
                client_gone = true;
                break;
            }
            chunk = output.recv() => {
                let Some((stream, data)) = chunk else { break };
                let (channel, wanted) = match stream {
                    Stream::Stdout => (STDOUT, request.stdout || tty),
                    Stream::Stderr if tty => (STDOUT, true),
                    Stream::Stderr => (STDERR, request.stderr),
                };
                if wanted {
                    if !grace_passed {
                        tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
                        grace_passed = true;
                    }
                    let data = if tty { onlcr(&data, &mut prev) } else { data.to_vec() };
                    ws.send(Message::Binary(encode(channel, &data).into())).await?;
                }
            }
            r = async { match &stdin { Some(w) => w.write_some_async(&pending).await, None => Ok(0) } }, if can_write => {
                match r {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(_) => {
                        pending.clear();
                        stdin = None;
                    }
                }
            }
            message = ws.next() => {
                let data = match message {
                    Some(Ok(Message::Binary(data))) => data,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        client_gone = true;
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                match decode(&data) {
                    Ok(Frame::Stdin(bytes)) if stdin.is_some() => {
                        if let Some(r) = console.type_input(bytes) {
                            // The terminal's echo is output of the
                            // process's terminal: every client sees it.
                            if !r.echo.is_empty() {
                                console.echo(&r.echo);
                            }
                            pending.extend_from_slice(&r.stdin);
                            if r.eof
                                && pending.is_empty()
                                && let Some(w) = &stdin
                            {
                                w.send_eof();
                            }
                        } else {
                            let mut bytes = bytes.to_vec();
                            // v4 has no close signal: ctrl-D ends stdin.
                            if protocol == Protocol::V4 && bytes.last() == Some(&4) {
                                bytes.pop();
                                stdin_closed = true;
                            }
                            pending.extend_from_slice(&bytes);
                        }
                        if pending.len() > 1 << 20 {
                            // Bounded: a process that does not read loses
                            // what was typed beyond this.
                            pending.truncate(1 << 20);
                        }
                    }
                    Ok(Frame::Close(STDIN)) if !tty => stdin_closed = true,
                    Ok(Frame::Resize { width, height }) => console.resize(width, height),
                    _ => {}
                }
            }
        }
    }
    // What was sent before the client stopped writing still reaches the
    // process (briefly: a process that does not read does not hold this).
    if let Some(w) = &stdin
        && !pending.is_empty()
    {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            w.write_some_async(&pending),
        )
        .await;
    }
    drop(stdin);
    if uses_stdin && after == AfterAttach::CloseStdin {
        // Detached (`stdinOnce`): the process's stdin is closed for good.
        console.close_stdin();
    }
    // The rest of the output, then the status.
    while let Ok((stream, data)) = output.try_recv() {
        let (channel, wanted) = match stream {
            Stream::Stdout => (STDOUT, request.stdout || tty),
            Stream::Stderr if tty => (STDOUT, true),
            Stream::Stderr => (STDERR, request.stderr),
        };
        if wanted && !client_gone {
            let data = if tty {
                onlcr(&data, &mut prev)
            } else {
                data.to_vec()
            };
            ws.send(Message::Binary(encode(channel, &data).into()))
                .await?;
        }
    }
    if client_gone {
        return Ok(());
    }
    if !grace_passed {
        tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
    }
    finish(ws, status(0, &request.command)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    #[test]
    fn frames_round_trip() {
        assert_eq!(encode(STDOUT, b"hi"), vec![1, b'h', b'i']);
        assert_eq!(decode(&[0, b'x']), Ok(Frame::Stdin(b"x")));
        assert_eq!(decode(&[255, 0]), Ok(Frame::Close(0)));
        assert_eq!(
            decode(b"\x04{\"Width\":120,\"Height\":40}"),
            Ok(Frame::Resize {
                width: 120,
                height: 40
            })
        );
        assert_eq!(
            decode(b"\x04garbage"),
            Ok(Frame::Resize {
                width: 0,
                height: 0
            })
        );
        assert_eq!(decode(&[]), Err(FrameError::Empty));
        assert_eq!(decode(&[9]), Err(FrameError::UnknownChannel(9)));
    }

    #[test]
    fn status_messages() {
        assert_eq!(status(0, &[]), json!({"metadata":{},"status":"Success"}));
        let s = status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"],
            json!([{"reason":"ExitCode","message":"3"}])
        );
        assert_eq!(
            s["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }

    #[test]
    fn negotiation_and_query() {
        assert_eq!(
            Protocol::negotiate("v4.channel.k8s.io, v5.channel.k8s.io"),
            Some(Protocol::V5)
        );
        assert_eq!(
            Protocol::negotiate("v4.channel.k8s.io,base64.channel.k8s.io"),
            Some(Protocol::V4)
        );
        assert_eq!(Protocol::negotiate("channel.k8s.io"), None);
        let req = ExecRequest::from_query(
            "command=sh&command=-c&command=echo+hi+%3E+%2Fdata%2Ff&container=app&stdin=true&stdout=true&stderr=true&tty=false",
        );
        assert_eq!(req.command, ["sh", "-c", "echo hi > /data/f"]);
        assert_eq!(req.container.as_deref(), Some("app"));
        assert!(req.stdin && req.stdout && req.stderr && !req.tty);
        assert_eq!(ExecRequest::from_query("command=%zz%4").command, ["%zz%4"]);
    }

    async fn pair() -> (
        WebSocketStream<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let server = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
        let client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        (server, client)
    }

    /// Reads everything the server sends: (channel, data) frames.
    async fn drain(client: &mut WebSocketStream<tokio::io::DuplexStream>) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while let Some(Ok(m)) = client.next().await {
            match m {
                Message::Binary(d) => frames.push((d[0], d[1..].to_vec())),
                // kubectl needs a 1000 close, not a bare one.
                Message::Close(frame) => {
                    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Normal));
                }
                _ => {}
            }
        }
        frames
    }

    fn container() -> (tempfile::TempDir, Container) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("rootfs/tmp")).unwrap();
        // The image's files as the kubelet lays them (root's HOME is
        // /root from /etc/passwd, as in the busybox image).
        let userland = crate::shell::userland::Userland::busybox();
        userland.seed(&tmp.path().join("rootfs"));
        let fs = crate::hostfs::ContainerFs::new(tmp.path().join("rootfs"));
        let c = Container::new(fs, userland, "web");
        (tmp, c)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_process_streams_stdin_and_reports_its_failure() {
        let (_tmp, c) = container();
        let (server, mut client) = pair().await;
        let req = ExecRequest {
            command: vec![
                "sh".into(),
                "-c".into(),
                "cat; echo warn >&2; exit 2".into(),
            ],
            stdin: true,
            stdout: true,
            stderr: true,
            ..ExecRequest::default()
        };
        let task = tokio::spawn(async move {
            run_process(server, Protocol::V5, &req, c, CancellationToken::new())
                .await
                .unwrap()
        });
        client
            .send(Message::Binary(encode(STDIN, b"abc").into()))
            .await
            .unwrap();
        client
            .send(Message::Binary(vec![CLOSE, STDIN].into()))
            .await
            .unwrap();
        let frames = drain(&mut client).await;
        assert_eq!(task.await.unwrap(), 2);
        // The kubelet-style "stream is up" frame comes first.
        assert_eq!(frames[0], (STDOUT, Vec::new()));
        let out: Vec<u8> = frames
            .iter()
            .filter(|f| f.0 == STDOUT)
            .flat_map(|f| f.1.clone())
            .collect();
        let err: Vec<u8> = frames
            .iter()
            .filter(|f| f.0 == STDERR)
            .flat_map(|f| f.1.clone())
            .collect();
        assert_eq!(out, b"abc");
        assert_eq!(err, b"warn\n");
        let last = frames.last().unwrap();
        assert_eq!(last.0, STATUS);
        let status: Value = serde_json::from_slice(&last.1).unwrap();
        assert_eq!(status["details"]["causes"][0]["message"], "2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_terminal_session_echoes_prompts_and_exits() {
        let (_tmp, c) = container();
        let (server, mut client) = pair().await;
        let req = ExecRequest {
            command: vec!["sh".into()],
            stdin: true,
            stdout: true,
            tty: true,
            ..ExecRequest::default()
        };
        let task = tokio::spawn(async move {
            run_process(server, Protocol::V5, &req, c, CancellationToken::new())
                .await
                .unwrap()
        });
        // The first prompt comes before anything is typed.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for input in [&b"cd /tm\x7fmp\r"[..], b"exit 4\r"] {
            client
                .send(Message::Binary(encode(STDIN, input).into()))
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let frames = drain(&mut client).await;
        assert_eq!(task.await.unwrap(), 4);
        let stdout: Vec<u8> = frames
            .iter()
            .filter(|(c, _)| *c == STDOUT)
            .flat_map(|(_, d)| d.clone())
            .collect();
        let text = String::from_utf8_lossy(&stdout);
        assert!(text.starts_with("/ # "), "{text:?}");
        assert!(text.contains("cd /tm\x08 \x08mp\r\n"), "{text:?}");
        assert!(text.contains("/tmp # exit 4\r\n"), "{text:?}");
        assert_eq!(frames.last().unwrap().0, STATUS);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn output_arrives_before_the_process_ends_and_missing_programs_fail() {
        let (_tmp, c) = container();
        let (server, mut client) = pair().await;
        let req = ExecRequest {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo first; sleep 1; echo second".into(),
            ],
            stdout: true,
            ..ExecRequest::default()
        };
        let task = tokio::spawn(async move {
            run_process(server, Protocol::V5, &req, c, CancellationToken::new())
                .await
                .unwrap()
        });
        // `first` comes while the process still sleeps.
        let mut got = Vec::new();
        while let Some(Ok(Message::Binary(d))) = client.next().await {
            if d[0] == STDOUT && !d[1..].is_empty() {
                got.extend_from_slice(&d[1..]);
                break;
            }
        }
        assert_eq!(got, b"first\n");
        assert!(!task.is_finished());
        let rest = drain(&mut client).await;
        assert_eq!(task.await.unwrap(), 0);
        assert!(rest.iter().any(|(c, d)| *c == STDOUT && d == b"second\n"));

        let (_tmp, c) = container();
        let (server, mut client) = pair().await;
        let req = ExecRequest {
            command: vec!["bash".into()],
            stdout: true,
            ..ExecRequest::default()
        };
        let task = tokio::spawn(async move {
            run_process(server, Protocol::V5, &req, c, CancellationToken::new())
                .await
                .unwrap()
        });
        let frames = drain(&mut client).await;
        assert_eq!(task.await.unwrap(), 126);
        let status: Value = serde_json::from_slice(&frames.last().unwrap().1).unwrap();
        assert_eq!(status["reason"], "InternalError");
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .contains("exec: \"bash\": executable file not found in $PATH")
        );
    }

    /// Reads frames until `needle` has arrived on stdout.
    async fn read_until(
        client: &mut WebSocketStream<tokio::io::DuplexStream>,
        needle: &str,
    ) -> String {
        let mut seen = String::new();
        while !seen.contains(needle) {
            match tokio::time::timeout(std::time::Duration::from_secs(10), client.next()).await {
                Ok(Some(Ok(Message::Binary(d)))) if d[0] == STDOUT => {
                    seen.push_str(&String::from_utf8_lossy(&d[1..]));
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("no {needle:?} in {seen:?}: {other:?}"),
            }
        }
        seen
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attach_reaches_the_terminal_of_pid_1_and_a_detach_keeps_it() {
        use crate::images::{self, tests::Harness};
        let h = Harness::new();
        let mut ctx = h.ctx("p", "c", "busybox", &["sh"]);
        ctx.stdin = true;
        ctx.tty = true;
        let console = std::sync::Arc::clone(&ctx.console);
        let app = images::start(images::select("busybox", &ctx.command, &[]), ctx);
        for _ in 0..200 {
            if console.process().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let req = ExecRequest {
            stdin: true,
            stdout: true,
            tty: true,
            ..ExecRequest::default()
        };
        // A first client types a line, then detaches: the shell goes on.
        let (server, mut client) = pair().await;
        let (c, r) = (std::sync::Arc::clone(&console), req.clone());
        let first = tokio::spawn(async move {
            run_attach(
                server,
                Protocol::V5,
                &r,
                c,
                AfterAttach::KeepStdin,
                CancellationToken::new(),
            )
            .await
        });
        client
            .send(Message::Binary(encode(STDIN, b"echo $((6*7))\r").into()))
            .await
            .unwrap();
        let seen = read_until(&mut client, "42\r\n").await;
        assert!(seen.starts_with("echo $((6*7))\r\n"), "echoed: {seen:?}");
        drop(client);
        first.await.unwrap().unwrap();
        assert!(console.stdin().is_some(), "a detach leaves stdin open");
        // A second one ends the shell: its `exit`, then Success.
        let (server, mut client) = pair().await;
        let c = std::sync::Arc::clone(&console);
        let second = tokio::spawn(async move {
            run_attach(
                server,
                Protocol::V5,
                &req,
                c,
                AfterAttach::CloseStdin,
                CancellationToken::new(),
            )
            .await
        });
        client
            .send(Message::Binary(encode(STDIN, b"exit 3\r").into()))
            .await
            .unwrap();
        let frames = drain(&mut client).await;
        second.await.unwrap().unwrap();
        let status = frames.iter().find(|(ch, _)| *ch == STATUS).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&status.1).unwrap()["status"],
            "Success"
        );
        assert_eq!(app.wait().await, 3);
    }
}
