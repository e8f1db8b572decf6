//! The client programs of the postgres image, run by the sandbox's mini
//! shell: `psql` (options, scripts, `-c`, heredocs, the aligned and
//! unaligned output formats, `\dt`, `\d`, `\l`, `\du`...) and `pg_isready`,
//! worded and exiting as the real ones. They talk to the emulated server
//! over the wire protocol, reaching it through the pod's network.

use std::io::Write as _;
use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use super::engine::SERVER_VERSION;
use super::sql::{self, SqlType};
use super::wire::{Client, ConnectError, ConnectOptions, Endpoint, Reply, ServerMessage};
use crate::{Dial, Network, PodChannel};

/// The socket directory compiled into the image's libpq.
pub const SOCKET_DIR: &str = "/var/run/postgresql";

/// What a client program gets from the shell that runs it.
pub struct ProgramEnv<'a> {
    /// An exported variable of the shell (PGHOST, PGPASSWORD...).
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// Reads a file of the container (`psql -f`).
    pub read_file: &'a dyn Fn(&str) -> std::io::Result<Vec<u8>>,
    pub network: Option<&'a dyn Network>,
}

/// Runs `program` if the postgres image has it; None otherwise.
pub fn run(
    program: &str,
    args: &[String],
    stdin: &[u8],
    env: &ProgramEnv<'_>,
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
) -> Option<i32> {
    Some(match program {
        "psql" => psql(args, stdin, env, out, err),
        "pg_isready" => pg_isready(args, env, out, err),
        "postgres" | "postmaster" | "initdb" | "pg_ctl" | "createdb" | "pg_dump" => {
            if args.iter().any(|a| a == "--version" || a == "-V") {
                let name = if program == "postmaster" {
                    "postgres"
                } else {
                    program
                };
                let _ = writeln!(out, "{name} (PostgreSQL) {SERVER_VERSION}");
                0
            } else if program == "postgres" || program == "postmaster" {
                let _ = writeln!(
                    err,
                    "\"root\" execution of the PostgreSQL server is not permitted.\nThe server must be started under an unprivileged user ID to prevent\npossible system security compromise.  See the documentation for\nmore information on how to properly start the server."
                );
                1
            } else {
                let _ = writeln!(
                    err,
                    "{program}: the kubetutor sandbox emulates psql and pg_isready only"
                );
                1
            }
        }
        _ => return None,
    })
}

/// Where to connect, from options and the libpq environment.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: Option<String>,
    pub port: u16,
    pub user: String,
    pub database: String,
    pub password: Option<String>,
}

impl Target {
    fn socket_path(&self) -> String {
        let dir = self
            .host
            .as_deref()
            .filter(|h| h.starts_with('/'))
            .unwrap_or(SOCKET_DIR);
        format!("{dir}/.s.PGSQL.{}", self.port)
    }

    /// "connection to server at ... failed: " with libpq's wording.
    fn describe(&self, ip: Option<&str>) -> String {
        match self.host.as_deref().filter(|h| !h.starts_with('/')) {
            None => format!(
                "connection to server on socket \"{}\" failed",
                self.socket_path()
            ),
            Some(h) => match ip {
                Some(ip) if ip != h => format!(
                    "connection to server at \"{h}\" ({ip}), port {} failed",
                    self.port
                ),
                _ => format!("connection to server at \"{h}\", port {} failed", self.port),
            },
        }
    }
}

/// Connects as libpq would; the error is libpq's message (without the
/// `psql: error: ` prefix).
pub fn connect(
    target: &Target,
    network: Option<&dyn Network>,
    app: &str,
    timeout: Duration,
) -> Result<Client, (String, ConnectFailure)> {
    let socket = target
        .host
        .as_deref()
        .is_none_or(|h| h.is_empty() || h.starts_with('/'));
    let (endpoint, ip) = match route(target, network, socket) {
        Route::Open(endpoint, ip) => (endpoint, ip),
        Route::NoSuchHost => {
            let h = target.host.clone().unwrap_or_default();
            return Err((
                format!("could not translate host name \"{h}\" to address: Name does not resolve"),
                ConnectFailure::NoResponse,
            ));
        }
        Route::Refused(ip) => {
            let msg = if socket {
                format!(
                    "{}: No such file or directory\n\tIs the server running locally and accepting connections on that socket?",
                    target.describe(None)
                )
            } else {
                format!(
                    "{}: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
                    target.describe(Some(&ip))
                )
            };
            return Err((msg, ConnectFailure::NoResponse));
        }
    };
    let opts = ConnectOptions {
        user: target.user.clone(),
        database: target.database.clone(),
        password: target.password.clone(),
        application_name: app.to_string(),
        timeout,
    };
    let where_ = target.describe(if socket { None } else { Some(&ip) });
    Client::connect(&endpoint, &opts).map_err(|e| match e {
        ConnectError::Io(io) => {
            let reason = match io.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    "timeout expired".to_string()
                }
                std::io::ErrorKind::ConnectionRefused => "Connection refused".to_string(),
                _ => "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.".to_string(),
            };
            (format!("{where_}: {reason}"), ConnectFailure::NoResponse)
        }
        ConnectError::Server(m) => {
            let failure = if m.code == "57P03" {
                ConnectFailure::Rejected
            } else {
                ConnectFailure::Answered
            };
            (format!("{where_}: {}:  {}", m.severity, m.message), failure)
        }
        ConnectError::NoPassword => (
            format!("{where_}: fe_sendauth: no password supplied"),
            ConnectFailure::Answered,
        ),
        ConnectError::Protocol(p) => (format!("{where_}: {p}"), ConnectFailure::NoResponse),
    })
}

/// Where a connection goes.
enum Route {
    /// The endpoint, and the address libpq would show.
    Open(Endpoint, String),
    NoSuchHost,
    Refused(String),
}

