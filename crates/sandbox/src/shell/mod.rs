//! The mini shell behind `kubectl exec` in the sandbox.
//!
//! Containers in the sandbox are emulated, so there is no real `/bin/sh`.
//! This shell understands what the labs type (`sh -c 'echo hi > /data/f'`,
//! `ls -l /data`, `cat`, `df -h`, `mount`...) and answers with busybox's
//! wording and exit codes, reading and writing real files through the
//! container's [`ContainerFs`] mount table.
//!
//! Supported syntax: `;`, `&&`, `||`, `|`, newlines, `#` comments, single
//! and double quotes, backslash escapes, `$VAR`, `${VAR}`, `$?`, `$0`..`$9`,
//! `VAR=value` and `export`, redirections `>`, `>>`, `<`, `2>`, `2>>`,
//! `2>&1`, and `*`/`?` globs in the last path component.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::hostfs::{ContainerFs, FsError, MountKind, Resolved};
use crate::node::podnet::PodNetwork;
use pgemu::clients::{self, ProgramEnv};

/// What a command run printed and how it ended.
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

/// The one device file scripts rely on (`2>/dev/null`).
const DEV_NULL: &str = "/dev/null";

/// The node disk size `df` shows for the writable layer and node-backed volumes.
const NODE_DISK_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// One shell session in one container: its cwd and variables persist across
/// [`Shell::run_script`] calls, so an interactive session can feed it lines.
pub struct Shell {
    fs: ContainerFs,
    hostname: String,
    cwd: String,
    vars: BTreeMap<String, String>,
    /// Names exported to `env` (the container env plus `export`s).
    exported: Vec<String>,
    positional: Vec<String>,
    last_status: i32,
    /// `exit` ran: an interactive session should end.
    exited: bool,
    sleeper: Box<dyn FnMut(Duration) + Send>,
    /// Receives (stdout, stderr) after each pipeline of a script, so a
    /// long-running container's log shows lines as they are printed.
    sink: Option<OutputSink>,
    /// Set when the container is stopped: scripts end at the next command.
    stop: Option<Arc<AtomicBool>>,
    /// Loop iterations since the last `sleep`.
    busy_iterations: u64,
    /// Errors met while expanding words (`$(...)` stderr, bad arithmetic),
    /// printed by the command that expanded them.
    expansion_stderr: Vec<u8>,
    /// How many subshells deep this one is (bounded, so nesting cannot
    /// exhaust the stack).
    depth: usize,
    /// The container's image: its programs beyond busybox (`psql` in a
    /// postgres image) are found by it.
    image: String,
    /// What the container reaches over the network (for those programs).
    network: Option<PodNetwork>,
}

/// The deepest nesting of subshells, `$(...)`, and compound commands.
const MAX_DEPTH: usize = 48;

/// A callback for streamed output: (stdout bytes, stderr bytes).
pub type OutputSink = Box<dyn FnMut(&[u8], &[u8]) + Send>;

/// How a command ended: normally, by `exit` (which stops the script), or by
/// `break`/`continue` (which unwind to the enclosing loop, n levels up).
enum Status {
    Code(i32),
    Exit(i32),
    Break(u32),
    Continue(u32),
}

/// Loop iterations allowed without a `sleep` in between: a busy loop in an
/// emulated container must not pin a CPU or hang `kubectl exec`.
const BUSY_LOOP_LIMIT: u64 = 100_000;

impl Shell {
    #[cfg(test)]
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// A shell in a container whose env is `env` (name, value in order).
    pub fn new(
        fs: ContainerFs,
        env: impl IntoIterator<Item = (String, String)>,
        hostname: impl Into<String>,
    ) -> Self {
        let hostname = hostname.into();
        let cwd = fs.working_dir().to_string();
        let mut shell = Self {
            fs,
            hostname: hostname.clone(),
            cwd,
            vars: BTreeMap::new(),
            exported: Vec::new(),
            positional: vec!["sh".to_string()],
            last_status: 0,
            exited: false,
            sleeper: Box::new(std::thread::sleep),
            sink: None,
            stop: None,
            busy_iterations: 0,
            expansion_stderr: Vec::new(),
            depth: 0,
            image: String::new(),
            network: None,
        };
        let defaults = [
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
            ("HOSTNAME", hostname.as_str()),
        ];
        for (k, v) in defaults {
            shell.export(k, v);
        }
        for (k, v) in env {
            shell.export(&k, &v);
        }
        shell.export("HOME", "/root");
        shell
    }

    /// Replaces how `sleep` waits (tests use a no-op; servers may cap it).
    /// Streams output to `sink` after each pipeline instead of collecting it
    /// all (what is streamed is no longer in the returned [`Output`]).
    pub fn with_output_sink(mut self, sink: impl FnMut(&[u8], &[u8]) + Send + 'static) -> Self {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Starts in the container's `workingDir` instead of `/`.
    pub fn with_cwd(mut self, dir: &str) -> Self {
        self.cwd = crate::hostfs::absolute("/", dir);
        self
    }

    /// The container's image, whose own programs the shell can then run.
    pub fn with_image(mut self, image: &str) -> Self {
        self.image = image.to_string();
        self
    }

    /// The pod's network, for programs that connect to other pods.
    pub fn with_network(mut self, network: PodNetwork) -> Self {
        self.network = Some(network);
        self
    }

    /// Runs a program of the container's image (not a busybox builtin).
    fn image_program(
        &mut self,
        name: &str,
        args: &[String],
        stdin: &[u8],
        out: &mut Vec<u8>,
        err: &mut Vec<u8>,
    ) -> Option<i32> {
        // Programs the image adds (nginx -t): described in images/.
        if let Some((o, e, code)) =
            crate::images::run_program(&self.image, name, args, &self.fs, self.network.as_ref())
        {
            out.extend(o);
            err.extend(e);
            return Some(code);
        }
        if crate::images::image_repository(&self.image) != "postgres" {
            return None;
        }
        self.with_program_env(|env| clients::run(name, args, stdin, env, out, err))
    }

    /// `psql` run with a terminal, for an interactive `kubectl exec -it`
    /// session; None when this image has no psql.
    pub fn interactive_psql(
        &self,
        argv: &[String],
    ) -> Option<Result<clients::PsqlSession, Output>> {
        let program = argv.first()?;
        if program.rsplit('/').next() != Some("psql")
            || crate::images::image_repository(&self.image) != "postgres"
        {
            return None;
        }
        Some(
            self.with_program_env(|env| clients::PsqlSession::start(&argv[1..], env))
                .map_err(|(stdout, stderr, exit_code)| Output {
                    stdout,
                    stderr,
                    exit_code,
                }),
        )
    }

    /// Ends running scripts (status 143) once `flag` is set.
    pub fn with_stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// A child shell (for `sh -c` and `$(...)`) sharing this one's state;
    /// give it back with [`Shell::end_subshell`].
    fn subshell(&mut self, argv0: &str) -> Shell {
        let mut sub = Shell {
            fs: self.fs.clone(),
            hostname: self.hostname.clone(),
            cwd: self.cwd.clone(),
            vars: self.vars.clone(),
            exported: self.exported.clone(),
            positional: vec![argv0.to_string()],
            last_status: self.last_status,
            exited: false,
            sleeper: Box::new(|_| {}),
            sink: None,
            stop: self.stop.clone(),
            busy_iterations: self.busy_iterations,
            expansion_stderr: Vec::new(),
            depth: self.depth + 1,
            image: self.image.clone(),
            network: self.network.clone(),
        };
        std::mem::swap(&mut sub.sleeper, &mut self.sleeper);
        sub
    }

    fn end_subshell(&mut self, mut sub: Shell) {
        std::mem::swap(&mut sub.sleeper, &mut self.sleeper);
        self.busy_iterations = sub.busy_iterations;
    }

    pub fn with_sleeper(mut self, sleeper: impl FnMut(Duration) + Send + 'static) -> Self {
        self.sleeper = Box::new(sleeper);
        self
    }

    /// Whether a script ran `exit` (an interactive session then ends).
    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// busybox ash's default root prompt (`\w # `): `/data # `, `~ # ` at home.
    pub fn prompt(&self) -> String {
        let home = self.vars.get("HOME").map(String::as_str).unwrap_or("/root");
        let dir = if self.cwd == home {
            "~".to_string()
        } else if let Some(rest) = self.cwd.strip_prefix(&format!("{home}/")) {
            format!("~/{rest}")
        } else {
            self.cwd.clone()
        };
        format!("{dir} # ")
    }

    fn export(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
        if !self.exported.iter().any(|e| e == name) {
            self.exported.push(name.to_string());
        }
    }

    /// Runs a container command line as `kubectl exec -- argv...` does:
    /// `sh -c SCRIPT [ARG0 ARGS...]`, `sh` reading its script from stdin, or
    /// one command run directly (no shell syntax).
    pub fn exec(&mut self, argv: &[String], stdin: &[u8]) -> Output {
        let Some(program) = argv.first() else {
            return Output {
                stderr: b"error: you must specify at least one command for the container\n"
                    .to_vec(),
                exit_code: 1,
                ..Output::default()
            };
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        if matches!(base, "sh" | "ash" | "bash") {
            return match argv.get(1).map(String::as_str) {
                Some("-c") => match argv.get(2) {
                    Some(script) => {
                        self.positional = argv[3..].to_vec();
                        if self.positional.is_empty() {
                            self.positional.push(program.clone());
                        }
                        self.run_script(script, stdin)
                    }
                    None => Output {
                        stderr: b"sh: -c requires an argument\n".to_vec(),
                        exit_code: 2,
                        ..Output::default()
                    },
                },
                Some(path) => {
                    let script = match self.read_file(path) {
                        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                        Err(e) => {
                            return Output {
                                stderr: format!("sh: can't open '{path}': {}\n", errno(&e))
                                    .into_bytes(),
                                exit_code: 2,
                                ..Output::default()
                            };
                        }
                    };
                    self.run_script(&script, b"")
                }
                None => {
                    let script = String::from_utf8_lossy(stdin).into_owned();
                    self.run_script(&script, b"")
                }
            };
        }
        let mut out = Output::default();
        let status = self.command(argv, stdin, &mut out.stdout, &mut out.stderr, true);
        out.exit_code = match status {
            Status::Code(c) | Status::Exit(c) => c,
            Status::Break(_) | Status::Continue(_) => 0,
        };
        out
    }

    /// Runs a shell script (one or more lines).
    pub fn run_script(&mut self, script: &str, stdin: &[u8]) -> Output {
        let mut out = Output::default();
        let node = match parse(script) {
            Ok(node) => node,
            Err(message) => {
                out.stderr = format!("sh: syntax error: {message}\n").into_bytes();
                out.exit_code = 2;
                self.last_status = 2;
                return out;
            }
        };
        let mut stdin = Some(stdin);
        match self.run_node(&node, &mut stdin, &mut out, true) {
            Status::Exit(c) => {
                self.last_status = c;
                self.exited = true;
            }
            Status::Code(c) => self.last_status = c,
            Status::Break(_) | Status::Continue(_) => {}
        }
        self.flush(&mut out, true);
        out.exit_code = self.last_status;
        out
    }

    /// Hands collected output to the sink, when streaming.
    fn flush(&mut self, out: &mut Output, stream: bool) {
        if !stream || (out.stdout.is_empty() && out.stderr.is_empty()) {
            return;
        }
        if let Some(sink) = &mut self.sink {
            sink(&out.stdout, &out.stderr);
            out.stdout.clear();
            out.stderr.clear();
        }
    }

    /// Runs a node. `stdin` is taken by the first command that reads it;
    /// `stream` says whether `out` is the script's own output (flushed to
    /// the sink as it goes) or a capture.
    fn run_node(
        &mut self,
        node: &Node,
        stdin: &mut Option<&[u8]>,
        out: &mut Output,
        stream: bool,
    ) -> Status {
        if self.stopped() {
            return Status::Exit(crate::images::EXIT_TERMINATED);
        }
        match node {
            Node::Simple(cmd) => {
                let input = stdin.take().unwrap_or(b"");
                let status = self.simple(cmd, input, &mut out.stdout, &mut out.stderr);
                if let Status::Code(c) = status {
                    self.last_status = c;
                }
                status
            }
            Node::Pipeline(stages) => self.run_pipeline(stages, stdin, out, stream),
            Node::List(items) => {
                let mut status = Status::Code(self.last_status);
                for (connector, item) in items {
                    let run = match connector {
                        Connector::Always => true,
                        Connector::And => self.last_status == 0,
                        Connector::Or => self.last_status != 0,
                    };
                    if !run {
                        continue;
                    }
                    status = self.run_node(item, stdin, out, stream);
                    self.flush(out, stream);
                    match status {
                        Status::Code(c) => self.last_status = c,
                        other => return other,
                    }
                }
                status
            }
            Node::Group(body) => self.run_node(body, stdin, out, stream),
            Node::Loop { until, cond, body } => {
                let mut status = Status::Code(0);
                loop {
                    self.busy_iterations += 1;
                    if self.busy_iterations > BUSY_LOOP_LIMIT {
                        out.stderr.extend_from_slice(
                            b"sh: loop stopped: it ran 100000 times without sleep (busy loops are not emulated)\n",
                        );
                        return Status::Exit(1);
                    }
                    match self.run_node(cond, stdin, out, stream) {
                        Status::Code(c) => {
                            if (c == 0) == *until {
                                break;
                            }
                        }
                        other => return other,
                    }
                    match self.run_node(body, stdin, out, stream) {
                        Status::Code(c) => status = Status::Code(c),
                        Status::Break(n) if n > 1 => return Status::Break(n - 1),
                        Status::Break(_) => break,
                        Status::Continue(n) if n > 1 => return Status::Continue(n - 1),
                        Status::Continue(_) => {}
                        exit => return exit,
                    }
                }
                if let Status::Code(c) = status {
                    self.last_status = c;
                }
                status
            }
            Node::For { var, words, body } => {
                let items: Vec<String> = match words {
                    Some(words) => {
                        let mut items = Vec::new();
                        for w in words {
                            items.extend(self.expand(w));
                        }
                        out.stderr.append(&mut self.expansion_stderr);
                        items
                    }
                    None => self.positional.iter().skip(1).cloned().collect(),
                };
                let mut status = Status::Code(0);
                for item in items {
                    self.busy_iterations += 1;
                    if self.busy_iterations > BUSY_LOOP_LIMIT {
                        return Status::Exit(1);
                    }
                    self.vars.insert(var.clone(), item);
                    match self.run_node(body, stdin, out, stream) {
                        Status::Code(c) => status = Status::Code(c),
                        Status::Break(n) if n > 1 => return Status::Break(n - 1),
                        Status::Break(_) => break,
                        Status::Continue(n) if n > 1 => return Status::Continue(n - 1),
                        Status::Continue(_) => {}
                        exit => return exit,
                    }
                }
                status
            }
            Node::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    match self.run_node(cond, stdin, out, stream) {
                        Status::Code(0) => return self.run_node(body, stdin, out, stream),
                        Status::Code(_) => {}
                        other => return other,
                    }
                }
                match otherwise {
                    Some(body) => self.run_node(body, stdin, out, stream),
                    None => Status::Code(0),
                }
            }
            Node::Redirected(inner, redirects) => {
                let mut input = stdin.take().unwrap_or(b"").to_vec();
                let (out_target, err_target) =
                    match self.prepare_redirects(redirects, &mut input, &mut out.stderr) {
                        Ok(targets) => targets,
                        Err(status) => return status,
                    };
                let mut captured = Output::default();
                let mut inner_stdin = Some(input.as_slice());
                let status = self.run_node(inner, &mut inner_stdin, &mut captured, false);
                self.route(
                    captured.stdout,
                    captured.stderr,
                    &out_target,
                    &err_target,
                    &mut out.stdout,
                    &mut out.stderr,
                );
                status
            }
        }
    }

