//! How the emulated nginx answers a request: the server and location the
//! configuration picks, then `return`, `proxy_pass`, `try_files` or the
//! static file under `root`/`alias` (index files, `autoindex`, 301 to the
//! directory's slash, 403 for a directory without index, 404), with
//! nginx's headers, its error pages, `error_page` redirects, an access log
//! line (the image's `main` format) on stdout and error log lines on
//! stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;

use super::config::{Config, Location, Server, proxy_url};
use crate::hostfs::ContainerFs;
use crate::images::LogSink;
use crate::network::podnet::{Dial, PodNetwork};

pub type Body = BoxBody<Bytes, std::io::Error>;

/// `client_max_body_size`'s default.
const MAX_BODY: usize = 1024 * 1024;
/// Internal redirects one request may take (nginx's limit is 10).
const MAX_REDIRECTS: usize = 10;

/// What every request of one nginx shares.
pub struct Shared {
    pub config: std::sync::RwLock<Arc<Config>>,
    pub fs: ContainerFs,
    /// Access log lines (stdout).
    pub access: LogSink,
    /// Error log lines (stderr).
    pub error: LogSink,
    pub network: PodNetwork,
    pub version: String,
    /// The worker process id shown in error log lines.
    pub worker_pid: u32,
    /// Connection numbers (`*1`) of error log lines.
    pub connections: AtomicU64,
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => Arc::clone(&c),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// What a request looked like, for the log lines.
struct ReqInfo {
    method: Method,
    request_uri: String,
    version: &'static str,
    host_header: String,
    host: String,
    referer: String,
    user_agent: String,
    forwarded_for: String,
    remote: String,
    connection: u64,
    probe: bool,
}

impl ReqInfo {
    fn request_line(&self) -> String {
        format!("{} {} {}", self.method, self.request_uri, self.version)
    }
}

/// The local time as nginx logs it in error lines: `2025/03/01 12:00:00`.
pub fn error_time() -> String {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .strftime("%Y/%m/%d %H:%M:%S")
        .to_string()
}

fn access_time() -> String {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .strftime("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

/// An HTTP date: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Authorization Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => "",
    }
}

/// nginx's built-in page for an error status (CRLF line ends, as it
/// writes them).
pub fn error_page(code: u16, version: &str) -> String {
    let title = format!("{code} {}", reason(code));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx/{version}</center>\r\n</body>\r\n</html>\r\n"
    )
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed()
}

/// Answers one request on `port` from `remote`.
pub async fn handle(
    shared: Arc<Shared>,
    port: u16,
    remote: String,
    connection: u64,
    req: Request<Incoming>,
) -> Response<Body> {
    let hdr = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let host_header = hdr(header::HOST);
    let info = ReqInfo {
        method: req.method().clone(),
        request_uri: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        version: match req.version() {
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
        host: host_header
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .map_or(host_header.as_str(), |(h, _)| h)
            .to_string(),
        host_header: host_header.clone(),
        referer: hdr(header::REFERER),
        user_agent: hdr(header::USER_AGENT),
        forwarded_for: req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        remote,
        connection,
        probe: req.headers().contains_key(crate::PROBE_HEADER),
    };
    let cfg = shared.config();
    let response = match cfg.server(port, &info.host) {
        Some(server) => answer(&shared, &cfg, server, port, &info, req).await,
        None => plain_error(&shared, 404),
    };
    log_access(&shared, &cfg, &info, port, &response);
    response
}

fn log_access(shared: &Shared, cfg: &Config, info: &ReqInfo, port: u16, r: &Response<Body>) {
    if info.probe {
        return;
    }
    let logs = cfg
        .server(port, &info.host)
        .map(|s| {
            s.location(&decode_path(
                info.request_uri.split('?').next().unwrap_or("/"),
            ))
            .access_log
        })
        .unwrap_or(true);
    if !logs {
        return;
    }
    let bytes = r
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| info.method != Method::HEAD)
        .unwrap_or(0);
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    (shared.access)(&format!(
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\" \"{}\"",
        info.remote,
        access_time(),
        info.request_line(),
        r.status().as_u16(),
        bytes,
        dash(&info.referer),
        dash(&info.user_agent),
        dash(&info.forwarded_for),
    ));
}