/// The socket directories of the image (`/var/run` links to `/run`).
const SOCKET_DIRS: &[&str] = &[SOCKET_DIR, "/run/postgresql"];

/// The pod's own channels for the socket and `localhost`, the pod's
/// network for anything else.
fn route(target: &Target, network: Option<&dyn Network>, socket: bool) -> Route {
    let Some(network) = network else {
        return Route::Refused("127.0.0.1".into());
    };
    let host = target.host.as_deref().unwrap_or("");
    if socket {
        let dir = if host.is_empty() { SOCKET_DIR } else { host };
        let known = SOCKET_DIRS.contains(&dir.trim_end_matches('/'));
        return match network.pod_channel(PodChannel::Socket(target.port)) {
            Some(path) if known => Route::Open(Endpoint::Socket(path), String::new()),
            _ => Route::Refused(String::new()),
        };
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if matches!(lower.as_str(), "localhost" | "127.0.0.1" | "::1")
        && let Some(path) = network.pod_channel(PodChannel::Loopback(target.port))
    {
        let ip = if lower == "::1" { "::1" } else { "127.0.0.1" };
        return Route::Open(Endpoint::Socket(path), ip.into());
    }
    match network.dial(host, target.port) {
        Dial::Open { addr, ip } => Route::Open(Endpoint::Tcp(addr), ip),
        Dial::NoSuchHost => Route::NoSuchHost,
        Dial::Refused { ip } => Route::Refused(ip),
    }
}

/// How a failed connection counts for `pg_isready` (and PostgREST, which
/// gives up on a refused login but retries an unreachable server).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConnectFailure {
    NoResponse,
    Rejected,
    /// The server answered (asked for a password, refused a role): it accepts connections.
    Answered,
}

/// A getopt-style reader of short and long options.
struct Opts<'a> {
    args: &'a [String],
    i: usize,
    /// Remaining letters of a cluster like `-tAc`.
    cluster: Vec<char>,
}

enum Opt {
    Short(char, Option<String>),
    Long(String, Option<String>),
    Positional(String),
    Missing(String),
}

impl<'a> Opts<'a> {
    fn new(args: &'a [String]) -> Self {
        Self {
            args,
            i: 0,
            cluster: Vec::new(),
        }
    }

    fn next(&mut self, with_value: &str, long_with_value: &[&str]) -> Option<Opt> {
        if let Some(c) = (!self.cluster.is_empty()).then(|| self.cluster.remove(0)) {
            return Some(self.short(c, with_value));
        }
        let a = self.args.get(self.i)?.clone();
        self.i += 1;
        if let Some(long) = a.strip_prefix("--") {
            if long.is_empty() {
                return self.args.get(self.i).map(|p| {
                    self.i += 1;
                    Opt::Positional(p.clone())
                });
            }
            return Some(match long.split_once('=') {
                Some((k, v)) => Opt::Long(k.to_string(), Some(v.to_string())),
                None if long_with_value.contains(&long) => match self.args.get(self.i) {
                    Some(v) => {
                        self.i += 1;
                        Opt::Long(long.to_string(), Some(v.clone()))
                    }
                    None => Opt::Missing(format!("--{long}")),
                },
                None => Opt::Long(long.to_string(), None),
            });
        }
        if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            self.cluster = shorts.chars().collect();
            let c = self.cluster.remove(0);
            return Some(self.short(c, with_value));
        }
        Some(Opt::Positional(a))
    }

    fn short(&mut self, c: char, with_value: &str) -> Opt {
        if !with_value.contains(c) {
            return Opt::Short(c, None);
        }
        if !self.cluster.is_empty() {
            let v: String = self.cluster.drain(..).collect();
            return Opt::Short(c, Some(v));
        }
        match self.args.get(self.i) {
            Some(v) => {
                self.i += 1;
                Opt::Short(c, Some(v.clone()))
            }
            None => Opt::Missing(format!("-{c}")),
        }
    }
}

/// One thing psql runs, in command-line order.
enum Action {
    Command(String),
    File(String),
}

#[derive(Default)]
struct Format {
    tuples_only: bool,
    unaligned: bool,
    expanded: bool,
    quiet: bool,
    echo_queries: bool,
}

struct Psql {
    client: Client,
    fmt: Format,
    on_error_stop: bool,
    out: Vec<u8>,
    err: Vec<u8>,
    target: Target,
}

fn psql(
    args: &[String],
    stdin: &[u8],
    env: &ProgramEnv<'_>,
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
) -> i32 {
    let (mut p, actions) = match open(args, env, out, err) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let code = if actions.is_empty() {
        let script = String::from_utf8_lossy(stdin).into_owned();
        p.script(&script, None)
    } else {
        let mut code = 0;
        for a in actions {
            code = match a {
                Action::Command(c) => p.command(&c),
                Action::File(f) => match (env.read_file)(&f) {
                    Ok(bytes) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        p.script(&text, Some(&f))
                    }
                    Err(e) => {
                        let reason = match e.kind() {
                            std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
                            std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
                            _ => e.to_string(),
                        };
                        let _ = writeln!(p.err, "psql: error: {f}: {reason}");
                        1
                    }
                },
            };
            if code != 0 {
                break;
            }
        }
        code
    };
    out.append(&mut p.out);
    err.append(&mut p.err);
    p.client.close();
    code
}

