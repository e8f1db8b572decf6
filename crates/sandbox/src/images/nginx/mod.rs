//! The official `nginx` image, emulated: its entrypoint (the
//! `/docker-entrypoint.sh` messages, the IPv6 listen line added to
//! `default.conf`, `envsubst` of `/etc/nginx/templates`), then nginx
//! itself reading `/etc/nginx/nginx.conf` from the container's filesystem
//! and serving HTTP on its `listen` ports ([`serve`]): static files from
//! `/usr/share/nginx/html` or wherever `root` points (a PVC, an emptyDir,
//! a ConfigMap), with the access log on stdout and the error log on
//! stderr, as the image links them. `nginx -t`, `-T`, `-v` and
//! `-s reload|stop|quit|reopen` run as programs of the image's userland
//! ([`programs`], [`program`]); a reload reaches the running server through a registry
//! keyed by the container's writable layer.

pub(crate) mod config;
pub(crate) mod files;
pub(crate) mod programs;
pub(crate) mod serve;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{AppContext, EXIT_KILLED, EmulatedApp, Stop};
use crate::hostfs::ContainerFs;
use crate::machinery::meta::lock;
use crate::network::netns::{BindError, BoundPort};
use crate::network::podnet::{Dial, PodNetwork};
use config::{Config, Emerg, MAIN_CONF};
use serve::{Shared, error_time};

/// The version an untagged (or `latest`, `alpine`...) image runs.
pub const DEFAULT_VERSION: &str = "1.29.3";
/// The master's pid; workers start after the entrypoint's processes.
const MASTER_PID: u32 = 1;
const FIRST_WORKER_PID: u32 = 29;
/// CPUs nginx sees (`worker_processes auto`): the node's.
const NODE_CPUS: usize = 4;
/// The temp directories nginx creates at start.
const TEMP_DIRS: &[&str] = &[
    "/var/cache/nginx/client_temp",
    "/var/cache/nginx/proxy_temp",
    "/var/cache/nginx/fastcgi_temp",
    "/var/cache/nginx/uwsgi_temp",
    "/var/cache/nginx/scgi_temp",
];
/// How often, and how far apart, nginx retries a port in use.
const BIND_TRIES: usize = 5;
const BIND_RETRY: Duration = Duration::from_millis(500);

/// The last release of each line a `major.minor` tag names.
const LAST_PATCH: &[(&str, &str)] = &[
    ("1.21", "1.21.6"),
    ("1.22", "1.22.1"),
    ("1.23", "1.23.4"),
    ("1.24", "1.24.0"),
    ("1.25", "1.25.5"),
    ("1.26", "1.26.3"),
    ("1.27", "1.27.5"),
    ("1.28", "1.28.0"),
    ("1.29", DEFAULT_VERSION),
    ("stable", "1.28.0"),
];

/// The nginx version of an image reference: its tag when that is a full
/// version (`1.27.4`, `1.27.4-alpine`), the line's last release for
/// `1.27` or `stable`, else [`DEFAULT_VERSION`].
pub fn version_of(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let tag = image
        .rsplit_once(':')
        .filter(|(repo, _)| !repo.ends_with('/') && !image[repo.len()..].contains('/'))
        .map_or("", |(_, t)| t);
    let v = tag.split('-').next().unwrap_or("");
    let parts: Vec<&str> = v.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if parts.len() == 3 && numeric {
        return v.to_string();
    }
    let line = if parts.len() >= 2 && numeric {
        format!("{}.{}", parts[0], parts[1])
    } else {
        v.to_string()
    };
    LAST_PATCH.iter().find(|(l, _)| *l == line).map_or_else(
        || {
            if parts.len() == 2 && numeric {
                format!("{line}.0")
            } else {
                DEFAULT_VERSION.to_string()
            }
        },
        |(_, p)| (*p).to_string(),
    )
}

fn alpine(image: &str) -> bool {
    image
        .rsplit_once(':')
        .is_some_and(|(_, t)| t.contains("alpine"))
}

