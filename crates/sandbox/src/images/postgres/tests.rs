//! The emulated postgres image end to end: the entrypoint over a real
//! directory, the server over TCP, psql and pg_isready through the mini
//! shell (the course's init Job script included), and the data's fate.

use std::time::Duration;

use crate::images::tests::Harness;
use crate::images::{self, AppContext, AppHandle};
use crate::network::podnet::PodNetwork;
use crate::shell::Container;
use crate::shell::userland::Userland;
use pgemu::wire::{Client, ConnectOptions, Endpoint, Reply};

const INIT_JOB: &str = r#"until pg_isready; do echo "waiting for customer-db"; sleep 2; done
psql -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS customer (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now()
);
DO $do$
BEGIN
  CREATE ROLE web_anon NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
  RAISE NOTICE 'role web_anon already exists';
END
$do$;
GRANT USAGE ON SCHEMA public TO web_anon;
GRANT SELECT, INSERT ON customer TO web_anon;
GRANT USAGE ON SEQUENCE customer_id_seq TO web_anon;
NOTIFY pgrst, 'reload schema';
SQL
echo "customer table ready"
"#;

fn db_ctx(h: &Harness, pod: &str, env: &[(&str, &str)]) -> AppContext {
    let mut ctx = h.ctx(pod, "postgres", "postgres:16-alpine", &[]);
    ctx.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ctx
}

/// The server's own "ready" line (the entrypoint's temporary server, pid
/// 48, says it too, before the real one listens).
const READY: &str = "[1] LOG:  database system is ready to accept connections";

