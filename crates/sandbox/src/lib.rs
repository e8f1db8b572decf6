//! The embedded sandbox: a single-node Kubernetes API served in-process on
//! loopback, with storage semantics faithful to upstream.
//!
//! [`Sandbox::start`] opens the durable store under the data directory,
//! serves the API on 127.0.0.1 and writes a kubeconfig (mode 0600) that
//! kubectl and kube-rs use; the controllers, scheduler and kubelet run
//! beside it until it is dropped.
//!
//! The folders are its subsystems, each using only those below it:
//! `machinery` (kinds, errors, selectors, object helpers) ← `storage`
//! (versions, persistence, the watch feed) ← `registry` (the request
//! pipeline: defaulting, validation, admission) ← `runtime` (what the
//! controllers and the node share) ← `controllers` and `node` (kubelet,
//! pod API, container filesystems and network, over `hostfs`), with
//! `shell` and `images` the programs containers run ← `apiserver` (HTTP,
//! discovery, OpenAPI, tables, watches, patches).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod apiserver;
mod controllers;
#[cfg(any(fuzzing, test))]
pub mod fuzz;
mod hostfs;
mod images;
mod machinery;
mod network;
mod node;
mod process;
mod registry;
mod runtime;
mod shell;
mod storage;

pub use apiserver::conns::ServerLimits;
pub use apiserver::kubeconfig::{CONTEXT, NAMESPACE};
pub use runtime::RuntimeConfig;

/// The header the tutor's checker puts on its HTTP probes; the course's
/// emulated apps leave such requests out of their logs, as the real apps
/// are written to (`assets/*/*.py`).
pub const PROBE_HEADER: &str = "x-kubetutor-probe";

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use controllers::ControlPlane;
use node::Node;
use registry::pipeline::Registry;
use runtime::Runtime;
use storage::Store;
use storage::store::OpenError;

/// The database file inside the data directory.
pub const DB_FILE: &str = "state.redb";
/// The kubeconfig file inside the data directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// The port, token and TLS material the sandbox reuses across restarts
/// (mode 0600), so that a kubeconfig, a `kubectl proxy` or an attached
/// kubetutor keep working when the sandbox is started again.
pub const IDENTITY_FILE: &str = "identity.json";
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
    pub runtime: RuntimeConfig,
    /// The API server's connection timeouts and caps.
    pub limits: ServerLimits,
}

impl SandboxConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> SandboxConfig {
        SandboxConfig {
            data_dir: data_dir.into(),
            port: 0,
            runtime: RuntimeConfig::default(),
            limits: ServerLimits::default(),
        }
    }
}

