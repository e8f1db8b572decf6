//! Per-pod network namespaces, emulated.
//!
//! In Kubernetes all containers of a pod share one network namespace: a
//! second container binding a port the first already holds fails with
//! `bind: address already in use` (and crash-loops), while two pods may
//! both use 8080. The sandbox reproduces that with a table keyed by
//! (pod, port). Each binding is served on a real loopback listener at an
//! ephemeral port, so the API server's proxy and port-forward can reach
//! the emulated app with [`NetNamespaces::lookup`].
//!
//! Loopback ports are open to every process of the machine. What only a
//! pod may reach (PostgreSQL's Unix socket, what `localhost` means inside
//! the pod) is a Unix socket instead ([`NetNamespaces::bind_socket`]), in
//! a directory of the sandbox's data dir that only its user may enter.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::machinery::meta::lock;

use tokio::net::TcpListener;

/// Why a container could not listen on a port.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The pod already has this port bound (by this or another container).
    #[error("listen tcp :{port}: bind: address already in use")]
    AddrInUse { port: u16, holder: String },
    /// The real loopback listener could not be opened.
    #[error("listen tcp :{port}: {source}")]
    Io {
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct Binding {
    container: String,
    addr: SocketAddr,
    /// Distinguishes this binding from a later one on the same key, so a
    /// stale guard never removes its successor.
    generation: u64,
}

#[derive(Debug, Default)]
struct Table {
    bindings: HashMap<(String, u16), Binding>,
    /// Pod-private sockets: (pod, name) to the socket's path.
    sockets: HashMap<(String, String), (PathBuf, u64)>,
    next_generation: u64,
}

/// The sandbox's network namespaces; cheap to clone (shared table).
#[derive(Debug, Clone, Default)]
pub struct NetNamespaces {
    table: Arc<Mutex<Table>>,
    /// Where pod-private sockets go (mode 0700); none, none can be bound.
    socket_dir: Option<PathBuf>,
}

/// A pod-private socket. Dropping it closes it and removes its file.
#[cfg(unix)]
#[derive(Debug)]
pub struct BoundSocket {
    listener: Option<tokio::net::UnixListener>,
    _release: SocketRelease,
}

#[cfg(unix)]
impl BoundSocket {
    /// The listener, to accept connections on (taken once).
    pub fn take_listener(&mut self) -> Option<tokio::net::UnixListener> {
        self.listener.take()
    }
}

#[derive(Debug)]
struct SocketRelease {
    table: Arc<Mutex<Table>>,
    key: (String, String),
    path: PathBuf,
    generation: u64,
}

impl Drop for SocketRelease {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        if table
            .sockets
            .get(&self.key)
            .is_some_and(|(_, g)| *g == self.generation)
        {
            table.sockets.remove(&self.key);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A port bound in a pod's namespace. Dropping it releases the port.
#[derive(Debug)]
pub struct BoundPort {
    listener: Option<TcpListener>,
    // Held for its Drop: releases the port.
    _release: Release,
}

#[derive(Debug)]
struct Release {
    table: Arc<Mutex<Table>>,
    key: (String, u16),
    generation: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        if table
            .bindings
            .get(&self.key)
            .is_some_and(|b| b.generation == self.generation)
        {
            table.bindings.remove(&self.key);
        }
    }
}

impl BoundPort {
    /// The listener, to accept connections on (taken once).
    pub fn take_listener(&mut self) -> Option<TcpListener> {
        self.listener.take()
    }
}

impl NetNamespaces {
    /// The ports bound in a pod, with the container holding each.
    #[cfg(test)]
    pub fn ports(&self, pod_uid: &str) -> Vec<(u16, String)> {
        let mut ports: Vec<(u16, String)> = lock(&self.table)
            .bindings
            .iter()
            .filter(|((pod, _), _)| pod == pod_uid)
            .map(|((_, port), b)| (*port, b.container.clone()))
            .collect();
        ports.sort();
        ports
    }

    /// Namespaces without pod-private sockets (tests of other apps).
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Namespaces whose pod-private sockets live in `dir` (created with
    /// mode 0700 when the first is bound).
    pub fn with_socket_dir(dir: PathBuf) -> Self {
        Self {
            socket_dir: Some(dir),
            ..Self::default()
        }
    }

    /// Binds a socket named `name` that only pod `pod_uid` reaches.
    #[cfg(unix)]
    pub fn bind_socket(&self, pod_uid: &str, name: &str) -> std::io::Result<BoundSocket> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        let Some(dir) = &self.socket_dir else {
            return Err(std::io::Error::other(
                "the sandbox has no directory for pod sockets",
            ));
        };
        // Short names: a socket path must fit in sockaddr_un (108 bytes
        // on Linux, 104 on macOS).
        let longest = dir.join(u64::MAX.to_string());
        if longest.as_os_str().len() >= 104 {
            return Err(std::io::Error::other(format!(
                "the sandbox's data directory is too deep for a Unix socket ({}): set KUBETUTOR_DATA_DIR to a shorter path",
                dir.display()
            )));
        }
        let key = (pod_uid.to_string(), name.to_string());
        let (path, generation) = {
            let mut table = lock(&self.table);
            if table.sockets.contains_key(&key) {
                return Err(std::io::ErrorKind::AddrInUse.into());
            }
            table.next_generation += 1;
            let generation = table.next_generation;
            let path = dir.join(generation.to_string());
            table
                .sockets
                .insert(key.clone(), (path.clone(), generation));
            (path, generation)
        };
        let release = SocketRelease {
            table: Arc::clone(&self.table),
            key,
            path: path.clone(),
            generation,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // An existing directory keeps its mode: make sure of it.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        // A socket file left by a sandbox that did not stop cleanly.
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = tokio::net::UnixListener::bind(&path)?;
        Ok(BoundSocket {
            listener: Some(listener),
            _release: release,
        })
    }

    /// The path of a pod-private socket, if one is bound.
    pub fn socket_path(&self, pod_uid: &str, name: &str) -> Option<PathBuf> {
        lock(&self.table)
            .sockets
            .get(&(pod_uid.to_string(), name.to_string()))
            .map(|(p, _)| p.clone())
    }

    /// Binds `port` in pod `pod_uid`'s namespace for `container`.
    pub async fn bind(
        &self,
        pod_uid: &str,
        container: &str,
        port: u16,
    ) -> Result<BoundPort, BindError> {
        let key = (pod_uid.to_string(), port);
        // Reserve first, so two containers racing cannot both win.
        let generation = {
            let mut table = lock(&self.table);
            if let Some(b) = table.bindings.get(&key) {
                return Err(BindError::AddrInUse {
                    port,
                    holder: b.container.clone(),
                });
            }
            table.next_generation += 1;
            let generation = table.next_generation;
            table.bindings.insert(
                key.clone(),
                Binding {
                    container: container.to_string(),
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    generation,
                },
            );
            generation
        };
        let release = Release {
            table: Arc::clone(&self.table),
            key: key.clone(),
            generation,
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| BindError::Io { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| BindError::Io { port, source })?;
        if let Some(b) = lock(&self.table).bindings.get_mut(&key) {
            b.addr = addr;
        }
        Ok(BoundPort {
            listener: Some(listener),
            _release: release,
        })
    }

    /// The loopback address serving (pod, port), if something listens there.
    pub fn lookup(&self, pod_uid: &str, port: u16) -> Option<SocketAddr> {
        lock(&self.table)
            .bindings
            .get(&(pod_uid.to_string(), port))
            .map(|b| b.addr)
            .filter(|a| a.port() != 0)
    }

    /// Forgets every binding of a pod (its listeners close when their
    /// [`BoundPort`]s drop).
    pub fn release_pod(&self, pod_uid: &str) {
        let mut table = lock(&self.table);
        table.bindings.retain(|(pod, _), _| pod != pod_uid);
        table.sockets.retain(|(pod, _), _| pod != pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn same_port_in_one_pod_conflicts_but_not_across_pods() {
        let ns = NetNamespaces::new();
        let a = ns.bind("pod-a", "crawler-1", 8080).await.unwrap();
        let err = ns.bind("pod-a", "crawler-2", 8080).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "listen tcp :8080: bind: address already in use"
        );
        assert!(matches!(err, BindError::AddrInUse { ref holder, .. } if holder == "crawler-1"));
        let b = ns.bind("pod-b", "crawler-1", 8080).await.unwrap();
        let (addr_a, addr_b) = (ns.lookup("pod-a", 8080), ns.lookup("pod-b", 8080));
        assert!(addr_a.is_some() && addr_b.is_some());
        assert_ne!(addr_a, addr_b);
        assert_eq!(ns.ports("pod-a"), vec![(8080, "crawler-1".to_string())]);

        drop(a);
        assert_eq!(ns.lookup("pod-a", 8080), None);
        let _again = ns.bind("pod-a", "crawler-2", 8080).await.unwrap();
        assert!(ns.lookup("pod-a", 8080).is_some());

        ns.release_pod("pod-b");
        assert_eq!(ns.lookup("pod-b", 8080), None);
        // A stale guard must not remove a newer binding.
        let _newer = ns.bind("pod-b", "x", 8080).await.unwrap();
        let newer = ns.lookup("pod-b", 8080);
        drop(b);
        assert!(newer.is_some());
        assert_eq!(ns.lookup("pod-b", 8080), newer);
    }

    /// Pod sockets sit in a directory only the sandbox's user may enter,
    /// and go away with their guard.
    #[cfg(unix)]
    #[tokio::test]
    async fn pod_sockets_are_private_and_released() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ns = NetNamespaces::with_socket_dir(dir.clone());
        let mut a = ns.bind_socket("p", ".s.PGSQL.5432").unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let path = ns.socket_path("p", ".s.PGSQL.5432").unwrap();
        assert!(path.starts_with(&dir));
        assert_eq!(ns.socket_path("q", ".s.PGSQL.5432"), None);
        let err = ns.bind_socket("p", ".s.PGSQL.5432").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        let listener = a.take_listener().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"pong").await.unwrap();
        });
        let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
        let mut buf = String::new();
        c.read_to_string(&mut buf).await.unwrap();
        assert_eq!(buf, "pong");
        server.await.unwrap();
        drop(a);
        assert_eq!(ns.socket_path("p", ".s.PGSQL.5432"), None);
        assert!(!path.exists());
        assert!(NetNamespaces::new().bind_socket("p", "x").is_err());
        let deep = NetNamespaces::with_socket_dir(tmp.path().join("d".repeat(120)));
        let err = deep.bind_socket("p", "x").unwrap_err().to_string();
        assert!(err.contains("KUBETUTOR_DATA_DIR"), "{err}");
    }

    #[tokio::test]
    async fn the_listener_is_reachable_on_loopback() {
        let ns = NetNamespaces::new();
        let mut bound = ns.bind("p", "c", 80).await.unwrap();
        let listener = bound.take_listener().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"pong").await.unwrap();
        });
        let addr = ns.lookup("p", 80).unwrap();
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = String::new();
        c.read_to_string(&mut buf).await.unwrap();
        assert_eq!(buf, "pong");
        server.await.unwrap();
    }
}