async fn wait_for_log(h: &Harness, needle: &str) {
    for _ in 0..400 {
        if h.log().iter().any(|l| l.contains(needle)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no log line with {needle:?} in {:#?}", h.log());
}

fn start_db(h: &Harness, pod: &str) -> AppHandle {
    let ctx = db_ctx(
        h,
        pod,
        &[("POSTGRES_DB", "customer"), ("POSTGRES_PASSWORD", "secret")],
    );
    images::start(images::select(&ctx.image, &ctx.command, &ctx.args), ctx)
}

/// Another container of the same pod (psql over the "socket").
fn shell_in(h: &Harness, pod: &str, env: &[(&str, &str)]) -> Container {
    let ctx = h.ctx(pod, "psql", "postgres:16-alpine", &[]);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Container::new(ctx.fs, crate::images::userland("postgres:16-alpine"), pod)
        .with_env(env)
        .with_network(PodNetwork::isolated(h.netns.clone(), pod))
        .with_sleep_hook(std::sync::Arc::new(|_| Duration::ZERO))
}

async fn sh(shell: Container, script: &str) -> (String, String, i32) {
    let script = script.to_string();
    tokio::task::spawn_blocking(move || {
        let out = shell.run(&["sh".into(), "-c".into(), script], b"");
        (out.stdout_text(), out.stderr_text(), out.exit_code)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entrypoint_initializes_serves_and_keeps_data_in_pgdata() {
    let h = Harness::new();
    let db = start_db(&h, "db1");
    wait_for_log(&h, READY).await;
    let log = h.log();
    assert!(
        log.iter()
            .any(|l| l == "PostgreSQL init process complete; ready for start up.")
    );
    assert!(
        log.iter().any(|l| l == "CREATE DATABASE"),
        "POSTGRES_DB is created"
    );
    let pgdata = h
        .root
        .container_rootfs("db1", "postgres")
        .unwrap()
        .join("var/lib/postgresql/data");
    assert_eq!(
        std::fs::read_to_string(pgdata.join("PG_VERSION")).unwrap(),
        "16\n"
    );

    // The init Job's script, as the Job's container runs it (same pod here).
    let (out, err, code) = sh(
        shell_in(
            &h,
            "db1",
            &[("PGUSER", "postgres"), ("PGDATABASE", "customer")],
        ),
        INIT_JOB,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "/var/run/postgresql:5432 - accepting connections\nCREATE TABLE\nDO\nGRANT\nGRANT\nGRANT\nNOTIFY\ncustomer table ready\n"
    );
    assert_eq!(err, "");
    // Again: every statement tolerates what exists.
    let (out, err, code) = sh(
        shell_in(
            &h,
            "db1",
            &[("PGUSER", "postgres"), ("PGDATABASE", "customer")],
        ),
        INIT_JOB,
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.contains("CREATE TABLE\nDO\n"), "{out}");
    assert_eq!(
        err,
        "NOTICE:  relation \"customer\" already exists, skipping\nNOTICE:  role web_anon already exists\n"
    );

    // Over TCP a password is needed; a wrong one is refused as upstream says.
    let addr = Endpoint::Tcp(h.netns.lookup("db1", 5432).unwrap());
    let opts = |pw: &str| ConnectOptions {
        user: "postgres".into(),
        database: "customer".into(),
        password: Some(pw.into()),
        application_name: "test".into(),
        timeout: Duration::from_secs(5),
    };
    let tcp = addr.clone();
    let bad = tokio::task::spawn_blocking(move || Client::connect(&tcp, &opts("nope")).err())
        .await
        .unwrap();
    assert!(
        matches!(bad, Some(pgemu::wire::ConnectError::Server(ref m)) if m.message == "password authentication failed for user \"postgres\""),
        "{bad:?}"
    );
    let replies = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&addr, &opts("secret")).unwrap();
        c.simple_query("INSERT INTO customer (name) VALUES ('Ada'), ('Alan'); SELECT name FROM customer ORDER BY id")
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        matches!(&replies[1], Reply::Rows { rows, .. } if rows.len() == 2),
        "{replies:?}"
    );

    // psql's aligned output, as `kubectl exec ... psql -c` shows it.
    let (out, _, code) = sh(
        shell_in(&h, "db1", &[]),
        "psql -U postgres -d customer -c 'SELECT id, name, email FROM customer'",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        " id | name | email \n----+------+-------\n  1 | Ada  | \n  2 | Alan | \n(2 rows)\n\n"
    );
    let (_, err, code) = sh(shell_in(&h, "db1", &[]), "psql -c 'select 1'").await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  role \"root\" does not exist\n"
    );
    let (_, err, code) = sh(
        shell_in(&h, "db1", &[]),
        "psql -U postgres customer -c 'SELEC 1'",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "ERROR:  syntax error at or near \"SELEC\"\nLINE 1: SELEC 1\n        ^\n"
    );

    // A restart on the same directory finds the data.
    assert_eq!(db.stop().await, 0);
    assert!(
        h.log()
            .iter()
            .any(|l| l.ends_with("LOG:  database system is shut down"))
    );
    assert_eq!(h.netns.lookup("db1", 5432), None);
    let _db = start_db(&h, "db1");
    wait_for_log(&h, "Skipping initialization").await;
    // The first server's line is in the log too: wait for the second one.
    for _ in 0..400 {
        let listening = h.log().iter().filter(|l| l.contains(READY)).count();
        if listening >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (out, _, _) = sh(
        shell_in(&h, "db1", &[]),
        "psql -U postgres -d customer -tAc 'select count(*) from customer'",
    )
    .await;
    assert_eq!(out, "2\n");
}

/// A raw TCP login, as any process of the machine could try it: the
/// startup parameters it likes, then SCRAM with `password` if asked.
fn raw_login(
    addr: std::net::SocketAddr,
    params: &[(&str, &str)],
    password: &str,
) -> Vec<(u8, Vec<u8>)> {
    use pgemu::wire::{Msg, read_message};
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut startup = Msg::new(0).i32(196_608);
    for (k, v) in params {
        startup = startup.cstr(k).cstr(v);
    }
    s.write_all(&startup.u8(0).encode()).unwrap();
    let mut seen = Vec::new();
    let mut scram = pgemu::scram::ClientExchange::new(password);
    loop {
        let Ok((kind, body)) = read_message(&mut s) else {
            return seen;
        };
        seen.push((kind, body.clone()));
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let reply = match (kind, code) {
            (b'R', 10) => {
                let first = scram.client_first();
                Msg::new(b'p')
                    .cstr("SCRAM-SHA-256")
                    .i32(first.len() as i32)
                    .bytes(first.as_bytes())
                    .encode()
            }
            (b'R', 11) => {
                let fin = scram.server_first(&body[4..]).unwrap();
                Msg::new(b'p').bytes(fin.as_bytes()).encode()
            }
            (b'R', 12) => continue,
            (b'R', 0) => continue,
            _ => return seen,
        };
        s.write_all(&reply).unwrap();
    }
}

fn error_text(body: &[u8]) -> String {
    pgemu::wire::ServerMessage::parse(body).message
}

/// Trust goes to what only the pod reaches: the Unix socket and the pod's
/// own `localhost`, both Unix sockets in a directory no other user of the
/// machine may enter. The pod's TCP port (which any local process can
/// reach on the host's loopback) always asks for the password, whatever a
/// client puts in its startup packet.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_pod_itself_is_trusted() {
    use std::os::unix::fs::PermissionsExt as _;
    let h = Harness::new();
    let _db = start_db(&h, "db2");
    wait_for_log(&h, READY).await;
    let dir = h.root.sockets_dir();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
    for name in [".s.PGSQL.5432", "lo.5432"] {
        let path = h.netns.socket_path("db2", name).unwrap();
        assert!(path.starts_with(&dir), "{}", path.display());
    }

    // Claiming to be local over TCP gets a SCRAM challenge, and a wrong
    // password gets PostgreSQL's refusal.
    let addr = h.netns.lookup("db2", 5432).unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        raw_login(
            addr,
            &[
                ("user", "postgres"),
                ("database", "customer"),
                ("kubetutor.local_socket", "1"),
            ],
            "wrong",
        )
    })
    .await
    .unwrap();
    assert_eq!(seen[0].0, b'R');
    assert_eq!(&seen[0].1[..4], &10i32.to_be_bytes(), "AuthenticationSASL");
    assert_eq!(&seen[0].1[4..], b"SCRAM-SHA-256\0\0");
    let last = seen.last().unwrap();
    assert_eq!(last.0, b'E');
    assert_eq!(
        error_text(&last.1),
        "password authentication failed for user \"postgres\""
    );
    assert!(
        !seen
            .iter()
            .any(|(k, b)| *k == b'R' && b[..4] == 0i32.to_be_bytes())
    );
    let log = h.log().join("\n");
    assert!(
        log.contains("FATAL:  password authentication failed for user \"postgres\"")
            && log.contains("DETAIL:  Connection matched file \"/var/lib/postgresql/data/pg_hba.conf\" line 45: \"host all all all scram-sha-256\""),
        "{log}"
    );
    // No password at all: libpq's own refusal to go on.
    let tcp = Endpoint::Tcp(addr);
    let none = tokio::task::spawn_blocking(move || {
        let opts = ConnectOptions {
            user: "postgres".into(),
            database: "customer".into(),
            password: None,
            application_name: "test".into(),
            timeout: Duration::from_secs(5),
        };
        Client::connect(&tcp, &opts).err()
    })
    .await
    .unwrap();
    assert!(
        matches!(none, Some(pgemu::wire::ConnectError::NoPassword)),
        "{none:?}"
    );

    // In the pod: the socket and localhost need no password.
    for host in ["", "-h /var/run/postgresql", "-h localhost", "-h 127.0.0.1"] {
        let (out, err, code) = sh(
            shell_in(&h, "db2", &[]),
            &format!("psql {host} -U postgres -d customer -tAc 'SELECT current_user'"),
        )
        .await;
        assert_eq!(
            (out.as_str(), err.as_str(), code),
            ("postgres\n", "", 0),
            "{host}"
        );
    }
    let (_, err, code) = sh(
        shell_in(&h, "db2", &[]),
        "psql -h /tmp -U postgres -c 'select 1'",
    )
    .await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "psql: error: connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such file or directory\n\tIs the server running locally and accepting connections on that socket?\n"
    );
    // Another pod's localhost is its own: nothing listens there.
    let (_, err, code) = sh(
        shell_in(&h, "other", &[]),
        "psql -h localhost -U postgres -c 'select 1'",
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("Connection refused"), "{err}");
}

