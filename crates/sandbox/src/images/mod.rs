//! Emulated container images.
//!
//! The sandbox runs no real containers: each container of a pod is an
//! [`EmulatedApp`] chosen from its image and command. An app gets the
//! container's env, its filesystem view ([`ContainerFs`]) and the pod's
//! network namespace ([`NetNamespaces`]); it writes log lines to a sink
//! (what `kubectl logs` shows) and ends with an exit code, or when stopped.
//!
//! - [`msg_api::MsgApi`]: the course's message API (`kubetutor/msg-api`, or
//!   the stock `python:3.12-alpine` running the course's `msg_api.py`).
//! - [`crawler::Crawler`]: the course's crawler (`python:3.12-alpine`
//!   running the course's `crawler.py`).
//! - [`postgres::Postgres`]: the official `postgres` image (entrypoint,
//!   server, data in `PGDATA`); its `psql` and `pg_isready` run in the shell.
//! - [`postgrest::Postgrest`]: `postgrest/postgrest`, an HTTP API over it.
//! - [`ShellApp`]: `sh -c '...'` style commands, run by the mini shell
//!   (so `echo hi > /data/f; sleep 3600` really writes the file).
//! - [`IdleApp`]: anything else; it says so in its log and waits.

pub(crate) mod crawler;
pub(crate) mod msg_api;
pub(crate) mod nginx;
pub(crate) mod postgres;
pub(crate) mod postgrest;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::hostfs::ContainerFs;
use crate::node::netns::NetNamespaces;
use crate::node::podnet::PodNetwork;
use crate::shell::Shell;

/// Where an app's output lines go (one call per line, no newline).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The exit code of a process ended by SIGTERM (128 + 15), which is what
/// stopping a container does.
pub const EXIT_TERMINATED: i32 = 143;

/// Everything a container's process gets from the sandbox.
#[derive(Clone)]
pub struct AppContext {
    pub pod_uid: String,
    pub pod_name: String,
    pub container: String,
    pub image: String,
    /// The container's `command` (entrypoint override), may be empty.
    pub command: Vec<String>,
    /// The container's `args`, may be empty.
    pub args: Vec<String>,
    /// The resolved environment (env and envFrom), in order.
    pub env: Vec<(String, String)>,
    pub fs: ContainerFs,
    pub netns: NetNamespaces,
    /// Other pods and Services, as this pod reaches them.
    pub network: PodNetwork,
    pub log: LogSink,
}

impl AppContext {
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The process argv: command then args.
    pub fn argv(&self) -> Vec<String> {
        self.command.iter().chain(&self.args).cloned().collect()
    }

    /// The working directory (the container's `workingDir`, carried by its
    /// filesystem view; `/` by default).
    pub fn cwd(&self) -> String {
        self.fs.working_dir().to_string()
    }

    pub fn log(&self, line: &str) {
        (self.log)(line);
    }
}

/// Tells a running app to stop: first SIGTERM ([`Stop::wait`]), then, once
/// the grace period is over, SIGKILL ([`Stop::wait_kill`]).
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<u8>);

/// The levels of the stop channel.
const RUNNING: u8 = 0;
const TERM: u8 = 1;
const KILL: u8 = 2;

impl Stop {
    /// Resolves once the app is asked to stop (SIGTERM, or SIGKILL, or its
    /// handle is dropped).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|level| *level >= TERM).await;
    }

    /// Resolves once the app is killed (SIGKILL, or its handle is dropped):
    /// what a process that ignores SIGTERM (a shell as process 1) waits for.
    pub async fn wait_kill(&mut self) {
        let _ = self.0.wait_for(|level| *level >= KILL).await;
    }

    /// True once killed, or once the handle is gone.
    pub fn is_killed(&self) -> bool {
        *self.0.borrow() >= KILL || self.0.has_changed().is_err()
    }
}

/// The exit code of a process ended by SIGKILL (128 + 9), what the kubelet
/// does when the grace period is over.
pub const EXIT_KILLED: i32 = 137;

/// An emulated container process.
pub trait EmulatedApp: Send {
    /// A short name for logs and tests ("msg-api", "shell", "idle").
    fn name(&self) -> &'static str;

    /// Runs until the process would exit (its exit code) or `stop` fires
    /// ([`EXIT_TERMINATED`]).
    fn run(self: Box<Self>, ctx: AppContext, stop: Stop) -> BoxFuture<'static, i32>;
}

/// A started app. Dropping the handle stops it, as killing its process would.
pub struct AppHandle {
    stop: watch::Sender<u8>,
    exit: watch::Receiver<Option<i32>>,
    _task: JoinHandle<()>,
}

