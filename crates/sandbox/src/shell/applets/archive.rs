//! `tar` (create, extract, list; gzip with `z`, as busybox does and as
//! `kubectl cp` drives it) and `gzip`/`gunzip`/`zcat`. Archives stream
//! through readers and writers over the process's fds, so their size is
//! bounded by the disk guard, not by memory.

use std::cell::RefCell;
use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{Abort, Ctx, Ret};
use crate::shell::io::Fd;
use crate::shell::vfs::{Kind, errno};

/// `io::Write` over an fd, remembering why it stopped.
pub struct FdWriter<'a> {
    ctx: &'a Ctx,
    fd: Fd,
    pub abort: RefCell<Option<Abort>>,
}

impl<'a> FdWriter<'a> {
    pub fn new(ctx: &'a Ctx, fd: Fd) -> FdWriter<'a> {
        FdWriter {
            ctx,
            fd,
            abort: RefCell::new(None),
        }
    }
}

impl Write for FdWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stop = || self.ctx.proc.mailbox().any();
        match self.fd.write_all(buf, &stop) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                let abort = match e.kind() {
                    io::ErrorKind::BrokenPipe => Some(Abort::Signal(crate::process::Signal::Pipe)),
                    io::ErrorKind::Interrupted => self.ctx.check().err(),
                    io::ErrorKind::OutOfMemory => Some(Abort::Oom),
                    _ => None,
                };
                if let Some(a) = abort {
                    *self.abort.borrow_mut() = Some(a);
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `io::Read` over an fd.
pub struct FdReader<'a> {
    ctx: &'a Ctx,
    fd: Fd,
    pub abort: Option<Abort>,
}

impl<'a> FdReader<'a> {
    pub fn new(ctx: &'a Ctx, fd: Fd) -> FdReader<'a> {
        FdReader {
            ctx,
            fd,
            abort: None,
        }
    }
}

impl Read for FdReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.ctx.read_fd(&self.fd, buf) {
            Ok(n) => Ok(n),
            Err(a) => {
                self.abort = Some(a);
                Err(io::Error::from(io::ErrorKind::Interrupted))
            }
        }
    }
}

// ----------------------------------------------------------------------
// tar
// ----------------------------------------------------------------------

fn octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let s = format!("{v:0width$o}");
    let bytes = s.as_bytes();
    let start = bytes.len().saturating_sub(width);
    field[..width].copy_from_slice(&bytes[start..]);
    field[width] = 0;
}

/// A member's owner as an archive records it: numbers and names.
#[derive(Debug, Clone, Default)]
struct TarOwner {
    uid: u32,
    gid: u32,
    user: String,
    group: String,
}

impl TarOwner {
    fn root() -> TarOwner {
        TarOwner {
            user: "root".into(),
            group: "root".into(),
            ..TarOwner::default()
        }
    }

    /// The owner of a file the container sees, named from its accounts.
    fn of(ctx: &Ctx, meta: &crate::shell::vfs::Meta) -> TarOwner {
        TarOwner {
            uid: meta.uid,
            gid: meta.gid,
            user: ctx.user_name(meta.uid).unwrap_or_default(),
            group: ctx.group_name(meta.gid).unwrap_or_default(),
        }
    }
}