/// The learner's own `pg_hba.conf` rules, applied from the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_hba_conf_decides_and_its_errors_stop_the_server() {
    let h = Harness::new();
    let db = start_db(&h, "db3");
    wait_for_log(&h, READY).await;
    let (_, err, code) = sh(
        shell_in(&h, "db3", &[]),
        "psql -U postgres -d customer -c \"CREATE ROLE app LOGIN PASSWORD 'apppw'\"",
    )
    .await;
    assert_eq!((err.as_str(), code), ("", 0));
    assert_eq!(db.stop().await, 0);
    let pgdata = h
        .root
        .container_rootfs("db3", "postgres")
        .unwrap()
        .join("var/lib/postgresql/data");
    std::fs::write(
        pgdata.join("pg_hba.conf"),
        "local all postgres scram-sha-256\nlocal all all trust\nhost all postgres 127.0.0.1/32 md5\nhost all all all reject\n",
    )
    .unwrap();
    let db = start_db(&h, "db3");
    for _ in 0..400 {
        if h.log().iter().filter(|l| l.contains(READY)).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let psql = |env: &[(&str, &str)], args: &str| {
        let shell = shell_in(&h, "db3", env);
        let script = format!("psql -d customer -tAc 'SELECT current_user' {args}");
        async move { sh(shell, &script).await }
    };
    let (_, err, code) = psql(&[], "-U postgres").await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: fe_sendauth: no password supplied\n"
    );
    // SCRAM over the socket, then md5 over the pod's loopback (the
    // verifier is SCRAM, so md5 means SCRAM, as in PostgreSQL).
    let (out, _, _) = psql(&[("PGPASSWORD", "secret")], "-U postgres").await;
    assert_eq!(out, "postgres\n");
    let (out, _, _) = psql(&[("PGPASSWORD", "secret")], "-U postgres -h localhost").await;
    assert_eq!(out, "postgres\n");
    let (out, _, _) = psql(&[], "-U app").await;
    assert_eq!(out, "app\n");
    let (_, err, _) = psql(&[("PGPASSWORD", "apppw")], "-U app -h localhost").await;
    assert_eq!(
        err,
        "psql: error: connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app\", database \"customer\", no encryption\n"
    );
    let addr = Endpoint::Tcp(h.netns.lookup("db3", 5432).unwrap());
    let refused = tokio::task::spawn_blocking(move || {
        let opts = ConnectOptions {
            user: "postgres".into(),
            database: "customer".into(),
            password: Some("secret".into()),
            application_name: "test".into(),
            timeout: Duration::from_secs(5),
        };
        match Client::connect(&addr, &opts) {
            Err(pgemu::wire::ConnectError::Server(m)) => m.message,
            other => format!("{:?}", other.err()),
        }
    })
    .await
    .unwrap();
    assert_eq!(
        refused,
        "pg_hba.conf rejects connection for host \"10.244.0.1\", user \"postgres\", database \"customer\", no encryption"
    );

    // A broken file: the server says where, and does not start.
    assert_eq!(db.stop().await, 0);
    std::fs::write(
        pgdata.join("pg_hba.conf"),
        "local all all trust\nhost all all all sha1\n",
    )
    .unwrap();
    let code = start_db(&h, "db3").wait().await;
    assert_eq!(code, 1);
    let log = h.log().join("\n");
    assert!(
        log.contains("LOG:  invalid authentication method \"sha1\"")
            && log.contains(
                "CONTEXT:  line 2 of configuration file \"/var/lib/postgresql/data/pg_hba.conf\""
            )
            && log.contains("FATAL:  could not load /var/lib/postgresql/data/pg_hba.conf"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entrypoint_errors_are_the_images() {
    let h = Harness::new();
    let ctx = db_ctx(&h, "nopw", &[]);
    let code = images::start(images::select(&ctx.image, &ctx.command, &ctx.args), ctx)
        .wait()
        .await;
    assert_eq!(code, 1);
    assert_eq!(
        h.log()[0],
        "Error: Database is uninitialized and superuser password is not specified."
    );
    // A volume root with lost+found: initdb refuses it.
    let h = Harness::new();
    let ctx = db_ctx(&h, "lf", &[("POSTGRES_PASSWORD", "x"), ("PGDATA", "/data")]);
    let data = h.root.empty_dir("lf", "data").unwrap();
    std::fs::create_dir_all(data.join("lost+found")).unwrap();
    let code = images::start(images::select(&ctx.image, &ctx.command, &ctx.args), ctx)
        .wait()
        .await;
    assert_eq!(code, 1);
    let log = h.log().join("\n");
    assert!(log.contains("initdb: error: directory \"/data\" exists but is not empty\ninitdb: detail: It contains a lost+found directory"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_isready_reports_what_it_finds() {
    let h = Harness::new();
    let (out, _, code) = sh(shell_in(&h, "empty", &[]), "pg_isready").await;
    assert_eq!(
        (out.as_str(), code),
        ("/var/run/postgresql:5432 - no response\n", 2)
    );
    let (out, _, code) = sh(
        shell_in(&h, "empty", &[("PGHOST", "customer-db")]),
        "pg_isready -U postgres",
    )
    .await;
    assert_eq!(
        (out.as_str(), code),
        ("customer-db:5432 - no response\n", 2)
    );
    let (_, err, code) = sh(
        shell_in(&h, "empty", &[("PGHOST", "customer-db")]),
        "psql -c 'select 1'",
    )
    .await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "psql: error: could not translate host name \"customer-db\" to address: Name does not resolve\n"
    );
}

#[test]
fn heredocs_feed_stdin() {
    let h = Harness::new();
    let ctx = h.ctx("p", "c", "busybox", &[]);
    let shell = Container::new(ctx.fs, Userland::busybox(), "p")
        .with_env(vec![("WHO".to_string(), "ana".to_string())]);
    let out = shell.run(
        &[
            "sh".into(),
            "-c".into(),
            "cat <<EOF\nhi $WHO\nEOF\ncat <<'EOF'\nhi $WHO\nEOF\necho done >&2".into(),
        ],
        b"",
    );
    assert_eq!(out.stdout_text(), "hi ana\nhi $WHO\n");
    assert_eq!(out.stderr_text(), "done\n");
}

/// The real `psql` (the machine's PostgreSQL client), if there is one.
fn real_psql() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("psql"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("CI needs psql (Debian package postgresql-client) for the parity test");
        }
        eprintln!("notice: no psql on PATH, skipping the parity test with the real client");
    }
    found
}

/// Runs the real psql against `port` on 127.0.0.1 with a password.
async fn run_real_psql(
    psql: &std::path::Path,
    port: u16,
    password: Option<&str>,
    args: &[&str],
) -> (String, String, i32) {
    let mut cmd = std::process::Command::new(psql);
    cmd.arg("-X")
        .args(args)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "customer")
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICEFILE")
        .env("PGPASSFILE", "/nonexistent")
        .stdin(std::process::Stdio::null());
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    })
    .await
    .unwrap()
}

