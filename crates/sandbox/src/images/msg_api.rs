//! The course's message API, emulated (mirrors
//! `assets/01-ephemeral/msg_api.py`): `GET /messages`, `POST /messages`,
//! `GET /healthz`; messages in memory, or in the JSON file named by
//! `API_DB_FILEPATH` (written through the container's mount table, so the
//! file lands in the real directory of the writable layer or the volume,
//! and is gone or kept exactly as Kubernetes would keep it).

use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{AppContext, EXIT_TERMINATED, EmulatedApp, Stop};
use crate::hostfs::ContainerFs;
use crate::network::netns::BindError;

/// The largest POST body accepted, as in the script.
const MAX_BODY: usize = 64 * 1024;

/// Which build of the API runs: its error texts differ.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Flavour {
    /// `kubetutor/msg-api`: a native binary (Go-style bind error).
    Native,
    /// `python:3.12-alpine` running the script at this container path.
    Python { script: String },
}

/// The emulated message API.
pub struct MsgApi {
    flavour: Flavour,
}

impl MsgApi {
    pub fn native() -> Self {
        Self {
            flavour: Flavour::Native,
        }
    }

    /// The stock python image running the course script at `script`.
    pub fn python(script: &str) -> Self {
        Self {
            flavour: Flavour::Python {
                script: script.to_string(),
            },
        }
    }
}

impl EmulatedApp for MsgApi {
    fn name(&self) -> &'static str {
        "msg-api"
    }

    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(run(self.flavour, ctx, stop))
    }
}