fn built_by(image: &str) -> &'static str {
    if alpine(image) {
        "built by gcc 14.2.0 (Alpine 14.2.0) "
    } else {
        "built by gcc 12.2.0 (Debian 12.2.0-14+deb12u1) "
    }
}

/// What the running servers listen to: reload, stop. Keyed by the
/// container's writable layer (one per container instance).
enum Control {
    Reload { from: u32 },
    Stop { graceful: bool, from: u32 },
    Reopen { from: u32 },
}

fn registry() -> &'static Mutex<HashMap<PathBuf, mpsc::UnboundedSender<Control>>> {
    static REG: OnceLock<Mutex<HashMap<PathBuf, mpsc::UnboundedSender<Control>>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Removes the registry entry when the server ends.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        lock(registry()).remove(&self.0);
    }
}

/// The emulated nginx process (with or without the image's entrypoint).
pub struct Nginx {
    /// The entrypoint runs (the container did not override `command`).
    entrypoint: bool,
}

impl Nginx {
    pub fn new(entrypoint: bool) -> Self {
        Self { entrypoint }
    }
}

/// Whether a container of the nginx image runs nginx: the default
/// command, or `nginx ...` / `nginx-debug ...`.
pub fn runs_nginx(argv: &[String]) -> bool {
    match argv.first() {
        None => true,
        Some(p) => matches!(p.rsplit('/').next(), Some("nginx" | "nginx-debug")),
    }
}

impl EmulatedApp for Nginx {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn process_title(&self, argv: &[String]) -> Option<String> {
        let args = if argv.is_empty() {
            "nginx -g daemon off;".to_string()
        } else {
            argv.join(" ")
        };
        Some(format!("nginx: master process {args}"))
    }

    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(run(self.entrypoint, ctx, stop))
    }
}

/// `-c file` of an nginx command line, else the main configuration.
fn conf_path(args: &[String]) -> String {
    args.iter()
        .position(|a| a == "-c")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| MAIN_CONF.to_string())
}

/// Loads and checks the configuration as nginx does at start.
fn load(fs: &ContainerFs, path: &str, network: Option<&PodNetwork>) -> Result<Config, Emerg> {
    let list = config::load(fs, path)?;
    let cfg = config::build(&list)?;
    if let Some(net) = network {
        check_hosts(&cfg, net)?;
    }
    Ok(cfg)
}

/// `proxy_pass` and `upstream` hosts must resolve when nginx starts.
fn check_hosts(cfg: &Config, net: &PodNetwork) -> Result<(), Emerg> {
    let resolves = |h: &str, p: u16| h == "*" || !matches!(net.dial(h, p), Dial::NoSuchHost);
    for u in &cfg.upstreams {
        for (h, p) in &u.servers {
            if !resolves(h, *p) {
                return Err(Emerg(format!(
                    "host not found in upstream \"{h}:{p}\" in upstream \"{}\"",
                    u.name
                )));
            }
        }
    }
    for s in &cfg.servers {
        for l in &s.locations {
            let Some(target) = &l.proxy_pass else {
                continue;
            };
            let (h, p, _) = config::proxy_url(target);
            if cfg.upstreams.iter().any(|u| u.name == h) || resolves(&h, p) {
                continue;
            }
            let authority = target
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap_or("");
            return Err(Emerg(format!(
                "host not found in upstream \"{authority}\" in {}",
                l.proxy_at
            )));
        }
    }
    Ok(())
}

fn notice(pid: u32, msg: &str) -> String {
    format!("{} [notice] {pid}#{pid}: {msg}", error_time())
}

