//! The course's crawler, emulated (mirrors `assets/02-emptydir/crawler.py`):
//! `GET /books`, `GET /healthz`; one book of a built-in shelf every
//! `CRAWLER_INTERVAL` seconds, kept in memory or saved as `<id>.json` in
//! `CRAWLER_DB_PATH`. Files go through the container's mount table, so
//! crawlers sharing an emptyDir split the work exactly as the script does
//! (`.<id>.claim` files created exclusively, then `<id>.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{AppContext, EXIT_TERMINATED, EmulatedApp, LogSink, Stop};
use crate::images::msg_api::{os_error, python_json};
use crate::network::netns::BindError;

/// The script's shelf: (id, title, author, year, opening lines).
#[rustfmt::skip]
pub const SHELF: &[(&str, &str, &str, i32, &str)] = &[
    ("pride-and-prejudice", "Pride and Prejudice", "Jane Austen", 1813,
     "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."),
    ("moby-dick", "Moby-Dick", "Herman Melville", 1851,
     "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, I thought I would sail about a little and see the watery part of the world."),
    ("frankenstein", "Frankenstein", "Mary Shelley", 1818,
     "You will rejoice to hear that no disaster has accompanied the commencement of an enterprise which you have regarded with such evil forebodings."),
    ("alice-in-wonderland", "Alice's Adventures in Wonderland", "Lewis Carroll", 1865,
     "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do."),
    ("dracula", "Dracula", "Bram Stoker", 1897,
     "Left Munich at 8:35 P.M., on 1st May, arriving at Vienna early next morning; should have arrived at 6:46, but train was an hour late."),
    ("sherlock-holmes", "The Adventures of Sherlock Holmes", "Arthur Conan Doyle", 1892,
     "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name."),
    ("treasure-island", "Treasure Island", "Robert Louis Stevenson", 1883,
     "Squire Trelawney, Dr. Livesey, and the rest of these gentlemen having asked me to write down the whole particulars about Treasure Island, from the beginning to the end."),
    ("time-machine", "The Time Machine", "H. G. Wells", 1895,
     "The Time Traveller (for so it will be convenient to speak of him) was expounding a recondite matter to us."),
    ("war-of-the-worlds", "The War of the Worlds", "H. G. Wells", 1898,
     "No one would have believed in the last years of the nineteenth century that this world was being watched keenly and closely by intelligences greater than man's."),
    ("great-expectations", "Great Expectations", "Charles Dickens", 1861,
     "My father's family name being Pirrip, and my Christian name Philip, my infant tongue could make of both names nothing longer or more explicit than Pip."),
    ("les-miserables", "Les Misérables", "Victor Hugo", 1862,
     "In 1815, M. Charles-François-Bienvenu Myriel was Bishop of D—— He was an old man of about seventy-five years of age."),
    ("around-the-world", "Around the World in Eighty Days", "Jules Verne", 1873,
     "Mr. Phileas Fogg lived, in 1872, at No. 7, Saville Row, Burlington Gardens, the house in which Sheridan died in 1814."),
    ("twenty-thousand-leagues", "Twenty Thousand Leagues Under the Sea", "Jules Verne", 1870,
     "The year 1866 was signalised by a remarkable incident, a mysterious and puzzling phenomenon, which doubtless no one has yet forgotten."),
    ("count-of-monte-cristo", "The Count of Monte Cristo", "Alexandre Dumas", 1844,
     "On the 24th of February, 1815, the look-out at Notre-Dame de la Garde signalled the three-master, the Pharaon from Smyrna, Trieste, and Naples."),
    ("huckleberry-finn", "Adventures of Huckleberry Finn", "Mark Twain", 1884,
     "You don't know about me without you have read a book by the name of The Adventures of Tom Sawyer; but that ain't no matter."),
    ("jane-eyre", "Jane Eyre", "Charlotte Brontë", 1847,
     "There was no possibility of taking a walk that day. We had been wandering, indeed, in the leafless shrubbery an hour in the morning."),
    ("wuthering-heights", "Wuthering Heights", "Emily Brontë", 1847,
     "1801.—I have just returned from a visit to my landlord—the solitary neighbour that I shall be troubled with."),
    ("dorian-gray", "The Picture of Dorian Gray", "Oscar Wilde", 1890,
     "The studio was filled with the rich odour of roses, and when the light summer wind stirred amidst the trees of the garden, there came through the open door the heavy scent of the lilac."),
    ("the-odyssey", "The Odyssey", "Homer", -700,
     "Tell me, O muse, of that ingenious hero who travelled far and wide after he had sacked the famous town of Troy."),
    ("don-quixote", "Don Quixote", "Miguel de Cervantes", 1605,
     "In a village of La Mancha, the name of which I have no desire to call to mind, there lived not long since one of those gentlemen that keep a lance in the lance-rack."),
];