    fn run_pipeline(
        &mut self,
        stages: &[Node],
        stdin: &mut Option<&[u8]>,
        out: &mut Output,
        stream: bool,
    ) -> Status {
        let mut input: Vec<u8> = stdin.take().unwrap_or(b"").to_vec();
        let mut status = Status::Code(0);
        for (i, stage) in stages.iter().enumerate() {
            let last = i + 1 == stages.len();
            let mut captured = Output::default();
            let mut stage_in = Some(input.as_slice());
            // Each stage of a pipeline runs in a subshell: `exit` ends only it.
            status = match self.run_node(stage, &mut stage_in, &mut captured, stream && last) {
                Status::Exit(c) | Status::Code(c) => Status::Code(c),
                Status::Break(_) | Status::Continue(_) => Status::Code(0),
            };
            out.stderr.extend(captured.stderr);
            if last {
                out.stdout.extend(captured.stdout);
            } else {
                input = captured.stdout;
            }
        }
        status
    }

    fn simple(
        &mut self,
        cmd: &SimpleCommand,
        stdin: &[u8],
        stdout: &mut Vec<u8>,
        stderr: &mut Vec<u8>,
    ) -> Status {
        let mut words = Vec::new();
        for w in &cmd.words {
            words.extend(self.expand(w));
        }
        stderr.append(&mut self.expansion_stderr);
        // Leading NAME=value words are assignments.
        let assignments = words.iter().take_while(|w| is_assignment(w)).count();
        for a in &words[..assignments] {
            if let Some((k, v)) = a.split_once('=') {
                let (k, v) = (k.to_string(), v.to_string());
                if self.exported.contains(&k) {
                    self.export(&k, &v);
                } else {
                    self.vars.insert(k, v);
                }
            }
        }
        let argv = &words[assignments..];

        let mut input: Vec<u8> = stdin.to_vec();
        let (out_target, err_target) =
            match self.prepare_redirects(&cmd.redirects, &mut input, stderr) {
                Ok(targets) => targets,
                Err(status) => return status,
            };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let status = if argv.is_empty() {
            Status::Code(0)
        } else {
            self.command(argv, &input, &mut out, &mut err, false)
        };
        self.route(out, err, &out_target, &err_target, stdout, stderr);
        status
    }

    /// Opens the redirections of a command: where its stdout and stderr go,
    /// and its stdin (`<`). A failure is reported as sh does.
    fn prepare_redirects(
        &mut self,
        redirects: &[Redirect],
        input: &mut Vec<u8>,
        stderr: &mut Vec<u8>,
    ) -> Result<(Target, Target), Status> {
        let mut out_target = Target::Pipe;
        let mut err_target = Target::Err;
        for r in redirects {
            if r.kind == RedirectKind::HereDoc {
                *input = self.expand(&r.target).concat().into_bytes();
                continue;
            }
            let target = self.expand(&r.target).join(" ");
            match r.kind {
                RedirectKind::In => match self.read_file(&target) {
                    Ok(bytes) => *input = bytes,
                    Err(e) => {
                        let _ = writeln!(stderr, "sh: can't open '{target}': {}", errno(&e));
                        return Err(Status::Code(1));
                    }
                },
                RedirectKind::Out | RedirectKind::Append => {
                    let append = matches!(r.kind, RedirectKind::Append);
                    if let Err(e) = self.open_for_write(&target) {
                        let _ = writeln!(stderr, "sh: can't create {target}: {e}");
                        return Err(Status::Code(1));
                    }
                    // `>` truncates when the redirection opens, like sh.
                    if !append {
                        let _ = self.write_file(&target, b"", false);
                    }
                    let t = Target::File(target, true);
                    if r.fd == 2 {
                        err_target = t;
                    } else {
                        out_target = t;
                    }
                }
                RedirectKind::DupOut => {
                    err_target = match &out_target {
                        Target::Pipe => Target::Pipe,
                        other => other.clone(),
                    };
                }
                RedirectKind::ToErr => out_target = err_target.clone(),
                RedirectKind::HereDoc => {}
            }
        }
        Ok((out_target, err_target))
    }

    /// Sends a command's output where its redirections point.
    fn route(
        &mut self,
        out: Vec<u8>,
        err: Vec<u8>,
        out_target: &Target,
        err_target: &Target,
        stdout: &mut Vec<u8>,
        stderr: &mut Vec<u8>,
    ) {
        for (bytes, target) in [(out, out_target), (err, err_target)] {
            match target {
                Target::Pipe => stdout.extend(bytes),
                Target::Err => stderr.extend(bytes),
                Target::File(path, append) => {
                    if let Err(e) = self.write_file(path, &bytes, *append) {
                        let _ = writeln!(stderr, "sh: can't create {path}: {e}");
                    }
                }
            }
        }
    }

    /// Expands one word into zero or more fields.
    fn expand(&mut self, word: &Word) -> Vec<String> {
        let mut fields: Vec<String> = vec![String::new()];
        let mut had_quotes = false;
        let mut glob = false;
        for seg in &word.0 {
            match seg {
                Seg::Lit { text, quoted } => {
                    had_quotes |= *quoted;
                    if !quoted && text.contains(['*', '?']) {
                        glob = true;
                    }
                    if let Some(last) = fields.last_mut() {
                        last.push_str(text);
                    }
                }
                Seg::Var { .. } | Seg::Cmd { .. } | Seg::Arith { .. } => {
                    let (value, quoted) = match seg {
                        Seg::Var { name, quoted } => (self.var(name), quoted),
                        Seg::Cmd { script, quoted } => (self.substitute(script), quoted),
                        Seg::Arith { expr, quoted } => {
                            let shell = &*self;
                            let lookup = |n: &str| shell.var(n);
                            match arithmetic(expr, &lookup) {
                                Ok(v) => (v.to_string(), quoted),
                                Err(e) => {
                                    // sh aborts the command; an empty value is the closest.
                                    self.expansion_stderr
                                        .extend(format!("sh: {e}\n").into_bytes());
                                    (String::new(), quoted)
                                }
                            }
                        }
                        Seg::Lit { .. } => continue,
                    };
                    had_quotes |= *quoted;
                    if *quoted {
                        if let Some(last) = fields.last_mut() {
                            last.push_str(&value);
                        }
                        continue;
                    }
                    // Unquoted expansions are split on whitespace.
                    let starts_ws = value.starts_with(char::is_whitespace);
                    let ends_ws = value.ends_with(char::is_whitespace);
                    let mut parts = value.split_whitespace().peekable();
                    if starts_ws && fields.last().is_some_and(|l| !l.is_empty()) {
                        fields.push(String::new());
                    }
                    while let Some(p) = parts.next() {
                        if let Some(last) = fields.last_mut() {
                            last.push_str(p);
                        }
                        if parts.peek().is_some() {
                            fields.push(String::new());
                        }
                    }
                    if ends_ws {
                        fields.push(String::new());
                    }
                }
            }
        }
        // Empty unquoted expansions vanish; "" stays an (empty) argument.
        if !had_quotes {
            fields.retain(|f| !f.is_empty());
        } else if fields.len() > 1 {
            fields.retain(|f| !f.is_empty());
        }
        if glob {
            fields = fields.into_iter().flat_map(|f| self.glob(&f)).collect();
        }
        fields
    }

    /// Runs `$(script)` in a subshell: its stdout without trailing newlines.
    fn substitute(&mut self, script: &str) -> String {
        if self.depth >= MAX_DEPTH {
            self.expansion_stderr
                .extend_from_slice(b"sh: command substitutions nested too deeply\n");
            return String::new();
        }
        let mut sub = self.subshell("sh");
        let result = sub.run_script(script, b"");
        self.end_subshell(sub);
        self.last_status = result.exit_code;
        self.expansion_stderr.extend(result.stderr);
        let text = String::from_utf8_lossy(&result.stdout).into_owned();
        text.trim_end_matches('\n').to_string()
    }

    fn var(&self, name: &str) -> String {
        match name {
            "?" => self.last_status.to_string(),
            "$" => "1".to_string(),
            "#" => self.positional.len().saturating_sub(1).to_string(),
            n if n.len() == 1 && n.as_bytes()[0].is_ascii_digit() => {
                let i = usize::from(n.as_bytes()[0] - b'0');
                self.positional.get(i).cloned().unwrap_or_default()
            }
            n => self.vars.get(n).cloned().unwrap_or_default(),
        }
    }

