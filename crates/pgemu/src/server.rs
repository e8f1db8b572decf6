//! The `postgres` image's process: the entrypoint (initdb on an empty
//! `PGDATA`, the superuser password from `POSTGRES_PASSWORD`, the database
//! `POSTGRES_DB`, the image's log lines), then a server on port 5432 that
//! speaks the wire protocol, one task per connection.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::engine::{self, DbError, Engine, InitOptions, Notification, Outcome, Session};
use crate::{Container, ListenError, Log, wire};

/// The default data directory of the image.
pub const DEFAULT_PGDATA: &str = "/var/lib/postgresql/data";
const PORT: u16 = 5432;
const ENTRYPOINT: &str = "/usr/local/bin/docker-entrypoint.sh";

/// Whether the postgres image runs its server for this command line
/// (the default `postgres`, or the entrypoint with `postgres` args).
pub fn runs_server(argv: &[String]) -> bool {
    match argv.first() {
        None => true,
        Some(first) => {
            let base = first.rsplit('/').next().unwrap_or(first);
            base == "postgres" || base == "docker-entrypoint.sh" || first.starts_with('-')
        }
    }
}

/// Data directories with a running server (the `postmaster.pid` lock).
fn running() -> &'static Mutex<HashSet<PathBuf>> {
    static RUNNING: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    RUNNING.get_or_init(Mutex::default)
}

/// Releases the data directory lock when the server ends, however it ends.
struct DirLock(PathBuf);

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Ok(mut set) = running().lock() {
            set.remove(&self.0);
        }
        let _ = std::fs::remove_file(self.0.join("postmaster.pid"));
    }
}

/// `2026-12-04 13:00:04.172 UTC [1] LOG:  ...`: the server's log prefix.
fn stamp() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    format!("{} UTC", now.strftime("%Y-%m-%d %H:%M:%S%.3f"))
}

fn server_log(log: &Log, pid: i32, level: &str, message: &str) {
    log(&format!("{} [{pid}] {level}:  {message}", stamp()));
}

