//! Parity of the sandbox's crawler emulation with the course's real
//! `crawler.py` (run under the local python3; the test prints a notice and
//! passes when python3 is missing). Both get the same settings and a data
//! directory seeded with the same files, go through the same HTTP
//! conversation, crawl the last two books of the shelf, and must then give
//! the same answers, write the same files and log the same lines.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::hostfs::{ContainerFs, MountKind, SandboxRoot};
use crate::images::{self, AppContext};
use crate::network::netns::NetNamespaces;

const SCRIPT: &str = "assets/02-emptydir/crawler.py";
const KEYWORDS: &str = " troy , Mancha,,sea";

fn has_python() -> bool {
    Command::new("python3")
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
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.0 request: (status, content type, body).
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    // The checker's probes (marked by a query here) carry its header.
    let extra = if path.contains("checker") {
        "X-Kubetutor-Probe: 1\r\n"
    } else {
        ""
    };
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: x\r\n{extra}\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// Files that are there before the crawlers start: all the shelf but its
/// last two books, a file not on the shelf, and a broken one.
fn seed(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ids = [
        "pride-and-prejudice",
        "moby-dick",
        "frankenstein",
        "alice-in-wonderland",
        "dracula",
        "sherlock-holmes",
        "treasure-island",
        "time-machine",
        "war-of-the-worlds",
        "great-expectations",
        "les-miserables",
        "around-the-world",
        "twenty-thousand-leagues",
        "count-of-monte-cristo",
        "huckleberry-finn",
        "jane-eyre",
        "wuthering-heights",
        "dorian-gray",
    ];
    for id in ids {
        let body = format!(r#"{{"id":"{id}","note":"seed\u00e9 ✓"}}"#);
        std::fs::write(dir.join(format!("{id}.json")), body).unwrap();
    }
    std::fs::write(dir.join("zz-extra.json"), r#"{"id": "zz-extra"}"#).unwrap();
    std::fs::write(dir.join("broken.json"), "{not json").unwrap();
}

/// The files of a data directory, `crawled_at` values masked.
fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, mask(&std::fs::read_to_string(e.path()).unwrap()))
        })
        .collect()
}

/// `"crawled_at": "2026-..Z"` → `"crawled_at": "T"`.
fn mask(text: &str) -> String {
    let key = "\"crawled_at\": \"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let end = rest.find('"').unwrap();
        assert_eq!(end, 20, "a timestamp like 2026-11-21T13:15:24Z: {rest}");
        out.push('T');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A log line without its timestamp (checked to be there).
fn untimed(line: &str) -> String {
    let (ts, rest) = line.split_once(' ').unwrap();
    assert_eq!(ts.len(), 20, "{line}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{line}");
    rest.to_string()
}

/// What a crawler did, for comparison.
#[derive(Debug, PartialEq)]
struct Transcript {
    answers: Vec<(u16, String, String)>,
    requests_logged: Vec<String>,
    crawl_logged: Vec<String>,
    files: BTreeMap<String, String>,
    collision: (i32, String),
}

/// The HTTP conversation, then the crawl of the two books left.
fn converse(addr: SocketAddr, log: &dyn Fn() -> Vec<String>) -> Vec<(u16, String, String)> {
    let mut answers = Vec::new();
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/nope"),
        ("GET", "/books?x=1"),
        ("PUT", "/books"),
    ] {
        answers.push(http(addr, method, path));
    }
    // The checker's probe is answered but not logged.
    http(addr, "GET", "/books?checker=1");
    eventually("the crawler runs out of books", || {
        log().iter().any(|l| l.contains("nothing left to crawl"))
    });
    for path in ["/books", "/books/"] {
        let (status, ct, body) = http(addr, "GET", path);
        answers.push((status, ct, mask(&body)));
    }
    answers
}

fn split_log(lines: &[String], db: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<String> = lines
        .iter()
        .map(|l| untimed(l).replace(db, "<db>"))
        .collect();
    lines
        .into_iter()
        .partition(|l| l.starts_with("GET ") || l.starts_with("PUT "))
}

fn run_python(work: &Path, port: u16) -> Transcript {
    let script = work.join("crawler.py");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(SCRIPT),
        &script,
    )
    .unwrap();
    let db = work.join("py-books");
    seed(&db);
    let spawn = |stderr: Stdio| -> Child {
        Command::new("python3")
            .arg(&script)
            .env("CRAWLER_PORT", port.to_string())
            .env("CRAWLER_INTERVAL", "1")
            .env("CRAWLER_KEYWORDS", KEYWORDS)
            .env("CRAWLER_DB_PATH", &db)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    let mut child = spawn(Stdio::inherit());
    let out = BufReader::new(child.stdout.take().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eventually("python crawler listens", || {
        TcpStream::connect(addr).is_ok()
    });
    let log = || lines.lock().unwrap().clone();
    let answers = converse(addr, &log);

    let second = spawn(Stdio::piped()).wait_with_output().unwrap();
    let collision = (
        second.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&second.stderr).trim().to_string(),
    );
    let _ = child.kill();
    let _ = child.wait();
    let (requests_logged, crawl_logged) = split_log(&log(), &db.to_string_lossy());
    Transcript {
        answers,
        requests_logged,
        crawl_logged,
        files: files(&db),
        collision,
    }
}