fn header(
    name: &str,
    typeflag: u8,
    mode: u32,
    size: u64,
    mtime: i64,
    link: &str,
    owner: &TarOwner,
) -> Vec<[u8; 512]> {
    let mut blocks = Vec::new();
    let mut stored_name = name.to_string();
    let mut prefix = String::new();
    if name.len() > 100 {
        // ustar prefix split at a '/', else a GNU long-name entry.
        match name[..name.len().min(155)]
            .rfind('/')
            .filter(|&i| name.len() - i - 1 <= 100 && i > 0)
        {
            Some(i) => {
                prefix = name[..i].to_string();
                stored_name = name[i + 1..].to_string();
            }
            None => {
                let mut data = name.as_bytes().to_vec();
                data.push(0);
                blocks.extend(header(
                    "././@LongLink",
                    b'L',
                    0o644,
                    data.len() as u64,
                    0,
                    "",
                    &TarOwner::root(),
                ));
                for chunk in data.chunks(512) {
                    let mut b = [0u8; 512];
                    b[..chunk.len()].copy_from_slice(chunk);
                    blocks.push(b);
                }
                stored_name = name[..100].to_string();
            }
        }
    }
    let mut h = [0u8; 512];
    let n = stored_name.as_bytes();
    h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], u64::from(owner.uid));
    octal(&mut h[116..124], u64::from(owner.gid));
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.max(0) as u64);
    h[148..156].copy_from_slice(b"        ");
    h[156] = typeflag;
    let l = link.as_bytes();
    h[157..157 + l.len().min(100)].copy_from_slice(&l[..l.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let (user, group) = (owner.user.as_bytes(), owner.group.as_bytes());
    h[265..265 + user.len().min(31)].copy_from_slice(&user[..user.len().min(31)]);
    h[297..297 + group.len().min(31)].copy_from_slice(&group[..group.len().min(31)]);
    let p = prefix.as_bytes();
    h[345..345 + p.len().min(155)].copy_from_slice(&p[..p.len().min(155)]);
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    blocks.push(h);
    blocks
}

struct TarOpts {
    verbose: bool,
    to_stdout: bool,
    keep_mtime: bool,
    /// Give extracted files the archive's owners (root's default; `-o`,
    /// `--no-same-owner` turn it off).
    same_owner: bool,
    strip: usize,
}

/// Where a member's name ends up: leading `/` and `../` removed (once
/// reported, as busybox does).
fn safe_name(ctx: &Ctx, name: &str, warned: &mut bool) -> String {
    let mut n = name;
    let mut removed = String::new();
    loop {
        if let Some(rest) = n.strip_prefix('/') {
            removed.push('/');
            n = rest;
        } else if let Some(rest) = n.strip_prefix("../") {
            removed.push_str("../");
            n = rest;
        } else {
            break;
        }
    }
    if !removed.is_empty() && !*warned {
        *warned = true;
        if ctx.gnu() {
            ctx.errs(&format!(
                "tar: Removing leading `{removed}' from member names\n"
            ));
        } else {
            ctx.errs(&format!(
                "tar: removing leading '{removed}' from member names\n"
            ));
        }
    }
    n.to_string()
}

pub fn tar(ctx: &mut Ctx, args: &[String]) -> Ret {
    // The first argument may be bundled flags without a dash (`tar czf`).
    let mut args: Vec<String> = args.to_vec();
    if let Some(first) = args.first()
        && !first.starts_with('-')
        && first.chars().all(|c| "cxtzvfCOmjpoh".contains(c))
    {
        args[0] = format!("-{first}");
    }
    let mut mode = None;
    let mut gz = false;
    let mut verbose = false;
    let mut file: Option<String> = None;
    let mut dir: Option<String> = None;
    let mut to_stdout = false;
    let mut keep_mtime = true;
    let mut same_owner = true;
    let mut strip = 0usize;
    let mut excludes: Vec<String> = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].clone();
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            let (k, v) = long
                .split_once('=')
                .map_or((long, None), |(k, v)| (k, Some(v.to_string())));
            match k {
                "strip-components" => strip = v.and_then(|v| v.parse().ok()).unwrap_or(0),
                "exclude" => excludes.extend(v),
                "gzip" | "gunzip" => gz = true,
                "directory" => dir = v,
                "file" => file = v,
                "to-stdout" => to_stdout = true,
                "no-same-owner" => same_owner = false,
                "same-owner" => same_owner = true,
                "create" => mode = Some('c'),
                "extract" | "get" => mode = Some('x'),
                "list" => mode = Some('t'),
                _ => {}
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            for c in chars {
                match c {
                    'c' | 'x' | 't' => mode = Some(c),
                    'z' => gz = true,
                    'v' => verbose = true,
                    'O' => to_stdout = true,
                    'm' => keep_mtime = false,
                    'f' => {
                        file = args.get(i).cloned();
                        i += 1;
                    }
                    'C' => {
                        dir = args.get(i).cloned();
                        i += 1;
                    }
                    'o' => same_owner = false,
                    'p' | 'h' | 'k' => {}
                    'j' | 'J' => {
                        ctx.fail("bzip2/xz compression is not supported by this tar");
                        return Ok(1);
                    }
                    other => return ctx.bad_option(&other.to_string()),
                }
            }
            continue;
        }
        operands.push(a);
    }
    let Some(mode) = mode else {
        if ctx.gnu() {
            ctx.errs("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options\nTry 'tar --help' or 'tar --usage' for more information.\n");
            return Ok(2);
        }
        ctx.usage("tar c|x|t [-zvO] [-f TARFILE] [-C DIR] [FILE]...");
        return Ok(1);
    };
    let opts = TarOpts {
        verbose,
        to_stdout,
        keep_mtime,
        same_owner,
        strip,
    };
    let base = dir.clone().unwrap_or_else(|| ctx.cwd.clone());
    match mode {
        'c' => tar_create(ctx, file.as_deref(), &base, &operands, gz, &opts, &excludes),
        _ => tar_read(
            ctx,
            file.as_deref(),
            &base,
            gz,
            mode == 't',
            &opts,
            &operands,
        ),
    }
}

