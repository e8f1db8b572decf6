//! nginx's configuration: the file syntax (directives, blocks, quotes,
//! comments, `include` with wildcards) and the part of the `http` module's
//! model the emulation serves from: servers by `listen` port and
//! `server_name`, locations (`=`, `^~`, prefix, `~`, `~*`), `root`/`alias`,
//! `index`, `try_files`, `return`, `autoindex`, `error_page`,
//! `default_type`, `add_header`, `proxy_pass` and `upstream` blocks.
//! Errors read as nginx's `[emerg]` lines do.

use std::collections::BTreeSet;

use crate::hostfs::ContainerFs;

/// The main configuration file.
pub const MAIN_CONF: &str = "/etc/nginx/nginx.conf";
/// Include depth and file count limits (nginx has none; a loop must end).
const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_FILES: usize = 256;
/// The largest configuration file read.
const MAX_FILE: u64 = 1024 * 1024;

/// One directive: `name args...;` or `name args... { block }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Directive>>,
    pub file: String,
    pub line: usize,
}

impl Directive {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// An `[emerg]` error: the text after `nginx: [emerg] `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emerg(pub String);

/// Directives nginx knows (core, events, http and its usual modules): any
/// other name is `unknown directive`.
const KNOWN: &[&str] = &[
    "absolute_redirect",
    "access_log",
    "add_header",
    "add_trailer",
    "aio",
    "alias",
    "allow",
    "auth_basic",
    "auth_basic_user_file",
    "auth_request",
    "autoindex",
    "autoindex_exact_size",
    "autoindex_format",
    "autoindex_localtime",
    "break",
    "charset",
    "chunked_transfer_encoding",
    "client_body_buffer_size",
    "client_body_temp_path",
    "client_body_timeout",
    "client_header_buffer_size",
    "client_header_timeout",
    "client_max_body_size",
    "daemon",
    "default_type",
    "deny",
    "directio",
    "disable_symlinks",
    "env",
    "error_log",
    "error_page",
    "etag",
    "events",
    "expires",
    "fastcgi_param",
    "fastcgi_pass",
    "fastcgi_index",
    "geo",
    "gzip",
    "gzip_comp_level",
    "gzip_disable",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_types",
    "gzip_vary",
    "gzip_static",
    "http",
    "if",
    "if_modified_since",
    "include",
    "index",
    "internal",
    "keepalive",
    "keepalive_requests",
    "keepalive_timeout",
    "large_client_header_buffers",
    "limit_except",
    "limit_rate",
    "limit_req",
    "limit_req_zone",
    "limit_conn",
    "limit_conn_zone",
    "listen",
    "load_module",
    "location",
    "log_format",
    "log_not_found",
    "log_subrequest",
    "map",
    "map_hash_bucket_size",
    "master_process",
    "max_ranges",
    "merge_slashes",
    "mime.types",
    "multi_accept",
    "open_file_cache",
    "pid",
    "port_in_redirect",
    "proxy_buffer_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_cache",
    "proxy_cache_path",
    "proxy_connect_timeout",
    "proxy_hide_header",
    "proxy_http_version",
    "proxy_intercept_errors",
    "proxy_next_upstream",
    "proxy_pass",
    "proxy_pass_header",
    "proxy_read_timeout",
    "proxy_redirect",
    "proxy_send_timeout",
    "proxy_set_header",
    "proxy_ssl_verify",
    "real_ip_header",
    "recursive_error_pages",
    "resolver",
    "resolver_timeout",
    "return",
    "rewrite",
    "rewrite_log",
    "root",
    "satisfies",
    "send_timeout",
    "sendfile",
    "server",
    "server_name",
    "server_name_in_redirect",
    "server_names_hash_bucket_size",
    "server_tokens",
    "set",
    "set_real_ip_from",
    "ssl",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_ciphers",
    "ssl_protocols",
    "ssl_prefer_server_ciphers",
    "ssl_session_cache",
    "ssl_session_timeout",
    "stream",
    "stub_status",
    "sub_filter",
    "sub_filter_once",
    "tcp_nodelay",
    "tcp_nopush",
    "thread_pool",
    "timer_resolution",
    "try_files",
    "types",
    "types_hash_bucket_size",
    "types_hash_max_size",
    "underscores_in_headers",
    "upstream",
    "use",
    "user",
    "uwsgi_pass",
    "uwsgi_param",
    "valid_referers",
    "worker_connections",
    "worker_cpu_affinity",
    "worker_priority",
    "worker_processes",
    "worker_rlimit_nofile",
    "worker_shutdown_timeout",
    "zone",
    "least_conn",
    "ip_hash",
    "hash",
    "health_check",
];

/// Directives that take a block.
const BLOCKS: &[&str] = &[
    "events",
    "http",
    "server",
    "location",
    "upstream",
    "types",
    "map",
    "geo",
    "if",
    "limit_except",
    "stream",
];

/// Reads `path` and every file it includes, as nginx parses them.
pub fn load(fs: &ContainerFs, path: &str) -> Result<Vec<Directive>, Emerg> {
    let mut files = 0usize;
    parse_file(fs, path, 0, &mut files)
}

fn read(fs: &ContainerFs, path: &str) -> Result<String, std::io::Error> {
    let r = fs
        .resolve("/", path)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let meta = std::fs::metadata(&r.host)?;
    if meta.is_dir() {
        return Err(std::io::Error::from_raw_os_error(21));
    }
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other("file too large"));
    }
    Ok(String::from_utf8_lossy(&std::fs::read(&r.host)?).into_owned())
}

