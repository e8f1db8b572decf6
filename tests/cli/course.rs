//! The shipped course: it loads, lints clean in both languages, and the
//! message API of lesson 01 behaves as the lesson says.

use kubetutor::check::spec::Goal;
use kubetutor::course::lint::lint;
use kubetutor::course::{Course, CourseFiles};
use kubetutor::lesson::Lang;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn report(diags: &[kubetutor::lesson::Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn embedded_course_loads_in_both_languages() {
    let course = Course::embedded().unwrap_or_else(|d| panic!("{}", report(&d)));
    for lang in Lang::ALL {
        let lessons = course.lessons(lang);
        assert!(!lessons.is_empty(), "no {lang} lessons");
        assert_eq!(lessons[0].id(), "ephemeral-filesystem");
        for l in lessons {
            for s in &l.steps {
                let check = s.check.as_ref().expect("every step has a check");
                check.spec().expect("checks parse");
                assert!(!s.hints.is_empty(), "{}: step {} has no hint", l.path, s.id);
                assert!(
                    s.solution.is_some(),
                    "{}: step {} has no solution",
                    l.path,
                    s.id
                );
            }
        }
    }
    let en: Vec<&str> = course.lessons(Lang::En).iter().map(|l| l.id()).collect();
    let fr: Vec<&str> = course.lessons(Lang::Fr).iter().map(|l| l.id()).collect();
    assert_eq!(en, fr);
    assert!(
        course
            .asset("assets/01-ephemeral/deployment.yaml")
            .is_some()
    );
}

#[test]
fn embedded_course_lints_clean() {
    let diags = lint(&CourseFiles::embedded());
    assert!(diags.is_empty(), "{}", report(&diags));
}

/// The copy on disk too: `include_dir!` does not notice new files until
/// the crate is rebuilt, so this is what lesson authors see.
#[test]
fn course_on_disk_lints_clean() {
    let files = CourseFiles::from_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let diags = lint(&files);
    assert!(diags.is_empty(), "{}", report(&diags));
    assert_eq!(files.len(), CourseFiles::embedded().len());
}

#[test]
fn lesson_01_steps() {
    let course = Course::embedded().unwrap_or_else(|d| panic!("{}", report(&d)));
    let l = course.lesson(Lang::En, "ephemeral-filesystem").unwrap();
    let ids: Vec<&str> = l.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "deploy",
            "save-to-file",
            "post-messages",
            "delete-pod",
            "why",
            "clean-up"
        ]
    );
    let kind = |id: &str| {
        l.step(id)
            .unwrap()
            .check
            .as_ref()
            .unwrap()
            .spec()
            .unwrap()
            .goal
    };
    assert!(matches!(kind("delete-pod"), Goal::Sequence(s) if s.len() == 4));
    assert!(matches!(kind("why"), Goal::Quiz(q) if q.answers == [1]));
}

// --- the message API's Kubernetes objects --------------------------------

const DIR: &str = "assets/01-ephemeral";

fn asset(name: &str) -> String {
    let files = CourseFiles::embedded();
    let bytes = files
        .get(&format!("{DIR}/{name}"))
        .unwrap_or_else(|| panic!("{DIR}/{name} is missing"));
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn script_configmap_embeds_the_script() {
    let cm: serde_json::Value = serde_saphyr::from_str(&asset("script-configmap.yaml")).unwrap();
    assert_eq!(cm["data"]["msg_api.py"], asset("msg_api.py"));
}

#[test]
fn objects_are_labelled_and_named() {
    let mut kinds = Vec::new();
    for name in [
        "script-configmap.yaml",
        "configmap.yaml",
        "deployment.yaml",
        "service.yaml",
    ] {
        let obj: serde_json::Value = serde_saphyr::from_str(&asset(name)).unwrap();
        let labels = &obj["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/part-of"], "kubetutor", "{name}");
        assert_eq!(labels["app"], "msg-api", "{name}");
        assert!(obj["metadata"].get("namespace").is_none(), "{name}");
        kinds.push((
            obj["kind"].as_str().unwrap().to_string(),
            obj["metadata"]["name"].as_str().unwrap().to_string(),
        ));
        if obj["kind"] == "Deployment" {
            let tpl = &obj["spec"]["template"];
            assert_eq!(tpl["metadata"]["labels"]["app"], "msg-api");
            assert_eq!(
                tpl["metadata"]["labels"]["app.kubernetes.io/part-of"],
                "kubetutor"
            );
            assert_eq!(tpl["spec"]["containers"][0]["image"], "python:3.12-alpine");
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("ConfigMap".into(), "msg-api-config".into()),
            ("ConfigMap".into(), "msg-api-script".into()),
            ("Deployment".into(), "msg-api".into()),
            ("Service".into(), "msg-api".into()),
        ]
    );
}

// --- the message API itself, run with the local python3 -------------------

struct Api {
    child: Child,
    port: u16,
    first_line: String,
    /// The lines logged after the first two.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python3() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some("python3")
}

fn start_api(script: &Path, db: Option<&Path>) -> Api {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .env("API_PORT", port.to_string())
        .env_remove("API_DB_FILEPATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(db) = db {
        cmd.env("API_DB_FILEPATH", db);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    out.read_line(&mut first_line).unwrap();
    let mut listening = String::new();
    out.read_line(&mut listening).unwrap();
    assert_eq!(listening.trim(), format!("listening on :{port}"));
    // Keep draining the log so the server never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Api {
        child,
        port,
        first_line: first_line.trim().to_string(),
        log,
    }
}

