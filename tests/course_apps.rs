//! The demo apps of the course lessons (beyond lesson 01's message API, which
//! tests/course.rs covers), run for real: the crawler under the local python3,
//! the SQL of the customer database's init Job under a local postgres. Each
//! test prints a notice and passes when its tool is missing, so the suite
//! runs anywhere; CI has python3.
//!
//! The HTTP conversations here are the ones the sandbox's emulations must
//! reproduce.

use kubetutor::course::CourseFiles;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn asset(path: &str) -> String {
    let files = CourseFiles::embedded();
    let bytes = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} is missing"));
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn yaml_docs(path: &str) -> Vec<serde_json::Value> {
    asset(path)
        .split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn has(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait for `cond`, polling; a generous bound only to fail instead of hanging.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.0 request; returns (status, body).
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

// --- lesson 02: the crawler -------------------------------------------------

const CRAWLER: &str = "assets/02-emptydir/crawler.py";

struct Crawler {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Crawler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Crawler {
    fn start(script: &Path, port: u16, db: Option<&Path>) -> Crawler {
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .env("CRAWLER_PORT", port.to_string())
            .env("CRAWLER_INTERVAL", "1")
            .env("CRAWLER_KEYWORDS", "whale, sea,,night")
            .env_remove("CRAWLER_DB_PATH")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(db) = db {
            cmd.env("CRAWLER_DB_PATH", db);
        }
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        // Keep draining the log so the crawler never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let c = Crawler { child, port, log };
        eventually("the crawler listens", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        c
    }

    fn books(&self) -> Vec<serde_json::Value> {
        let (status, body) = http(self.port, "GET", "/books");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["books"].as_array().unwrap().clone()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// "2026-11-21T13:15:24Z rest" -> "rest", checking the timestamp's shape.
fn untimed(line: &str) -> &str {
    let (ts, rest) = line.split_once(' ').unwrap();
    assert_eq!(ts.len(), 20, "{line}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{line}");
    rest
}

#[test]
fn crawler_script_configmap_embeds_the_script() {
    let cm = &yaml_docs("assets/02-emptydir/script-configmap.yaml")[0];
    assert_eq!(cm["data"]["crawler.py"], asset(CRAWLER));
}

#[test]
fn crawler_objects_are_labelled_and_named() {
    let mut names = Vec::new();
    for f in ["script-configmap", "configmap", "deployment", "service"] {
        let obj = &yaml_docs(&format!("assets/02-emptydir/{f}.yaml"))[0];
        assert_eq!(obj["metadata"]["labels"]["app"], "crawler", "{f}");
        assert!(obj["metadata"].get("namespace").is_none(), "{f}");
        names.push(format!(
            "{}/{}",
            obj["kind"].as_str().unwrap(),
            obj["metadata"]["name"].as_str().unwrap()
        ));
    }
    assert_eq!(
        names,
        [
            "ConfigMap/crawler-script",
            "ConfigMap/crawler-config",
            "Deployment/crawler",
            "Service/crawler"
        ]
    );
    // The skeleton the learner completes: one container, no shared volume.
    let d = &yaml_docs("assets/02-emptydir/deployment.yaml")[0];
    let spec = &d["spec"]["template"]["spec"];
    assert_eq!(spec["containers"].as_array().unwrap().len(), 1);
    assert_eq!(spec["containers"][0]["name"], "crawler-1");
    assert_eq!(spec["volumes"].as_array().unwrap().len(), 1);
    let cm = &yaml_docs("assets/02-emptydir/configmap.yaml")[0];
    assert_eq!(cm["data"]["CRAWLER_PORT"], "8080");
    assert!(cm["data"].get("CRAWLER_DB_PATH").is_none());
}

#[test]
fn crawler_in_memory() {
    if !has("python3") {
        eprintln!("notice: python3 not found, skipping the crawler test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("crawler.py");
    std::fs::write(&script, asset(CRAWLER)).unwrap();
    let c = Crawler::start(&script, free_port(), None);
    assert_eq!(http(c.port, "GET", "/healthz").0, 200);
    assert_eq!(http(c.port, "GET", "/nope").0, 404);
    eventually("a book is crawled", || !c.books().is_empty());
    let book = &c.books()[0];
    assert_eq!(book["id"], "pride-and-prejudice");
    assert_eq!(book["title"], "Pride and Prejudice");
    assert_eq!(book["crawler_port"], c.port);
    assert!(book["keywords"].is_array());
    assert!(book["crawled_at"].as_str().unwrap().ends_with('Z'));
    let log = c.log();
    assert_eq!(
        untimed(&log[0]),
        "CRAWLER_DB_PATH not set: books are kept in memory"
    );
    assert_eq!(
        untimed(&log[1]),
        format!(
            "crawler on :{}: one book every 1s, keywords: ['whale', 'sea', 'night']",
            c.port
        )
    );
    assert!(
        log.iter()
            .any(|l| untimed(l).starts_with(&format!("crawler on :{}: crawled \"", c.port))),
        "{log:?}"
    );
}

#[test]
fn crawlers_share_a_directory_and_collide_on_a_port() {
    if !has("python3") {
        eprintln!("notice: python3 not found, skipping the crawler test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("crawler.py");
    std::fs::write(&script, asset(CRAWLER)).unwrap();
    let db = dir.path().join("cache/db");
    let first = Crawler::start(&script, free_port(), Some(&db));
    assert_eq!(
        untimed(&first.log()[0]),
        format!(
            "CRAWLER_DB_PATH is set: books are saved in {}",
            db.display()
        )
    );

    // A second crawler on the same port: the Go-like message, status 1.
    let out = Command::new("python3")
        .arg(&script)
        .env("CRAWLER_PORT", first.port.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("listen tcp :{}: bind: address already in use", first.port)
    );

    // On its own port, it adds to the same directory; each book once.
    let second = Crawler::start(&script, free_port(), Some(&db));
    eventually("both crawlers contribute", || {
        let ports: Vec<_> = first
            .books()
            .iter()
            .map(|b| b["crawler_port"].as_u64().unwrap())
            .collect();
        ports.contains(&u64::from(first.port)) && ports.contains(&u64::from(second.port))
    });
    let books = second.books();
    let mut ids: Vec<_> = books.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "a book was crawled twice: {ids:?}");

    // File format: one <id>.json per book, the same object /books serves.
    for book in &books {
        let id = book["id"].as_str().unwrap();
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(db.join(format!("{id}.json"))).unwrap())
                .unwrap();
        assert_eq!(&saved, book);
    }
    let moby = books.iter().find(|b| b["id"] == "moby-dick");
    if let Some(moby) = moby {
        assert_eq!(moby["author"], "Herman Melville");
    }
}