/// Why the sandbox did not start.
#[derive(Debug)]
pub enum StartError {
    /// Another process holds its database (a headless `kubetutor sandbox`,
    /// or another kubetutor).
    InUse { data_dir: PathBuf },
    /// The database could not be read. It was moved aside to `moved_to`
    /// (kept for inspection, never read again), so the next start begins
    /// with an empty sandbox; `None` when even the move failed.
    Damaged {
        db: PathBuf,
        moved_to: Option<PathBuf>,
        cause: String,
    },
    /// Anything else (permissions, a port in use, a full disk...).
    Other(anyhow::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::InUse { data_dir } => write!(
                f,
                "the sandbox in {} is in use by another process (a `kubetutor sandbox` in another terminal, or another kubetutor): stop it, or pass another --data-dir",
                data_dir.display()
            ),
            StartError::Damaged {
                db,
                moved_to: Some(aside),
                cause,
            } => write!(
                f,
                "the sandbox database is damaged ({cause}). It was moved aside to {} and kept there; your course progress is not affected. Start again to continue with an empty sandbox (the course recreates what each lesson needs), or run `kubetutor sandbox --reset` to also clear the volumes' files. (Database: {})",
                aside.display(),
                db.display()
            ),
            StartError::Damaged {
                db,
                moved_to: None,
                cause,
            } => write!(
                f,
                "the sandbox database {} is damaged ({cause}) and could not be moved aside. Run `kubetutor sandbox --reset` to start with an empty sandbox (your course progress is kept)",
                db.display()
            ),
            StartError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> StartError {
        StartError::Other(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> StartError {
        StartError::Other(e.into())
    }
}

/// Moves a damaged database aside (`state.redb.damaged-<time>`), as
/// progress.json is when it cannot be read.
fn move_aside(db: &Path) -> Option<PathBuf> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let name = format!(
        "{}.damaged-{stamp}",
        db.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let aside = db.with_file_name(name);
    std::fs::rename(db, &aside).ok().map(|()| aside)
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
    node: Option<Arc<Node>>,
    controllers: Option<tokio::task::JoinHandle<()>>,
}

fn random_token() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What makes the sandbox the same server from one start to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    port: u16,
    token: String,
    tls: apiserver::tls::Material,
}

impl Identity {
    fn fresh() -> anyhow::Result<Identity> {
        Ok(Identity {
            port: 0,
            token: random_token(),
            tls: apiserver::tls::generate_material()?,
        })
    }

    /// The kept identity, or `None` when there is none or it is unusable
    /// (a fresh one is made then).
    fn load(path: &Path) -> Option<Identity> {
        use base64::Engine as _;
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let b64 = |k: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(v.get(k)?.as_str()?)
                .ok()
        };
        let id = Identity {
            port: u16::try_from(v.get("port")?.as_u64()?).ok()?,
            token: v.get("token")?.as_str()?.to_owned(),
            tls: apiserver::tls::Material {
                ca_pem: v.get("ca_pem")?.as_str()?.to_owned(),
                cert_der: b64("cert_der")?,
                key_der: b64("key_der")?,
            },
        };
        (id.token.len() >= 32 && id.token.chars().all(|c| c.is_ascii_alphanumeric())).then_some(id)
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let doc = serde_json::json!({
            "port": self.port,
            "token": self.token,
            "ca_pem": self.tls.ca_pem,
            "cert_der": b64(&self.tls.cert_der),
            "key_der": b64(&self.tls.key_der),
        });
        apiserver::kubeconfig::write_private(path, &serde_json::to_string_pretty(&doc)?)
    }
}

/// Listen on 127.0.0.1: the port asked for (`--port`), else the one the
/// sandbox had last time, else (or when that one is taken now) any.
/// Creates `path` empty with mode 0600 if it does not exist (so that the
/// database never exists with wider permissions), or tightens it to 0600.
fn private_file(path: &Path) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        opts.mode(0o600);
        let f = opts
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        if f.metadata()?.permissions().mode() & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    opts.open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(())
}

async fn bind(asked: u16, kept: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let port = if asked != 0 { asked } else { kept };
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => Ok(l),
        Err(e) if asked == 0 && port != 0 => {
            tracing::info!("port {port} of the last start is taken ({e}): picking another");
            tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .context("cannot listen on 127.0.0.1")
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{port}: is the port in use? Pick another with --port, or 0 for any free port"
            )
        }),
    }
}

