//! One live connection to a cluster: the client, what it is connected to,
//! and the watchers feeding the app. What the CLI/TUI starts after parsing
//! `--kubeconfig`, `--context`, `--namespace` and `--allow-remote`.
//!
//! A session started from a kubeconfig ([`Session::start`]) follows it:
//! while the watchers cannot reach the server (connection refused, a
//! certificate or token the server no longer accepts), the kubeconfig is
//! read again every couple of seconds, and when it changed (a sandbox
//! restarted on another port, with other credentials) the session moves
//! to the new client and watchers by itself.

use crate::cluster::ConnectionState;
use crate::cluster::connection::{self, ConnectError, ConnectOptions, ConnectionInfo};
use crate::cluster::state::ClusterUpdate;
use crate::cluster::watch::{Watchers, spawn_watchers_at};
use kube::Client;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often a lost session looks at its kubeconfig again.
const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// How long a new client may take to answer before it is tried again.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(3);

/// A connected cluster with its watchers running. Dropping it stops them.
pub struct Session {
    /// The client the session started with (see [`Session::current_client`]
    /// for the one in use after a reload).
    pub client: Client,
    pub info: ConnectionInfo,
    /// Whether the course namespace exists (create it with
    /// [`Session::create_namespace`] once the learner agrees).
    pub namespace_exists: bool,
    current: SharedClient,
    supervisor: Option<JoinHandle<()>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What to re-read: the options, and the kubeconfig files' bytes the
/// current client was built from.
struct Reload {
    opts: ConnectOptions,
    seen: Vec<u8>,
}

impl Reload {
    fn new(opts: &ConnectOptions) -> Reload {
        Reload {
            opts: opts.clone(),
            seen: kubeconfig_bytes(opts),
        }
    }

    /// A client (and the server's URL) built from the kubeconfig when it
    /// changed since last time and its server answers.
    async fn changed(&mut self) -> Option<(Client, String)> {
        let now = kubeconfig_bytes(&self.opts);
        if now == self.seen {
            return None;
        }
        let resolved = connection::resolve(&self.opts).ok()?;
        let client = connection::client_for(&resolved).await.ok()?;
        let answered = tokio::time::timeout(RELOAD_TIMEOUT, client.apiserver_version())
            .await
            .is_ok_and(|r| r.is_ok());
        if !answered {
            return None;
        }
        tracing::info!(
            "the kubeconfig changed: reconnecting to {}",
            resolved.info.server
        );
        self.seen = now;
        Some((client, resolved.info.server))
    }
}

/// Every kubeconfig file the options read, concatenated (what a reload
/// compares).
fn kubeconfig_bytes(opts: &ConnectOptions) -> Vec<u8> {
    let files: Vec<PathBuf> = connection::kubeconfig_files(opts.kubeconfig.as_deref());
    let mut out = Vec::new();
    for f in files {
        out.extend(f.to_string_lossy().as_bytes());
        out.push(0);
        out.extend(std::fs::read(&f).unwrap_or_default());
        out.push(0);
    }
    out
}

impl Session {
    /// Resolve the kubeconfig, check the server answers, and start watching
    /// the course namespace; every change goes to `out`. The session
    /// follows changes of the kubeconfig while the server is lost.
    pub async fn start(
        opts: &ConnectOptions,
        out: mpsc::UnboundedSender<ClusterUpdate>,
    ) -> Result<Session, ConnectError> {
        let reload = Reload::new(opts);
        let (client, info) = connection::connect(opts).await?;
        Session::spawn(client, info, out, Some(reload)).await
    }

    /// Start on an existing client (no kubeconfig to follow).
    pub async fn with_client(
        client: Client,
        info: ConnectionInfo,
        out: mpsc::UnboundedSender<ClusterUpdate>,
    ) -> Result<Session, ConnectError> {
        Session::spawn(client, info, out, None).await
    }

    async fn spawn(
        client: Client,
        info: ConnectionInfo,
        out: mpsc::UnboundedSender<ClusterUpdate>,
        reload: Option<Reload>,
    ) -> Result<Session, ConnectError> {
        // A learner with namespace-scoped rights may not read namespace
        // objects: then assume it exists (the watchers will say otherwise).
        let namespace_exists = connection::namespace_exists(&client, &info.namespace)
            .await
            .unwrap_or(true);
        let current: SharedClient = Arc::new(std::sync::RwLock::new(client.clone()));
        let supervisor = tokio::spawn(supervise(
            client.clone(),
            info.namespace.clone(),
            info.server.clone(),
            out,
            reload,
            current.clone(),
        ));
        Ok(Session {
            client,
            info,
            namespace_exists,
            current,
            supervisor: Some(supervisor),
        })
    }

    /// The client in use now (a new one after the kubeconfig changed).
    pub fn current_client(&self) -> Client {
        current_client(&self.current)
    }

    /// Create the course namespace (only with the learner's consent).
    pub async fn create_namespace(&mut self) -> Result<(), ConnectError> {
        connection::create_namespace(&self.current_client(), &self.info.namespace).await?;
        self.namespace_exists = true;
        Ok(())
    }

    /// The client cell the session keeps current (the checker reads it).
    pub fn shared_client(&self) -> SharedClient {
        self.current.clone()
    }

    /// Stop the watchers now.
    pub fn stop(&mut self) {
        if let Some(t) = self.supervisor.take() {
            t.abort();
        }
    }
}

/// Runs the watchers and forwards their updates; while the server is lost,
/// re-reads the kubeconfig and moves to a new client when it changed.
async fn supervise(
    client: Client,
    namespace: String,
    server: String,
    out: mpsc::UnboundedSender<ClusterUpdate>,
    mut reload: Option<Reload>,
    current: SharedClient,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watchers: Watchers = spawn_watchers_at(client, &namespace, &server, tx);
    let mut lost = false;
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            u = rx.recv() => {
                let Some(u) = u else { return };
                if let ClusterUpdate::Connection(c) = &u {
                    lost = matches!(c, ConnectionState::Reconnecting { .. });
                }
                if out.send(u).is_err() {
                    return;
                }
            }
            _ = tick.tick(), if lost && reload.is_some() => {
                let Some(r) = reload.as_mut() else { continue };
                if let Some((client, server)) = r.changed().await {
                    watchers.stop();
                    // A new channel: nothing late from the old watchers.
                    let (tx, new_rx) = mpsc::unbounded_channel();
                    rx = new_rx;
                    match current.write() {
                        Ok(mut c) => *c = client.clone(),
                        Err(poisoned) => *poisoned.into_inner() = client.clone(),
                    }
                    watchers = spawn_watchers_at(client, &namespace, &server, tx);
                    lost = false;
                }
            }
        }
    }
}

/// A client that the session may replace (after re-reading the
/// kubeconfig): readers always get the current one.
pub type SharedClient = Arc<std::sync::RwLock<kube::Client>>;

/// The client in `cell` now.
pub fn current_client(cell: &SharedClient) -> kube::Client {
    match cell.read() {
        Ok(c) => c.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}