/// The nginx process: entrypoint, configuration, listeners, requests
/// until stopped. One function: it is the process's life from start to
/// exit, which reads best in order.
async fn run(entrypoint: bool, ctx: AppContext, mut stop: Stop) -> i32 {
    let argv = ctx.argv();
    let args: Vec<String> = argv.iter().skip(1).cloned().collect();
    let out = |l: &str| ctx.log(l);
    if entrypoint
        && ctx
            .env_var("NGINX_ENTRYPOINT_QUIET_LOGS")
            .is_none_or(str::is_empty)
    {
        run_entrypoint(&ctx, &out);
    } else if entrypoint {
        apply_entrypoint_quietly(&ctx);
    }
    let version = version_of(&ctx.image);
    if args
        .iter()
        .any(|a| a == "-v" || a == "-V" || a == "-t" || a == "-T")
    {
        let (stdout, stderr, code) = program(&ctx.image, &args, &ctx.fs, Some(&ctx.network));
        for l in String::from_utf8_lossy(&stdout)
            .lines()
            .chain(String::from_utf8_lossy(&stderr).lines())
        {
            out(l);
        }
        return code;
    }
    let path = conf_path(&args);
    let cfg = match load(&ctx.fs, &path, Some(&ctx.network)) {
        Ok(c) => c,
        Err(Emerg(m)) => {
            out(&format!(
                "{} [emerg] {MASTER_PID}#{MASTER_PID}: {m}",
                error_time()
            ));
            out(&format!("nginx: [emerg] {m}"));
            return 1;
        }
    };
    // The temp directories nginx makes at start; a read-only root
    // filesystem without a volume there stops it.
    for dir in TEMP_DIRS {
        match ctx.fs.resolve("/", dir) {
            Ok(r) if r.read_only && !r.host.is_dir() => {
                let m = format!("mkdir() \"{dir}\" failed (30: Read-only file system)");
                out(&format!(
                    "{} [emerg] {MASTER_PID}#{MASTER_PID}: {m}",
                    error_time()
                ));
                out(&format!("nginx: [emerg] {m}"));
                return 1;
            }
            Ok(r) if !r.read_only => {
                let _ = std::fs::create_dir_all(&r.host);
            }
            _ => {}
        }
    }
    let mut listeners: HashMap<u16, BoundPort> = HashMap::new();
    for port in &cfg.ports {
        match bind(&ctx, *port, &mut stop).await {
            Ok(b) => {
                listeners.insert(*port, b);
            }
            Err(code) => return code,
        }
    }
    let workers = cfg.worker_processes.unwrap_or(NODE_CPUS).clamp(1, 64);
    for l in [
        "using the \"epoll\" event method".to_string(),
        format!("nginx/{version}"),
        built_by(&ctx.image).to_string(),
        "OS: Linux 6.8.0".to_string(),
        "getrlimit(RLIMIT_NOFILE): 1048576:1048576".to_string(),
        "start worker processes".to_string(),
    ] {
        out(&notice(MASTER_PID, &l));
    }
    let mut next_pid = FIRST_WORKER_PID;
    let mut worker_pids: Vec<u32> = Vec::new();
    for _ in 0..workers {
        out(&notice(
            MASTER_PID,
            &format!("start worker process {next_pid}"),
        ));
        worker_pids.push(next_pid);
        next_pid += 1;
    }
    match ctx.fs.resolve("/", "/run/nginx.pid") {
        Ok(r) if r.read_only => {
            let m = "open() \"/run/nginx.pid\" failed (30: Read-only file system)";
            out(&format!(
                "{} [emerg] {MASTER_PID}#{MASTER_PID}: {m}",
                error_time()
            ));
            return 1;
        }
        Ok(r) => {
            if let Some(parent) = r.host.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::write(&r.host, format!("{MASTER_PID}\n"));
        }
        Err(_) => {}
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(registry()).insert(ctx.fs.rootfs().to_path_buf(), tx);
    let _registered = Registered(ctx.fs.rootfs().to_path_buf());
    let shared = Arc::new(Shared {
        config: std::sync::RwLock::new(Arc::new(cfg)),
        fs: ctx.fs.clone(),
        access: Arc::clone(&ctx.log),
        error: Arc::clone(&ctx.log),
        network: ctx.network.clone(),
        version: version.clone(),
        worker_pid: worker_pids.first().copied().unwrap_or(FIRST_WORKER_PID),
        connections: AtomicU64::new(0),
    });
    let mut accept_tasks: HashMap<u16, tokio::task::JoinHandle<()>> = HashMap::new();
    for (port, bound) in &mut listeners {
        if let Some(l) = bound.take_listener() {
            accept_tasks.insert(
                *port,
                tokio::spawn(accept_loop(l, *port, Arc::clone(&shared))),
            );
        }
    }
    let exit_workers = |pids: &[u32], out: &dyn Fn(&str), graceful: bool| {
        for pid in pids {
            if graceful {
                out(&notice(*pid, "gracefully shutting down"));
            }
            out(&notice(*pid, "exiting"));
            out(&notice(*pid, "exit"));
        }
        for pid in pids {
            out(&notice(
                MASTER_PID,
                &format!("signal 17 (SIGCHLD) received from {pid}"),
            ));
            out(&notice(
                MASTER_PID,
                &format!("worker process {pid} exited with code 0"),
            ));
        }
    };
    let code = loop {
        tokio::select! {
            () = stop.wait() => {
                out(&notice(MASTER_PID, "signal 15 (SIGTERM) received, exiting"));
                exit_workers(&worker_pids, &out, false);
                out(&notice(MASTER_PID, "exit"));
                break 0;
            }
            c = rx.recv() => match c {
                Some(Control::Reload { from }) => {
                    out(&notice(MASTER_PID, &format!("signal 1 (SIGHUP) received from {from}, reconfiguring")));
                    out(&notice(MASTER_PID, "reconfiguring"));
                    let new_cfg = match load(&ctx.fs, &path, Some(&ctx.network)) {
                        Ok(c) => c,
                        Err(Emerg(m)) => {
                            out(&format!("{} [emerg] {MASTER_PID}#{MASTER_PID}: {m}", error_time()));
                            continue;
                        }
                    };
                    // Ports no longer listened to close; new ones open.
                    let wanted = new_cfg.ports.clone();
                    listeners.retain(|p, _| wanted.contains(p));
                    accept_tasks.retain(|p, t| {
                        let keep = wanted.contains(p);
                        if !keep {
                            t.abort();
                        }
                        keep
                    });
                    for port in &wanted {
                        if listeners.contains_key(port) {
                            continue;
                        }
                        match ctx.netns.bind(&ctx.pod_uid, &ctx.container, *port).await {
                            Ok(mut b) => {
                                if let Some(l) = b.take_listener() {
                                    accept_tasks.insert(*port, tokio::spawn(accept_loop(l, *port, Arc::clone(&shared))));
                                }
                                listeners.insert(*port, b);
                            }
                            Err(_) => out(&format!(
                                "{} [emerg] {MASTER_PID}#{MASTER_PID}: bind() to 0.0.0.0:{port} failed (98: Address already in use)",
                                error_time()
                            )),
                        }
                    }
                    let workers = new_cfg.worker_processes.unwrap_or(NODE_CPUS).clamp(1, 64);
                    if let Ok(mut c) = shared.config.write() {
                        *c = Arc::new(new_cfg);
                    }
                    out(&notice(MASTER_PID, "using the \"epoll\" event method"));
                    out(&notice(MASTER_PID, "start worker processes"));
                    let old = std::mem::take(&mut worker_pids);
                    for _ in 0..workers {
                        out(&notice(MASTER_PID, &format!("start worker process {next_pid}")));
                        worker_pids.push(next_pid);
                        next_pid += 1;
                    }
                    exit_workers(&old, &out, true);
                }
                Some(Control::Stop { graceful, from }) => {
                    let (n, name) = if graceful { (3, "SIGQUIT") } else { (15, "SIGTERM") };
                    let what = if graceful { "gracefully shutting down" } else { "exiting" };
                    out(&notice(MASTER_PID, &format!("signal {n} ({name}) received from {from}, {what}")));
                    exit_workers(&worker_pids, &out, graceful);
                    out(&notice(MASTER_PID, "exit"));
                    break 0;
                }
                Some(Control::Reopen { from }) => {
                    out(&notice(MASTER_PID, &format!("signal 10 (SIGUSR1) received from {from}, reopening logs")));
                    out(&notice(MASTER_PID, "reopening logs"));
                }
                None => {}
            },
        }
    };
    for (_, t) in accept_tasks {
        t.abort();
    }
    drop(listeners);
    if stop.is_killed() { EXIT_KILLED } else { code }
}

/// Binds one port, retrying as nginx does while it is in use; Err is the
/// exit code.
async fn bind(ctx: &AppContext, port: u16, stop: &mut Stop) -> Result<BoundPort, i32> {
    for attempt in 0..BIND_TRIES {
        match ctx.netns.bind(&ctx.pod_uid, &ctx.container, port).await {
            Ok(b) => return Ok(b),
            Err(BindError::AddrInUse { .. }) => {
                ctx.log(&format!(
                    "{} [emerg] {MASTER_PID}#{MASTER_PID}: bind() to 0.0.0.0:{port} failed (98: Address already in use)",
                    error_time()
                ));
                ctx.log(&format!(
                    "nginx: [emerg] bind() to 0.0.0.0:{port} failed (98: Address already in use)"
                ));
            }
            Err(e) => {
                ctx.log(&format!("nginx: [emerg] {e}"));
                return Err(1);
            }
        }
        if attempt + 1 < BIND_TRIES {
            tokio::select! {
                () = tokio::time::sleep(BIND_RETRY) => {}
                () = stop.wait() => return Err(0),
            }
        }
    }
    ctx.log(&format!(
        "{} [emerg] {MASTER_PID}#{MASTER_PID}: still could not bind()",
        error_time()
    ));
    ctx.log("nginx: [emerg] still could not bind()");
    Err(1)
}

async fn accept_loop(listener: tokio::net::TcpListener, port: u16, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                conns.spawn(async move {
                    let n = serve::next_connection(&shared);
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let shared = Arc::clone(&shared);
                        // The kubelet's probes come from the node's
                        // address on the pod network; everything else
                        // here reaches the pod through its loopback.
                        let remote = if req
                            .headers()
                            .get(http::header::USER_AGENT)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|ua| ua.starts_with("kube-probe/"))
                        {
                            "10.244.0.1"
                        } else {
                            "127.0.0.1"
                        };
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                serve::handle(shared, port, remote.to_string(), n, req).await,
                            )
                        }
                    });
                    // nginx writes `Content-Type`, not `content-type`.
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// The entrypoint's messages and work, as `/docker-entrypoint.sh` prints
/// them (on stdout).
fn run_entrypoint(ctx: &AppContext, out: &dyn Fn(&str)) {
    let me = "/docker-entrypoint.sh";
    out(&format!(
        "{me}: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
    ));
    out(&format!(
        "{me}: Looking for shell scripts in /docker-entrypoint.d/"
    ));
    for script in files::ENTRYPOINT_SCRIPTS {
        let path = format!("/docker-entrypoint.d/{script}");
        if script.ends_with(".envsh") {
            out(&format!("{me}: Sourcing {path}"));
        } else {
            out(&format!("{me}: Launching {path}"));
        }
        match *script {
            "10-listen-on-ipv6-by-default.sh" => {
                for l in listen_on_ipv6(&ctx.fs) {
                    out(&format!("{script}: info: {l}"));
                }
            }
            "20-envsubst-on-templates.sh" => {
                for l in envsubst_templates(ctx) {
                    out(&format!("{script}: {l}"));
                }
            }
            _ => {}
        }
    }
    out(&format!("{me}: Configuration complete; ready for start up"));
}

