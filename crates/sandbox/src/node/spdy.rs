//! SPDY/3.1, the server side, as far as Kubernetes' streaming protocols use
//! it (kubectl's `port-forward`, and its fallback for exec/attach).
//!
//! A connection is one byte stream both ways: the socket after an
//! `Upgrade: SPDY/3.1` answer, or the payload of the binary messages of a
//! WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`, where message
//! boundaries mean nothing). Every frame has an 8-byte header; control
//! frames start with the bit 1, version 3 and a type, data frames with a
//! stream id. Header blocks (in SYN_STREAM, SYN_REPLY and HEADERS) are
//! zlib-compressed with one stream per direction for the whole connection
//! and the SPDY/3 preset dictionary ([`dictionary`]). Go's spdystream, which
//! kubectl uses, has no flow control: SETTINGS and WINDOW_UPDATE are read
//! and ignored, and never sent.
//!
//! [`serve`] runs a connection: each stream the client opens is answered
//! with a SYN_REPLY and handed over as a [`Stream`] (its headers, the data
//! the client sends, and a [`StreamWriter`] to answer on); PINGs are echoed;
//! the connection ends when the client goes, sends GOAWAY or breaks the
//! protocol.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The protocol version this module speaks.
pub const VERSION: u16 = 3;

pub const TYPE_SYN_STREAM: u16 = 1;
pub const TYPE_SYN_REPLY: u16 = 2;
pub const TYPE_RST_STREAM: u16 = 3;
pub const TYPE_SETTINGS: u16 = 4;
pub const TYPE_PING: u16 = 6;
pub const TYPE_GOAWAY: u16 = 7;
pub const TYPE_HEADERS: u16 = 8;
pub const TYPE_WINDOW_UPDATE: u16 = 9;

/// FIN on a control or data frame: the sender will send nothing more on
/// that stream.
pub const FLAG_FIN: u8 = 0x01;

/// RST_STREAM statuses.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_INVALID_STREAM: u32 = 2;
pub const RST_REFUSED_STREAM: u32 = 3;
pub const RST_CANCEL: u32 = 5;

/// GOAWAY status for a client that broke the protocol.
pub const GOAWAY_PROTOCOL_ERROR: u32 = 1;

/// A control frame larger than this is a protocol error (real ones are a
/// few hundred bytes: headers are compressed).
const MAX_CONTROL: usize = 64 * 1024;
/// The most a decompressed header block may hold.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Data frames may be 16 MiB long: they are read and handed on in pieces
/// of at most this size, so memory stays bounded.
const DATA_PIECE: usize = 32 * 1024;
/// Streams open at once on one connection; more are refused.
const MAX_STREAMS: usize = 1024;
/// Pieces of client data buffered per stream before the reader waits for
/// the stream's consumer.
const STREAM_BUFFER: usize = 16;

/// The words of the SPDY/3 header dictionary, each written with its length
/// as a 32-bit big-endian integer before it.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail: status codes, reason phrases, dates and common
/// values, as one run of text.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The SPDY/3 zlib dictionary (1423 bytes, Adler-32 0xE3C6A7C2), built
/// once from its words.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        let mut d = Vec::with_capacity(1423);
        for w in DICTIONARY_WORDS {
            let len = u32::try_from(w.len()).unwrap_or(0);
            d.extend_from_slice(&len.to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
        d
    })
}

/// A frame's headers: lowercase names, values (several values of one name
/// are joined by NUL on the wire).
pub type Headers = Vec<(String, String)>;

/// The value of header `name` (names are lowercase on the wire).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("unknown frame type {0}")]
    UnknownType(u16),
    #[error("invalid control frame")]
    InvalidControl,
    #[error("control frame of {0} bytes is too large")]
    TooLarge(usize),
    #[error("stream id zero is disallowed")]
    ZeroStreamId,
    #[error("header block: {0}")]
    Headers(String),
}

/// A control frame, parsed (data frames are streamed, see [`serve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    SynStream {
        stream_id: u32,
        associated: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
}

