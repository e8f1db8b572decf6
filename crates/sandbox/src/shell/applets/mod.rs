//! The programs of emulated images, by family: [`files`], [`text`]
//! ([`sed`], [`awk`] apart), [`process`], [`archive`], [`network`],
//! [`misc`]. Each is a function over a [`Ctx`] (the process's fds, env,
//! working directory, signals and memory) and its arguments, worded as
//! busybox 1.36 words it — or GNU coreutils, when the image's userland is
//! debian's ([`Flavor::Gnu`]).

pub(crate) mod archive;
pub(crate) mod awk;
pub(crate) mod files;
pub(crate) mod misc;
pub(crate) mod network;
pub(crate) mod process;
pub(crate) mod sed;
pub(crate) mod text;

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::{Charge, ExitStatus, Process, Signal, TtyState};
use crate::shell::userland::{Flavor, ShellKind};

use super::Launch;
use super::interp::{Flow, Res, Shell};
use super::io::{Fd, FdTable};
use super::system::Container;
use super::vfs::{Vfs, errno};

/// Why a program stops before returning a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    Signal(Signal),
    Oom,
    /// It printed its error and exits with this status.
    Exit(i32),
}

pub type Ret = Result<i32, Abort>;

/// A program of an image (the postgres image's `psql`...).
pub type ProgramFn = fn(&mut Ctx, &[String]) -> Ret;

/// What a running program has.
pub struct Ctx {
    pub sys: Container,
    pub proc: Arc<Process>,
    pub cwd: String,
    pub env: Vec<(String, String)>,
    pub fds: FdTable,
    /// The name errors start with (`ls`).
    pub name: String,
    pub flavor: Flavor,
    pub tty: Option<Arc<TtyState>>,
    /// The shell it runs inside, as a builtin (`echo`, `kill`...).
    pub dialect: Option<ShellKind>,
}

/// busybox's banner after a usage error.
pub const BANNER: &str = "BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.";