/// The real client logs in over TCP with SCRAM-SHA-256 (the only method
/// the image's `host all all all` record offers), and is refused as a real
/// server refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_psql_logs_in_with_scram() {
    let Some(psql) = real_psql() else { return };
    let h = Harness::new();
    let _db = start_db(&h, "scram");
    wait_for_log(&h, READY).await;
    let port = h.netns.lookup("scram", 5432).unwrap().port();
    let ok = run_real_psql(
        &psql,
        port,
        Some("secret"),
        &["-tAc", "SELECT current_user"],
    )
    .await;
    assert_eq!(ok, ("postgres\n".to_string(), String::new(), 0));
    let (_, err, code) = run_real_psql(&psql, port, Some("nope"), &["-c", "SELECT 1"]).await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "psql: error: connection to server at \"127.0.0.1\", port {port} failed: FATAL:  password authentication failed for user \"postgres\"\n"
        )
    );
    let (_, err, code) = run_real_psql(&psql, port, None, &["-w", "-c", "SELECT 1"]).await;
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "psql: error: connection to server at \"127.0.0.1\", port {port} failed: fe_sendauth: no password supplied\n"
        )
    );
    // The stored secret is the verifier, which the superuser may read.
    let (out, _, _) = run_real_psql(
        &psql,
        port,
        Some("secret"),
        &[
            "-tAc",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'",
        ],
    )
    .await;
    assert!(out.starts_with("SCRAM-SHA-256$4096:"), "{out}");
}

