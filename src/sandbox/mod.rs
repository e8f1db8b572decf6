//! The embedded sandbox: a single-node Kubernetes API served in-process on
//! loopback, with storage semantics faithful to upstream.
//!
//! [`Sandbox::start`] opens the durable store under the data directory,
//! serves the API on 127.0.0.1 and writes a kubeconfig (mode 0600) that
//! kubectl and kube-rs use. In-process controllers use [`Sandbox::store`].

pub mod api;
pub mod apps;
pub mod controllers;
pub mod defaults;
pub mod discovery;
pub mod events;
pub mod exec;
pub mod fsroot;
pub mod http;
pub mod kubeconfig;
pub mod kubelet;
pub mod netns;
pub mod openapi;
pub mod patch;
pub mod patching;
pub mod podapi;
pub mod podnet;
pub mod protobuf;
pub mod resources;
pub mod scheduler;
pub mod selectors;
pub mod server;
pub mod shell;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod typed;
pub mod watch;
pub mod wsexec;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub use store::Store;

/// The database file inside the data directory.
pub const DB_FILE: &str = "state.redb";
/// The kubeconfig file inside the data directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// Directories the sandbox keeps under the data directory (removed by [`reset`]).
pub const DATA_DIRS: &[&str] = &["pods", "volumes", "hostpath", "layers"];

/// How to start the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where the database, kubeconfig and volume files live.
    pub data_dir: PathBuf,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Controller and kubelet tunables (back-off delays...).
    pub runtime: controllers::RuntimeConfig,
}

impl SandboxConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> SandboxConfig {
        SandboxConfig {
            data_dir: data_dir.into(),
            port: 0,
            runtime: controllers::RuntimeConfig::default(),
        }
    }
}

/// A running sandbox; dropping it (or [`Sandbox::shutdown`]) stops it.
pub struct Sandbox {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    token: String,
    ca_pem: String,
    store: Store,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    runtime: Option<Arc<controllers::Runtime>>,
    controllers: Option<tokio::task::JoinHandle<()>>,
}

fn random_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sandbox {
    /// Opens the store, binds 127.0.0.1:`port`, writes the kubeconfig and serves.
    pub async fn start(cfg: SandboxConfig) -> anyhow::Result<Sandbox> {
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
            format!(
                "cannot create the sandbox data directory {}",
                cfg.data_dir.display()
            )
        })?;
        let db = cfg.data_dir.join(DB_FILE);
        let store = tokio::task::spawn_blocking(move || Store::open(&db))
            .await
            .context("the sandbox store failed to open")??;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on 127.0.0.1:{}: is the port in use? Pick another with --port, or 0 for any free port",
                    cfg.port
                )
            })?;
        let addr = listener.local_addr()?;
        let token = random_token();
        let kubeconfig = cfg.data_dir.join(KUBECONFIG_FILE);
        let tls = tls::generate()?;
        kubeconfig::write_private(&kubeconfig, &kubeconfig::render(addr, &token, &tls.ca_pem))?;
        let cancel = CancellationToken::new();
        let root = fsroot::SandboxRoot::new(&cfg.data_dir)
            .map_err(|e| anyhow::anyhow!("cannot use the sandbox data directory: {e}"))?;
        let runtime = controllers::Runtime::new(
            store.clone(),
            root.clone(),
            cfg.runtime.clone(),
            cancel.clone(),
        );
        let ctx = Arc::new(server::Ctx {
            store: store.clone(),
            root: root.clone(),
            token: token.clone(),
            addr,
            runtime: Some(runtime.clone()),
        });
        let task = tokio::spawn(server::serve(listener, tls.acceptor, ctx, cancel.clone()));
        // The controllers, scheduler and kubelet; they stop with `cancel`.
        let controllers = tokio::spawn(controllers::run(runtime.clone()));
        Ok(Sandbox {
            addr,
            kubeconfig,
            token,
            ca_pem: tls.ca_pem,
            store,
            cancel,
            task: Some(task),
            runtime: Some(runtime),
            controllers: Some(controllers),
        })
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The kubeconfig to use (`export KUBECONFIG=...`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The PEM of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The bearer token the API requires.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The object store, for in-process controllers.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The controllers, scheduler and kubelet (running containers, logs).
    pub fn runtime(&self) -> Option<&Arc<controllers::Runtime>> {
        self.runtime.as_ref()
    }

    /// Stops serving and every container, waits for every connection to
    /// close and for the database to be released (so the data directory
    /// can be reopened).
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(task) = self.controllers.take() {
            let _ = task.await;
        }
        self.runtime = None;
        self.store.close();
        // Watches and in-flight writes let go of the store shortly after.
        for _ in 0..1000 {
            if self.store.is_last_handle() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.store.close();
    }
}

/// Removes everything the sandbox keeps in `data_dir` (objects, kubeconfig,
/// volume files), leaving other files alone.
pub fn reset(data_dir: &Path) -> anyhow::Result<()> {
    for f in [DB_FILE, KUBECONFIG_FILE] {
        let p = data_dir.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
        }
    }
    for d in DATA_DIRS {
        let p = data_dir.join(d);
        match std::fs::remove_dir_all(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
        }
    }
    Ok(())
}
