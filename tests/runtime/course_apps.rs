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
    // As a learner gets them: course variables set to their defaults.
    let files = CourseFiles::embedded().with_vars(&Default::default());
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
            .env("CRAWLER_KEYWORDS", "whale, WORLD,,night")
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

    /// The log once it has at least `n` lines: the crawler listens before
    /// its first lines have come through the pipe on a busy machine.
    fn log_lines(&self, n: usize) -> Vec<String> {
        eventually("the crawler's first log lines", || {
            self.log.lock().unwrap().len() >= n
        });
        self.log()
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
    // The first book of the shelf (more may have come meanwhile).
    let first = c.books();
    let book = first
        .iter()
        .find(|b| b["id"] == "pride-and-prejudice")
        .unwrap();
    assert_eq!(book["title"], "Pride and Prejudice");
    assert_eq!(book["crawler_port"], c.port);
    assert!(book["keywords"].is_array());
    assert!(book["crawled_at"].as_str().unwrap().ends_with('Z'));
    // Keywords are whole words, in the title or the opening lines, any case.
    assert_eq!(book["keywords"], serde_json::json!([]));
    eventually("a second book is crawled", || c.books().len() >= 2);
    // The shelf is crawled in order (Pride and Prejudice, Moby-Dick...);
    // /books is sorted by id.
    let books = c.books();
    let ids: Vec<_> = books.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    let moby = books.iter().find(|b| b["id"] == "moby-dick").unwrap();
    assert_eq!(moby["keywords"], serde_json::json!(["WORLD"]));
    let log = c.log_lines(2);
    assert_eq!(
        untimed(&log[0]),
        "CRAWLER_DB_PATH not set: books are kept in memory"
    );
    assert_eq!(
        untimed(&log[1]),
        format!(
            "crawler on :{}: one book every 1s, keywords: ['whale', 'WORLD', 'night']",
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
        untimed(&first.log_lines(1)[0]),
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

// --- lessons 03-05: the claim and the message API copies ---------------------

#[test]
fn claim_template_has_placeholders_and_the_complete_claim_matches_the_lesson() {
    let template = &yaml_docs("assets/03-claims/pvc.yaml")[0];
    assert_eq!(template["metadata"]["name"], "xxx");
    assert_eq!(template["spec"]["accessModes"][0], "xxx");
    assert_eq!(template["spec"]["resources"]["requests"]["storage"], "xxx");
    let claim = &yaml_docs("assets/04-persist/pvc.yaml")[0];
    assert_eq!(claim["kind"], "PersistentVolumeClaim");
    assert_eq!(claim["metadata"]["name"], "msg-api-pvc");
    assert_eq!(claim["spec"]["accessModes"][0], "ReadWriteOnce");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    // No class named: the default StorageClass provisions it.
    assert!(claim["spec"].get("storageClassName").is_none());
    let pod = &yaml_docs("assets/03-claims/consumer-pod.yaml")[0];
    assert_eq!(pod["metadata"]["name"], "pvc-consumer");
    assert_eq!(
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "msg-api-pvc"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        "/data"
    );
}

#[test]
fn message_api_copies_differ_from_lesson_01_only_where_the_lessons_say() {
    let base = &yaml_docs("assets/01-ephemeral/deployment.yaml")[0];
    for dir in ["04-persist", "05-scaled"] {
        let mut d = yaml_docs(&format!("assets/{dir}/deployment.yaml"))[0].clone();
        if dir == "04-persist" {
            assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
            d["spec"].as_object_mut().unwrap().remove("strategy");
        }
        assert_eq!(&d, base, "{dir}/deployment.yaml");
        assert_eq!(
            yaml_docs(&format!("assets/{dir}/service.yaml"))[0],
            yaml_docs("assets/01-ephemeral/service.yaml")[0],
            "{dir}/service.yaml"
        );
        let cm = &yaml_docs(&format!("assets/{dir}/configmap.yaml"))[0];
        assert_eq!(cm["metadata"]["name"], "msg-api-config");
        assert_eq!(cm["data"]["API_PORT"], "8080");
        // Where lesson 01 ended: a file in the container's own filesystem.
        assert_eq!(cm["data"]["API_DB_FILEPATH"], "/var/lib/msgapi/db.json");
    }
}

// --- lessons 06-08: the customer application ---------------------------------

fn env_of<'a>(container: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn customer_objects_are_labelled_for_the_cleanup_by_label() {
    let mut names = Vec::new();
    for f in [
        "06-database/customer-db.yaml",
        "06-database/customer-backend.yaml",
        "06-database/init-job.yaml",
        "07-pv/customer-db-pvc.yaml",
    ] {
        for obj in yaml_docs(&format!("assets/{f}")) {
            let kind = obj["kind"].as_str().unwrap().to_string();
            assert_eq!(obj["metadata"]["labels"]["app"], "customer", "{f} {kind}");
            assert!(obj["metadata"].get("namespace").is_none(), "{f}");
            // Lesson 08 deletes svc,deployment,job,pvc -l app=customer.
            assert!(
                ["Service", "Deployment", "Job", "PersistentVolumeClaim"].contains(&kind.as_str()),
                "{f}: {kind} would survive the cleanup by label"
            );
            names.push(format!(
                "{kind}/{}",
                obj["metadata"]["name"].as_str().unwrap()
            ));
        }
    }
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "Deployment/customer-backend",
            "Deployment/customer-db",
            "Job/customer-db-init",
            "PersistentVolumeClaim/pg-pv-claim",
            "Service/customer-backend",
            "Service/customer-db",
        ]
    );
}