impl AppHandle {
    /// Asks the app to stop (SIGTERM) without waiting.
    pub fn request_stop(&self) {
        self.stop.send_if_modified(|l| {
            let changed = *l < TERM;
            *l = (*l).max(TERM);
            changed
        });
    }

    /// Kills the app (SIGKILL) without waiting.
    pub fn kill(&self) {
        self.stop.send_if_modified(|l| {
            let changed = *l < KILL;
            *l = KILL;
            changed
        });
    }

    #[cfg(test)]
    /// Stops the app (SIGTERM) and waits for its exit code, however long
    /// it takes: see [`AppHandle::terminate`] for a grace period.
    pub async fn stop(mut self) -> i32 {
        self.request_stop();
        self.exited().await
    }

    #[cfg(test)]
    /// Stops the app as the kubelet does: SIGTERM, then SIGKILL once
    /// `grace` is over (exit code 137).
    pub async fn terminate(mut self, grace: Duration) -> i32 {
        self.request_stop();
        if let Ok(code) = tokio::time::timeout(grace, self.exited()).await {
            return code;
        }
        self.kill_and_reap().await
    }

    /// Kills the app and waits (briefly) for it to end; 137.
    pub async fn kill_and_reap(&mut self) -> i32 {
        self.kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.exited()).await;
        self._task.abort();
        EXIT_KILLED
    }

    #[cfg(test)]
    /// Waits for the app to exit by itself and returns its exit code.
    pub async fn wait(mut self) -> i32 {
        self.exited().await
    }

    /// Like [`AppHandle::wait`] but without consuming the handle: cancel-safe
    /// and repeatable, so a kubelet loop can `select!` on it.
    pub async fn exited(&mut self) -> i32 {
        match self.exit.wait_for(Option::is_some).await {
            Ok(code) => code.unwrap_or(EXIT_TERMINATED),
            // The task died without reporting (it panicked): a crashed process.
            Err(_) => EXIT_TERMINATED,
        }
    }

    #[cfg(test)]
    /// The exit code, once the app has exited.
    pub fn exit_code(&self) -> Option<i32> {
        *self.exit.borrow()
    }

    #[cfg(test)]
    pub fn is_finished(&self) -> bool {
        self.exit_code().is_some() || self.exit.has_changed().is_err()
    }
}

/// Spawns `app` on the tokio runtime.
pub fn start(app: Box<dyn EmulatedApp>, ctx: AppContext) -> AppHandle {
    let (stop_tx, stop_rx) = watch::channel(RUNNING);
    let (exit_tx, exit_rx) = watch::channel(None);
    let run = app.run(ctx, Stop(stop_rx));
    let task = tokio::spawn(async move {
        let code = run.await;
        let _ = exit_tx.send(Some(code));
    });
    AppHandle {
        stop: stop_tx,
        exit: exit_rx,
        _task: task,
    }
}

/// `docker.io/library/python:3.12-alpine@sha256:..` → `python`.
pub fn image_repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    let without_tag = match image[last_slash..].find(':') {
        Some(i) => &image[..last_slash + i],
        None => image,
    };
    let mut repo = without_tag;
    if let Some((host, rest)) = repo.split_once('/')
        && (host.contains('.') || host.contains(':') || host == "localhost")
    {
        repo = rest;
    }
    repo.strip_prefix("library/").unwrap_or(repo)
}

/// The image's default command (its ENTRYPOINT and CMD) where the
/// sandbox knows it and it matters: the base images run a shell, which
/// ends at once without a stdin to read (a busybox Deployment without a
/// command crash-loops, as on a real cluster). Empty: not known, or the
/// container keeps a stdin open (`kubectl run -i`).
pub fn default_command(image: &str) -> Vec<String> {
    let shell: &[&str] = match image_repository(image) {
        "busybox" | "alpine" => &["sh"],
        "ubuntu" | "debian" | "fedora" | "rockylinux" | "almalinux" | "amazonlinux" => &["bash"],
        _ => &[],
    };
    shell.iter().map(|s| s.to_string()).collect()
}

/// Whether `argv` is an interactive shell (`sh`, `/bin/bash`...): with a
/// stdin kept open (`stdin: true`) it waits for what an attached client
/// types.
pub fn is_interactive_shell(argv: &[String]) -> bool {
    match argv {
        [p] => matches!(p.rsplit('/').next(), Some("sh" | "ash" | "bash")),
        [p, flag] if flag == "-i" || flag == "-l" => {
            matches!(p.rsplit('/').next(), Some("sh" | "ash" | "bash"))
        }
        _ => false,
    }
}

