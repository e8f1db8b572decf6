//! Connecting to a cluster the way kubectl would: the kubeconfig files of
//! `KUBECONFIG` (merged, first file wins) or `--kubeconfig`, the current or
//! `--context` context, and the course namespace (`kubetutor` unless
//! `--namespace` says otherwise).
//!
//! kubetutor creates and deletes objects, so it refuses contexts that do not
//! look like a local learning cluster unless the learner opts in with
//! `--allow-remote`.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The namespace the course works in unless `--namespace` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "kubetutor";

/// How long to wait for the API server before calling it unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    Connecting,
    Connected,
    /// The watchers lost the server (or were refused) and are retrying.
    Reconnecting {
        reason: String,
    },
    /// Connecting failed and will not be retried.
    Failed {
        reason: String,
    },
}

impl ConnectionState {
    /// A short label for a status bar: `connected`, `reconnecting…`...
    pub fn label(&self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting…",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting { .. } => "reconnecting…",
            ConnectionState::Failed { .. } => "not connected",
        }
    }
}

/// What the status bar, `kubetutor status --json` and the cluster pane say
/// about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Context name (`kind-kind`, `kubetutor-sandbox`...).
    pub context: String,
    /// The kubeconfig file that defines the context: what a learner would
    /// `export KUBECONFIG=` in another terminal to reach the same cluster.
    pub kubeconfig_path: Option<PathBuf>,
    pub namespace: String,
    /// API server URL, without any credentials it carried.
    pub server: String,
    pub state: ConnectionState,
}

/// Options as the CLI gives them.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `--kubeconfig FILE` (wins over `KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME` (default: the kubeconfig's current context).
    pub context: Option<String>,
    /// `--namespace NAME` (default: `kubetutor`).
    pub namespace: Option<String>,
    /// `--allow-remote`: accept a context that is not a known local cluster.
    pub allow_remote: bool,
}

/// Why connecting failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no kubeconfig found ({0}): run `kubetutor` without `--context` to use its built-in sandbox, or create a local cluster (`kind create cluster`, `minikube start`, `k3d cluster create`) and try again"
    )]
    NoKubeconfig(String),
    #[error(
        "cannot read the kubeconfig {path}: {reason}. Fix the file, or point to another one with `--kubeconfig FILE` or `KUBECONFIG`"
    )]
    BadKubeconfig { path: String, reason: String },
    #[error(
        "the kubeconfig has no current context: pick one with `--context NAME` (available: {available})"
    )]
    NoContext { available: String },
    #[error(
        "context `{name}` is not in the kubeconfig (available: {available}): check `--context`"
    )]
    UnknownContext { name: String, available: String },
    #[error(
        "context `{context}` names cluster `{cluster}`, which the kubeconfig does not define (or gives no server URL): fix the kubeconfig or choose another `--context`"
    )]
    UnknownCluster { context: String, cluster: String },
    #[error(
        "context `{context}` ({server}) does not look like a local learning cluster, and kubetutor creates and deletes objects. If you really mean to use it, run again with `--allow-remote`; otherwise pick a local context with `--context` (kind-*, minikube, k3d-*, docker-desktop, rancher-desktop, orbstack) or leave out `--context` to use the built-in sandbox"
    )]
    RemoteRefused { context: String, server: String },
    #[error(
        "cannot use context `{context}`: {reason}. Check its user credentials and certificates in the kubeconfig"
    )]
    Config { context: String, reason: String },
    #[error(
        "cannot reach the API server of `{context}` at {server}: {reason}. Is the cluster running? (`kind get clusters`, `minikube status`, `k3d cluster list`, or leave out `--context` to use the built-in sandbox)"
    )]
    Unreachable {
        context: String,
        server: String,
        reason: String,
    },
    #[error(
        "the API server of `{context}` refused our credentials ({reason}): refresh them (e.g. `kind export kubeconfig`, `minikube update-context`) and try again"
    )]
    Unauthorized { context: String, reason: String },
    #[error("cannot create namespace `{namespace}`: {reason}")]
    Namespace { namespace: String, reason: String },
}

