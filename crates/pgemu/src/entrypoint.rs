//! The image's `docker-entrypoint.sh` before the server runs: its
//! settings from the environment, and on an empty `PGDATA` the checks,
//! `initdb` (the cluster, the superuser's password, `pg_hba.conf` with the
//! entrypoint's `host all all all` record), `POSTGRES_DB`, and the log
//! lines of the temporary server it starts and stops meanwhile.

use std::path::{Path, PathBuf};

use crate::engine::{self, Engine, InitOptions};
use crate::{Container, Log};

/// The default data directory of the image.
pub const DEFAULT_PGDATA: &str = "/var/lib/postgresql/data";
pub(crate) const ENTRYPOINT: &str = "/usr/local/bin/docker-entrypoint.sh";

/// What the entrypoint reads from the environment.
pub(crate) struct Settings {
    /// The container path of the data directory.
    pub pgdata: String,
    pub superuser: String,
    pub database: String,
    pub password: Option<String>,
    /// `POSTGRES_HOST_AUTH_METHOD`, or `password_encryption`'s
    /// `scram-sha-256` when unset.
    pub host_auth_method: String,
}

impl Settings {
    pub fn from_env(ctx: &Container) -> Settings {
        let var = |k: &str| ctx.env_var(k).filter(|v| !v.is_empty());
        let superuser = var("POSTGRES_USER").unwrap_or("postgres").to_string();
        Settings {
            pgdata: var("PGDATA").unwrap_or(DEFAULT_PGDATA).to_string(),
            database: var("POSTGRES_DB").unwrap_or(&superuser).to_string(),
            password: var("POSTGRES_PASSWORD").map(str::to_string),
            host_auth_method: var("POSTGRES_HOST_AUTH_METHOD")
                .unwrap_or("scram-sha-256")
                .to_string(),
            superuser,
        }
    }
}

/// `2026-12-04 13:00:04.172 UTC`: the server's log time stamp.
pub(crate) fn stamp() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    format!("{} UTC", now.strftime("%Y-%m-%d %H:%M:%S%.3f"))
}

pub(crate) fn now_seconds() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    format!("{} UTC", now.strftime("%Y-%m-%d %H:%M:%S"))
}

/// One line of the server's log: `<stamp> [pid] LEVEL:  message`.
pub(crate) fn server_log(log: &Log, pid: i32, level: &str, message: &str) {
    log(&format!("{} [{pid}] {level}:  {message}", stamp()));
}

/// Makes sure `PGDATA` holds a cluster, initializing an empty one: the
/// host directory, or the exit code of a failed entrypoint.
pub(crate) async fn prepare(ctx: &Container, s: &Settings) -> Result<PathBuf, i32> {
    let log = &ctx.log;
    let pgdata = &s.pgdata;
    let dir = match (ctx.resolve)(pgdata) {
        Ok(dir) => dir,
        Err(e) => {
            log(&format!("mkdir: can't create directory '{pgdata}': {e}"));
            return Err(1);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        log(&format!("mkdir: can't create directory '{pgdata}': {e}"));
        return Err(1);
    }
    let initialized = std::fs::metadata(dir.join("PG_VERSION")).is_ok_and(|m| m.len() > 0);
    if initialized {
        log("");
        log("PostgreSQL Database directory appears to contain a database; Skipping initialization");
        log("");
    } else {
        initialize(ctx, &dir, s).await?;
    }
    Ok(dir)
}

/// The entrypoint's first run: checks, initdb, `POSTGRES_DB`.
async fn initialize(ctx: &Container, dir: &Path, s: &Settings) -> Result<(), i32> {
    let log = &ctx.log;
    let trust = s.host_auth_method == "trust";
    if s.password.is_none() && !trust {
        for line in NO_PASSWORD.lines() {
            log(line);
        }
        return Err(1);
    }
    if trust {
        for line in TRUST_WARNING.lines() {
            log(line);
        }
    }
    for line in INITDB_HEADER.lines() {
        log(line);
    }
    if let Some(problem) = not_empty(dir) {
        refuse_not_empty(log, &s.pgdata, problem);
        return Err(1);
    }
    let (dir2, su, pw, db, method) = (
        dir.to_path_buf(),
        s.superuser.clone(),
        s.password.clone(),
        s.database.clone(),
        s.host_auth_method.clone(),
    );
    let init = tokio::task::spawn_blocking(move || {
        Engine::init(
            &dir2,
            &InitOptions {
                superuser: &su,
                password: pw.as_deref(),
                database: &db,
                host_auth_method: &method,
            },
        )
    })
    .await;
    match init {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            log(&format!(
                "initdb: error: could not create directory \"{}\": {e}",
                s.pgdata
            ));
            return Err(1);
        }
        Err(_) => return Err(1),
    }
    log_initdb_done(log, &s.pgdata);
    log_temporary_server_start(log, &s.database);
    if ctx.init_scripts.is_empty() {
        log("");
        log(&format!(
            "{ENTRYPOINT}: ignoring /docker-entrypoint-initdb.d/*"
        ));
        log("");
    } else {
        let code = crate::init_scripts::run(dir, s, &ctx.init_scripts, log).await;
        if code != 0 {
            // `set -e`: the entrypoint stops with psql's status; the
            // half-made cluster stays (the next start skips initdb).
            return Err(code);
        }
    }
    log_temporary_server_stop(log);
    Ok(())
}