/// One HTTP/1.0 request; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with(port, method, path, body, "")
}

/// The same with extra header lines (`Name: value\r\n` each).
fn http_with(port: u16, method: &str, path: &str, body: &str, extra: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
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

fn messages(port: u16) -> serde_json::Value {
    let (status, body) = http(port, "GET", "/messages", "");
    assert_eq!(status, 200);
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["messages"].clone()
}

#[test]
fn message_api_in_memory_and_in_a_file() {
    if python3().is_none() {
        eprintln!("notice: python3 not found, skipping the message API test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("msg_api.py");
    std::fs::write(&script, asset("msg_api.py")).unwrap();

    // In memory: messages are served, and lost with the process.
    let api = start_api(&script, None);
    assert_eq!(
        api.first_line,
        "API_DB_FILEPATH not set: messages are kept in memory"
    );
    assert_eq!(http(api.port, "GET", "/healthz", "").0, 200);
    assert_eq!(messages(api.port), serde_json::json!([]));
    let (status, body) = http(
        api.port,
        "POST",
        "/messages",
        r#"{"author": "ana", "text": "hello"}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        messages(api.port),
        serde_json::json!([{"author": "ana", "text": "hello"}])
    );
    assert_eq!(http(api.port, "POST", "/messages", "not json").0, 400);
    assert_eq!(
        http(api.port, "POST", "/messages", r#"{"author": "x"}"#).0,
        400
    );
    assert_eq!(http(api.port, "GET", "/nope", "").0, 404);
    // The checker's probes are answered and left out of the log.
    let (status, _) = http_with(api.port, "GET", "/nope", "", "X-Kubetutor-Probe: 1\r\n");
    assert_eq!(status, 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !api
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l == "GET /nope -> 404")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let nope: Vec<String> = api
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("/nope"))
        .cloned()
        .collect();
    assert_eq!(nope, ["GET /nope -> 404"]);
    drop(api);

    // In a file (in a directory that does not exist yet): the messages
    // survive a restart of the process, as long as the file is still there.
    let db = dir.path().join("var/lib/msgapi/db.json");
    let api = start_api(&script, Some(&db));
    assert_eq!(
        api.first_line,
        format!(
            "API_DB_FILEPATH is set: messages are saved to {}",
            db.display()
        )
    );
    assert_eq!(
        http(api.port, "POST", "/messages", r#"{"text": "one"}"#).0,
        201
    );
    assert_eq!(
        http(
            api.port,
            "POST",
            "/messages",
            r#"{"author": "bo", "text": "two"}"#
        )
        .0,
        201
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&db).unwrap()).unwrap();
    assert_eq!(saved["messages"].as_array().unwrap().len(), 2);
    assert_eq!(saved["messages"][0]["author"], "anonymous");
    drop(api);
    let api = start_api(&script, Some(&db));
    assert_eq!(messages(api.port).as_array().unwrap().len(), 2);
    drop(api);

    // A new container starts without the file: no messages.
    std::fs::remove_file(&db).unwrap();
    let api = start_api(&script, Some(&db));
    assert_eq!(messages(api.port), serde_json::json!([]));
}

/// The examples of docs/lesson-format.md stay valid.
#[test]
fn documented_examples_parse() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lesson-format.md"),
    )
    .unwrap();
    let start = doc.find("````markdown\n").unwrap() + "````markdown\n".len();
    let end = start + doc[start..].find("\n````").unwrap() + 1;
    let lesson = kubetutor::lesson::parse_lesson("example.md", Lang::En, &doc[start..end])
        .unwrap_or_else(|d| panic!("{}", report(&d)));
    assert_eq!(lesson.steps[0].hints.len(), 2);
    assert_eq!(lesson.meta.requires.min_nodes, Some(1));

    let mut checked = 0;
    for block in doc.split("```yaml\n").skip(1) {
        let yaml = &block[..block.find("```").unwrap()];
        if ["sequence:", "quiz:", "http:"]
            .iter()
            .any(|g| yaml.starts_with(g))
        {
            kubetutor::check::spec::parse_check(yaml)
                .unwrap_or_else(|(pos, msg)| panic!("{pos}: {msg}\n{yaml}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 3);
}

/// Malformed lessons never panic: every truncation and every line removal of
/// the real lessons either parses or yields diagnostics with sane positions.
#[test]
fn mutilated_lessons_never_panic() {
    let files = CourseFiles::embedded();
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".md")) {
        let text = std::str::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // About 40 cuts and 40 deleted lines per file keep this linear in
        // the size of the course rather than quadratic.
        let mut variants: Vec<String> = (0..text.len())
            .step_by((text.len() / 40).max(97))
            .filter(|&i| text.is_char_boundary(i))
            .map(|i| text[..i].to_string())
            .collect();
        for skip in (0..lines.len()).step_by((lines.len() / 40).max(3)) {
            let mut v: Vec<&str> = lines.clone();
            v.remove(skip);
            variants.push(v.join("\n"));
        }
        for v in &variants {
            if let Err(diags) = kubetutor::lesson::parse_lesson(path, Lang::En, v) {
                assert!(!diags.is_empty());
                let max_line = v.lines().count().max(1) + 1;
                for d in &diags {
                    assert!(d.pos.line >= 1 && d.pos.line <= max_line, "{d}");
                    assert!(d.pos.col >= 1, "{d}");
                }
            }
        }
    }
}