/// errno text as nginx prints it: `(2: No such file or directory)`.
fn errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(2) => "(2: No such file or directory)".into(),
        Some(13) => "(13: Permission denied)".into(),
        Some(21) => "(21: Is a directory)".into(),
        Some(n) => format!("({n}: {e})"),
        None if e.kind() == std::io::ErrorKind::NotFound => "(2: No such file or directory)".into(),
        None => format!("(5: {e})"),
    }
}

fn parse_file(
    fs: &ContainerFs,
    path: &str,
    depth: usize,
    files: &mut usize,
) -> Result<Vec<Directive>, Emerg> {
    *files += 1;
    if depth > MAX_INCLUDE_DEPTH || *files > MAX_FILES {
        return Err(Emerg(format!("too many included files at \"{path}\"")));
    }
    let text =
        read(fs, path).map_err(|e| Emerg(format!("open() \"{path}\" failed {}", errno(&e))))?;
    let tokens = tokenize(&text, path)?;
    let mut pos = 0;
    let list = parse_block(&tokens, &mut pos, path, false)?;
    expand_includes(fs, list, depth, files)
}

/// Replaces `include` directives by what they name (globs in the last
/// path component, sorted), at any depth.
fn expand_includes(
    fs: &ContainerFs,
    list: Vec<Directive>,
    depth: usize,
    files: &mut usize,
) -> Result<Vec<Directive>, Emerg> {
    let mut out = Vec::with_capacity(list.len());
    for mut d in list {
        if d.name == "include" {
            let [pattern] = d.args.as_slice() else {
                return Err(Emerg(format!(
                    "invalid number of arguments in \"include\" directive in {}",
                    d.at()
                )));
            };
            let pattern = if pattern.starts_with('/') {
                pattern.clone()
            } else {
                format!("/etc/nginx/{pattern}")
            };
            for file in glob(fs, &pattern) {
                out.extend(parse_file(fs, &file, depth + 1, files)?);
            }
            if !pattern.contains('*') && !exists(fs, &pattern) {
                return Err(Emerg(format!(
                    "open() \"{pattern}\" failed (2: No such file or directory) in {}",
                    d.at()
                )));
            }
            continue;
        }
        if let Some(block) = d.block.take() {
            d.block = Some(expand_includes(fs, block, depth, files)?);
        }
        out.push(d);
    }
    Ok(out)
}

fn exists(fs: &ContainerFs, path: &str) -> bool {
    fs.resolve("/", path).is_ok_and(|r| r.host.exists())
}

