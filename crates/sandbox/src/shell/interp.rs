//! The interpreter: one [`Shell`] is one shell process (its variables,
//! functions, options, traps, jobs and file descriptors). It walks the
//! syntax tree: lists, `&&`/`||`, pipelines (each stage a process on its
//! own thread, joined by pipes), subshells, `if`/`for`/`while`/`case`,
//! functions, redirections, background jobs; and it runs programs of the
//! image as child processes in the container's process table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::{Charge, ExitStatus, MemBudget, Process, Signal, TtyState, pipe};
use crate::shell::userland::{ProgramKind, ShellKind};

use super::ast::*;
use super::io::{Fd, FdTable};
use super::system::Container;
use super::vars::{VarError, Vars};
use super::vfs::{Vfs, errno};
use super::{Launch, run_program};

pub type Res<T> = Result<T, Flow>;

/// How control leaves a command other than by finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Break(u32),
    Continue(u32),
    Return(i32),
    /// `exit N`, or `set -e` ending the shell.
    Exit(i32),
    /// A shell error (bad substitution, `${x?}`, a syntax error in
    /// `eval`): a script ends with the status; an interactive shell goes
    /// back to its prompt.
    Error(i32),
    /// The process dies (a signal, or the OOM killer).
    Killed(ExitStatus),
    /// ctrl-C at an interactive shell: back to the prompt.
    Interrupted,
}

/// Shell options (`set -e`...).
#[derive(Debug, Clone, Default)]
pub struct Opts {
    pub errexit: bool,
    pub nounset: bool,
    pub xtrace: bool,
    pub noglob: bool,
    pub noclobber: bool,
    pub verbose: bool,
    pub pipefail: bool,
    pub allexport: bool,
    pub noexec: bool,
}

