//! An emulated PostgreSQL 16, as the official `postgres` image runs it:
//! the entrypoint and server ([`run`]), the wire protocol v3
//! ([`wire`]), SQL with roles, databases, tables, sequences, grants and
//! transactions kept in real files under `PGDATA`, and the image's client
//! programs `psql` and `pg_isready` ([`clients`]).
//!
//! It knows nothing of Kubernetes: whoever runs it hands it a
//! [`Container`] (environment, a way to resolve `PGDATA` to a directory, a
//! log sink, and a way to listen on the pod's port 5432 and on the pod's
//! own channels: the Unix socket and `localhost`), and client programs a
//! [`Network`] to dial through.
//!
//! Connections authenticate as `pg_hba.conf` says ([`hba`]): the image's
//! file trusts the socket and the pod's loopback, which only the pod's own
//! processes reach, and asks every TCP client for its password with
//! SCRAM-SHA-256 ([`scram`]).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod backend;
pub mod clients;
mod engine;
mod entrypoint;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
pub mod hba;
mod init_scripts;
mod password;
mod plpgsql;
#[cfg(test)]
mod real_server;
pub mod scram;
mod server;
pub mod sql;
mod value;
pub mod wire;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use entrypoint::DEFAULT_PGDATA;
pub use server::{run, runs_server};

/// Where a process's output lines go (one call per line, no newline).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Resolves a container path to a host directory, or says why not.
pub type Resolve = dyn Fn(&str) -> Result<PathBuf, String> + Send + Sync;

/// What the container gives the image's process.
pub struct Container {
    /// The environment (`POSTGRES_PASSWORD`, `PGDATA`...), in order.
    pub env: Vec<(String, String)>,
    /// Stdout and stderr, as `kubectl logs` shows them.
    pub log: Log,
    /// A container path (`PGDATA`) as a host directory the server may
    /// write, or the error `mkdir` would print (`Read-only file system`).
    pub resolve: Box<Resolve>,
    /// Listens on a port of the pod's network namespace, and on the
    /// pod's own channels.
    pub listen: Box<dyn Listen>,
    /// The files of `/docker-entrypoint-initdb.d`, in the order the
    /// entrypoint's glob lists them; run when a new cluster is made.
    pub init_scripts: Vec<InitScript>,
}

/// One file of `/docker-entrypoint-initdb.d`.
#[derive(Debug, Clone)]
pub struct InitScript {
    /// Its container path (`/docker-entrypoint-initdb.d/init.sql`).
    pub path: String,
    pub content: Vec<u8>,
    /// Whether it has an execute bit (a `.sh` is then run, else sourced).
    pub executable: bool,
}

impl Container {
    fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A port the server listens on; dropping it releases the port.
pub struct Listening {
    pub listener: tokio::net::TcpListener,
    /// Holds the port in the pod's network namespace.
    pub guard: Box<dyn Send>,
    /// The address TCP clients come from as the pod sees them (what
    /// `pg_hba.conf` matches and messages name). The listener's own peer
    /// addresses say nothing: it serves the whole host.
    pub peer_address: IpAddr,
}

/// A way into the pod that only the pod's own processes have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodChannel {
    /// The Unix socket `/var/run/postgresql/.s.PGSQL.<port>`
    /// (`local` records of `pg_hba.conf`).
    Socket(u16),
    /// TCP to `localhost:<port>` from inside the pod (`host` records,
    /// from 127.0.0.1).
    Loopback(u16),
}

impl PodChannel {
    /// A short name, unique in a pod, for the channel's socket file.
    pub fn name(&self) -> String {
        match self {
            PodChannel::Socket(port) => format!(".s.PGSQL.{port}"),
            PodChannel::Loopback(port) => format!("lo.{port}"),
        }
    }
}

/// A pod channel the server listens on; dropping it closes the channel.
#[cfg(unix)]
pub struct PodListening {
    pub listener: tokio::net::UnixListener,
    pub guard: Box<dyn Send>,
}

/// Why listening failed.
#[derive(Debug)]
pub enum ListenError {
    /// Another process of the pod holds the port.
    AddrInUse,
    Other(String),
}

/// Binds a port of the pod, or one of its own channels.
pub trait Listen: Send + Sync {
    fn listen(&self, port: u16) -> BoxFuture<'static, Result<Listening, ListenError>>;
    /// Opens a channel that only processes of this pod can reach (a Unix
    /// socket in a directory no other user of the machine may enter).
    #[cfg(unix)]
    fn listen_pod(
        &self,
        channel: PodChannel,
    ) -> BoxFuture<'static, Result<PodListening, ListenError>>;
}

/// Where a host:port leads, as the pod's network resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    /// A listener; `ip` is the address a client would show.
    Open {
        addr: std::net::SocketAddr,
        ip: String,
    },
    /// The name does not resolve (no such Service).
    NoSuchHost,
    /// The address exists but nothing accepts on that port.
    Refused { ip: String },
}

/// The network a client program (`psql`, PostgREST) dials through.
pub trait Network {
    /// Where one of the pod's own channels is (a Unix socket's path), if
    /// a process of this pod listens on it.
    fn pod_channel(&self, channel: PodChannel) -> Option<PathBuf>;
    /// A host (a Service name, a cluster IP, a pod IP) and port.
    fn dial(&self, host: &str, port: u16) -> Dial;
}