fn run_emulation(work: &Path, port: u16) -> Transcript {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = SandboxRoot::new(work.join("sandbox")).unwrap();
    let netns = NetNamespaces::new();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let data = root.empty_dir("pod", "data").unwrap();
    let code = root.empty_dir("pod", "code").unwrap();
    std::fs::write(code.join("crawler.py"), "# mounted from a ConfigMap").unwrap();
    let db_host: PathBuf = data.join("books");
    seed(&db_host);
    let ctx = |container: &str| -> AppContext {
        let mut fs = ContainerFs::new(root.container_rootfs("pod", container).unwrap());
        fs.mount("/data", data.clone(), false, MountKind::EmptyDir, "data")
            .unwrap();
        fs.mount("/opt/crawler", code.clone(), true, MountKind::Tmpfs, "code")
            .unwrap();
        let sink = Arc::clone(&lines);
        AppContext {
            pod_uid: "pod".into(),
            pod_name: "crawler-0".into(),
            container: container.into(),
            image: "python:3.12-alpine".into(),
            command: vec!["python3".into(), "/opt/crawler/crawler.py".into()],
            args: Vec::new(),
            env: [
                ("CRAWLER_PORT", port.to_string()),
                ("CRAWLER_INTERVAL", "1".to_string()),
                ("CRAWLER_KEYWORDS", KEYWORDS.to_string()),
                ("CRAWLER_DB_PATH", "/data/books".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            fs,
            netns: netns.clone(),
            network: crate::network::podnet::PodNetwork::isolated(netns.clone(), "pod"),
            log: Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string())),
            procs: crate::process::ProcessTable::new(crate::process::MemBudget::standalone(
                crate::process::DEFAULT_CONTAINER_MEMORY,
            )),
            stdin: false,
            tty: false,
            console: crate::process::Console::new(),
        }
    };
    let start = |c: AppContext| {
        let _guard = rt.enter();
        let app = images::select(&c.image, &c.command, &c.args);
        assert_eq!(app.name(), "crawler");
        images::start(app, c)
    };
    let first = start(ctx("crawler-1"));
    let mut addr = None;
    eventually("emulated crawler listens", || {
        addr = netns.lookup("pod", port);
        addr.is_some()
    });
    let log = || lines.lock().unwrap().clone();
    let answers = converse(addr.unwrap(), &log);

    let before = log().len();
    let code = rt.block_on(start(ctx("crawler-2")).wait());
    let after = log();
    let collision = (code, after[before..].join("\n"));
    let stopped = rt.block_on(first.stop());
    assert_eq!(stopped, images::EXIT_TERMINATED);
    let crawl_log: Vec<String> = after[..before].to_vec();
    let (requests_logged, crawl_logged) = split_log(&crawl_log, "/data/books");
    Transcript {
        answers,
        requests_logged,
        crawl_logged,
        files: files(&db_host),
        collision,
    }
}

#[test]
fn emulation_matches_the_real_crawler() {
    if !has_python() {
        eprintln!("notice: python3 not found, skipping the crawler parity test");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let real = run_python(work.path(), port);
    let emulated = run_emulation(work.path(), port);

    // Sanity: the conversation covered what it should.
    assert_eq!(real.answers[0].0, 200);
    assert_eq!(real.answers[3].0, 501);
    assert!(
        real.answers[4].2.contains(r#""keywords": ["troy"]"#),
        "{}",
        real.answers[4].2
    );
    assert!(real.files.contains_key(".don-quixote.claim"));
    assert_eq!(real.collision.0, 1);
    assert_eq!(
        real.collision.1,
        format!("listen tcp :{port}: bind: address already in use")
    );

    assert_eq!(emulated.answers, real.answers);
    assert_eq!(emulated.requests_logged, real.requests_logged);
    assert!(
        !real.requests_logged.iter().any(|l| l.contains("checker")),
        "the checker's probes are not logged: {:?}",
        real.requests_logged
    );
    assert_eq!(emulated.crawl_logged, real.crawl_logged);
    assert_eq!(emulated.files, real.files);
    assert_eq!(emulated.collision, real.collision);
}