/// The peer's header blocks: one zlib stream for the connection.
pub struct HeaderDecoder {
    z: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecoder {
    pub fn new() -> Self {
        Self {
            z: Decompress::new(true),
        }
    }

    /// Decompresses one header block (exactly this frame's bytes) and
    /// parses it.
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let plain = self.inflate(block)?;
        parse_header_block(&plain)
    }

    fn inflate(&mut self, block: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let bad = |m: String| SpdyError::Headers(m);
        let mut out: Vec<u8> = Vec::with_capacity(1024);
        let mut used = 0usize;
        loop {
            if out.len() >= MAX_HEADER_BLOCK {
                return Err(bad(format!(
                    "more than {MAX_HEADER_BLOCK} bytes of headers"
                )));
            }
            out.reserve(4096.min(MAX_HEADER_BLOCK - out.len()));
            let before_in = self.z.total_in();
            let before_out = out.len();
            match self
                .z
                .decompress_vec(&block[used..], &mut out, FlushDecompress::Sync)
            {
                Ok(status) => {
                    let consumed = usize::try_from(self.z.total_in() - before_in).unwrap_or(0);
                    used += consumed;
                    let produced = out.len() - before_out;
                    if status == Status::StreamEnd {
                        return Err(bad("the compressed header stream ended".into()));
                    }
                    // Done once every byte is in and the output did not
                    // fill the space it had (nothing left pending).
                    if used >= block.len() && out.len() < out.capacity() {
                        return Ok(out);
                    }
                    if consumed == 0 && produced == 0 && used >= block.len() {
                        return Ok(out);
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(_) => {
                        let consumed = usize::try_from(self.z.total_in() - before_in).unwrap_or(0);
                        used += consumed;
                        self.z
                            .set_dictionary(dictionary())
                            .map_err(|e| bad(e.to_string()))?;
                    }
                    None => return Err(bad(e.to_string())),
                },
            }
        }
    }
}

/// Our header blocks: one zlib stream with the dictionary, flushed (sync)
/// after each block as Go's writer does.
pub struct HeaderEncoder {
    z: Compress,
}

impl HeaderEncoder {
    pub fn new() -> Result<Self, SpdyError> {
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(dictionary())
            .map_err(|e| SpdyError::Headers(e.to_string()))?;
        Ok(Self { z })
    }

