//! PostgreSQL's frontend/backend protocol (version 3), the part the
//! emulation speaks: startup with SSL refusal, authentication (SASL with
//! SCRAM-SHA-256, md5, cleartext password), simple queries, notices,
//! errors and notifications. Message encoding is shared by the server
//! (async, in the `postgres` container) and the blocking client that the
//! emulated `psql`, `pg_isready` and PostgREST use, over TCP or the pod's
//! Unix socket. Real clients (`psql` 15/16) can talk to the server too.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::engine::{DbError, Notice};
use crate::password;
use crate::scram::ClientExchange;

pub const PROTOCOL_V3: i32 = 196_608;
pub const SSL_REQUEST: i32 = 80_877_103;
pub const GSSENC_REQUEST: i32 = 80_877_104;
pub const CANCEL_REQUEST: i32 = 80_877_102;

/// The largest message accepted (a guard against garbage lengths).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// A message body being built: `type`, then a length that counts itself.
pub struct Msg {
    kind: u8,
    body: Vec<u8>,
}

impl Msg {
    pub fn new(kind: u8) -> Self {
        Self {
            kind,
            body: Vec::new(),
        }
    }

    pub fn i32(mut self, v: i32) -> Self {
        self.body.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i16(mut self, v: i16) -> Self {
        self.body.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u8(mut self, v: u8) -> Self {
        self.body.push(v);
        self
    }

    pub fn cstr(mut self, s: &str) -> Self {
        // A NUL inside a string would end it early on the other side.
        self.body.extend(s.bytes().filter(|b| *b != 0));
        self.body.push(0);
        self
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.body.extend_from_slice(b);
        self
    }

    pub fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 5);
        if self.kind != 0 {
            out.push(self.kind);
        }
        out.extend_from_slice(&((self.body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// ErrorResponse/NoticeResponse fields of an error.
pub fn error_message(kind: u8, e: &DbError) -> Vec<u8> {
    let mut m = Msg::new(kind)
        .u8(b'S')
        .cstr(e.severity)
        .u8(b'V')
        .cstr(e.severity)
        .u8(b'C')
        .cstr(e.code)
        .u8(b'M')
        .cstr(&e.message);
    if let Some(d) = &e.detail {
        m = m.u8(b'D').cstr(d);
    }
    if let Some(h) = &e.hint {
        m = m.u8(b'H').cstr(h);
    }
    if let Some(p) = e.position {
        m = m.u8(b'P').cstr(&p.to_string());
    }
    m.u8(0).encode()
}

pub fn notice_message(n: &Notice) -> Vec<u8> {
    Msg::new(b'N')
        .u8(b'S')
        .cstr(n.severity)
        .u8(b'V')
        .cstr(n.severity)
        .u8(b'C')
        .cstr(&n.code)
        .u8(b'M')
        .cstr(&n.message)
        .u8(0)
        .encode()
}

/// A cursor over a message body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn i32(&mut self) -> Option<i32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i16(&mut self) -> Option<i16> {
        let b = self.buf.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub fn cstr(&mut self) -> Option<String> {
        let rest = self.buf.get(self.pos..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Some(s)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(b)
    }
}

/// Parses the `name\0value\0...\0` parameters of a StartupMessage.
pub fn startup_params(body: &[u8]) -> BTreeMap<String, String> {
    let mut r = Reader::new(body);
    let mut params = BTreeMap::new();
    while let Some(name) = r.cstr() {
        if name.is_empty() {
            break;
        }
        let Some(value) = r.cstr() else { break };
        params.insert(name, value);
    }
    params
}

/// An ErrorResponse or NoticeResponse, as a client reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerMessage {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<usize>,
}

impl ServerMessage {
    pub fn parse(body: &[u8]) -> Self {
        let mut r = Reader::new(body);
        let mut m = ServerMessage::default();
        while let Some(field) = r.u8() {
            if field == 0 {
                break;
            }
            let Some(value) = r.cstr() else { break };
            match field {
                b'V' => m.severity = value,
                b'S' if m.severity.is_empty() => m.severity = value,
                b'C' => m.code = value,
                b'M' => m.message = value,
                b'D' => m.detail = Some(value),
                b'H' => m.hint = Some(value),
                b'P' => m.position = value.parse().ok(),
                _ => {}
            }
        }
        m
    }
}

/// What a client receives for one statement of a simple query.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// RowDescription + DataRows + CommandComplete.
    Rows {
        columns: Vec<(String, u32)>,
        rows: Vec<Vec<Option<String>>>,
        tag: String,
    },
    Command(String),
    Error(ServerMessage),
    Notice(ServerMessage),
    Empty,
}

/// A notification received on a LISTENing connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub pid: i32,
    pub channel: String,
    pub payload: String,
}

/// Why a connection could not be made, worded as libpq.
#[derive(Debug)]
pub enum ConnectError {
    /// TCP-level failure (refused, timeout, reset).
    Io(io::Error),
    /// The server refused the login (FATAL).
    Server(Box<ServerMessage>),
    /// The server asked for a password and none was given.
    NoPassword,
    /// The server said something that is not PostgreSQL.
    Protocol(String),
}

/// How to log in.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub user: String,
    pub database: String,
    pub password: Option<String>,
    pub application_name: String,
    pub timeout: Duration,
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    /// A Unix-domain socket (the pod's own channels).
    Socket(PathBuf),
}

/// A connected stream, TCP or Unix.
enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn open(endpoint: &Endpoint, timeout: Duration) -> io::Result<Stream> {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, timeout)?;
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            #[cfg(unix)]
            Endpoint::Socket(path) => {
                Ok(Stream::Unix(std::os::unix::net::UnixStream::connect(path)?))
            }
            #[cfg(not(unix))]
            Endpoint::Socket(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix-domain sockets are not supported on this platform",
            )),
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// A blocking client connection.
pub struct Client {
    stream: Stream,
    pub parameters: BTreeMap<String, String>,
    pub backend_pid: i32,
    /// Notifications that arrived while a query was running.
    pending: Vec<Notification>,
}