    /// Expands `*` and `?` in the last component of `pattern`; no match
    /// leaves the word as typed, as sh does.
    fn glob(&self, pattern: &str) -> Vec<String> {
        let (dir, name_pattern) = match pattern.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => (".", pattern),
        };
        if dir.contains(['*', '?']) {
            return vec![pattern.to_string()];
        }
        let Ok(entries) = self.list_dir(dir) else {
            return vec![pattern.to_string()];
        };
        let mut matches: Vec<String> = entries
            .into_iter()
            .filter(|n| {
                (name_pattern.starts_with('.') || !n.starts_with('.')) && wildcard(name_pattern, n)
            })
            .map(|n| match pattern.rsplit_once('/') {
                Some((d, _)) => format!("{d}/{n}"),
                None => n,
            })
            .collect();
        if matches.is_empty() {
            return vec![pattern.to_string()];
        }
        matches.sort();
        matches
    }

    // -----------------------------------------------------------------------
    // Files through the mount table
    // -----------------------------------------------------------------------

    fn resolve(&self, path: &str) -> io::Result<Resolved> {
        self.fs.resolve(&self.cwd, path).map_err(fs_to_io)
    }

    /// What an image program run by this shell sees: exported variables,
    /// the container's files, the pod's network.
    fn with_program_env<R>(&self, f: impl FnOnce(&ProgramEnv) -> R) -> R {
        let vars = |k: &str| self.exported_var(k);
        let read = |path: &str| self.read_file(path);
        f(&ProgramEnv {
            var: &vars,
            read_file: &read,
            network: self.network.as_ref().map(|n| n as &dyn pgemu::Network),
        })
    }

    /// A variable the programs this shell runs see (exported ones only).
    fn exported_var(&self, name: &str) -> Option<String> {
        if self.exported.iter().any(|e| e == name) {
            self.vars.get(name).cloned()
        } else {
            None
        }
    }

    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let r = self.resolve(path)?;
        if r.container_path == DEV_NULL {
            return Ok(Vec::new());
        }
        if r.host.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        std::fs::read(&r.host)
    }

    /// Checks a file can be created/truncated; busybox-worded error text.
    fn open_for_write(&self, path: &str) -> Result<(), String> {
        let r = self.resolve(path).map_err(|e| errno(&e).to_string())?;
        if r.container_path == DEV_NULL {
            return Ok(());
        }
        if r.host.is_dir() || self.is_mount_point(&r.container_path) {
            return Err("Is a directory".to_string());
        }
        if r.read_only {
            return Err("Read-only file system".to_string());
        }
        match r.host.parent() {
            Some(parent)
                if parent.is_dir() || self.is_mount_point(&parent_path(&r.container_path)) =>
            {
                Ok(())
            }
            _ => Err("nonexistent directory".to_string()),
        }
    }

    fn write_file(&self, path: &str, bytes: &[u8], append: bool) -> Result<(), String> {
        self.open_for_write(path)?;
        let r = self.resolve(path).map_err(|e| errno(&e).to_string())?;
        if r.container_path == DEV_NULL {
            return Ok(());
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&r.host)
            .map_err(|e| errno(&e).to_string())?;
        file.write_all(bytes).map_err(|e| errno(&e).to_string())
    }

    fn is_mount_point(&self, container_path: &str) -> bool {
        self.fs
            .mounts()
            .iter()
            .any(|m| m.container_path == container_path)
    }

    /// Names in a container directory, including mount points.
    fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
        let r = self.resolve(dir)?;
        let mut names: Vec<String> = match std::fs::read_dir(&r.host) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && self.is_mount_point(&r.container_path) =>
            {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        for m in self.fs.mount_points_in(&r.container_path) {
            if !names.contains(&m) {
                names.push(m);
            }
        }
        names.sort();
        Ok(names)
    }

    // -----------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------

    fn command(
        &mut self,
        argv: &[String],
        stdin: &[u8],
        out: &mut Vec<u8>,
        err: &mut Vec<u8>,
        direct: bool,
    ) -> Status {
        let Some(name) = argv.first() else {
            return Status::Code(0);
        };
        let base = name.rsplit('/').next().unwrap_or(name).to_string();
        let args = &argv[1..];
        let code = match base.as_str() {
            // `exec cmd`: the command replaces the shell, so the script ends with it.
            "exec" if !args.is_empty() => {
                let rest = args.to_vec();
                return match self.command(&rest, stdin, out, err, direct) {
                    Status::Code(c) | Status::Exit(c) => Status::Exit(c),
                    other => other,
                };
            }
            "ls" => self.ls(args, out, err),
            "cat" => self.cat(args, stdin, out, err),
            "echo" => echo(args, out),
            "mkdir" => self.mkdir(args, err),
            "rm" => self.rm(args, err),
            "touch" => self.touch(args, err),
            "df" => self.df(args, out, err),
            "mount" => self.mount_table(out),
            "pwd" => {
                let _ = writeln!(out, "{}", self.cwd);
                0
            }
            "cd" => self.cd(args, err),
            "env" | "printenv" => {
                for k in &self.exported {
                    let v = self.vars.get(k).map(String::as_str).unwrap_or("");
                    let _ = writeln!(out, "{k}={v}");
                }
                0
            }
            "export" => {
                for a in args {
                    match a.split_once('=') {
                        Some((k, v)) => self.export(k, v),
                        None => {
                            let v = self.vars.get(a).cloned().unwrap_or_default();
                            self.export(a, &v);
                        }
                    }
                }
                0
            }
            "hostname" => {
                let _ = writeln!(out, "{}", self.hostname);
                0
            }
            "whoami" => {
                let _ = writeln!(out, "root");
                0
            }
            "id" => {
                let _ = writeln!(out, "uid=0(root) gid=0(root) groups=0(root)");
                0
            }
            "sleep" => self.sleep(args, err),
            "true" | ":" => 0,
            "false" => 1,
            "test" => test(self, args, err),
            "[" => match args.split_last() {
                Some((last, rest)) if last == "]" => test(self, rest, err),
                _ => {
                    let _ = writeln!(err, "sh: [: missing ]");
                    2
                }
            },
            "date" => {
                let now = jiff::Timestamp::now();
                let _ = writeln!(out, "{}", now.strftime("%a %b %e %H:%M:%S UTC %Y"));
                0
            }
            "seq" => seq(args, out, err),
            "tail" if args.iter().any(|a| a == "-f" || a == "-F") && self.can_follow() => {
                let rest: Vec<String> = args
                    .iter()
                    .filter(|a| *a != "-f" && *a != "-F")
                    .cloned()
                    .collect();
                let code = head_tail("tail", &rest, stdin, out, err, self);
                if code != 0 {
                    return Status::Code(code);
                }
                return self.follow(&rest, out, err);
            }
            "head" | "tail" => {
                let rest: Vec<String> = args
                    .iter()
                    .filter(|a| *a != "-f" && *a != "-F")
                    .cloned()
                    .collect();
                head_tail(&base, &rest, stdin, out, err, self)
            }
            "wc" => wc(args, stdin, out, err, self),
            "grep" => grep(args, stdin, out, err, self),
            "break" | "continue" => {
                let n = args
                    .first()
                    .and_then(|a| a.parse::<u32>().ok())
                    .unwrap_or(1)
                    .max(1);
                return if base == "break" {
                    Status::Break(n)
                } else {
                    Status::Continue(n)
                };
            }
            "exit" => {
                let code = match args.first() {
                    None => self.last_status,
                    Some(a) => match a.parse::<i64>() {
                        Ok(n) => (n & 0xff) as i32,
                        Err(_) => {
                            let _ = writeln!(err, "sh: exit: Illegal number: {a}");
                            2
                        }
                    },
                };
                return Status::Exit(code);
            }
            "sh" | "ash" | "bash" => {
                if self.depth >= MAX_DEPTH {
                    let _ = writeln!(err, "sh: shells nested too deeply");
                    return Status::Code(2);
                }
                let mut sub = self.subshell(name);
                sub.last_status = 0;
                let result = sub.exec(argv, stdin);
                self.end_subshell(sub);
                out.extend(result.stdout);
                err.extend(result.stderr);
                result.exit_code
            }
            _ => match self.image_program(&base, args, stdin, out, err) {
                Some(code) => code,
                None if direct => {
                    let _ = writeln!(
                        err,
                        "exec: \"{name}\": executable file not found in $PATH: unknown"
                    );
                    127
                }
                None => {
                    let _ = writeln!(err, "sh: {name}: not found");
                    127
                }
            },
        };
        Status::Code(code)
    }

    fn ls(&self, args: &[String], out: &mut Vec<u8>, err: &mut Vec<u8>) -> i32 {
        let (flags, paths) = split_flags(args);
        let long = flags.contains('l');
        let human = flags.contains('h');
        let all = flags.contains('a');
        if let Some(bad) = flags.chars().find(|c| !"la1h".contains(*c)) {
            let _ = writeln!(err, "ls: unrecognized option: {bad}");
            let _ = writeln!(
                err,
                "BusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call binary."
            );
            return 1;
        }
        let paths = if paths.is_empty() {
            vec![".".to_string()]
        } else {
            paths
        };
        let mut code = 0;
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for p in &paths {
            match self.resolve(p) {
                Ok(r) if r.host.is_dir() || self.is_mount_point(&r.container_path) => {
                    dirs.push(p.clone())
                }
                Ok(r) if r.host.symlink_metadata().is_ok() => files.push((p.clone(), r)),
                Ok(_) => {
                    let _ = writeln!(err, "ls: {p}: No such file or directory");
                    code = 1;
                }
                Err(e) => {
                    let _ = writeln!(err, "ls: {p}: {}", errno(&e));
                    code = 1;
                }
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        dirs.sort();
        for (name, r) in &files {
            self.ls_entry(name, &r.host, long, human, out);
        }
        let headers = files.len() + dirs.len() > 1;
        for (i, d) in dirs.iter().enumerate() {
            if headers {
                if i > 0 || !files.is_empty() {
                    out.push(b'\n');
                }
                let _ = writeln!(out, "{d}:");
            }
            let names = match self.list_dir(d) {
                Ok(n) => n,
                Err(e) => {
                    let _ = writeln!(err, "ls: {d}: {}", errno(&e));
                    code = 1;
                    continue;
                }
            };
            let mut names: Vec<String> = names
                .into_iter()
                .filter(|n| all || !n.starts_with('.'))
                .collect();
            if all {
                names.splice(0..0, [".".to_string(), "..".to_string()]);
            }
            let dir_path = |n: &str| -> String {
                if d.ends_with('/') {
                    format!("{d}{n}")
                } else {
                    format!("{d}/{n}")
                }
            };
            if long {
                let blocks: u64 = names
                    .iter()
                    .filter_map(|n| self.resolve(&dir_path(n)).ok())
                    .filter_map(|r| r.host.symlink_metadata().ok())
                    .map(|m| m.blocks() / 2)
                    .sum();
                let _ = writeln!(out, "total {blocks}");
            }
            for n in &names {
                match self.resolve(&dir_path(n)) {
                    Ok(r) => self.ls_entry(n, &r.host, long, human, out),
                    Err(_) => {
                        let _ = writeln!(out, "{n}");
                    }
                }
            }
        }
        code
    }

    fn ls_entry(&self, name: &str, host: &Path, long: bool, human: bool, out: &mut Vec<u8>) {
        if !long {
            let _ = writeln!(out, "{name}");
            return;
        }
        let Ok(meta) = host.symlink_metadata() else {
            // A mount point whose directory is not there yet.
            let _ = writeln!(
                out,
                "drwxrwxrwx    2 root     root          4096 Jan  1 00:00 {name}"
            );
            return;
        };
        let mtime = jiff::Timestamp::from_second(meta.mtime())
            .map(|t| t.strftime("%b %e %H:%M").to_string())
            .unwrap_or_else(|_| "Jan  1 00:00".to_string());
        let target = if meta.file_type().is_symlink() {
            std::fs::read_link(host)
                .map(|t| format!(" -> {}", t.display()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{} {:>4} {:<8} {:<8} {:>9} {mtime} {name}{target}",
            mode_string(&meta),
            meta.nlink(),
            "root",
            "root",
            if human {
                human_size(meta.len())
            } else {
                meta.len().to_string()
            },
        );
    }

    fn cat(&self, args: &[String], stdin: &[u8], out: &mut Vec<u8>, err: &mut Vec<u8>) -> i32 {
        if args.is_empty() || args.iter().all(|a| a == "-") && args.len() == 1 {
            out.extend_from_slice(stdin);
            return 0;
        }
        let mut code = 0;
        for a in args {
            if a == "-" {
                out.extend_from_slice(stdin);
                continue;
            }
            match self.read_file(a) {
                Ok(bytes) => out.extend(bytes),
                Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                    let _ = writeln!(err, "cat: read error: Is a directory");
                    code = 1;
                }
                Err(e) => {
                    let _ = writeln!(err, "cat: can't open '{a}': {}", errno(&e));
                    code = 1;
                }
            }
        }
        code
    }

    fn mkdir(&self, args: &[String], err: &mut Vec<u8>) -> i32 {
        let (flags, paths) = split_flags(args);
        let parents = flags.contains('p');
        if paths.is_empty() {
            let _ = writeln!(err, "mkdir: missing operand");
            return 1;
        }
        let mut code = 0;
        for p in &paths {
            let result = self.resolve(p).and_then(|r| {
                if r.read_only {
                    return Err(io::Error::from(io::ErrorKind::ReadOnlyFilesystem));
                }
                if self.is_mount_point(&r.container_path) {
                    return if parents {
                        Ok(())
                    } else {
                        Err(io::Error::from(io::ErrorKind::AlreadyExists))
                    };
                }
                if parents {
                    std::fs::create_dir_all(&r.host)
                } else {
                    std::fs::create_dir(&r.host)
                }
            });
            if let Err(e) = result {
                let _ = writeln!(err, "mkdir: can't create directory '{p}': {}", errno(&e));
                code = 1;
            }
        }
        code
    }

    fn rm(&self, args: &[String], err: &mut Vec<u8>) -> i32 {
        let (flags, paths) = split_flags(args);
        let recursive = flags.contains('r') || flags.contains('R');
        let force = flags.contains('f');
        if paths.is_empty() && !force {
            let _ = writeln!(err, "rm: missing operand");
            return 1;
        }
        let mut code = 0;
        for p in &paths {
            let r = match self.resolve(p) {
                Ok(r) => r,
                Err(e) => {
                    let _ = writeln!(err, "rm: can't remove '{p}': {}", errno(&e));
                    code = 1;
                    continue;
                }
            };
            let Ok(meta) = r.host.symlink_metadata() else {
                if !force {
                    let _ = writeln!(err, "rm: can't remove '{p}': No such file or directory");
                    code = 1;
                }
                continue;
            };
            if r.read_only {
                let _ = writeln!(err, "rm: can't remove '{p}': Read-only file system");
                code = 1;
                continue;
            }
            if meta.is_dir() {
                if !recursive {
                    let _ = writeln!(err, "rm: '{p}' is a directory");
                    code = 1;
                    continue;
                }
                if r.container_path == "/" || self.is_mount_point(&r.container_path) {
                    // Like a real mount point: its content goes, it stays.
                    if let Ok(rd) = std::fs::read_dir(&r.host) {
                        for e in rd.filter_map(Result::ok) {
                            let path = e.path();
                            let _ = if path.is_dir() && !path.is_symlink() {
                                std::fs::remove_dir_all(&path)
                            } else {
                                std::fs::remove_file(&path)
                            };
                        }
                    }
                    let _ = writeln!(err, "rm: can't remove '{p}': Resource busy");
                    code = 1;
                    continue;
                }
                if let Err(e) = std::fs::remove_dir_all(&r.host) {
                    let _ = writeln!(err, "rm: can't remove '{p}': {}", errno(&e));
                    code = 1;
                }
            } else if let Err(e) = std::fs::remove_file(&r.host) {
                let _ = writeln!(err, "rm: can't remove '{p}': {}", errno(&e));
                code = 1;
            }
        }
        code
    }

    fn touch(&self, args: &[String], err: &mut Vec<u8>) -> i32 {
        let (_, paths) = split_flags(args);
        let mut code = 0;
        for p in &paths {
            let result = self.resolve(p).and_then(|r| {
                if r.read_only {
                    return Err(io::Error::from(io::ErrorKind::ReadOnlyFilesystem));
                }
                if r.host.is_dir() {
                    return Ok(());
                }
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&r.host)?;
                file.set_modified(std::time::SystemTime::now())
            });
            if let Err(e) = result {
                let _ = writeln!(err, "touch: {p}: {}", errno(&e));
                code = 1;
            }
        }
        code
    }

    fn cd(&mut self, args: &[String], err: &mut Vec<u8>) -> i32 {
        let target = args.first().cloned().unwrap_or_else(|| self.var("HOME"));
        match self.resolve(&target) {
            Ok(r) if r.host.is_dir() || self.is_mount_point(&r.container_path) => {
                self.cwd = r.container_path;
                0
            }
            Ok(r) if r.host.exists() => {
                let _ = writeln!(err, "sh: cd: can't cd to {target}: Not a directory");
                2
            }
            Ok(_) => {
                let _ = writeln!(
                    err,
                    "sh: cd: can't cd to {target}: No such file or directory"
                );
                2
            }
            Err(e) => {
                let _ = writeln!(err, "sh: cd: can't cd to {target}: {}", errno(&e));
                2
            }
        }
    }

    /// `tail -f` only follows in a container's own process (it has a stop
    /// flag and streams to the log); in `kubectl exec` it prints and returns,
    /// rather than holding the session open forever.
    fn can_follow(&self) -> bool {
        self.stop.is_some() && self.sink.is_some()
    }

    /// Streams what is appended to the files named in `args` until stopped.
    fn follow(&mut self, args: &[String], out: &mut Vec<u8>, err: &mut Vec<u8>) -> Status {
        let files: Vec<String> = split_flags(args)
            .1
            .into_iter()
            .filter(|a| a.parse::<usize>().is_err())
            .collect();
        let mut offsets: Vec<u64> = files
            .iter()
            .map(|f| {
                self.resolve(f)
                    .ok()
                    .and_then(|r| std::fs::metadata(r.host).ok())
                    .map_or(0, |m| m.len())
            })
            .collect();
        loop {
            if let Some(sink) = &mut self.sink {
                sink(out, err);
                out.clear();
                err.clear();
            }
            if self.stopped() {
                return Status::Exit(crate::images::EXIT_TERMINATED);
            }
            self.busy_iterations = 0;
            (self.sleeper)(Duration::from_millis(500));
            for (f, offset) in files.iter().zip(offsets.iter_mut()) {
                let Ok(data) = self.read_file(f) else {
                    continue;
                };
                let len = data.len() as u64;
                if len < *offset {
                    // Truncated: start over, as tail -F does.
                    *offset = 0;
                }
                let start = usize::try_from(*offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                out.extend_from_slice(&data[start..]);
                *offset = len;
            }
        }
    }

    fn sleep(&mut self, args: &[String], err: &mut Vec<u8>) -> i32 {
        let Some(arg) = args.first() else {
            let _ = writeln!(err, "sleep: missing operand");
            return 1;
        };
        let (number, unit) = match arg.char_indices().last() {
            Some((i, c @ ('s' | 'm' | 'h' | 'd'))) => (&arg[..i], c),
            _ => (arg.as_str(), 's'),
        };
        let Ok(n) = number.parse::<f64>() else {
            let _ = writeln!(err, "sleep: invalid number '{arg}'");
            return 1;
        };
        let factor = match unit {
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => 1.0,
        };
        let seconds = n * factor;
        if seconds.is_finite() && seconds > 0.0 {
            self.busy_iterations = 0;
            (self.sleeper)(Duration::from_secs_f64(seconds.min(1e9)));
        }
        0
    }

    /// The filesystems a container sees, in `df` and `mount` order.
    fn filesystems(&self) -> Vec<Fs> {
        let mut list = vec![Fs {
            device: "overlay".to_string(),
            target: "/".to_string(),
            fstype: "overlay",
            options: format!(
                "rw,relatime,lowerdir=/var/lib/kubetutor/images,upperdir={},workdir=/var/lib/kubetutor/work",
                self.fs.rootfs().display()
            ),
            dir: Some(self.fs.rootfs().to_path_buf()),
            size: NODE_DISK_BYTES,
        }];
        list.push(Fs::tmpfs(
            "/dev",
            "rw,nosuid,size=65536k,mode=755",
            64 * 1024 * 1024,
        ));
        for m in self.fs.mounts() {
            let rw = if m.read_only { "ro" } else { "rw" };
            let (device, fstype, options, size) = match m.kind {
                MountKind::Tmpfs => (
                    "tmpfs".to_string(),
                    "tmpfs",
                    format!("{rw},relatime"),
                    m.capacity.unwrap_or(64 * 1024 * 1024),
                ),
                MountKind::EmptyDir | MountKind::HostPath | MountKind::Volume => (
                    "/dev/vda1".to_string(),
                    "ext4",
                    format!("{rw},relatime"),
                    m.capacity.unwrap_or(NODE_DISK_BYTES),
                ),
            };
            list.push(Fs {
                device,
                target: m.container_path.clone(),
                fstype,
                options,
                dir: Some(m.host_dir.clone()),
                size,
            });
        }
        list.push(Fs::tmpfs(
            "/dev/shm",
            "rw,nosuid,nodev,noexec,relatime,size=65536k",
            64 * 1024 * 1024,
        ));
        list
    }

    fn mount_table(&self, out: &mut Vec<u8>) -> i32 {
        for fs in self.filesystems() {
            let _ = writeln!(
                out,
                "{} on {} type {} ({})",
                fs.device, fs.target, fs.fstype, fs.options
            );
        }
        let _ = writeln!(
            out,
            "proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)"
        );
        0
    }

    fn df(&self, args: &[String], out: &mut Vec<u8>, err: &mut Vec<u8>) -> i32 {
        let (flags, paths) = split_flags(args);
        let human = flags.contains('h');
        let all = self.filesystems();
        // `df PATH` shows the filesystem holding PATH (longest mount prefix).
        let mut shown: Vec<&Fs> = Vec::new();
        let mut code = 0;
        for p in &paths {
            let target = match self.resolve(p) {
                Ok(r) if r.host.exists() || self.is_mount_point(&r.container_path) => {
                    r.container_path
                }
                _ => {
                    let _ = writeln!(err, "df: {p}: can't find mount point");
                    code = 1;
                    continue;
                }
            };
            let holder = all
                .iter()
                .filter(|fs| {
                    fs.target == "/"
                        || target == fs.target
                        || target.starts_with(&format!("{}/", fs.target))
                })
                .max_by_key(|fs| fs.target.len());
            if let Some(fs) = holder {
                shown.push(fs);
            }
        }
        if paths.is_empty() {
            shown = all.iter().collect();
        }
        if human {
            let _ = writeln!(
                out,
                "Filesystem                Size      Used Available Use% Mounted on"
            );
        } else {
            let _ = writeln!(
                out,
                "Filesystem           1K-blocks      Used Available Use% Mounted on"
            );
        }
        for fs in shown {
            let used = fs.dir.as_deref().map(disk_usage).unwrap_or(0).min(fs.size);
            let avail = fs.size - used;
            let pct = if fs.size == 0 {
                0
            } else {
                (used * 100).div_ceil(fs.size)
            };
            let mut device = fs.device.clone();
            if device.len() > 20 {
                let _ = writeln!(out, "{device}");
                device.clear();
            }
            if human {
                let _ = writeln!(
                    out,
                    "{device:<20} {:>9} {:>9} {:>9} {:>3}% {}",
                    human_size(fs.size),
                    human_size(used),
                    human_size(avail),
                    pct,
                    fs.target
                );
            } else {
                let _ = writeln!(
                    out,
                    "{device:<20} {:>9} {:>9} {:>9} {:>3}% {}",
                    fs.size / 1024,
                    used / 1024,
                    avail / 1024,
                    pct,
                    fs.target
                );
            }
        }
        code
    }
}

struct Fs {
    device: String,
    target: String,
    fstype: &'static str,
    options: String,
    dir: Option<std::path::PathBuf>,
    size: u64,
}

impl Fs {
    fn tmpfs(target: &str, options: &str, size: u64) -> Self {
        Fs {
            device: if target == "/dev/shm" { "shm" } else { "tmpfs" }.to_string(),
            target: target.to_string(),
            fstype: "tmpfs",
            options: options.to_string(),
            dir: None,
            size,
        }
    }
}

/// Bytes used under `dir` (allocated blocks, like du), not following links.
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    let mut visited = 0usize;
    while let Some(p) = stack.pop() {
        visited += 1;
        if visited > 100_000 {
            break; // a bound, so df stays quick on huge trees
        }
        let Ok(meta) = p.symlink_metadata() else {
            continue;
        };
        total += meta.blocks() * 512;
        if meta.is_dir()
            && let Ok(rd) = std::fs::read_dir(&p)
        {
            stack.extend(rd.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    total
}

/// busybox `df -h` sizes: `0`, `12.0K`, `58.4G`.
fn human_size(bytes: u64) -> String {
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

fn mode_string(meta: &std::fs::Metadata) -> String {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        'l'
    } else if ft.is_dir() {
        'd'
    } else {
        '-'
    };
    let mode = meta.permissions().mode();
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// `test` / `[`: file tests, string and integer comparisons, `!`.
fn test(shell: &Shell, args: &[String], err: &mut Vec<u8>) -> i32 {
    match test_result(shell, args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(message) => {
            let _ = writeln!(err, "{message}");
            2
        }
    }
}

fn test_result(shell: &Shell, args: &[String]) -> Result<bool, String> {
    match args {
        [] => Ok(false),
        [bang, rest @ ..] if bang == "!" => test_result(shell, rest).map(|b| !b),
        [s] => Ok(!s.is_empty()),
        [op, value] => match op.as_str() {
            "-n" => Ok(!value.is_empty()),
            "-z" => Ok(value.is_empty()),
            "-e" | "-f" | "-d" | "-s" | "-r" | "-w" | "-x" => Ok(file_test(shell, op, value)),
            _ => Err(format!("sh: {op}: unknown operand")),
        },
        [a, op, b] => {
            let int = |v: &str| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("sh: {v}: bad number"))
            };
            match op.as_str() {
                "=" | "==" => Ok(a == b),
                "!=" => Ok(a != b),
                "-eq" => Ok(int(a)? == int(b)?),
                "-ne" => Ok(int(a)? != int(b)?),
                "-lt" => Ok(int(a)? < int(b)?),
                "-le" => Ok(int(a)? <= int(b)?),
                "-gt" => Ok(int(a)? > int(b)?),
                "-ge" => Ok(int(a)? >= int(b)?),
                _ => Err(format!("sh: {op}: unknown operand")),
            }
        }
        _ => Err("sh: test: too many arguments".to_string()),
    }
}

/// `test -e/-f/-d/-s/-r/-w/-x PATH` through the mount table (root may do anything).
fn file_test(shell: &Shell, op: &str, path: &str) -> bool {
    let Ok(r) = shell.resolve(path) else {
        return false;
    };
    let mount_point = shell.is_mount_point(&r.container_path);
    let Ok(meta) = std::fs::metadata(&r.host) else {
        return mount_point && matches!(op, "-e" | "-d" | "-r" | "-x");
    };
    match op {
        "-f" => meta.is_file(),
        "-d" => meta.is_dir(),
        "-s" => meta.len() > 0,
        "-w" => !r.read_only,
        _ => true,
    }
}

fn seq(args: &[String], out: &mut Vec<u8>, err: &mut Vec<u8>) -> i32 {
    let nums: Result<Vec<i64>, _> = args.iter().map(|a| a.parse::<i64>()).collect();
    let (first, step, last) = match nums.as_deref() {
        Ok([last]) => (1, 1, *last),
        Ok([first, last]) => (*first, 1, *last),
        Ok([first, step, last]) if *step != 0 => (*first, *step, *last),
        _ => {
            let _ = writeln!(err, "seq: invalid arguments");
            return 1;
        }
    };
    let mut n = first;
    let mut count = 0;
    while (step > 0 && n <= last) || (step < 0 && n >= last) {
        let _ = writeln!(out, "{n}");
        n += step;
        count += 1;
        if count >= 1_000_000 {
            break;
        }
    }
    0
}

/// The input of a text filter: the named files, or stdin.
fn filter_input(
    name: &str,
    files: &[String],
    stdin: &[u8],
    err: &mut Vec<u8>,
    shell: &Shell,
) -> (Vec<u8>, i32) {
    if files.is_empty() {
        return (stdin.to_vec(), 0);
    }
    let mut data = Vec::new();
    let mut code = 0;
    for f in files {
        match shell.read_file(f) {
            Ok(bytes) => data.extend(bytes),
            Err(e) => {
                let _ = writeln!(err, "{name}: can't open '{f}': {}", errno(&e));
                code = 1;
            }
        }
    }
    (data, code)
}

fn head_tail(
    name: &str,
    args: &[String],
    stdin: &[u8],
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
    shell: &Shell,
) -> i32 {
    let mut count = 10usize;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-n" {
            count = it.next().and_then(|n| n.parse().ok()).unwrap_or(10);
        } else if let Some(n) = a.strip_prefix("-n").or_else(|| a.strip_prefix('-')) {
            count = n.parse().unwrap_or(10);
        } else {
            files.push(a.clone());
        }
    }
    let (data, code) = filter_input(name, &files, stdin, err, shell);
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let chosen = if name == "head" {
        &lines[..count.min(lines.len())]
    } else {
        &lines[lines.len().saturating_sub(count)..]
    };
    for l in chosen {
        out.extend_from_slice(l.as_bytes());
    }
    code
}

fn wc(args: &[String], stdin: &[u8], out: &mut Vec<u8>, err: &mut Vec<u8>, shell: &Shell) -> i32 {
    let (flags, files) = split_flags(args);
    let (data, code) = filter_input("wc", &files, stdin, err, shell);
    let lines = data.iter().filter(|&&b| b == b'\n').count();
    let words = String::from_utf8_lossy(&data).split_whitespace().count();
    let bytes = data.len();
    let mut fields = Vec::new();
    if flags.is_empty() || flags.contains('l') {
        fields.push(lines);
    }
    if flags.is_empty() || flags.contains('w') {
        fields.push(words);
    }
    if flags.is_empty() || flags.contains('c') {
        fields.push(bytes);
    }
    let text: Vec<String> = fields.iter().map(|n| format!("{n:>9}")).collect();
    let name = files.first().map(|f| format!(" {f}")).unwrap_or_default();
    let _ = writeln!(out, "{}{name}", text.join(" ").trim_start());
    code
}

fn grep(args: &[String], stdin: &[u8], out: &mut Vec<u8>, err: &mut Vec<u8>, shell: &Shell) -> i32 {
    let (flags, rest) = split_flags(args);
    let Some((pattern, files)) = rest.split_first() else {
        let _ = writeln!(err, "Usage: grep [-civq] PATTERN [FILE]...");
        return 2;
    };
    let (ignore_case, invert) = (flags.contains('i'), flags.contains('v'));
    let (data, code) = filter_input("grep", files, stdin, err, shell);
    let needle = if ignore_case {
        pattern.to_lowercase()
    } else {
        pattern.clone()
    };
    let mut matched = 0;
    for line in String::from_utf8_lossy(&data).lines() {
        let hay = if ignore_case {
            line.to_lowercase()
        } else {
            line.to_string()
        };
        if hay.contains(&needle) != invert {
            matched += 1;
            if !flags.contains('c') && !flags.contains('q') {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    if flags.contains('c') {
        let _ = writeln!(out, "{matched}");
    }
    if code != 0 {
        2
    } else if matched > 0 {
        0
    } else {
        1
    }
}

fn echo(args: &[String], out: &mut Vec<u8>) -> i32 {
    let (newline, args) = match args.first().map(String::as_str) {
        Some("-n") => (false, &args[1..]),
        _ => (true, args),
    };
    out.extend(args.join(" ").into_bytes());
    if newline {
        out.push(b'\n');
    }
    0
}

/// Splits `-la` style flags from operands (a lone `-` and anything after
/// `--` are operands).
fn split_flags(args: &[String]) -> (String, Vec<String>) {
    let mut flags = String::new();
    let mut rest = Vec::new();
    let mut operands_only = false;
    for a in args {
        if operands_only || a == "-" || !a.starts_with('-') {
            rest.push(a.clone());
        } else if a == "--" {
            operands_only = true;
        } else {
            flags.push_str(&a[1..]);
        }
    }
    (flags, rest)
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn parent_path(container_path: &str) -> String {
    match container_path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((p, _)) => p.to_string(),
    }
}

/// Matches `*` and `?` wildcards.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn fs_to_io(e: FsError) -> io::Error {
    match e {
        FsError::Io { kind, .. } => io::Error::from(kind),
        FsError::Escape { .. } => io::Error::from(io::ErrorKind::PermissionDenied),
        FsError::SymlinkLoop { .. } => io::Error::other("Symbolic link loop"),
        FsError::InvalidName(_) => io::Error::from(io::ErrorKind::InvalidInput),
    }
}

/// The C library's wording for an I/O error, as busybox prints it.
fn errno(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "No such file or directory",
        K::PermissionDenied => "Permission denied",
        K::AlreadyExists => "File exists",
        K::NotADirectory => "Not a directory",
        K::IsADirectory => "Is a directory",
        K::DirectoryNotEmpty => "Directory not empty",
        K::ReadOnlyFilesystem => "Read-only file system",
        K::InvalidInput => "Invalid argument",
        K::StorageFull => "No space left on device",
        K::ResourceBusy => "Resource busy",
        _ => {
            return e
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or("I/O error")
                .to_string();
        }
    }
    .to_string()
}

#[derive(Clone)]
enum Target {
    Pipe,
    Err,
    File(String, bool),
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit {
        text: String,
        quoted: bool,
    },
    Var {
        name: String,
        quoted: bool,
    },
    /// `$(...)` or backquotes: the script's output, trailing newlines cut.
    Cmd {
        script: String,
        quoted: bool,
    },
    /// `$((...))`: integer arithmetic.
    Arith {
        expr: String,
        quoted: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Word(Vec<Seg>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum RedirectKind {
    In,
    Out,
    Append,
    /// `2>&1`
    DupOut,
    /// `>&2`, `1>&2`
    ToErr,
    /// `<<WORD` / `<<'WORD'`: the target word is the document itself.
    HereDoc,
}

#[derive(Debug, Clone, PartialEq)]
struct Redirect {
    fd: u8,
    kind: RedirectKind,
    target: Word,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct SimpleCommand {
    words: Vec<Word>,
    redirects: Vec<Redirect>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Connector {
    Always,
    And,
    Or,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(Word),
    Redirect(u8, RedirectKind),
    Pipe,
    And,
    Or,
    Sep,
}

/// A `<<WORD` whose body starts at the next newline.
struct PendingHereDoc {
    /// Index of the placeholder word token that receives the body.
    token: usize,
    delimiter: String,
    /// The delimiter was quoted: no expansion in the body.
    quoted: bool,
    /// `<<-`: leading tabs are removed.
    strip_tabs: bool,
}

/// Reads the bodies of pending here-documents from `start` (just after a
/// newline); returns where the script goes on.
fn read_heredocs(
    chars: &[char],
    start: usize,
    pending: &mut Vec<PendingHereDoc>,
    tokens: &mut [Token],
) -> Result<usize, String> {
    let mut i = start;
    for doc in pending.drain(..) {
        let mut body = String::new();
        loop {
            if i >= chars.len() {
                // sh warns and takes the rest as the document.
                break;
            }
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            let mut line: String = chars[i..end].iter().collect();
            i = (end + 1).min(chars.len().max(end));
            if doc.strip_tabs {
                line = line.trim_start_matches('\t').to_string();
            }
            if line == doc.delimiter {
                break;
            }
            body.push_str(&line);
            body.push('\n');
        }
        let word = if doc.quoted {
            Word(vec![Seg::Lit {
                text: body,
                quoted: true,
            }])
        } else {
            heredoc_word(&body)?
        };
        if let Some(t) = tokens.get_mut(doc.token) {
            *t = Token::Word(word);
        }
    }
    Ok(i)
}

/// An unquoted here-document: `$VAR`, `${VAR}`, `$(...)` expand; nothing splits.
fn heredoc_word(body: &str) -> Result<Word, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut word = Word(vec![Seg::Lit {
        text: String::new(),
        quoted: true,
    }]);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if matches!(chars.get(i + 1), Some('$' | '`' | '\\')) => {
                push_quoted(&mut word, chars[i + 1]);
                i += 2;
            }
            '$' | '`' => {
                let (seg, used) = dollar(&chars[i..], true)?;
                match seg {
                    Some(s) => word.0.push(s),
                    None => push_quoted(&mut word, '$'),
                }
                i += used.max(1);
            }
            c => {
                push_quoted(&mut word, c);
                i += 1;
            }
        }
    }
    Ok(word)
}

fn push_quoted(word: &mut Word, c: char) {
    match word.0.last_mut() {
        Some(Seg::Lit { text, quoted: true }) => text.push(c),
        _ => word.0.push(Seg::Lit {
            text: c.to_string(),
            quoted: true,
        }),
    }
}

fn tokenize(script: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut tokens = Vec::new();
    let mut heredocs: Vec<PendingHereDoc> = Vec::new();
    let mut i = 0;
    let mut word = Word::default();
    let mut in_word = false;
    let push_lit = |word: &mut Word, c: char, quoted: bool| match word.0.last_mut() {
        Some(Seg::Lit { text, quoted: q }) if *q == quoted => text.push(c),
        _ => word.0.push(Seg::Lit {
            text: c.to_string(),
            quoted,
        }),
    };
    macro_rules! end_word {
        () => {
            if in_word {
                tokens.push(Token::Word(std::mem::take(&mut word)));
                in_word = false;
            }
        };
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\r' => {
                end_word!();
                i += 1;
            }
            '\n' | ';' => {
                end_word!();
                tokens.push(Token::Sep);
                i += 1;
                if c == '\n' && !heredocs.is_empty() {
                    i = read_heredocs(&chars, i, &mut heredocs, &mut tokens)?;
                }
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                end_word!();
                tokens.push(Token::And);
                i += 2;
            }
            '&' => return Err("background jobs ('&') are not supported".to_string()),
            '|' if chars.get(i + 1) == Some(&'|') => {
                end_word!();
                tokens.push(Token::Or);
                i += 2;
            }
            '|' => {
                end_word!();
                tokens.push(Token::Pipe);
                i += 1;
            }
            '>' | '<' => {
                // A word made only of a digit right before is the fd.
                let mut fd = if c == '<' { 0 } else { 1 };
                if in_word
                    && let [
                        Seg::Lit {
                            text,
                            quoted: false,
                        },
                    ] = word.0.as_slice()
                    && (text == "1" || text == "2")
                {
                    fd = if text == "2" { 2 } else { 1 };
                    word = Word::default();
                    in_word = false;
                }
                end_word!();
                if c == '<' && chars.get(i + 1) == Some(&'<') {
                    i += 2;
                    let strip_tabs = chars.get(i) == Some(&'-');
                    if strip_tabs {
                        i += 1;
                    }
                    while matches!(chars.get(i), Some(' ' | '\t')) {
                        i += 1;
                    }
                    let mut delimiter = String::new();
                    let mut quoted = false;
                    while let Some(&ch) = chars.get(i) {
                        match ch {
                            ' ' | '\t' | '\n' | ';' | '|' | '&' | '<' | '>' | '(' | ')' => break,
                            '\'' | '"' => {
                                quoted = true;
                                let Some(end) = chars[i + 1..].iter().position(|&q| q == ch) else {
                                    return Err("unterminated quoted string".to_string());
                                };
                                delimiter.extend(&chars[i + 1..i + 1 + end]);
                                i += end + 2;
                            }
                            '\\' => {
                                quoted = true;
                                if let Some(&next) = chars.get(i + 1) {
                                    delimiter.push(next);
                                }
                                i += 2;
                            }
                            other => {
                                delimiter.push(other);
                                i += 1;
                            }
                        }
                    }
                    if delimiter.is_empty() {
                        return Err("missing here-document delimiter".to_string());
                    }
                    tokens.push(Token::Redirect(0, RedirectKind::HereDoc));
                    heredocs.push(PendingHereDoc {
                        token: tokens.len(),
                        delimiter,
                        quoted,
                        strip_tabs,
                    });
                    tokens.push(Token::Word(Word::default()));
                } else if c == '<' {
                    tokens.push(Token::Redirect(0, RedirectKind::In));
                    i += 1;
                } else if chars.get(i + 1) == Some(&'&') && chars.get(i + 2) == Some(&'2') {
                    tokens.push(Token::Redirect(fd, RedirectKind::ToErr));
                    i += 3;
                } else if chars.get(i + 1) == Some(&'>') {
                    tokens.push(Token::Redirect(fd, RedirectKind::Append));
                    i += 2;
                } else if chars.get(i + 1) == Some(&'&') && chars.get(i + 2) == Some(&'1') {
                    tokens.push(Token::Redirect(fd, RedirectKind::DupOut));
                    i += 3;
                } else {
                    tokens.push(Token::Redirect(fd, RedirectKind::Out));
                    i += 1;
                }
            }
            '\'' => {
                in_word = true;
                let Some(end) = chars[i + 1..].iter().position(|&c| c == '\'') else {
                    return Err("unterminated quoted string".to_string());
                };
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                word.0.push(Seg::Lit { text, quoted: true });
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                let mut closed = false;
                // An empty "" still makes an (empty) argument.
                word.0.push(Seg::Lit {
                    text: String::new(),
                    quoted: true,
                });
                while i < chars.len() {
                    match chars[i] {
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            push_lit(&mut word, chars[i + 1], true);
                            i += 2;
                        }
                        '\\' if chars.get(i + 1) == Some(&'\n') => i += 2,
                        '$' | '`' => {
                            let (seg, used) = dollar(&chars[i..], true)?;
                            match seg {
                                Some(s) => word.0.push(s),
                                None => push_lit(&mut word, '$', true),
                            }
                            i += used;
                        }
                        ch => {
                            push_lit(&mut word, ch, true);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    return Err("unterminated quoted string".to_string());
                }
            }
            '\\' => {
                in_word = true;
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&ch) => push_lit(&mut word, ch, true),
                    None => {}
                }
                i += 2;
            }
            '$' | '`' => {
                in_word = true;
                let (seg, used) = dollar(&chars[i..], false)?;
                match seg {
                    Some(s) => word.0.push(s),
                    None => push_lit(&mut word, '$', false),
                }
                i += used;
            }
            '(' | ')' => {
                return Err(format!("unexpected \"{c}\" (subshells are not supported)"));
            }
            ch => {
                in_word = true;
                push_lit(&mut word, ch, false);
                i += 1;
            }
        }
    }
    if in_word {
        tokens.push(Token::Word(word));
    }
    if !heredocs.is_empty() {
        read_heredocs(&chars, chars.len(), &mut heredocs, &mut tokens)?;
    }
    Ok(tokens)
}

/// Reads `$NAME`, `${NAME}`, `$?`, `$1` at the start of `chars`; returns the
/// segment (None for a lone `$`) and how many chars it used.
fn variable(chars: &[char], quoted: bool) -> (Option<Seg>, usize) {
    let var = |name: String| Some(Seg::Var { name, quoted });
    match chars.get(1) {
        Some('{') => match chars[2..].iter().position(|&c| c == '}') {
            Some(end) => (var(chars[2..2 + end].iter().collect()), end + 3),
            None => (None, 1),
        },
        Some(&c) if c == '?' || c == '$' || c == '#' || c.is_ascii_digit() => {
            (var(c.to_string()), 2)
        }
        Some(&c) if c.is_ascii_alphabetic() || c == '_' => {
            let len = chars[1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .count();
            (var(chars[1..1 + len].iter().collect()), 1 + len)
        }
        _ => (None, 1),
    }
}

/// Reads what follows a `$` or a backquote: a variable, `$(...)`,
/// `$((...))` or `` `...` ``. Returns the segment (None for a lone `$`) and
/// how many chars it used.
fn dollar(chars: &[char], quoted: bool) -> Result<(Option<Seg>, usize), String> {
    if chars.first() == Some(&'`') {
        let Some(end) = chars[1..].iter().position(|&c| c == '`') else {
            return Err("unterminated `".to_string());
        };
        let script = chars[1..1 + end].iter().collect();
        return Ok((Some(Seg::Cmd { script, quoted }), end + 2));
    }
    if chars.get(1) != Some(&'(') {
        return Ok(variable(chars, quoted));
    }
    // Find the matching `)`, skipping quoted text.
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, &c) in chars.iter().enumerate().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    let inner: String = chars[2..i].iter().collect();
                    let arith = inner.starts_with('(') && inner.ends_with(')') && inner.len() >= 2;
                    let seg = if arith {
                        Seg::Arith {
                            expr: inner[1..inner.len() - 1].to_string(),
                            quoted,
                        }
                    } else {
                        Seg::Cmd {
                            script: inner,
                            quoted,
                        }
                    };
                    return Ok((Some(seg), i + 1));
                }
            }
            _ => {}
        }
    }
    Err("unterminated $(".to_string())
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Simple(SimpleCommand),
    /// Commands joined by `|`.
    Pipeline(Vec<Node>),
    /// Pipelines joined by `;`, newlines, `&&` and `||` (evaluated left to
    /// right on the last status, as sh does).
    List(Vec<(Connector, Node)>),
    Loop {
        until: bool,
        cond: Box<Node>,
        body: Box<Node>,
    },
    For {
        var: String,
        words: Option<Vec<Word>>,
        body: Box<Node>,
    },
    If {
        branches: Vec<(Node, Node)>,
        otherwise: Option<Box<Node>>,
    },
    /// `{ list; }`
    Group(Box<Node>),
    /// A compound command with redirections after it (`done > file`).
    Redirected(Box<Node>, Vec<Redirect>),
}