    /// Compresses one header block.
    pub fn encode(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let plain = header_block(headers);
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut used = 0usize;
        loop {
            out.reserve(256 + plain.len());
            let before = self.z.total_in();
            self.z
                .compress_vec(&plain[used..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Headers(e.to_string()))?;
            used += usize::try_from(self.z.total_in() - before).unwrap_or(0);
            // A sync flush is complete when it did not run out of room.
            if used >= plain.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The plain header block: count, then each name and value with their lengths.
fn header_block(headers: &Headers) -> Vec<u8> {
    let mut b = Vec::new();
    let n = |len: usize| u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    b.extend_from_slice(&n(headers.len()));
    for (k, v) in headers {
        b.extend_from_slice(&n(k.len()));
        b.extend_from_slice(k.to_ascii_lowercase().as_bytes());
        b.extend_from_slice(&n(v.len()));
        b.extend_from_slice(v.as_bytes());
    }
    b
}

fn parse_header_block(b: &[u8]) -> Result<Headers, SpdyError> {
    let bad = |m: &str| SpdyError::Headers(m.to_string());
    let mut pos = 0usize;
    let u32_at = |pos: &mut usize| -> Result<usize, SpdyError> {
        let bytes = b
            .get(*pos..*pos + 4)
            .ok_or_else(|| bad("truncated header block"))?;
        *pos += 4;
        let mut a = [0u8; 4];
        a.copy_from_slice(bytes);
        usize::try_from(u32::from_be_bytes(a)).map_err(|_| bad("bad length"))
    };
    let count = u32_at(&mut pos)?;
    if count > b.len() / 8 + 1 {
        return Err(bad("header count larger than the block"));
    }
    let mut out: Headers = Vec::with_capacity(count);
    for _ in 0..count {
        let kl = u32_at(&mut pos)?;
        let k = b
            .get(pos..pos + kl)
            .ok_or_else(|| bad("truncated header name"))?;
        pos += kl;
        let vl = u32_at(&mut pos)?;
        let v = b
            .get(pos..pos + vl)
            .ok_or_else(|| bad("truncated header value"))?;
        pos += vl;
        let name = String::from_utf8_lossy(k).into_owned();
        if name.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("header was not lowercased"));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(bad("multiple headers with same name"));
        }
        out.push((name, String::from_utf8_lossy(v).into_owned()));
    }
    Ok(out)
}

/// A control frame on the wire.
pub fn control_frame(ty: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&ty.to_be_bytes());
    let len = u32::try_from(payload.len()).unwrap_or(0) & 0x00ff_ffff;
    f.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A data frame on the wire (`data` at most 16 MiB - 1).
pub fn data_frame(stream_id: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
    let len = u32::try_from(data.len()).unwrap_or(0) & 0x00ff_ffff;
    f.extend_from_slice(&((u32::from(flags) << 24) | len).to_be_bytes());
    f.extend_from_slice(data);
    f
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

/// Parses a control frame's payload (after its 8-byte header).
pub fn parse_control(
    ty: u16,
    flags: u8,
    payload: &[u8],
    decoder: &mut HeaderDecoder,
) -> Result<Control, SpdyError> {
    let need = |n: usize| {
        if payload.len() < n {
            Err(SpdyError::InvalidControl)
        } else {
            Ok(())
        }
    };
    let exact = |n: usize| {
        if payload.len() != n || flags != 0 {
            Err(SpdyError::InvalidControl)
        } else {
            Ok(())
        }
    };
    let id = |at: usize| be32(payload, at) & 0x7fff_ffff;
    Ok(match ty {
        TYPE_SYN_STREAM => {
            need(10)?;
            let stream_id = id(0);
            if stream_id == 0 {
                return Err(SpdyError::ZeroStreamId);
            }
            Control::SynStream {
                stream_id,
                associated: id(4),
                priority: payload[8] >> 5,
                flags,
                headers: decoder.decode(&payload[10..])?,
            }
        }
        TYPE_SYN_REPLY => {
            need(4)?;
            Control::SynReply {
                stream_id: id(0),
                flags,
                headers: decoder.decode(&payload[4..])?,
            }
        }
        TYPE_RST_STREAM => {
            exact(8)?;
            Control::RstStream {
                stream_id: id(0),
                status: be32(payload, 4),
            }
        }
        TYPE_SETTINGS => {
            need(4)?;
            let count = usize::try_from(be32(payload, 0)).unwrap_or(usize::MAX);
            if payload.len() != 4 + count.saturating_mul(8) {
                return Err(SpdyError::InvalidControl);
            }
            Control::Settings
        }
        TYPE_PING => {
            exact(4)?;
            Control::Ping {
                id: be32(payload, 0),
            }
        }
        TYPE_GOAWAY => {
            exact(8)?;
            Control::GoAway {
                last_good: id(0),
                status: be32(payload, 4),
            }
        }
        TYPE_HEADERS => {
            need(4)?;
            Control::Headers {
                stream_id: id(0),
                flags,
                headers: decoder.decode(&payload[4..])?,
            }
        }
        TYPE_WINDOW_UPDATE => {
            exact(8)?;
            Control::WindowUpdate {
                stream_id: id(0),
                delta: be32(payload, 4) & 0x7fff_ffff,
            }
        }
        other => return Err(SpdyError::UnknownType(other)),
    })
}

/// Where a connection's frames go: a socket, or a WebSocket's binary
/// messages (each frame one message).
pub trait FrameSink: Send {
    fn send(&mut self, frame: Vec<u8>) -> impl Future<Output = io::Result<()>> + Send;
    /// Flushes and ends the connection (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// A socket (or any byte stream) as a frame sink.
pub struct ByteSink<W>(pub W);

impl<W: AsyncWrite + Unpin + Send> FrameSink for ByteSink<W> {
    async fn send(&mut self, frame: Vec<u8>) -> io::Result<()> {
        self.0.write_all(&frame).await?;
        self.0.flush().await
    }

    async fn close(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// What the connection's writer sends.
#[derive(Debug)]
enum Out {
    Reply(u32),
    Data(u32, Bytes, bool),
    Rst(u32, u32),
    Ping(u32),
    GoAway(u32, u32),
}

/// The connection is gone, or the stream was reset or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream is closed")]
pub struct Closed;

/// The sending half of a stream the client opened.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    out: mpsc::Sender<Out>,
    /// Fires when the client resets the stream or the connection ends.
    reset: CancellationToken,
    /// Set once this side sent FIN or RST.
    done: Arc<AtomicBool>,
}

impl StreamWriter {
    /// Sends data (in frames of at most 32 KiB).
    pub async fn write(&self, data: &[u8]) -> Result<(), Closed> {
        for piece in data.chunks(DATA_PIECE) {
            if self.reset.is_cancelled() || self.done.load(Ordering::SeqCst) {
                return Err(Closed);
            }
            self.out
                .send(Out::Data(self.id, Bytes::copy_from_slice(piece), false))
                .await
                .map_err(|_| Closed)?;
        }
        Ok(())
    }

    /// Half-closes the stream (an empty DATA frame with FIN): the client
    /// reads EOF.
    pub async fn close(&self) {
        if !self.reset.is_cancelled() && !self.done.swap(true, Ordering::SeqCst) {
            let _ = self.out.send(Out::Data(self.id, Bytes::new(), true)).await;
        }
    }

    /// Aborts the stream (RST_STREAM).
    pub async fn reset(&self, status: u32) {
        self.done.store(true, Ordering::SeqCst);
        if !self.reset.is_cancelled() {
            let _ = self.out.send(Out::Rst(self.id, status)).await;
        }
    }

    /// Resolves when the client resets the stream or the connection ends.
    pub async fn was_reset(&self) {
        self.reset.cancelled().await;
    }
}

/// A stream the client opened.
pub struct Stream {
    pub id: u32,
    pub headers: Headers,
    data: mpsc::Receiver<Bytes>,
    writer: StreamWriter,
}

impl Stream {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The next piece the client sent; `None` once it half-closed the
    /// stream, reset it, or the connection ended.
    #[cfg(test)]
    pub async fn read(&mut self) -> Option<Bytes> {
        self.data.recv().await
    }

    pub fn writer(&self) -> StreamWriter {
        self.writer.clone()
    }

    /// The receiving and the sending half, to use from two tasks.
    pub fn split(self) -> (StreamReader, StreamWriter) {
        (StreamReader(self.data), self.writer)
    }
}

/// The receiving half of a stream.
pub struct StreamReader(mpsc::Receiver<Bytes>);

impl StreamReader {
    pub async fn read(&mut self) -> Option<Bytes> {
        self.0.recv().await
    }
}

/// Each open stream, as the reader keeps it.
struct Peer {
    /// Where the client's data goes; `None` once it half-closed.
    data: Option<mpsc::Sender<Bytes>>,
    reset: CancellationToken,
    /// Set once our side closed or reset it too.
    local_done: Arc<AtomicBool>,
}

impl Peer {
    /// Both sides are done: the stream can be forgotten.
    fn finished(&self) -> bool {
        self.reset.is_cancelled() || (self.data.is_none() && self.local_done.load(Ordering::SeqCst))
    }
}

/// Runs one SPDY connection until the client goes (or `cancel` fires):
/// reads frames from `reader`, writes to `sink`, hands each new stream
/// that `check` accepts to `streams` (one it refuses is reset instead of
/// answered). Ends with a GOAWAY when the client broke the protocol.
pub async fn serve<R, S, F>(
    reader: R,
    sink: S,
    streams: mpsc::Sender<Stream>,
    cancel: CancellationToken,
    check: F,
) -> Result<(), SpdyError>
where
    R: AsyncRead + Unpin + Send,
    S: FrameSink + 'static,
    F: Fn(&Headers) -> Result<(), String> + Send,
{
    let (out_tx, out_rx) = mpsc::channel::<Out>(64);
    let conn_gone = cancel.child_token();
    let writer = tokio::spawn(write_loop(sink, out_rx, conn_gone.clone()));
    let result = tokio::select! {
        r = read_loop(reader, &out_tx, &streams, &conn_gone, &check) => r,
        () = cancel.cancelled() => Ok(()),
    };
    if let Err(e) = &result {
        tracing::debug!("spdy connection ended: {e}");
        let status = match e {
            SpdyError::Io(_) => None,
            _ => Some(GOAWAY_PROTOCOL_ERROR),
        };
        if let Some(status) = status {
            let _ = out_tx.try_send(Out::GoAway(0, status));
        }
    }
    drop(out_tx);
    // The writer sends what is already queued (the last answers, a
    // GOAWAY) and stops; the streams' writers fail from now on.
    conn_gone.cancel();
    let _ = writer.await;
    result
}

async fn write_loop<S: FrameSink>(
    mut sink: S,
    mut rx: mpsc::Receiver<Out>,
    gone: CancellationToken,
) {
    let Ok(mut enc) = HeaderEncoder::new() else {
        return;
    };
    loop {
        let out = tokio::select! {
            o = rx.recv() => o,
            () = gone.cancelled() => {
                // Send what is already queued, then stop.
                rx.close();
                rx.recv().await
            }
        };
        let Some(out) = out else { break };
        let frame = match out {
            Out::Reply(id) => {
                let Ok(block) = enc.encode(&Vec::new()) else {
                    break;
                };
                let mut p = id.to_be_bytes().to_vec();
                p.extend_from_slice(&block);
                control_frame(TYPE_SYN_REPLY, 0, &p)
            }
            Out::Data(id, data, fin) => data_frame(id, if fin { FLAG_FIN } else { 0 }, &data),
            Out::Rst(id, status) => {
                let mut p = id.to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control_frame(TYPE_RST_STREAM, 0, &p)
            }
            Out::Ping(id) => control_frame(TYPE_PING, 0, &id.to_be_bytes()),
            Out::GoAway(last, status) => {
                let mut p = last.to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control_frame(TYPE_GOAWAY, 0, &p)
            }
        };
        if sink.send(frame).await.is_err() {
            gone.cancel();
            break;
        }
    }
    sink.close().await;
}

/// Reads frames until the client goes; one function for the whole
/// protocol state machine, which reads better in one place.
async fn read_loop<R: AsyncRead + Unpin, F: Fn(&Headers) -> Result<(), String>>(
    mut reader: R,
    out: &mpsc::Sender<Out>,
    streams: &mpsc::Sender<Stream>,
    gone: &CancellationToken,
    check: &F,
) -> Result<(), SpdyError> {
    let mut decoder = HeaderDecoder::new();
    let mut peers: HashMap<u32, Peer> = HashMap::new();
    let mut last_id = 0u32;
    let result = loop {
        let mut head = [0u8; 8];
        match reader.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) => break Err(SpdyError::Io(e)),
        }
        let word = be32(&head, 0);
        let flags = head[4];
        let len = usize::try_from(be32(&head, 4) & 0x00ff_ffff).unwrap_or(0);
        if word & 0x8000_0000 == 0 {
            // A data frame, passed on in pieces.
            let id = word & 0x7fff_ffff;
            let mut left = len;
            let mut target = peers.get(&id).and_then(|p| p.data.clone());
            while left > 0 {
                let mut buf = vec![0u8; left.min(DATA_PIECE)];
                reader.read_exact(&mut buf).await?;
                left -= buf.len();
                if let Some(tx) = &target
                    && tx.send(Bytes::from(buf)).await.is_err()
                {
                    // Nobody reads this stream any more: drop its data.
                    target = None;
                }
            }
            if flags & FLAG_FIN != 0
                && let Some(p) = peers.get_mut(&id)
            {
                p.data = None;
            }
            continue;
        }
        let version = u16::try_from((word >> 16) & 0x7fff).unwrap_or(0);
        let ty = u16::try_from(word & 0xffff).unwrap_or(0);
        if version != VERSION {
            break Err(SpdyError::Version(version));
        }
        if len > MAX_CONTROL {
            break Err(SpdyError::TooLarge(len));
        }
        let mut payload = vec![0u8; len];
        reader.read_exact(&mut payload).await?;
        let frame = match parse_control(ty, flags, &payload, &mut decoder) {
            Ok(f) => f,
            Err(e) => break Err(e),
        };
        match frame {
            Control::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                // Client streams are odd and increasing.
                if stream_id % 2 == 0 || stream_id <= last_id {
                    let _ = out.send(Out::Rst(stream_id, RST_PROTOCOL_ERROR)).await;
                    continue;
                }
                last_id = stream_id;
                if let Err(why) = check(&headers) {
                    tracing::debug!("stream {stream_id} rejected: {why}");
                    let _ = out.send(Out::Rst(stream_id, RST_CANCEL)).await;
                    continue;
                }
                peers.retain(|_, p| !p.finished());
                if peers.len() >= MAX_STREAMS {
                    let _ = out.send(Out::Rst(stream_id, RST_REFUSED_STREAM)).await;
                    continue;
                }
                let (tx, rx) = mpsc::channel(STREAM_BUFFER);
                let reset = gone.child_token();
                let done = Arc::new(AtomicBool::new(false));
                let writer = StreamWriter {
                    id: stream_id,
                    out: out.clone(),
                    reset: reset.clone(),
                    done: done.clone(),
                };
                let _ = out.send(Out::Reply(stream_id)).await;
                peers.insert(
                    stream_id,
                    Peer {
                        data: (flags & FLAG_FIN == 0).then_some(tx),
                        reset,
                        local_done: done,
                    },
                );
                let stream = Stream {
                    id: stream_id,
                    headers,
                    data: rx,
                    writer,
                };
                if streams.send(stream).await.is_err() {
                    break Ok(());
                }
            }
            Control::RstStream { stream_id, .. } => {
                if let Some(p) = peers.remove(&stream_id) {
                    p.reset.cancel();
                }
            }
            Control::Ping { id } => {
                // Echo the client's pings (odd ids); ours would be even.
                if id % 2 == 1 {
                    let _ = out.send(Out::Ping(id)).await;
                }
            }
            Control::GoAway { .. } => break Ok(()),
            Control::Headers {
                stream_id, flags, ..
            } => {
                if flags & FLAG_FIN != 0
                    && let Some(p) = peers.get_mut(&stream_id)
                {
                    p.data = None;
                }
            }
            Control::SynReply { stream_id, .. } => {
                // The sandbox opens no streams: a reply to one is an error.
                let _ = out.send(Out::Rst(stream_id, RST_INVALID_STREAM)).await;
            }
            Control::Settings | Control::WindowUpdate { .. } => {}
        }
    };
    // Every stream's token is a child of `gone`: this tells them all.
    gone.cancel();
    result
}

/// Sends the RST_STREAM CANCEL a stream gets when it is refused (used by
/// callers that reject a stream before using it).
pub async fn refuse(stream: Stream) {
    stream.writer.reset(RST_CANCEL).await;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_spdy3_one() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        // Adler-32, as the zlib header of a block compressed with it names it.
        let (mut a, mut b) = (1u32, 0u32);
        for &c in d {
            a = (a + u32::from(c)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xE3C6_A7C2);
        assert!(d.ends_with(b",enq=0."));
    }

    /// A SYN_STREAM header block as Go's writer (kubectl) compresses it:
    /// `streamtype: error, port: 80, requestid: 0`, made with zlib level 9
    /// and the dictionary, then a second one (`streamtype: data`) on the
    /// same stream.
    #[test]
    fn decodes_blocks_compressed_with_the_dictionary() {
        let mut enc = HeaderEncoder::new().unwrap();
        let first: Headers = vec![
            ("streamtype".into(), "error".into()),
            ("port".into(), "80".into()),
            ("requestid".into(), "0".into()),
        ];
        let a = enc.encode(&first).unwrap();
        // zlib header with FDICT and the dictionary's id.
        assert_eq!(&a[..6], &[0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
        assert!(a.ends_with(&[0, 0, 0xff, 0xff]));
        let mut second = first.clone();
        second[0].1 = "data".into();
        let b = enc.encode(&second).unwrap();
        let mut dec = HeaderDecoder::new();
        assert_eq!(dec.decode(&a).unwrap(), first);
        assert_eq!(dec.decode(&b).unwrap(), second);
        assert_eq!(header(&second, "streamType"), Some("data"));
    }

    /// Two header blocks of one stream as C zlib writes them (Python's
    /// `zlib.compressobj(9, zdict=DICT)`, sync flush after each), which is
    /// the format Go's writer in kubectl produces.
    #[test]
    fn decodes_what_zlib_made_with_the_dictionary() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let a = hex(concat!(
            "78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c60",
            "61606100a4398b20d198094ade8cc600000000ffff"
        ));
        let b = hex("c2aa19540e2512d60b000000ffff");
        let mut dec = HeaderDecoder::new();
        let h = |t: &str| -> Headers {
            vec![
                ("streamtype".to_string(), t.to_string()),
                ("port".to_string(), "8080".to_string()),
                ("requestid".to_string(), "3".to_string()),
            ]
        };
        assert_eq!(dec.decode(&a).unwrap(), h("error"));
        assert_eq!(dec.decode(&b).unwrap(), h("data"));
    }

    #[test]
    fn header_blocks_refuse_uppercase_and_duplicates() {
        let mut b = Vec::new();
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(b"Port");
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(b"80");
        assert!(parse_header_block(&b).is_err());
        let dup = header_block(&vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert!(parse_header_block(&dup).is_err());
        assert!(parse_header_block(&[0, 0, 0, 9]).is_err());
        assert!(parse_header_block(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn frames_on_the_wire() {
        assert_eq!(
            control_frame(TYPE_PING, 0, &[0, 0, 0, 1]),
            [0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]
        );
        assert_eq!(data_frame(3, FLAG_FIN, b""), [0, 0, 0, 3, 0x01, 0, 0, 0]);
        let mut dec = HeaderDecoder::new();
        assert_eq!(
            parse_control(TYPE_GOAWAY, 0, &[0, 0, 0, 5, 0, 0, 0, 0], &mut dec).unwrap(),
            Control::GoAway {
                last_good: 5,
                status: 0
            }
        );
        assert!(parse_control(TYPE_PING, 1, &[0, 0, 0, 1], &mut dec).is_err());
        assert!(matches!(
            parse_control(5, 0, &[], &mut dec),
            Err(SpdyError::UnknownType(5))
        ));
    }

    /// A minimal client for tests: opens streams, sends data, reads frames.
    pub(crate) struct TestClient<R, W> {
        pub r: R,
        pub w: W,
        enc: HeaderEncoder,
        dec: HeaderDecoder,
    }

    /// A frame the test client read.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum Got {
        Control(Control),
        Data(u32, u8, Vec<u8>),
    }

    impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> TestClient<R, W> {
        pub fn new(r: R, w: W) -> Self {
            Self {
                r,
                w,
                enc: HeaderEncoder::new().unwrap(),
                dec: HeaderDecoder::new(),
            }
        }

        pub async fn syn(&mut self, id: u32, headers: &[(&str, &str)], fin: bool) {
            let h: Headers = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let block = self.enc.encode(&h).unwrap();
            let mut p = id.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            p.extend_from_slice(&block);
            let f = control_frame(TYPE_SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &p);
            self.w.write_all(&f).await.unwrap();
        }

        pub async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
            let f = data_frame(id, if fin { FLAG_FIN } else { 0 }, data);
            self.w.write_all(&f).await.unwrap();
        }

        pub async fn raw(&mut self, bytes: &[u8]) {
            self.w.write_all(bytes).await.unwrap();
        }

        pub async fn next(&mut self) -> Option<Got> {
            let mut head = [0u8; 8];
            self.r.read_exact(&mut head).await.ok()?;
            let word = be32(&head, 0);
            let len = usize::try_from(be32(&head, 4) & 0x00ff_ffff).unwrap();
            let mut p = vec![0u8; len];
            self.r.read_exact(&mut p).await.ok()?;
            if word & 0x8000_0000 == 0 {
                return Some(Got::Data(word, head[4], p));
            }
            let ty = u16::try_from(word & 0xffff).unwrap();
            Some(Got::Control(
                parse_control(ty, head[4], &p, &mut self.dec).unwrap(),
            ))
        }
    }

    #[tokio::test]
    async fn a_connection_replies_echoes_pings_and_carries_data() {
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(server_io);
        let (cr, cw) = tokio::io::split(client_io);
        let (tx, mut rx) = mpsc::channel(8);
        let cancel = CancellationToken::new();
        let conn = tokio::spawn(serve(sr, ByteSink(sw), tx, cancel.clone(), |_| Ok(())));
        let mut c = TestClient::new(cr, cw);
        c.syn(1, &[("streamtype", "data"), ("port", "80")], false)
            .await;
        let got = c.next().await.unwrap();
        assert!(matches!(
            got,
            Got::Control(Control::SynReply { stream_id: 1, .. })
        ));
        let mut s = rx.recv().await.unwrap();
        assert_eq!(s.header("port"), Some("80"));
        c.data(1, b"hello", true).await;
        assert_eq!(s.read().await.unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(s.read().await, None, "FIN ends the client's side");
        let w = s.writer();
        w.write(b"back").await.unwrap();
        w.close().await;
        assert_eq!(c.next().await, Some(Got::Data(1, 0, b"back".to_vec())));
        assert_eq!(c.next().await, Some(Got::Data(1, FLAG_FIN, Vec::new())));
        c.raw(&control_frame(TYPE_PING, 0, &7u32.to_be_bytes()))
            .await;
        assert_eq!(c.next().await, Some(Got::Control(Control::Ping { id: 7 })));
        // A lower stream id is refused.
        c.syn(1, &[("port", "80")], false).await;
        assert_eq!(
            c.next().await,
            Some(Got::Control(Control::RstStream {
                stream_id: 1,
                status: RST_PROTOCOL_ERROR
            }))
        );
        // A reset stream tells its writer.
        c.syn(3, &[("port", "80")], false).await;
        let _reply = c.next().await;
        let s3 = rx.recv().await.unwrap();
        let mut rst = 3u32.to_be_bytes().to_vec();
        rst.extend_from_slice(&RST_CANCEL.to_be_bytes());
        c.raw(&control_frame(TYPE_RST_STREAM, 0, &rst)).await;
        s3.writer().was_reset().await;
        assert_eq!(s3.writer().write(b"x").await, Err(Closed));
        // An unknown control type ends the connection with GOAWAY.
        c.raw(&control_frame(5, 0, &[])).await;
        assert_eq!(
            c.next().await,
            Some(Got::Control(Control::GoAway {
                last_good: 0,
                status: GOAWAY_PROTOCOL_ERROR
            }))
        );
        assert!(conn.await.unwrap().is_err());
    }
}