impl Client {
    pub fn connect(endpoint: &Endpoint, opts: &ConnectOptions) -> Result<Client, ConnectError> {
        let stream = Stream::open(endpoint, opts.timeout).map_err(ConnectError::Io)?;
        stream
            .set_read_timeout(Some(opts.timeout))
            .map_err(ConnectError::Io)?;
        let mut client = Client {
            stream,
            parameters: BTreeMap::new(),
            backend_pid: 0,
            pending: Vec::new(),
        };
        client.startup(opts)?;
        // Queries may run long; the caller sets its own timeouts after.
        let _ = client.stream.set_read_timeout(None);
        Ok(client)
    }

    fn startup(&mut self, opts: &ConnectOptions) -> Result<(), ConnectError> {
        // sslmode=prefer: ask for TLS first; the server says no.
        let ssl = Msg::new(0).i32(SSL_REQUEST).encode();
        self.stream.write_all(&ssl).map_err(ConnectError::Io)?;
        let mut answer = [0u8; 1];
        self.stream
            .read_exact(&mut answer)
            .map_err(ConnectError::Io)?;
        if answer[0] != b'N' {
            return Err(ConnectError::Protocol(
                "received invalid response to SSL negotiation".into(),
            ));
        }
        let startup = Msg::new(0)
            .i32(PROTOCOL_V3)
            .cstr("user")
            .cstr(&opts.user)
            .cstr("database")
            .cstr(&opts.database)
            .cstr("application_name")
            .cstr(&opts.application_name)
            .u8(0)
            .encode();
        self.stream.write_all(&startup).map_err(ConnectError::Io)?;
        let mut scram: Option<ClientExchange> = None;
        loop {
            let (kind, body) = read_message(&mut self.stream).map_err(ConnectError::Io)?;
            match kind {
                b'R' => self.authentication(&body, opts, &mut scram)?,
                b'S' => {
                    let mut r = Reader::new(&body);
                    if let (Some(k), Some(v)) = (r.cstr(), r.cstr()) {
                        self.parameters.insert(k, v);
                    }
                }
                b'K' => {
                    self.backend_pid = Reader::new(&body).i32().unwrap_or(0);
                }
                b'E' => return Err(ConnectError::Server(Box::new(ServerMessage::parse(&body)))),
                b'N' => {}
                b'Z' => return Ok(()),
                other => {
                    return Err(ConnectError::Protocol(format!(
                        "unexpected message type \"{}\"",
                        other as char
                    )));
                }
            }
        }
    }