/// The image's entrypoint and server, until `stop` fires: its exit code.
pub async fn run(ctx: Container, stop: CancellationToken) -> i32 {
    let log = Arc::clone(&ctx.log);
    let pgdata = ctx
        .env_var("PGDATA")
        .filter(|p| !p.is_empty())
        .unwrap_or(DEFAULT_PGDATA)
        .to_string();
    let superuser = ctx
        .env_var("POSTGRES_USER")
        .filter(|u| !u.is_empty())
        .unwrap_or("postgres")
        .to_string();
    let database = ctx
        .env_var("POSTGRES_DB")
        .filter(|d| !d.is_empty())
        .unwrap_or(&superuser)
        .to_string();
    let password = ctx
        .env_var("POSTGRES_PASSWORD")
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let trust = ctx.env_var("POSTGRES_HOST_AUTH_METHOD") == Some("trust");

    let dir = match (ctx.resolve)(&pgdata) {
        Ok(dir) => dir,
        Err(e) => {
            log(&format!("mkdir: can't create directory '{pgdata}': {e}"));
            return 1;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        log(&format!("mkdir: can't create directory '{pgdata}': {e}"));
        return 1;
    }
    let initialized = std::fs::metadata(dir.join("PG_VERSION")).is_ok_and(|m| m.len() > 0);
    if !initialized {
        if password.is_none() && !trust {
            for line in NO_PASSWORD.lines() {
                log(line);
            }
            return 1;
        }
        for line in INITDB_HEADER.lines() {
            log(line);
        }
        if let Some(problem) = not_empty(&dir) {
            log(&format!(
                "initdb: error: directory \"{pgdata}\" exists but is not empty"
            ));
            match problem {
                NotEmpty::LostFound | NotEmpty::DotFile => {
                    let what = if problem == NotEmpty::LostFound {
                        "a lost+found directory"
                    } else {
                        "a dot-prefixed/invisible file"
                    };
                    log(&format!(
                        "initdb: detail: It contains {what}, perhaps due to it being a mount point."
                    ));
                    log(
                        "initdb: hint: Using a mount point directly as the data directory is not recommended.",
                    );
                    log("Create a subdirectory under the mount point.");
                }
                NotEmpty::Other => log(&format!(
                    "initdb: hint: If you want to create a new database system, either remove or empty the directory \"{pgdata}\" or run initdb with an argument other than \"{pgdata}\"."
                )),
            }
            return 1;
        }
        let opts = InitOptions {
            superuser: &superuser,
            password: password.as_deref(),
            database: &database,
        };
        let dir2 = dir.clone();
        let init = {
            let su = superuser.clone();
            let pw = password.clone();
            let db = database.clone();
            let _ = opts;
            tokio::task::spawn_blocking(move || {
                Engine::init(
                    &dir2,
                    &InitOptions {
                        superuser: &su,
                        password: pw.as_deref(),
                        database: &db,
                    },
                )
            })
            .await
        };
        match init {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log(&format!(
                    "initdb: error: could not create directory \"{pgdata}\": {e}"
                ));
                return 1;
            }
            Err(_) => return 1,
        }
        log(&format!(
            "fixing permissions on existing directory {pgdata} ... ok"
        ));
        for line in INITDB_STEPS.lines() {
            log(line);
        }
        log(&format!("    pg_ctl -D {pgdata} -l logfile start"));
        log("");
        log("initdb: warning: enabling \"trust\" authentication for local connections");
        log(
            "initdb: hint: You can change this by editing pg_hba.conf or using the option -A, or --auth-local and --auth-host, the next time you run initdb.",
        );
        let pid = 48;
        log(&format!(
            "waiting for server to start....{} [{pid}] LOG:  starting {}",
            stamp(),
            engine::VERSION_STRING
        ));
        server_log(
            &log,
            pid,
            "LOG",
            "listening on Unix socket \"/var/run/postgresql/.s.PGSQL.5432\"",
        );
        server_log(
            &log,
            pid + 3,
            "LOG",
            &format!("database system was shut down at {}", now_seconds()),
        );
        server_log(
            &log,
            pid,
            "LOG",
            "database system is ready to accept connections",
        );
        log(" done");
        log("server started");
        if database != "postgres" {
            log("CREATE DATABASE");
            log("");
        }
        if ctx.init_scripts.is_empty() {
            log("");
            log(&format!(
                "{ENTRYPOINT}: ignoring /docker-entrypoint-initdb.d/*"
            ));
            log("");
        } else {
            let code = run_init_scripts(&dir, &superuser, &database, &ctx.init_scripts, &log).await;
            if code != 0 {
                // `set -e`: the entrypoint stops with psql's status; the
                // half-made cluster stays (the next start skips initdb).
                return code;
            }
        }
        log(&format!(
            "waiting for server to shut down...{} [{pid}] LOG:  received fast shutdown request",
            stamp()
        ));
        server_log(&log, pid, "LOG", "aborting any active transactions");
        server_log(
            &log,
            pid,
            "LOG",
            "background worker \"logical replication launcher\" (PID 54) exited with exit code 1",
        );
        server_log(&log, pid + 1, "LOG", "shutting down");
        server_log(
            &log,
            pid + 1,
            "LOG",
            "checkpoint starting: shutdown immediate",
        );
        server_log(
            &log,
            pid + 1,
            "LOG",
            "checkpoint complete: wrote 926 buffers (5.7%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.012 s, sync=0.002 s, total=0.018 s; sync files=0, longest=0.000 s, average=0.000 s; distance=4260 kB, estimate=4260 kB; lsn=0/1913D38, redo lsn=0/1913D38",
        );
        server_log(&log, pid, "LOG", "database system is shut down");
        log(" done");
        log("server stopped");
        log("");
        log("PostgreSQL init process complete; ready for start up.");
        log("");
    } else {
        log("");
        log("PostgreSQL Database directory appears to contain a database; Skipping initialization");
        log("");
    }

    // One server per data directory, as postmaster.pid enforces.
    let key = std::fs::canonicalize(&dir).unwrap_or(dir.clone());
    let locked = running()
        .lock()
        .map(|mut set| set.insert(key.clone()))
        .unwrap_or(false);
    if !locked {
        server_log(
            &log,
            1,
            "FATAL",
            "lock file \"postmaster.pid\" already exists",
        );
        server_log(
            &log,
            1,
            "HINT",
            &format!("Is another postmaster (PID 1) running in data directory \"{pgdata}\"?"),
        );
        return 1;
    }
    let lock = DirLock(key);
    let _ = std::fs::write(
        dir.join("postmaster.pid"),
        format!(
            "1\n{pgdata}\n{}\n5432\n/var/run/postgresql\n*\n",
            jiff::Timestamp::now().as_second()
        ),
    );
    let open_dir = dir.clone();
    let engine = match tokio::task::spawn_blocking(move || Engine::open(&open_dir)).await {
        Ok(Ok(e)) => e,
        Ok(Err(msg)) => {
            server_log(&log, 1, "FATAL", &msg);
            drop(lock);
            return 1;
        }
        Err(_) => return 1,
    };
    server_log(
        &log,
        1,
        "LOG",
        &format!("starting {}", engine::VERSION_STRING),
    );
    let bound = match ctx.listen.listen(PORT).await {
        Ok(b) => b,
        Err(ListenError::AddrInUse) => {
            server_log(
                &log,
                1,
                "LOG",
                "could not bind IPv4 address \"0.0.0.0\": Address in use",
            );
            server_log(
                &log,
                1,
                "HINT",
                "Is another postmaster already running on port 5432? If not, wait a few seconds and retry.",
            );
            server_log(&log, 1, "FATAL", "could not create any TCP/IP sockets");
            return 1;
        }
        Err(ListenError::Other(e)) => {
            server_log(&log, 1, "FATAL", &e);
            return 1;
        }
    };
    let listener = bound.listener;
    let port_guard = bound.guard;
    server_log(
        &log,
        1,
        "LOG",
        "listening on IPv4 address \"0.0.0.0\", port 5432",
    );
    server_log(
        &log,
        1,
        "LOG",
        "listening on IPv6 address \"::\", port 5432",
    );
    server_log(
        &log,
        1,
        "LOG",
        "listening on Unix socket \"/var/run/postgresql/.s.PGSQL.5432\"",
    );
    server_log(
        &log,
        28,
        "LOG",
        &format!("database system was shut down at {}", now_seconds()),
    );
    server_log(
        &log,
        1,
        "LOG",
        "database system is ready to accept connections",
    );

    let (notify, _) = broadcast::channel(64);
    let shared = Arc::new(Shared {
        engine: Arc::new(Mutex::new(engine)),
        notify,
        log: Arc::clone(&log),
        next_pid: AtomicI32::new(60),
        pgdata: pgdata.clone(),
    });
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                let stop = stop.clone();
                connections.spawn(connection(stream, shared, stop));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // The image stops with SIGINT: a fast shutdown.
    server_log(&log, 1, "LOG", "received fast shutdown request");
    server_log(&log, 1, "LOG", "aborting any active transactions");
    drop(listener);
    // Sessions end with "terminating connection due to administrator command".
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    server_log(
        &log,
        1,
        "LOG",
        "background worker \"logical replication launcher\" (PID 31) exited with exit code 1",
    );
    server_log(&log, 26, "LOG", "shutting down");
    server_log(&log, 26, "LOG", "checkpoint starting: shutdown immediate");
    server_log(
        &log,
        26,
        "LOG",
        "checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.002 s, sync=0.001 s, total=0.006 s; sync files=2, longest=0.001 s, average=0.001 s; distance=0 kB, estimate=0 kB; lsn=0/1913E10, redo lsn=0/1913E10",
    );
    server_log(&log, 1, "LOG", "database system is shut down");
    drop(port_guard);
    drop(lock);
    0
}