impl Ctx {
    pub fn vfs(&self) -> Vfs<'_> {
        Vfs::new(&self.sys, &self.cwd).with_umask(self.proc.umask())
    }

    pub fn gnu(&self) -> bool {
        self.flavor == Flavor::Gnu
    }

    /// The container's account database (`/etc/passwd` or `/etc/group`):
    /// (name, id) pairs, as its libc would read them.
    pub fn accounts(&self, file: &str) -> Vec<(String, u32)> {
        let Ok((data, _charge)) = self.vfs().read_all(file, self.sys.procs.memory()) else {
            return Vec::new();
        };
        String::from_utf8_lossy(&data)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
            })
            .collect()
    }

    /// A user's name for a uid (`getpwuid`).
    pub fn user_name(&self, uid: u32) -> Option<String> {
        let all = self.accounts("/etc/passwd");
        all.into_iter().find(|(_, id)| *id == uid).map(|(n, _)| n)
    }

    /// A group's name for a gid (`getgrgid`).
    pub fn group_name(&self, gid: u32) -> Option<String> {
        let all = self.accounts("/etc/group");
        all.into_iter().find(|(_, id)| *id == gid).map(|(n, _)| n)
    }

    /// A uid for a user name only (`getpwnam`).
    pub fn user_named(&self, name: &str) -> Option<u32> {
        let all = self.accounts("/etc/passwd");
        all.into_iter().find(|(n, _)| n == name).map(|(_, id)| id)
    }

    /// A gid for a group name only (`getgrnam`).
    pub fn group_named(&self, name: &str) -> Option<u32> {
        let all = self.accounts("/etc/group");
        all.into_iter().find(|(n, _)| n == name).map(|(_, id)| id)
    }

    /// A uid for a user name or number (`getpwnam`, then a number).
    pub fn user_id(&self, name: &str) -> Option<u32> {
        self.user_named(name).or_else(|| name.parse().ok())
    }

    /// A gid for a group name or number.
    pub fn group_id(&self, name: &str) -> Option<u32> {
        self.group_named(name).or_else(|| name.parse().ok())
    }

    pub fn getenv(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn stdin(&self) -> Fd {
        self.fds.get_or_null(0)
    }

    /// Acts on pending signals: dies of those that end it (PID 1 ignores
    /// what it has no handler for).
    pub fn check(&self) -> Result<(), Abort> {
        let mb = self.proc.mailbox();
        while let Some(sig) = mb.take() {
            if sig == Signal::Kill {
                return Err(if mb.is_oom_killed() {
                    Abort::Oom
                } else {
                    Abort::Signal(Signal::Kill)
                });
            }
            if sig.terminates_by_default() && !self.proc.is_init() {
                return Err(Abort::Signal(sig));
            }
        }
        Ok(())
    }

    fn pending(&self) -> bool {
        self.proc.mailbox().any()
    }

    /// Writes to stdout: EPIPE is death by SIGPIPE; other errors are
    /// reported (`cat: write error: No space left on device`).
    pub fn out(&self, data: &[u8]) -> Result<(), Abort> {
        self.write_to(1, data)
    }

    pub fn outs(&self, s: &str) -> Result<(), Abort> {
        self.write_to(1, s.as_bytes())
    }

    fn write_to(&self, fd: u32, data: &[u8]) -> Result<(), Abort> {
        if data.is_empty() {
            return Ok(());
        }
        let f = self.fds.get_or_null(fd);
        loop {
            match f.write_all(data, &|| self.pending()) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.check()?;
                    // An ignored signal: the write goes on (it may have
                    // been partly done; pipes keep what they took).
                    if matches!(f, Fd::PipeOut(_)) {
                        continue;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Err(Abort::Signal(Signal::Pipe));
                }
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => return Err(Abort::Oom),
                Err(e) => {
                    if fd == 1 {
                        self.fail(&format!("write error: {}", errno(&e)));
                    }
                    return Err(Abort::Exit(1));
                }
            }
        }
    }

    /// Writes to stderr (errors are not reported anywhere else).
    pub fn errs(&self, s: &str) {
        let _ = self.write_to(2, s.as_bytes());
    }

    /// `name: msg` on stderr.
    pub fn fail(&self, msg: &str) {
        self.errs(&format!("{}: {msg}\n", self.name));
    }

    /// An error in GNU's words or busybox's, by the image's userland.
    pub fn fail_as(&self, gnu: &str, busybox: &str) {
        self.fail(if self.gnu() { gnu } else { busybox });
    }

    /// A missing operand: GNU's message and hint, or busybox's banner and
    /// usage line (`usage` without its `Usage: ` prefix). Status 1.
    pub fn missing_operand(&self, gnu_message: &str, usage: &str) -> Ret {
        if self.gnu() {
            self.errs(&format!(
                "{}: {gnu_message}\nTry '{} --help' for more information.\n",
                self.name, self.name
            ));
        } else {
            self.usage(usage);
        }
        Ok(1)
    }

    /// busybox's banner and usage line, after a usage error.
    pub fn usage(&self, usage: &str) {
        self.errs(&format!("{BANNER}\n\nUsage: {usage}\n"));
    }

    /// busybox's answer to a bad option (status 1).
    pub fn bad_option(&self, opt: &str) -> Ret {
        if self.gnu() {
            self.errs(&format!(
                "{}: invalid option -- '{opt}'\nTry '{} --help' for more information.\n",
                self.name, self.name
            ));
            return Ok(if matches!(self.name.as_str(), "ls" | "grep") {
                2
            } else {
                1
            });
        }
        self.errs(&format!(
            "{}: unrecognized option: {opt}\n{BANNER}\n",
            self.name
        ));
        Ok(1)
    }

    /// Reads from an fd, blocking; Ok(0) at end of input.
    pub fn read_fd(&self, fd: &Fd, buf: &mut [u8]) -> Result<usize, Abort> {
        loop {
            match fd.read(buf, &|| self.pending()) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.check()?,
                Err(_) => return Ok(0),
            }
        }
    }

    /// Reads all of an input, charged to the memory budget.
    pub fn read_all(&self, fd: &Fd) -> Result<(Vec<u8>, Charge), Abort> {
        let mut charge = Charge::new(self.sys.procs.memory());
        let mut data = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.read_fd(fd, &mut buf)?;
            if n == 0 {
                return Ok((data, charge));
            }
            charge.grow(n as u64).map_err(|_| Abort::Oom)?;
            data.extend_from_slice(&buf[..n]);
        }
    }

    /// Memory for `bytes` more, or the OOM kill.
    pub fn charge(&self, bytes: u64) -> Result<Charge, Abort> {
        Charge::of(self.sys.procs.memory(), bytes).map_err(|_| Abort::Oom)
    }

    /// Sleeps (shortened by the test hook), waking for signals.
    pub fn sleep(&self, d: Duration) -> Result<(), Abort> {
        self.check()?;
        let d = self.sys.sleep_for(d);
        self.sleep_exactly(d)
    }

    /// Sleeps until a signal ends the process (`sleep infinity`); the
    /// test hook does not shorten it.
    pub fn sleep_forever(&self) -> Result<(), Abort> {
        loop {
            self.check()?;
            self.sleep_exactly(Duration::from_secs(3600))?;
        }
    }

    fn sleep_exactly(&self, d: Duration) -> Result<(), Abort> {
        let end = Instant::now().checked_add(d);
        loop {
            let left = match end {
                Some(e) => e.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if end.is_some() && left.is_zero() {
                return Ok(());
            }
            if self.proc.mailbox().sleep(left) {
                self.check()?;
                if !self.pending() {
                    // An ignored signal (PID 1): sleep on.
                    continue;
                }
            }
        }
    }

    /// Opens an input operand (`-` is stdin).
    pub fn open_input(&self, path: &str) -> io::Result<Fd> {
        if path == "-" {
            return Ok(self.stdin());
        }
        if let Some(super::vfs::Device::Fd(n)) = super::vfs::device(&self.vfs().abs(path)) {
            return Ok(self.fds.get_or_null(n));
        }
        self.vfs().open_read(path)
    }

    /// Runs another program of the image as a child process (`find
    /// -exec`, `xargs`, `env CMD`, `timeout`), waiting for it; Err(127)
    /// style statuses when it is not found.
    pub fn run_child(&self, argv: &[String], stdin: Option<Fd>) -> Result<ExitStatus, Abort> {
        let Some(name) = argv.first() else {
            return Ok(ExitStatus::Exited(0));
        };
        let path = self
            .getenv("PATH")
            .unwrap_or(self.sys.userland.path)
            .to_string();
        let found = if name.contains('/') {
            let abs = self.vfs().abs(name);
            self.sys.userland.by_path(&abs).map(|k| (abs, k))
        } else {
            self.sys.userland.lookup(name, &path)
        };
        let Some((full, kind)) = found else {
            self.fail(&format!("{name}: No such file or directory"));
            return Ok(ExitStatus::Exited(127));
        };
        let child = match self
            .sys
            .procs
            .register(self.proc.pid(), &argv.join(" "), false)
        {
            Ok(p) => p,
            Err(e) => {
                self.fail(&format!("can't fork: {e}"));
                return Ok(ExitStatus::Exited(1));
            }
        };
        let mut fds = self.fds.clone();
        if let Some(f) = stdin {
            fds.set(0, Some(f));
        }
        let launch = Launch {
            sys: self.sys.clone(),
            proc: Arc::clone(&child),
            argv: argv.to_vec(),
            path: full,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            fds,
            kind,
            tty: self.tty.clone(),
            shell_depth: 1,
        };
        let status = super::run_program(launch);
        child.finish(status);
        // The child's death by signal is not ours; our own signals are.
        self.check()?;
        Ok(status)
    }

    /// `can't open 'f': ...` (busybox) / `f: ...` (GNU cat, grep, wc).
    pub fn cant_open(&self, path: &str, e: &io::Error) {
        if self.gnu() {
            match self.name.as_str() {
                "head" | "tail" => {
                    self.fail(&format!("cannot open '{path}' for reading: {}", errno(e)))
                }
                "sort" => self.fail(&format!("cannot read: {path}: {}", errno(e))),
                _ => self.fail(&format!("{path}: {}", errno(e))),
            }
        } else {
            self.fail(&format!("can't open '{path}': {}", errno(e)))
        }
    }

    /// Each input (files, or stdin when there are none), to `f`; a file
    /// that cannot be opened is reported and makes the status 1.
    pub fn each_input(
        &self,
        files: &[String],
        mut f: impl FnMut(&Ctx, &str, &Fd) -> Result<(), Abort>,
    ) -> Ret {
        if files.is_empty() {
            f(self, "-", &self.stdin())?;
            return Ok(0);
        }
        let mut status = 0;
        for file in files {
            match self.open_input(file) {
                Ok(fd) => f(self, file, &fd)?,
                Err(e) => {
                    if e.raw_os_error() == Some(21) && self.name == "cat" && !self.gnu() {
                        self.fail("read error: Is a directory");
                    } else if e.raw_os_error() == Some(21) && self.gnu() {
                        self.fail(&format!("{file}: Is a directory"));
                    } else {
                        self.cant_open(file, &e);
                    }
                    status = 1;
                }
            }
        }
        Ok(status)
    }
}