/// The files a pattern names: itself, or the matches of a `*` in its last
/// component, sorted.
fn glob(fs: &ContainerFs, pattern: &str) -> Vec<String> {
    let Some((dir, name)) = pattern.rsplit_once('/') else {
        return Vec::new();
    };
    if !name.contains('*') {
        return if exists(fs, pattern) {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        };
    }
    let Ok(r) = fs.resolve("/", if dir.is_empty() { "/" } else { dir }) else {
        return Vec::new();
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    for e in std::fs::read_dir(&r.host).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if wildcard(name, &n) && e.path().is_file() {
            names.insert(n);
        }
    }
    // Mounts in that directory (a ConfigMap at conf.d/x.conf, via subPath).
    for n in fs.mount_points_in(if dir.is_empty() { "/" } else { dir }) {
        if wildcard(name, &n) && exists(fs, &format!("{dir}/{n}")) {
            names.insert(n);
        }
    }
    names.into_iter().map(|n| format!("{dir}/{n}")).collect()
}

/// `*` matches any run of characters (not a leading dot, as glob(3)).
fn wildcard(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(j) => rest = &rest[j + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String, usize),
    Semi(usize),
    Open(usize),
    Close(usize),
}

fn tokenize(text: &str, file: &str) -> Result<Vec<Tok>, Emerg> {
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    let mut word = String::new();
    let mut word_line = 1usize;
    let flush = |word: &mut String, out: &mut Vec<Tok>, at: usize| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word), at));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                flush(&mut word, &mut out, word_line);
                line += 1;
            }
            ' ' | '\t' | '\r' => flush(&mut word, &mut out, word_line),
            '#' if word.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            ';' => {
                flush(&mut word, &mut out, word_line);
                out.push(Tok::Semi(line));
            }
            '{' => {
                flush(&mut word, &mut out, word_line);
                out.push(Tok::Open(line));
            }
            '}' => {
                flush(&mut word, &mut out, word_line);
                out.push(Tok::Close(line));
            }
            '"' | '\'' if word.is_empty() => {
                let quote = c;
                word_line = line;
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                match n {
                                    'n' => s.push('\n'),
                                    't' => s.push('\t'),
                                    'r' => s.push('\r'),
                                    '"' | '\'' | '\\' => s.push(n),
                                    other => {
                                        s.push('\\');
                                        s.push(other);
                                    }
                                }
                            }
                        }
                        '\n' => {
                            line += 1;
                            s.push('\n');
                        }
                        c if c == quote => {
                            closed = true;
                            break;
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(Emerg(format!(
                        "unexpected end of file, expecting \";\" or \"}}\" in {file}:{line}"
                    )));
                }
                out.push(Tok::Word(s, word_line));
            }
            c => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut out, word_line);
    Ok(out)
}

fn parse_block(
    toks: &[Tok],
    pos: &mut usize,
    file: &str,
    inner: bool,
) -> Result<Vec<Directive>, Emerg> {
    let mut out = Vec::new();
    loop {
        let Some(t) = toks.get(*pos) else {
            if inner {
                let line = toks.last().map_or(1, tok_line);
                return Err(Emerg(format!(
                    "unexpected end of file, expecting \"}}\" in {file}:{line}"
                )));
            }
            return Ok(out);
        };
        match t {
            Tok::Close(line) => {
                *pos += 1;
                if inner {
                    return Ok(out);
                }
                return Err(Emerg(format!("unexpected \"}}\" in {file}:{line}")));
            }
            Tok::Semi(line) => return Err(Emerg(format!("unexpected \";\" in {file}:{line}"))),
            Tok::Open(line) => return Err(Emerg(format!("unexpected \"{{\" in {file}:{line}"))),
            Tok::Word(name, line) => {
                let (name, line) = (name.clone(), *line);
                *pos += 1;
                let mut args = Vec::new();
                loop {
                    match toks.get(*pos) {
                        Some(Tok::Word(w, _)) => {
                            args.push(w.clone());
                            *pos += 1;
                        }
                        Some(Tok::Semi(_)) => {
                            *pos += 1;
                            check_directive(&name, false, file, line)?;
                            out.push(Directive {
                                name,
                                args,
                                block: None,
                                file: file.to_string(),
                                line,
                            });
                            break;
                        }
                        Some(Tok::Open(_)) => {
                            *pos += 1;
                            check_directive(&name, true, file, line)?;
                            let block = if name == "types" {
                                parse_types(toks, pos, file)?
                            } else {
                                parse_block(toks, pos, file, true)?
                            };
                            out.push(Directive {
                                name,
                                args,
                                block: Some(block),
                                file: file.to_string(),
                                line,
                            });
                            break;
                        }
                        // nginx names the line where it noticed.
                        Some(Tok::Close(at)) => {
                            return Err(Emerg(format!(
                                "directive \"{name}\" is not terminated by \";\" in {file}:{at}"
                            )));
                        }
                        None => {
                            let at = toks.last().map_or(line, tok_line);
                            return Err(Emerg(format!(
                                "unexpected end of file, expecting \";\" or \"}}\" in {file}:{at}"
                            )));
                        }
                    }
                }
            }
        }
    }
}