/// A network where only the entrypoint's temporary server answers (on
/// its socket, as `PGHOST=` makes psql use it).
struct TemporaryServer(std::net::SocketAddr);

impl crate::Network for TemporaryServer {
    fn local(&self, _port: u16) -> crate::Dial {
        crate::Dial::Open {
            addr: self.0,
            ip: "127.0.0.1".into(),
        }
    }

    fn dial(&self, _host: &str, _port: u16) -> crate::Dial {
        crate::Dial::NoSuchHost
    }
}

/// The entrypoint's `docker_process_init_files`: each `*.sql` run by `psql
/// -v ON_ERROR_STOP=1` against the new cluster (through a temporary server
/// only this process reaches), other files named and passed over. Its
/// status: 0, or psql's when a script failed.
async fn run_init_scripts(
    dir: &std::path::Path,
    superuser: &str,
    database: &str,
    scripts: &[crate::InitScript],
    log: &Log,
) -> i32 {
    let open_dir = dir.to_path_buf();
    let engine = match tokio::task::spawn_blocking(move || Engine::open(&open_dir)).await {
        Ok(Ok(e)) => e,
        Ok(Err(msg)) => {
            log(&format!("psql: error: {msg}"));
            return 2;
        }
        Err(_) => return 2,
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(l) => l,
        Err(e) => {
            log(&format!("psql: error: {e}"));
            return 2;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return 2;
    };
    let (notify, _) = broadcast::channel(64);
    let shared = Arc::new(Shared {
        engine: Arc::new(Mutex::new(engine)),
        notify,
        log: Arc::new(|_: &str| {}),
        next_pid: AtomicI32::new(50),
        pgdata: String::new(),
    });
    let stop = CancellationToken::new();
    let server = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        connections.spawn(connection(stream, Arc::clone(&shared), stop.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            connections.abort_all();
        })
    };
    log("");
    let mut code = 0;
    for script in scripts {
        let path = script.path.clone();
        if path.ends_with(".sql") {
            log(&format!("{ENTRYPOINT}: running {path}"));
            let args: Vec<String> = [
                "-v",
                "ON_ERROR_STOP=1",
                "--username",
                superuser,
                "--no-password",
                "--no-psqlrc",
                "--dbname",
                database,
                "-f",
                &path,
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            let content = script.content.clone();
            let ran = tokio::task::spawn_blocking(move || {
                let read = |_: &str| Ok(content.clone());
                let env = crate::clients::ProgramEnv {
                    var: &|_| None,
                    read_file: &read,
                    network: Some(&TemporaryServer(addr)),
                };
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let code = crate::clients::run("psql", &args, b"", &env, &mut out, &mut err);
                (code.unwrap_or(127), out, err)
            })
            .await;
            let (status, out, err) = ran.unwrap_or((2, Vec::new(), Vec::new()));
            for line in String::from_utf8_lossy(&out)
                .lines()
                .chain(String::from_utf8_lossy(&err).lines())
            {
                log(line);
            }
            if status != 0 {
                code = status;
                break;
            }
            log("");
        } else if path.ends_with(".sh") {
            let how = if script.executable {
                "running"
            } else {
                "sourcing"
            };
            log(&format!("{ENTRYPOINT}: {how} {path}"));
            log(&format!(
                "(the kubetutor sandbox runs .sql init scripts only: {path} was not run)"
            ));
        } else {
            log(&format!("{ENTRYPOINT}: ignoring {path}"));
        }
        log("");
    }
    stop.cancel();
    let _ = server.await;
    code
}

fn now_seconds() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    format!("{} UTC", now.strftime("%Y-%m-%d %H:%M:%S"))
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum NotEmpty {
    LostFound,
    DotFile,
    Other,
}

/// initdb's `pg_check_dir`: why a directory is not empty.
fn not_empty(dir: &std::path::Path) -> Option<NotEmpty> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let kind = if name == "lost+found" {
            NotEmpty::LostFound
        } else if name.starts_with('.') {
            NotEmpty::DotFile
        } else {
            return Some(NotEmpty::Other);
        };
        found.get_or_insert(kind);
    }
    found
}