fn awaiting() -> &'static std::sync::Mutex<
    std::collections::HashMap<std::path::PathBuf, watch::Sender<Option<i32>>>,
> {
    static REG: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, watch::Sender<Option<i32>>>>,
    > = std::sync::OnceLock::new();
    REG.get_or_init(Default::default)
}

/// Ends the interactive shell that is process 1 of the container whose
/// writable layer is `rootfs` (its attached user typed `exit`): false
/// when no such shell waits there.
pub fn end_awaiting_shell(rootfs: &std::path::Path, code: i32) -> bool {
    match crate::machinery::meta::lock(awaiting()).get(rootfs) {
        Some(tx) => tx.send(Some(code)).is_ok(),
        None => false,
    }
}

/// Whether an interactive shell is process 1 of that container.
pub fn has_awaiting_shell(rootfs: &std::path::Path) -> bool {
    crate::machinery::meta::lock(awaiting()).contains_key(rootfs)
}

/// An interactive shell as process 1 with its stdin open and nothing typed
/// yet (`kubectl run -it`, `kubectl debug -it`): it waits. An attach runs
/// its prompt ([`end_awaiting_shell`] when the user exits); SIGTERM is
/// ignored, as by any shell that is process 1.
pub struct AwaitingInput;

impl EmulatedApp for AwaitingInput {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn run(self: Box<Self>, ctx: AppContext, mut stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(async move {
            let key = ctx.fs.rootfs().to_path_buf();
            let (tx, mut rx) = watch::channel(None);
            crate::machinery::meta::lock(awaiting()).insert(key.clone(), tx);
            let code = tokio::select! {
                () = stop.wait_kill() => EXIT_KILLED,
                r = rx.wait_for(Option::is_some) => r.ok().and_then(|c| *c).unwrap_or(0),
            };
            crate::machinery::meta::lock(awaiting()).remove(&key);
            code
        })
    }
}

/// What the pod event says of an image the sandbox does not emulate.
pub fn not_emulated_message(image: &str) -> String {
    format!(
        "kubetutor sandbox: image {image:?} is not emulated; the container stays idle (kubectl exec still works)"
    )
}

/// Adds the files an emulated image has (its configuration, pages...) to
/// a container's fresh writable layer.
pub fn populate_rootfs(image: &str, rootfs: &std::path::Path) {
    if image_repository(image) == "nginx" {
        nginx::populate(rootfs);
    }
}

/// Runs a program that an emulated image adds (`nginx -t`): (stdout,
/// stderr, exit code), or None when the image has no such program.
pub fn run_program(
    image: &str,
    name: &str,
    args: &[String],
    fs: &ContainerFs,
    network: Option<&PodNetwork>,
) -> Option<(Vec<u8>, Vec<u8>, i32)> {
    let program = name.rsplit('/').next().unwrap_or(name);
    match (image_repository(image), program) {
        ("nginx", "nginx" | "nginx-debug") => Some(nginx::program(image, args, fs, network)),
        _ => None,
    }
}

/// The shells and commands [`ShellApp`] can run as a container's process.
const SHELL_PROGRAMS: &[&str] = &[
    "sh", "ash", "bash", "echo", "cat", "sleep", "ls", "touch", "mkdir", "true", "false", "tail",
    "date",
];

/// Picks the emulation for a container.
pub fn select(image: &str, command: &[String], args: &[String]) -> Box<dyn EmulatedApp> {
    let repo = image_repository(image);
    let argv: Vec<&String> = command.iter().chain(args).collect();
    if repo == "kubetutor/msg-api" {
        return Box::new(msg_api::MsgApi::native());
    }
    if repo == "python"
        && let Some(script) = argv.iter().find(|a| a.ends_with("msg_api.py"))
    {
        return Box::new(msg_api::MsgApi::python(script));
    }
    if repo == "python"
        && let Some(script) = argv.iter().find(|a| a.ends_with("crawler.py"))
    {
        return Box::new(crawler::Crawler::python(script));
    }
    if repo == "postgres"
        && pgemu::runs_server(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        return Box::new(postgres::Postgres);
    }
    if repo == "postgrest/postgrest" && argv.is_empty() {
        return Box::new(postgrest::Postgrest);
    }
    if repo == "nginx" && nginx::runs_nginx(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        // Without a `command`, the image's entrypoint runs first.
        return Box::new(nginx::Nginx::new(command.is_empty()));
    }
    if let Some(first) = argv.first() {
        let program = first.rsplit('/').next().unwrap_or(first);
        if SHELL_PROGRAMS.contains(&program)
            || (repo == "postgres" && matches!(program, "psql" | "pg_isready"))
        {
            return Box::new(ShellApp);
        }
    }
    Box::new(IdleApp)
}