/// A `types { mime ext...; }` block: its entries are not directives.
fn parse_types(toks: &[Tok], pos: &mut usize, file: &str) -> Result<Vec<Directive>, Emerg> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, usize)> = Vec::new();
    while let Some(t) = toks.get(*pos) {
        *pos += 1;
        match t {
            Tok::Word(w, l) => cur.push((w.clone(), *l)),
            Tok::Semi(_) => {
                if let Some(((mime, line), exts)) = cur.split_first() {
                    out.push(Directive {
                        name: mime.clone(),
                        args: exts.iter().map(|(e, _)| e.clone()).collect(),
                        block: None,
                        file: file.to_string(),
                        line: *line,
                    });
                }
                cur.clear();
            }
            Tok::Close(_) => return Ok(out),
            Tok::Open(l) => return Err(Emerg(format!("unexpected \"{{\" in {file}:{l}"))),
        }
    }
    Err(Emerg(format!(
        "unexpected end of file, expecting \"}}\" in {file}"
    )))
}

fn tok_line(t: &Tok) -> usize {
    match t {
        Tok::Word(_, l) | Tok::Semi(l) | Tok::Open(l) | Tok::Close(l) => *l,
    }
}

fn check_directive(name: &str, block: bool, file: &str, line: usize) -> Result<(), Emerg> {
    if !KNOWN.contains(&name) {
        return Err(Emerg(format!(
            "unknown directive \"{name}\" in {file}:{line}"
        )));
    }
    let takes_block = BLOCKS.contains(&name);
    if block && !takes_block {
        return Err(Emerg(format!(
            "directive \"{name}\" is not terminated by \";\" in {file}:{line}"
        )));
    }
    if !block && takes_block {
        return Err(Emerg(format!(
            "directive \"{name}\" has no opening \"{{\" in {file}:{line}"
        )));
    }
    Ok(())
}

/// How a location matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    Exact,
    /// `^~`: a prefix that stops the regex search.
    PrefixNoRegex,
    Prefix,
    Regex(Pattern),
}

/// A location's regular expression (compared by its source).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// What serves a request: a location's effective settings (inherited
/// from its server and `http`).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub path: String,
    pub matcher: Match,
    pub root: String,
    /// `alias` replaces the location's prefix instead of appending.
    pub alias: Option<String>,
    pub index: Vec<String>,
    pub autoindex: bool,
    pub try_files: Vec<String>,
    /// `return code [text]` / `return URL`.
    pub ret: Option<(u16, Option<String>)>,
    pub error_pages: Vec<(Vec<u16>, String)>,
    pub default_type: String,
    pub add_headers: Vec<(String, String)>,
    pub proxy_pass: Option<String>,
    /// Where `proxy_pass` is written (`file:line`), for its errors.
    pub proxy_at: String,
    pub access_log: bool,
    pub internal: bool,
    pub deny_all: bool,
}

/// One `server` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub ports: Vec<u16>,
    /// Ports this server is the `default_server` of.
    pub default_for: Vec<u16>,
    pub names: Vec<String>,
    pub locations: Vec<Location>,
    /// Settings for requests no location matches.
    pub fallback: Location,
}

/// An `upstream` block: its servers (host:port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    pub servers: Vec<(String, u16)>,
}

/// The configuration the emulation serves from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub servers: Vec<Server>,
    pub upstreams: Vec<Upstream>,
    pub worker_processes: Option<usize>,
    /// Ports to listen on, in order.
    pub ports: Vec<u16>,
    /// File extension → MIME type (`types` blocks, `mime.types`).
    pub types: std::collections::HashMap<String, String>,
}