#[test]
fn database_reads_its_password_from_the_secret_and_the_pv_version_uses_pgdata() {
    let secret_ref = serde_json::json!({"secretKeyRef": {"name": "db-pass", "key": "password"}});
    let db6 = &yaml_docs("assets/06-database/customer-db.yaml")[1];
    let db7 = &yaml_docs("assets/07-pv/customer-db-pvc.yaml")[2];
    for db in [db6, db7] {
        let c = &db["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "postgres:16-alpine");
        assert_eq!(env_of(c, "POSTGRES_DB")["value"], "customer");
        assert_eq!(env_of(c, "POSTGRES_PASSWORD")["valueFrom"], secret_ref);
    }
    assert!(db6["spec"]["template"]["spec"].get("volumes").is_none());
    let c7 = &db7["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c7["volumeMounts"][0]["mountPath"],
        "/var/lib/postgresql/data"
    );
    assert_eq!(
        env_of(c7, "PGDATA")["value"],
        "/var/lib/postgresql/data/pgdata"
    );
    assert_eq!(
        db7["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "pg-pv-claim"
    );
    assert_eq!(db7["spec"]["strategy"]["type"], "Recreate");

    let backend = &yaml_docs("assets/06-database/customer-backend.yaml")[1];
    let c = &backend["spec"]["template"]["spec"]["containers"][0];
    assert!(
        c["image"]
            .as_str()
            .unwrap()
            .starts_with("postgrest/postgrest:v")
    );
    assert_eq!(env_of(c, "PGHOST")["value"], "customer-db");
    assert_eq!(env_of(c, "PGPASSWORD")["valueFrom"], secret_ref);
    assert_eq!(env_of(c, "PGRST_DB_ANON_ROLE")["value"], "web_anon");

    let job = &yaml_docs("assets/06-database/init-job.yaml")[0];
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_of(c, "PGPASSWORD")["valueFrom"], secret_ref);
}

#[test]
fn static_volume_and_claim_match_each_other() {
    let pv = &yaml_docs("assets/07-pv/local-pv.yaml")[0];
    assert_eq!(pv["metadata"]["name"], "local-pv-1");
    assert_eq!(pv["spec"]["capacity"]["storage"], "2Gi");
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["hostPath"]["path"], "/tmp/pg-disk");
    assert_eq!(pv["spec"]["storageClassName"], "");
    let pvc = &yaml_docs("assets/07-pv/customer-db-pvc.yaml")[1];
    assert_eq!(pvc["metadata"]["name"], "pg-pv-claim");
    // "" and not absent: absent would let the default class provision a volume.
    assert_eq!(pvc["spec"]["storageClassName"], "");
    for (k, v) in pvc["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&pv["metadata"]["labels"][k], v);
    }
    assert_eq!(pvc["spec"]["accessModes"], pv["spec"]["accessModes"]);
    assert_eq!(
        pvc["spec"]["resources"]["requests"]["storage"],
        pv["spec"]["capacity"]["storage"]
    );
}

