//! The shell and programs of emulated containers.
//!
//! Containers in the sandbox are emulated, so there is no real `/bin/sh`:
//! this module is one. It follows busybox 1.36 `ash` (and debian's `dash`
//! and `bash` on debian and ubuntu images) — parameter expansion,
//! arithmetic, `case`, functions, `&` and `wait`, traps, here-documents,
//! `set -e`, subshells, exit codes and error messages — and implements the
//! applets a learner uses on volumes and processes with busybox's options,
//! output and wording (GNU coreutils' wording on debian/ubuntu images).
//! Which programs an image has is its [`Userland`](userland::Userland), built by the images module.
//!
//! Programs run as processes of the container ([`crate::process`]): on
//! their own threads, with pipes for stdin/stdout/stderr that stream,
//! signals they notice while they sleep, read or loop, and the
//! container's memory budget bounding what they hold.
//!
//! - [`parse`] (lexer and parser) builds the [`ast`];
//! - [`expand`] expands words, [`arith`] evaluates arithmetic,
//!   [`pattern`] matches globs;
//! - [`interp`] runs the tree, [`builtins`] are the shell's own commands,
//!   [`session`] is a shell process from its command line (and its
//!   prompt);
//! - [`applets`] are the programs (files, text, process, archive, network,
//!   misc);
//! - [`io`] (file descriptors), [`vfs`] (paths through the mount table,
//!   devices), [`system`] (what a container's processes share), [`vars`].
//!
//! The entry points are [`Container::spawn`] (a process with streaming
//! pipes, for the kubelet and `kubectl exec`) and [`Container::run`] (run
//! to completion and collect the output, for tests and simple callers).

pub(crate) mod applets;
pub(crate) mod arith;
pub(crate) mod ast;
pub(crate) mod builtins;
pub(crate) mod expand;
pub(crate) mod interp;
pub(crate) mod io;
pub(crate) mod parse;
pub(crate) mod pattern;
pub(crate) mod session;
pub(crate) mod system;
pub(crate) mod userland;
pub(crate) mod vars;
pub(crate) mod vfs;

use std::sync::Arc;

use crate::process::{ExitStatus, LineDiscipline, PipeReader, PipeWriter, Process, TtyState, pipe};
use crate::shell::userland::ProgramKind;

pub use system::Container;

use io::{Fd, FdTable};

/// What a command run to completion printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Everything a program starts with.
pub(crate) struct Launch {
    pub sys: Container,
    pub proc: Arc<Process>,
    pub argv: Vec<String>,
    /// Where the program was found (`/bin/ls`, a script's path).
    pub path: String,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub fds: FdTable,
    pub kind: ProgramKind,
    pub tty: Option<Arc<TtyState>>,
    pub shell_depth: usize,
}

/// Runs a program in the calling thread, as process `l.proc`.
pub(crate) fn run_program(l: Launch) -> ExitStatus {
    match l.kind.clone() {
        ProgramKind::Shell(kind) => session::shell_main(l, kind),
        ProgramKind::Applet("#script") => run_script_file(l),
        ProgramKind::Applet(name) => applets::run_applet(name, l),
        ProgramKind::Image(f) => applets::run_image_program(f, l),
    }
}

/// An executable file of the container: `#!` names its interpreter (a
/// shell of the image); without one, `sh` runs it, as ash does.
fn run_script_file(mut l: Launch) -> ExitStatus {
    let vfs = vfs::Vfs::new(&l.sys, &l.cwd);
    let mut head = [0u8; 256];
    let first = vfs
        .open_read(&l.path)
        .ok()
        .and_then(|f| f.read(&mut head, &|| false).ok())
        .map(|n| String::from_utf8_lossy(&head[..n]).into_owned())
        .unwrap_or_default();
    let line = first.lines().next().unwrap_or("");
    let mut interp_argv: Vec<String> = match line.strip_prefix("#!") {
        Some(rest) => rest.split_whitespace().map(str::to_string).collect(),
        None => vec!["/bin/sh".to_string()],
    };
    if interp_argv.first().is_some_and(|i| i.ends_with("/env")) {
        interp_argv.remove(0);
    }
    let Some(interp) = interp_argv.first().cloned() else {
        return ExitStatus::Exited(126);
    };
    let kind = if interp.contains('/') {
        l.sys.userland.by_path(&interp)
    } else {
        l.sys
            .userland
            .lookup(&interp, l.sys.userland.path)
            .map(|(_, k)| k)
    };
    let kind = match kind {
        Some(k @ ProgramKind::Shell(_)) => k,
        Some(k @ (ProgramKind::Applet(_) | ProgramKind::Image(_))) => k,
        None => {
            let f = l.fds.get_or_null(2);
            let _ = f.write_all(
                format!("{}: {interp}: not found\n", l.argv[0]).as_bytes(),
                &|| false,
            );
            return ExitStatus::Exited(127);
        }
    };
    let mut argv = interp_argv;
    argv.push(l.path.clone());
    argv.extend(l.argv.iter().skip(1).cloned());
    l.argv = argv;
    l.kind = kind;
    run_program(l)
}

