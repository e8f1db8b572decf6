//! The `postgres` image's process: the entrypoint ([`crate::entrypoint`]),
//! then the server: the data directory's lock, the cluster, `pg_hba.conf`,
//! the pod's port 5432 and the pod's own channels (the Unix socket, and
//! `localhost`), one task per connection ([`crate::backend`]), and the
//! fast shutdown when the container is stopped.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI32;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backend::{self, Shared};
use crate::engine::{self, Engine};
use crate::entrypoint::{self, Settings, now_seconds, server_log};
use crate::hba::{self, Origin, Record};
use crate::{Container, ListenError, Log};

const PORT: u16 = 5432;
/// PostgreSQL's `unix_socket_directories` in the image.
const SOCKET: &str = "/var/run/postgresql/.s.PGSQL.5432";

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

/// The image's entrypoint and server, until `stop` fires: its exit code.
pub async fn run(ctx: Container, stop: CancellationToken) -> i32 {
    let log = Arc::clone(&ctx.log);
    let settings = Settings::from_env(&ctx);
    let pgdata = settings.pgdata.clone();
    let dir = match entrypoint::prepare(&ctx, &settings).await {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let Some(lock) = lock_data_directory(&log, &dir, &pgdata) else {
        return 1;
    };
    let Some(engine) = open(&log, &dir).await else {
        return 1;
    };
    let Some((listeners, guards)) = listen(&ctx, &log).await else {
        return 1;
    };
    let Some(hba) = load_hba(&log, &dir, &pgdata) else {
        server_log(&log, 1, "LOG", "database system is shut down");
        return 1;
    };
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
        pgdata,
        hba,
        mock_secret: rand::random(),
    });
    let connections = serve(&listeners, &shared, &stop).await;
    shut_down(&log, listeners, connections).await;
    // The port and the channels are the server's until it is down.
    drop(guards);
    drop(lock);
    0
}

/// One server per data directory, as `postmaster.pid` enforces.
fn lock_data_directory(log: &Log, dir: &Path, pgdata: &str) -> Option<DirLock> {
    let key = std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf());
    let locked = running()
        .lock()
        .map(|mut set| set.insert(key.clone()))
        .unwrap_or(false);
    if !locked {
        server_log(
            log,
            1,
            "FATAL",
            "lock file \"postmaster.pid\" already exists",
        );
        server_log(
            log,
            1,
            "HINT",
            &format!("Is another postmaster (PID 1) running in data directory \"{pgdata}\"?"),
        );
        return None;
    }
    let _ = std::fs::write(
        dir.join("postmaster.pid"),
        format!(
            "1\n{pgdata}\n{}\n5432\n/var/run/postgresql\n*\n",
            jiff::Timestamp::now().as_second()
        ),
    );
    Some(DirLock(key))
}

/// Reads the cluster (off the async threads).
async fn open(log: &Log, dir: &Path) -> Option<Engine> {
    let open_dir = dir.to_path_buf();
    match tokio::task::spawn_blocking(move || Engine::open(&open_dir)).await {
        Ok(Ok(e)) => {
            server_log(
                log,
                1,
                "LOG",
                &format!("starting {}", engine::VERSION_STRING),
            );
            Some(e)
        }
        Ok(Err(msg)) => {
            server_log(log, 1, "FATAL", &msg);
            None
        }
        Err(_) => None,
    }
}

/// `pg_hba.conf`, or its problems logged as PostgreSQL logs them.
pub(crate) fn load_hba(log: &Log, dir: &Path, pgdata: &str) -> Option<Vec<Record>> {
    let path = format!("{pgdata}/pg_hba.conf");
    let text = match read_bounded(&dir.join("pg_hba.conf"), hba::MAX_FILE) {
        Ok(t) => t,
        Err(e) => {
            server_log(
                log,
                1,
                "LOG",
                &format!("could not open configuration file \"{path}\": {e}"),
            );
            server_log(log, 1, "FATAL", &format!("could not load {path}"));
            return None;
        }
    };
    match hba::parse(&text) {
        Ok(records) => Some(records),
        Err(errors) => {
            for e in errors {
                server_log(log, 1, "LOG", &e.message);
                if e.line > 0 {
                    server_log(
                        log,
                        1,
                        "CONTEXT",
                        &format!("line {} of configuration file \"{path}\"", e.line),
                    );
                }
            }
            server_log(log, 1, "FATAL", &format!("could not load {path}"));
            None
        }
    }
}

/// Reads a text file of at most `max` bytes.
fn read_bounded(path: &Path, max: usize) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "file too large",
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What the server accepts connections on.
struct Listeners {
    tcp: tokio::net::TcpListener,
    /// Where TCP clients come from, as the pod sees them.
    peer_address: IpAddr,
    #[cfg(unix)]
    socket: tokio::net::UnixListener,
    #[cfg(unix)]
    loopback: tokio::net::UnixListener,
}

/// Hold the port and the channels in the pod.
type Guards = Vec<Box<dyn Send>>;