/// The same psql command lines through the real client (over TCP, with a
/// password) and through the emulated one (in the database's pod): the
/// emulated server speaks the protocol well enough for the real client,
/// and the emulated client prints what the real one prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_psql_and_emulated_psql_print_the_same() {
    let Some(psql) = real_psql() else { return };
    // Two servers with the same history: one for each client.
    let h = Harness::new();
    let _real_db = start_db(&h, "real");
    let _emulated_db = start_db(&h, "emu");
    for _ in 0..400 {
        if h.netns.lookup("real", 5432).is_some() && h.netns.lookup("emu", 5432).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let addr = h.netns.lookup("real", 5432).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "-c",
                "CREATE TABLE customer (id serial PRIMARY KEY, name text NOT NULL, email text)",
            ],
            "",
        ),
        (
            vec![
                "-c",
                "INSERT INTO customer (name, email) VALUES ('Ada', 'ada@example.com'), ('Alan', NULL) RETURNING id, name",
            ],
            "",
        ),
        (vec!["-c", "SELECT * FROM customer ORDER BY id"], ""),
        (vec!["-c", "SELECT id, name FROM customer WHERE id > 5"], ""),
        (vec!["-tAc", "SELECT count(*) FROM customer"], ""),
        (vec!["-c", "SELEC 1"], ""),
        (vec!["-c", "SELECT * FROM nope"], ""),
        (vec!["-c", "INSERT INTO customer (email) VALUES ('x')"], ""),
        (
            vec!["-v", "ON_ERROR_STOP=1"],
            "CREATE TABLE IF NOT EXISTS customer (id int);\nINSERT INTO customer (name) VALUES ('Grace');\nSELECT nope;\nSELECT 1;\n",
        ),
        (vec![], "SELECT name FROM customer ORDER BY id;\n"),
    ];
    for (args, stdin) in cases {
        let real = {
            let psql = psql.clone();
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let stdin = stdin.to_string();
            tokio::task::spawn_blocking(move || {
                use std::io::Write as _;
                let mut child = std::process::Command::new(psql)
                    .arg("-X")
                    .args(&args)
                    .env("PGHOST", "127.0.0.1")
                    .env("PGPORT", addr.port().to_string())
                    .env("PGUSER", "postgres")
                    .env("PGPASSWORD", "secret")
                    .env("PGDATABASE", "customer")
                    .env("PGSSLMODE", "prefer")
                    .env_remove("PGSERVICEFILE")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(stdin.as_bytes())
                    .unwrap();
                let out = child.wait_with_output().unwrap();
                (
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                    out.status.code().unwrap_or(-1),
                )
            })
            .await
            .unwrap()
        };
        let mut script = String::from("psql -X");
        for a in &args {
            script.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        }
        let emulated = {
            let shell = shell_in(
                &h,
                "emu",
                &[("PGUSER", "postgres"), ("PGDATABASE", "customer")],
            );
            let stdin = stdin.as_bytes().to_vec();
            tokio::task::spawn_blocking(move || {
                let out = shell.run(&["sh".into(), "-c".into(), script], &stdin);
                (out.stdout_text(), out.stderr_text(), out.exit_code)
            })
            .await
            .unwrap()
        };
        assert_eq!(emulated, real, "psql {args:?} with stdin {stdin:?}");
    }
}

/// The entrypoint's `chown postgres` and `chmod 700` of PGDATA, and the
/// server's files being postgres's; a file with an owner keeps it.
#[test]
fn the_data_directory_is_postgress() {
    use crate::hostfs::owners::{self, Owner};
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("base")).unwrap();
    std::fs::write(data.join("base/1.json"), "{}").unwrap();
    std::fs::write(data.join("mine"), "").unwrap();
    owners::set(&data.join("mine"), Owner { uid: 5, gid: 5 }).unwrap();
    let pg = super::postgres_user("postgres:16");
    assert_eq!(pg, Owner { uid: 999, gid: 999 });
    assert_eq!(super::postgres_user("postgres:16-alpine").uid, 70);
    super::give_untagged(&data, pg);
    assert_eq!(owners::get(&data), pg);
    assert_eq!(owners::get(&data.join("base/1.json")), pg);
    assert_eq!(owners::get(&data.join("mine")), Owner { uid: 5, gid: 5 });
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
}