fn log_error(shared: &Shared, server: &Server, info: &ReqInfo, msg: &str) {
    (shared.error)(&format!(
        "{} [error] {pid}#{pid}: *{} {msg}, client: {}, server: {}, request: \"{}\", host: \"{}\"",
        error_time(),
        info.connection,
        info.remote,
        server.names.first().map_or("", String::as_str),
        info.request_line(),
        info.host_header,
        pid = shared.worker_pid,
    ));
}

/// `%XX` decoded, `//` merged; None when `..` climbs above the root (400).
fn normalize_uri(raw: &str) -> Option<String> {
    let decoded = decode_path(raw);
    if !decoded.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if decoded.ends_with('/') && out != "/" {
        out.push('/');
    }
    Some(out)
}

fn decode_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("x"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer, following internal redirects (`try_files`, `index`,
/// `error_page`).
async fn answer(
    shared: &Shared,
    cfg: &Config,
    server: &Server,
    port: u16,
    info: &ReqInfo,
    req: Request<Incoming>,
) -> Response<Body> {
    let raw_path = info
        .request_uri
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let Some(mut uri) = normalize_uri(&raw_path) else {
        return plain_error(shared, 400);
    };
    let mut status_override: Option<u16> = None;
    let mut req = Some(req);
    let mut internal = false;
    for _ in 0..MAX_REDIRECTS {
        let loc = server.location(&uri);
        let step = if loc.internal && !internal {
            Step::Status(404)
        } else {
            serve_location(shared, cfg, server, loc, port, &uri, info, &mut req).await
        };
        match step {
            Step::Done(mut r) => {
                if let Some(code) = status_override
                    && r.status() == StatusCode::OK
                {
                    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
                }
                return r;
            }
            Step::Redirect(next) => {
                uri = next;
                internal = true;
            }
            Step::Status(code) => {
                // error_page: serve that page, keeping the error status.
                if status_override.is_none()
                    && let Some((_, page)) = loc.error_pages.iter().find(|(c, _)| c.contains(&code))
                {
                    status_override = Some(code);
                    uri = page.clone();
                    internal = true;
                    continue;
                }
                return plain_error(shared, status_override.unwrap_or(code));
            }
        }
    }
    (shared.error)(&format!(
        "{} [error] {pid}#{pid}: *{} rewrite or internal redirection cycle while internally redirecting to \"{uri}\", client: {}, server: {}, request: \"{}\", host: \"{}\"",
        error_time(),
        info.connection,
        info.remote,
        server.names.first().map_or("", String::as_str),
        info.request_line(),
        info.host_header,
        pid = shared.worker_pid,
    ));
    plain_error(shared, 500)
}

enum Step {
    Done(Response<Body>),
    Redirect(String),
    Status(u16),
}

/// One location's answer. Many inputs: it is one request's whole context.
#[allow(clippy::too_many_arguments)]
async fn serve_location(
    shared: &Shared,
    cfg: &Config,
    server: &Server,
    loc: &Location,
    port: u16,
    uri: &str,
    info: &ReqInfo,
    req: &mut Option<Request<Incoming>>,
) -> Step {
    if loc.deny_all {
        log_error(shared, server, info, "access forbidden by rule");
        return Step::Status(403);
    }
    if let Some((code, text)) = &loc.ret {
        return Step::Done(returned(
            shared,
            loc,
            *code,
            text.as_deref(),
            uri,
            info,
            port,
        ));
    }
    if let Some(target) = &loc.proxy_pass {
        let Some(r) = req.take() else {
            return Step::Status(500);
        };
        return proxy(shared, cfg, server, loc, target, uri, info, r).await;
    }
    if !loc.try_files.is_empty() {
        let (last, tries) = loc
            .try_files
            .split_last()
            .unwrap_or((&loc.try_files[0], &[]));
        for t in tries {
            let cand = substitute(t, uri, info);
            let want_dir = cand.ends_with('/');
            if let Some(path) = file_path(loc, &cand)
                && let Ok(r) = shared.fs.resolve("/", &path)
                && let Ok(meta) = std::fs::metadata(&r.host)
                && (meta.is_dir() == want_dir)
            {
                if want_dir {
                    return Step::Redirect(cand);
                }
                return static_file(shared, server, loc, &cand, info, port).await;
            }
        }
        if let Some(code) = last.strip_prefix('=') {
            return Step::Status(code.parse().unwrap_or(404));
        }
        return Step::Redirect(substitute(last, uri, info));
    }
    static_file(shared, server, loc, uri, info, port).await
}

/// `$uri`, `$host`, `$request_uri` and friends in a directive's argument.
fn substitute(s: &str, uri: &str, info: &ReqInfo) -> String {
    let mut out = s.to_string();
    for (k, v) in [
        ("$request_uri", info.request_uri.as_str()),
        ("$remote_addr", info.remote.as_str()),
        ("$request_method", info.method.as_str()),
        ("$http_host", info.host_header.as_str()),
        ("$host", info.host.as_str()),
        ("$uri", uri),
    ] {
        out = out.replace(k, v);
    }
    out
}

fn returned(
    shared: &Shared,
    loc: &Location,
    code: u16,
    text: Option<&str>,
    uri: &str,
    info: &ReqInfo,
    port: u16,
) -> Response<Body> {
    let redirect = matches!(code, 301 | 302 | 303 | 307 | 308);
    if redirect {
        let target = substitute(text.unwrap_or(""), uri, info);
        let location = if target.starts_with('/') {
            absolute(&info.host, port, &target)
        } else {
            target
        };
        let mut r = html(shared, code, error_page(code, &shared.version));
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    match text {
        Some(t) => {
            let body = substitute(t, uri, info);
            let mut r = base(shared, code);
            set(&mut r, header::CONTENT_TYPE, &loc.default_type);
            set(&mut r, header::CONTENT_LENGTH, &body.len().to_string());
            add_headers(&mut r, loc, code);
            *r.body_mut() = full(body);
            r
        }
        None if code >= 400 => plain_error(shared, code),
        None => {
            let mut r = base(shared, code);
            set(&mut r, header::CONTENT_LENGTH, "0");
            r
        }
    }
}

/// `http://host[:port]/path`, as nginx builds redirects (the port only
/// when it is not 80).
fn absolute(host: &str, port: u16, path: &str) -> String {
    let host = if host.is_empty() { "localhost" } else { host };
    if port == 80 {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}:{port}{path}")
    }
}

/// Where `uri` is in the container: `root` + uri, or `alias` in place of
/// the location's prefix.
fn file_path(loc: &Location, uri: &str) -> Option<String> {
    match &loc.alias {
        Some(alias) => {
            let rest = uri.strip_prefix(loc.path.as_str()).unwrap_or(uri);
            Some(format!("{alias}{rest}"))
        }
        None => Some(format!("{}{uri}", loc.root.trim_end_matches('/'))),
    }
}

fn base(shared: &Shared, code: u16) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set(&mut r, header::SERVER, &format!("nginx/{}", shared.version));
    set(&mut r, header::DATE, &http_date(jiff::Timestamp::now()));
    r
}

fn set(r: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// `add_header` applies to 200, 201, 204, 206, 301, 302, 303, 304, 307
/// and 308 answers (without `always`).
fn add_headers(r: &mut Response<Body>, loc: &Location, code: u16) {
    if !matches!(
        code,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    ) {
        return;
    }
    for (k, v) in &loc.add_headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
}

fn html(shared: &Shared, code: u16, body: String) -> Response<Body> {
    let mut r = base(shared, code);
    set(&mut r, header::CONTENT_TYPE, "text/html");
    set(&mut r, header::CONTENT_LENGTH, &body.len().to_string());
    *r.body_mut() = full(body);
    r
}

/// nginx's own page for an error status.
pub fn plain_error(shared: &Shared, code: u16) -> Response<Body> {
    html(shared, code, error_page(code, &shared.version))
}

async fn static_file(
    shared: &Shared,
    server: &Server,
    loc: &Location,
    uri: &str,
    info: &ReqInfo,
    port: u16,
) -> Step {
    if !matches!(info.method, Method::GET | Method::HEAD) {
        return Step::Status(405);
    }
    let Some(path) = file_path(loc, uri) else {
        return Step::Status(404);
    };
    let resolved = shared.fs.resolve("/", &path);
    let meta = resolved
        .as_ref()
        .ok()
        .and_then(|r| std::fs::metadata(&r.host).ok());
    if uri.ends_with('/') {
        for index in &loc.index {
            let candidate = format!("{uri}{index}");
            if let Some(p) = file_path(loc, &candidate)
                && shared.fs.resolve("/", &p).is_ok_and(|r| r.host.is_file())
            {
                return Step::Redirect(candidate);
            }
        }
        return match meta {
            Some(m) if m.is_dir() && loc.autoindex => Step::Done(autoindex(shared, &path, uri)),
            Some(m) if m.is_dir() => {
                log_error(
                    shared,
                    server,
                    info,
                    &format!("directory index of \"{path}\" is forbidden"),
                );
                Step::Status(403)
            }
            _ => {
                let first = loc.index.first().map_or("index.html", String::as_str);
                log_error(
                    shared,
                    server,
                    info,
                    &format!("\"{path}{first}\" is not found (2: No such file or directory)"),
                );
                Step::Status(404)
            }
        };
    }
    match meta {
        Some(m) if m.is_dir() => {
            let mut r = html(shared, 301, error_page(301, &shared.version));
            set(
                &mut r,
                header::LOCATION,
                &absolute(&info.host, port, &format!("{uri}/")),
            );
            Step::Done(r)
        }
        Some(m) => {
            let Ok(r) = resolved else {
                return Step::Status(404);
            };
            let file = match tokio::fs::File::open(&r.host).await {
                Ok(f) => f,
                Err(_) => {
                    log_error(
                        shared,
                        server,
                        info,
                        &format!("open() \"{path}\" failed (13: Permission denied)"),
                    );
                    return Step::Status(403);
                }
            };
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok())
                .unwrap_or_else(jiff::Timestamp::now);
            let mut resp = base(shared, 200);
            let cfg = shared.config();
            let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            let ctype = ext
                .and_then(|e| cfg.types.get(&e).cloned())
                .unwrap_or_else(|| loc.default_type.clone());
            set(&mut resp, header::CONTENT_TYPE, &ctype);
            set(&mut resp, header::CONTENT_LENGTH, &m.len().to_string());
            set(&mut resp, header::LAST_MODIFIED, &http_date(mtime));
            set(&mut resp, header::CONNECTION, "keep-alive");
            set(
                &mut resp,
                header::ETAG,
                &format!("\"{:x}-{:x}\"", mtime.as_second(), m.len()),
            );
            set(&mut resp, header::ACCEPT_RANGES, "bytes");
            add_headers(&mut resp, loc, 200);
            if info.method == Method::GET {
                let stream = tokio_util::io::ReaderStream::new(file);
                use futures::StreamExt as _;
                let body = StreamBody::new(stream.map(|r| r.map(Frame::data)));
                *resp.body_mut() = http_body_util::BodyExt::boxed(body);
            }
            Step::Done(resp)
        }
        None => {
            log_error(
                shared,
                server,
                info,
                &format!("open() \"{path}\" failed (2: No such file or directory)"),
            );
            Step::Status(404)
        }
    }
}

/// `autoindex on`: the directory listing nginx writes.
fn autoindex(shared: &Shared, path: &str, uri: &str) -> Response<Body> {
    let mut entries: Vec<(String, bool, u64, jiff::Timestamp)> = Vec::new();
    if let Ok(r) = shared.fs.resolve("/", path) {
        for e in std::fs::read_dir(&r.host).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(m) = e.metadata() else { continue };
            let t = m
                .modified()
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok())
                .unwrap_or_else(jiff::Timestamp::now);
            entries.push((name, m.is_dir(), m.len(), t));
        }
    }
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut body = format!(
        "<html>\r\n<head><title>Index of {uri}</title></head>\r\n<body>\r\n<h1>Index of {uri}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for (name, dir, size, t) in entries {
        let shown = if dir {
            format!("{name}/")
        } else {
            name.clone()
        };
        let date = t
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%d-%b-%Y %H:%M")
            .to_string();
        let size = if dir {
            "-".to_string()
        } else {
            size.to_string()
        };
        let pad = 51usize.saturating_sub(shown.chars().count());
        body.push_str(&format!(
            "<a href=\"{shown}\">{shown}</a>{} {date} {size:>19}\r\n",
            " ".repeat(pad)
        ));
    }
    body.push_str("</pre><hr></body>\r\n</html>\r\n");
    html(shared, 200, body)
}