async fn run(flavour: Flavour, ctx: AppContext, mut stop: Stop) -> i32 {
    if let Flavour::Python { script } = &flavour {
        // python3 fails like this when the ConfigMap with the code is not mounted.
        let exists = ctx
            .fs
            .resolve(&ctx.cwd(), script)
            .is_ok_and(|r| r.host.is_file());
        if !exists {
            ctx.log(&format!(
                "python3: can't open file '{script}': [Errno 2] No such file or directory"
            ));
            return 2;
        }
    }
    let port_text = ctx.env_var("API_PORT").unwrap_or("").to_string();
    let port = if port_text.is_empty() {
        8080
    } else {
        match port_text.trim().parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                ctx.log("Traceback (most recent call last):");
                ctx.log(&format!(
                    "ValueError: invalid literal for int() with base 10: '{port_text}'"
                ));
                return 1;
            }
        }
    };

    let store = Store::open(
        ctx.fs.clone(),
        ctx.cwd(),
        ctx.env_var("API_DB_FILEPATH").filter(|p| !p.is_empty()),
        &ctx.log,
    );

    let mut bound = match ctx.netns.bind(&ctx.pod_uid, &ctx.container, port).await {
        Ok(b) => b,
        Err(e) => {
            match (&flavour, &e) {
                (Flavour::Python { .. }, BindError::AddrInUse { .. }) => {
                    ctx.log("Traceback (most recent call last):");
                    ctx.log("OSError: [Errno 98] Address already in use");
                }
                _ => ctx.log(&e.to_string()),
            }
            return 1;
        }
    };
    let Some(listener) = bound.take_listener() else {
        return 1;
    };
    ctx.log(&format!("listening on :{port}"));

    let api = Arc::new(Api {
        store: Mutex::new(store),
        log: Arc::clone(&ctx.log),
        python: matches!(flavour, Flavour::Python { .. }),
    });
    // Connections die with the process: dropping the set aborts them.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.wait() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let api = Arc::clone(&api);
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let api = Arc::clone(&api);
                        async move { Ok::<_, Infallible>(api.handle(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(bound);
    EXIT_TERMINATED
}

struct Api {
    store: Mutex<Store>,
    log: crate::images::LogSink,
    python: bool,
}

impl Api {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let probe = req.headers().contains_key(crate::PROBE_HEADER);
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().parse::<i64>().unwrap_or(-1))
            .unwrap_or(0);
        let body = if method == Method::POST && (0..=MAX_BODY as i64).contains(&length) {
            match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            }
        } else {
            Bytes::new()
        };
        if !matches!(method, Method::GET | Method::POST) {
            return self.unsupported(&method, &path);
        }
        let (status, payload) = self.route(&method, &path, length, &body);
        if path != "/healthz" && !probe {
            (self.log)(&format!("{method} {path} -> {}", status.as_u16()));
        }
        let mut response = Response::new(Full::new(Bytes::from(python_json(&payload))));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if self.python {
            response.headers_mut().insert(
                header::SERVER,
                http::HeaderValue::from_static("BaseHTTP/0.6 Python/3.12.12"),
            );
        }
        response
    }

    /// Python's `http.server` answer to a method the handler lacks: an HTML
    /// 501 page, logged twice through the script's `log_message`.
    fn unsupported(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        let message = format!("Unsupported method ('{method}')");
        (self.log)(&format!("{method} {path} -> {message}"));
        (self.log)(&format!("{method} {path} -> 501"));
        let page = format!(
            "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        \
             <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
             <p>Error code: 501</p>\n        <p>Message: {message}.</p>\n        \
             <p>Error code explanation: 501 - Server does not support this operation.</p>\n    </body>\n</html>\n"
        );
        let mut response = Response::new(Full::new(Bytes::from(page)));
        *response.status_mut() = StatusCode::NOT_IMPLEMENTED;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html;charset=utf-8"),
        );
        response
    }

    /// The API's routes, as in the script.
    fn route(&self, method: &Method, path: &str, length: i64, body: &[u8]) -> (StatusCode, Value) {
        let messages_path = path.trim_end_matches('/') == "/messages";
        match *method {
            Method::GET if path == "/healthz" => (StatusCode::OK, json!("ok")),
            Method::GET if messages_path => {
                let messages = self
                    .store
                    .lock()
                    .map(|s| s.messages.clone())
                    .unwrap_or_default();
                (StatusCode::OK, json!({"messages": messages}))
            }
            Method::GET => (
                StatusCode::NOT_FOUND,
                json!({"error": format!("no route for GET {path}")}),
            ),
            Method::POST if !messages_path => (
                StatusCode::NOT_FOUND,
                json!({"error": format!("no route for POST {path}")}),
            ),
            Method::POST => {
                if !(0..=MAX_BODY as i64).contains(&length) {
                    return (
                        StatusCode::BAD_REQUEST,
                        json!({"error": "send a JSON body of at most 64 KiB"}),
                    );
                }
                let data: Value = if body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(body).unwrap_or(Value::Null)
                };
                let Some(text) = data.get("text").and_then(Value::as_str) else {
                    return (
                        StatusCode::BAD_REQUEST,
                        json!({"error": "send JSON like {\"author\": \"ana\", \"text\": \"hello\"}"}),
                    );
                };
                let author = python_str_or(data.get("author"), "anonymous");
                let message = json!({"author": author, "text": text});
                let saved = match self.store.lock() {
                    Ok(mut store) => store.add(message.clone()),
                    Err(_) => Err("the message store is unavailable".to_string()),
                };
                match saved {
                    Ok(()) => (StatusCode::CREATED, message),
                    Err(e) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"error": format!("cannot save the message: {e}")}),
                    ),
                }
            }
            // `handle` answers other methods before routing.
            _ => (StatusCode::NOT_IMPLEMENTED, Value::Null),
        }
    }
}

/// `str(value or default)` in Python.
fn python_str_or(value: Option<&Value>, default: &str) -> String {
    match value {
        None | Some(Value::Null) => default.to_string(),
        Some(Value::Bool(false)) => default.to_string(),
        Some(Value::Bool(true)) => "True".to_string(),
        Some(Value::String(s)) if s.is_empty() => default.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => default.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) if a.is_empty() => default.to_string(),
        Some(Value::Object(o)) if o.is_empty() => default.to_string(),
        Some(other) => python_json(other).replace('"', "'"),
    }
}

/// The messages, and the file they are saved to.
struct Store {
    fs: ContainerFs,
    /// The process's working directory (relative paths start there).
    cwd: String,
    path: Option<String>,
    messages: Vec<Value>,
}

impl Store {
    fn open(
        fs: ContainerFs,
        cwd: String,
        path: Option<&str>,
        log: &crate::images::LogSink,
    ) -> Store {
        let mut store = Store {
            fs,
            cwd,
            path: path.map(str::to_string),
            messages: Vec::new(),
        };
        match path {
            Some(p) => {
                log(&format!(
                    "API_DB_FILEPATH is set: messages are saved to {p}"
                ));
                store.messages = store.load(p, log);
            }
            None => log("API_DB_FILEPATH not set: messages are kept in memory"),
        }
        store
    }