    /// Answers one authentication request (as libpq: cleartext, md5,
    /// SASL with SCRAM-SHA-256).
    fn authentication(
        &mut self,
        body: &[u8],
        opts: &ConnectOptions,
        scram: &mut Option<ClientExchange>,
    ) -> Result<(), ConnectError> {
        let mut r = Reader::new(body);
        let code = r
            .i32()
            .ok_or_else(|| ConnectError::Protocol("bad message".into()))?;
        let password = || opts.password.as_deref().ok_or(ConnectError::NoPassword);
        let reply = match code {
            0 => return Ok(()),
            3 => Msg::new(b'p').cstr(password()?).encode(),
            5 => {
                let salt = r
                    .take(4)
                    .and_then(|s| <[u8; 4]>::try_from(s).ok())
                    .ok_or_else(|| ConnectError::Protocol("bad message".into()))?;
                let hash = password::md5_password(&opts.user, password()?);
                Msg::new(b'p')
                    .cstr(&password::md5_response(&hash, salt))
                    .encode()
            }
            10 => {
                let mut offered = Vec::new();
                while let Some(m) = r.cstr().filter(|m| !m.is_empty()) {
                    offered.push(m);
                }
                if !offered.iter().any(|m| m == crate::scram::MECHANISM) {
                    return Err(ConnectError::Protocol(
                        "none of the server's SASL authentication mechanisms are supported".into(),
                    ));
                }
                let exchange = ClientExchange::new(password()?);
                let first = exchange.client_first();
                *scram = Some(exchange);
                Msg::new(b'p')
                    .cstr(crate::scram::MECHANISM)
                    .i32(first.len() as i32)
                    .bytes(first.as_bytes())
                    .encode()
            }
            11 => {
                let exchange = scram
                    .as_mut()
                    .ok_or_else(|| ConnectError::Protocol("unexpected SASL continuation".into()))?;
                let fin = exchange
                    .server_first(&body[4..])
                    .map_err(|e| ConnectError::Protocol(e.0))?;
                Msg::new(b'p').bytes(fin.as_bytes()).encode()
            }
            12 => {
                let exchange = scram.take().ok_or_else(|| {
                    ConnectError::Protocol("unexpected SASL final message".into())
                })?;
                exchange
                    .server_final(&body[4..])
                    .map_err(|e| ConnectError::Protocol(e.0))?;
                return Ok(());
            }
            other => {
                return Err(ConnectError::Protocol(format!(
                    "authentication method {other} not supported"
                )));
            }
        };
        self.stream.write_all(&reply).map_err(ConnectError::Io)
    }