/// The SQL between `<<'SQL'` and `SQL` in the init Job's shell script.
fn init_sql() -> String {
    let job = &yaml_docs("assets/06-database/init-job.yaml")[0];
    let script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap();
    let sql = script.split_once("<<'SQL'\n").unwrap().1;
    let sql = sql.split_once("\nSQL\n").unwrap().0;
    // Kubernetes expands $(VAR) and turns $$ into $ in commands.
    assert!(!sql.contains("$$") && !sql.contains("$("), "{sql}");
    sql.to_string()
}

/// A throw-away PostgreSQL server on a Unix socket in a temporary directory.
struct Postgres {
    dir: tempfile::TempDir,
    run_as: Option<&'static str>,
}

impl Postgres {
    fn cmd(&self, program: &str) -> Command {
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn start() -> Option<Postgres> {
        for tool in ["initdb", "pg_ctl", "psql"] {
            if !has(tool) {
                eprintln!("notice: {tool} not found, skipping the init Job SQL test");
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL refuses to run as root: use its own account if so.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let run_as = if root {
            let ok = Command::new("id")
                .arg("postgres")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("notice: running as root without a postgres user, skipping the SQL test");
                return None;
            }
            let chown = Command::new("chown")
                .args(["postgres", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(chown.success());
            Some("postgres")
        } else {
            None
        };
        let pg = Postgres { dir, run_as };
        let data = pg.dir.path().join("data");
        let out = pg
            .cmd("initdb")
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        let opts = format!(
            "-k {} -p 5432 -c listen_addresses=''",
            pg.dir.path().display()
        );
        let out = pg
            .cmd("pg_ctl")
            .args(["-w", "-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(pg.dir.path().join("log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {out:?}");
        Some(pg)
    }

    fn psql(&self, db: &str, sql: &str) -> std::process::Output {
        let mut child = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(self.dir.path())
            .args(["-p", "5432", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

#[test]
fn init_job_sql_creates_the_table_and_role_and_runs_twice() {
    let sql = init_sql();
    let Some(pg) = Postgres::start() else {
        return;
    };
    let out = pg.psql("postgres", "CREATE DATABASE customer;");
    assert!(out.status.success(), "{out:?}");
    for run in 1..=2 {
        let out = pg.psql("customer", &sql);
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What PostgREST does for POST then GET /customer, as the anonymous role.
    let out = pg.psql(
        "customer",
        "SET ROLE web_anon;\n\
         INSERT INTO customer (name, email) VALUES ('Ada Lovelace', 'ada@example.com');\n\
         INSERT INTO customer (name) VALUES ('Alan Turing');\n\
         SELECT id || ':' || name FROM customer ORDER BY id;\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1:Ada Lovelace\n2:Alan Turing"
    );
    // Read and insert only: the anonymous role cannot delete customers.
    let out = pg.psql("customer", "SET ROLE web_anon; DELETE FROM customer;");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
}

// --- solutions that write a file -------------------------------------------

/// The files a step's solution writes with `cat > NAME <<'EOF'`, parsed.
fn written_files(
    course: &kubetutor::course::Course,
    lang: kubetutor::lesson::Lang,
    lesson: &str,
    step: &str,
) -> Vec<(String, serde_json::Value)> {
    let l = course.lesson(lang, lesson).unwrap();
    let sol = &l.step(step).unwrap().solution.as_ref().unwrap().source;
    let mut out = Vec::new();
    let mut rest = sol.as_str();
    while let Some((_, after)) = rest.split_once("cat > ") {
        let (name, after) = after.split_once(" <<'EOF'\n").unwrap();
        let (body, after) = after.split_once("\nEOF\n").unwrap();
        let value: serde_json::Value =
            serde_saphyr::from_str(body).unwrap_or_else(|e| panic!("{lesson}/{step}: {name}: {e}"));
        out.push((name.to_string(), value));
        rest = after;
    }
    out
}

#[test]
fn edited_files_of_the_solutions_are_right_and_the_same_in_both_languages() {
    use kubetutor::lesson::Lang;
    let course = kubetutor::course::Course::embedded().unwrap();
    let cases = [
        ("emptydir-shared", "add-volume", "crawler.yaml"),
        ("emptydir-shared", "fix-ports", "crawler.yaml"),
        (
            "persistent-volume-claims",
            "write-claim",
            "msg-api-pvc.yaml",
        ),
        ("attach-persistent-volume", "mount", "msg-api.yaml"),
    ];
    let mut by_step = std::collections::HashMap::new();
    for (lesson, step, file) in cases {
        let en = written_files(&course, Lang::En, lesson, step);
        let fr = written_files(&course, Lang::Fr, lesson, step);
        assert_eq!(en, fr, "{lesson}/{step}");
        assert_eq!(en.len(), 1, "{lesson}/{step}");
        assert_eq!(en[0].0, file);
        by_step.insert(step, en[0].1.clone());
    }

    // Lesson 02: three containers sharing cache-volume at /cache.
    for step in ["add-volume", "fix-ports"] {
        let spec = &by_step[step]["spec"]["template"]["spec"];
        let names: Vec<_> = spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["crawler-1", "crawler-2", "crawler-3"], "{step}");
        assert_eq!(spec["volumes"][1]["name"], "cache-volume");
        assert!(spec["volumes"][1]["emptyDir"].is_object());
        for c in spec["containers"].as_array().unwrap() {
            assert!(
                c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["name"] == "cache-volume" && m["mountPath"] == "/cache"),
                "{step}: {}",
                c["name"]
            );
        }
    }
    let fixed = &by_step["fix-ports"]["spec"]["template"]["spec"]["containers"];
    for (i, port_key) in [(1, "CRAWLER_PORT_2"), (2, "CRAWLER_PORT_3")] {
        let c = &fixed[i];
        assert!(c.get("envFrom").is_none());
        let from = |name: &str| env_of(c, name)["valueFrom"]["configMapKeyRef"].clone();
        assert_eq!(from("CRAWLER_PORT")["key"], port_key);
        assert_eq!(from("CRAWLER_DB_PATH")["key"], "CRAWLER_DB_PATH");
        assert_eq!(from("CRAWLER_KEYWORDS")["key"], "CRAWLER_KEYWORDS");
    }

    // Lesson 03: the template with its placeholders filled in.
    let claim = &by_step["write-claim"];
    assert_eq!(claim, &yaml_docs("assets/04-persist/pvc.yaml")[0]);

    // Lesson 04: lesson 04's Deployment plus the claim mounted at /persist.
    let mut expected = yaml_docs("assets/04-persist/deployment.yaml")[0].clone();
    let spec = &mut expected["spec"]["template"]["spec"];
    spec["volumes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"name": "msg-api-volume", "persistentVolumeClaim": {"claimName": "msg-api-pvc"}}
        ));
    spec["containers"][0]["volumeMounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "msg-api-volume", "mountPath": "/persist"}));
    assert_eq!(by_step["mount"], expected);
}

/// Both Python apps run as process 1 of their container, where SIGTERM has
/// no default action: they must exit on it themselves, with 128 + 15.
#[test]
fn python_apps_exit_on_sigterm() {
    if !has("python3") || !has("kill") {
        eprintln!("notice: python3 or kill not found, skipping the SIGTERM test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, asset_path, port_var) in [
        ("crawler.py", CRAWLER, "CRAWLER_PORT"),
        ("msg_api.py", "assets/01-ephemeral/msg_api.py", "API_PORT"),
    ] {
        let script = dir.path().join(name);
        std::fs::write(&script, asset(asset_path)).unwrap();
        let port = free_port();
        let mut child = Command::new("python3")
            .arg(&script)
            .env(port_var, port.to_string())
            .env_remove("CRAWLER_DB_PATH")
            .env_remove("API_DB_FILEPATH")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        eventually("the app listens", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(143), "{name}");
    }
}