    fn load(&self, path: &str, log: &crate::images::LogSink) -> Vec<Value> {
        let bytes = match self.fs.resolve(&self.cwd, path) {
            Ok(r) => std::fs::read(&r.host),
            Err(_) => Err(io::Error::from(io::ErrorKind::PermissionDenied)),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                log(&format!(
                    "cannot read {path} ({}): starting with no messages",
                    os_error(&e, path)
                ));
                return Vec::new();
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(mut m)) => match m.remove("messages") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            },
            Ok(_) => Vec::new(),
            Err(e) => {
                log(&format!(
                    "cannot read {path} ({e}): starting with no messages"
                ));
                Vec::new()
            }
        }
    }

    fn add(&mut self, message: Value) -> Result<(), String> {
        self.messages.push(message);
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        // As the script: the message stays in memory even if saving fails.
        self.save(&path)
    }

    /// Writes `{"messages": [...]}` to a temp file then renames it over the
    /// target, creating the directory first (`os.makedirs`).
    fn save(&self, path: &str) -> Result<(), String> {
        let dir = match path.rsplit_once('/') {
            Some(("", _)) => Some("/"),
            Some((d, _)) => Some(d),
            None => None,
        };
        if let Some(dir) = dir {
            let r = self
                .fs
                .resolve(&self.cwd, dir)
                .map_err(|_| os_denied(dir))?;
            if !r.host.is_dir() {
                if r.read_only {
                    return Err(format!("[Errno 30] Read-only file system: '{dir}'"));
                }
                std::fs::create_dir_all(&r.host).map_err(|e| os_error(&e, dir))?;
            }
        }
        let tmp_path = format!("{path}.tmp");
        let tmp = self
            .fs
            .resolve(&self.cwd, &tmp_path)
            .map_err(|_| os_denied(&tmp_path))?;
        if tmp.read_only {
            return Err(format!("[Errno 30] Read-only file system: '{tmp_path}'"));
        }
        let target = self
            .fs
            .resolve(&self.cwd, path)
            .map_err(|_| os_denied(path))?;
        let content = python_json(&json!({"messages": self.messages}));
        std::fs::write(&tmp.host, content).map_err(|e| os_error(&e, &tmp_path))?;
        std::fs::rename(&tmp.host, &target.host).map_err(|e| {
            // Across mounts (tmp and target on different volumes) rename fails
            // like os.replace would.
            let _ = std::fs::remove_file(&tmp.host);
            format!("{} -> '{path}'", os_error(&e, &tmp_path))
        })
    }
}

fn os_denied(path: &str) -> String {
    format!("[Errno 13] Permission denied: '{path}'")
}

/// Python's `OSError` text: `[Errno 2] No such file or directory: '/x'`.
pub(super) fn os_error(e: &io::Error, path: &str) -> String {
    use io::ErrorKind as K;
    let (code, text) = match e.kind() {
        K::NotFound => (2, "No such file or directory"),
        K::PermissionDenied => (13, "Permission denied"),
        K::AlreadyExists => (17, "File exists"),
        K::NotADirectory => (20, "Not a directory"),
        K::IsADirectory => (21, "Is a directory"),
        K::ReadOnlyFilesystem => (30, "Read-only file system"),
        K::StorageFull => (28, "No space left on device"),
        K::CrossesDevices => (18, "Invalid cross-device link"),
        _ => return format!("{e}: '{path}'"),
    };
    format!("[Errno {code}] {text}: '{path}'")
}

/// JSON as Python's `json.dumps` writes it: `", "` and `": "` separators,
/// non-ASCII escaped as `\uXXXX`, so clients see byte-identical bodies.
pub fn python_json(v: &Value) -> String {
    let mut out = String::new();
    write_python_json(v, &mut out);
    out
}