/// How to start a process in a container.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    pub argv: Vec<String>,
    /// The environment; None: the container's.
    pub env: Option<Vec<(String, String)>>,
    /// The working directory; None: the container's `workingDir`.
    pub cwd: Option<String>,
    /// A terminal: stdin goes through a line discipline, stderr joins
    /// stdout, the shell is interactive.
    pub tty: bool,
    /// Keep stdin open for the caller to write (else it is `/dev/null`).
    pub stdin: bool,
    /// The container's main process (PID 1).
    pub init: bool,
}

/// Why a process could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// What the runtime (runc) says when the program is not in the image.
    #[error(
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{0}\": executable file not found in $PATH: unknown"
    )]
    NotFound(String),
    #[error("fork: {0}")]
    TooMany(#[from] crate::process::TooManyProcesses),
    #[error("the process thread could not start: {0}")]
    Thread(std::io::Error),
}

/// A started process and its ends of the pipes.
pub struct Child {
    pub process: Arc<Process>,
    /// Its stdin (None without `stdin` or `tty`). With a terminal, what
    /// the client types goes through `terminal` first.
    pub stdin: Option<PipeWriter>,
    /// The terminal's line discipline (with `tty`): its echo goes to the
    /// client's screen, its lines to `stdin`.
    pub terminal: Option<LineDiscipline>,
    pub stdout: PipeReader,
    /// None with a terminal (stderr goes to stdout).
    pub stderr: Option<PipeReader>,
}

impl Container {
    /// Finds a program in the image as the runtime does for a container's
    /// command or an exec (`PATH` of `env`, or a path).
    fn resolve_program(
        &self,
        name: &str,
        env: &[(String, String)],
        cwd: &str,
    ) -> Option<(String, ProgramKind)> {
        if name.contains('/') {
            let abs = crate::hostfs::absolute(cwd, name);
            if let Some(k) = self.userland.by_path(&abs) {
                return Some((abs, k));
            }
            let m = vfs::Vfs::new(self, cwd).metadata(&abs).ok()?;
            return (m.is_file() && m.mode & 0o111 != 0)
                .then_some((abs, ProgramKind::Applet("#script")));
        }
        let path = env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map_or(self.userland.path, |(_, v)| v.as_str());
        self.userland.lookup(name, path)
    }

    /// Starts a process. Its output streams through the returned pipes;
    /// it ends on its own, or when signalled.
    pub fn spawn(&self, opts: SpawnOptions) -> Result<Child, SpawnError> {
        let name = opts.argv.first().cloned().unwrap_or_default();
        let env = opts.env.clone().unwrap_or_else(|| self.env.clone());
        let cwd = opts
            .cwd
            .clone()
            .unwrap_or_else(|| self.fs.working_dir().to_string());
        let (path, kind) = self
            .resolve_program(&name, &env, &cwd)
            .ok_or_else(|| SpawnError::NotFound(name.clone()))?;
        let process = self.procs.register(0, &opts.argv.join(" "), opts.init)?;
        let (out_w, out_r) = pipe::pipe();
        let (stderr_fd, stderr) = if opts.tty {
            (Fd::PipeOut(out_w.clone()), None)
        } else {
            let (w, r) = pipe::pipe();
            (Fd::PipeOut(w), Some(r))
        };
        let (stdin_fd, stdin, terminal, tty) = if opts.tty {
            let (w, r) = pipe::pipe();
            let state = TtyState::new();
            state.set_foreground(Some(Arc::clone(&process)));
            let ld = LineDiscipline::new(Arc::clone(&state));
            (Fd::PipeIn(r), Some(w), Some(ld), Some(state))
        } else if opts.stdin {
            let (w, r) = pipe::pipe();
            (Fd::PipeIn(r), Some(w), None, None)
        } else {
            (Fd::Null, None, None, None)
        };
        let launch = Launch {
            sys: self.clone(),
            proc: Arc::clone(&process),
            argv: opts.argv.clone(),
            path,
            env,
            cwd,
            fds: FdTable::new(stdin_fd, Fd::PipeOut(out_w), stderr_fd),
            kind,
            tty,
            shell_depth: 0,
        };
        if let Err(e) = interp::spawn_thread(&process, move || run_program(launch)) {
            process.finish(ExitStatus::Exited(126));
            return Err(SpawnError::Thread(e));
        }
        Ok(Child {
            process,
            stdin,
            terminal,
            stdout: out_r,
            stderr,
        })
    }