/// The entrypoint's work without its messages (`NGINX_ENTRYPOINT_QUIET_LOGS`).
fn apply_entrypoint_quietly(ctx: &AppContext) {
    let _ = listen_on_ipv6(&ctx.fs);
    let _ = envsubst_templates(ctx);
}

/// `10-listen-on-ipv6-by-default.sh`: adds `listen [::]:80;` to the
/// packaged default.conf; says why not otherwise.
fn listen_on_ipv6(fs: &ContainerFs) -> Vec<String> {
    let conf = "/etc/nginx/conf.d/default.conf";
    let Ok(r) = fs.resolve("/", conf) else {
        return vec![format!("{conf} is not a file or does not exist")];
    };
    let Ok(text) = std::fs::read_to_string(&r.host) else {
        return vec![format!("{conf} is not a file or does not exist")];
    };
    if r.read_only {
        return vec![format!("can not modify {conf} (read-only file system?)")];
    }
    if text.contains("listen  [::]:80;") {
        return vec!["IPv6 listen already enabled".to_string()];
    }
    let mut lines = vec![format!("Getting the checksum of {conf}")];
    if text != files::DEFAULT_CONF {
        lines.push(format!("{conf} differs from the packaged version"));
        return lines;
    }
    let changed = text.replacen(
        "listen       80;",
        "listen       80;\n    listen  [::]:80;",
        1,
    );
    if std::fs::write(&r.host, changed).is_ok() {
        lines.push(format!("Enabled listen on IPv6 in {conf}"));
    }
    lines
}