/// The pod's port 5432, the Unix socket and the pod's `localhost`.
async fn listen(ctx: &Container, log: &Log) -> Option<(Listeners, Guards)> {
    let bound = match ctx.listen.listen(PORT).await {
        Ok(b) => b,
        Err(ListenError::AddrInUse) => {
            server_log(
                log,
                1,
                "LOG",
                "could not bind IPv4 address \"0.0.0.0\": Address in use",
            );
            server_log(
                log,
                1,
                "HINT",
                "Is another postmaster already running on port 5432? If not, wait a few seconds and retry.",
            );
            server_log(log, 1, "FATAL", "could not create any TCP/IP sockets");
            return None;
        }
        Err(ListenError::Other(e)) => {
            server_log(log, 1, "FATAL", &e);
            return None;
        }
    };
    let mut guards = vec![bound.guard];
    server_log(
        log,
        1,
        "LOG",
        "listening on IPv4 address \"0.0.0.0\", port 5432",
    );
    server_log(log, 1, "LOG", "listening on IPv6 address \"::\", port 5432");
    #[cfg(unix)]
    let (socket, loopback) = {
        use crate::PodChannel;
        let socket = match ctx.listen.listen_pod(PodChannel::Socket(PORT)).await {
            Ok(s) => s,
            Err(e) => {
                let reason = match e {
                    ListenError::AddrInUse => "Address in use".to_string(),
                    ListenError::Other(e) => e,
                };
                server_log(
                    log,
                    1,
                    "LOG",
                    &format!("could not bind Unix address \"{SOCKET}\": {reason}"),
                );
                server_log(log, 1, "FATAL", "could not create any Unix-domain sockets");
                return None;
            }
        };
        guards.push(socket.guard);
        server_log(
            log,
            1,
            "LOG",
            &format!("listening on Unix socket \"{SOCKET}\""),
        );
        // The pod's loopback is part of "0.0.0.0": no line of its own.
        let loopback = match ctx.listen.listen_pod(PodChannel::Loopback(PORT)).await {
            Ok(l) => l,
            Err(e) => {
                let reason = match e {
                    ListenError::AddrInUse => "Address in use".to_string(),
                    ListenError::Other(e) => e,
                };
                server_log(
                    log,
                    1,
                    "LOG",
                    &format!("could not bind IPv4 address \"127.0.0.1\": {reason}"),
                );
                server_log(log, 1, "FATAL", "could not create any TCP/IP sockets");
                return None;
            }
        };
        guards.push(loopback.guard);
        (socket.listener, loopback.listener)
    };
    let listeners = Listeners {
        tcp: bound.listener,
        peer_address: bound.peer_address,
        #[cfg(unix)]
        socket,
        #[cfg(unix)]
        loopback,
    };
    Some((listeners, guards))
}

/// Accepts connections until `stop`; returns those still running.
async fn serve(
    listeners: &Listeners,
    shared: &Arc<Shared>,
    stop: &CancellationToken,
) -> JoinSet<()> {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listeners.tcp.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let origin = Origin::Host(listeners.peer_address);
                connections.spawn(backend::serve(stream, origin, Arc::clone(shared), stop.clone()));
            }
            accepted = accept_socket(listeners) => {
                if let Some(stream) = accepted {
                    connections.spawn(backend::serve(stream, Origin::Local, Arc::clone(shared), stop.clone()));
                }
            }
            accepted = accept_loopback(listeners) => {
                if let Some(stream) = accepted {
                    let origin = Origin::Host(IpAddr::V4(Ipv4Addr::LOCALHOST));
                    connections.spawn(backend::serve(stream, origin, Arc::clone(shared), stop.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections
}

#[cfg(unix)]
async fn accept_socket(l: &Listeners) -> Option<tokio::net::UnixStream> {
    l.socket.accept().await.ok().map(|(s, _)| s)
}

#[cfg(unix)]
async fn accept_loopback(l: &Listeners) -> Option<tokio::net::UnixStream> {
    l.loopback.accept().await.ok().map(|(s, _)| s)
}

#[cfg(not(unix))]
async fn accept_socket(_: &Listeners) -> Option<tokio::net::TcpStream> {
    std::future::pending().await
}

#[cfg(not(unix))]
async fn accept_loopback(_: &Listeners) -> Option<tokio::net::TcpStream> {
    std::future::pending().await
}

/// The image stops with SIGINT: a fast shutdown. Sessions end with
/// "terminating connection due to administrator command".
async fn shut_down(log: &Log, listeners: Listeners, mut connections: JoinSet<()>) {
    server_log(log, 1, "LOG", "received fast shutdown request");
    server_log(log, 1, "LOG", "aborting any active transactions");
    drop(listeners);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    server_log(
        log,
        1,
        "LOG",
        "background worker \"logical replication launcher\" (PID 31) exited with exit code 1",
    );
    server_log(log, 26, "LOG", "shutting down");
    server_log(log, 26, "LOG", "checkpoint starting: shutdown immediate");
    server_log(
        log,
        26,
        "LOG",
        "checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.002 s, sync=0.001 s, total=0.006 s; sync files=2, longest=0.001 s, average=0.001 s; distance=0 kB, estimate=0 kB; lsn=0/1913E10, redo lsn=0/1913E10",
    );
    server_log(log, 1, "LOG", "database system is shut down");
}