/// `proxy_pass`: the request to the upstream through the pod's network.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    shared: &Shared,
    cfg: &Config,
    server: &Server,
    loc: &Location,
    target: &str,
    uri: &str,
    info: &ReqInfo,
    req: Request<Incoming>,
) -> Step {
    let (host, port, target_uri) = proxy_url(target);
    let query = info
        .request_uri
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let path = match target_uri {
        Some(t) => format!(
            "{t}{}{query}",
            uri.strip_prefix(loc.path.as_str()).unwrap_or(uri)
        ),
        None => info.request_uri.clone(),
    };
    let servers: Vec<(String, u16)> = match cfg.upstreams.iter().find(|u| u.name == host) {
        Some(u) => u.servers.clone(),
        None => vec![(host.clone(), port)],
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            log_error(
                shared,
                server,
                info,
                &format!(
                    "client intended to send too large body: {} bytes",
                    MAX_BODY + 1
                ),
            );
            return Step::Status(413);
        }
    };
    let mut last_ip = host.clone();
    for (h, p) in servers {
        let (addr, ip) = match shared.network.dial(&h, p) {
            Dial::Open { addr, ip } => (addr, ip),
            Dial::Refused { ip } => {
                last_ip = format!("{ip}:{p}");
                continue;
            }
            Dial::NoSuchHost => {
                log_error(
                    shared,
                    server,
                    info,
                    &format!("{h} could not be resolved (3: Host not found)"),
                );
                return Step::Status(502);
            }
        };
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            last_ip = format!("{ip}:{p}");
            continue;
        };
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await
        else {
            continue;
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let proxy_host = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        let mut out = Request::builder()
            .method(parts.method.clone())
            .uri(&path)
            .header(header::HOST, proxy_host)
            .header(header::CONNECTION, "close");
        for (k, v) in &parts.headers {
            if k == header::HOST || k == header::CONNECTION || k == "keep-alive" {
                continue;
            }
            out = out.header(k, v);
        }
        let Ok(out) = out.body(Full::new(body.clone())) else {
            return Step::Status(500);
        };
        let resp = match tokio::time::timeout(
            std::time::Duration::from_secs(60),
            sender.send_request(out),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => {
                log_error(
                    shared,
                    server,
                    info,
                    &format!(
                        "upstream prematurely closed connection while reading response header from upstream, upstream: \"http://{ip}:{p}{path}\""
                    ),
                );
                return Step::Status(502);
            }
            Err(_) => {
                log_error(
                    shared,
                    server,
                    info,
                    &format!(
                        "upstream timed out (110: Connection timed out) while reading response header from upstream, upstream: \"http://{ip}:{p}{path}\""
                    ),
                );
                return Step::Status(504);
            }
        };
        let (rp, rb) = resp.into_parts();
        let mut r = base(shared, rp.status.as_u16());
        for (k, v) in &rp.headers {
            if k == header::CONNECTION
                || k == header::TRANSFER_ENCODING
                || k == header::SERVER
                || k == header::DATE
                || k == "keep-alive"
            {
                continue;
            }
            r.headers_mut().append(k, v.clone());
        }
        *r.body_mut() = rb.map_err(std::io::Error::other).boxed();
        return Step::Done(r);
    }
    log_error(
        shared,
        server,
        info,
        &format!(
            "connect() failed (111: Connection refused) while connecting to upstream, upstream: \"http://{last_ip}{path}\""
        ),
    );
    Step::Status(502)
}

/// A connection number for error log lines.
pub fn next_connection(shared: &Shared) -> u64 {
    shared.connections.fetch_add(1, Ordering::SeqCst) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_normalised_as_nginx_does() {
        assert_eq!(normalize_uri("/a//b/./c").as_deref(), Some("/a/b/c"));
        assert_eq!(normalize_uri("/a/../b/").as_deref(), Some("/b/"));
        assert_eq!(normalize_uri("/%61bc").as_deref(), Some("/abc"));
        assert_eq!(normalize_uri("/../etc/passwd"), None);
        assert_eq!(normalize_uri("/").as_deref(), Some("/"));
    }

    #[test]
    fn error_pages_and_redirects() {
        let page = error_page(404, "1.29.3");
        assert!(page.starts_with("<html>\r\n<head><title>404 Not Found</title></head>\r\n"));
        assert!(page.ends_with("<hr><center>nginx/1.29.3</center>\r\n</body>\r\n</html>\r\n"));
        assert_eq!(absolute("localhost", 80, "/dir/"), "http://localhost/dir/");
        assert_eq!(absolute("example", 8080, "/x"), "http://example:8080/x");
        assert_eq!(
            http_date(jiff::Timestamp::from_second(784_111_777).unwrap()),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