/// Reads psql's options and connects: the session and what to run, or
/// the exit code (after printing why, or the version).
fn open(
    args: &[String],
    env: &ProgramEnv<'_>,
    out: &mut Vec<u8>,
    err: &mut Vec<u8>,
) -> Result<(Psql, Vec<Action>), i32> {
    let mut actions = Vec::new();
    let mut fmt = Format::default();
    let mut on_error_stop = false;
    let mut host = None;
    let mut port = None;
    let mut user = None;
    let mut database = None;
    let mut positional = Vec::new();
    let mut opts = Opts::new(args);
    let long_values = [
        "command", "dbname", "file", "host", "port", "username", "set", "variable", "output",
        "pset",
    ];
    while let Some(o) = opts.next("cdfhpUvoPF", &long_values) {
        match o {
            Opt::Short('c', Some(v)) => actions.push(Action::Command(v)),
            Opt::Long(k, Some(v)) if k == "command" => actions.push(Action::Command(v)),
            Opt::Short('f', Some(v)) => actions.push(Action::File(v)),
            Opt::Long(k, Some(v)) if k == "file" => actions.push(Action::File(v)),
            Opt::Short('d', Some(v)) => database = Some(v),
            Opt::Long(k, Some(v)) if k == "dbname" => database = Some(v),
            Opt::Short('h', Some(v)) => host = Some(v),
            Opt::Long(k, Some(v)) if k == "host" => host = Some(v),
            Opt::Short('p', Some(v)) => port = Some(v),
            Opt::Long(k, Some(v)) if k == "port" => port = Some(v),
            Opt::Short('U', Some(v)) => user = Some(v),
            Opt::Long(k, Some(v)) if k == "username" => user = Some(v),
            Opt::Short('v', Some(v)) => set_variable(&v, &mut on_error_stop),
            Opt::Long(k, Some(v)) if k == "set" || k == "variable" => {
                set_variable(&v, &mut on_error_stop)
            }
            Opt::Short('t', None) => fmt.tuples_only = true,
            Opt::Long(k, None) if k == "tuples-only" => fmt.tuples_only = true,
            Opt::Short('A', None) => fmt.unaligned = true,
            Opt::Long(k, None) if k == "no-align" => fmt.unaligned = true,
            Opt::Short('x', None) => fmt.expanded = true,
            Opt::Long(k, None) if k == "expanded" => fmt.expanded = true,
            Opt::Short('q', None) => fmt.quiet = true,
            Opt::Long(k, None) if k == "quiet" => fmt.quiet = true,
            Opt::Short('e' | 'a', None) => fmt.echo_queries = true,
            Opt::Short('V', None) => {
                let _ = writeln!(out, "psql (PostgreSQL) {SERVER_VERSION}");
                return Err(0);
            }
            Opt::Long(k, None) if k == "version" => {
                let _ = writeln!(out, "psql (PostgreSQL) {SERVER_VERSION}");
                return Err(0);
            }
            Opt::Short('X' | 'w' | 'W' | 'n' | '1' | 'b' | 'E' | 's' | 'S' | 'L', _) => {}
            Opt::Long(k, _)
                if matches!(
                    k.as_str(),
                    "no-psqlrc"
                        | "no-password"
                        | "password"
                        | "single-transaction"
                        | "echo-errors"
                        | "no-readline"
                        | "csv"
                        | "echo-all"
                        | "echo-queries"
                ) => {}
            Opt::Short('o' | 'P' | 'F', _) => {}
            Opt::Long(k, Some(_)) if matches!(k.as_str(), "output" | "pset") => {}
            Opt::Positional(p) => positional.push(p),
            Opt::Missing(o) => {
                let _ = writeln!(
                    err,
                    "psql: option requires an argument -- '{}'",
                    o.trim_start_matches('-')
                );
                let _ = writeln!(err, "psql: hint: Try \"psql --help\" for more information.");
                return Err(1);
            }
            Opt::Short(c, _) => {
                let _ = writeln!(err, "psql: invalid option -- '{c}'");
                let _ = writeln!(err, "psql: hint: Try \"psql --help\" for more information.");
                return Err(1);
            }
            Opt::Long(k, _) => {
                let _ = writeln!(err, "psql: unrecognized option '--{k}'");
                let _ = writeln!(err, "psql: hint: Try \"psql --help\" for more information.");
                return Err(1);
            }
        }
    }
    let mut positional = positional.into_iter();
    if database.is_none() {
        database = positional.next();
    }
    if user.is_none() {
        user = positional.next();
    }
    if let Some(extra) = positional.next() {
        let _ = writeln!(
            err,
            "psql: warning: extra command-line argument \"{extra}\" ignored"
        );
    }
    let var = |k: &str| (env.var)(k).filter(|v| !v.is_empty());
    let user = user
        .or_else(|| var("PGUSER"))
        .unwrap_or_else(|| "root".to_string());
    let port_text = port
        .or_else(|| var("PGPORT"))
        .unwrap_or_else(|| "5432".into());
    let Ok(port) = port_text.parse::<u16>() else {
        let _ = writeln!(
            err,
            "psql: error: invalid integer value \"{port_text}\" for connection option \"port\""
        );
        return Err(2);
    };
    let target = Target {
        host: host.or_else(|| var("PGHOST")).filter(|h| !h.is_empty()),
        port,
        database: database
            .or_else(|| var("PGDATABASE"))
            .unwrap_or_else(|| user.clone()),
        user,
        password: var("PGPASSWORD"),
    };
    let client = match connect(&target, env.network, "psql", Duration::from_secs(10)) {
        Ok(c) => c,
        Err((msg, _)) => {
            let _ = writeln!(err, "psql: error: {msg}");
            return Err(2);
        }
    };
    Ok((
        Psql {
            client,
            fmt,
            on_error_stop,
            out: Vec::new(),
            err: Vec::new(),
            target,
        },
        actions,
    ))
}

/// `psql` with a terminal (`kubectl exec -it ... -- psql`): a prompt, lines
/// gathered until a statement ends with `;`, backslash commands, `\q`.
pub struct PsqlSession {
    psql: Psql,
    buffer: String,
    superuser: bool,
}

/// What one typed line produced.
pub struct SessionLine {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub quit: bool,
    pub prompt: String,
}