/// Reads lines from an fd without holding more than one line (plus a
/// buffer); a line's memory is charged.
pub struct LineReader {
    fd: Fd,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    charge: Option<Charge>,
}

impl LineReader {
    pub fn new(fd: Fd) -> LineReader {
        LineReader {
            fd,
            buf: vec![0u8; 64 * 1024],
            start: 0,
            end: 0,
            eof: false,
            charge: None,
        }
    }

    /// The next line, with its `\n` if it had one; None at the end.
    pub fn next_line(&mut self, ctx: &Ctx) -> Result<Option<Vec<u8>>, Abort> {
        let mut line = Vec::new();
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                line.extend_from_slice(&self.buf[self.start..self.start + i + 1]);
                self.start += i + 1;
                return Ok(Some(line));
            }
            line.extend_from_slice(&self.buf[self.start..self.end]);
            self.start = 0;
            self.end = 0;
            if line.len() > 64 * 1024 {
                // A long line: its memory counts.
                let c = self
                    .charge
                    .get_or_insert_with(|| Charge::new(ctx.sys.procs.memory()));
                c.resize(line.len() as u64).map_err(|_| Abort::Oom)?;
            }
            if self.eof {
                return Ok(if line.is_empty() { None } else { Some(line) });
            }
            let n = ctx.read_fd(&self.fd, &mut self.buf)?;
            if n == 0 {
                self.eof = true;
            }
            self.end = n;
        }
    }
}