/// Contexts of the local clusters learners usually run, by name prefix or
/// exact name. kubetutor refuses other contexts without `--allow-remote`.
const LOCAL_PREFIXES: &[&str] = &["kind-", "k3d-"];
const LOCAL_NAMES: &[&str] = &[
    "minikube",
    "docker-desktop",
    "docker-for-desktop",
    "rancher-desktop",
    "orbstack",
    "kubetutor-sandbox",
];

/// Whether a context looks like a local learning cluster: its name is one
/// the local tools create (kind-*, minikube, k3d-*, docker-desktop,
/// rancher-desktop, orbstack, kubetutor-sandbox), or its server listens on
/// this machine's loopback.
pub fn is_local_context(name: &str, cluster_server: &str) -> bool {
    LOCAL_NAMES.contains(&name)
        || LOCAL_PREFIXES.iter().any(|p| name.starts_with(p))
        || is_loopback_url(cluster_server)
}

fn is_loopback_url(server: &str) -> bool {
    let Ok(uri) = server.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The first line of a parser's message, without the `error:` it may
/// start with (the CLI adds its own): "failed to parse kubeconfig YAML:
/// line 1 column 13: unclosed bracket '{'".
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or("").trim();
    line.replace(": error: ", ": ")
        .trim_start_matches("error: ")
        .to_string()
}

/// The server URL without credentials (a URL may carry `user:token@`),
/// safe to show and to log.
pub fn display_server(server: &str) -> String {
    let Some((scheme, rest)) = server.split_once("://") else {
        return server.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => server.to_string(),
    }
}

/// A kubeconfig resolved to one context, before any network access.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub kubeconfig: Kubeconfig,
    pub info: ConnectionInfo,
}

/// The kubeconfig files kubectl would read: `--kubeconfig`, else every file
/// of `KUBECONFIG`, else `~/.kube/config`.
pub fn kubeconfig_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    kubeconfig_files_in(
        explicit,
        std::env::var_os("KUBECONFIG").as_deref(),
        home.as_deref(),
    )
}