const RESERVED: &[&str] = &[
    "while", "until", "for", "do", "done", "if", "then", "elif", "else", "fi", "{", "}", "in",
];

/// The word's text when it is an unquoted literal (reserved words only count then).
fn plain(word: &Word) -> Option<&str> {
    match word.0.as_slice() {
        [
            Seg::Lit {
                text,
                quoted: false,
            },
        ] => Some(text),
        _ => None,
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Compound commands open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// The reserved word at the current position, if any.
    fn reserved(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Word(w)) => plain(w).filter(|t| RESERVED.contains(t)),
            _ => None,
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(Token::Sep)) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        if self.reserved() == Some(word) {
            self.pos += 1;
            Ok(())
        } else {
            Err(match self.peek() {
                None => "unexpected end of file".to_string(),
                Some(t) => format!("unexpected {} (expecting \"{word}\")", describe(t)),
            })
        }
    }

    /// A list, up to one of `stops` (a reserved word) or the end.
    fn list(&mut self, stops: &[&str]) -> Result<Node, String> {
        let mut items = Vec::new();
        let mut connector = Connector::Always;
        loop {
            self.skip_separators();
            match (self.peek(), self.reserved()) {
                (None, _) => break,
                (_, Some(r)) if stops.contains(&r) => break,
                _ => {}
            }
            let node = self.pipeline()?;
            items.push((connector, node));
            match self.peek() {
                Some(Token::And) | Some(Token::Or) => {
                    connector = if matches!(self.peek(), Some(Token::And)) {
                        Connector::And
                    } else {
                        Connector::Or
                    };
                    self.pos += 1;
                    self.skip_separators();
                    if self.peek().is_none() {
                        return Err("unexpected end of file".to_string());
                    }
                }
                Some(Token::Sep) | None => connector = Connector::Always,
                Some(Token::Word(_)) if self.reserved().is_some_and(|r| stops.contains(&r)) => {
                    connector = Connector::Always;
                }
                Some(t) => return Err(format!("unexpected {}", describe(t))),
            }
        }
        if items.is_empty() && !stops.is_empty() {
            return Err(match self.peek() {
                Some(t) => format!("unexpected {}", describe(t)),
                None => "unexpected end of file".to_string(),
            });
        }
        Ok(Node::List(items))
    }

    fn pipeline(&mut self) -> Result<Node, String> {
        let mut stages = vec![self.command()?];
        while matches!(self.peek(), Some(Token::Pipe)) {
            self.pos += 1;
            self.skip_separators();
            stages.push(self.command()?);
        }
        Ok(if stages.len() == 1 {
            stages.remove(0)
        } else {
            Node::Pipeline(stages)
        })
    }

    fn command(&mut self) -> Result<Node, String> {
        let compound = self.reserved().is_some();
        if compound {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err("commands nested too deeply".to_string());
            }
        }
        let node = self.compound_or_simple();
        if compound {
            self.depth -= 1;
        }
        node
    }

    fn compound_or_simple(&mut self) -> Result<Node, String> {
        let node = match self.reserved() {
            Some(kw @ ("while" | "until")) => {
                let until = kw == "until";
                self.pos += 1;
                let cond = self.list(&["do"])?;
                self.expect("do")?;
                let body = self.list(&["done"])?;
                self.expect("done")?;
                Node::Loop {
                    until,
                    cond: Box::new(cond),
                    body: Box::new(body),
                }
            }
            Some("for") => {
                self.pos += 1;
                let var = match self.peek() {
                    Some(Token::Word(w)) => plain(w).map(str::to_string),
                    _ => None,
                }
                .filter(|v| is_assignment(&format!("{v}=")))
                .ok_or_else(|| "bad for loop variable".to_string())?;
                self.pos += 1;
                self.skip_separators();
                let words = if self.reserved() == Some("in") {
                    self.pos += 1;
                    let mut words = Vec::new();
                    while let Some(Token::Word(w)) = self.peek() {
                        words.push(w.clone());
                        self.pos += 1;
                    }
                    Some(words)
                } else {
                    None
                };
                self.skip_separators();
                self.expect("do")?;
                let body = self.list(&["done"])?;
                self.expect("done")?;
                Node::For {
                    var,
                    words,
                    body: Box::new(body),
                }
            }
            Some("if") => {
                self.pos += 1;
                let mut branches = Vec::new();
                let mut otherwise = None;
                loop {
                    let cond = self.list(&["then"])?;
                    self.expect("then")?;
                    let body = self.list(&["elif", "else", "fi"])?;
                    branches.push((cond, body));
                    match self.reserved() {
                        Some("elif") => self.pos += 1,
                        Some("else") => {
                            self.pos += 1;
                            otherwise = Some(Box::new(self.list(&["fi"])?));
                            self.expect("fi")?;
                            break;
                        }
                        _ => {
                            self.expect("fi")?;
                            break;
                        }
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                }
            }
            Some("{") => {
                self.pos += 1;
                let body = self.list(&["}"])?;
                self.expect("}")?;
                Node::Group(Box::new(body))
            }
            Some(other @ ("do" | "done" | "then" | "elif" | "else" | "fi" | "}")) => {
                return Err(format!("unexpected \"{other}\""));
            }
            _ => return self.simple().map(Node::Simple),
        };
        let mut redirects = Vec::new();
        while let Some(Token::Redirect(..)) = self.peek() {
            redirects.push(self.redirect()?);
        }
        Ok(if redirects.is_empty() {
            node
        } else {
            Node::Redirected(Box::new(node), redirects)
        })
    }

    fn redirect(&mut self) -> Result<Redirect, String> {
        let Some(Token::Redirect(fd, kind)) = self.peek() else {
            return Err("expected a redirection".to_string());
        };
        let (fd, kind) = (*fd, *kind);
        self.pos += 1;
        if matches!(kind, RedirectKind::DupOut | RedirectKind::ToErr) {
            return Ok(Redirect {
                fd,
                kind,
                target: Word::default(),
            });
        }
        match self.peek() {
            Some(Token::Word(target)) => {
                let target = target.clone();
                self.pos += 1;
                Ok(Redirect { fd, kind, target })
            }
            Some(t) => Err(format!("unexpected {}", describe(t))),
            None => Err("unexpected newline".to_string()),
        }
    }

    fn simple(&mut self) -> Result<SimpleCommand, String> {
        let mut cmd = SimpleCommand::default();
        loop {
            match self.peek() {
                Some(Token::Word(w)) => {
                    cmd.words.push(w.clone());
                    self.pos += 1;
                }
                Some(Token::Redirect(..)) => {
                    let r = self.redirect()?;
                    cmd.redirects.push(r);
                }
                _ => break,
            }
        }
        if cmd == SimpleCommand::default() {
            return Err(match self.peek() {
                Some(t) => format!("unexpected {}", describe(t)),
                None => "unexpected end of file".to_string(),
            });
        }
        Ok(cmd)
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("\"{}\"", plain(w).unwrap_or("word")),
        Token::Redirect(..) => "redirection".to_string(),
        Token::Pipe => "\"|\"".to_string(),
        Token::And => "\"&&\"".to_string(),
        Token::Or => "\"||\"".to_string(),
        Token::Sep => "\";\"".to_string(),
    }
}

