//! One live connection to a cluster: the client, what it is connected to,
//! and the watchers feeding the app. What the CLI/TUI starts after parsing
//! `--kubeconfig`, `--context`, `--namespace` and `--allow-remote`.

use crate::check::engine::{Io, KubeIo};
use crate::cluster::connection::{self, ConnectError, ConnectOptions, ConnectionInfo};
use crate::cluster::state::ClusterUpdate;
use crate::cluster::watch::{Watchers, spawn_watchers};
use kube::Client;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A connected cluster with its watchers running. Dropping it stops them.
pub struct Session {
    pub client: Client,
    pub info: ConnectionInfo,
    /// Whether the course namespace exists (create it with
    /// [`Session::create_namespace`] once the learner agrees).
    pub namespace_exists: bool,
    watchers: Watchers,
}

impl Session {
    /// Resolve the kubeconfig, check the server answers, and start watching
    /// the course namespace; every change goes to `out`.
    pub async fn start(
        opts: &ConnectOptions,
        out: mpsc::UnboundedSender<ClusterUpdate>,
    ) -> Result<Session, ConnectError> {
        let (client, info) = connection::connect(opts).await?;
        Session::with_client(client, info, out).await
    }

    /// Start on an existing client (the embedded sandbox builds its own).
    pub async fn with_client(
        client: Client,
        info: ConnectionInfo,
        out: mpsc::UnboundedSender<ClusterUpdate>,
    ) -> Result<Session, ConnectError> {
        // A learner with namespace-scoped rights may not read namespace
        // objects: then assume it exists (the watchers will say otherwise).
        let namespace_exists = connection::namespace_exists(&client, &info.namespace)
            .await
            .unwrap_or(true);
        let watchers = spawn_watchers(client.clone(), &info.namespace, out);
        Ok(Session {
            client,
            info,
            namespace_exists,
            watchers,
        })
    }

    /// Create the course namespace (only with the learner's consent).
    pub async fn create_namespace(&mut self) -> Result<(), ConnectError> {
        connection::create_namespace(&self.client, &self.info.namespace).await?;
        self.namespace_exists = true;
        Ok(())
    }

    /// What the checker task fetches logs and probes with.
    pub fn checker_io(&self) -> Arc<dyn Io> {
        Arc::new(KubeIo::new(self.client.clone()))
    }

    /// Stop the watchers now.
    pub fn stop(&mut self) {
        self.watchers.stop();
    }
}
