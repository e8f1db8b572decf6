//! Per-pod network namespaces, emulated.
//!
//! In Kubernetes all containers of a pod share one network namespace: a
//! second container binding a port the first already holds fails with
//! `bind: address already in use` (and crash-loops), while two pods may
//! both use 8080. The sandbox reproduces that with a table keyed by
//! (pod, port). Each binding is served on a real loopback listener at an
//! ephemeral port, so the API server's proxy and port-forward can reach
//! the emulated app with [`NetNamespaces::lookup`].

use std::collections::HashMap;
use std::net::SocketAddr;
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
    next_generation: u64,
}

/// The sandbox's network namespaces; cheap to clone (shared table).
#[derive(Debug, Clone, Default)]
pub struct NetNamespaces {
    table: Arc<Mutex<Table>>,
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

    pub fn new() -> Self {
        Self::default()
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
        lock(&self.table)
            .bindings
            .retain(|(pod, _), _| pod != pod_uid);
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
