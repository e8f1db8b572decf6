//! An emulated PostgreSQL 16, as the official `postgres` image runs it:
//! the entrypoint and server ([`run`]), the wire protocol v3
//! ([`wire`]), SQL with roles, databases, tables, sequences, grants and
//! transactions kept in real files under `PGDATA`, and the image's client
//! programs `psql` and `pg_isready` ([`clients`]).
//!
//! It knows nothing of Kubernetes: whoever runs it hands it a
//! [`Container`] (environment, a way to resolve `PGDATA` to a directory, a
//! log sink and a way to listen on the pod's port 5432), and client
//! programs a [`Network`] to dial through.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod clients;
mod engine;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
mod plpgsql;
mod server;
pub mod sql;
mod value;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use server::{DEFAULT_PGDATA, run, runs_server};

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
    /// Listens on a port of the pod's network namespace.
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
}

/// Why listening failed.
#[derive(Debug)]
pub enum ListenError {
    /// Another process of the pod holds the port.
    AddrInUse,
    Other(String),
}

/// Binds a port of the pod.
pub trait Listen: Send + Sync {
    fn listen(&self, port: u16) -> BoxFuture<'static, Result<Listening, ListenError>>;
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
    /// The pod's own port (what a Unix socket or `localhost` reaches).
    fn local(&self, port: u16) -> Dial;
    /// A host (a Service name, a cluster IP, a pod IP) and port.
    fn dial(&self, host: &str, port: u16) -> Dial;
}