/// Checks a script's syntax without running it (`sh -n`): the message is
/// what `sh` would print after `sh: syntax error: `.
#[cfg(any(fuzzing, test))]
pub fn check_syntax(script: &str) -> Result<(), String> {
    parse(script).map(drop)
}

/// Evaluates `$((expr))` with every variable unset (for fuzzing).
#[cfg(any(fuzzing, test))]
pub fn check_arithmetic(expr: &str) -> Result<i64, String> {
    arithmetic(expr, &|_| String::new())
}

fn parse(script: &str) -> Result<Node, String> {
    let mut parser = Parser {
        tokens: tokenize(script)?,
        pos: 0,
        depth: 0,
    };
    let list = parser.list(&[])?;
    match parser.peek() {
        None => Ok(list),
        Some(t) => Err(format!("unexpected {}", describe(t))),
    }
}

/// Evaluates `$((...))`: integers, variables, `+ - * / %`, comparisons,
/// parentheses and unary minus.
fn arithmetic(expr: &str, var: &dyn Fn(&str) -> String) -> Result<i64, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut pos = 0;
    let value = arith_binary(&chars, &mut pos, 0, var)?;
    arith_space(&chars, &mut pos);
    if pos != chars.len() {
        return Err(format!("arithmetic syntax error: {expr}"));
    }
    Ok(value)
}