impl Sandbox {
    /// Opens the store, binds 127.0.0.1:`port`, writes the kubeconfig and serves.
    pub async fn start(cfg: SandboxConfig) -> Result<Sandbox, StartError> {
        hostfs::private_dir(&cfg.data_dir).with_context(|| {
            format!(
                "cannot create the sandbox data directory {}",
                cfg.data_dir.display()
            )
        })?;
        let db = cfg.data_dir.join(DB_FILE);
        private_file(&db)?;
        let path = db.clone();
        let opened = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .context("the sandbox store failed to open")?;
        let store = match opened {
            Ok(s) => s,
            Err(OpenError::InUse) => {
                return Err(StartError::InUse {
                    data_dir: cfg.data_dir.clone(),
                });
            }
            Err(OpenError::Damaged(cause)) => {
                let moved_to = move_aside(&db);
                return Err(StartError::Damaged {
                    db,
                    moved_to,
                    cause,
                });
            }
            Err(OpenError::Other(e)) => {
                return Err(StartError::Other(e.context(format!(
                    "cannot open the sandbox database {}",
                    db.display()
                ))));
            }
        };
        let registry = Registry::new(store.clone());
        {
            let r = registry.clone();
            tokio::task::spawn_blocking(move || r.bootstrap())
                .await
                .context("the sandbox's initial objects could not be created")??;
        }
        // The same port, token and certificate as last time when possible.
        let identity_file = cfg.data_dir.join(IDENTITY_FILE);
        let kept = Identity::load(&identity_file);
        let (mut identity, tls) = match kept
            .clone()
            .and_then(|id| Some((apiserver::tls::acceptor(&id.tls).ok()?, id)))
        {
            Some((tls, id)) => (id, tls),
            None => {
                let id = Identity::fresh()?;
                (id.clone(), apiserver::tls::acceptor(&id.tls)?)
            }
        };
        let listener = bind(cfg.port, identity.port).await?;
        let addr = listener.local_addr()?;
        identity.port = addr.port();
        if kept.as_ref() != Some(&identity) {
            identity.save(&identity_file)?;
        }
        let token = identity.token.clone();
        let kubeconfig = cfg.data_dir.join(KUBECONFIG_FILE);
        apiserver::kubeconfig::write_private(
            &kubeconfig,
            &apiserver::kubeconfig::render(addr, &token, &tls.ca_pem),
        )?;
        let cancel = CancellationToken::new();
        let root = hostfs::SandboxRoot::new(&cfg.data_dir)
            .map_err(|e| anyhow::anyhow!("cannot use the sandbox data directory: {e}"))?;
        root.prepare_node(machinery::cluster::NODE_NAME)
            .map_err(|e| anyhow::anyhow!("cannot prepare the node's files: {e}"))?;
        let runtime = Runtime::new(
            registry.clone(),
            root.clone(),
            cfg.runtime.clone(),
            cancel.clone(),
        );
        let node = Node::new(runtime.clone());
        let ctx = Arc::new(apiserver::server::Ctx {
            store: store.clone(),
            registry,
            watches: Arc::default(),
            root: root.clone(),
            token: token.clone(),
            addr,
            node: Some(node.clone()),
            limits: cfg.limits.clone(),
        });
        let task = tokio::spawn(apiserver::server::serve(
            listener,
            tls.acceptor,
            ctx,
            cancel.clone(),
        ));
        // The controllers, scheduler and kubelet; they stop with `cancel`.
        tracing::info!(%addr, data = %cfg.data_dir.display(), "sandbox API serving");
        let plane = ControlPlane::new(tls.ca_pem.clone());
        let controllers = tokio::spawn(control_loop(runtime, plane, node.clone()));
        Ok(Sandbox {
            addr,
            kubeconfig,
            token,
            ca_pem: tls.ca_pem,
            store,
            cancel,
            task: Some(task),
            node: Some(node),
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

    /// How many bytes of object versions the watch history (the change
    /// feed) holds now: bounded, however large and frequent the writes.
    pub fn watch_history_bytes(&self) -> usize {
        self.store.feed_bytes()
    }

    /// The bearer token the API requires.
    pub fn token(&self) -> &str {
        &self.token
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
        self.node = None;
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

/// Whether the sandbox emulates a container with this image and command
/// (anything else starts as an idle container that says so in its log).
pub fn emulates(image: &str, command: &[String], args: &[String]) -> bool {
    // Without a command, select looks at the image's own (its userland's).
    images::select(image, command, args).name() != "idle"
}

/// Whether starting the sandbox failed because another process holds its
/// database (a headless `kubetutor sandbox`, or another kubetutor), for
/// callers that only have the error as an `anyhow::Error`.
pub fn in_use(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StartError>(),
            Some(StartError::InUse { .. })
        )
    })
}

/// Removes everything the sandbox keeps in `data_dir` (objects, kubeconfig,
/// identity, volume files), leaving other files alone.
pub fn reset(data_dir: &Path) -> anyhow::Result<()> {
    for f in [DB_FILE, KUBECONFIG_FILE, IDENTITY_FILE] {
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

/// Runs the control loop until the runtime's `cancel` fires, then stops
/// every container: a pass of the controllers, the scheduler, the kubelet
/// and the controllers that follow it, after every burst of changes, when
/// something pokes, and at least once per resync period.
async fn control_loop(rt: Arc<Runtime>, plane: ControlPlane, node: Arc<Node>) {
    let plane = Arc::new(plane);
    let mut rx = rt.store.subscribe();
    loop {
        {
            let (rt, node, plane) = (rt.clone(), node.clone(), plane.clone());
            let _ = tokio::task::spawn_blocking(move || {
                plane.before_node(&rt);
                node::kubelet::reconcile(&node);
                plane.after_node(&rt);
            })
            .await;
        }
        tokio::select! {
            _ = rt.cancel.cancelled() => break,
            _ = rt.poke.notified() => {}
            _ = tokio::time::sleep(rt.config.resync) => {}
            ev = rx.recv() => {
                if let Err(storage::feed::FeedError::Closed) = ev {
                    break;
                }
            }
        }
        // Let a burst of changes (an apply of several objects) land first.
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        while rx.try_recv().is_ok() {}
    }
    node.kubelet.shutdown().await;
}