/// Settings a block passes down to the blocks inside it.
#[derive(Debug, Clone)]
struct Inherited {
    root: String,
    index: Vec<String>,
    autoindex: bool,
    error_pages: Vec<(Vec<u16>, String)>,
    default_type: String,
    add_headers: Vec<(String, String)>,
    access_log: bool,
}

impl Inherited {
    fn location(&self, path: &str, matcher: Match) -> Location {
        Location {
            path: path.to_string(),
            matcher,
            root: self.root.clone(),
            alias: None,
            index: self.index.clone(),
            autoindex: self.autoindex,
            try_files: Vec::new(),
            ret: None,
            error_pages: self.error_pages.clone(),
            default_type: self.default_type.clone(),
            add_headers: self.add_headers.clone(),
            proxy_pass: None,
            proxy_at: String::new(),
            access_log: self.access_log,
            internal: false,
            deny_all: false,
        }
    }

    /// Applies the inheritable directives of a block.
    fn apply(&mut self, list: &[Directive]) -> Result<(), Emerg> {
        let mut headers_here = Vec::new();
        for d in list {
            match d.name.as_str() {
                "root" => self.root = one_arg(d)?,
                "index" => self.index = d.args.clone(),
                "autoindex" => self.autoindex = on_off(d)?,
                "default_type" => self.default_type = one_arg(d)?,
                "access_log" => self.access_log = d.args.first().is_none_or(|a| a != "off"),
                "error_page" => {
                    let Some((uri, codes)) = d.args.split_last() else {
                        return Err(args_error(d));
                    };
                    let codes: Vec<u16> = codes.iter().filter_map(|c| c.parse().ok()).collect();
                    if codes.is_empty() {
                        return Err(args_error(d));
                    }
                    self.error_pages.push((codes, uri.clone()));
                }
                "add_header" => {
                    if d.args.len() < 2 {
                        return Err(args_error(d));
                    }
                    headers_here.push((d.args[0].clone(), d.args[1].clone()));
                }
                _ => {}
            }
        }
        // add_header at one level replaces the inherited ones.
        if !headers_here.is_empty() {
            self.add_headers = headers_here;
        }
        Ok(())
    }
}

fn args_error(d: &Directive) -> Emerg {
    Emerg(format!(
        "invalid number of arguments in \"{}\" directive in {}",
        d.name,
        d.at()
    ))
}

fn one_arg(d: &Directive) -> Result<String, Emerg> {
    match d.args.as_slice() {
        [a] => Ok(a.clone()),
        _ => Err(args_error(d)),
    }
}

fn on_off(d: &Directive) -> Result<bool, Emerg> {
    match d.args.as_slice() {
        [a] if a == "on" => Ok(true),
        [a] if a == "off" => Ok(false),
        [a] => Err(Emerg(format!(
            "invalid value \"{a}\" in \"{}\" directive, it must be \"on\" or \"off\" in {}",
            d.name,
            d.at()
        ))),
        _ => Err(args_error(d)),
    }
}

/// Builds the model from the parsed files.
pub fn build(list: &[Directive]) -> Result<Config, Emerg> {
    let mut cfg = Config {
        servers: Vec::new(),
        upstreams: Vec::new(),
        worker_processes: None,
        ports: Vec::new(),
        types: std::collections::HashMap::new(),
    };
    for d in list {
        if d.name == "worker_processes" {
            let v = one_arg(d)?;
            cfg.worker_processes = if v == "auto" { None } else { v.parse().ok() };
        }
    }
    let Some(http) = list.iter().find(|d| d.name == "http") else {
        return Ok(cfg);
    };
    let body = http.block.as_deref().unwrap_or(&[]);
    let mut inherited = Inherited {
        // The image's compiled-in prefix is /etc/nginx: `root html`.
        root: "/etc/nginx/html".into(),
        index: vec!["index.html".into()],
        autoindex: false,
        error_pages: Vec::new(),
        default_type: "text/plain".into(),
        add_headers: Vec::new(),
        access_log: true,
    };
    inherited.apply(body)?;
    for d in body.iter().filter(|d| d.name == "types") {
        for t in d.block.as_deref().unwrap_or(&[]) {
            for ext in &t.args {
                cfg.types.insert(ext.to_ascii_lowercase(), t.name.clone());
            }
        }
    }
    for d in body.iter().filter(|d| d.name == "upstream") {
        let name = one_arg(d)?;
        let mut servers = Vec::new();
        for s in d.block.as_deref().unwrap_or(&[]) {
            if s.name == "server"
                && let Some(addr) = s.args.first()
            {
                servers.push(host_port(addr, 80));
            }
        }
        cfg.upstreams.push(Upstream { name, servers });
    }
    for d in body.iter().filter(|d| d.name == "server") {
        let server = build_server(d, &inherited)?;
        for p in &server.ports {
            if !cfg.ports.contains(p) {
                cfg.ports.push(*p);
            }
        }
        cfg.servers.push(server);
    }
    for s in &cfg.servers {
        for l in &s.locations {
            if let Some(target) = &l.proxy_pass {
                check_proxy_target(target, &cfg.upstreams, l)?;
            }
        }
    }
    Ok(cfg)
}