/// Parsed options: flags seen (in order), values of options taking one,
/// and the operands.
#[derive(Debug, Default)]
pub struct Opts {
    pub flags: Vec<char>,
    pub values: HashMap<char, Vec<String>>,
    pub operands: Vec<String>,
}

impl Opts {
    pub fn has(&self, c: char) -> bool {
        self.flags.contains(&c)
    }

    pub fn value(&self, c: char) -> Option<&str> {
        self.values
            .get(&c)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
}

/// getopt over `args` with `spec` (`"ab:c"`: b takes a value); options
/// may follow operands (as busybox and GNU allow); `--` ends them; long
/// options (`--foo`) are returned in `long` as they are.
pub fn getopt(ctx: &Ctx, args: &[String], spec: &str) -> Result<(Opts, Vec<String>), Ret> {
    let mut o = Opts::default();
    let mut long = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            o.operands.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            long.push(l.to_string());
            continue;
        }
        if a.len() < 2 || !a.starts_with('-') {
            o.operands.push(a.clone());
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            let Some(pos) = spec.find(c) else {
                return Err(ctx.bad_option(&c.to_string()));
            };
            let takes = spec[pos + c.len_utf8()..].starts_with(':');
            o.flags.push(c);
            if takes {
                let rest: String = chars[j + 1..].iter().collect();
                let value = if !rest.is_empty() {
                    rest
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    if ctx.gnu() {
                        ctx.errs(&format!(
                            "{}: option requires an argument -- '{c}'\nTry '{} --help' for more information.\n",
                            ctx.name, ctx.name
                        ));
                    } else {
                        ctx.errs(&format!(
                            "{}: option requires an argument: {c}\n{BANNER}\n",
                            ctx.name
                        ));
                    }
                    return Err(Ok(1));
                };
                o.values.entry(c).or_default().push(value);
                break;
            }
            j += 1;
        }
    }
    Ok((o, long))
}