/// `20-envsubst-on-templates.sh`: each `/etc/nginx/templates/*.template`
/// with `${VAR}` of the environment filled in, written to conf.d.
fn envsubst_templates(ctx: &AppContext) -> Vec<String> {
    let dir = "/etc/nginx/templates";
    let Ok(r) = ctx.fs.resolve("/", dir) else {
        return Vec::new();
    };
    if !r.host.is_dir() {
        return Vec::new();
    }
    let mut names: Vec<String> = std::fs::read_dir(&r.host)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".template"))
        .collect();
    names.sort();
    let mut lines = Vec::new();
    let out_dir = "/etc/nginx/conf.d";
    let Ok(out) = ctx.fs.resolve("/", out_dir) else {
        return lines;
    };
    if out.read_only {
        lines.push(format!("ERROR: {out_dir} is not writable"));
        return lines;
    }
    for n in names {
        let src = format!("{dir}/{n}");
        let dst = format!("{out_dir}/{}", n.trim_end_matches(".template"));
        lines.push(format!("Running envsubst on {src} to {dst}"));
        let Ok(text) = std::fs::read_to_string(r.host.join(&n)) else {
            continue;
        };
        let filled = envsubst(&text, &ctx.env);
        if let Ok(d) = ctx.fs.resolve("/", &dst) {
            let _ = std::fs::create_dir_all(out.host.clone());
            let _ = std::fs::write(&d.host, filled);
        }
    }
    lines
}