/// An image the sandbox does not emulate: it logs that and waits.
pub struct IdleApp;

impl EmulatedApp for IdleApp {
    fn name(&self) -> &'static str {
        "idle"
    }

    fn run(self: Box<Self>, ctx: AppContext, mut stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(async move {
            ctx.log(&format!(
                "kubetutor sandbox: image {:?} is not emulated; this container stays idle \
                 (kubectl exec still works)",
                ctx.image
            ));
            // (The kubelet records the same as a Warning event on the pod.)
            stop.wait().await;
            EXIT_TERMINATED
        })
    }
}

/// A container whose command is a shell script or a simple command.
pub struct ShellApp;

impl EmulatedApp for ShellApp {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn run(self: Box<Self>, ctx: AppContext, mut stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(async move {
            // A shell (or sleep) as process 1 ignores SIGTERM: only SIGKILL
            // ends it. `sleep` in the script waits in slices so a kill ends
            // it quickly; the shell checks the same flag before each command.
            let stopped = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stopped);
            let stop_seen = stop.clone();
            let sleeper = move |d: Duration| {
                let slice = Duration::from_millis(50);
                let mut left = d;
                while !left.is_zero() && !flag.load(Ordering::Relaxed) && !stop_seen.is_killed() {
                    let step = left.min(slice);
                    std::thread::sleep(step);
                    left -= step;
                }
            };
            let argv = ctx.argv();
            let sink_log = Arc::clone(&ctx.log);
            let sink = move |stdout: &[u8], stderr: &[u8]| {
                for chunk in [stdout, stderr] {
                    for line in String::from_utf8_lossy(chunk).lines() {
                        sink_log(line);
                    }
                }
            };
            let mut shell = Shell::new(ctx.fs.clone(), ctx.env.clone(), ctx.pod_name.clone())
                .with_image(&ctx.image)
                .with_network(ctx.network.clone())
                .with_cwd(&ctx.cwd())
                .with_sleeper(sleeper)
                .with_output_sink(sink)
                .with_stop_flag(Arc::clone(&stopped));
            let log = Arc::clone(&ctx.log);
            let mut job = tokio::task::spawn_blocking(move || shell.exec(&argv, b""));
            let output = tokio::select! {
                done = &mut job => done,
                () = stop.wait_kill() => {
                    stopped.store(true, Ordering::Relaxed);
                    // The script is killed: what it printed so far is lost
                    // with it, as with a killed process's buffered output.
                    let _ = job.await;
                    return EXIT_KILLED;
                }
            };
            let Ok(output) = output else {
                return EXIT_TERMINATED;
            };
            for line in output
                .stdout_text()
                .lines()
                .chain(output.stderr_text().lines())
            {
                log(line);
            }
            output.exit_code
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hostfs::{MountKind, SandboxRoot};
    use std::sync::Mutex;

    /// A context over a temp data dir, with a log collected in memory.
    pub(crate) struct Harness {
        pub _tmp: tempfile::TempDir,
        pub root: SandboxRoot,
        pub lines: Arc<Mutex<Vec<String>>>,
        pub netns: NetNamespaces,
    }

    impl Harness {
        pub fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = SandboxRoot::new(tmp.path()).unwrap();
            let netns = NetNamespaces::with_socket_dir(root.sockets_dir());
            Self {
                _tmp: tmp,
                root,
                lines: Arc::default(),
                netns,
            }
        }

        pub fn ctx(&self, pod: &str, container: &str, image: &str, argv: &[&str]) -> AppContext {
            let mut fs = ContainerFs::new(self.root.container_rootfs(pod, container).unwrap());
            fs.mount(
                "/data",
                self.root.empty_dir(pod, "data").unwrap(),
                false,
                MountKind::EmptyDir,
                "data",
            )
            .unwrap();
            let lines = Arc::clone(&self.lines);
            AppContext {
                pod_uid: pod.to_string(),
                pod_name: format!("{pod}-name"),
                container: container.to_string(),
                image: image.to_string(),
                command: argv.iter().map(|s| s.to_string()).collect(),
                args: Vec::new(),
                env: Vec::new(),
                fs,
                netns: self.netns.clone(),
                network: PodNetwork::isolated(self.netns.clone(), pod),
                log: Arc::new(move |l: &str| lines.lock().unwrap().push(l.to_string())),
            }
        }

        pub fn log(&self) -> Vec<String> {
            self.lines.lock().unwrap().clone()
        }
    }

    #[test]
    fn image_names() {
        assert_eq!(image_repository("python:3.12-alpine"), "python");
        assert_eq!(image_repository("docker.io/library/python:3.12"), "python");
        assert_eq!(image_repository("kubetutor/msg-api"), "kubetutor/msg-api");
        assert_eq!(
            image_repository("ghcr.io/kubetutor/msg-api:1@sha256:ab"),
            "kubetutor/msg-api"
        );
        assert_eq!(image_repository("localhost:5000/app:v1"), "app");
    }

    #[test]
    fn selection() {
        let s = |image: &str, argv: &[&str]| {
            let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
            select(image, &argv, &[]).name()
        };
        assert_eq!(s("kubetutor/msg-api:1", &[]), "msg-api");
        assert_eq!(
            s(
                "python:3.12-alpine",
                &["python3", "/opt/msg-api/msg_api.py"]
            ),
            "msg-api"
        );
        assert_eq!(s("python:3.12-alpine", &["python3", "other.py"]), "idle");
        assert_eq!(s("busybox", &["sh", "-c", "echo hi"]), "shell");
        assert_eq!(s("busybox", &["/bin/sleep", "3600"]), "shell");
        assert_eq!(s("postgres:16", &[]), "postgres");
        assert_eq!(s("postgres:16-alpine", &["sh", "-c", "psql"]), "shell");
        assert_eq!(s("postgrest/postgrest:v12.2.3", &[]), "postgrest");
        assert_eq!(s("redis:7", &[]), "idle");
        assert_eq!(s("nginx", &[]), "nginx");
        assert_eq!(s("nginx:alpine", &["nginx", "-g", "daemon off;"]), "nginx");
    }

    #[tokio::test]
    async fn handle_wait_is_repeatable_and_drop_stops() {
        let h = Harness::new();
        let ctx = h.ctx("p", "w", "busybox", &["sh", "-c", "exit 7"]);
        let mut handle = start(Box::new(ShellApp), ctx);
        assert_eq!(handle.exited().await, 7);
        assert_eq!(handle.exited().await, 7);
        assert_eq!(handle.exit_code(), Some(7));
        assert!(handle.is_finished());

        let ctx = h.ctx("p", "idle", "postgres", &[]);
        let handle = start(Box::new(IdleApp), ctx);
        let exit = handle.exit.clone();
        drop(handle);
        let mut exit = exit;
        let code = exit
            .wait_for(Option::is_some)
            .await
            .map(|c| *c)
            .ok()
            .flatten();
        assert_eq!(code, Some(EXIT_TERMINATED));
    }

    #[tokio::test]
    async fn idle_app_logs_and_waits_for_stop() {
        let h = Harness::new();
        let handle = start(Box::new(IdleApp), h.ctx("p", "db", "postgres:16", &[]));
        tokio::task::yield_now().await;
        assert!(!handle.is_finished());
        assert_eq!(handle.stop().await, EXIT_TERMINATED);
        assert_eq!(
            h.log(),
            [
                "kubetutor sandbox: image \"postgres:16\" is not emulated; this container stays idle (kubectl exec still works)"
            ]
        );
    }

    #[tokio::test]
    async fn shell_app_writes_files_and_exits_with_the_script_code() {
        let h = Harness::new();
        let ctx = h.ctx(
            "p",
            "w",
            "busybox",
            &["sh", "-c", "echo saved > /data/f; echo done; exit 3"],
        );
        let code = start(select("busybox", &ctx.command, &[]), ctx)
            .wait()
            .await;
        assert_eq!(code, 3);
        assert_eq!(h.log(), ["done"]);
        let f = h.root.empty_dir("p", "data").unwrap().join("f");
        assert_eq!(std::fs::read_to_string(f).unwrap(), "saved\n");
    }

    #[tokio::test]
    async fn shell_app_ignores_sigterm_and_is_killed_after_the_grace_period() {
        let h = Harness::new();
        let ctx = h.ctx(
            "p",
            "w",
            "busybox",
            &["sh", "-c", "echo started; while true; do sleep 3600; done"],
        );
        let handle = start(Box::new(ShellApp), ctx);
        // The line is in the log while the script sleeps.
        for _ in 0..200 {
            if !h.log().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(h.log(), ["started"]);
        // SIGTERM is ignored (a shell as process 1); SIGKILL ends it.
        let t = std::time::Instant::now();
        let code = handle.terminate(Duration::from_millis(300)).await;
        assert_eq!(code, EXIT_KILLED);
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}

#[cfg(test)]
mod crawler_parity;
#[cfg(test)]
mod story;
