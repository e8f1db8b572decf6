//! The official `postgres` image, run by the PostgreSQL emulation
//! ([`pgemu`]): the sandbox hands it the container's environment, `PGDATA`
//! resolved through the container's mounts (so the data dies with the
//! writable layer and survives on a persistent volume), the log sink, the
//! pod's port 5432 and the pod's private channels: the Unix socket and
//! the pod's `localhost`, which no other process of the machine reaches
//! (so `pg_hba.conf`'s trust for them trusts the pod only).

mod programs;
#[cfg(test)]
mod tests;

pub(crate) use programs::programs;
use std::net::{IpAddr, Ipv4Addr};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::{AppContext, EmulatedApp, Stop};
use crate::network::netns::{BindError, NetNamespaces};
use crate::network::podnet::PodNetwork;

/// The emulated postgres server image.
pub(crate) struct Postgres;

impl EmulatedApp for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(run(ctx, stop))
    }
}

async fn run(ctx: AppContext, mut stop: Stop) -> i32 {
    let fs = ctx.fs.clone();
    let cwd = ctx.cwd();
    let resolve = move |path: &str| match fs.resolve(&cwd, path) {
        Ok(r) if r.read_only => Err("Read-only file system".to_string()),
        Ok(r) => Ok(r.host),
        Err(e) => Err(e.to_string()),
    };
    let init_scripts = init_scripts(&ctx.fs, &ctx.cwd());
    let container = pgemu::Container {
        init_scripts,
        env: ctx.env.clone(),
        log: ctx.log.clone(),
        resolve: Box::new(resolve),
        listen: Box::new(PodPorts {
            netns: ctx.netns.clone(),
            pod_uid: ctx.pod_uid.clone(),
            container: ctx.container.clone(),
        }),
    };
    // SIGTERM (the container being stopped) is the server's fast shutdown.
    let cancel = CancellationToken::new();
    let owner = tokio::spawn(own_data_dir(ctx.clone(), cancel.clone()));
    let server = tokio::spawn(pgemu::run(container, cancel.clone()));
    tokio::pin!(server);
    let code = tokio::select! {
        code = &mut server => code.unwrap_or(1),
        () = stop.wait() => {
            cancel.cancel();
            server.await.unwrap_or(1)
        }
    };
    owner.abort();
    code
}

/// The image's `postgres` user (`useradd --uid=999` in the Dockerfile;
/// the alpine variants use alpine's 70).
pub(crate) fn postgres_user(image: &str) -> crate::hostfs::owners::Owner {
    let id = if crate::shell::userland::is_alpine(image) {
        70
    } else {
        999
    };
    crate::hostfs::owners::Owner { uid: id, gid: id }
}

/// The server runs as `postgres`: the entrypoint (root) makes `PGDATA`
/// its own with mode 0700, and what the server writes there is its own.
/// The server's files carry no owner of their own, so every few seconds
/// what in `PGDATA` has none is given to postgres.
async fn own_data_dir(ctx: AppContext, cancel: CancellationToken) {
    let pgdata = ctx
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PGDATA")
        .map_or_else(
            || "/var/lib/postgresql/data".to_string(),
            |(_, v)| v.clone(),
        );
    let owner = postgres_user(&ctx.image);
    let Ok(dir) = ctx.fs.resolve(&ctx.cwd(), &pgdata) else {
        return;
    };
    loop {
        let host = dir.host.clone();
        let _ = tokio::task::spawn_blocking(move || give_untagged(&host, owner)).await;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    }
}

fn give_untagged(dir: &std::path::Path, owner: crate::hostfs::owners::Owner) {
    use crate::hostfs::owners;
    use std::os::unix::fs::PermissionsExt as _;
    if !dir.is_dir() {
        return;
    }
    if owners::get(dir) != owner {
        let _ = owners::set(dir, owner);
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            seen += 1;
            if seen > 10_000 {
                return;
            }
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_symlink() {
                continue;
            }
            if owners::get(&path) == owners::Owner::ROOT {
                let _ = owners::set(&path, owner);
            }
            if kind.is_dir() {
                stack.push(path);
            }
        }
    }
}