// Long: one walk writing each member kind's header and data into the
// (maybe gzipped) stream; its state is the open writer.
fn tar_create(
    ctx: &Ctx,
    file: Option<&str>,
    base: &str,
    members: &[String],
    gz: bool,
    opts: &TarOpts,
    excludes: &[String],
) -> Ret {
    if members.is_empty() {
        if ctx.gnu() {
            ctx.errs("tar: Cowardly refusing to create an empty archive\nTry 'tar --help' or 'tar --usage' for more information.\n");
            return Ok(2);
        }
        ctx.fail("empty archive");
        return Ok(1);
    }
    let out_fd = match file {
        None | Some("-") => ctx.fds.get_or_null(1),
        Some(f) => {
            let sub = ctx_at(ctx, &ctx.cwd);
            match sub.vfs().open_write(f, false, false) {
                Ok(fd) => fd,
                Err(e) => {
                    ctx.fail(&format!("can't open '{f}': {}", errno(&e)));
                    return Ok(1);
                }
            }
        }
    };
    let writer = FdWriter::new(ctx, out_fd);
    let mut sink: Box<dyn Write + '_> = if gz {
        Box::new(GzEncoder::new(writer, Compression::default()))
    } else {
        Box::new(writer)
    };
    let here = ctx_at(ctx, base);
    let mut warned = false;
    let mut errors = false;
    let mut count = 0usize;
    let mut result: Result<(), Abort> = Ok(());
    'members: for m in members {
        let vfs = here.vfs();
        if let Err(e) = vfs.symlink_metadata(m) {
            ctx.fail(&format!("{m}: {}", errno(&e)));
            errors = true;
            continue;
        }
        let mut stack = vec![m.clone()];
        while let Some(path) = stack.pop() {
            if let Err(a) = ctx.check() {
                result = Err(a);
                break 'members;
            }
            count += 1;
            if count > 200_000 {
                break;
            }
            if excludes.iter().any(|x| {
                crate::shell::pattern::Pattern::unquoted(x)
                    .matches(path.rsplit('/').next().unwrap_or(&path))
            }) {
                continue;
            }
            let Ok(meta) = vfs.symlink_metadata(&path) else {
                continue;
            };
            let name = safe_name(ctx, &path, &mut warned);
            if opts.verbose {
                // The listing of `tar cv` goes to stderr when the archive is stdout.
                let line = format!("{}{}\n", name, if meta.is_dir() { "/" } else { "" });
                if file.is_none_or(|f| f == "-") {
                    ctx.errs(&line);
                } else {
                    let _ = ctx.outs(&line);
                }
            }
            let r: io::Result<()> = (|| {
                match meta.kind {
                    Kind::Dir => {
                        let n = if name.is_empty() {
                            "./".to_string()
                        } else {
                            format!("{}/", name.trim_end_matches('/'))
                        };
                        let owner = TarOwner::of(ctx, &meta);
                        for b in header(&n, b'5', meta.mode, 0, meta.mtime, "", &owner) {
                            sink.write_all(&b)?;
                        }
                        if let Ok(names) = vfs.list_dir(&path) {
                            for child in names.into_iter().rev() {
                                let p = if path.ends_with('/') {
                                    format!("{path}{child}")
                                } else {
                                    format!("{path}/{child}")
                                };
                                stack.push(p);
                            }
                        }
                    }
                    Kind::Symlink => {
                        let target = vfs
                            .place(&path, false)
                            .ok()
                            .and_then(|p| std::fs::read_link(p.host).ok())
                            .map(|t| t.display().to_string())
                            .unwrap_or_default();
                        let owner = TarOwner::of(ctx, &meta);
                        for b in header(&name, b'2', meta.mode, 0, meta.mtime, &target, &owner) {
                            sink.write_all(&b)?;
                        }
                    }
                    Kind::File => {
                        let place = vfs.place(&path, true)?;
                        vfs.access(&path, crate::shell::vfs::READ)?;
                        let mut f = std::fs::File::open(&place.host)?;
                        let size = f.metadata()?.len();
                        let owner = TarOwner::of(ctx, &meta);
                        for b in header(&name, b'0', meta.mode, size, meta.mtime, "", &owner) {
                            sink.write_all(&b)?;
                        }
                        let mut left = size;
                        let mut buf = vec![0u8; 64 * 1024];
                        while left > 0 {
                            let n = f.read(&mut buf[..(left.min(64 * 1024)) as usize])?;
                            if n == 0 {
                                // Shrunk while archived: pad with zeros.
                                buf.fill(0);
                                let pad = left.min(64 * 1024) as usize;
                                sink.write_all(&buf[..pad])?;
                                left -= pad as u64;
                                continue;
                            }
                            sink.write_all(&buf[..n])?;
                            left -= n as u64;
                        }
                        let rem = (size % 512) as usize;
                        if rem != 0 {
                            sink.write_all(&vec![0u8; 512 - rem])?;
                        }
                    }
                    _ => {
                        ctx.fail(&format!("{path}: unknown file type"));
                    }
                }
                Ok(())
            })();
            if let Err(e) = r {
                result = Err(Abort::Exit(1));
                if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::Interrupted {
                    ctx.fail(&format!("write error: {}", errno(&e)));
                }
                break 'members;
            }
        }
    }
    let finish: io::Result<()> = (|| {
        sink.write_all(&[0u8; 1024])?;
        sink.flush()
    })();
    drop(sink);
    result?;
    if let Err(e) = finish {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Err(Abort::Signal(crate::process::Signal::Pipe));
        }
        ctx.fail(&format!("write error: {}", errno(&e)));
        return Ok(1);
    }
    if errors {
        if ctx.gnu() {
            ctx.errs("tar: Exiting with failure status due to previous errors\n");
            return Ok(2);
        }
        ctx.fail("error exit delayed from previous errors");
        return Ok(1);
    }
    Ok(0)
}