const NO_PASSWORD: &str =
    "Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, \"-e POSTGRES_PASSWORD=password\" on \"docker run\".

       You may also use \"POSTGRES_HOST_AUTH_METHOD=trust\" to allow all
       connections without a password. This is *not* recommended.

       See PostgreSQL documentation about \"trust\":
       https://www.postgresql.org/docs/current/auth-trust.html";

const INITDB_HEADER: &str =
    "The files belonging to this database system will be owned by user \"postgres\".
This user must also own the server process.

The database cluster will be initialized with locale \"en_US.utf8\".
The default database encoding has accordingly been set to \"UTF8\".
The default text search configuration will be set to \"english\".

Data page checksums are disabled.
";

const INITDB_STEPS: &str = "creating subdirectories ... ok
selecting dynamic shared memory implementation ... posix
selecting default max_connections ... 100
selecting default shared_buffers ... 128MB
selecting default time zone ... UTC
creating configuration files ... ok
running bootstrap script ... ok
performing post-bootstrap initialization ... ok
syncing data to disk ... ok


Success. You can now start the database server using:
";

/// Everything the connections of one server share.
struct Shared {
    engine: Arc<Mutex<Engine>>,
    notify: broadcast::Sender<Notification>,
    log: Log,
    next_pid: AtomicI32,
    /// The container path of PGDATA (for `SHOW data_directory`).
    pgdata: String,
}

