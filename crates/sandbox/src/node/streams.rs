//! The WebSocket side of `kubectl exec`: the `v5.channel.k8s.io` (and
//! `v4.channel.k8s.io`) framing, and a session runner.
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

use crate::shell::Output;

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

/// The status frame (channel 3) for an exit code.
pub fn status_frame(exit_code: i32, command: &[String]) -> Vec<u8> {
    encode(STATUS, status(exit_code, command).to_string().as_bytes())
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
    /// An attach (not an exec): it ends with Success whatever the process
    /// did, as the kubelet's attach does.
    pub attach: bool,
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
    #[error("exec command failed to run: {0}")]
    Runner(String),
}

/// Runs one non-interactive exec session over an upgraded connection:
/// collects stdin (when asked for) until the client closes it, runs
/// `runner` on a blocking thread, sends stdout, stderr and the final
/// status, then closes the WebSocket.
pub async fn run_session<S, F>(
    mut ws: WebSocketStream<S>,
    protocol: Protocol,
    request: &ExecRequest,
    runner: F,
) -> Result<i32, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(Vec<u8>) -> Output + Send + 'static,
{
    let started = tokio::time::Instant::now();
    announce(&mut ws, request).await?;
    let mut stdin = Vec::new();
    if request.stdin {
        while let Some(message) = ws.next().await {
            match message? {
                Message::Binary(data) => match decode(&data) {
                    Ok(Frame::Stdin(bytes)) => stdin.extend_from_slice(bytes),
                    Ok(Frame::Close(STDIN)) => break,
                    // v4 has no close signal: a stdin of "\x04" (ctrl-D) ends it.
                    _ => {}
                },
                Message::Close(_) => break,
                _ => {}
            }
            if protocol == Protocol::V4 && stdin.ends_with(b"\x04") {
                stdin.pop();
                break;
            }
        }
    }
    let output = tokio::task::spawn_blocking(move || runner(stdin))
        .await
        .map_err(|e| SessionError::Runner(e.to_string()))?;
    // kubectl before v1.33 reads frames before it has registered its
    // streams and drops what arrives too early ("Unknown stream id"); a
    // real container's exec is never this fast, so give it that time.
    tokio::time::sleep_until(started + CLIENT_SETUP_GRACE).await;
    send_output(&mut ws, request, &output).await?;
    let code = if request.attach { 0 } else { output.exit_code };
    finish(ws, code, &request.command).await?;
    Ok(output.exit_code)
}

/// How long after the upgrade the first output may be sent (see above).
const CLIENT_SETUP_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// How long to wait for the client's half of the close handshake.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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

/// Sends the final status, closes with 1000, and reads until the client
/// answers the close: dropping the socket with unread client frames would
/// make the kernel reset the connection, and kubectl could lose the status.
async fn finish<S>(
    mut ws: WebSocketStream<S>,
    exit_code: i32,
    command: &[String],
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::Binary(status_frame(exit_code, command).into()))
        .await?;
    ws.close(Some(normal_close())).await?;
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
    Ok(())
}