/// The keys of a saved book, in the order the script writes them.
const BOOK_KEYS: &[&str] = &[
    "id",
    "title",
    "author",
    "year",
    "keywords",
    "crawler_port",
    "crawled_at",
];

/// The script as process 1 of its container: the pid in temp file names.
const PID: u32 = 1;

/// The stock python image running the course's crawler script.
pub struct Crawler {
    script: String,
}

impl Crawler {
    /// `python3 <script>`: the container path of `crawler.py`.
    pub fn python(script: &str) -> Self {
        Self {
            script: script.to_string(),
        }
    }
}

impl EmulatedApp for Crawler {
    fn name(&self) -> &'static str {
        "crawler"
    }

    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(run(self.script, ctx, stop))
    }
}

/// `time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())`.
fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The script's `log`: a UTC timestamp, then the line.
fn log(sink: &LogSink, line: &str) {
    sink(&format!("{} {line}", now()));
}

/// The script's `env_int`: Python's `int()` accepts surrounding blanks.
fn env_int(ctx: &AppContext, name: &str, default: i64) -> i64 {
    let raw = ctx.env_var(name).unwrap_or("");
    if raw.is_empty() {
        return default;
    }
    match raw.trim().parse::<i64>() {
        Ok(v) => v,
        Err(_) => {
            log(
                &ctx.log,
                &format!("{name}={} is not a number: using {default}", py_repr(raw)),
            );
            default
        }
    }
}