async fn read_startup(rd: &mut OwnedReadHalf) -> io::Result<(i32, Vec<u8>)> {
    let len = rd.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (8..=10_000).contains(l))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "invalid length of startup packet",
            )
        })?;
    let code = rd.read_i32().await?;
    let mut body = vec![0u8; len - 8];
    rd.read_exact(&mut body).await?;
    Ok((code, body))
}

async fn read_message(rd: &mut OwnedReadHalf) -> io::Result<(u8, Vec<u8>)> {
    let kind = rd.read_u8().await?;
    let len = rd.read_i32().await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=wire::MAX_MESSAGE).contains(l))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "invalid message length"))?;
    let mut body = vec![0u8; len - 4];
    rd.read_exact(&mut body).await?;
    Ok((kind, body))
}

async fn send(wr: &mut OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
    wr.write_all(bytes).await
}

/// One client connection: startup, authentication, then queries.
async fn connection(stream: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let pid = shared.next_pid.fetch_add(1, Ordering::Relaxed);
    // Startup: refuse TLS and GSS encryption, then the real startup packet.
    let params = loop {
        let Ok(Ok((code, body))) =
            tokio::time::timeout(std::time::Duration::from_secs(60), read_startup(&mut rd)).await
        else {
            return;
        };
        match code {
            wire::SSL_REQUEST | wire::GSSENC_REQUEST => {
                if send(&mut wr, b"N").await.is_err() {
                    return;
                }
            }
            wire::PROTOCOL_V3 => break wire::startup_params(&body),
            wire::CANCEL_REQUEST => return,
            other => {
                let e = DbError::fatal(
                    "0A000",
                    format!(
                        "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                        other >> 16,
                        other & 0xffff
                    ),
                );
                let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
                return;
            }
        }
    };
    let Some(user) = params.get("user").cloned().filter(|u| !u.is_empty()) else {
        let e = DbError::fatal(
            "28000",
            "no PostgreSQL user name specified in startup packet",
        );
        let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
        return;
    };
    let database = params
        .get("database")
        .cloned()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());
    let local = params.get(wire::LOCAL_PARAM).map(String::as_str) == Some("1");
    let password = if local {
        None
    } else {
        // host all all all scram-sha-256: the password is checked (sent in
        // clear here; the emulation never leaves loopback).
        let ask = wire::Msg::new(b'R').i32(3).encode();
        if send(&mut wr, &ask).await.is_err() {
            return;
        }
        match tokio::time::timeout(std::time::Duration::from_secs(60), read_message(&mut rd)).await
        {
            Ok(Ok((b'p', body))) => Some(wire::Reader::new(&body).cstr().unwrap_or_default()),
            // The client hung up when asked (libpq without a password).
            _ => return,
        }
    };
    let auth = shared
        .engine
        .lock()
        .map_err(|_| DbError::fatal("XX000", "the server is unavailable"))
        .and_then(|e| e.authenticate(&user, &database, password.as_deref()));
    if let Err(e) = auth {
        server_log(&shared.log, pid, "FATAL", &e.message);
        if e.code == "28P01" {
            server_log(
                &shared.log,
                pid,
                "DETAIL",
                &format!(
                    "Connection matched file \"{}/pg_hba.conf\" line 128: \"host all all all scram-sha-256\"",
                    shared.pgdata
                ),
            );
        }
        let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
        return;
    }
    let superuser = shared
        .engine
        .lock()
        .map(|e| e.is_superuser(&user))
        .unwrap_or(false);
    let mut hello = wire::Msg::new(b'R').i32(0).encode();
    let app = params.get("application_name").cloned().unwrap_or_default();
    for (k, v) in [
        ("application_name", app.as_str()),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("default_transaction_read_only", "off"),
        ("in_hot_standby", "off"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", if superuser { "on" } else { "off" }),
        ("scram_iterations", "4096"),
        ("server_encoding", "UTF8"),
        ("server_version", engine::SERVER_VERSION),
        ("session_authorization", user.as_str()),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "Etc/UTC"),
    ] {
        hello.extend(wire::Msg::new(b'S').cstr(k).cstr(v).encode());
    }
    hello.extend(
        wire::Msg::new(b'K')
            .i32(pid)
            .i32(rand::random::<i32>())
            .encode(),
    );
    hello.extend(wire::Msg::new(b'Z').u8(b'I').encode());
    if send(&mut wr, &hello).await.is_err() {
        return;
    }

    let mut session = Session::new(&user, &database, pid);
    session.set_data_directory(&shared.pgdata);
    let mut notifications = shared.notify.subscribe();
    // Reading happens in its own task so that waiting for a message can be
    // interrupted by a notification or a shutdown without losing bytes.
    let (tx, mut rx) = mpsc::channel::<io::Result<(u8, Vec<u8>)>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let m = read_message(&mut rd).await;
            let failed = m.is_err();
            if tx.send(m).await.is_err() || failed {
                break;
            }
        }
    });
    // Extended-protocol messages are refused until the next Sync.
    let mut skipping = false;
    loop {
        let msg = tokio::select! {
            () = stop.cancelled() => {
                let e = DbError::fatal("57P01", "terminating connection due to administrator command");
                server_log(&shared.log, pid, "FATAL", &e.message);
                let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
                break;
            }
            n = notifications.recv(), if !session.listening.is_empty() => {
                if let Ok(n) = n
                    && n.database == session.database
                    && session.listening.contains(&n.channel)
                {
                    let m = wire::Msg::new(b'A').i32(n.sender_pid).cstr(&n.channel).cstr(&n.payload).encode();
                    if send(&mut wr, &m).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            m = rx.recv() => m,
        };
        let Some(Ok((kind, body))) = msg else { break };
        match kind {
            b'Q' => {
                let sql = wire::Reader::new(&body).cstr().unwrap_or_default();
                let engine = Arc::clone(&shared.engine);
                let sql2 = sql.clone();
                let job = tokio::task::spawn_blocking(move || {
                    let result = match engine.lock() {
                        Ok(mut e) => e.run_query(&mut session, &sql2),
                        Err(_) => engine::QueryResult::default(),
                    };
                    (session, result)
                });
                let Ok((s, result)) = job.await else { break };
                session = s;
                let mut reply = Vec::new();
                if result.statements.is_empty() {
                    reply.extend(wire::Msg::new(b'I').encode());
                }
                for st in &result.statements {
                    for n in &st.notices {
                        reply.extend(wire::notice_message(n));
                    }
                    match &st.result {
                        Ok(Outcome::Command(tag)) => {
                            reply.extend(wire::Msg::new(b'C').cstr(tag).encode());
                        }
                        Ok(Outcome::Rows { columns, rows, tag }) => {
                            let mut desc = wire::Msg::new(b'T').i16(columns.len() as i16);
                            for c in columns {
                                desc = desc
                                    .cstr(&c.name)
                                    .i32(0)
                                    .i16(0)
                                    .i32(c.ty.oid() as i32)
                                    .i16(c.ty.typlen())
                                    .i32(-1)
                                    .i16(0);
                            }
                            reply.extend(desc.encode());
                            for row in rows {
                                let mut d = wire::Msg::new(b'D').i16(row.len() as i16);
                                for v in row {
                                    match v.to_text() {
                                        Some(t) => d = d.i32(t.len() as i32).bytes(t.as_bytes()),
                                        None => d = d.i32(-1),
                                    }
                                }
                                reply.extend(d.encode());
                            }
                            reply.extend(wire::Msg::new(b'C').cstr(tag).encode());
                        }
                        Err(e) => {
                            server_log(&shared.log, pid, e.severity, &e.message);
                            server_log(&shared.log, pid, "STATEMENT", sql.trim());
                            reply.extend(wire::error_message(b'E', e));
                        }
                    }
                }
                reply.extend(
                    wire::Msg::new(b'Z')
                        .u8(session.transaction_status())
                        .encode(),
                );
                if send(&mut wr, &reply).await.is_err() {
                    break;
                }
                for n in result.notifications {
                    let _ = shared.notify.send(n);
                }
            }
            b'X' => break,
            b'S' => {
                skipping = false;
                let z = wire::Msg::new(b'Z')
                    .u8(session.transaction_status())
                    .encode();
                if send(&mut wr, &z).await.is_err() {
                    break;
                }
            }
            b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => {
                if !skipping {
                    skipping = true;
                    let e = DbError::new(
                        "0A000",
                        "the kubetutor sandbox's PostgreSQL emulation speaks only the simple query protocol (use psql)",
                    );
                    let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
                }
            }
            other => {
                let e = DbError::fatal("08P01", format!("invalid frontend message type {other}"));
                let _ = send(&mut wr, &wire::error_message(b'E', &e)).await;
                break;
            }
        }
    }
    reader.abort();
}