/// `host[:port]` (or `[::]:port`, or a bare port).
pub fn host_port(addr: &str, default: u16) -> (String, u16) {
    if let Ok(p) = addr.parse::<u16>() {
        return ("*".into(), p);
    }
    if let Some(rest) = addr.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
    {
        return (host.to_string(), port.parse().unwrap_or(default));
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(default)),
        _ => (addr.to_string(), default),
    }
}

fn check_proxy_target(target: &str, _upstreams: &[Upstream], l: &Location) -> Result<(), Emerg> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Ok(());
    }
    Err(Emerg(format!("invalid URL prefix in {}", l.proxy_at)))
}

/// A `proxy_pass` URL: its `host:port` and its URI part (None when it
/// has none, which passes the request's URI unchanged).
pub fn proxy_url(target: &str) -> (String, u16, Option<String>) {
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .unwrap_or(target);
    let (authority, uri) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    let (host, port) = host_port(authority, 80);
    (host, port, uri)
}

fn build_server(d: &Directive, http: &Inherited) -> Result<Server, Emerg> {
    let body = d.block.as_deref().unwrap_or(&[]);
    let mut inh = http.clone();
    inh.apply(body)?;
    let mut ports = Vec::new();
    let mut default_for = Vec::new();
    let mut names = Vec::new();
    for x in body {
        match x.name.as_str() {
            "listen" => {
                let Some(addr) = x.args.first() else {
                    return Err(args_error(x));
                };
                let (_, port) = host_port(addr, 80);
                if port == 0 {
                    return Err(Emerg(format!(
                        "invalid port in \"{addr}\" of the \"listen\" directive in {}",
                        x.at()
                    )));
                }
                if !ports.contains(&port) {
                    ports.push(port);
                }
                if x.args
                    .iter()
                    .any(|a| a == "default_server" || a == "default")
                {
                    default_for.push(port);
                }
            }
            "server_name" => names.extend(x.args.iter().cloned()),
            _ => {}
        }
    }
    if ports.is_empty() {
        // No listen: *:80 (the image runs nginx as root).
        ports.push(80);
    }
    let mut locations = Vec::new();
    for x in body.iter().filter(|x| x.name == "location") {
        build_location(x, &inh, &mut locations)?;
    }
    let mut fallback = inh.location("/", Match::Prefix);
    for x in body {
        if x.name == "return" {
            fallback.ret = Some(parse_return(x)?);
        }
        if x.name == "try_files" {
            fallback.try_files = x.args.clone();
        }
    }
    Ok(Server {
        ports,
        default_for,
        names,
        locations,
        fallback,
    })
}

fn parse_return(d: &Directive) -> Result<(u16, Option<String>), Emerg> {
    match d.args.as_slice() {
        [code] if code.parse::<u16>().is_ok() => Ok((code.parse().unwrap_or(200), None)),
        [url] => Ok((302, Some(url.clone()))),
        [code, text] => match code.parse::<u16>() {
            Ok(c) if c <= 999 => Ok((c, Some(text.clone()))),
            _ => Err(Emerg(format!(
                "invalid return code \"{code}\" in {}",
                d.at()
            ))),
        },
        _ => Err(args_error(d)),
    }
}