fn arith_space(chars: &[char], pos: &mut usize) {
    while chars.get(*pos).is_some_and(|c| c.is_whitespace()) {
        *pos += 1;
    }
}

fn arith_binary(
    chars: &[char],
    pos: &mut usize,
    min_prec: u8,
    var: &dyn Fn(&str) -> String,
) -> Result<i64, String> {
    ARITH_DEPTH.with(|d| d.set(d.get() + 1));
    let result = arith_binary_inner(chars, pos, min_prec, var);
    ARITH_DEPTH.with(|d| d.set(d.get() - 1));
    result
}

thread_local! {
    /// Recursion depth of the arithmetic evaluator (bounded: `((((...` must
    /// not exhaust the stack).
    static ARITH_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn arith_binary_inner(
    chars: &[char],
    pos: &mut usize,
    min_prec: u8,
    var: &dyn Fn(&str) -> String,
) -> Result<i64, String> {
    if ARITH_DEPTH.with(std::cell::Cell::get) > 2 * MAX_DEPTH {
        return Err("arithmetic expression nested too deeply".to_string());
    }
    let mut left = arith_unary(chars, pos, var)?;
    loop {
        arith_space(chars, pos);
        let rest: String = chars[*pos..].iter().take(2).collect();
        let (op, len, prec) = match rest.as_str() {
            s if s.starts_with("==") => ("==", 2, 1),
            s if s.starts_with("!=") => ("!=", 2, 1),
            s if s.starts_with("<=") => ("<=", 2, 2),
            s if s.starts_with(">=") => (">=", 2, 2),
            s if s.starts_with('<') => ("<", 1, 2),
            s if s.starts_with('>') => (">", 1, 2),
            s if s.starts_with('+') => ("+", 1, 3),
            s if s.starts_with('-') => ("-", 1, 3),
            s if s.starts_with('*') => ("*", 1, 4),
            s if s.starts_with('/') => ("/", 1, 4),
            s if s.starts_with('%') => ("%", 1, 4),
            _ => return Ok(left),
        };
        if prec < min_prec.max(1) {
            return Ok(left);
        }
        *pos += len;
        let right = arith_binary(chars, pos, prec + 1, var)?;
        left = match op {
            "+" => left.wrapping_add(right),
            "-" => left.wrapping_sub(right),
            "*" => left.wrapping_mul(right),
            "/" | "%" if right == 0 => return Err("divide by zero".to_string()),
            "/" => left.wrapping_div(right),
            "%" => left.wrapping_rem(right),
            "==" => i64::from(left == right),
            "!=" => i64::from(left != right),
            "<" => i64::from(left < right),
            ">" => i64::from(left > right),
            "<=" => i64::from(left <= right),
            _ => i64::from(left >= right),
        };
    }
}

fn arith_unary(
    chars: &[char],
    pos: &mut usize,
    var: &dyn Fn(&str) -> String,
) -> Result<i64, String> {
    arith_space(chars, pos);
    match chars.get(*pos) {
        Some('-') | Some('+') => {
            // Signs are folded in a loop, not by recursion.
            let mut negate = false;
            while let Some(c @ ('-' | '+')) = chars.get(*pos) {
                negate ^= *c == '-';
                *pos += 1;
                arith_space(chars, pos);
            }
            let v = arith_unary(chars, pos, var)?;
            Ok(if negate { v.wrapping_neg() } else { v })
        }
        Some('(') => {
            *pos += 1;
            let v = arith_binary(chars, pos, 0, var)?;
            arith_space(chars, pos);
            if chars.get(*pos) != Some(&')') {
                return Err("arithmetic syntax error: missing )".to_string());
            }
            *pos += 1;
            Ok(v)
        }
        Some(c) if c.is_ascii_digit() => {
            let start = *pos;
            while chars.get(*pos).is_some_and(char::is_ascii_digit) {
                *pos += 1;
            }
            let text: String = chars[start..*pos].iter().collect();
            text.parse()
                .map_err(|_| format!("number too large: {text}"))
        }
        Some(c) if c.is_ascii_alphabetic() || *c == '_' || *c == '$' => {
            if *c == '$' {
                *pos += 1;
            }
            let start = *pos;
            while chars
                .get(*pos)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                *pos += 1;
            }
            let name: String = chars[start..*pos].iter().collect();
            let value = var(&name);
            let value = value.trim();
            if value.is_empty() {
                Ok(0)
            } else {
                value
                    .parse()
                    .map_err(|_| format!("arithmetic syntax error: {value}"))
            }
        }
        _ => Err("arithmetic syntax error".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostfs::SandboxRoot;

    struct Fixture {
        _tmp: tempfile::TempDir,
        root: SandboxRoot,
        shell: Shell,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let rootfs = root.container_rootfs("pod1", "app").unwrap();
        let mut fs = ContainerFs::new(rootfs);
        fs.mount(
            "/data",
            root.volume("pv-1").unwrap(),
            false,
            MountKind::Volume,
            "pv-1",
        )
        .unwrap();
        fs.set_capacity("/data", 1024 * 1024 * 1024);
        fs.mount(
            "/cache",
            root.empty_dir("pod1", "cache").unwrap(),
            false,
            MountKind::EmptyDir,
            "cache",
        )
        .unwrap();
        fs.mount(
            "/etc/config",
            root.empty_dir("pod1", "cfg").unwrap(),
            true,
            MountKind::Tmpfs,
            "cfg",
        )
        .unwrap();
        let env = [("API_DB_FILEPATH".to_string(), "/data/db.json".to_string())];
        let shell = Shell::new(fs, env, "web-7d9f").with_sleeper(|_| {});
        Fixture {
            _tmp: tmp,
            root,
            shell,
        }
    }

    fn sh(f: &mut Fixture, script: &str) -> Output {
        f.shell
            .exec(&["sh".into(), "-c".into(), script.into()], b"")
    }

    #[test]
    fn echo_redirect_and_cat_through_mounts() {
        let mut f = fixture();
        let out = sh(
            &mut f,
            "echo hello > /data/f.txt && echo again >> /data/f.txt; cat /data/f.txt",
        );
        assert_eq!(out.stdout_text(), "hello\nagain\n");
        assert_eq!(out.exit_code, 0);
        let real = f.root.volume("pv-1").unwrap().join("f.txt");
        assert_eq!(std::fs::read_to_string(real).unwrap(), "hello\nagain\n");

        let out = sh(&mut f, "echo layer > /root.txt");
        assert_eq!(out.exit_code, 0);
        let layer = f.root.container_rootfs("pod1", "app").unwrap();
        assert!(layer.join("root.txt").is_file());
    }

    #[test]
    fn busybox_error_wording_and_exit_codes() {
        let mut f = fixture();
        let out = sh(&mut f, "cat /x");
        assert_eq!(
            out.stderr_text(),
            "cat: can't open '/x': No such file or directory\n"
        );
        assert_eq!(out.exit_code, 1);

        let out = sh(&mut f, "xyz");
        assert_eq!(out.stderr_text(), "sh: xyz: not found\n");
        assert_eq!(out.exit_code, 127);

        let out = sh(&mut f, "echo x > /etc/config/a");
        assert_eq!(
            out.stderr_text(),
            "sh: can't create /etc/config/a: Read-only file system\n"
        );
        assert_eq!(out.exit_code, 1);

        let out = sh(&mut f, "echo x > /nope/a");
        assert_eq!(
            out.stderr_text(),
            "sh: can't create /nope/a: nonexistent directory\n"
        );

        let out = sh(&mut f, "mkdir /a/b");
        assert_eq!(
            out.stderr_text(),
            "mkdir: can't create directory '/a/b': No such file or directory\n"
        );
        let out = sh(&mut f, "rm /nope");
        assert_eq!(
            out.stderr_text(),
            "rm: can't remove '/nope': No such file or directory\n"
        );
        assert_eq!(sh(&mut f, "rm -f /nope").exit_code, 0);

        let out = sh(&mut f, "ls /missing");
        assert_eq!(
            out.stderr_text(),
            "ls: /missing: No such file or directory\n"
        );
        assert_eq!(out.exit_code, 1);

        let out = sh(&mut f, "cd /missing");
        assert_eq!(
            out.stderr_text(),
            "sh: cd: can't cd to /missing: No such file or directory\n"
        );
        assert_eq!(out.exit_code, 2);

        let out = sh(&mut f, "echo 'unterminated");
        assert_eq!(out.exit_code, 2);
        assert!(out.stderr_text().starts_with("sh: syntax error"));
    }

    #[test]
    fn direct_argv_is_not_parsed_by_a_shell() {
        let mut f = fixture();
        let out = f
            .shell
            .exec(&["echo".into(), "$HOME".into(), "a;b".into()], b"");
        assert_eq!(out.stdout_text(), "$HOME a;b\n");
        let out = f.shell.exec(&["nosuch".into()], b"");
        assert_eq!(out.exit_code, 127);
        assert!(
            out.stderr_text()
                .contains("executable file not found in $PATH")
        );
        let out = f.shell.exec(&["cat".into()], b"from stdin");
        assert_eq!(out.stdout_text(), "from stdin");
        let out = f.shell.exec(&["/bin/sh".into()], b"echo one\necho two\n");
        assert_eq!(out.stdout_text(), "one\ntwo\n");
    }

    #[test]
    fn operators_quotes_and_variables() {
        let mut f = fixture();
        let out = sh(&mut f, "false && echo no || echo yes; true && echo and");
        assert_eq!(out.stdout_text(), "yes\nand\n");
        let out = sh(
            &mut f,
            r#"echo "$API_DB_FILEPATH" '$API_DB_FILEPATH' ${HOSTNAME} "a  b" \$x"#,
        );
        assert_eq!(
            out.stdout_text(),
            "/data/db.json $API_DB_FILEPATH web-7d9f a  b $x\n"
        );
        let out = sh(
            &mut f,
            "false; echo $?; X='1 2'; echo [$X] \"[$X]\"; export X; env | cat",
        );
        let text = out.stdout_text();
        assert!(text.starts_with("1\n[1 2] [1 2]\n"), "{text}");
        assert!(text.contains("API_DB_FILEPATH=/data/db.json\n"));
        assert!(text.contains("X=1 2\n"));
        assert!(text.contains("HOSTNAME=web-7d9f\n"));
        let out = sh(&mut f, "echo start; exit 3; echo never");
        assert_eq!(out.stdout_text(), "start\n");
        assert_eq!(out.exit_code, 3);
        let out = sh(&mut f, "echo \"\" | cat; echo -n x; # comment\necho y");
        assert_eq!(out.stdout_text(), "\nxy\n");
    }

    #[test]
    fn stderr_redirections() {
        let mut f = fixture();
        let out = sh(&mut f, "cat /nope 2> /data/err; cat /data/err");
        assert_eq!(
            out.stdout_text(),
            "cat: can't open '/nope': No such file or directory\n"
        );
        assert!(out.stderr.is_empty());
        let out = sh(
            &mut f,
            "cat /nope > /data/both 2>&1; echo hi >> /data/both; cat < /data/both",
        );
        assert_eq!(
            out.stdout_text(),
            "cat: can't open '/nope': No such file or directory\nhi\n"
        );
    }

    #[test]
    fn files_and_directories() {
        let mut f = fixture();
        let out = sh(
            &mut f,
            "mkdir -p /data/a/b && touch /data/a/b/f && cd /data/a && pwd && ls && ls -a b",
        );
        assert_eq!(out.stdout_text(), "/data/a\nb\n.\n..\nf\n");
        assert_eq!(f.shell.cwd(), "/data/a");
        let out = sh(&mut f, "mkdir /data/a");
        assert_eq!(
            out.stderr_text(),
            "mkdir: can't create directory '/data/a': File exists\n"
        );
        let out = sh(&mut f, "rm /data/a");
        assert_eq!(out.stderr_text(), "rm: '/data/a' is a directory\n");
        let out = sh(&mut f, "rm -rf /data/a && ls /data");
        assert_eq!(out.exit_code, 0);
        assert_eq!(out.stdout_text(), ""); // the volume is empty again
        let out = sh(&mut f, "cat /data");
        assert_eq!(out.stderr_text(), "cat: read error: Is a directory\n");
        let out = sh(
            &mut f,
            "echo x > /data/one; echo y > /data/two.txt; cat /data/*; ls /data/t*",
        );
        assert_eq!(out.stdout_text(), "x\ny\n/data/two.txt\n");
        // Mount points show in their parent listing.
        let out = sh(&mut f, "ls /");
        assert_eq!(out.stdout_text(), "cache\ndata\netc\n");
        let out = sh(&mut f, "ls /etc");
        assert_eq!(out.stdout_text(), "config\n");
        // Escapes are clamped at the container root.
        let out = sh(&mut f, "cat ../../../../etc/passwd");
        assert_eq!(
            out.stderr_text(),
            "cat: can't open '../../../../etc/passwd': No such file or directory\n"
        );
    }

    #[test]
    fn ls_long_format() {
        let mut f = fixture();
        let out = sh(&mut f, "echo hello > /data/f; ls -l /data");
        let text = out.stdout_text();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("total "));
        let line = lines.next().unwrap();
        assert!(
            line.starts_with("-rw-r--r--    1 root     root             6 "),
            "{line}"
        );
        assert!(line.ends_with(" f"));
        std::fs::write(f.root.volume("pv-1").unwrap().join("big"), vec![0u8; 5000]).unwrap();
        let out = sh(&mut f, "ls -lh /data/big");
        assert!(
            out.stdout_text().contains("     4.9K "),
            "{}",
            out.stdout_text()
        );
    }

    #[test]
    fn df_and_mount() {
        let mut f = fixture();
        let out = sh(&mut f, "df -h");
        let text = out.stdout_text();
        assert!(
            text.starts_with(
                "Filesystem                Size      Used Available Use% Mounted on\n"
            )
        );
        assert!(text.contains("\noverlay                  64.0G"), "{text}");
        let data = text.lines().find(|l| l.ends_with(" /data")).unwrap();
        assert!(data.starts_with("/dev/vda1                 1.0G"), "{data}");
        let out = sh(&mut f, "df");
        assert!(out.stdout_text().contains("1K-blocks"));
        let out = sh(&mut f, "df -h /data/");
        let text = out.stdout_text();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.ends_with(" /data\n"), "{text}");
        let out = sh(&mut f, "df /nope");
        assert_eq!(out.stderr_text(), "df: /nope: can't find mount point\n");
        assert!(out.stdout_text().contains("1K-blocks"));

        let out = sh(&mut f, "mount");
        let text = out.stdout_text();
        assert!(text.starts_with("overlay on / type overlay (rw,relatime,lowerdir="));
        assert!(text.contains("/dev/vda1 on /data type ext4 (rw,relatime)\n"));
        assert!(text.contains("tmpfs on /etc/config type tmpfs (ro,relatime)\n"));
        assert!(text.contains("tmpfs on /dev type tmpfs"));
    }

    #[test]
    fn interactive_state_persists_between_lines() {
        let mut f = fixture();
        let shell = Shell::new(f.shell.fs.clone(), Vec::new(), "h").with_cwd("data/../data/");
        assert_eq!(shell.prompt(), "/data # ");
        assert_eq!(f.shell.prompt(), "/ # ");
        f.shell.run_script("mkdir -p /root && cd /data", b"");
        assert_eq!(f.shell.prompt(), "/data # ");
        f.shell.run_script("cd", b"");
        assert_eq!(f.shell.prompt(), "~ # ");
        assert!(!f.shell.has_exited());
        let out = f.shell.run_script("exit 5", b"");
        assert_eq!(out.exit_code, 5);
        assert!(f.shell.has_exited());
    }

    #[test]
    fn misc_commands() {
        let mut f = fixture();
        let out = sh(&mut f, "hostname; whoami; sleep 0.5 && sleep 1m; echo done");
        assert_eq!(out.stdout_text(), "web-7d9f\nroot\ndone\n");
        assert_eq!(sh(&mut f, "sleep abc").exit_code, 1);
        let out = sh(&mut f, "sh -c 'echo inner; exit 4'; echo $?");
        assert_eq!(out.stdout_text(), "inner\n4\n");
        let out = f.shell.exec(
            &[
                "sh".into(),
                "-c".into(),
                "echo $0 $1".into(),
                "zero".into(),
                "one".into(),
            ],
            b"",
        );
        assert_eq!(out.stdout_text(), "zero one\n");
        assert_eq!(sh(&mut f, "ls -z").exit_code, 1);
    }

    #[test]
    fn control_flow() {
        let mut f = fixture();
        let out = sh(
            &mut f,
            "for i in 1 2 3; do echo line $i >> /data/log; done; cat /data/log",
        );
        assert_eq!(out.stdout_text(), "line 1\nline 2\nline 3\n");
        let out = sh(
            &mut f,
            "i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done; until true; do echo no; done",
        );
        assert_eq!(out.stdout_text(), "1\n2\n3\n");
        let out = sh(
            &mut f,
            "if [ -f /data/log ]; then echo file; elif true; then echo no; else echo no; fi\n\
             if test -d /nope; then echo no; else echo none; fi",
        );
        assert_eq!(out.stdout_text(), "file\nnone\n");
        let out = sh(
            &mut f,
            "for i in $(seq 1 10); do if [ $i = 3 ]; then continue; fi; [ $i -gt 4 ] && break; echo $i; done",
        );
        assert_eq!(out.stdout_text(), "1\n2\n4\n");
        let out = sh(
            &mut f,
            "{ echo a; echo b; } > /data/g; wc -l /data/g; echo `cat /data/g | head -n 1`",
        );
        assert_eq!(out.stdout_text(), "2 /data/g\na\n");
        let out = sh(
            &mut f,
            "echo \"$(echo one; echo two)\" | tail -n 1; echo $((2 * (3 + 4) % 5)); grep -c line /data/log",
        );
        assert_eq!(out.stdout_text(), "two\n4\n3\n");
        let out = sh(
            &mut f,
            "while true; do echo $(date) >> /data/d; sleep 1; done & ",
        );
        assert_eq!(out.exit_code, 2, "background jobs are a syntax error here");
    }

    #[test]
    fn busy_loops_and_stop_end_scripts() {
        let mut f = fixture();
        let out = sh(&mut f, "while true; do :; done; echo after");
        assert_eq!(out.exit_code, 1);
        assert!(out.stderr_text().contains("loop stopped"));
        assert_eq!(out.stdout_text(), "");

        // A sleeping loop (a container's main loop) ends when stopped.
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let mut sleeps = 0;
        let mut shell = Shell::new(f.shell.fs.clone(), Vec::new(), "h")
            .with_stop_flag(Arc::clone(&stop))
            .with_sleeper(move |_| {
                sleeps += 1;
                if sleeps == 3 {
                    flag.store(true, Ordering::Relaxed);
                }
            });
        let out = shell.exec(
            &[
                "sh".into(),
                "-c".into(),
                "while true; do date >> /data/d; sleep 5; done".into(),
            ],
            b"",
        );
        assert_eq!(out.exit_code, 143);
        let d = f.root.volume("pv-1").unwrap().join("d");
        assert_eq!(std::fs::read_to_string(d).unwrap().lines().count(), 3);
    }

    #[test]
    fn streamed_output_reaches_the_sink_per_command() {
        let f = fixture();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink_seen = Arc::clone(&seen);
        let mut shell = Shell::new(f.shell.fs.clone(), Vec::new(), "h")
            .with_sleeper(|_| {})
            .with_output_sink(move |o, _| {
                sink_seen
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(o).into_owned())
            });
        let out = shell.exec(
            &[
                "sh".into(),
                "-c".into(),
                "for i in 1 2; do echo $i; sleep 1; done | cat; echo end".into(),
            ],
            b"",
        );
        assert!(out.stdout.is_empty());
        assert_eq!(*seen.lock().unwrap(), ["1\n2\n", "end\n"]);
    }

    #[test]
    fn tail_f_follows_in_a_container_and_not_in_exec() {
        let mut f = fixture();
        let out = sh(&mut f, "echo one > /data/log; tail -f /data/log");
        assert_eq!((out.exit_code, out.stdout_text().as_str()), (0, "one\n"));

        let log = f.root.volume("pv-1").unwrap().join("log");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let sink_seen = Arc::clone(&seen);
        let mut ticks = 0;
        let mut shell = Shell::new(f.shell.fs.clone(), Vec::new(), "h")
            .with_stop_flag(stop)
            .with_output_sink(move |o, _| {
                sink_seen
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(o))
            })
            .with_sleeper(move |_| {
                // Another container appends while this one follows.
                ticks += 1;
                let mut text = std::fs::read_to_string(&log).unwrap();
                text.push_str(&format!("tick {ticks}\n"));
                std::fs::write(&log, text).unwrap();
                if ticks == 2 {
                    flag.store(true, Ordering::Relaxed);
                }
            });
        let out = shell.exec(&["tail".into(), "-f".into(), "/data/log".into()], b"");
        assert_eq!(out.exit_code, 143);
        assert_eq!(*seen.lock().unwrap(), "one\ntick 1\ntick 2\n");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        assert!(check_syntax(&"{ ".repeat(100_000)).is_err());
        assert!(check_syntax(&"while true; do ".repeat(10_000)).is_err());
        assert!(check_arithmetic(&"(".repeat(100_000)).is_err());
        assert!(check_arithmetic(&"-".repeat(100_000)).is_err());
        assert_eq!(check_arithmetic("- - 3"), Ok(3));
        assert_eq!(check_arithmetic("-(2+3)*2"), Ok(-10));
        let script = format!("{}1{}", "$(echo ".repeat(100), ")".repeat(100));
        let mut f = fixture();
        let out = sh(&mut f, &format!("echo {script}"));
        assert!(
            out.stderr_text().contains("nested too deeply"),
            "{}",
            out.stderr_text()
        );
        let out = sh(&mut f, "sh -c 'echo hi'");
        assert_eq!(out.stdout_text(), "hi\n");
    }

    #[test]
    fn never_panics_on_odd_scripts() {
        let mut f = fixture();
        for script in [
            "",
            ";",
            "&&",
            "| x",
            "echo >",
            "echo ${",
            "echo $",
            "a=b",
            "\\",
            "echo \"\\",
            "2>&1",
            "cat <",
            "exit 999999999999999999999",
            "cd",
            "ls -la / /data /nope",
            "rm -rf /",
            "echo *",
            "touch /",
            "mkdir -p /data",
            "rm -r /data",
            ">x",
            "while",
            "while true",
            "while true; do",
            "done",
            "for",
            "for 1x in a; do :; done",
            "for i in; do :; done",
            "if",
            "if true; then",
            "fi",
            "{",
            "}",
            "{ echo",
            "$(",
            "$((",
            "echo $((1/0))",
            "echo $((9999999999999999999999))",
            "echo $((x+",
            "`",
            "echo `echo",
            "[ 1 -lt x ]",
            "[ a",
            "test -f",
            "break 0",
            "continue 99",
            "for i in 1; do break 5; done",
            "seq 1 0 5",
            "head -n x",
            "grep",
            "wc -z",
            "echo $(echo $(echo deep))",
            "if true; then :; elif; then :; fi",
        ] {
            let _ = sh(&mut f, script);
        }
    }

    #[test]
    fn exec_runs_the_command_and_ends_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let fs = ContainerFs::new(dir.path().join("rootfs"));
        let mut sh = Shell::new(fs, Vec::new(), "p").with_sleeper(|_| {});
        let out = sh.exec(
            &[
                "sh".into(),
                "-c".into(),
                "echo a && exec echo b; echo c".into(),
            ],
            b"",
        );
        assert_eq!(out.stdout_text(), "a\nb\n");
        assert_eq!(out.exit_code, 0);
    }
}