/// Where the image's entrypoint looks for init scripts.
const INITDB_DIR: &str = "/docker-entrypoint-initdb.d";
/// Bounds on what is read from it (a ConfigMap holds at most 1 MiB).
const MAX_SCRIPTS: usize = 64;
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// The files of `/docker-entrypoint-initdb.d` (often a ConfigMap volume)
/// as the entrypoint's glob lists them: sorted, dot files (a ConfigMap's
/// `..data`) left out, directories skipped.
fn init_scripts(fs: &crate::hostfs::ContainerFs, cwd: &str) -> Vec<pgemu::InitScript> {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(dir) = fs.resolve(cwd, INITDB_DIR) else {
        return Vec::new();
    };
    let Ok(base) = std::fs::canonicalize(&dir.host) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
        .into_iter()
        .take(MAX_SCRIPTS)
        .filter_map(|name| {
            // Through the mount's symlinks (`init.sql -> ..data/init.sql`),
            // never out of it.
            let host = std::fs::canonicalize(base.join(&name)).ok()?;
            if !host.starts_with(&base) {
                return None;
            }
            let meta = std::fs::metadata(&host).ok()?;
            if !meta.is_file() || meta.len() > MAX_SCRIPT_BYTES {
                return None;
            }
            Some(pgemu::InitScript {
                path: format!("{INITDB_DIR}/{name}"),
                content: std::fs::read(&host).ok()?,
                executable: meta.permissions().mode() & 0o111 != 0,
            })
        })
        .collect()
}

/// Where TCP clients of a pod's port come from, as the pod sees them: the
/// node's bridge address (the sandbox cannot tell one client pod from
/// another, or from a port-forward; never the pod's own loopback).
const CLIENTS_FROM: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 244, 0, 1));

/// The pod's ports, as the server binds them.
struct PodPorts {
    netns: NetNamespaces,
    pod_uid: String,
    container: String,
}

impl pgemu::Listen for PodPorts {
    fn listen(
        &self,
        port: u16,
    ) -> BoxFuture<'static, Result<pgemu::Listening, pgemu::ListenError>> {
        let (netns, pod, container) = (
            self.netns.clone(),
            self.pod_uid.clone(),
            self.container.clone(),
        );
        Box::pin(async move {
            let mut bound = match netns.bind(&pod, &container, port).await {
                Ok(b) => b,
                Err(BindError::AddrInUse { .. }) => return Err(pgemu::ListenError::AddrInUse),
                Err(e) => return Err(pgemu::ListenError::Other(e.to_string())),
            };
            let listener = bound
                .take_listener()
                .ok_or_else(|| pgemu::ListenError::Other("the port is already taken".into()))?;
            Ok(pgemu::Listening {
                listener,
                guard: Box::new(bound),
                peer_address: CLIENTS_FROM,
            })
        })
    }

    #[cfg(unix)]
    fn listen_pod(
        &self,
        channel: pgemu::PodChannel,
    ) -> BoxFuture<'static, Result<pgemu::PodListening, pgemu::ListenError>> {
        let bound = self.netns.bind_socket(&self.pod_uid, &channel.name());
        Box::pin(async move {
            let mut bound = bound.map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => pgemu::ListenError::AddrInUse,
                _ => pgemu::ListenError::Other(e.to_string()),
            })?;
            let listener = bound
                .take_listener()
                .ok_or_else(|| pgemu::ListenError::Other("the socket is already taken".into()))?;
            Ok(pgemu::PodListening {
                listener,
                guard: Box::new(bound),
            })
        })
    }
}

/// A pod's network, as `psql` and PostgREST dial through it.
impl pgemu::Network for PodNetwork {
    fn pod_channel(&self, channel: pgemu::PodChannel) -> Option<std::path::PathBuf> {
        self.socket(&channel.name())
    }

    fn dial(&self, host: &str, port: u16) -> pgemu::Dial {
        PodNetwork::dial(self, host, port)
    }
}