impl Opts {
    /// `$-`
    pub fn flags(&self, interactive: bool) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.allexport, 'a'),
            (self.errexit, 'e'),
            (self.noglob, 'f'),
            (interactive, 'i'),
            (self.noexec, 'n'),
            (self.nounset, 'u'),
            (self.verbose, 'v'),
            (self.xtrace, 'x'),
            (self.noclobber, 'C'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// A background job.
pub struct Job {
    pub id: usize,
    pub proc: Arc<Process>,
    pub text: String,
}

/// The deepest nesting of function calls.
pub const MAX_FUNC_DEPTH: usize = 100;
/// The deepest nesting of shells started by shells in one thread.
pub const MAX_SHELL_DEPTH: usize = 16;
/// Stack for a process thread (the interpreter is recursive; nesting is
/// bounded above so this suffices).
pub const STACK_SIZE: usize = 32 * 1024 * 1024;

/// One shell process.
pub struct Shell {
    pub sys: Container,
    pub proc: Arc<Process>,
    pub vars: Vars,
    pub funcs: Arc<HashMap<String, Arc<Command>>>,
    pub params: Vec<String>,
    pub arg0: String,
    pub cwd: String,
    pub opts: Opts,
    pub status: i32,
    pub last_bg: Option<u32>,
    /// Trap actions by condition (`EXIT`, `TERM`...); "" ignores.
    pub traps: BTreeMap<String, String>,
    pub jobs: Vec<Job>,
    pub dialect: ShellKind,
    pub fds: FdTable,
    pub func_depth: usize,
    pub loop_depth: u32,
    /// Saved values per function call, restored when it returns.
    pub locals: Vec<Vec<(String, Option<super::vars::Var>)>>,
    pub lineno: u32,
    /// The script's name, for messages (`script.sh: line 3: ...`).
    pub script: Option<String>,
    pub interactive: bool,
    pub tty: Option<Arc<TtyState>>,
    /// Inside a condition (`if`, `while`, `&&`, `!`): `set -e` waits.
    pub cond: u32,
    pub in_trap: bool,
    pub started: Instant,
    /// What the current command's expansions hold in memory.
    pub exp_charge: Charge,
    /// The status of the last command substitution of the current
    /// command (an assignment-only command takes it).
    pub subst_status: Option<i32>,
    /// How many shells are nested in this thread (`sh -c 'sh -c ...'`).
    pub shell_depth: usize,
    pub random: u32,
    /// Set by `exec` without a command: its redirections stay.
    pub keep_fds: bool,
    /// `$$`: the top shell's PID (subshells keep it).
    pub shell_pid: u32,
    /// The next simple command is the last this process runs: a program
    /// replaces the process (no child), as ash does.
    pub exec_final: bool,
    /// When this shell last gave the CPU away (see [`Shell::throttle`]).
    pub last_yield: Instant,
}

impl Shell {
    pub fn new(
        sys: Container,
        proc: Arc<Process>,
        dialect: ShellKind,
        fds: FdTable,
        env: &[(String, String)],
        cwd: String,
        shell_depth: usize,
    ) -> Result<Shell, VarError> {
        let mem = Arc::clone(sys.procs.memory());
        let mut vars = Vars::new(&mem);
        for (k, v) in env {
            vars.set(k, v.clone())?;
            vars.export(k)?;
        }
        let defaults = [
            ("PATH", sys.userland.path.to_string()),
            ("HOME", home_of(&sys)),
            ("HOSTNAME", sys.hostname.clone()),
        ];
        for (k, v) in defaults {
            if !vars.is_set(k) {
                vars.set(k, v)?;
                vars.export(k)?;
            }
        }
        if !vars.is_set("PWD") {
            vars.set("PWD", cwd.clone())?;
            vars.export("PWD")?;
        }
        vars.set("IFS", " \t\n".to_string())?;
        vars.set("OPTIND", "1".to_string())?;
        let ps1 = match dialect {
            ShellKind::Ash => "\\w \\$ ",
            ShellKind::Dash => "\\$ ",
            ShellKind::Bash => "\\u@\\h:\\w\\$ ",
        };
        vars.set("PS1", ps1.to_string())?;
        vars.set("PS2", "> ".to_string())?;
        vars.set("PS4", "+ ".to_string())?;
        let shlvl = vars
            .get("SHLVL")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            + 1;
        vars.set("SHLVL", shlvl.to_string())?;
        vars.export("SHLVL")?;
        let pid = proc.pid();
        Ok(Shell {
            sys,
            proc,
            vars,
            funcs: Arc::new(HashMap::new()),
            params: Vec::new(),
            arg0: "sh".to_string(),
            cwd,
            opts: Opts::default(),
            status: 0,
            last_bg: None,
            traps: BTreeMap::new(),
            jobs: Vec::new(),
            dialect,
            fds,
            func_depth: 0,
            loop_depth: 0,
            locals: Vec::new(),
            lineno: 0,
            script: None,
            interactive: false,
            tty: None,
            cond: 0,
            in_trap: false,
            started: Instant::now(),
            exp_charge: Charge::new(&mem),
            subst_status: None,
            shell_depth,
            random: pid.wrapping_mul(2_654_435_761).wrapping_add(12345),
            keep_fds: false,
            shell_pid: pid,
            exec_final: false,
            last_yield: Instant::now(),
        })
    }

    pub fn mem(&self) -> &Arc<MemBudget> {
        self.sys.procs.memory()
    }

    pub fn bash(&self) -> bool {
        self.dialect == ShellKind::Bash
    }

    /// The OOM killer picked this process.
    pub fn oom(&self) -> Flow {
        self.proc.mailbox().oom_kill();
        Flow::Killed(ExitStatus::OomKilled)
    }

    pub fn var_error(&mut self, name: &str, e: VarError) -> Flow {
        match e {
            VarError::Oom => self.oom(),
            VarError::ReadOnly => {
                self.msg(None, &format!("{name}: is read only"));
                Flow::Error(2)
            }
        }
    }

    pub fn set_var(&mut self, name: &str, value: String) -> Res<()> {
        let export = self.opts.allexport;
        self.vars
            .set(name, value)
            .map_err(|e| self.var_error_flow(name, e))?;
        if export {
            self.vars
                .export(name)
                .map_err(|e| self.var_error_flow(name, e))?;
        }
        Ok(())
    }

    fn var_error_flow(&self, name: &str, e: VarError) -> Flow {
        match e {
            VarError::Oom => self.oom(),
            VarError::ReadOnly => {
                self.msg(None, &format!("{name}: is read only"));
                Flow::Error(2)
            }
        }
    }

    pub fn vfs(&self) -> Vfs<'_> {
        Vfs::new(&self.sys, &self.cwd).with_umask(self.proc.umask())
    }

    // ------------------------------------------------------------------
    // Messages and output
    // ------------------------------------------------------------------

    /// Prints an error the way this shell does: `sh: cd: line 1: ...`
    /// (ash), `sh: 1: cd: ...` (dash), `bash: line 1: cd: ...` (bash).
    pub fn msg(&self, builtin: Option<&str>, text: &str) {
        let mut line = String::new();
        match self.dialect {
            ShellKind::Ash => {
                let arg0 = self.script.as_deref().unwrap_or(&self.arg0);
                line.push_str(arg0);
                line.push_str(": ");
                let commandname = builtin.or(self.script.as_deref());
                if let Some(cmd) = commandname {
                    if cmd != arg0 {
                        line.push_str(cmd);
                        line.push_str(": ");
                    }
                    if !self.interactive {
                        line.push_str(&format!("line {}: ", self.lineno.max(1)));
                    }
                }
            }
            ShellKind::Dash => {
                let arg0 = self.script.as_deref().unwrap_or(&self.arg0);
                line.push_str(&format!("{arg0}: {}: ", self.lineno.max(1)));
                if let Some(b) = builtin {
                    line.push_str(b);
                    line.push_str(": ");
                }
            }
            ShellKind::Bash => {
                let arg0 = self.script.as_deref().unwrap_or(&self.arg0);
                line.push_str(arg0);
                line.push_str(": ");
                if !self.interactive {
                    line.push_str(&format!("line {}: ", self.lineno.max(1)));
                }
                if let Some(b) = builtin {
                    line.push_str(b);
                    line.push_str(": ");
                }
            }
        }
        line.push_str(text);
        line.push('\n');
        let _ = self.write_fd(2, line.as_bytes());
    }

    /// `foo: not found` as this shell says it (status 127).
    pub fn not_found(&self, name: &str) {
        match self.dialect {
            ShellKind::Bash => self.msg(None, &format!("{name}: command not found")),
            _ => self.msg(None, &format!("{name}: not found")),
        }
    }

    /// Writes to one of this shell's fds.
    pub fn write_fd(&self, fd: u32, data: &[u8]) -> std::io::Result<()> {
        let f = self.fds.get_or_null(fd);
        let stop = || self.proc.mailbox().has(Signal::Kill);
        f.write_all(data, &stop)
    }

    /// A builtin's output: a gone reader kills the shell with SIGPIPE.
    pub fn out(&self, data: &[u8]) -> Res<()> {
        match self.write_fd(1, data) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(Flow::Killed(ExitStatus::Signaled(Signal::Pipe)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => Err(self.oom()),
            Err(e) => {
                self.msg(None, &format!("write error: {}", errno(&e)));
                Err(Flow::Error(1))
            }
        }
    }

    // ------------------------------------------------------------------
    // Signals
    // ------------------------------------------------------------------

    /// Acts on pending signals: runs traps, dies of fatal ones.
    pub fn checkpoint(&mut self) -> Res<()> {
        while let Some(sig) = self.proc.mailbox().take() {
            if sig == Signal::Kill {
                return Err(Flow::Killed(if self.proc.mailbox().is_oom_killed() {
                    ExitStatus::OomKilled
                } else {
                    ExitStatus::Signaled(Signal::Kill)
                }));
            }
            if let Some(action) = self.traps.get(sig.name()).cloned() {
                if action.is_empty() || self.in_trap {
                    continue;
                }
                self.run_trap(&action)?;
                continue;
            }
            if !sig.terminates_by_default() || self.proc.is_init() {
                continue;
            }
            if self.interactive {
                match sig {
                    Signal::Int => return Err(Flow::Interrupted),
                    Signal::Term | Signal::Quit => continue,
                    _ => {}
                }
            }
            return Err(Flow::Killed(ExitStatus::Signaled(sig)));
        }
        Ok(())
    }

    pub fn run_trap(&mut self, action: &str) -> Res<()> {
        let saved = self.status;
        self.in_trap = true;
        let r = self.eval_text(action);
        self.in_trap = false;
        match r {
            Err(f @ (Flow::Exit(_) | Flow::Killed(_))) => Err(f),
            _ => {
                self.status = saved;
                Ok(())
            }
        }
    }

    /// Parses and runs `text` (eval, traps).
    pub fn eval_text(&mut self, text: &str) -> Res<i32> {
        match super::parse::parse(text, self.bash()) {
            Ok(list) => self.run_list(&list),
            Err(e) => {
                self.syntax_error(&e);
                Err(Flow::Error(2))
            }
        }
    }

    pub fn syntax_error(&self, e: &super::parse::ParseError) {
        let saved = self.lineno;
        let text = match self.dialect {
            ShellKind::Ash => format!("syntax error: {}", e.ash_message()),
            ShellKind::Dash => format!("Syntax error: {}", e.dash_message()),
            ShellKind::Bash => e.bash_message(),
        };
        // The line of the error, not of the last command.
        let mut me = ShellMsg {
            dialect: self.dialect,
            arg0: self.script.clone().unwrap_or_else(|| self.arg0.clone()),
            interactive: self.interactive,
            line: if e.line > 0 { e.line } else { saved },
            script: self.script.is_some(),
        };
        let line = me.format(&text);
        me.line = saved;
        let _ = self.write_fd(2, line.as_bytes());
    }

    // ------------------------------------------------------------------
    // Lists and pipelines
    // ------------------------------------------------------------------

    pub fn run_list(&mut self, list: &List) -> Res<i32> {
        let mut status = self.status;
        for item in list {
            if item.background {
                self.background(&item.and_or)?;
                status = 0;
            } else {
                status = self.run_and_or(&item.and_or)?;
            }
            self.status = status;
        }
        Ok(status)
    }

    fn run_and_or(&mut self, ao: &AndOr) -> Res<i32> {
        let many = !ao.rest.is_empty();
        if many {
            self.cond += 1;
        }
        let first = self.run_pipeline(&ao.first);
        if many {
            self.cond -= 1;
        }
        let mut status = first?;
        self.status = status;
        for (i, (conn, p)) in ao.rest.iter().enumerate() {
            let run = match conn {
                Connector::And => status == 0,
                Connector::Or => status != 0,
            };
            if !run {
                continue;
            }
            let last = i + 1 == ao.rest.len();
            if !last {
                self.cond += 1;
            }
            let r = self.run_pipeline(p);
            if !last {
                self.cond -= 1;
            }
            status = r?;
            self.status = status;
            if last {
                return self.errexit(status, p.bang);
            }
        }
        if many {
            // The last command that ran was a condition: no errexit.
            return Ok(status);
        }
        self.errexit(status, ao.first.bang)
    }

    fn errexit(&mut self, status: i32, bang: bool) -> Res<i32> {
        if status != 0 && self.opts.errexit && self.cond == 0 && !bang {
            return Err(Flow::Exit(status));
        }
        Ok(status)
    }

    fn run_pipeline(&mut self, p: &Pipeline) -> Res<i32> {
        self.lineno = p.line;
        if p.bang {
            self.cond += 1;
        }
        let r = if p.commands.len() == 1 {
            self.run_command(&p.commands[0])
        } else {
            self.run_stages(p)
        };
        if p.bang {
            self.cond -= 1;
        }
        let status = r?;
        Ok(if p.bang {
            i32::from(status == 0)
        } else {
            status
        })
    }

    /// A pipeline of several commands: each stage is a subshell process
    /// on its own thread; the shell waits for all of them.
    fn run_stages(&mut self, p: &Pipeline) -> Res<i32> {
        let n = p.commands.len();
        let mut procs = Vec::with_capacity(n);
        let mut next_in: Option<Fd> = None;
        for (i, cmd) in p.commands.iter().enumerate() {
            let (out, reader) = if i + 1 < n {
                let (w, r) = pipe::pipe();
                (Some(Fd::PipeOut(w)), Some(Fd::PipeIn(r)))
            } else {
                (None, None)
            };
            let text = command_text(cmd, &p.text);
            let mut stage = match self.fork(&text) {
                Ok(s) => s,
                Err(f) => {
                    // Stages already started see EOF or EPIPE and end.
                    drop(next_in);
                    drop(out);
                    for proc in procs {
                        let _ = wait_process(self, &proc);
                    }
                    return Err(f);
                }
            };
            if let Some(input) = next_in.take() {
                stage.fds.set(0, Some(input));
            }
            if let Some(out) = out {
                stage.fds.set(1, Some(out));
            }
            next_in = reader;
            let cmd = cmd.clone();
            let proc = Arc::clone(&stage.proc);
            if let Err(e) = spawn_thread(&proc, move || {
                let mut stage = stage;
                stage.exec_final = matches!(cmd, Command::Simple(_));
                let r = stage.run_command(&cmd);
                stage.finish(r)
            }) {
                self.msg(None, &format!("can't fork: {e}"));
                proc.finish(ExitStatus::Exited(2));
            }
            procs.push(proc);
        }
        drop(next_in);
        let mut statuses = Vec::with_capacity(n);
        for proc in &procs {
            statuses.push(wait_process(self, proc)?);
        }
        let last = statuses.last().copied().unwrap_or(0);
        if self.opts.pipefail
            && let Some(bad) = statuses.iter().rev().find(|s| **s != 0)
        {
            return Ok(*bad);
        }
        Ok(last)
    }

    /// `list &`: a subshell process in the background.
    fn background(&mut self, ao: &AndOr) -> Res<()> {
        let text = ao.first.text.clone();
        let mut job = self.fork(&text)?;
        if !self.interactive {
            // Without job control, a background job's stdin is /dev/null.
            job.fds.set(0, Some(Fd::Null));
        }
        let proc = Arc::clone(&job.proc);
        let ao = ao.clone();
        if let Err(e) = spawn_thread(&proc, move || {
            let mut job = job;
            job.exec_final = ao.rest.is_empty()
                && !ao.first.bang
                && matches!(ao.first.commands.as_slice(), [Command::Simple(_)]);
            let r = job.run_and_or(&ao);
            job.finish(r)
        }) {
            self.msg(None, &format!("can't fork: {e}"));
            proc.finish(ExitStatus::Exited(2));
        }
        self.last_bg = Some(proc.pid());
        let id = self.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        if self.interactive {
            let _ = self.write_fd(2, format!("[{id}] {}\n", proc.pid()).as_bytes());
        }
        self.jobs.push(Job { id, proc, text });
        Ok(())
    }

    /// A copy of this shell as a new child process (a subshell).
    pub fn fork(&mut self, cmdline: &str) -> Res<Shell> {
        let proc = match self.sys.procs.register(self.proc.pid(), cmdline, false) {
            Ok(p) => p,
            Err(e) => {
                self.msg(None, &format!("can't fork: {e}"));
                return Err(Flow::Error(2));
            }
        };
        Ok(self.copy(proc))
    }

    /// A subshell in the same process (`$(...)`, `( ... )`).
    pub fn subshell(&self) -> Shell {
        self.copy(Arc::clone(&self.proc))
    }

    fn copy(&self, proc: Arc<Process>) -> Shell {
        // Traps are reset in a subshell, except ignored signals.
        let traps = self
            .traps
            .iter()
            .filter(|(_, a)| a.is_empty())
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        Shell {
            sys: self.sys.clone(),
            proc,
            vars: self.vars.fork(),
            funcs: Arc::clone(&self.funcs),
            params: self.params.clone(),
            arg0: self.arg0.clone(),
            cwd: self.cwd.clone(),
            opts: self.opts.clone(),
            status: self.status,
            last_bg: self.last_bg,
            traps,
            jobs: Vec::new(),
            dialect: self.dialect,
            fds: self.fds.clone(),
            func_depth: self.func_depth,
            loop_depth: 0,
            locals: Vec::new(),
            lineno: self.lineno,
            script: self.script.clone(),
            interactive: false,
            tty: self.tty.clone(),
            cond: self.cond,
            in_trap: false,
            started: self.started,
            exp_charge: Charge::new(self.mem()),
            subst_status: None,
            shell_depth: self.shell_depth,
            random: self.random.wrapping_add(self.proc.pid()),
            keep_fds: false,
            shell_pid: self.shell_pid,
            exec_final: false,
            last_yield: Instant::now(),
        }
    }

    /// How a shell process ends: its status, after its EXIT trap.
    pub fn finish(&mut self, r: Res<i32>) -> ExitStatus {
        let mut status = match r {
            Ok(c) | Err(Flow::Exit(c) | Flow::Error(c) | Flow::Return(c)) => ExitStatus::Exited(c),
            Err(Flow::Break(_) | Flow::Continue(_)) => ExitStatus::Exited(self.status),
            Err(Flow::Killed(st)) => st,
            Err(Flow::Interrupted) => ExitStatus::Signaled(Signal::Int),
        };
        if !matches!(
            status,
            ExitStatus::Signaled(Signal::Kill) | ExitStatus::OomKilled
        ) && let Some(action) = self.traps.remove("EXIT").filter(|a| !a.is_empty())
        {
            if let ExitStatus::Exited(c) = status {
                self.status = c;
            }
            self.in_trap = true;
            match self.eval_text(&action) {
                Err(Flow::Exit(c)) => status = ExitStatus::Exited(c),
                Err(Flow::Killed(st)) => status = st,
                _ => {}
            }
        }
        status
    }

    // ------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------

    pub fn run_command(&mut self, cmd: &Command) -> Res<i32> {
        match cmd {
            Command::Simple(s) => {
                let r = self.run_simple(s);
                self.exp_charge.resize(0).ok();
                r
            }
            Command::Compound(c, redirects) => {
                if redirects.is_empty() {
                    return self.run_compound(c);
                }
                let saved = self.fds.clone();
                let r = match self.redirect(redirects) {
                    Ok(Ok(())) => self.run_compound(c),
                    Ok(Err(code)) => Ok(code),
                    Err(f) => Err(f),
                };
                self.fds = saved;
                r
            }
            Command::Function { name, body } => {
                Arc::make_mut(&mut self.funcs).insert(name.clone(), Arc::clone(body));
                Ok(0)
            }
        }
    }

    fn run_compound(&mut self, c: &Compound) -> Res<i32> {
        match c {
            Compound::Brace(list) => self.run_list(list),
            Compound::Subshell(list) => {
                let mut sub = self.subshell();
                let r = sub.run_list(list);
                let status = sub.finish(r);
                match status {
                    ExitStatus::Exited(c) => Ok(c),
                    other => Err(Flow::Killed(other)),
                }
            }
            Compound::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    self.cond += 1;
                    let r = self.run_list(cond);
                    self.cond -= 1;
                    if r? == 0 {
                        return self.run_list(body);
                    }
                }
                match otherwise {
                    Some(body) => self.run_list(body),
                    None => Ok(0),
                }
            }
            Compound::Loop { until, cond, body } => self.run_loop(*until, cond, body),
            Compound::For { var, words, body } => self.run_for(var, words.as_deref(), body),
            Compound::Case { word, arms } => self.run_case(word, arms),
            Compound::ArithFor {
                init,
                cond,
                step,
                body,
            } => {
                let text = self.expand_string(init)?;
                self.arith(&text)?;
                let mut status = 0;
                self.last_yield = Instant::now();
                loop {
                    self.checkpoint()?;
                    self.throttle()?;
                    let c = self.expand_string(cond)?;
                    if !c.trim().is_empty() && self.arith(&c)? == 0 {
                        break;
                    }
                    if self.loop_body(body, &mut status)? {
                        break;
                    }
                    let s = self.expand_string(step)?;
                    self.arith(&s)?;
                }
                Ok(status)
            }
            Compound::Arith(expr) => {
                let text = self.expand_string(expr)?;
                let v = self.arith(&text)?;
                Ok(i32::from(v == 0))
            }
            Compound::Cond(expr) => {
                let r = self.cond_expr(expr)?;
                Ok(match r {
                    Some(true) => 0,
                    Some(false) => 1,
                    None => 2,
                })
            }
        }
    }

    /// Runs a loop body; maps break/continue. Some(status) ends the loop.
    fn loop_body(&mut self, body: &List, status: &mut i32) -> Res<bool> {
        self.loop_depth += 1;
        let r = self.run_list(body);
        self.loop_depth -= 1;
        match r {
            Ok(c) => {
                *status = c;
                Ok(false)
            }
            Err(Flow::Break(n)) if n > 1 => Err(Flow::Break(n - 1)),
            Err(Flow::Break(_)) => Ok(true),
            Err(Flow::Continue(n)) if n > 1 => Err(Flow::Continue(n - 1)),
            Err(Flow::Continue(_)) => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// A loop that never blocks gets half a CPU: after 100 ms of work it
    /// sleeps as long (interrupted by signals), so `while true; do :;
    /// done` cannot pin a core of the learner's machine.
    fn throttle(&mut self) -> Res<()> {
        if self.last_yield.elapsed() > Duration::from_millis(100) {
            self.proc.mailbox().sleep(Duration::from_millis(100));
            self.last_yield = Instant::now();
            self.checkpoint()?;
        }
        Ok(())
    }

    fn run_loop(&mut self, until: bool, cond: &List, body: &List) -> Res<i32> {
        let mut status = 0;
        self.last_yield = Instant::now();
        loop {
            self.checkpoint()?;
            self.throttle()?;
            self.cond += 1;
            self.loop_depth += 1;
            let r = self.run_list(cond);
            self.loop_depth -= 1;
            self.cond -= 1;
            let c = match r {
                Ok(c) => c,
                Err(Flow::Break(_)) => break,
                Err(Flow::Continue(_)) => continue,
                Err(f) => return Err(f),
            };
            if (c == 0) == until {
                break;
            }
            if self.loop_body(body, &mut status)? {
                break;
            }
        }
        Ok(status)
    }

    fn run_for(&mut self, var: &str, words: Option<&[Word]>, body: &List) -> Res<i32> {
        let items = match words {
            Some(words) => self.expand_words(words)?,
            None => self.params.clone(),
        };
        let mut status = 0;
        self.last_yield = Instant::now();
        for item in items {
            self.checkpoint()?;
            self.throttle()?;
            self.set_var(var, item)?;
            if self.loop_body(body, &mut status)? {
                break;
            }
        }
        Ok(status)
    }

    fn run_case(&mut self, word: &Word, arms: &[CaseArm]) -> Res<i32> {
        let subject = self.expand_string(word)?;
        let mut i = 0;
        while i < arms.len() {
            let mut hit = false;
            for p in &arms[i].patterns {
                if self.expand_pattern(p)?.matches(&subject) {
                    hit = true;
                    break;
                }
            }
            if hit {
                let mut status = self.run_list(&arms[i].body)?;
                while arms[i].fallthrough && i + 1 < arms.len() {
                    i += 1;
                    status = self.run_list(&arms[i].body)?;
                }
                return Ok(status);
            }
            i += 1;
        }
        Ok(0)
    }

    fn run_simple(&mut self, cmd: &SimpleCommand) -> Res<i32> {
        let exec_final = std::mem::take(&mut self.exec_final);
        self.lineno = cmd.line;
        self.checkpoint()?;
        self.subst_status = None;
        let argv = self.expand_command_words(&cmd.words)?;
        if argv.is_empty() {
            for a in &cmd.assigns {
                let v = self.assign_value(a)?;
                self.trace_assign(&a.name, &v);
                self.set_var(&a.name, v)?;
            }
            let saved = self.fds.clone();
            let r = self.redirect(&cmd.redirects);
            self.fds = saved;
            return match r? {
                Err(code) => Ok(code),
                Ok(()) => Ok(self.subst_status.unwrap_or(0)),
            };
        }
        let mut assigns = Vec::with_capacity(cmd.assigns.len());
        for a in &cmd.assigns {
            let v = self.assign_value(a)?;
            assigns.push((a.name.clone(), v));
        }
        if self.opts.xtrace {
            self.trace(&assigns, &argv);
        }
        let name = argv[0].clone();
        if let Some(b) = super::builtins::special(&name, self.dialect) {
            for (k, v) in assigns {
                self.set_var(&k, v)?;
            }
            return self.with_redirects(&cmd.redirects, |sh| b(sh, &argv));
        }
        if let Some(body) = self.funcs.get(&name).cloned() {
            return self.with_temp_vars(assigns, |sh| {
                sh.with_redirects(&cmd.redirects, |sh| sh.call_function(&name, &body, &argv))
            });
        }
        if let Some(b) = super::builtins::regular(&name, self.dialect) {
            return self.with_temp_vars(assigns, |sh| {
                sh.with_redirects(&cmd.redirects, |sh| b(sh, &argv))
            });
        }
        let replace = exec_final && !self.interactive && self.traps.is_empty();
        self.with_redirects(&cmd.redirects, |sh| {
            sh.run_external(&argv, &assigns, replace)
        })
    }

    fn trace(&self, assigns: &[(String, String)], argv: &[String]) {
        let ps4 = self.vars.get("PS4").unwrap_or("+ ").to_string();
        let mut line = ps4;
        for (k, v) in assigns {
            line.push_str(&format!("{k}={} ", trace_quote(v)));
        }
        line.push_str(
            &argv
                .iter()
                .map(|a| trace_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        );
        line.push('\n');
        let _ = self.write_fd(2, line.as_bytes());
    }

    fn trace_assign(&self, name: &str, value: &str) {
        if self.opts.xtrace {
            let ps4 = self.vars.get("PS4").unwrap_or("+ ");
            let _ = self.write_fd(
                2,
                format!("{ps4}{name}={}\n", trace_quote(value)).as_bytes(),
            );
        }
    }

    pub fn assign_value(&mut self, a: &Assign) -> Res<String> {
        let v = self.expand_assignment(&a.value)?;
        if a.append {
            let old = self.vars.get(&a.name).unwrap_or("").to_string();
            return Ok(old + &v);
        }
        Ok(v)
    }

    fn with_redirects(
        &mut self,
        redirects: &[Redirect],
        f: impl FnOnce(&mut Shell) -> Res<i32>,
    ) -> Res<i32> {
        if redirects.is_empty() {
            return f(self);
        }
        let saved = self.fds.clone();
        let r = match self.redirect(redirects) {
            Ok(Ok(())) => f(self),
            Ok(Err(code)) => Ok(code),
            Err(flow) => Err(flow),
        };
        // `exec 3>f` keeps its redirections (the builtin marks that).
        if !std::mem::take(&mut self.keep_fds) {
            self.fds = saved;
        }
        r
    }

    fn with_temp_vars(
        &mut self,
        assigns: Vec<(String, String)>,
        f: impl FnOnce(&mut Shell) -> Res<i32>,
    ) -> Res<i32> {
        if assigns.is_empty() {
            return f(self);
        }
        let mut saved = Vec::with_capacity(assigns.len());
        for (k, v) in assigns {
            saved.push((k.clone(), self.vars.var(&k).cloned()));
            self.set_var(&k, v)?;
            let _ = self.vars.export(&k);
        }
        let r = f(self);
        for (k, old) in saved.into_iter().rev() {
            let _ = self.vars.restore(&k, old);
        }
        r
    }

    pub fn call_function(&mut self, name: &str, body: &Arc<Command>, argv: &[String]) -> Res<i32> {
        if self.func_depth >= MAX_FUNC_DEPTH {
            self.msg(None, &format!("{name}: function nesting too deep"));
            return Err(Flow::Error(2));
        }
        let saved_params = std::mem::replace(&mut self.params, argv[1..].to_vec());
        self.func_depth += 1;
        self.locals.push(Vec::new());
        let r = self.run_command(body);
        let frame = self.locals.pop().unwrap_or_default();
        for (k, old) in frame.into_iter().rev() {
            let _ = self.vars.restore(&k, old);
        }
        self.func_depth -= 1;
        self.params = saved_params;
        match r {
            Err(Flow::Return(c)) => Ok(c),
            other => other,
        }
    }

    /// Finds a program of the image (along `PATH`, or by path).
    pub fn find_program(&self, name: &str) -> Result<(String, ProgramKind), i32> {
        if name.contains('/') {
            let abs = self.vfs().abs(name);
            if let Some(kind) = self.sys.userland.by_path(&abs) {
                return Ok((abs, kind));
            }
            return match self.vfs().metadata(name) {
                Ok(m) if m.is_dir() => Err(126),
                Ok(m) if m.mode & 0o111 == 0 => Err(126),
                Ok(_) => Ok((abs, ProgramKind::Applet("#script"))),
                Err(_) => Err(127),
            };
        }
        let path = self.vars.get("PATH").unwrap_or("").to_string();
        if let Some(found) = self.sys.userland.lookup(name, &path) {
            return Ok(found);
        }
        // Executable files the learner put along PATH (scripts).
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
            if let Ok(m) = self.vfs().metadata(&candidate)
                && m.is_file()
                && m.mode & 0o111 != 0
            {
                return Ok((candidate, ProgramKind::Applet("#script")));
            }
        }
        Err(127)
    }

    /// Runs a program of the image as a child process (or, for `exec`,
    /// as this process).
    pub fn run_external(
        &mut self,
        argv: &[String],
        assigns: &[(String, String)],
        replace: bool,
    ) -> Res<i32> {
        let name = &argv[0];
        let (path, kind) = match self.find_program(name) {
            Ok(found) => found,
            Err(126) => {
                match self.dialect {
                    ShellKind::Bash => self.msg(None, &format!("{name}: Permission denied")),
                    _ => self.msg(None, &format!("{name}: Permission denied")),
                }
                return Ok(126);
            }
            Err(code) => {
                if name.contains('/') && self.dialect == ShellKind::Bash {
                    self.msg(None, &format!("{name}: No such file or directory"));
                } else {
                    self.not_found(name);
                }
                return Ok(code);
            }
        };
        let mut env = self.vars.exported();
        for (k, v) in assigns {
            match env.iter_mut().find(|(ek, _)| ek == k) {
                Some(e) => e.1 = v.clone(),
                None => env.push((k.clone(), v.clone())),
            }
        }
        let cmdline = argv.join(" ");
        let child = if replace {
            self.proc.set_cmdline(&cmdline);
            Arc::clone(&self.proc)
        } else {
            match self.sys.procs.register(self.proc.pid(), &cmdline, false) {
                Ok(p) => p,
                Err(e) => {
                    self.msg(None, &format!("can't fork: {e}"));
                    return Ok(2);
                }
            }
        };
        let prev_fg = match &self.tty {
            Some(t) if !replace => Some(t.set_foreground(Some(Arc::clone(&child)))),
            _ => None,
        };
        let launch = Launch {
            sys: self.sys.clone(),
            proc: Arc::clone(&child),
            argv: argv.to_vec(),
            path,
            env,
            cwd: self.cwd.clone(),
            fds: self.fds.clone(),
            kind,
            tty: self.tty.clone(),
            shell_depth: self.shell_depth + 1,
        };
        let ran = Instant::now();
        let status = run_program(launch);
        if ran.elapsed() > Duration::from_millis(20) {
            // It blocked (a sleep, a read): the shell was not busy.
            self.last_yield = Instant::now();
        }
        if let (Some(t), Some(prev)) = (&self.tty, prev_fg) {
            t.set_foreground(prev);
        }
        if replace {
            return Err(match status {
                ExitStatus::Exited(c) => Flow::Exit(c),
                other => Flow::Killed(other),
            });
        }
        child.finish(status);
        // ctrl-C killed the foreground job: an interactive shell drops the
        // rest of the line too (ash raises SIGINT on itself).
        if self.interactive && status == ExitStatus::Signaled(Signal::Int) {
            self.status = status.code();
            return Err(Flow::Interrupted);
        }
        if let ExitStatus::OomKilled | ExitStatus::Signaled(_) = status
            && self.interactive
            && let Some(sig) = status.signal()
            && !matches!(sig, Signal::Int | Signal::Pipe)
        {
            let _ = self.write_fd(2, format!("{}\n", sig.description()).as_bytes());
        }
        Ok(status.code())
    }
}

/// The text of one stage of a pipeline (for `ps`).
fn command_text(cmd: &Command, whole: &str) -> String {
    match cmd {
        Command::Simple(s) => {
            let words: Vec<String> = s
                .words
                .iter()
                .map(|w| {
                    w.parts
                        .iter()
                        .map(|p| match p {
                            Part::Lit { text, .. } => text.clone(),
                            Part::Param { exp, .. } => format!("${}", exp.name),
                            _ => "$(...)".to_string(),
                        })
                        .collect::<String>()
                })
                .collect();
            if words.is_empty() {
                whole.to_string()
            } else {
                words.join(" ")
            }
        }
        _ => whole.to_string(),
    }
}

fn trace_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs `f` as the process `proc` on its own thread.
pub fn spawn_thread(
    proc: &Arc<Process>,
    f: impl FnOnce() -> ExitStatus + Send + 'static,
) -> std::io::Result<()> {
    let p = Arc::clone(proc);
    std::thread::Builder::new()
        .name(format!("pid-{}", proc.pid()))
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let status = f();
            p.finish(status);
        })
        .map(|_| ())
}