fn build_location(d: &Directive, parent: &Inherited, out: &mut Vec<Location>) -> Result<(), Emerg> {
    let (matcher, path) = match d.args.as_slice() {
        [p] => (Match::Prefix, p.clone()),
        [m, p] => {
            let matcher = match m.as_str() {
                "=" => Match::Exact,
                "^~" => Match::PrefixNoRegex,
                "~" | "~*" => {
                    let src = if m == "~*" {
                        format!("(?i){p}")
                    } else {
                        p.clone()
                    };
                    let re = regex::Regex::new(&src).map_err(|_| {
                        Emerg(format!(
                            "pcre2_compile() failed: invalid pattern in \"{p}\" in {}",
                            d.at()
                        ))
                    })?;
                    Match::Regex(Pattern(re))
                }
                other => {
                    return Err(Emerg(format!(
                        "invalid location modifier \"{other}\" in {}",
                        d.at()
                    )));
                }
            };
            (matcher, p.clone())
        }
        _ => return Err(args_error(d)),
    };
    let body = d.block.as_deref().unwrap_or(&[]);
    let mut inh = parent.clone();
    inh.apply(body)?;
    let mut loc = inh.location(&path, matcher);
    for x in body {
        match x.name.as_str() {
            "alias" => loc.alias = Some(one_arg(x)?),
            "try_files" => {
                if x.args.len() < 2 {
                    return Err(args_error(x));
                }
                loc.try_files = x.args.clone();
            }
            "return" => loc.ret = Some(parse_return(x)?),
            "proxy_pass" => {
                loc.proxy_pass = Some(one_arg(x)?);
                loc.proxy_at = x.at();
            }
            "internal" => loc.internal = true,
            "deny" if x.args.first().is_some_and(|a| a == "all") => loc.deny_all = true,
            _ => {}
        }
    }
    if out
        .iter()
        .any(|l| l.path == loc.path && same_kind(&l.matcher, &loc.matcher))
    {
        return Err(Emerg(format!(
            "duplicate location \"{}\" in {}",
            loc.path,
            d.at()
        )));
    }
    out.push(loc);
    // Nested locations.
    for x in body.iter().filter(|x| x.name == "location") {
        build_location(x, &inh, out)?;
    }
    Ok(())
}

fn same_kind(a: &Match, b: &Match) -> bool {
    matches!(
        (a, b),
        (Match::Exact, Match::Exact)
            | (
                Match::Prefix | Match::PrefixNoRegex,
                Match::Prefix | Match::PrefixNoRegex
            )
    )
}

impl Config {
    /// The server for a request on `port` with `host` (the Host header,
    /// without its port): the one naming it, else the port's default
    /// server, else the first that listens there.
    pub fn server(&self, port: u16, host: &str) -> Option<&Server> {
        let on_port: Vec<&Server> = self
            .servers
            .iter()
            .filter(|s| s.ports.contains(&port))
            .collect();
        let host = host.to_ascii_lowercase();
        on_port
            .iter()
            .find(|s| s.names.iter().any(|n| name_matches(n, &host)))
            .or_else(|| on_port.iter().find(|s| s.default_for.contains(&port)))
            .or_else(|| on_port.first())
            .copied()
    }
}

fn name_matches(name: &str, host: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if let Some(suffix) = name.strip_prefix("*.") {
        return host.ends_with(&format!(".{suffix}"));
    }
    if let Some(re) = name.strip_prefix('~') {
        return regex::Regex::new(re).is_ok_and(|r| r.is_match(host));
    }
    name == host
}