/// A context whose working directory is `dir` (`tar -C`).
fn ctx_at(ctx: &Ctx, dir: &str) -> Ctx {
    Ctx {
        sys: ctx.sys.clone(),
        proc: std::sync::Arc::clone(&ctx.proc),
        cwd: crate::hostfs::absolute(&ctx.cwd, dir),
        env: ctx.env.clone(),
        fds: ctx.fds.clone(),
        name: ctx.name.clone(),
        flavor: ctx.flavor,
        tty: ctx.tty.clone(),
        dialect: ctx.dialect,
    }
}

fn parse_octal(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // base-256
        return field[1..]
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b));
    }
    let s: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    u64::from_str_radix(s.trim(), 8).unwrap_or(0)
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

// Long: one pass over the archive stream (headers, long names, then list,
// stdout or extract per member type); every part shares the reader and
// the stream position, which a split would have to thread through.
fn tar_read(
    ctx: &Ctx,
    file: Option<&str>,
    base: &str,
    gz: bool,
    list: bool,
    opts: &TarOpts,
    wanted: &[String],
) -> Ret {
    let in_fd = match file {
        None | Some("-") => ctx.stdin(),
        Some(f) => {
            match ctx.open_input(f) {
                Ok(fd) => fd,
                Err(e) => {
                    if ctx.gnu() {
                        ctx.errs(&format!("tar: {f}: Cannot open: {}\ntar: Error is not recoverable: exiting now\n", errno(&e)));
                        return Ok(2);
                    }
                    ctx.fail(&format!("can't open '{f}': {}", errno(&e)));
                    return Ok(1);
                }
            }
        }
    };
    // Sniff the gzip magic (busybox's seamless decompression).
    let mut raw = FdReader::new(ctx, in_fd);
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match raw.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return Err(raw.abort.unwrap_or(Abort::Exit(1))),
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let chained = head.chain(raw);
    let is_gz = gz || (got == 2 && magic == [0x1f, 0x8b]);
    let mut reader: Box<dyn Read + '_> = if is_gz {
        Box::new(MultiGzDecoder::new(chained))
    } else {
        Box::new(chained)
    };
    let here = ctx_at(ctx, base);
    let mut warned = false;
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut zero_blocks = 0;
    let mut seen_any = false;
    let mut out = String::new();
    let mut status = 0;
    let mut found: Vec<bool> = vec![false; wanted.len()];
    loop {
        ctx.check()?;
        let mut h = [0u8; 512];
        match read_full(&mut *reader, &mut h) {
            Ok(0) => break,
            Ok(n) if n < 512 => {
                if seen_any {
                    ctx.fail("short read");
                    status = 1;
                }
                break;
            }
            Ok(_) => {}
            Err(e) => {
                if is_gz && e.kind() != io::ErrorKind::Interrupted {
                    if ctx.gnu() {
                        ctx.errs("gzip: stdin: not in gzip format\ntar: Child returned status 1\ntar: Error is not recoverable: exiting now\n");
                        return Ok(2);
                    }
                    ctx.fail("invalid magic");
                    return Ok(1);
                }
                return Err(ctx.check().err().unwrap_or(Abort::Exit(1)));
            }
        }
        if h.iter().all(|&b| b == 0) {
            zero_blocks += 1;
            if zero_blocks >= 2 {
                break;
            }
            continue;
        }
        zero_blocks = 0;
        if &h[257..262] != b"ustar" && !seen_any {
            let sum: u32 = h
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u32::from(b)
                    }
                })
                .sum();
            if u64::from(sum) != parse_octal(&h[148..156]) {
                if ctx.gnu() {
                    ctx.errs("tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n");
                    return Ok(2);
                }
                ctx.fail("invalid tar magic");
                return Ok(1);
            }
        }
        seen_any = true;
        let size = parse_octal(&h[124..136]);
        let typeflag = h[156];
        let mode = parse_octal(&h[100..108]) as u32;
        let mtime = parse_octal(&h[136..148]) as i64;
        let mut name = cstr(&h[0..100]);
        let prefix = cstr(&h[345..500]);
        if &h[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let link = cstr(&h[157..257]);
        // Extended headers: their data is the next member's name.
        if matches!(typeflag, b'L' | b'x' | b'g' | b'K') {
            let mut data = vec![0u8; usize::try_from(size).unwrap_or(0).min(1 << 20)];
            read_full(&mut *reader, &mut data).map_err(|_| Abort::Exit(1))?;
            skip(&mut *reader, size - data.len() as u64 + pad(size))?;
            if typeflag == b'L' {
                long_name = Some(cstr(&data));
            } else if typeflag == b'x' {
                for rec in String::from_utf8_lossy(&data).lines() {
                    if let Some((_, kv)) = rec.split_once(' ')
                        && let Some(p) = kv.strip_prefix("path=")
                    {
                        pax_path = Some(p.to_string());
                    }
                }
            }
            continue;
        }
        if let Some(n) = long_name.take().or(pax_path.take()) {
            name = n;
        }
        let name_safe = safe_name(ctx, &name, &mut warned);
        let mut comps: Vec<&str> = name_safe
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if comps.contains(&"..") {
            ctx.fail(&format!("skipping unsafe path: {name}"));
            skip(&mut *reader, size + pad(size))?;
            continue;
        }
        if opts.strip > 0 {
            if comps.len() <= opts.strip {
                skip(&mut *reader, size + pad(size))?;
                continue;
            }
            comps.drain(..opts.strip);
        }
        let rel = comps.join("/");
        let selected = wanted.is_empty()
            || wanted.iter().enumerate().any(|(i, w)| {
                let w = w.trim_end_matches('/');
                let hit = rel == w || rel.starts_with(&format!("{w}/")) || name == w;
                if hit {
                    found[i] = true;
                }
                hit
            });
        if !selected {
            skip(&mut *reader, size + pad(size))?;
            continue;
        }
        let is_dir = typeflag == b'5';
        if list {
            if opts.verbose {
                let kind = match typeflag {
                    b'5' => 'd',
                    b'2' => 'l',
                    b'1' => 'h',
                    _ => '-',
                };
                let m = crate::shell::vfs::Meta {
                    kind: Kind::File,
                    mode: mode & 0o7777,
                    len: 0,
                    nlink: 1,
                    mtime,
                    atime: mtime,
                    ctime: mtime,
                    ino: 0,
                    blocks: 0,
                    dev: 0,
                    rdev: (0, 0),
                    uid: 0,
                    gid: 0,
                };
                let ms = format!("{kind}{}", &m.mode_string()[1..]);
                let t = jiff::Timestamp::from_second(mtime)
                    .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                // Names, else the numbers.
                let named = |name: String, r: std::ops::Range<usize>| {
                    if name.trim().is_empty() {
                        parse_octal(&h[r]).to_string()
                    } else {
                        name.trim().to_string()
                    }
                };
                let owner = format!(
                    "{}/{}",
                    named(cstr(&h[265..297]), 108..116),
                    named(cstr(&h[297..329]), 116..124)
                );
                out.push_str(&format!("{ms} {owner} {size:>9} {t} {name}"));
                if typeflag == b'2' {
                    out.push_str(&format!(" -> {link}"));
                }
                out.push('\n');
            } else {
                out.push_str(&format!("{name}\n"));
            }
            if out.len() > 16 * 1024 {
                ctx.outs(&out)?;
                out.clear();
            }
            skip(&mut *reader, size + pad(size))?;
            continue;
        }
        if opts.verbose {
            out.push_str(&format!("{name}\n"));
        }
        if rel.is_empty() {
            skip(&mut *reader, size + pad(size))?;
            continue;
        }
        let vfs = here.vfs();
        if opts.to_stdout {
            if !is_dir && typeflag != b'2' {
                let mut left = size;
                let mut buf = vec![0u8; 64 * 1024];
                while left > 0 {
                    let n = read_full(&mut *reader, &mut buf[..(left.min(64 * 1024)) as usize])
                        .map_err(|_| Abort::Exit(1))?;
                    if n == 0 {
                        break;
                    }
                    ctx.out(&buf[..n])?;
                    left -= n as u64;
                }
                skip(&mut *reader, pad(size))?;
            } else {
                skip(&mut *reader, size + pad(size))?;
            }
            continue;
        }
        // Parent directories may be implicit in the archive.
        if let Some(parent) = rel.rsplit_once('/').map(|(p, _)| p)
            && let Ok(pp) = vfs.place(parent, true)
            && !pp.host.is_dir()
        {
            let mut cur = String::new();
            for c in parent.split('/') {
                cur = if cur.is_empty() {
                    c.to_string()
                } else {
                    format!("{cur}/{c}")
                };
                if let Ok(cp) = vfs.place(&cur, true)
                    && !cp.host.is_dir()
                    && vfs.check_entry(&cp).is_ok()
                    && std::fs::create_dir(&cp.host).is_ok()
                {
                    vfs.adopt(&cp);
                }
            }
        }
        let place = vfs.place(&rel, false).and_then(|p| {
            if is_dir && p.host.is_dir() {
                // An existing directory: only its mode, times and owner.
                if p.read_only {
                    Err(crate::shell::vfs::erofs())
                } else {
                    Ok(p)
                }
            } else {
                vfs.check_entry(&p).map(|()| p)
            }
        });
        let place = match place {
            Ok(p) => p,
            Err(e) => {
                // busybox dies on it (xopen3, bb_make_directory); GNU
                // tar goes on and ends with status 2.
                let why = errno(&e);
                if ctx.gnu() {
                    let what = if is_dir {
                        "Cannot mkdir"
                    } else {
                        "Cannot open"
                    };
                    ctx.errs(&format!("tar: {rel}: {what}: {why}\n"));
                    status = 2;
                    skip(&mut *reader, size + pad(size))?;
                    continue;
                }
                match typeflag {
                    b'5' => ctx.fail(&format!("can't make dir {rel}: {why}")),
                    b'2' => ctx.fail(&format!("can't create symlink '{rel}' to '{link}': {why}")),
                    b'1' => ctx.fail(&format!("can't create hardlink '{rel}' to '{link}': {why}")),
                    _ => ctx.fail(&format!("can't open '{rel}': {why}")),
                }
                status = 1;
                break;
            }
        };
        let r: io::Result<()> = match typeflag {
            b'5' => std::fs::create_dir_all(&place.host)
                .or_else(|e| if place.host.is_dir() { Ok(()) } else { Err(e) }),
            b'2' => {
                let _ = std::fs::remove_file(&place.host);
                std::os::unix::fs::symlink(&link, &place.host)
            }
            b'1' => match vfs.place(link.trim_start_matches('/'), true) {
                Ok(t) => {
                    let _ = std::fs::remove_file(&place.host);
                    std::fs::hard_link(&t.host, &place.host)
                }
                Err(e) => Err(e),
            },
            _ => {
                let _ = std::fs::remove_file(&place.host);
                (|| {
                    let mut f = std::fs::File::create(&place.host)?;
                    let mut left = size;
                    let mut buf = vec![0u8; 64 * 1024];
                    while left > 0 {
                        let n =
                            read_full(&mut *reader, &mut buf[..(left.min(64 * 1024)) as usize])?;
                        if n == 0 {
                            break;
                        }
                        ctx.sys.disk.reserve(&place.host, n as u64)?;
                        f.write_all(&buf[..n])?;
                        left -= n as u64;
                    }
                    Ok(())
                })()
            }
        };
        if !matches!(typeflag, b'5' | b'2' | b'1') || r.is_err() {
            // File data (or what is left of it after an error) and padding.
            let consumed_all = r.is_ok();
            let remaining = if consumed_all { pad(size) } else { 0 };
            skip(&mut *reader, remaining)?;
            if !consumed_all && !matches!(typeflag, b'5' | b'2' | b'1') {
                // The stream position is lost with the file: stop.
                if let Err(e) = &r {
                    ctx.fail(&format!("{rel}: {}", errno(e)));
                }
                status = 1;
                break;
            }
        } else {
            skip(&mut *reader, size + pad(size))?;
        }
        match r {
            Ok(()) => {
                // Root restores the archive's owners (names first, as
                // busybox and GNU tar do); anyone else owns what they make.
                let who = ctx.sys.fs.identity();
                if who.uid == 0 && opts.same_owner {
                    let (user, group) = (cstr(&h[265..297]), cstr(&h[297..329]));
                    let num = |r: std::ops::Range<usize>| u32::try_from(parse_octal(&h[r])).ok();
                    let owner = crate::hostfs::owners::Owner {
                        uid: here.user_named(&user).or(num(108..116)).unwrap_or(0),
                        gid: here.group_named(&group).or(num(116..124)).unwrap_or(0),
                    };
                    let _ = crate::hostfs::owners::set(&place.host, owner);
                } else {
                    vfs.adopt(&place);
                }
                if typeflag != b'2' {
                    let _ = std::fs::set_permissions(
                        &place.host,
                        std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777),
                    );
                    if opts.keep_mtime
                        && let Ok(f) = std::fs::File::open(&place.host)
                    {
                        let _ = f.set_modified(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::from_secs(mtime.max(0) as u64),
                        );
                    }
                }
            }
            Err(e) => {
                if matches!(typeflag, b'5' | b'2' | b'1') {
                    ctx.fail(&format!("{rel}: {}", errno(&e)));
                    status = 1;
                }
            }
        }
        if out.len() > 16 * 1024 {
            ctx.outs(&out)?;
            out.clear();
        }
    }
    ctx.outs(&out)?;
    for (i, w) in wanted.iter().enumerate() {
        if !found[i] {
            if ctx.gnu() {
                ctx.errs(&format!("tar: {w}: Not found in archive\n"));
            } else {
                ctx.fail(&format!("{w}: not found in archive"));
            }
            status = if ctx.gnu() { 2 } else { 1 };
        }
    }
    if status == 2 && ctx.gnu() {
        ctx.errs("tar: Exiting with failure status due to previous errors\n");
    }
    Ok(status)
}