/// The applet for a name.
pub fn lookup(name: &str) -> Option<ProgramFn> {
    Some(match name {
        "ls" => files::ls,
        "cp" => files::cp,
        "mv" => files::mv,
        "ln" => files::ln,
        "rm" => files::rm,
        "mkdir" => files::mkdir,
        "rmdir" => files::rmdir,
        "touch" => files::touch,
        "stat" => files::stat,
        "find" => files::find,
        "du" => files::du,
        "df" => files::df,
        "mount" => files::mount,
        "chmod" => files::chmod,
        "chown" => files::chown,
        "chgrp" => files::chgrp,
        "readlink" => files::readlink,
        "realpath" => files::realpath,
        "mktemp" => files::mktemp,
        "sync" => |_, _| Ok(0),
        "dd" => files::dd,
        "cat" => text::cat,
        "tac" => text::tac,
        "echo" => text::echo,
        "printf" => text::printf,
        "head" => text::head,
        "tail" => text::tail,
        "wc" => text::wc,
        "grep" | "egrep" | "fgrep" => text::grep,
        "sed" => sed::sed,
        "awk" => awk::awk,
        "sort" => text::sort,
        "uniq" => text::uniq,
        "tr" => text::tr,
        "cut" => text::cut,
        "tee" => text::tee,
        "base64" => text::base64,
        "md5sum" | "sha256sum" => text::checksum,
        "xargs" => text::xargs,
        "ps" => process::ps,
        "kill" => process::kill,
        "sleep" => process::sleep,
        "yes" => process::yes,
        "true" => |_, _| Ok(0),
        "false" => |_, _| Ok(1),
        "env" => process::env,
        "printenv" => process::printenv,
        "id" => process::id,
        "whoami" => process::whoami,
        "hostname" => process::hostname,
        "date" => process::date,
        "uname" => process::uname,
        "nproc" => process::nproc,
        "uptime" => process::uptime,
        "free" => process::free,
        "timeout" => process::timeout,
        "pwd" => process::pwd,
        "tar" => archive::tar,
        "gzip" | "gunzip" | "zcat" => archive::gzip,
        "wget" => network::wget,
        "nslookup" => network::nslookup,
        "seq" => misc::seq,
        "test" => misc::test,
        "[" => misc::bracket,
        "[[" => misc::double_bracket,
        "which" => misc::which,
        "basename" => misc::basename,
        "dirname" => misc::dirname,
        "expr" => misc::expr,
        "busybox" => misc::busybox,
        _ => return None,
    })
}

fn to_status(r: Ret) -> ExitStatus {
    match r {
        Ok(c) | Err(Abort::Exit(c)) => ExitStatus::Exited(c),
        Err(Abort::Signal(s)) => ExitStatus::Signaled(s),
        Err(Abort::Oom) => ExitStatus::OomKilled,
    }
}

fn ctx_of(l: &Launch, name: &str) -> Ctx {
    Ctx {
        sys: l.sys.clone(),
        proc: Arc::clone(&l.proc),
        cwd: l.cwd.clone(),
        env: l.env.clone(),
        fds: l.fds.clone(),
        name: name.to_string(),
        flavor: l.sys.userland.flavor,
        tty: l.tty.clone(),
        dialect: None,
    }
}