async fn run(script: String, ctx: AppContext, mut stop: Stop) -> i32 {
    // python3 fails like this when the ConfigMap with the code is not mounted.
    let exists = ctx
        .fs
        .resolve(&ctx.cwd(), &script)
        .is_ok_and(|r| r.host.is_file());
    if !exists {
        ctx.log(&format!(
            "python3: can't open file '{script}': [Errno 2] No such file or directory"
        ));
        return 2;
    }
    let port = env_int(&ctx, "CRAWLER_PORT", 8080);
    let interval = env_int(&ctx, "CRAWLER_INTERVAL", 15).max(1);
    let keywords: Vec<String> = ctx
        .env_var("CRAWLER_KEYWORDS")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    let db_path = ctx
        .env_var("CRAWLER_DB_PATH")
        .filter(|p| !p.is_empty())
        .map(str::to_string);

    let Ok(port) = u16::try_from(port) else {
        ctx.log("Traceback (most recent call last):");
        ctx.log("OverflowError: bind(): port must be 0-65535.");
        return 1;
    };
    let mut bound = match ctx.netns.bind(&ctx.pod_uid, &ctx.container, port).await {
        Ok(b) => b,
        Err(e @ BindError::AddrInUse { .. }) => {
            ctx.log(&e.to_string());
            return 1;
        }
        Err(BindError::Io { source, .. }) => {
            ctx.log(&format!("listen tcp :{port}: {source}"));
            return 1;
        }
    };
    let Some(listener) = bound.take_listener() else {
        return 1;
    };
    let store = match Store::open(&ctx, db_path.as_deref()) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            ctx.log(&format!(
                "cannot use CRAWLER_DB_PATH {}: {e}",
                db_path.as_deref().unwrap_or("")
            ));
            return 1;
        }
    };
    match &db_path {
        Some(p) => log(
            &ctx.log,
            &format!("CRAWLER_DB_PATH is set: books are saved in {p}"),
        ),
        None => log(
            &ctx.log,
            "CRAWLER_DB_PATH not set: books are kept in memory",
        ),
    }
    let shown = if keywords.is_empty() {
        "none".to_string()
    } else {
        py_list_repr(&keywords)
    };
    log(
        &ctx.log,
        &format!("crawler on :{port}: one book every {interval}s, keywords: {shown}"),
    );

    let crawl = tokio::spawn(crawl_forever(
        Arc::clone(&store),
        port,
        keywords,
        Duration::from_secs(interval.unsigned_abs()),
        Arc::clone(&ctx.log),
    ));
    // Connections and the crawl die with the process.
    let _crawl = AbortOnDrop(crawl);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.wait() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let store = Arc::clone(&store);
                let sink = Arc::clone(&ctx.log);
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let response = handle(&store, &sink, &req);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    // Python's http.server speaks HTTP/1.0: one request per connection.
                    let _ = http1::Builder::new()
                        .keep_alive(false)
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

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The script's `crawl_forever`: lazy, one claimed book per interval.
async fn crawl_forever(
    store: Arc<Store>,
    port: u16,
    keywords: Vec<String>,
    interval: Duration,
    sink: LogSink,
) {
    let matchers: Vec<(String, Option<regex::Regex>)> = keywords
        .into_iter()
        .map(|k| {
            let re = regex::Regex::new(&format!(r"(?i)\b{}\b", regex::escape(&k))).ok();
            (k, re)
        })
        .collect();
    let mut idle = false;
    loop {
        tokio::time::sleep(interval).await;
        let known = store.ids();
        let mut book = None;
        for b in SHELF.iter().filter(|b| !known.contains(b.0)) {
            match store.claim(b.0) {
                Ok(true) => {
                    book = Some(b);
                    break;
                }
                Ok(false) => {}
                Err(e) => return thread_died(&sink, &e),
            }
        }
        let Some(&(id, title, author, year, text)) = book else {
            if !idle {
                log(
                    &sink,
                    &format!(
                        "crawler on :{port}: nothing left to crawl ({} books on the shelf), waiting",
                        SHELF.len()
                    ),
                );
                idle = true;
            }
            continue;
        };
        idle = false;
        let haystack = format!("{title} {text}");
        let found: Vec<String> = matchers
            .iter()
            .filter(|(_, re)| re.as_ref().is_some_and(|re| re.is_match(&haystack)))
            .map(|(k, _)| k.clone())
            .collect();
        let book = json!({
            "id": id,
            "title": title,
            "author": author,
            "year": year,
            "keywords": found,
            "crawler_port": port,
            "crawled_at": now(),
        });
        if let Err(e) = store.add(id, &book) {
            return thread_died(&sink, &e);
        }
        let shown = if found.is_empty() {
            "none".to_string()
        } else {
            py_list_repr(&found)
        };
        log(
            &sink,
            &format!(
                "crawler on :{port}: crawled \"{title}\" by {author}, keywords found: {shown}"
            ),
        );
    }
}

/// An exception in the script's crawl thread: a traceback, then the crawl
/// stops while the server goes on.
fn thread_died(sink: &LogSink, error: &str) {
    sink("Exception in thread Thread-1 (crawl_forever):");
    sink("Traceback (most recent call last):");
    sink(error);
}

/// The HTTP handler, as the script's `Handler`.
fn handle(store: &Store, sink: &LogSink, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    if method != Method::GET {
        return unsupported(sink, &method, &path);
    }
    let (status, payload) = if path == "/healthz" {
        (StatusCode::OK, json!("ok"))
    } else if path.trim_end_matches('/') == "/books" {
        (StatusCode::OK, Value::Null)
    } else {
        (
            StatusCode::NOT_FOUND,
            json!({"error": format!("no route for GET {path}")}),
        )
    };
    let body = if status == StatusCode::OK && payload.is_null() {
        let books: Vec<String> = store.all().iter().map(book_json).collect();
        format!("{{\"books\": [{}]}}", books.join(", "))
    } else {
        python_json(&payload)
    };
    if path != "/healthz" && !req.headers().contains_key(crate::PROBE_HEADER) {
        log(sink, &format!("{method} {path} -> {}", status.as_u16()));
    }
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::SERVER,
        http::HeaderValue::from_static("BaseHTTP/0.6 Python/3.12.12"),
    );
    response
}

