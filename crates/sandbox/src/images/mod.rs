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
//! - [`nginx::Nginx`]: the official `nginx` image (entrypoint, server);
//!   its `nginx -t` / `-s reload` run in the shell.
//! - [`ShellApp`]: a program of the image's [`userland::Userland`] (`sh -c
//!   '...'`, `sleep infinity`, `bash`, `psql`...), run as the container's
//!   PID 1 by [`crate::shell`], its output streaming to the log and to
//!   `kubectl attach` ([`crate::process::Console`]).
//! - [`IdleApp`]: anything else; it says so in its log and waits.

pub(crate) mod crawler;
pub(crate) mod msg_api;
pub(crate) mod nginx;
pub(crate) mod postgres;
pub(crate) mod postgrest;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::hostfs::ContainerFs;
use crate::network::netns::NetNamespaces;
use crate::network::podnet::PodNetwork;
use crate::process::{Console, ExitStatus, PipeReader, ProcessTable, Signal, Stream};
use crate::shell::userland::{ProgramKind, Userland, is_alpine};
use crate::shell::{Container, SpawnOptions};

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
    /// The container instance's processes and memory budget.
    pub procs: ProcessTable,
    /// `stdin: true`: the main process's stdin stays open (for attach).
    pub stdin: bool,
    /// `tty: true`: the main process has a terminal.
    pub tty: bool,
    /// What `kubectl attach` reaches of the main process.
    pub console: Arc<Console>,
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

    /// What the container's processes see of it.
    pub fn container(&self) -> Container {
        Container::new(self.fs.clone(), userland(&self.image), &self.pod_name)
            .with_procs(self.procs.clone())
            .with_env(self.env.clone())
            .with_network(self.network.clone())
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

    /// What `ps` shows of its PID 1 when the program renames itself
    /// (nginx's `nginx: master process ...`); its argv otherwise.
    fn process_title(&self, _argv: &[String]) -> Option<String> {
        None
    }

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

/// The userland of an image: its operating system's (from the shell) and
/// the programs and files the image itself adds (postgres's clients,
/// nginx's binary, configuration and user).
pub fn userland(image: &str) -> Arc<Userland> {
    let repo = image_repository(image);
    let mut base = Userland::for_os(image, repo);
    if repo == "postgres" {
        for (name, f) in postgres::programs() {
            base.add(name, "/usr/local/bin", ProgramKind::Image(f));
        }
        // The Dockerfile's `useradd -r postgres` (home /var/lib/postgresql).
        let id = postgres::postgres_user(image).uid;
        let shell = if is_alpine(image) {
            "/bin/sh"
        } else {
            "/bin/bash"
        };
        base.append_to(
            "/etc/passwd",
            &format!("postgres:x:{id}:{id}::/var/lib/postgresql:{shell}\n"),
        );
        base.append_to("/etc/group", &format!("postgres:x:{id}:\n"));
    }
    if repo == "nginx" {
        for (name, f) in nginx::programs::programs() {
            base.add(name, "/usr/sbin", ProgramKind::Image(f));
        }
        base.files.extend(nginx::files::image_files());
        base.dirs.extend(nginx::files::IMAGE_DIRS);
        // The image's Dockerfile adds the `nginx` user (uid 101).
        let user = if is_alpine(image) {
            "nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n"
        } else {
            "nginx:x:101:101:nginx user:/nonexistent:/bin/false\n"
        };
        base.append_to("/etc/passwd", user);
        base.append_to("/etc/group", "nginx:x:101:\n");
    }
    Arc::new(base)
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

/// What the pod event says of an image the sandbox does not emulate.
pub fn not_emulated_message(image: &str) -> String {
    format!(
        "kubetutor sandbox: image {image:?} is not emulated; the container stays idle (kubectl exec still works)"
    )
}

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
    // A program of the image's userland, or the image's own command
    // (`sh` for busybox, `bash` for ubuntu) when the pod gives none.
    let userland = userland(image);
    let program = match argv.first() {
        Some(first) => Some(first.as_str()),
        None => userland.default_command.first().map(String::as_str),
    };
    if let Some(p) = program {
        let found = if p.contains('/') {
            userland.by_path(p).is_some()
        } else {
            userland.lookup(p, userland.path).is_some()
        };
        if found {
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

/// The longest log line kept whole; longer ones are split, as the
/// container runtime splits them into partial records.
const MAX_LOG_LINE: usize = 16 * 1024;

/// Turns a stream of output into log lines, copying it as it comes to
/// the attached clients.
async fn log_lines(reader: PipeReader, log: LogSink, console: Arc<Console>, stream: Stream) {
    let mut line: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read_async(&mut buf).await;
        if n == 0 {
            break;
        }
        console.publish(stream, &buf[..n]).await;
        for &b in &buf[..n] {
            if b == b'\n' {
                log(String::from_utf8_lossy(&line).trim_end_matches('\r'));
                line.clear();
            } else {
                line.push(b);
                if line.len() >= MAX_LOG_LINE {
                    log(&String::from_utf8_lossy(&line));
                    line.clear();
                }
            }
        }
    }
    if !line.is_empty() {
        log(&String::from_utf8_lossy(&line));
    }
}

/// A container whose process is a program of its image's userland: a
/// shell script, `sleep`, a shell waiting on its stdin...
pub struct ShellApp;

impl EmulatedApp for ShellApp {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn run(self: Box<Self>, ctx: AppContext, mut stop: Stop) -> BoxFuture<'static, i32> {
        Box::pin(async move {
            let container = ctx.container();
            let mut argv = ctx.argv();
            if argv.is_empty() {
                argv = container.userland().default_command.clone();
            }
            let child = match container.spawn(SpawnOptions {
                argv,
                env: Some(ctx.env.clone()),
                cwd: Some(ctx.cwd()),
                tty: ctx.tty,
                stdin: ctx.stdin,
                init: true,
            }) {
                Ok(c) => c,
                Err(e) => {
                    ctx.log(&e.to_string());
                    return 128;
                }
            };
            let process = Arc::clone(&child.process);
            // The output streams to the log (and to attached clients) as
            // it is written.
            let mut readers = vec![tokio::spawn(log_lines(
                child.stdout,
                Arc::clone(&ctx.log),
                Arc::clone(&ctx.console),
                Stream::Stdout,
            ))];
            if let Some(err) = child.stderr {
                readers.push(tokio::spawn(log_lines(
                    err,
                    Arc::clone(&ctx.log),
                    Arc::clone(&ctx.console),
                    Stream::Stderr,
                )));
            }
            // A container with `stdin: true` keeps its stdin open for
            // attach (the console holds it); without it, its stdin is at
            // EOF (/dev/null).
            ctx.console
                .connect(Arc::clone(&process), child.stdin, child.terminal);
            let mut termed = false;
            let mut kill = stop.clone();
            let status = loop {
                tokio::select! {
                    st = process.wait_async() => break st,
                    () = stop.wait(), if !termed => {
                        // SIGTERM to PID 1 (which ignores it unless it
                        // trapped it, as the kernel does for init).
                        termed = true;
                        process.signal(Signal::Term);
                    }
                    () = kill.wait_kill() => {
                        ctx.procs.signal_all(Signal::Kill);
                        let _ = tokio::time::timeout(Duration::from_secs(2), process.wait_async()).await;
                        break ExitStatus::Signaled(Signal::Kill);
                    }
                }
            };
            // PID 1 is gone: the kernel kills what is left in the container
            // (a debug container in its target's namespace is not PID 1).
            if process.is_init() {
                ctx.procs.signal_all(Signal::Kill);
            }
            for r in readers {
                let _ = tokio::time::timeout(Duration::from_millis(500), r).await;
            }
            ctx.console.close_stdin();
            ctx.console.finish();
            status.code()
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
                procs: ProcessTable::new(crate::process::MemBudget::standalone(
                    crate::process::DEFAULT_CONTAINER_MEMORY,
                )),
                stdin: false,
                tty: false,
                console: Console::new(),
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
        // The OS images' own command is their shell.
        assert_eq!(s("busybox", &[]), "shell");
        assert_eq!(s("ubuntu:24.04", &[]), "shell");
        assert_eq!(s("alpine", &["bash"]), "idle");
        assert_eq!(s("nginx", &[]), "nginx");
        assert_eq!(s("nginx:alpine", &["nginx", "-g", "daemon off;"]), "nginx");
        // nginx's image has a shell too.
        assert_eq!(s("nginx", &["sh", "-c", "nginx -t"]), "shell");
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
#[cfg(test)]
mod userland_tests;