/// Runs an applet as process `l.proc`.
pub fn run_applet(name: &str, l: Launch) -> ExitStatus {
    let Some(f) = lookup(name) else {
        return ExitStatus::Exited(127);
    };
    let mut ctx = ctx_of(&l, name);
    let status = to_status(f(&mut ctx, &l.argv[1..]));
    if status == ExitStatus::OomKilled {
        l.proc.mailbox().oom_kill();
    }
    status
}

/// Runs a program of the image as process `l.proc`.
pub fn run_image_program(f: ProgramFn, l: Launch) -> ExitStatus {
    let name = l
        .argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let mut ctx = ctx_of(&l, &name);
    let status = to_status(f(&mut ctx, &l.argv[1..]));
    if status == ExitStatus::OomKilled {
        l.proc.mailbox().oom_kill();
    }
    status
}

/// Runs an applet inside a shell (its builtins `echo`, `printf`, `test`,
/// `kill`...): the shell's own process, fds and variables.
pub fn run_in_shell(sh: &mut Shell, argv: &[String]) -> Res<i32> {
    let name = argv[0].as_str();
    let Some(f) = lookup(name) else {
        return Ok(127);
    };
    let mut ctx = Ctx {
        sys: sh.sys.clone(),
        proc: Arc::clone(&sh.proc),
        cwd: sh.cwd.clone(),
        env: sh.vars.exported(),
        fds: sh.fds.clone(),
        name: shell_builtin_name(sh, name),
        flavor: sh.sys.userland.flavor,
        tty: sh.tty.clone(),
        dialect: Some(sh.dialect),
    };
    // A builtin's errors read as the shell's own (`sh: kill: ...`).
    match f(&mut ctx, &argv[1..]) {
        Ok(c) | Err(Abort::Exit(c)) => Ok(c),
        Err(Abort::Oom) => Err(sh.oom()),
        Err(Abort::Signal(s)) => Err(Flow::Killed(ExitStatus::Signaled(s))),
    }
}

/// The prefix a builtin's messages carry in this shell.
fn shell_builtin_name(sh: &Shell, name: &str) -> String {
    match sh.dialect {
        // busybox applets run as ash builtins speak as the shell.
        ShellKind::Ash => sh.arg0.clone(),
        ShellKind::Dash => format!("{}: {}: {name}", sh.arg0, sh.lineno.max(1)),
        ShellKind::Bash => {
            if sh.interactive {
                format!("bash: {name}")
            } else {
                format!("bash: line {}: {name}", sh.lineno.max(1))
            }
        }
    }
}

/// busybox `ls -h` / `df -h` sizes: `0`, `12.0K`, `58.4G`.
pub fn human_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_string();
    }
    let units = ["", "K", "M", "G", "T", "P"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}")
    } else {
        format!("{value:.1}{}", units[unit])
    }
}

/// A duration as `sleep` takes it: `1.5`, `2m`, `1h`, `inf`, `infinity`
/// (None for `infinity`: forever). Err: not a number.
pub fn parse_duration(arg: &str) -> Result<Option<Duration>, ()> {
    let lower = arg.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity") {
        return Ok(None);
    }
    let (number, factor) = match lower.char_indices().last() {
        Some((i, 's')) => (&arg[..i], 1.0),
        Some((i, 'm')) => (&arg[..i], 60.0),
        Some((i, 'h')) => (&arg[..i], 3600.0),
        Some((i, 'd')) => (&arg[..i], 86400.0),
        _ => (arg, 1.0),
    };
    let n: f64 = number.parse().map_err(|_| ())?;
    if !n.is_finite() {
        return Ok(None);
    }
    if n < 0.0 {
        return Err(());
    }
    let secs = n * factor;
    if secs > 1e12 {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(parse_duration("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(parse_duration("infinity"), Ok(None));
        assert_eq!(parse_duration("inf"), Ok(None));
        assert_eq!(parse_duration("abc"), Err(()));
        assert_eq!(human_size(5000), "4.9K");
    }
}