/// [`kubeconfig_files`] with the environment given (testable).
pub fn kubeconfig_files_in(
    explicit: Option<&Path>,
    kubeconfig_env: Option<&std::ffi::OsStr>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    if let Some(v) = kubeconfig_env {
        let files: Vec<PathBuf> = std::env::split_paths(v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !files.is_empty() {
            return files;
        }
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

/// Read and merge the kubeconfig files, pick the context, and check it is
/// one we may use.
pub fn resolve(opts: &ConnectOptions) -> Result<Resolved, ConnectError> {
    resolve_files(opts, &kubeconfig_files(opts.kubeconfig.as_deref()))
}

/// [`resolve`] over a given list of kubeconfig files (merged in order).
pub fn resolve_files(opts: &ConnectOptions, files: &[PathBuf]) -> Result<Resolved, ConnectError> {
    if files.is_empty() {
        return Err(ConnectError::NoKubeconfig(
            "no home directory to find ~/.kube/config in".into(),
        ));
    }
    let mut merged = Kubeconfig::default();
    // The file that first defines each context, for `kubeconfig_path`.
    let mut origin: Vec<(String, PathBuf)> = Vec::new();
    let mut read_any = false;
    for f in files {
        if !f.exists() {
            // kubectl skips missing KUBECONFIG entries, but an explicit
            // --kubeconfig must exist.
            if opts.kubeconfig.is_some() {
                return Err(ConnectError::BadKubeconfig {
                    path: f.display().to_string(),
                    reason: "the file does not exist".into(),
                });
            }
            continue;
        }
        let cfg = Kubeconfig::read_from(f).map_err(|e| ConnectError::BadKubeconfig {
            path: f.display().to_string(),
            reason: first_line(&e.to_string()),
        })?;
        for c in &cfg.contexts {
            if !origin.iter().any(|(n, _)| n == &c.name) {
                origin.push((c.name.clone(), f.clone()));
            }
        }
        merged = merged.merge(cfg).map_err(|e| ConnectError::BadKubeconfig {
            path: f.display().to_string(),
            reason: first_line(&e.to_string()),
        })?;
        read_any = true;
    }
    if !read_any {
        return Err(ConnectError::NoKubeconfig(format!(
            "looked for {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let available = || {
        let names: Vec<&str> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let context_name = match opts.context.clone().or(merged.current_context.clone()) {
        Some(c) if !c.is_empty() => c,
        _ => {
            return Err(ConnectError::NoContext {
                available: available(),
            });
        }
    };
    let Some(ctx) = merged
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
    else {
        return Err(ConnectError::UnknownContext {
            name: context_name,
            available: available(),
        });
    };
    let server = merged
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| ConnectError::UnknownCluster {
            context: context_name.clone(),
            cluster: ctx.cluster.clone(),
        })?;
    let server = display_server(&server);
    if !opts.allow_remote && !is_local_context(&context_name, &server) {
        return Err(ConnectError::RemoteRefused {
            context: context_name,
            server,
        });
    }
    let kubeconfig_path = origin
        .into_iter()
        .find(|(n, _)| n == &context_name)
        .map(|(_, p)| p);
    Ok(Resolved {
        kubeconfig: merged,
        info: ConnectionInfo {
            context: context_name,
            kubeconfig_path,
            namespace: opts
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
            server,
            state: ConnectionState::Connecting,
        },
    })
}

/// Build a client for the resolved context (no network access yet).
pub async fn client_for(resolved: &Resolved) -> Result<Client, ConnectError> {
    let info = &resolved.info;
    let options = KubeConfigOptions {
        context: Some(info.context.clone()),
        cluster: None,
        user: None,
    };
    let mut config = Config::from_custom_kubeconfig(resolved.kubeconfig.clone(), &options)
        .await
        .map_err(|e| ConnectError::Config {
            context: info.context.clone(),
            reason: e.to_string(),
        })?;
    config.default_namespace = info.namespace.clone();
    Client::try_from(config).map_err(|e| ConnectError::Config {
        context: info.context.clone(),
        reason: e.to_string(),
    })
}

/// Resolve, build the client and check the server answers. On success the
/// info's state is `Connected`.
pub async fn connect(opts: &ConnectOptions) -> Result<(Client, ConnectionInfo), ConnectError> {
    let resolved = resolve(opts)?;
    let client = client_for(&resolved).await?;
    let mut info = resolved.info;
    check_reachable(&client, &info).await?;
    info.state = ConnectionState::Connected;
    Ok((client, info))
}

/// Ask the server for its version, with a timeout.
pub async fn check_reachable(client: &Client, info: &ConnectionInfo) -> Result<(), ConnectError> {
    match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
        Err(_) => Err(ConnectError::Unreachable {
            context: info.context.clone(),
            server: info.server.clone(),
            reason: format!("no answer within {} s", REACH_TIMEOUT.as_secs()),
        }),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(classify(e, info)),
    }
}

fn classify(e: kube::Error, info: &ConnectionInfo) -> ConnectError {
    match &e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => ConnectError::Unauthorized {
            context: info.context.clone(),
            reason: s.message.clone(),
        },
        _ => ConnectError::Unreachable {
            context: info.context.clone(),
            server: info.server.clone(),
            reason: short_error(&e),
        },
    }
}

/// The innermost cause of an error, which is usually the useful part
/// ("Connection refused (os error 111)").
pub fn short_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let inner = cur.to_string();
    let outer = e.to_string();
    if inner == outer {
        outer
    } else {
        format!("{outer} ({inner})")
    }
}

/// What a transport error means for a learner, in one short line naming
/// the server (`server` is its URL, or "" when unknown): "cannot reach the
/// API server at 127.0.0.1:6443 (connection refused)", "the server's
/// certificate changed: restart kubetutor"...
pub fn learner_error(e: &kube::Error, server: &str) -> String {
    let host = server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .trim_end_matches('/');
    let at = if host.is_empty() {
        String::new()
    } else {
        format!(" at {host}")
    };
    if let kube::Error::Api(s) = e {
        return match s.code {
            401 => "the API server no longer accepts our credentials (401): restart kubetutor, or refresh the kubeconfig".into(),
            code => format!("the API server{at} answered {code}: {}", s.message),
        };
    }
    // Every message of the chain, lower-cased, to look for the cause.
    let mut chain = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        chain.push_str(&err.to_string().to_lowercase());
        chain.push(' ');
        cur = err.source();
    }
    let has = |words: &[&str]| words.iter().any(|w| chain.contains(w));
    if has(&["connection refused"]) {
        format!("cannot reach the API server{at} (connection refused)")
    } else if has(&[
        "certificate",
        "badsignature",
        "unknownissuer",
        "invalid peer",
        "handshake",
        "tls",
    ]) {
        "the server's certificate changed: restart kubetutor".into()
    } else if has(&["timed out", "timeout", "deadline"]) {
        format!("no answer from the API server{at} (timed out)")
    } else if has(&["dns", "lookup", "name or service not known", "resolve"]) {
        format!("cannot find the API server{at} (its name does not resolve)")
    } else if has(&[
        "reset by peer",
        "broken pipe",
        "unexpected eof",
        "connection closed",
        "incomplete message",
    ]) {
        format!("the API server{at} closed the connection")
    } else {
        let mut inner: &(dyn std::error::Error + 'static) = e;
        while let Some(next) = inner.source() {
            inner = next;
        }
        format!("cannot reach the API server{at} ({inner})")
    }
}

/// Whether the course namespace exists.
pub async fn namespace_exists(client: &Client, namespace: &str) -> Result<bool, ConnectError> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get_opt(namespace)
        .await
        .map(|n| n.is_some())
        .map_err(|e| ConnectError::Namespace {
            namespace: namespace.to_string(),
            reason: short_error(&e),
        })
}

/// Create the course namespace. Call only after the learner agreed. Returns
/// `false` when it already existed.
pub async fn create_namespace(client: &Client, namespace: &str) -> Result<bool, ConnectError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(namespace.to_string()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubetutor".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(ConnectError::Namespace {
            namespace: namespace.to_string(),
            reason: format!(
                "{}: ask your cluster admin to create it, or pick an existing one with `--namespace`",
                s.message
            ),
        }),
        Err(e) => Err(ConnectError::Namespace {
            namespace: namespace.to_string(),
            reason: short_error(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: &str = "apiVersion: v1
kind: Config
current-context: kind-kind
clusters:
- name: kind-kind
  cluster: {server: 'https://127.0.0.1:41234'}
contexts:
- name: kind-kind
  context: {cluster: kind-kind, user: kind-kind}
users:
- name: kind-kind
  user: {token: abc}
";

    const PROD: &str = "apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster: {server: 'https://k8s.example.com:6443'}
- name: broken
contexts:
- name: prod
  context: {cluster: prod, user: admin, namespace: payments}
- name: kind-kind
  context: {cluster: prod, user: admin}
- name: nocluster
  context: {cluster: broken, user: admin}
users:
- name: admin
  user: {token: xyz}
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn opts(path: &Path) -> ConnectOptions {
        ConnectOptions {
            kubeconfig: Some(path.to_path_buf()),
            ..ConnectOptions::default()
        }
    }

    #[tokio::test]
    async fn transport_errors_read_well() {
        // Nothing listens on this port (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = format!("https://127.0.0.1:{port}");
        let kc = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{{name: c, cluster: {{server: '{server}', insecure-skip-tls-verify: true}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "config", &kc);
        let r = resolve(&opts(&f)).unwrap();
        let client = client_for(&r).await.unwrap();
        let e = client.apiserver_version().await.unwrap_err();
        assert_eq!(
            learner_error(&e, &server),
            format!("cannot reach the API server at 127.0.0.1:{port} (connection refused)")
        );
        let unauthorized = kube::Error::Api(Box::new(
            kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(401),
        ));
        assert!(learner_error(&unauthorized, &server).contains("restart kubetutor"));
    }

    #[test]
    fn server_urls_lose_their_credentials() {
        assert_eq!(
            display_server("http://kubetutor-sandbox:s3cret@127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            display_server("https://u:p@example.com/prefix/a@b"),
            "https://example.com/prefix/a@b"
        );
        assert_eq!(
            display_server("https://10.0.0.1:6443"),
            "https://10.0.0.1:6443"
        );
        assert_eq!(display_server("weird"), "weird");
    }

    #[test]
    fn local_contexts() {
        for name in [
            "kind-kind",
            "minikube",
            "k3d-dev",
            "docker-desktop",
            "rancher-desktop",
            "orbstack",
            "kubetutor-sandbox",
        ] {
            assert!(is_local_context(name, "https://10.0.0.1:6443"), "{name}");
        }
        assert!(!is_local_context("prod", "https://k8s.example.com"));
        assert!(!is_local_context("kindly", "https://10.0.0.1"));
        assert!(is_local_context("whatever", "https://127.0.0.1:6443"));
        assert!(is_local_context("whatever", "https://[::1]:6443"));
        assert!(is_local_context("whatever", "http://localhost:8080"));
        assert!(!is_local_context("whatever", "not a url"));
    }

    #[test]
    fn resolves_current_context_with_course_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "config", KIND);
        let r = resolve(&opts(&f)).unwrap();
        assert_eq!(r.info.context, "kind-kind");
        assert_eq!(r.info.namespace, "kubetutor");
        assert_eq!(r.info.server, "https://127.0.0.1:41234");
        assert_eq!(r.info.kubeconfig_path.as_deref(), Some(f.as_path()));
        let mut o = opts(&f);
        o.namespace = Some("lab".into());
        assert_eq!(resolve(&o).unwrap().info.namespace, "lab");
    }

    #[test]
    fn remote_needs_opt_in() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "config", PROD);
        let err = resolve(&opts(&f)).unwrap_err().to_string();
        assert!(err.contains("--allow-remote"), "{err}");
        assert!(err.contains("prod"), "{err}");
        let mut o = opts(&f);
        o.allow_remote = true;
        assert_eq!(resolve(&o).unwrap().info.context, "prod");
    }

    #[test]
    fn unknown_context_and_cluster_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "config", PROD);
        let mut o = opts(&f);
        o.context = Some("nope".into());
        let err = resolve(&o).unwrap_err().to_string();
        assert!(err.contains("`nope` is not in the kubeconfig"), "{err}");
        assert!(err.contains("prod, kind-kind"), "{err}");
        o.context = Some("nocluster".into());
        o.allow_remote = true;
        assert!(matches!(
            resolve(&o),
            Err(ConnectError::UnknownCluster { .. })
        ));
        let bad = write(dir.path(), "bad", "clusters: [ {");
        let err = resolve(&opts(&bad)).unwrap_err().to_string();
        assert!(err.contains("cannot read the kubeconfig"), "{err}");
        // One line, and no second "error:" inside the CLI's own.
        assert!(!err.contains('\n'), "{err}");
        assert!(!err.to_lowercase().contains("error:"), "{err}");
        let missing = dir.path().join("missing");
        assert!(matches!(
            resolve(&opts(&missing)),
            Err(ConnectError::BadKubeconfig { .. })
        ));
        let empty = write(dir.path(), "empty", "apiVersion: v1\nkind: Config\n");
        assert!(matches!(
            resolve(&opts(&empty)),
            Err(ConnectError::NoContext { .. })
        ));
    }

    #[test]
    fn merged_files_first_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", KIND);
        let b = write(dir.path(), "b", PROD);
        let joined = std::env::join_paths([
            a.clone(),
            PathBuf::new(),
            dir.path().join("gone"),
            b.clone(),
        ])
        .unwrap();
        let files = kubeconfig_files_in(None, Some(&joined), Some(dir.path()));
        assert_eq!(files.len(), 3);
        assert_eq!(
            kubeconfig_files_in(None, None, Some(Path::new("/home/ana"))),
            vec![PathBuf::from("/home/ana/.kube/config")]
        );
        assert_eq!(
            kubeconfig_files_in(Some(&b), Some(&joined), None),
            vec![b.clone()]
        );
        let r = resolve_files(&ConnectOptions::default(), &files)
            .unwrap()
            .info;
        // The first file's current-context and its kind-kind definition win.
        assert_eq!(r.context, "kind-kind");
        assert_eq!(r.server, "https://127.0.0.1:41234");
        assert_eq!(r.kubeconfig_path.as_deref(), Some(a.as_path()));
        let o = ConnectOptions {
            context: Some("prod".into()),
            allow_remote: true,
            ..ConnectOptions::default()
        };
        let r = resolve_files(&o, &files).unwrap().info;
        assert_eq!(r.kubeconfig_path.as_deref(), Some(b.as_path()));
        assert!(matches!(
            resolve_files(&ConnectOptions::default(), &[dir.path().join("gone")]),
            Err(ConnectError::NoKubeconfig(_))
        ));
    }
}
