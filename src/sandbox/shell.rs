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
use std::time::Duration;

use super::fsroot::{ContainerFs, FsError, MountKind, Resolved};

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
}

/// A callback for streamed output: (stdout bytes, stderr bytes).
pub type OutputSink = Box<dyn FnMut(&[u8], &[u8]) + Send>;

/// How a command ended: normally, or by `exit` (which stops the script).
enum Status {
    Code(i32),
    Exit(i32),
}

impl Shell {
    /// A shell in a container whose env is `env` (name, value in order).
    pub fn new(
        fs: ContainerFs,
        env: impl IntoIterator<Item = (String, String)>,
        hostname: impl Into<String>,
    ) -> Self {
        let hostname = hostname.into();
        let mut shell = Self {
            fs,
            hostname: hostname.clone(),
            cwd: "/".to_string(),
            vars: BTreeMap::new(),
            exported: Vec::new(),
            positional: vec!["sh".to_string()],
            last_status: 0,
            exited: false,
            sleeper: Box::new(std::thread::sleep),
            sink: None,
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

    pub fn with_sleeper(mut self, sleeper: impl FnMut(Duration) + Send + 'static) -> Self {
        self.sleeper = Box::new(sleeper);
        self
    }

    pub fn cwd(&self) -> &str {
        &self.cwd
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
        };
        out
    }

    /// Runs a shell script (one or more lines).
    pub fn run_script(&mut self, script: &str, stdin: &[u8]) -> Output {
        let mut out = Output::default();
        let list = match parse(script) {
            Ok(list) => list,
            Err(message) => {
                out.stderr = format!("sh: syntax error: {message}\n").into_bytes();
                out.exit_code = 2;
                self.last_status = 2;
                return out;
            }
        };
        let mut stdin = Some(stdin);
        for (connector, pipeline) in list {
            let run = match connector {
                Connector::Always => true,
                Connector::And => self.last_status == 0,
                Connector::Or => self.last_status != 0,
            };
            if !run {
                continue;
            }
            // Only the first command that reads stdin gets it.
            let status = self.pipeline(&pipeline, stdin.take().unwrap_or(b""), &mut out);
            if let Some(sink) = &mut self.sink
                && (!out.stdout.is_empty() || !out.stderr.is_empty())
            {
                sink(&out.stdout, &out.stderr);
                out.stdout.clear();
                out.stderr.clear();
            }
            match status {
                Status::Code(c) => self.last_status = c,
                Status::Exit(c) => {
                    self.last_status = c;
                    self.exited = true;
                    break;
                }
            }
        }
        out.exit_code = self.last_status;
        out
    }

    fn pipeline(&mut self, pipeline: &[SimpleCommand], stdin: &[u8], out: &mut Output) -> Status {
        let mut input = stdin.to_vec();
        let mut status = Status::Code(0);
        for (i, cmd) in pipeline.iter().enumerate() {
            let last = i + 1 == pipeline.len();
            let mut stdout = Vec::new();
            status = self.simple(cmd, &input, &mut stdout, &mut out.stderr);
            if last {
                out.stdout.extend(stdout);
            } else {
                input = stdout;
            }
            if matches!(status, Status::Exit(_)) && pipeline.len() == 1 {
                return status;
            }
        }
        match status {
            // `exit` inside a pipeline only ends its subshell.
            Status::Exit(c) if pipeline.len() > 1 => Status::Code(c),
            s => s,
        }
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
        let mut out_target = Target::Pipe;
        let mut err_target = Target::Err;
        for r in &cmd.redirects {
            let target = self.expand(&r.target).join(" ");
            match r.kind {
                RedirectKind::In => match self.read_file(&target) {
                    Ok(bytes) => input = bytes,
                    Err(e) => {
                        let _ = writeln!(stderr, "sh: can't open '{target}': {}", errno(&e));
                        return Status::Code(1);
                    }
                },
                RedirectKind::Out | RedirectKind::Append => {
                    let append = matches!(r.kind, RedirectKind::Append);
                    if let Err(e) = self.open_for_write(&target, false) {
                        let _ = writeln!(stderr, "sh: can't create {target}: {e}");
                        return Status::Code(1);
                    }
                    let t = Target::File(target, append);
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
            }
        }

        let mut out = Vec::new();
        let mut err = Vec::new();
        let status = if argv.is_empty() {
            Status::Code(0)
        } else {
            self.command(argv, &input, &mut out, &mut err, false)
        };
        // Files opened by both fds get both streams, stdout first.
        for (bytes, target) in [(out, &out_target), (err, &err_target)] {
            match target {
                Target::Pipe => stdout.extend(bytes),
                Target::Err => stderr.extend(bytes),
                Target::File(path, append) => {
                    let same_file = matches!(
                        (&out_target, &err_target),
                        (Target::File(a, _), Target::File(b, _)) if a == b
                    );
                    let append = *append || (same_file && std::ptr::eq(target, &err_target));
                    if let Err(e) = self.write_file(path, &bytes, append) {
                        let _ = writeln!(stderr, "sh: can't create {path}: {e}");
                    }
                }
            }
        }
        status
    }

    /// Expands one word into zero or more fields.
    fn expand(&self, word: &Word) -> Vec<String> {
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
                Seg::Var { name, quoted } => {
                    had_quotes |= *quoted;
                    let value = self.var(name);
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
    fn open_for_write(&self, path: &str, _append: bool) -> Result<(), String> {
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
        self.open_for_write(path, append)?;
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
                let mut sub = Shell {
                    fs: self.fs.clone(),
                    hostname: self.hostname.clone(),
                    cwd: self.cwd.clone(),
                    vars: self.vars.clone(),
                    exported: self.exported.clone(),
                    positional: vec![name.clone()],
                    last_status: 0,
                    exited: false,
                    sleeper: Box::new(|_| {}),
                    sink: None,
                };
                std::mem::swap(&mut sub.sleeper, &mut self.sleeper);
                let result = sub.exec(argv, stdin);
                std::mem::swap(&mut sub.sleeper, &mut self.sleeper);
                out.extend(result.stdout);
                err.extend(result.stderr);
                result.exit_code
            }
            _ if direct => {
                let _ = writeln!(
                    err,
                    "exec: \"{name}\": executable file not found in $PATH: unknown"
                );
                127
            }
            _ => {
                let _ = writeln!(err, "sh: {name}: not found");
                127
            }
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
    Lit { text: String, quoted: bool },
    Var { name: String, quoted: bool },
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

fn tokenize(script: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut tokens = Vec::new();
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
                if c == '<' {
                    tokens.push(Token::Redirect(0, RedirectKind::In));
                    i += 1;
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
                        '$' => {
                            let (seg, used) = variable(&chars[i..], true);
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
            '$' => {
                in_word = true;
                let (seg, used) = variable(&chars[i..], false);
                match seg {
                    Some(s) => word.0.push(s),
                    None => push_lit(&mut word, '$', false),
                }
                i += used;
            }
            '`' | '(' | ')' => {
                return Err(format!(
                    "unexpected \"{c}\" (subshells and substitutions are not supported)"
                ));
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

type Pipeline = Vec<SimpleCommand>;

fn parse(script: &str) -> Result<Vec<(Connector, Pipeline)>, String> {
    let tokens = tokenize(script)?;
    let mut list = Vec::new();
    let mut connector = Connector::Always;
    let mut pipeline: Pipeline = Vec::new();
    let mut cmd = SimpleCommand::default();
    let mut tokens = tokens.into_iter().peekable();
    let unexpected = |t: &str| format!("unexpected \"{t}\"");
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(w) => cmd.words.push(w),
            Token::Redirect(fd, RedirectKind::DupOut) => cmd.redirects.push(Redirect {
                fd,
                kind: RedirectKind::DupOut,
                target: Word::default(),
            }),
            Token::Redirect(fd, kind) => match tokens.next() {
                Some(Token::Word(target)) => cmd.redirects.push(Redirect { fd, kind, target }),
                _ => return Err("unexpected newline".to_string()),
            },
            Token::Pipe => {
                if cmd == SimpleCommand::default() {
                    return Err(unexpected("|"));
                }
                pipeline.push(std::mem::take(&mut cmd));
            }
            Token::And | Token::Or | Token::Sep => {
                let op = match token {
                    Token::And => "&&",
                    Token::Or => "||",
                    _ => ";",
                };
                if cmd == SimpleCommand::default() {
                    if !pipeline.is_empty() || op != ";" {
                        return Err(unexpected(op));
                    }
                } else {
                    pipeline.push(std::mem::take(&mut cmd));
                    list.push((connector, std::mem::take(&mut pipeline)));
                }
                connector = match token {
                    Token::And => Connector::And,
                    Token::Or => Connector::Or,
                    _ => Connector::Always,
                };
                if op != ";" && tokens.peek().is_none() {
                    return Err("unexpected end of file".to_string());
                }
            }
        }
    }
    if cmd != SimpleCommand::default() {
        pipeline.push(cmd);
    } else if !pipeline.is_empty() {
        return Err("unexpected end of file".to_string());
    }
    if !pipeline.is_empty() {
        list.push((connector, pipeline));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::fsroot::SandboxRoot;

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
        ] {
            let _ = sh(&mut f, script);
        }
    }
}