/// `${VAR}` and `$VAR` of defined variables replaced (others kept, as the
/// image restricts envsubst to the defined ones).
fn envsubst(text: &str, env: &[(String, String)]) -> String {
    let get = |k: &str| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len, braced) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(j) => (&b[..j], j + 2, true),
                None => ("", 0, true),
            }
        } else {
            let j = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..j], j, false)
        };
        match get(name).filter(|_| !name.is_empty()) {
            Some(v) => {
                out.push_str(&v);
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = after;
                let _ = braced;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `nginx` program run in the container (`kubectl exec ... nginx -t`):
/// (stdout, stderr, exit code).
pub fn program(
    image: &str,
    args: &[String],
    fs: &ContainerFs,
    network: Option<&PodNetwork>,
) -> (Vec<u8>, Vec<u8>, i32) {
    let version = version_of(image);
    let mut err = String::new();
    let signal_pid = 47;
    if args.iter().any(|a| a == "-v") {
        err.push_str(&format!("nginx version: nginx/{version}\n"));
        return (Vec::new(), err.into_bytes(), 0);
    }
    if args.iter().any(|a| a == "-V") {
        err.push_str(&format!(
            "nginx version: nginx/{version}\n{}\nbuilt with OpenSSL 3.0.15 3 Sep 2024\nTLS SNI support enabled\nconfigure arguments: --prefix=/etc/nginx --sbin-path=/usr/sbin/nginx --modules-path=/usr/lib/nginx/modules --conf-path=/etc/nginx/nginx.conf --error-log-path=/var/log/nginx/error.log --http-log-path=/var/log/nginx/access.log --pid-path=/run/nginx.pid --lock-path=/run/nginx.lock --user=nginx --group=nginx --with-http_ssl_module --with-http_v2_module --with-stream\n",
            built_by(image).trim_end()
        ));
        return (Vec::new(), err.into_bytes(), 0);
    }
    let path = conf_path(args);
    if args.iter().any(|a| a == "-t" || a == "-T") {
        let dump = args.iter().any(|a| a == "-T");
        return match load(fs, &path, network) {
            Ok(_) => {
                err.push_str(&format!(
                    "nginx: the configuration file {path} syntax is ok\nnginx: configuration file {path} test is successful\n"
                ));
                let out = if dump {
                    dump_config(fs, &path)
                } else {
                    String::new()
                };
                (out.into_bytes(), err.into_bytes(), 0)
            }
            Err(Emerg(m)) => {
                err.push_str(&format!(
                    "nginx: [emerg] {m}\nnginx: configuration file {path} test failed\n"
                ));
                (Vec::new(), err.into_bytes(), 1)
            }
        };
    }
    if let Some(i) = args.iter().position(|a| a == "-s") {
        let signal = args.get(i + 1).map_or("", String::as_str);
        let control = match signal {
            "reload" => Control::Reload { from: signal_pid },
            "stop" => Control::Stop {
                graceful: false,
                from: signal_pid,
            },
            "quit" => Control::Stop {
                graceful: true,
                from: signal_pid,
            },
            "reopen" => Control::Reopen { from: signal_pid },
            "" => {
                err.push_str("nginx: option \"-s\" requires parameter\n");
                return (Vec::new(), err.into_bytes(), 1);
            }
            other => {
                err.push_str(&format!("nginx: invalid option: \"-s {other}\"\n"));
                return (Vec::new(), err.into_bytes(), 1);
            }
        };
        let sender = lock(registry()).get(fs.rootfs()).cloned();
        return match sender {
            Some(tx) if tx.send(control).is_ok() => {
                err.push_str(&format!(
                    "{} [notice] {signal_pid}#{signal_pid}: signal process started\n",
                    error_time()
                ));
                (Vec::new(), err.into_bytes(), 0)
            }
            _ => {
                err.push_str(&format!(
                    "{} [notice] {signal_pid}#{signal_pid}: signal process started\n{} [error] {signal_pid}#{signal_pid}: open() \"/run/nginx.pid\" failed (2: No such file or directory)\nnginx: [error] open() \"/run/nginx.pid\" failed (2: No such file or directory)\n",
                    error_time(),
                    error_time()
                ));
                (Vec::new(), err.into_bytes(), 1)
            }
        };
    }
    // Another nginx in the same network namespace: its ports are taken.
    match load(fs, &path, network) {
        Ok(cfg) => {
            let port = cfg.ports.first().copied().unwrap_or(80);
            err.push_str(&format!(
                "nginx: [emerg] bind() to 0.0.0.0:{port} failed (98: Address already in use)\nnginx: [emerg] still could not bind()\n"
            ));
        }
        Err(Emerg(m)) => err.push_str(&format!("nginx: [emerg] {m}\n")),
    }
    (Vec::new(), err.into_bytes(), 1)
}

/// `nginx -T`: each configuration file, as nginx dumps them.
fn dump_config(fs: &ContainerFs, path: &str) -> String {
    let mut out = String::new();
    let mut seen = Vec::new();
    let mut queue = vec![path.to_string()];
    while let Some(p) = queue.pop() {
        if seen.contains(&p) || seen.len() > 64 {
            continue;
        }
        let Ok(r) = fs.resolve("/", &p) else { continue };
        let Ok(text) = std::fs::read_to_string(&r.host) else {
            continue;
        };
        out.push_str(&format!("# configuration file {p}:\n{text}\n"));
        // Included files follow, in order.
        let mut inc = Vec::new();
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("include") {
                let pat = rest.trim().trim_end_matches(';').trim();
                let pat = if pat.starts_with('/') {
                    pat.to_string()
                } else {
                    format!("/etc/nginx/{pat}")
                };
                if let Some((dir, name)) = pat.rsplit_once('/')
                    && name.contains('*')
                    && let Ok(d) = fs.resolve("/", dir)
                {
                    let mut names: Vec<String> = std::fs::read_dir(&d.host)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.ends_with(name.trim_start_matches('*')))
                        .collect();
                    names.sort();
                    inc.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
                } else {
                    inc.push(pat);
                }
            }
        }
        seen.push(p);
        queue.extend(inc.into_iter().rev());
    }
    out
}

#[cfg(test)]
mod tests;