    /// Runs a simple query; returns every reply until ReadyForQuery.
    pub fn simple_query(&mut self, sql: &str) -> io::Result<Vec<Reply>> {
        let msg = Msg::new(b'Q').cstr(sql).encode();
        self.stream.write_all(&msg)?;
        let mut replies = Vec::new();
        let mut columns: Option<Vec<(String, u32)>> = None;
        let mut rows = Vec::new();
        loop {
            let (kind, body) = read_message(&mut self.stream)?;
            let mut r = Reader::new(&body);
            match kind {
                b'T' => {
                    let n = r.i16().unwrap_or(0).max(0);
                    let mut cols = Vec::new();
                    for _ in 0..n {
                        let name = r.cstr().unwrap_or_default();
                        let _table = r.i32();
                        let _attnum = r.i16();
                        let oid = r.i32().unwrap_or(25) as u32;
                        let _len = r.i16();
                        let _typmod = r.i32();
                        let _format = r.i16();
                        cols.push((name, oid));
                    }
                    columns = Some(cols);
                    rows.clear();
                }
                b'D' => {
                    let n = r.i16().unwrap_or(0).max(0);
                    let mut row = Vec::new();
                    for _ in 0..n {
                        let len = r.i32().unwrap_or(-1);
                        if len < 0 {
                            row.push(None);
                        } else {
                            let b = r.take(len as usize).unwrap_or_default();
                            row.push(Some(String::from_utf8_lossy(b).into_owned()));
                        }
                    }
                    rows.push(row);
                }
                b'C' => {
                    let tag = r.cstr().unwrap_or_default();
                    match columns.take() {
                        Some(cols) => replies.push(Reply::Rows {
                            columns: cols,
                            rows: std::mem::take(&mut rows),
                            tag,
                        }),
                        None => replies.push(Reply::Command(tag)),
                    }
                }
                b'I' => replies.push(Reply::Empty),
                b'E' => {
                    columns = None;
                    replies.push(Reply::Error(ServerMessage::parse(&body)));
                }
                b'N' => replies.push(Reply::Notice(ServerMessage::parse(&body))),
                b'A' => {
                    if let Some(n) = parse_notification(&body) {
                        self.pending.push(n);
                    }
                }
                b'S' => {
                    if let (Some(k), Some(v)) = (r.cstr(), r.cstr()) {
                        self.parameters.insert(k, v);
                    }
                }
                b'Z' => return Ok(replies),
                _ => {}
            }
        }
    }

    /// Waits up to `timeout` for a notification (None on timeout).
    pub fn wait_notification(&mut self, timeout: Duration) -> io::Result<Option<Notification>> {
        if !self.pending.is_empty() {
            return Ok(Some(self.pending.remove(0)));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            // The first byte waits up to the deadline; the rest of a
            // message that has begun comes promptly.
            let mut first = [0u8; 1];
            match self.stream.read(&mut first) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection unexpectedly",
                    ));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
            self.stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let (kind, body) = read_message(&mut (&first[..]).chain(&mut self.stream))?;
            match kind {
                b'A' => {
                    self.stream.set_read_timeout(None)?;
                    return Ok(parse_notification(&body));
                }
                b'E' => {
                    let m = ServerMessage::parse(&body);
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("{}:  {}", m.severity, m.message),
                    ));
                }
                _ => {}
            }
        }
    }

    /// Sends Terminate and closes.
    pub fn close(mut self) {
        let _ = self.stream.write_all(&Msg::new(b'X').encode());
    }

    /// Limits how long a query may take to answer.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        let _ = self.stream.set_read_timeout(timeout);
    }
}

fn parse_notification(body: &[u8]) -> Option<Notification> {
    let mut r = Reader::new(body);
    Some(Notification {
        pid: r.i32()?,
        channel: r.cstr()?,
        payload: r.cstr()?,
    })
}

/// Reads one typed message (blocking).
pub fn read_message(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection unexpectedly",
            )
        } else {
            e
        }
    })?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MAX_MESSAGE).contains(l))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "invalid message length"))?;
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body)?;
    Ok((head[0], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let bytes = Msg::new(b'Q').cstr("select 1").encode();
        let (kind, body) = read_message(&mut bytes.as_slice()).unwrap();
        assert_eq!(kind, b'Q');
        assert_eq!(Reader::new(&body).cstr().unwrap(), "select 1");
        let e = DbError::new("42P01", "relation \"x\" does not exist");
        let bytes = error_message(b'E', &e);
        let (_, body) = read_message(&mut bytes.as_slice()).unwrap();
        let m = ServerMessage::parse(&body);
        assert_eq!(m.code, "42P01");
        assert_eq!(m.severity, "ERROR");
        assert_eq!(m.message, "relation \"x\" does not exist");
    }

    #[test]
    fn garbage_lengths_are_errors() {
        let bytes = [b'Q', 0xff, 0xff, 0xff, 0xff];
        assert!(read_message(&mut bytes.as_slice()).is_err());
        let bytes = [b'Q', 0, 0, 0, 1];
        assert!(read_message(&mut bytes.as_slice()).is_err());
        assert!(startup_params(&[1, 2, 3]).is_empty());
        let m = ServerMessage::parse(b"Mx");
        assert_eq!(m.message, "");
    }
}