/// Python's `http.server` answer to a method the handler lacks: an HTML 501
/// page, logged twice through the script's `log_message`.
fn unsupported(sink: &LogSink, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let message = format!("Unsupported method ('{method}')");
    if path != "/healthz" {
        log(sink, &format!("{method} {path} -> {message}"));
        log(sink, &format!("{method} {path} -> 501"));
    }
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

/// A book as `json.dumps` writes the script's dict: its keys in insertion
/// order (serde_json's map is sorted, so the order is restored here; keys a
/// foreign writer added come after, sorted).
pub fn book_json(book: &Value) -> String {
    let Value::Object(map) = book else {
        return python_json(book);
    };
    let mut parts = Vec::new();
    for key in BOOK_KEYS {
        if let Some(v) = map.get(*key) {
            parts.push(format!("\"{key}\": {}", python_json(v)));
        }
    }
    for (key, v) in map {
        if !BOOK_KEYS.contains(&key.as_str()) {
            parts.push(format!(
                "{}: {}",
                python_json(&Value::String(key.clone())),
                python_json(v)
            ));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// Books found so far: files in a directory (on the host, behind the
/// container's mount), or a map in memory.
struct Store {
    dir: Option<PathBuf>,
    /// `CRAWLER_DB_PATH` as the container sees it, for error messages.
    shown: String,
    memory: Mutex<BTreeMap<String, Value>>,
}

impl Store {
    /// `os.makedirs(path, exist_ok=True)` through the mount table.
    fn open(ctx: &AppContext, path: Option<&str>) -> Result<Store, String> {
        let dir = match path {
            None => None,
            Some(p) => {
                let r = ctx
                    .fs
                    .resolve(&ctx.cwd(), p)
                    .map_err(|_| format!("[Errno 13] Permission denied: '{p}'"))?;
                if r.host.is_file() {
                    return Err(format!("[Errno 17] File exists: '{p}'"));
                }
                if !r.host.is_dir() {
                    if r.read_only {
                        return Err(format!("[Errno 30] Read-only file system: '{p}'"));
                    }
                    std::fs::create_dir_all(&r.host).map_err(|e| os_error(&e, p))?;
                }
                Some(r.host)
            }
        };
        Ok(Store {
            dir,
            shown: path.unwrap_or("").trim_end_matches('/').to_string(),
            memory: Mutex::default(),
        })
    }

    fn ids(&self) -> BTreeSet<String> {
        let Some(dir) = &self.dir else {
            return self
                .memory
                .lock()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect()
    }

    fn all(&self) -> Vec<Value> {
        let Some(dir) = &self.dir else {
            return self
                .memory
                .lock()
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
        };
        self.ids()
            .iter()
            .filter_map(|id| {
                // Unreadable: another crawler is writing it right now.
                let bytes = std::fs::read(dir.join(format!("{id}.json"))).ok()?;
                serde_json::from_slice(&bytes).ok()
            })
            .collect()
    }

    /// Reserves a book (exclusive create), so sharing crawlers split the work.
    /// False when another crawler has it; other errors end the crawl, as
    /// the script's uncaught exception does.
    fn claim(&self, id: &str) -> Result<bool, String> {
        let Some(dir) = &self.dir else {
            return Ok(true);
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(format!(".{id}.claim")))
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(py_os_error(&e, &format!("{}/.{id}.claim", self.shown))),
        }
    }

    /// Writes a temp file then renames it over `<id>.json`.
    fn add(&self, id: &str, book: &Value) -> Result<(), String> {
        let Some(dir) = &self.dir else {
            if let Ok(mut m) = self.memory.lock() {
                m.insert(id.to_string(), book.clone());
            }
            return Ok(());
        };
        let target = dir.join(format!("{id}.json"));
        let tmp = dir.join(format!("{id}.json.{PID}.tmp"));
        let shown = format!("{}/{id}.json.{PID}.tmp", self.shown);
        std::fs::write(&tmp, book_json(book)).map_err(|e| py_os_error(&e, &shown))?;
        std::fs::rename(&tmp, &target).map_err(|e| py_os_error(&e, &shown))
    }
}

/// The last line of Python's traceback for a failed file operation.
fn py_os_error(e: &io::Error, path: &str) -> String {
    let class = match e.kind() {
        io::ErrorKind::NotFound => "FileNotFoundError",
        io::ErrorKind::PermissionDenied => "PermissionError",
        _ => "OSError",
    };
    format!("{class}: {}", os_error(e, path))
}

/// Python's `repr` of a str.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr` of a list of str: `['island', 'sea']`.
fn py_list_repr(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| py_repr(s)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::tests::Harness;
    use super::super::{AppHandle, select, start};
    use super::*;
    use crate::hostfs::MountKind;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let status = raw[9..12].parse().unwrap();
        (status, raw.split_once("\r\n\r\n").unwrap().1.to_string())
    }

    async fn wait_listening(h: &Harness, pod: &str, port: u16) -> std::net::SocketAddr {
        for _ in 0..500 {
            if let Some(a) = h.netns.lookup(pod, port) {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the crawler never listened on {port}");
    }

    fn ctx(h: &Harness, pod: &str, container: &str, env: &[(&str, &str)]) -> AppContext {
        let mut ctx = h.ctx(
            pod,
            container,
            "python:3.12-alpine",
            &["python3", "/opt/crawler/crawler.py"],
        );
        let code = h.root.empty_dir(pod, "code").unwrap();
        std::fs::write(code.join("crawler.py"), "# the script").unwrap();
        ctx.fs
            .mount("/opt/crawler", code, true, MountKind::Tmpfs, "code")
            .unwrap();
        ctx.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ctx
    }

    fn start_ctx(ctx: AppContext) -> AppHandle {
        start(select(&ctx.image, &ctx.command, &ctx.args), ctx)
    }

    /// The log without its timestamps (checked to be there).
    fn untimed(h: &Harness) -> Vec<String> {
        h.log()
            .iter()
            .map(|l| {
                let (ts, rest) = l.split_once(' ').unwrap();
                assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{l}");
                assert!(ts.ends_with('Z') && ts.len() == 20, "{l}");
                rest.to_string()
            })
            .collect()
    }

    #[test]
    fn selection_and_repr() {
        let argv = ["python3".to_string(), "/opt/crawler/crawler.py".to_string()];
        assert_eq!(select("python:3.12-alpine", &argv, &[]).name(), "crawler");
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_list_repr(&["sea".into(), "x".into()]), "['sea', 'x']");
        assert_eq!(SHELF.len(), 20);
    }

    #[tokio::test]
    async fn serves_books_from_memory_and_logs_like_the_script() {
        let h = Harness::new();
        let env = [
            ("CRAWLER_INTERVAL", "1"),
            ("CRAWLER_KEYWORDS", " Pride , wife,,zz"),
        ];
        let handle = start_ctx(ctx(&h, "p", "c1", &env));
        let addr = wait_listening(&h, "p", 8080).await;
        assert_eq!(get(addr, "/books").await, (200, r#"{"books": []}"#.into()));
        assert_eq!(get(addr, "/healthz").await, (200, "\"ok\"".into()));
        assert_eq!(
            get(addr, "/nope").await,
            (404, r#"{"error": "no route for GET /nope"}"#.into())
        );
        let mut body = String::new();
        for _ in 0..300 {
            body = get(addr, "/books/").await.1;
            if body.contains("pride") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            body.starts_with(
                r#"{"books": [{"id": "pride-and-prejudice", "title": "Pride and Prejudice", "author": "Jane Austen", "year": 1813, "keywords": ["Pride", "wife"], "crawler_port": 8080, "crawled_at": ""#
            ),
            "{body}"
        );
        assert_eq!(handle.stop().await, EXIT_TERMINATED);
        let log = untimed(&h);
        assert_eq!(log[0], "CRAWLER_DB_PATH not set: books are kept in memory");
        assert_eq!(
            log[1],
            "crawler on :8080: one book every 1s, keywords: ['Pride', 'wife', 'zz']"
        );
        assert_eq!(log[2], "GET /books -> 200");
        assert_eq!(log[3], "GET /nope -> 404");
        assert!(log.contains(
            &"crawler on :8080: crawled \"Pride and Prejudice\" by Jane Austen, keywords found: ['Pride', 'wife']"
                .to_string()
        ));
    }

    #[tokio::test]
    async fn shared_directory_splits_the_work_and_port_collision_fails() {
        let h = Harness::new();
        let dir = h.root.empty_dir("p", "data").unwrap();
        // A book another crawler already saved is skipped.
        std::fs::write(
            dir.join("pride-and-prejudice.json"),
            r#"{"id": "pride-and-prejudice"}"#,
        )
        .unwrap();
        let env1 = [
            ("CRAWLER_INTERVAL", "1"),
            ("CRAWLER_DB_PATH", "/data/books"),
        ];
        let env2 = [
            ("CRAWLER_INTERVAL", "1"),
            ("CRAWLER_DB_PATH", "/data/books"),
            ("CRAWLER_PORT", "8081"),
        ];
        std::fs::create_dir_all(dir.join("books")).unwrap();
        std::fs::rename(
            dir.join("pride-and-prejudice.json"),
            dir.join("books/pride-and-prejudice.json"),
        )
        .unwrap();
        let one = start_ctx(ctx(&h, "p", "c1", &env1));
        let two = start_ctx(ctx(&h, "p", "c2", &env2));
        wait_listening(&h, "p", 8080).await;
        wait_listening(&h, "p", 8081).await;
        // A third on 8080 fails as a Go program would.
        let third = start_ctx(ctx(&h, "p", "c3", &env1));
        assert_eq!(third.wait().await, 1);
        assert!(
            h.log()
                .contains(&"listen tcp :8080: bind: address already in use".to_string())
        );
        let books = dir.join("books");
        for _ in 0..400 {
            if books.join("frankenstein.json").is_file() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        one.stop().await;
        two.stop().await;
        let saved = std::fs::read_to_string(books.join("moby-dick.json")).unwrap();
        assert!(
            saved.starts_with(r#"{"id": "moby-dick", "title": "Moby-Dick", "author": "Herman Melville", "year": 1851, "keywords": [], "crawler_port": 808"#),
            "{saved}"
        );
        assert!(books.join(".moby-dick.claim").is_file());
        assert!(!books.join("moby-dick.json.1.tmp").exists());
        assert!(books.join(".frankenstein.claim").is_file());
        assert!(!books.join(".pride-and-prejudice.claim").exists());
        // Each book was crawled once, by one of the two.
        let crawled = h
            .log()
            .iter()
            .filter(|l| l.contains("crawled \"Moby-Dick\""))
            .count();
        assert_eq!(crawled, 1);
    }

    #[tokio::test]
    async fn a_vanished_directory_stops_the_crawl_but_not_the_server() {
        let h = Harness::new();
        let env = [("CRAWLER_INTERVAL", "1"), ("CRAWLER_DB_PATH", "/data/db/")];
        let handle = start_ctx(ctx(&h, "p", "c1", &env));
        let addr = wait_listening(&h, "p", 8080).await;
        // The directory disappears under the crawler.
        std::fs::remove_dir_all(h.root.empty_dir("p", "data").unwrap().join("db")).unwrap();
        for _ in 0..300 {
            if h.log().iter().any(|l| l.starts_with("FileNotFoundError")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(get(addr, "/books").await, (200, r#"{"books": []}"#.into()));
        handle.stop().await;
        let log = h.log();
        assert!(
            log.contains(
                &"FileNotFoundError: [Errno 2] No such file or directory: '/data/db/.pride-and-prejudice.claim'"
                    .to_string()
            ),
            "{log:?}"
        );
        assert!(log.contains(&"Exception in thread Thread-1 (crawl_forever):".to_string()));
    }

    #[tokio::test]
    async fn start_up_failures() {
        let h = Harness::new();
        let bare = h.ctx(
            "p",
            "c",
            "python:3.12-alpine",
            &["python3", "/opt/crawler/crawler.py"],
        );
        assert_eq!(start_ctx(bare).wait().await, 2);
        let ro = ctx(&h, "p", "c", &[("CRAWLER_DB_PATH", "/opt/crawler/db")]);
        assert_eq!(start_ctx(ro).wait().await, 1);
        assert_eq!(
            h.log().last().unwrap(),
            "cannot use CRAWLER_DB_PATH /opt/crawler/db: [Errno 30] Read-only file system: '/opt/crawler/db'"
        );
        assert_eq!(h.netns.lookup("p", 8080), None, "port released");
        let bad = ctx(
            &h,
            "q",
            "c",
            &[("CRAWLER_PORT", "x"), ("CRAWLER_INTERVAL", "0")],
        );
        let handle = start_ctx(bad);
        wait_listening(&h, "q", 8080).await;
        handle.stop().await;
        assert!(
            h.log()
                .iter()
                .any(|l| l.ends_with(" CRAWLER_PORT='x' is not a number: using 8080"))
        );
        assert!(
            h.log()
                .iter()
                .any(|l| l.ends_with("one book every 1s, keywords: none"))
        );
    }
}