impl PsqlSession {
    /// Connects as `psql ARGS` would; Err is what psql printed and its code.
    pub fn start(
        args: &[String],
        env: &ProgramEnv<'_>,
    ) -> Result<PsqlSession, (Vec<u8>, Vec<u8>, i32)> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        match open(args, env, &mut out, &mut err) {
            Ok((psql, _)) => {
                let superuser = psql
                    .client
                    .parameters
                    .get("is_superuser")
                    .map(String::as_str)
                    == Some("on");
                Ok(PsqlSession {
                    psql,
                    buffer: String::new(),
                    superuser,
                })
            }
            Err(code) => Err((out, err, code)),
        }
    }

    /// The banner and the first prompt.
    pub fn greeting(&self) -> String {
        format!(
            "psql ({SERVER_VERSION})\nType \"help\" for help.\n\n{}",
            self.prompt()
        )
    }

    pub fn prompt(&self) -> String {
        let mark = if self.superuser { '#' } else { '>' };
        let state = if self.buffer.trim().is_empty() {
            '='
        } else {
            '-'
        };
        format!("{}{state}{mark} ", self.psql.target.database)
    }

    pub fn line(&mut self, line: &str) -> SessionLine {
        let mut quit = false;
        let trimmed = line.trim();
        if self.buffer.trim().is_empty() && trimmed.starts_with('\\') {
            if let Meta::Quit = self.psql.meta(trimmed, None) {
                quit = true;
            }
        } else if self.buffer.trim().is_empty() && matches!(trimmed, "help" | "quit" | "exit") {
            if trimmed == "help" {
                let _ = writeln!(
                    self.psql.out,
                    "You are using psql, the command-line interface to PostgreSQL.\nType:  \\copyright for distribution terms\n       \\h for help with SQL commands\n       \\? for help with psql commands\n       \\g or terminate with semicolon to execute query\n       \\q to quit"
                );
            } else {
                quit = true;
            }
        } else {
            self.buffer.push_str(line);
            self.buffer.push('\n');
            if ends_statement(&self.buffer) {
                let text = std::mem::take(&mut self.buffer);
                for (stmt, _) in sql::split_statements(&text) {
                    match self.psql.client.simple_query(&stmt) {
                        Ok(replies) => {
                            self.psql.print_replies(&replies, &stmt, None);
                        }
                        Err(e) => {
                            let _ = writeln!(
                                self.psql.err,
                                "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\nThe connection to the server was lost. ({e})"
                            );
                            quit = true;
                            break;
                        }
                    }
                }
            }
        }
        SessionLine {
            stdout: std::mem::take(&mut self.psql.out),
            stderr: std::mem::take(&mut self.psql.err),
            quit,
            prompt: self.prompt(),
        }
    }
}

fn set_variable(assignment: &str, on_error_stop: &mut bool) {
    let (name, value) = assignment.split_once('=').unwrap_or((assignment, "on"));
    if name.eq_ignore_ascii_case("ON_ERROR_STOP") {
        *on_error_stop = !matches!(
            value.to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        );
    }
}

impl Psql {
    /// `-c`: one query string (all its statements), no prefixes; 1 on error.
    fn command(&mut self, text: &str) -> i32 {
        let trimmed = text.trim_start();
        if trimmed.starts_with('\\') {
            return match self.meta(trimmed, None) {
                Meta::Ok => 0,
                Meta::Quit => 0,
                Meta::Failed => 1,
            };
        }
        match self.client.simple_query(text) {
            Ok(replies) => {
                if self.print_replies(&replies, text, None) {
                    1
                } else {
                    0
                }
            }
            Err(e) => {
                self.lost(&e);
                2
            }
        }
    }

    fn lost(&mut self, e: &std::io::Error) {
        let _ = writeln!(self.err, "psql: error: {e}");
    }

