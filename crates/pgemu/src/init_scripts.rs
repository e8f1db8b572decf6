//! The entrypoint's `docker_process_init_files`: each `*.sql` of
//! `/docker-entrypoint-initdb.d` run by `psql -v ON_ERROR_STOP=1` against
//! the new cluster, through a temporary server that listens only on a
//! private Unix socket (as the image's `listen_addresses=''` server does),
//! other files named and passed over.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI32;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::entrypoint::{ENTRYPOINT, Settings};
use crate::{InitScript, Log, Network, PodChannel};

/// A network where only the temporary server answers, on its socket.
struct TemporaryServer(PathBuf);

impl Network for TemporaryServer {
    fn pod_channel(&self, channel: PodChannel) -> Option<PathBuf> {
        matches!(channel, PodChannel::Socket(_)).then(|| self.0.clone())
    }

    fn dial(&self, _host: &str, _port: u16) -> crate::Dial {
        crate::Dial::NoSuchHost
    }
}

/// Runs the scripts in order: 0, or psql's status when one failed.
#[cfg(unix)]
pub(crate) async fn run(dir: &Path, s: &Settings, scripts: &[InitScript], log: &Log) -> i32 {
    let Some(server) = start(dir, s, log).await else {
        return 2;
    };
    log("");
    let mut code = 0;
    for script in scripts {
        let path = &script.path;
        if path.ends_with(".sql") {
            log(&format!("{ENTRYPOINT}: running {path}"));
            let status = psql_file(script, s, &server.socket, log).await;
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
    server.stop.cancel();
    let _ = server.task.await;
    code
}

#[cfg(not(unix))]
pub(crate) async fn run(_: &Path, _: &Settings, scripts: &[InitScript], log: &Log) -> i32 {
    for script in scripts {
        log(&format!("{ENTRYPOINT}: ignoring {}", script.path));
    }
    0
}

/// The temporary server: its socket, and how to stop it.
#[cfg(unix)]
struct Running {
    socket: PathBuf,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    // Removed (with the socket) once the server is gone.
    _dir: tempfile::TempDir,
}

#[cfg(unix)]
async fn start(dir: &Path, s: &Settings, log: &Log) -> Option<Running> {
    let open_dir = dir.to_path_buf();
    let engine =
        match tokio::task::spawn_blocking(move || crate::engine::Engine::open(&open_dir)).await {
            Ok(Ok(e)) => e,
            Ok(Err(msg)) => {
                log(&format!("psql: error: {msg}"));
                return None;
            }
            Err(_) => return None,
        };
    let hba = crate::server::load_hba(log, dir, &s.pgdata)?;
    // A private directory (0700) keeps the socket to this process.
    let sockdir = match tempfile::Builder::new().prefix("pginit").tempdir() {
        Ok(d) => d,
        Err(e) => {
            log(&format!("psql: error: {e}"));
            return None;
        }
    };
    let socket = sockdir.path().join(".s.PGSQL.5432");
    let listener = match tokio::net::UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            log(&format!("psql: error: {e}"));
            return None;
        }
    };
    let (notify, _) = broadcast::channel(64);
    let shared = Arc::new(crate::backend::Shared {
        engine: Arc::new(Mutex::new(engine)),
        notify,
        log: Arc::new(|_: &str| {}),
        next_pid: AtomicI32::new(50),
        pgdata: s.pgdata.clone(),
        hba,
        mock_secret: rand::random(),
    });
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        connections.spawn(crate::backend::serve(
                            stream,
                            crate::hba::Origin::Local,
                            Arc::clone(&shared),
                            stop.clone(),
                        ));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            connections.abort_all();
        })
    };
    Some(Running {
        socket,
        stop,
        task,
        _dir: sockdir,
    })
}

/// `psql -v ON_ERROR_STOP=1 --username U --no-password --no-psqlrc
/// --dbname D -f FILE`, its output in the log: its status.
#[cfg(unix)]
async fn psql_file(script: &InitScript, s: &Settings, socket: &Path, log: &Log) -> i32 {
    let args: Vec<String> = [
        "-v",
        "ON_ERROR_STOP=1",
        "--username",
        &s.superuser,
        "--no-password",
        "--no-psqlrc",
        "--dbname",
        &s.database,
        "-f",
        &script.path,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let content = script.content.clone();
    let socket = socket.to_path_buf();
    let ran = tokio::task::spawn_blocking(move || {
        let read = |_: &str| Ok(content.clone());
        let network = TemporaryServer(socket);
        let env = crate::clients::ProgramEnv {
            var: &|_| None,
            read_file: &read,
            network: Some(&network),
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
    status
}