fn refuse_not_empty(log: &Log, pgdata: &str, problem: NotEmpty) {
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
}

fn log_initdb_done(log: &Log, pgdata: &str) {
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
}

/// The socket-only server the entrypoint starts to create `POSTGRES_DB`
/// and run `/docker-entrypoint-initdb.d`.
fn log_temporary_server_start(log: &Log, database: &str) {
    let pid = 48;
    log(&format!(
        "waiting for server to start....{} [{pid}] LOG:  starting {}",
        stamp(),
        engine::VERSION_STRING
    ));
    server_log(
        log,
        pid,
        "LOG",
        "listening on Unix socket \"/var/run/postgresql/.s.PGSQL.5432\"",
    );
    server_log(
        log,
        pid + 3,
        "LOG",
        &format!("database system was shut down at {}", now_seconds()),
    );
    server_log(
        log,
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
}

/// The temporary server stopping, and the entrypoint's last lines.
fn log_temporary_server_stop(log: &Log) {
    let pid = 48;
    log(&format!(
        "waiting for server to shut down...{} [{pid}] LOG:  received fast shutdown request",
        stamp()
    ));
    server_log(log, pid, "LOG", "aborting any active transactions");
    server_log(
        log,
        pid,
        "LOG",
        "background worker \"logical replication launcher\" (PID 54) exited with exit code 1",
    );
    server_log(log, pid + 1, "LOG", "shutting down");
    server_log(
        log,
        pid + 1,
        "LOG",
        "checkpoint starting: shutdown immediate",
    );
    server_log(
        log,
        pid + 1,
        "LOG",
        "checkpoint complete: wrote 926 buffers (5.7%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.012 s, sync=0.002 s, total=0.018 s; sync files=0, longest=0.000 s, average=0.000 s; distance=4260 kB, estimate=4260 kB; lsn=0/1913D38, redo lsn=0/1913D38",
    );
    server_log(log, pid, "LOG", "database system is shut down");
    log(" done");
    log("server stopped");
    log("");
    log("PostgreSQL init process complete; ready for start up.");
    log("");
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum NotEmpty {
    LostFound,
    DotFile,
    Other,
}

/// initdb's `pg_check_dir`: why a directory is not empty.
fn not_empty(dir: &Path) -> Option<NotEmpty> {
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

const TRUST_WARNING: &str =
    "********************************************************************************
WARNING: POSTGRES_HOST_AUTH_METHOD has been set to \"trust\". This will allow
         anyone with access to the Postgres port to access your database without
         a password, even if POSTGRES_PASSWORD is set. See PostgreSQL
         documentation about \"trust\":
         https://www.postgresql.org/docs/current/auth-trust.html
         In Docker's default configuration, this is effectively any other
         container on the same system.

         It is not recommended to use POSTGRES_HOST_AUTH_METHOD=trust. Replace
         it with \"-e POSTGRES_PASSWORD=password\" instead to set a password in
         \"docker run\".
********************************************************************************";

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