    /// Runs `argv` to completion with `stdin` as its input, collecting
    /// what it prints (at most [`MAX_COLLECTED`] bytes of each stream).
    /// Blocking: call it from a blocking thread.
    pub fn run(&self, argv: &[String], stdin: &[u8]) -> Output {
        let child = match self.spawn(SpawnOptions {
            argv: argv.to_vec(),
            stdin: true,
            ..SpawnOptions::default()
        }) {
            Ok(c) => c,
            Err(e) => {
                return Output {
                    stdout: Vec::new(),
                    stderr: format!("{e}\n").into_bytes(),
                    exit_code: 126,
                };
            }
        };
        let feeder = child.stdin.map(|w| {
            let data = stdin.to_vec();
            std::thread::spawn(move || {
                let _ = w.write_all(&data, &|| false);
            })
        });
        let err_reader = child
            .stderr
            .map(|r| std::thread::spawn(move || collect(&r)));
        let stdout = collect(&child.stdout);
        let stderr = err_reader.and_then(|t| t.join().ok()).unwrap_or_default();
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let status = child
            .process
            .wait(&|| false)
            .unwrap_or(ExitStatus::Exited(1));
        Output {
            stdout,
            stderr,
            exit_code: status.code(),
        }
    }
}

/// The most [`Container::run`] keeps of one stream.
pub const MAX_COLLECTED: usize = 16 * 1024 * 1024;

fn collect(r: &PipeReader) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf, &|| false) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if all.len() < MAX_COLLECTED {
                    let take = n.min(MAX_COLLECTED - all.len());
                    all.extend_from_slice(&buf[..take]);
                }
            }
        }
    }
    all
}

#[cfg(any(fuzzing, test))]
/// The fuzz target's entry: parses a script, never panics.
pub fn check_syntax(script: &str) -> Result<(), String> {
    parse::parse(script, false)
        .map(|_| ())
        .map_err(|e| e.ash_message())?;
    parse::parse(script, true)
        .map(|_| ())
        .map_err(|e| e.bash_message())
}

#[cfg(any(fuzzing, test))]
/// The fuzz target's entry for arithmetic.
pub fn check_arithmetic(expr: &str) -> Result<i64, String> {
    struct NoVars;
    impl arith::ArithEnv for NoVars {
        fn get(&self, _: &str) -> Option<String> {
            None
        }
        fn set(&mut self, _: &str, _: i64) -> Result<(), String> {
            Ok(())
        }
    }
    arith::eval(expr, &mut NoVars)
}

#[cfg(any(fuzzing, test))]
/// The shell fuzz target's runner: `script` in a throw-away busybox
/// container with 8 MiB of memory and no real sleeps, killed after two
/// seconds if it has not ended. Returns its exit code.
pub fn run_fuzz_script(script: &str) -> i32 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kubetutor-shell-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let fs = crate::hostfs::ContainerFs::new(dir.join("rootfs"));
    let _ = std::fs::create_dir_all(dir.join("rootfs/tmp"));
    let table = crate::process::ProcessTable::new(crate::process::MemBudget::standalone(8 << 20));
    let sys = Container::new(fs, crate::shell::userland::Userland::busybox(), "fuzz")
        .with_procs(table.clone())
        .with_sleep_hook(Arc::new(|_| std::time::Duration::ZERO));
    let code = match sys.spawn(SpawnOptions {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        ..SpawnOptions::default()
    }) {
        Ok(child) => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            let mut buf = vec![0u8; 64 * 1024];
            let readers = [Some(&child.stdout), child.stderr.as_ref()];
            let status = loop {
                for r in readers.iter().flatten() {
                    while let Some(n) = r.try_read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                    }
                }
                if let Some(st) = child.process.status() {
                    break st;
                }
                if std::time::Instant::now() > deadline {
                    table.signal_all(crate::process::Signal::Kill);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            };
            // Background jobs die with the container.
            table.signal_all(crate::process::Signal::Kill);
            status.code()
        }
        Err(_) => 126,
    };
    let _ = std::fs::remove_dir_all(&dir);
    code
}

#[cfg(test)]
mod tests;