async fn send_output<S>(
    ws: &mut WebSocketStream<S>,
    request: &ExecRequest,
    output: &Output,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // With a tty there is one stream: stderr goes to stdout, as a terminal merges them.
    let mut stdout = output.stdout.clone();
    let mut stderr = output.stderr.clone();
    if request.tty {
        stdout.extend(std::mem::take(&mut stderr));
        stdout = crlf(&stdout);
    }
    for (channel, data, wanted) in [
        (STDOUT, stdout, request.stdout || request.tty),
        (STDERR, stderr, request.stderr),
    ] {
        // Large outputs go in chunks so no frame exceeds the client's limits.
        for chunk in data.chunks(32 * 1024).filter(|_| wanted) {
            ws.send(Message::Binary(encode(channel, chunk).into()))
                .await?;
        }
    }
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

/// Terminals want `\r\n`.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// What an interactive runner returns for one input line.
pub struct LineResult {
    pub output: Output,
    /// The shell exited (`exit`): the session ends with `output.exit_code`.
    pub exit: bool,
    /// The prompt to show next (it follows `cd`); `None` keeps the last one.
    pub prompt: Option<String>,
}

/// Runs an interactive session (`kubectl exec -it ... -- sh`): shows
/// `prompt`, echoes typed characters when a tty is attached (a real
/// terminal's line discipline would), hands each complete line to
/// `on_line`, and ends on `exit`, ctrl-D on an empty line, or when the
/// client closes stdin.
pub async fn run_interactive<S, F>(
    mut ws: WebSocketStream<S>,
    protocol: Protocol,
    request: &ExecRequest,
    prompt: String,
    on_line: F,
) -> Result<i32, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnMut(&str) -> LineResult + Send + 'static,
{
    let _ = protocol;
    // Each line runs off the async workers: a line may do blocking I/O
    // (psql talks to a server that this same runtime serves).
    let on_line = std::sync::Arc::new(std::sync::Mutex::new(on_line));
    let mut prompt = prompt;
    let echo = request.tty;
    let send = |data: Vec<u8>| Message::Binary(encode(STDOUT, &data).into());
    announce(&mut ws, request).await?;
    // The prompt must not arrive before kubectl has set up its streams.
    tokio::time::sleep(CLIENT_SETUP_GRACE).await;
    if echo {
        ws.send(send(prompt.as_bytes().to_vec())).await?;
    }
    let mut line: Vec<u8> = Vec::new();
    let mut exit_code = 0;
    'session: while let Some(message) = ws.next().await {
        let data = match message? {
            Message::Binary(data) => data,
            Message::Close(_) => break,
            _ => continue,
        };
        let bytes = match decode(&data) {
            Ok(Frame::Stdin(bytes)) => bytes.to_vec(),
            Ok(Frame::Close(STDIN)) => break,
            _ => continue,
        };
        let mut echoed = Vec::new();
        for b in bytes {
            match b {
                b'\r' | b'\n' => {
                    if echo {
                        echoed.extend_from_slice(b"\r\n");
                        ws.send(send(std::mem::take(&mut echoed))).await?;
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    let runner = std::sync::Arc::clone(&on_line);
                    let result = tokio::task::spawn_blocking(move || match runner.lock() {
                        Ok(mut f) => f(&text),
                        Err(_) => LineResult {
                            output: Output {
                                exit_code: 1,
                                ..Output::default()
                            },
                            exit: true,
                            prompt: None,
                        },
                    })
                    .await
                    .unwrap_or_else(|_| LineResult {
                        output: Output {
                            exit_code: 1,
                            ..Output::default()
                        },
                        exit: true,
                        prompt: None,
                    });
                    exit_code = result.output.exit_code;
                    send_output(&mut ws, request, &result.output).await?;
                    if result.exit {
                        break 'session;
                    }
                    if let Some(p) = result.prompt {
                        prompt = p;
                    }
                    if echo {
                        echoed.extend_from_slice(prompt.as_bytes());
                    }
                }
                // Backspace / DEL.
                0x7f | 0x08 => {
                    if line.pop().is_some() && echo {
                        echoed.extend_from_slice(b"\x08 \x08");
                    }
                }
                // Ctrl-C drops the line.
                0x03 => {
                    line.clear();
                    if echo {
                        echoed.extend_from_slice(b"^C\r\n");
                        echoed.extend_from_slice(prompt.as_bytes());
                    }
                }
                // Ctrl-D on an empty line ends the shell.
                0x04 if line.is_empty() => break 'session,
                0x04 => {}
                b => {
                    line.push(b);
                    if echo {
                        echoed.push(b);
                    }
                }
            }
        }
        if !echoed.is_empty() {
            ws.send(send(echoed)).await?;
        }
    }
    finish(
        ws,
        if request.attach { 0 } else { exit_code },
        &request.command,
    )
    .await?;
    Ok(exit_code)
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
        assert_eq!(status_frame(0, &[])[0], STATUS);
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

    #[tokio::test]
    async fn batch_session_with_stdin_and_failure_status() {
        let (server, mut client) = pair().await;
        let req = ExecRequest {
            command: vec!["cat".into()],
            stdin: true,
            stdout: true,
            stderr: true,
            ..ExecRequest::default()
        };
        let task = tokio::spawn(async move {
            run_session(server, Protocol::V5, &req, |stdin| Output {
                stdout: stdin,
                stderr: b"warn\n".to_vec(),
                exit_code: 2,
            })
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
        assert_eq!(frames[1], (STDOUT, b"abc".to_vec()));
        assert_eq!(frames[2], (STDERR, b"warn\n".to_vec()));
        let status: Value = serde_json::from_slice(&frames[3].1).unwrap();
        assert_eq!(frames[3].0, STATUS);
        assert_eq!(status["details"]["causes"][0]["message"], "2");
    }

    #[tokio::test]
    async fn interactive_session_echoes_and_exits() {
        let (server, mut client) = pair().await;
        let req = ExecRequest {
            command: vec!["sh".into()],
            stdin: true,
            stdout: true,
            tty: true,
            ..ExecRequest::default()
        };
        let task = tokio::spawn(async move {
            run_interactive(server, Protocol::V5, &req, "/ # ".into(), |line| {
                LineResult {
                    output: Output {
                        stdout: format!("ran {line}\n").into_bytes(),
                        stderr: Vec::new(),
                        exit_code: if line == "exit" { 0 } else { 1 },
                    },
                    exit: line == "exit",
                    prompt: Some("/data # ".into()),
                }
            })
            .await
            .unwrap()
        });
        for input in [&b"lx\x7fs\r"[..], b"exit\r"] {
            client
                .send(Message::Binary(encode(STDIN, input).into()))
                .await
                .unwrap();
        }
        let frames = drain(&mut client).await;
        assert_eq!(task.await.unwrap(), 0);
        let stdout: Vec<u8> = frames
            .iter()
            .filter(|(c, _)| *c == STDOUT)
            .flat_map(|(_, d)| d.clone())
            .collect();
        let text = String::from_utf8_lossy(&stdout);
        assert!(
            text.starts_with("/ # lx\x08 \x08s\r\nran ls\r\n/data # "),
            "{text:?}"
        );
        assert!(text.ends_with("ran exit\r\n"), "{text:?}");
        assert_eq!(frames.last().unwrap().0, STATUS);
    }
}