fn pad(size: u64) -> u64 {
    (512 - size % 512) % 512
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn skip(r: &mut dyn Read, mut n: u64) -> Result<(), Abort> {
    let mut buf = [0u8; 8192];
    while n > 0 {
        let k = read_full(r, &mut buf[..(n.min(8192)) as usize]).map_err(|_| Abort::Exit(1))?;
        if k == 0 {
            break;
        }
        n -= k as u64;
    }
    Ok(())
}

// ----------------------------------------------------------------------
// gzip, gunzip, zcat
// ----------------------------------------------------------------------

pub fn gzip(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut decompress = ctx.name.ends_with("gunzip") || ctx.name.ends_with("zcat");
    let mut to_stdout = ctx.name.ends_with("zcat");
    let mut keep = false;
    let mut force = false;
    let mut level = 6u32;
    let mut files = Vec::new();
    for a in args {
        if a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
            for c in a[1..].chars() {
                match c {
                    'd' => decompress = true,
                    'c' => to_stdout = true,
                    'k' => keep = true,
                    'f' => force = true,
                    'n' | 'N' | 'q' | 'v' | 't' => {}
                    d @ '1'..='9' => level = d.to_digit(10).unwrap_or(6),
                    other => return ctx.bad_option(&other.to_string()),
                }
            }
        } else if a != "--" {
            files.push(a.clone());
        }
    }
    let _ = force;
    let run = |ctx: &Ctx, input: Fd, output: Fd| -> Result<Result<(), String>, Abort> {
        let mut reader = FdReader::new(ctx, input);
        let mut writer = FdWriter::new(ctx, output);
        let r = if decompress {
            let mut dec = MultiGzDecoder::new(&mut reader);
            io::copy(&mut dec, &mut writer).map(|_| ())
        } else {
            let mut enc = GzEncoder::new(&mut writer, Compression::new(level));
            io::copy(&mut reader, &mut enc).and_then(|_| enc.finish().map(|_| ()))
        };
        if let Some(a) = reader.abort.take().or(writer.abort.borrow_mut().take()) {
            return Err(a);
        }
        Ok(r.map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput
            | io::ErrorKind::InvalidData
            | io::ErrorKind::UnexpectedEof => "invalid magic".to_string(),
            _ => errno(&e),
        }))
    };
    if files.is_empty() || files == ["-"] {
        return match run(ctx, ctx.stdin(), ctx.fds.get_or_null(1))? {
            Ok(()) => Ok(0),
            Err(msg) => {
                if ctx.gnu() && msg == "invalid magic" {
                    ctx.errs(&format!("{}: stdin: not in gzip format\n", ctx.name));
                } else {
                    ctx.fail(&msg);
                }
                Ok(1)
            }
        };
    }
    let mut status = 0;
    for f in &files {
        if decompress && !to_stdout && !f.ends_with(".gz") && !f.ends_with(".tgz") {
            ctx.fail(&format!("{f}: unknown suffix - ignored"));
            status = 1;
            continue;
        }
        let input = match ctx.open_input(f) {
            Ok(fd) => fd,
            Err(e) => {
                ctx.fail_as(
                    &format!("{f}: {}", errno(&e)),
                    &format!("can't open '{f}': {}", errno(&e)),
                );
                status = 1;
                continue;
            }
        };
        let (output, target) = if to_stdout {
            (ctx.fds.get_or_null(1), None)
        } else {
            let t = if decompress {
                f.strip_suffix(".gz")
                    .map(str::to_string)
                    .unwrap_or_else(|| f.replace(".tgz", ".tar"))
            } else {
                format!("{f}.gz")
            };
            match ctx.vfs().open_write(&t, false, false) {
                Ok(fd) => (fd, Some(t)),
                Err(e) => {
                    ctx.fail(&format!("can't open '{t}': {}", errno(&e)));
                    status = 1;
                    continue;
                }
            }
        };
        match run(ctx, input, output)? {
            Ok(()) => {
                if target.is_some()
                    && !keep
                    && let Ok(p) = ctx.vfs().writable(f, false)
                {
                    let _ = std::fs::remove_file(p.host);
                }
            }
            Err(msg) => {
                ctx.fail(&msg);
                if let Some(t) = target
                    && let Ok(p) = ctx.vfs().writable(&t, false)
                {
                    let _ = std::fs::remove_file(p.host);
                }
                status = 1;
            }
        }
    }
    Ok(status)
}