/// Waits for a child process; a fatal signal to the waiting shell is
/// acted on once the child is done (as a shell waiting for a foreground
/// job does).
pub fn wait_process(sh: &mut Shell, proc: &Arc<Process>) -> Res<i32> {
    let status = proc.wait(&|| sh.proc.mailbox().has(Signal::Kill));
    match status {
        Some(st) => Ok(st.code()),
        None => {
            sh.checkpoint()?;
            Ok(proc.wait(&|| false).map_or(0, ExitStatus::code))
        }
    }
}

/// Formats one error line for a shell (used when the shell's own state is
/// borrowed elsewhere).
/// The user's home as runc sets `HOME` when the env has none: its
/// `/etc/passwd` entry in the image, else `/`.
fn home_of(sys: &Container) -> String {
    let uid = sys.fs.identity().uid.to_string();
    let vfs = Vfs::new(sys, "/");
    vfs.read_all("/etc/passwd", sys.procs.memory())
        .ok()
        .and_then(|(data, _charge)| {
            String::from_utf8_lossy(&data).lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 5 && f[2] == uid && !f[5].is_empty()).then(|| f[5].to_string())
            })
        })
        .unwrap_or_else(|| "/".to_string())
}

pub struct ShellMsg {
    pub dialect: ShellKind,
    pub arg0: String,
    pub interactive: bool,
    pub line: u32,
    pub script: bool,
}

impl ShellMsg {
    pub fn format(&self, text: &str) -> String {
        match self.dialect {
            ShellKind::Ash => {
                if self.script && !self.interactive {
                    format!("{}: line {}: {text}\n", self.arg0, self.line.max(1))
                } else {
                    format!("{}: {text}\n", self.arg0)
                }
            }
            ShellKind::Dash => format!("{}: {}: {text}\n", self.arg0, self.line.max(1)),
            ShellKind::Bash => {
                if self.interactive {
                    format!("{}: {text}\n", self.arg0)
                } else {
                    format!("{}: line {}: {text}\n", self.arg0, self.line.max(1))
                }
            }
        }
    }
}