fn write_python_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{08}' => out.push_str("\\b"),
                    '\u{0c}' => out.push_str("\\f"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for unit in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(&Value::String(k.clone()), out);
                out.push_str(": ");
                write_python_json(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Harness;
    use super::super::{AppHandle, select, start};
    use super::*;
    use crate::hostfs::MountKind;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// One HTTP/1.1 request over a fresh connection: (status, body).
    async fn request(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, String) {
        request_with(addr, method, path, body, "").await
    }

    /// The same, with extra header lines (`Name: value\r\n` each).
    async fn request_with(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        body: &str,
        probe: &str,
    ) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{probe}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let status = raw[9..12].parse().unwrap();
        let body = raw.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    async fn wait_listening(h: &Harness, pod: &str, port: u16) -> std::net::SocketAddr {
        for _ in 0..500 {
            if let Some(a) = h.netns.lookup(pod, port) {
                return a;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the app never listened on {port}");
    }

    fn python_ctx(h: &Harness, pod: &str, env: &[(&str, &str)]) -> super::super::AppContext {
        let mut ctx = h.ctx(
            pod,
            "api",
            "python:3.12-alpine",
            &["python3", "/opt/msg-api/msg_api.py"],
        );
        let code = h.root.empty_dir(pod, "code").unwrap();
        std::fs::write(code.join("msg_api.py"), "# the script").unwrap();
        ctx.fs
            .mount("/opt/msg-api", code, true, MountKind::Tmpfs, "code")
            .unwrap();
        ctx.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ctx
    }

    fn start_ctx(ctx: super::super::AppContext) -> AppHandle {
        start(select(&ctx.image, &ctx.command, &ctx.args), ctx)
    }

    #[tokio::test]
    async fn in_memory_messages_and_routes() {
        let h = Harness::new();
        let handle = start_ctx(python_ctx(&h, "p1", &[("API_PORT", "8080")]));
        let addr = wait_listening(&h, "p1", 8080).await;

        assert_eq!(
            request(addr, "GET", "/messages", "").await,
            (200, r#"{"messages": []}"#.into())
        );
        let (status, body) = request(
            addr,
            "POST",
            "/messages",
            r#"{"author":"ana","text":"héllo"}"#,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (201, r#"{"author": "ana", "text": "h\u00e9llo"}"#)
        );
        let (status, body) = request(addr, "POST", "/messages/", r#"{"text":"anon"}"#).await;
        assert_eq!(status, 201);
        assert!(body.contains(r#""author": "anonymous""#));
        assert_eq!(
            request(addr, "GET", "/messages", "").await.1,
            r#"{"messages": [{"author": "ana", "text": "h\u00e9llo"}, {"author": "anonymous", "text": "anon"}]}"#
        );
        assert_eq!(
            request(addr, "GET", "/healthz", "").await,
            (200, "\"ok\"".into())
        );
        // Answered, but left out of the log.
        let checker = "X-Kubetutor-Probe: 1\r\n";
        let (status, _) = request_with(addr, "GET", "/messages", "", checker).await;
        assert_eq!(status, 200);
        assert_eq!(request(addr, "POST", "/messages", "nope").await.0, 400);
        assert_eq!(
            request(addr, "GET", "/x", "").await,
            (404, r#"{"error": "no route for GET /x"}"#.into())
        );
        let (status, page) = request(addr, "PUT", "/messages", "").await;
        assert_eq!(status, 501);
        assert!(
            page.contains("<p>Message: Unsupported method ('PUT').</p>"),
            "{page}"
        );
        assert_eq!(handle.stop().await, EXIT_TERMINATED);
        assert_eq!(h.netns.lookup("p1", 8080), None, "port released on stop");

        assert_eq!(
            h.log(),
            [
                "API_DB_FILEPATH not set: messages are kept in memory",
                "listening on :8080",
                "GET /messages -> 200",
                "POST /messages -> 201",
                "POST /messages/ -> 201",
                "GET /messages -> 200",
                "POST /messages -> 400",
                "GET /x -> 404",
                "PUT /messages -> Unsupported method ('PUT')",
                "PUT /messages -> 501",
            ]
        );
    }

    #[tokio::test]
    async fn file_storage_lands_in_the_container_layer_and_is_reloaded() {
        let h = Harness::new();
        let env = [("API_DB_FILEPATH", "/var/lib/synergychat/api/db.json")];
        let handle = start_ctx(python_ctx(&h, "p1", &env));
        let addr = wait_listening(&h, "p1", 8080).await;
        assert_eq!(
            request(addr, "POST", "/messages", r#"{"author":"a","text":"t"}"#)
                .await
                .0,
            201
        );
        handle.stop().await;

        let layer = h.root.container_rootfs("p1", "api").unwrap();
        let file = layer.join("var/lib/synergychat/api/db.json");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            r#"{"messages": [{"author": "a", "text": "t"}]}"#
        );
        // The file is read back at start-up (same layer: a process restart
        // inside the container, which the script supports).
        let handle = start_ctx(python_ctx(&h, "p1", &env));
        let addr = wait_listening(&h, "p1", 8080).await;
        assert!(
            request(addr, "GET", "/messages", "")
                .await
                .1
                .contains(r#""text": "t""#)
        );
        handle.stop().await;
        assert_eq!(
            h.log()[0],
            "API_DB_FILEPATH is set: messages are saved to /var/lib/synergychat/api/db.json"
        );
        // A container restart gets a fresh writable layer, as in Kubernetes.
        h.root.reset_container_rootfs("p1", "api").unwrap();
        assert!(!file.exists());
        // A new pod has a new layer too.
        h.root.remove_pod("p1").unwrap();
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn file_storage_on_a_volume_and_on_a_read_only_mount() {
        let h = Harness::new();
        let handle = start_ctx(python_ctx(
            &h,
            "p2",
            &[("API_DB_FILEPATH", "/data/db.json")],
        ));
        let addr = wait_listening(&h, "p2", 8080).await;
        assert_eq!(
            request(addr, "POST", "/messages", r#"{"text":"x"}"#)
                .await
                .0,
            201
        );
        handle.stop().await;
        assert!(
            h.root
                .empty_dir("p2", "data")
                .unwrap()
                .join("db.json")
                .is_file()
        );

        // A relative path starts in the container's workingDir.
        let mut ctx = python_ctx(&h, "p4", &[("API_DB_FILEPATH", "db/messages.json")]);
        ctx.fs.set_working_dir("/data");
        let handle = start_ctx(ctx);
        let addr = wait_listening(&h, "p4", 8080).await;
        assert_eq!(
            request(addr, "POST", "/messages", r#"{"text":"x"}"#)
                .await
                .0,
            201
        );
        handle.stop().await;
        let file = h
            .root
            .empty_dir("p4", "data")
            .unwrap()
            .join("db/messages.json");
        assert!(file.is_file());

        let handle = start_ctx(python_ctx(
            &h,
            "p3",
            &[("API_DB_FILEPATH", "/opt/msg-api/db.json")],
        ));
        let addr = wait_listening(&h, "p3", 8080).await;
        let (status, body) = request(addr, "POST", "/messages", r#"{"text":"x"}"#).await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            r#"{"error": "cannot save the message: [Errno 30] Read-only file system: '/opt/msg-api/db.json.tmp'"}"#
        );
        handle.stop().await;
    }

    #[tokio::test]
    async fn start_up_failures() {
        let h = Harness::new();
        // The script is not mounted.
        let ctx = h.ctx(
            "p",
            "api",
            "python:3.12-alpine",
            &["python3", "/opt/msg-api/msg_api.py"],
        );
        assert_eq!(start_ctx(ctx).wait().await, 2);
        assert_eq!(
            h.log(),
            [
                "python3: can't open file '/opt/msg-api/msg_api.py': [Errno 2] No such file or directory"
            ]
        );

        // Two containers of one pod on the same port.
        let h = Harness::new();
        let first = start_ctx(python_ctx(&h, "p", &[]));
        wait_listening(&h, "p", 8080).await;
        let mut second = h.ctx("p", "api2", "kubetutor/msg-api:1", &[]);
        second.container = "api2".into();
        assert_eq!(start_ctx(second).wait().await, 1);
        assert!(
            h.log()
                .contains(&"listen tcp :8080: bind: address already in use".to_string())
        );
        let mut third = python_ctx(&h, "p", &[]);
        third.container = "api3".into();
        assert_eq!(start_ctx(third).wait().await, 1);
        assert!(
            h.log()
                .contains(&"OSError: [Errno 98] Address already in use".to_string())
        );
        first.stop().await;

        let h = Harness::new();
        assert_eq!(
            start_ctx(python_ctx(&h, "p", &[("API_PORT", "abc")]))
                .wait()
                .await,
            1
        );
        assert!(
            h.log()
                .last()
                .unwrap()
                .starts_with("ValueError: invalid literal")
        );
    }

    #[test]
    fn python_json_format() {
        assert_eq!(
            python_json(&json!({"a": [1, "é\n"], "b": null})),
            r#"{"a": [1, "\u00e9\n"], "b": null}"#
        );
        assert_eq!(python_json(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(python_str_or(Some(&json!(5)), "x"), "5");
        assert_eq!(python_str_or(Some(&json!(0)), "x"), "x");
        assert_eq!(python_str_or(Some(&json!(true)), "x"), "True");
    }
}