    /// A script (stdin, a heredoc, `-f FILE`): statements one by one.
    fn script(&mut self, text: &str, file: Option<&str>) -> i32 {
        let mut buffer = String::new();
        let mut buffer_start_line = 1;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut line_no = 0;
        let mut pending: Vec<(String, usize)> = Vec::new();
        for line in &lines {
            line_no += 1;
            if buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
                pending.push((line.trim().to_string(), line_no));
                continue;
            }
            if buffer.trim().is_empty() {
                buffer_start_line = line_no;
            }
            buffer.push_str(line);
            let parts = sql::split_statements(&buffer);
            // A statement is complete when the buffer ends with its `;`.
            if ends_statement(&buffer) {
                for (stmt, _) in parts {
                    pending.push((stmt, line_no));
                }
                buffer.clear();
            }
        }
        if !buffer.trim().is_empty() {
            for (stmt, _) in sql::split_statements(&buffer) {
                pending.push((stmt, line_no.max(buffer_start_line)));
            }
        }
        for (stmt, line) in pending {
            let location = file.map(|f| (f, line));
            let failed = if stmt.starts_with('\\') {
                match self.meta(&stmt, location) {
                    Meta::Quit => return 0,
                    Meta::Failed => true,
                    Meta::Ok => false,
                }
            } else {
                if self.fmt.echo_queries {
                    let _ = writeln!(self.out, "{};", stmt.trim());
                }
                match self.client.simple_query(&stmt) {
                    Ok(replies) => self.print_replies(&replies, &stmt, location),
                    Err(e) => {
                        self.lost(&e);
                        return 2;
                    }
                }
            };
            if failed && self.on_error_stop {
                return 3;
            }
        }
        0
    }

    /// Prints what the server answered; true when it reported an error.
    fn print_replies(
        &mut self,
        replies: &[Reply],
        statement: &str,
        location: Option<(&str, usize)>,
    ) -> bool {
        let mut failed = false;
        for r in replies {
            match r {
                Reply::Rows { columns, rows, tag } => {
                    self.print_table(None, columns, rows);
                    if !tag.starts_with("SELECT") && !tag.starts_with("SHOW") && !self.fmt.quiet {
                        let _ = writeln!(self.out, "{tag}");
                    }
                }
                Reply::Command(tag) => {
                    if !self.fmt.quiet {
                        let _ = writeln!(self.out, "{tag}");
                    }
                }
                Reply::Notice(m) => self.message(m, None, location),
                Reply::Error(m) => {
                    failed = true;
                    self.message(m, Some(statement), location);
                }
                Reply::Empty => {}
            }
        }
        failed
    }

    /// A notice or error as libpq renders it (severity, LINE/caret, DETAIL, HINT).
    fn message(
        &mut self,
        m: &ServerMessage,
        statement: Option<&str>,
        location: Option<(&str, usize)>,
    ) {
        let prefix = match location {
            Some((f, line)) => format!("psql:{f}:{line}: "),
            None => String::new(),
        };
        let _ = writeln!(self.err, "{prefix}{}:  {}", m.severity, m.message);
        if let (Some(pos), Some(stmt)) = (m.position, statement) {
            let (line_no, line, col) = locate(stmt.trim_start_matches(['\n', '\r']), pos);
            let label = format!("LINE {line_no}: ");
            let _ = writeln!(self.err, "{label}{line}");
            let _ = writeln!(self.err, "{}^", " ".repeat(label.len() + col));
        }
        if let Some(d) = &m.detail {
            let _ = writeln!(self.err, "DETAIL:  {d}");
        }
        if let Some(h) = &m.hint {
            let _ = writeln!(self.err, "HINT:  {h}");
        }
    }

    fn print_table(
        &mut self,
        title: Option<&str>,
        columns: &[(String, u32)],
        rows: &[Vec<Option<String>>],
    ) {
        let text = render_table(title, columns, rows, &self.fmt);
        self.out.extend_from_slice(text.as_bytes());
    }

    fn query_rows(&mut self, sql: &str) -> Result<(Columns, Rows), String> {
        match self.client.simple_query(sql) {
            Ok(replies) => {
                for r in replies {
                    match r {
                        Reply::Rows { columns, rows, .. } => return Ok((columns, rows)),
                        Reply::Error(m) => return Err(m.message),
                        _ => {}
                    }
                }
                Ok((Vec::new(), Vec::new()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// A backslash command: one arm per command, each in a function of
    /// its own when it does more than print a line.
    fn meta(&mut self, line: &str, location: Option<(&str, usize)>) -> Meta {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next().map(|a| a.trim_matches('"').to_string());
        let prefix = location
            .map(|(f, l)| format!("psql:{f}:{l}: "))
            .unwrap_or_default();
        match cmd {
            "\\q" | "\\quit" => Meta::Quit,
            "\\echo" => {
                let rest = line.trim_start_matches("\\echo").trim();
                let _ = writeln!(self.out, "{}", rest.trim_matches('\''));
                Meta::Ok
            }
            "\\set" => {
                if let Some(name) = &arg {
                    let value = words.next().unwrap_or("on");
                    set_variable(&format!("{name}={value}"), &mut self.on_error_stop);
                }
                Meta::Ok
            }
            "\\conninfo" => self.conninfo(),
            "\\dt" | "\\d" | "\\dt+" | "\\d+" if arg.is_none() || cmd.starts_with("\\dt") => {
                self.list_relations(arg.as_deref(), &prefix)
            }
            "\\d" | "\\d+" => match arg {
                Some(name) => self.describe_table(&name, &prefix),
                None => Meta::Ok,
            },
            "\\l" | "\\list" | "\\l+" => self.list_databases(&prefix),
            "\\du" | "\\dg" | "\\du+" => self.list_roles(&prefix),
            "\\x" => {
                self.fmt.expanded = !self.fmt.expanded;
                let _ = writeln!(
                    self.out,
                    "Expanded display is {}.",
                    if self.fmt.expanded { "on" } else { "off" }
                );
                Meta::Ok
            }
            "\\?" | "\\h" | "\\help" => {
                let _ = writeln!(
                    self.out,
                    "The kubetutor sandbox's psql knows \\q, \\dt, \\d TABLE, \\l, \\du, \\conninfo, \\x, \\echo and \\set."
                );
                Meta::Ok
            }
            other => {
                let _ = writeln!(self.err, "{prefix}invalid command {other}");
                let _ = writeln!(self.err, "Try \\? for help.");
                Meta::Failed
            }
        }
    }

    /// The rows of a catalog query, or the error printed as psql does.
    fn catalog_rows(&mut self, sql: &str, prefix: &str) -> Option<Rows> {
        match self.query_rows(sql) {
            Ok((_, rows)) => Some(rows),
            Err(e) => {
                let _ = writeln!(self.err, "{prefix}ERROR:  {e}");
                None
            }
        }
    }

    /// `\conninfo`.
    fn conninfo(&mut self) -> Meta {
        let where_ = match self.target.host.as_deref().filter(|h| !h.starts_with('/')) {
            Some(h) => format!("on host \"{h}\""),
            None => format!("via socket in \"{SOCKET_DIR}\""),
        };
        let _ = writeln!(
            self.out,
            "You are connected to database \"{}\" as user \"{}\" {where_} at port \"{}\".",
            self.target.database, self.target.user, self.target.port
        );
        Meta::Ok
    }

    /// `\dt` (or `\d` without a name): the tables, or one of them.
    fn list_relations(&mut self, name: Option<&str>, prefix: &str) -> Meta {
        let Some(rows) = self.catalog_rows(
            "SELECT schemaname, tablename, tableowner FROM pg_catalog.pg_tables ORDER BY 1, 2",
            prefix,
        ) else {
            return Meta::Failed;
        };
        if rows.is_empty() {
            let _ = writeln!(self.err, "{prefix}Did not find any relations.");
            return Meta::Ok;
        }
        let rows: Rows = rows
            .into_iter()
            .filter(|r| name.is_none_or(|a| r.get(1).cloned().flatten().as_deref() == Some(a)))
            .map(|r| {
                vec![
                    r[0].clone(),
                    r[1].clone(),
                    Some("table".to_string()),
                    r[2].clone(),
                ]
            })
            .collect();
        let cols = name_cols(&["Schema", "Name", "Type", "Owner"]);
        self.print_table(Some("List of relations"), &cols, &rows);
        Meta::Ok
    }

    /// `\d TABLE`: its columns, then its indexes.
    fn describe_table(&mut self, name: &str, prefix: &str) -> Meta {
        let table = name.rsplit('.').next().unwrap_or(name).to_string();
        let q = format!(
            "SELECT column_name, data_type, is_nullable, column_default, table_schema FROM information_schema.columns WHERE table_name = '{}' ORDER BY ordinal_position",
            table.replace('\'', "''")
        );
        let Some(rows) = self.catalog_rows(&q, prefix) else {
            return Meta::Failed;
        };
        if rows.is_empty() {
            let _ = writeln!(
                self.err,
                "{prefix}Did not find any relation named \"{name}\"."
            );
            return Meta::Failed;
        }
        let schema = rows[0][4].clone().unwrap_or_else(|| "public".into());
        let out_rows: Rows = rows
            .iter()
            .map(|r| {
                let nullable = if r[2].as_deref() == Some("NO") {
                    "not null"
                } else {
                    ""
                };
                vec![
                    r[0].clone(),
                    r[1].clone(),
                    Some(String::new()),
                    Some(nullable.to_string()),
                    Some(r[3].clone().unwrap_or_default()),
                ]
            })
            .collect();
        let cols = name_cols(&["Column", "Type", "Collation", "Nullable", "Default"]);
        let title = format!("Table \"{schema}.{table}\"");
        let fmt = Format {
            tuples_only: self.fmt.tuples_only,
            unaligned: self.fmt.unaligned,
            ..Format::default()
        };
        let mut text = render_table_opts(Some(&title), &cols, &out_rows, &fmt, false);
        text.push_str(&self.index_lines(&table));
        text.push('\n');
        self.out.extend_from_slice(text.as_bytes());
        Meta::Ok
    }

    /// The "Indexes:" footer of `\d TABLE`.
    fn index_lines(&mut self, table: &str) -> String {
        let q = format!(
            "SELECT indexname, indexdef FROM pg_catalog.pg_indexes WHERE tablename = '{}'",
            table.replace('\'', "''")
        );
        let Ok((_, idx)) = self.query_rows(&q) else {
            return String::new();
        };
        if idx.is_empty() {
            return String::new();
        }
        let mut text = String::from("Indexes:\n");
        for r in idx {
            let name = r[0].clone().unwrap_or_default();
            let def = r[1].clone().unwrap_or_default();
            let cols = def.rsplit_once("btree ").map_or("", |(_, c)| c);
            let kind = if name.ends_with("_pkey") {
                "PRIMARY KEY"
            } else {
                "UNIQUE CONSTRAINT"
            };
            text.push_str(&format!("    \"{name}\" {kind}, btree {cols}\n"));
        }
        text
    }

    /// `\l`.
    fn list_databases(&mut self, prefix: &str) -> Meta {
        let Some(rows) = self.catalog_rows(
            "SELECT datname, owner FROM pg_catalog.pg_database ORDER BY 1",
            prefix,
        ) else {
            return Meta::Failed;
        };
        let text = |s: &str| Some(s.to_string());
        let rows: Rows = rows
            .into_iter()
            .map(|r| {
                vec![
                    r[0].clone(),
                    r[1].clone(),
                    text("UTF8"),
                    text("libc"),
                    text("en_US.utf8"),
                    text("en_US.utf8"),
                    text(""),
                    text(""),
                    text(""),
                ]
            })
            .collect();
        let cols = name_cols(&[
            "Name",
            "Owner",
            "Encoding",
            "Locale Provider",
            "Collate",
            "Ctype",
            "ICU Locale",
            "ICU Rules",
            "Access privileges",
        ]);
        self.print_table(Some("List of databases"), &cols, &rows);
        Meta::Ok
    }

    /// `\du`.
    fn list_roles(&mut self, prefix: &str) -> Meta {
        let Some(rows) = self.catalog_rows(
            "SELECT rolname, rolsuper, rolcanlogin FROM pg_catalog.pg_roles ORDER BY 1",
            prefix,
        ) else {
            return Meta::Failed;
        };
        let rows: Rows = rows
            .into_iter()
            .map(|r| {
                let attrs = if r[1].as_deref() == Some("t") {
                    "Superuser, Create role, Create DB, Replication, Bypass RLS"
                } else if r[2].as_deref() == Some("f") {
                    "Cannot login"
                } else {
                    ""
                };
                vec![r[0].clone(), Some(attrs.to_string())]
            })
            .collect();
        let cols = name_cols(&["Role name", "Attributes"]);
        self.print_table(Some("List of roles"), &cols, &rows);
        Meta::Ok
    }
}

/// A result's columns (name, type OID) and its rows of text cells.
type Columns = Vec<(String, u32)>;
type Rows = Vec<Vec<Option<String>>>;

enum Meta {
    Ok,
    Quit,
    Failed,
}

fn name_cols(names: &[&str]) -> Vec<(String, u32)> {
    names
        .iter()
        .map(|n| (n.to_string(), SqlType::Text.oid()))
        .collect()
}

/// Whether a script buffer ends right after a complete statement's `;`.
fn ends_statement(buffer: &str) -> bool {
    let trimmed = buffer.trim_end();
    if !trimmed.ends_with(';') {
        return false;
    }
    // The `;` must be outside quotes: the last statement split must not
    // swallow it.
    let mut probe = trimmed.to_string();
    probe.push_str(" SELECT");
    let parts = sql::split_statements(&probe);
    parts
        .last()
        .is_some_and(|(text, _)| text.trim() == "SELECT")
}

/// The line (1-based), its text, and the column (0-based display width)
/// of character position `pos` (1-based) in `stmt`.
fn locate(stmt: &str, pos: usize) -> (usize, String, usize) {
    let mut line_no = 1;
    let mut line_start = 0;
    let chars: Vec<char> = stmt.chars().collect();
    let target = pos.saturating_sub(1).min(chars.len());
    for (i, c) in chars.iter().enumerate().take(target) {
        if *c == '\n' {
            line_no += 1;
            line_start = i + 1;
        }
    }
    let line: String = chars[line_start..]
        .iter()
        .take_while(|c| **c != '\n')
        .collect();
    let col: String = chars[line_start..target].iter().collect();
    (
        line_no,
        line.trim_end().to_string(),
        UnicodeWidthStr::width(col.as_str()),
    )
}

/// Right-aligned types (psql's `column_type_alignment`).
fn right_aligned(oid: u32) -> bool {
    matches!(
        oid,
        20 | 21 | 23 | 26 | 700 | 701 | 1700 | 28 | 29 | 790 | 5069
    )
}

fn render_table(
    title: Option<&str>,
    columns: &[(String, u32)],
    rows: &[Vec<Option<String>>],
    fmt: &Format,
) -> String {
    render_table_opts(title, columns, rows, fmt, true)
}

/// psql's aligned (border 1), unaligned and expanded formats.
fn render_table_opts(
    title: Option<&str>,
    columns: &[(String, u32)],
    rows: &[Vec<Option<String>>],
    fmt: &Format,
    footer: bool,
) -> String {
    let cell = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let mut s = String::new();
    if fmt.unaligned {
        if !fmt.tuples_only {
            if let Some(t) = title {
                s.push_str(t);
                s.push('\n');
            }
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            s.push_str(&names.join("|"));
            s.push('\n');
        }
        for r in rows {
            let cells: Vec<String> = (0..columns.len()).map(|i| cell(r, i)).collect();
            s.push_str(&cells.join("|"));
            s.push('\n');
        }
        if !fmt.tuples_only && footer {
            s.push_str(&rows_footer(rows.len()));
            s.push('\n');
        }
        return s;
    }
    if fmt.expanded {
        let width = columns.iter().map(|(n, _)| n.width()).max().unwrap_or(0);
        if rows.is_empty() && !fmt.tuples_only {
            s.push_str("(0 rows)\n\n");
            return s;
        }
        for (k, r) in rows.iter().enumerate() {
            let values: Vec<String> = (0..columns.len()).map(|i| cell(r, i)).collect();
            let vwidth = values.iter().map(|v| v.width()).max().unwrap_or(0);
            if !fmt.tuples_only {
                let head = format!("-[ RECORD {} ]", k + 1);
                let total = width + 3 + vwidth;
                let dashes = total.saturating_sub(head.width() + 1);
                let split = width + 1;
                let mut line = head.clone();
                if head.width() < split {
                    line.push_str(&"-".repeat(split - head.width()));
                    line.push('+');
                    line.push_str(&"-".repeat(vwidth + 1));
                } else {
                    line.push_str(&"-".repeat(dashes));
                }
                s.push_str(&line);
                s.push('\n');
            }
            for (i, (name, _)) in columns.iter().enumerate() {
                let pad = width - name.width();
                s.push_str(&format!("{name}{} | {}\n", " ".repeat(pad), values[i]));
            }
        }
        s.push('\n');
        return s;
    }
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|(n, _)| if fmt.tuples_only { 0 } else { n.width() })
        .collect();
    for r in rows {
        for (i, w) in widths.iter_mut().enumerate() {
            *w = (*w).max(cell(r, i).width());
        }
    }
    let total: usize = widths
        .iter()
        .map(|w| w + 3)
        .sum::<usize>()
        .saturating_sub(1);
    if !fmt.tuples_only {
        if let Some(t) = title {
            let pad = total.saturating_sub(t.width()) / 2;
            s.push_str(&" ".repeat(pad));
            s.push_str(t);
            s.push('\n');
        }
        let mut head = String::new();
        for (i, (name, _)) in columns.iter().enumerate() {
            if i > 0 {
                head.push('|');
            }
            let space = widths[i] - name.width();
            head.push(' ');
            head.push_str(&" ".repeat(space / 2));
            head.push_str(name);
            head.push_str(&" ".repeat(space.div_ceil(2)));
            head.push(' ');
        }
        s.push_str(&head);
        s.push('\n');
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        s.push('-');
        s.push_str(&dashes.join("-+-"));
        s.push('-');
        s.push('\n');
    }
    for r in rows {
        let mut line = String::new();
        for (i, (_, oid)) in columns.iter().enumerate() {
            if i > 0 {
                line.push_str(" |");
            }
            let v = cell(r, i);
            let pad = widths[i] - v.width();
            line.push(' ');
            if right_aligned(*oid) {
                line.push_str(&" ".repeat(pad));
                line.push_str(&v);
            } else {
                line.push_str(&v);
                if i + 1 < columns.len() {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        s.push_str(&line);
        s.push('\n');
    }
    if !fmt.tuples_only && footer {
        s.push_str(&rows_footer(rows.len()));
        s.push('\n');
    }
    if footer {
        s.push('\n');
    }
    s
}

fn rows_footer(n: usize) -> String {
    if n == 1 {
        "(1 row)".to_string()
    } else {
        format!("({n} rows)")
    }
}

fn pg_isready(args: &[String], env: &ProgramEnv<'_>, out: &mut Vec<u8>, err: &mut Vec<u8>) -> i32 {
    let mut host = None;
    let mut port = None;
    let mut user = None;
    let mut database = None;
    let mut quiet = false;
    let mut timeout = 3u64;
    let mut opts = Opts::new(args);
    let long_values = ["host", "port", "username", "dbname", "timeout"];
    while let Some(o) = opts.next("hpUdt", &long_values) {
        match o {
            Opt::Short('h', Some(v)) => host = Some(v),
            Opt::Long(k, Some(v)) if k == "host" => host = Some(v),
            Opt::Short('p', Some(v)) => port = Some(v),
            Opt::Long(k, Some(v)) if k == "port" => port = Some(v),
            Opt::Short('U', Some(v)) => user = Some(v),
            Opt::Long(k, Some(v)) if k == "username" => user = Some(v),
            Opt::Short('d', Some(v)) => database = Some(v),
            Opt::Long(k, Some(v)) if k == "dbname" => database = Some(v),
            Opt::Short('t', Some(v)) | Opt::Long(_, Some(v)) => timeout = v.parse().unwrap_or(3),
            Opt::Short('q', None) => quiet = true,
            Opt::Long(k, None) if k == "quiet" => quiet = true,
            Opt::Short('V', None) => {
                let _ = writeln!(out, "pg_isready (PostgreSQL) {SERVER_VERSION}");
                return 0;
            }
            Opt::Positional(p) => {
                let _ = writeln!(
                    err,
                    "pg_isready: error: too many command-line arguments (first is \"{p}\")"
                );
                let _ = writeln!(
                    err,
                    "pg_isready: hint: Try \"pg_isready --help\" for more information."
                );
                return 3;
            }
            _ => {
                let _ = writeln!(
                    err,
                    "pg_isready: hint: Try \"pg_isready --help\" for more information."
                );
                return 3;
            }
        }
    }
    let var = |k: &str| (env.var)(k).filter(|v| !v.is_empty());
    let host = host.or_else(|| var("PGHOST"));
    let port_text = port
        .or_else(|| var("PGPORT"))
        .unwrap_or_else(|| "5432".into());
    let port_num = port_text.parse::<u16>().unwrap_or(5432);
    let user = user
        .or_else(|| var("PGUSER"))
        .unwrap_or_else(|| "root".into());
    let target = Target {
        host: host.clone(),
        port: port_num,
        database: database
            .or_else(|| var("PGDATABASE"))
            .unwrap_or_else(|| user.clone()),
        user,
        // pg_isready never sends a password: being asked for one means "up".
        password: None,
    };
    let shown_host = host.unwrap_or_else(|| SOCKET_DIR.to_string());
    let (code, word) = match connect(
        &target,
        env.network,
        "pg_isready",
        Duration::from_secs(timeout.max(1)),
    ) {
        Ok(c) => {
            c.close();
            (0, "accepting connections")
        }
        Err((_, ConnectFailure::Answered)) => (0, "accepting connections"),
        Err((_, ConnectFailure::Rejected)) => (1, "rejecting connections"),
        Err((_, ConnectFailure::NoResponse)) => (2, "no response"),
    };
    if !quiet {
        let _ = writeln!(out, "{shown_host}:{port_text} - {word}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(spec: &[(&str, SqlType)]) -> Vec<(String, u32)> {
        spec.iter().map(|(n, t)| (n.to_string(), t.oid())).collect()
    }

    #[test]
    fn aligned_table_matches_psql() {
        let c = cols(&[
            ("id", SqlType::Int4),
            ("name", SqlType::Text),
            ("email", SqlType::Text),
        ]);
        let rows = vec![
            vec![
                Some("1".into()),
                Some("Alice".into()),
                Some("alice@example.com".into()),
            ],
            vec![Some("2".into()), Some("Bob".into()), None],
        ];
        let t = render_table(None, &c, &rows, &Format::default());
        assert_eq!(
            t,
            " id | name  |       email       \n----+-------+-------------------\n  1 | Alice | alice@example.com\n  2 | Bob   | \n(2 rows)\n\n"
        );
        let empty = render_table(None, &c[..2], &[], &Format::default());
        assert_eq!(empty, " id | name \n----+------\n(0 rows)\n\n");
        let fmt = Format {
            tuples_only: true,
            unaligned: true,
            ..Format::default()
        };
        assert_eq!(render_table(None, &c[..1], &rows, &fmt), "1\n2\n");
    }

    #[test]
    fn statement_ends_and_error_positions() {
        assert!(ends_statement("select 1;\n"));
        assert!(!ends_statement("select ';\n"));
        assert!(!ends_statement("DO $$ begin;\n"));
        assert_eq!(
            locate("SELECT * FROM customer", 15),
            (1, "SELECT * FROM customer".into(), 14)
        );
        assert_eq!(locate("select\n  nope", 10).0, 2);
    }

    #[test]
    fn options_like_getopt() {
        let args: Vec<String> = ["-tAc", "select 1", "-Upostgres", "--dbname=customer", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut o = Opts::new(&args);
        let mut seen = Vec::new();
        while let Some(opt) = o.next("cdfhpUv", &["dbname"]) {
            seen.push(match opt {
                Opt::Short(c, v) => format!("-{c}={}", v.unwrap_or_default()),
                Opt::Long(k, v) => format!("--{k}={}", v.unwrap_or_default()),
                Opt::Positional(p) => p,
                Opt::Missing(m) => format!("missing {m}"),
            });
        }
        assert_eq!(
            seen,
            [
                "-t=",
                "-A=",
                "-c=select 1",
                "-U=postgres",
                "--dbname=customer",
                "x"
            ]
        );
    }
}