impl Server {
    /// The location for `uri` (decoded path), as nginx chooses: an exact
    /// match, else the longest prefix; then, unless that prefix is `^~`,
    /// the first regex that matches wins.
    pub fn location(&self, uri: &str) -> &Location {
        if let Some(l) = self
            .locations
            .iter()
            .find(|l| l.matcher == Match::Exact && l.path == uri)
        {
            return l;
        }
        let prefix = self
            .locations
            .iter()
            .filter(|l| matches!(l.matcher, Match::Prefix | Match::PrefixNoRegex))
            .filter(|l| uri.starts_with(&l.path))
            .max_by_key(|l| l.path.len());
        if prefix.is_some_and(|l| l.matcher == Match::PrefixNoRegex) {
            return prefix.unwrap_or(&self.fallback);
        }
        if let Some(l) = self.locations.iter().find(|l| match &l.matcher {
            Match::Regex(re) => re.0.is_match(uri),
            _ => false,
        }) {
            return l;
        }
        prefix.unwrap_or(&self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostfs::SandboxRoot;

    fn fs_with(files: &[(&str, &str)]) -> (tempfile::TempDir, ContainerFs) {
        let tmp = tempfile::tempdir().unwrap();
        let root = SandboxRoot::new(tmp.path()).unwrap();
        let rootfs = root.container_rootfs("p", "c").unwrap();
        for (p, text) in files {
            let f = rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        (tmp, ContainerFs::new(rootfs))
    }

    #[test]
    fn the_image_configuration_parses() {
        let files = super::super::files::config_files();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let (_t, fs) = fs_with(&refs);
        let cfg = build(&load(&fs, MAIN_CONF).unwrap()).unwrap();
        assert_eq!(cfg.ports, [80]);
        let s = cfg.server(80, "localhost").unwrap();
        assert_eq!(s.location("/").root, "/usr/share/nginx/html");
        assert_eq!(s.location("/").index, ["index.html", "index.htm"]);
        assert_eq!(s.location("/50x.html").matcher, Match::Exact);
        assert_eq!(
            s.location("/x").error_pages,
            [(vec![500, 502, 503, 504], "/50x.html".to_string())]
        );
    }

    #[test]
    fn errors_read_as_nginx_writes_them() {
        let parse = |text: &str| {
            let (_t, fs) = fs_with(&[("/etc/nginx/nginx.conf", text)]);
            load(&fs, MAIN_CONF)
                .and_then(|l| build(&l))
                .err()
                .map(|e| e.0)
        };
        assert_eq!(
            parse("http {\n server {\n  root /x\n }\n}\n").unwrap(),
            "directive \"root\" is not terminated by \";\" in /etc/nginx/nginx.conf:4"
        );
        assert_eq!(
            parse("http {\n}\n}\n").unwrap(),
            "unexpected \"}\" in /etc/nginx/nginx.conf:3"
        );
        assert_eq!(
            parse("http {\n server {\n  lisen 80;\n }\n}\n").unwrap(),
            "unknown directive \"lisen\" in /etc/nginx/nginx.conf:3"
        );
        assert_eq!(
            parse("http {\n server {\n").unwrap(),
            "unexpected end of file, expecting \"}\" in /etc/nginx/nginx.conf:2"
        );
        assert_eq!(
            parse("http { include /etc/nginx/nope.conf; }").unwrap(),
            "open() \"/etc/nginx/nope.conf\" failed (2: No such file or directory) in /etc/nginx/nginx.conf:1"
        );
        assert!(
            parse("http { server { listen 8080; location / { return 200 'ok'; } } }").is_none()
        );
    }

    #[test]
    fn locations_are_chosen_as_nginx_does() {
        let (_t, fs) = fs_with(&[(
            "/etc/nginx/nginx.conf",
            "http { server { listen 8080; root /srv;
               location / { }
               location /images/ { root /data; }
               location ^~ /static/ { }
               location ~* \\.(png|jpg)$ { root /img; }
               location = /exact { return 204; }
             }
             server { listen 8080; server_name other.example; return 418; } }",
        )]);
        let cfg = build(&load(&fs, MAIN_CONF).unwrap()).unwrap();
        let s = cfg.server(8080, "localhost").unwrap();
        assert_eq!(s.location("/exact").ret, Some((204, None)));
        assert_eq!(s.location("/images/a.txt").root, "/data");
        assert_eq!(
            s.location("/images/a.PNG").root,
            "/img",
            "regex wins over a prefix"
        );
        assert_eq!(
            s.location("/static/a.png").path,
            "/static/",
            "^~ stops regexes"
        );
        assert_eq!(s.location("/other").path, "/");
        let o = cfg.server(8080, "other.example").unwrap();
        assert_eq!(o.fallback.ret, Some((418, None)));
        assert!(wildcard("*.conf", "default.conf"));
        assert!(!wildcard("*.conf", ".hidden.conf"));
        assert!(!wildcard("*.conf", "default.conf.bak"));
    }
}
