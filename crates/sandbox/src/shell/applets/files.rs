//! Applets on files and directories: `ls`, `cp`, `mv`, `ln`, `rm`,
//! `mkdir`, `rmdir`, `touch`, `stat`, `find`, `du`, `df`, `mount`,
//! `chmod`, `chown`, `readlink`, `realpath`, `mktemp`, `dd` — through the
//! container's mount table, with the host-disk guard on every write.

use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::hostfs::MountKind;

use super::{Abort, Ctx, Ret, getopt, human_size};
use crate::shell::io::Fd;
use crate::shell::pattern::Pattern;
use crate::shell::vfs::{Kind, Meta, erofs, errno};

/// The node disk size `df` shows for the writable layer and node-backed
/// volumes.
const NODE_DISK_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// The most entries one walk (`find`, `du`, `cp -r`, `rm -r`) visits.
const MAX_WALK: usize = 200_000;

fn month_day_time(t: i64, now: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(t) else {
        return "Jan  1  1970".to_string();
    };
    // Files older than six months (or in the future) show the year.
    if now - t > 182 * 86400 || t - now > 3600 {
        ts.strftime("%b %e  %Y").to_string()
    } else {
        ts.strftime("%b %e %H:%M").to_string()
    }
}

fn basename(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/";
    }
    t.rsplit('/').next().unwrap_or(t)
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

// ----------------------------------------------------------------------
// ls
// ----------------------------------------------------------------------

struct LsOpts {
    long: bool,
    all: bool,
    almost_all: bool,
    human: bool,
    dir_only: bool,
    recursive: bool,
    reverse: bool,
    by_time: bool,
    by_size: bool,
    classify: bool,
    inode: bool,
    numeric: bool,
    one: bool,
    blocks: bool,
}

struct Entry {
    /// As shown.
    name: String,
    /// To look it up.
    path: String,
    meta: Option<Meta>,
}

pub fn ls(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "1aAlhdRrtSFinsCxe") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let opts = LsOpts {
        long: o.has('l') || o.has('n'),
        all: o.has('a'),
        almost_all: o.has('A'),
        human: o.has('h'),
        dir_only: o.has('d'),
        recursive: o.has('R'),
        reverse: o.has('r'),
        by_time: o.has('t'),
        by_size: o.has('S'),
        classify: o.has('F'),
        inode: o.has('i'),
        numeric: o.has('n'),
        one: o.has('1') || ctx.tty.is_none(),
        blocks: o.has('s'),
    };
    let operands = if o.operands.is_empty() {
        vec![".".to_string()]
    } else {
        o.operands.clone()
    };
    let vfs = ctx.vfs();
    let mut status = 0;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for p in &operands {
        match vfs.metadata(p).or_else(|_| vfs.symlink_metadata(p)) {
            Ok(m) if m.is_dir() && !opts.dir_only => dirs.push(p.clone()),
            Ok(_) => files.push(Entry {
                name: p.clone(),
                path: p.clone(),
                meta: vfs.symlink_metadata(p).ok(),
            }),
            Err(e) => {
                if ctx.gnu() {
                    ctx.fail(&format!("cannot access '{p}': {}", errno(&e)));
                    status = 2;
                } else {
                    ctx.fail(&format!("{p}: {}", errno(&e)));
                    status = 1;
                }
            }
        }
    }
    sort_entries(&mut files, &opts);
    let mut out = String::new();
    print_entries(ctx, &files, &opts, &mut out, false);
    dirs.sort();
    if opts.reverse {
        dirs.reverse();
    }
    let headers = operands.len() > 1 || opts.recursive;
    let mut first = files.is_empty();
    let mut queue: std::collections::VecDeque<String> = dirs.into();
    let mut visited = 0;
    while let Some(d) = queue.pop_front() {
        ctx.check()?;
        visited += 1;
        if visited > MAX_WALK {
            break;
        }
        if headers {
            if !first {
                out.push('\n');
            }
            out.push_str(&format!("{d}:\n"));
        }
        first = false;
        let names = match ctx.vfs().list_dir(&d) {
            Ok(n) => n,
            Err(e) => {
                ctx.out(out.as_bytes())?;
                out.clear();
                if ctx.gnu() {
                    ctx.fail(&format!("cannot open directory '{d}': {}", errno(&e)));
                    status = 2;
                } else {
                    // busybox's warn_opendir.
                    ctx.fail(&format!("can't open '{d}': {}", errno(&e)));
                    status = 1;
                }
                continue;
            }
        };
        let mut entries: Vec<Entry> = Vec::new();
        if opts.all {
            for n in [".", ".."] {
                let path = join(&d, n);
                entries.push(Entry {
                    name: n.to_string(),
                    meta: ctx.vfs().symlink_metadata(&path).ok(),
                    path,
                });
            }
        }
        for n in names {
            if n.starts_with('.') && !opts.all && !opts.almost_all {
                continue;
            }
            let path = join(&d, &n);
            entries.push(Entry {
                name: n,
                meta: ctx.vfs().symlink_metadata(&path).ok(),
                path,
            });
        }
        sort_entries(&mut entries, &opts);
        print_entries(ctx, &entries, &opts, &mut out, true);
        if opts.recursive {
            let mut subs: Vec<String> = entries
                .iter()
                .filter(|e| e.name != "." && e.name != "..")
                .filter(|e| e.meta.as_ref().is_some_and(Meta::is_dir))
                .map(|e| e.path.clone())
                .collect();
            // Depth first, in order: insert at the front.
            while let Some(s) = subs.pop() {
                queue.push_front(s);
            }
        }
        if out.len() > 64 * 1024 {
            ctx.out(out.as_bytes())?;
            out.clear();
        }
    }
    ctx.out(out.as_bytes())?;
    Ok(status)
}

fn sort_entries(entries: &mut [Entry], opts: &LsOpts) {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    if opts.by_time {
        entries.sort_by_key(|e| std::cmp::Reverse(e.meta.as_ref().map_or(0, |m| m.mtime)));
    } else if opts.by_size {
        entries.sort_by_key(|e| std::cmp::Reverse(e.meta.as_ref().map_or(0, |m| m.len)));
    }
    if opts.reverse {
        entries.reverse();
    }
}

fn classify(m: &Meta) -> &'static str {
    match m.kind {
        Kind::Dir => "/",
        Kind::Symlink => "@",
        Kind::Fifo => "|",
        _ if m.mode & 0o111 != 0 => "*",
        _ => "",
    }
}

fn print_entries(ctx: &Ctx, entries: &[Entry], opts: &LsOpts, out: &mut String, in_dir: bool) {
    if entries.is_empty() {
        if in_dir && opts.long {
            out.push_str("total 0\n");
        }
        return;
    }
    let now = jiff::Timestamp::now().as_second();
    if opts.long {
        if in_dir {
            let blocks: u64 = entries
                .iter()
                .filter_map(|e| e.meta.as_ref())
                .map(|m| m.blocks / 2)
                .sum();
            out.push_str(&format!("total {blocks}\n"));
        }
        let gnu = ctx.gnu();
        let size_of = |m: &Meta| -> String {
            if m.kind == Kind::CharDevice {
                format!("{}, {}", m.rdev.0, m.rdev.1)
            } else if opts.human {
                if gnu {
                    gnu_human(m.len)
                } else {
                    human_size(m.len)
                }
            } else {
                m.len.to_string()
            }
        };
        let (w_link, w_size) = if gnu {
            entries
                .iter()
                .filter_map(|e| e.meta.as_ref())
                .fold((1, 1), |(l, s), m| {
                    (l.max(m.nlink.to_string().len()), s.max(size_of(m).len()))
                })
        } else {
            (4, 9)
        };
        // Read once for the whole listing.
        let (users, groups) = (ctx.accounts("/etc/passwd"), ctx.accounts("/etc/group"));
        let name_in = |db: &[(String, u32)], id: u32| {
            db.iter()
                .find(|(_, i)| *i == id)
                .map_or_else(|| id.to_string(), |(n, _)| n.clone())
        };
        for e in entries {
            let Some(m) = &e.meta else {
                out.push_str(&format!("{}\n", e.name));
                continue;
            };
            let target = if m.kind == Kind::Symlink {
                std::fs::read_link(
                    ctx.vfs()
                        .place(&e.path, false)
                        .map(|p| p.host)
                        .unwrap_or_default(),
                )
                .map(|t| format!(" -> {}", t.display()))
                .unwrap_or_default()
            } else {
                String::new()
            };
            let (user, group) = if opts.numeric {
                (m.uid.to_string(), m.gid.to_string())
            } else {
                (name_in(&users, m.uid), name_in(&groups, m.gid))
            };
            let inode = if opts.inode {
                format!("{:>8} ", m.ino)
            } else {
                String::new()
            };
            let suffix = if opts.classify { classify(m) } else { "" };
            if gnu {
                out.push_str(&format!(
                    "{inode}{} {:>w_link$} {user} {group} {:>w_size$} {} {}{suffix}{target}\n",
                    m.mode_string(),
                    m.nlink,
                    size_of(m),
                    month_day_time(m.mtime, now),
                    e.name,
                ));
            } else {
                out.push_str(&format!(
                    "{inode}{} {:>w_link$} {user:<8} {group:<8} {:>w_size$} {} {}{suffix}{target}\n",
                    m.mode_string(),
                    m.nlink,
                    size_of(m),
                    month_day_time(m.mtime, now),
                    e.name,
                ));
            }
        }
        return;
    }
    let names: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut n = String::new();
            if opts.inode {
                n.push_str(&format!("{} ", e.meta.as_ref().map_or(0, |m| m.ino)));
            }
            if opts.blocks {
                n.push_str(&format!("{} ", e.meta.as_ref().map_or(0, |m| m.blocks / 2)));
            }
            n.push_str(&e.name);
            if opts.classify
                && let Some(m) = &e.meta
            {
                n.push_str(classify(m));
            }
            n
        })
        .collect();
    if opts.one {
        for n in names {
            out.push_str(&n);
            out.push('\n');
        }
        return;
    }
    // Columns, top to bottom, as on a terminal.
    let width = ctx.tty.as_ref().map_or(80, |t| t.size().0 as usize).max(20);
    let col = names.iter().map(|n| n.chars().count()).max().unwrap_or(1) + 2;
    let cols = (width / col).max(1);
    let rows = names.len().div_ceil(cols);
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..cols {
            if let Some(n) = names.get(c * rows + r) {
                if (c + 1) * rows + r < names.len() {
                    line.push_str(&format!("{n:<col$}"));
                } else {
                    line.push_str(n);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// GNU's `-h`: one decimal below 10, rounded up (`4.0K`, `12K`, `1.5M`).
pub fn gnu_human(bytes: u64) -> String {
    if bytes < 1024 {
        return bytes.to_string();
    }
    let units = ["K", "M", "G", "T", "P"];
    let mut v = bytes as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if v < 10.0 {
        let r = (v * 10.0).ceil() / 10.0;
        if r >= 10.0 {
            format!("{}{}", r.ceil() as u64, units[u])
        } else {
            format!("{r:.1}{}", units[u])
        }
    } else {
        format!("{}{}", v.ceil() as u64, units[u])
    }
}

// ----------------------------------------------------------------------
// cp, mv, ln
// ----------------------------------------------------------------------

/// Copies one regular file's bytes on the host, under the disk guard.
fn copy_file(ctx: &Ctx, from: &std::path::Path, to: &std::path::Path) -> io::Result<u64> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(to)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        if ctx.check().is_err() {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.sys.disk.reserve(to, n as u64)?;
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
    if let Ok(m) = std::fs::metadata(from) {
        let _ =
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.permissions().mode()));
    }
    Ok(total)
}

struct CopyOpts {
    recursive: bool,
    no_clobber: bool,
    verbose: bool,
    preserve_links: bool,
    /// `-p`, `-a`: owners too (when root), as `chown` would.
    preserve: bool,
}

pub fn cp(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, long) = match getopt(ctx, args, "rRapfinvdPLHlsTu") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let opts = CopyOpts {
        recursive: o.has('r') || o.has('R') || o.has('a') || long.iter().any(|l| l == "recursive"),
        no_clobber: o.has('n'),
        verbose: o.has('v'),
        preserve_links: o.has('a') || o.has('d') || o.has('P'),
        preserve: o.has('a') || o.has('p'),
    };
    let ops = &o.operands;
    if ops.len() < 2 {
        if ctx.gnu() {
            ctx.fail(if ops.is_empty() {
                "missing file operand"
            } else {
                "missing destination file operand after"
            });
        } else {
            ctx.usage("cp [-arPLHpfinlsTu] SOURCE DEST");
        }
        return Ok(1);
    }
    let (dest, sources) = ops
        .split_last()
        .map(|(d, s)| (d.clone(), s.to_vec()))
        .unwrap_or_default();
    let dest_is_dir = ctx.vfs().metadata(&dest).is_ok_and(|m| m.is_dir());
    if sources.len() > 1 && !dest_is_dir {
        ctx.fail_as(
            &format!("target '{dest}': Not a directory"),
            &format!("'{dest}' is not a directory"),
        );
        return Ok(1);
    }
    let mut status = 0;
    for src in &sources {
        let target = if dest_is_dir {
            join(&dest, basename(src))
        } else {
            dest.clone()
        };
        if copy_tree(ctx, src, &target, &opts, true).is_err() {
            status = 1;
        }
        ctx.check()?;
    }
    Ok(status)
}

/// Copies `src` to `dst` (a tree with `recursive`). Errors are printed.
fn copy_tree(ctx: &Ctx, src: &str, dst: &str, opts: &CopyOpts, top: bool) -> Result<(), ()> {
    let vfs = ctx.vfs();
    let meta = match if opts.preserve_links {
        vfs.symlink_metadata(src)
    } else {
        vfs.metadata(src)
    } {
        Ok(m) => m,
        Err(e) => {
            ctx.fail_as(
                &format!("cannot stat '{src}': {}", errno(&e)),
                &format!("can't stat '{src}': {}", errno(&e)),
            );
            return Err(());
        }
    };
    let dplace = match vfs.place(dst, true) {
        Ok(p) => p,
        Err(e) => {
            ctx.fail(&format!("can't create '{dst}': {}", errno(&e)));
            return Err(());
        }
    };
    // A new entry needs its directory's rights; an existing file, its own.
    let existing = vfs.metadata(dst).ok();
    let allowed = match &existing {
        _ if dplace.read_only => Err(crate::shell::vfs::erofs()),
        Some(m) if m.is_dir() => Ok(()),
        Some(m) if !vfs.allowed(m, crate::shell::vfs::WRITE) => Err(crate::shell::vfs::eacces()),
        Some(_) => Ok(()),
        None => vfs.check_entry(&dplace),
    };
    if let Err(e) = allowed {
        if ctx.gnu() {
            ctx.fail(&format!(
                "cannot create regular file '{dst}': {}",
                errno(&e)
            ));
        } else {
            ctx.fail(&format!("can't create '{dst}': {}", errno(&e)));
        }
        return Err(());
    }
    let splace = vfs.place(src, !opts.preserve_links).map_err(|_| ())?;
    let new_entry = |ctx: &Ctx| {
        let vfs = ctx.vfs();
        if opts.preserve && ctx.sys.fs.identity().uid == 0 {
            let _ = crate::hostfs::owners::set(
                &dplace.host,
                crate::hostfs::owners::Owner {
                    uid: meta.uid,
                    gid: meta.gid,
                },
            );
        } else {
            // As open(2) with the source's mode: through the umask.
            vfs.adopt_mode(&dplace, meta.mode);
        }
    };
    if meta.is_dir() {
        if !opts.recursive {
            ctx.fail_as(
                &format!("-r not specified; omitting directory '{src}'"),
                &format!("omitting directory '{src}'"),
            );
            return Err(());
        }
        if top
            && (dplace.path == splace.path || dplace.path.starts_with(&format!("{}/", splace.path)))
        {
            if ctx.gnu() {
                ctx.fail(&format!(
                    "cannot copy a directory, '{src}', into itself, '{dst}'"
                ));
            } else {
                ctx.fail("can't copy a directory into itself");
            }
            return Err(());
        }
        if !dplace.host.is_dir() {
            if let Err(e) = std::fs::create_dir_all(&dplace.host) {
                ctx.fail(&format!("can't create directory '{dst}': {}", errno(&e)));
                return Err(());
            }
            new_entry(ctx);
        }
        let names = vfs.list_dir(src).map_err(|_| ())?;
        let mut failed = false;
        for n in names {
            if ctx.check().is_err() {
                return Err(());
            }
            if copy_tree(ctx, &join(src, &n), &join(dst, &n), opts, false).is_err() {
                failed = true;
            }
        }
        return if failed { Err(()) } else { Ok(()) };
    }
    if opts.no_clobber && dplace.host.exists() {
        return Ok(());
    }
    if meta.kind == Kind::Symlink {
        let target = std::fs::read_link(&splace.host).map_err(|_| ())?;
        let _ = std::fs::remove_file(&dplace.host);
        return std::os::unix::fs::symlink(target, &dplace.host).map_err(|e| {
            ctx.fail(&format!("can't create symlink '{dst}': {}", errno(&e)));
        });
    }
    if let Err(e) = vfs.access(src, crate::shell::vfs::READ) {
        ctx.fail_as(
            &format!("cannot open '{src}' for reading: {}", errno(&e)),
            &format!("can't open '{src}': {}", errno(&e)),
        );
        return Err(());
    }
    if dplace.host.is_dir() {
        ctx.fail(&format!("can't create '{dst}': Is a directory"));
        return Err(());
    }
    if !vfs.parent_exists(&dplace) {
        if ctx.gnu() {
            ctx.fail(&format!(
                "cannot create regular file '{dst}': No such file or directory"
            ));
        } else {
            ctx.fail(&format!("can't create '{dst}': No such file or directory"));
        }
        return Err(());
    }
    if crate::shell::vfs::device(&splace.path).is_some() {
        // `cp /dev/null f`: an empty file.
        std::fs::write(&dplace.host, b"").map_err(|_| ())?;
        if existing.is_none() {
            new_entry(ctx);
        }
        return Ok(());
    }
    let copied = copy_file(ctx, &splace.host, &dplace.host);
    if existing.is_none() && dplace.host.exists() {
        new_entry(ctx);
    }
    match copied {
        Ok(_) => {
            if opts.verbose {
                let _ = ctx.outs(&format!("'{src}' -> '{dst}'\n"));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(()),
        Err(e) => {
            ctx.fail_as(
                &format!("error writing '{dst}': {}", errno(&e)),
                &format!("error writing to '{dst}': {}", errno(&e)),
            );
            Err(())
        }
    }
}

pub fn mv(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "finvT") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ops = &o.operands;
    if ops.len() < 2 {
        return ctx.missing_operand("missing file operand", "mv [-fin] SOURCE DEST");
    }
    let (dest, sources) = ops
        .split_last()
        .map(|(d, s)| (d.clone(), s.to_vec()))
        .unwrap_or_default();
    let dest_is_dir = ctx.vfs().metadata(&dest).is_ok_and(|m| m.is_dir());
    if sources.len() > 1 && !dest_is_dir {
        ctx.fail(&format!("'{dest}' is not a directory"));
        return Ok(1);
    }
    let mut status = 0;
    for src in &sources {
        let target = if dest_is_dir {
            join(&dest, basename(src))
        } else {
            dest.clone()
        };
        let vfs = ctx.vfs();
        let s = match vfs.place(src, false) {
            Ok(p) if std::fs::symlink_metadata(&p.host).is_ok() || vfs.is_mount_point(&p.path) => p,
            Ok(_) | Err(_) => {
                ctx.fail_as(
                    &format!("cannot stat '{src}': No such file or directory"),
                    &format!("can't rename '{src}': No such file or directory"),
                );
                status = 1;
                continue;
            }
        };
        if vfs.is_mount_point(&s.path) {
            ctx.fail(&format!("can't rename '{src}': Resource busy"));
            status = 1;
            continue;
        }
        let d = match vfs.place(&target, true) {
            Ok(p) => p,
            Err(e) => {
                ctx.fail(&format!("can't rename '{src}': {}", errno(&e)));
                status = 1;
                continue;
            }
        };
        if let Err(e) = vfs.check_entry(&s).and_then(|()| vfs.check_entry(&d)) {
            ctx.fail(&format!("can't rename '{src}': {}", errno(&e)));
            status = 1;
            continue;
        }
        if o.has('n') && d.host.exists() {
            continue;
        }
        if let Err(e) = std::fs::rename(&s.host, &d.host) {
            // Across filesystems: copy, then remove.
            if e.raw_os_error() == Some(18) {
                let opts = CopyOpts {
                    recursive: true,
                    no_clobber: false,
                    verbose: false,
                    preserve_links: true,
                    preserve: true,
                };
                if copy_tree(ctx, src, &target, &opts, true).is_ok() {
                    let _ = if s.host.is_dir() {
                        std::fs::remove_dir_all(&s.host)
                    } else {
                        std::fs::remove_file(&s.host)
                    };
                } else {
                    status = 1;
                }
            } else {
                ctx.fail(&format!("can't rename '{src}': {}", errno(&e)));
                status = 1;
            }
        } else if o.has('v') {
            ctx.outs(&format!("renamed '{src}' -> '{target}'\n"))?;
        }
    }
    Ok(status)
}

pub fn ln(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "sfnvT") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ops = &o.operands;
    if ops.is_empty() {
        ctx.usage("ln [-sfnbtv] [-S SUF] TARGET... LINK|DIR");
        return Ok(1);
    }
    let (link_arg, targets) = if ops.len() == 1 {
        (".".to_string(), ops.clone())
    } else {
        let (l, t) = ops
            .split_last()
            .map(|(l, t)| (l.clone(), t.to_vec()))
            .unwrap_or_default();
        (l, t)
    };
    let link_is_dir = !o.has('n') && ctx.vfs().metadata(&link_arg).is_ok_and(|m| m.is_dir());
    let mut status = 0;
    for target in &targets {
        let link = if link_is_dir {
            join(&link_arg, basename(target))
        } else {
            link_arg.clone()
        };
        let vfs = ctx.vfs();
        let place = match vfs.writable(&link, false) {
            Ok(p) => p,
            Err(e) => {
                ctx.fail(&format!("{link}: {}", errno(&e)));
                status = 1;
                continue;
            }
        };
        if std::fs::symlink_metadata(&place.host).is_ok() {
            if o.has('f') {
                let _ = std::fs::remove_file(&place.host);
            } else {
                if ctx.gnu() {
                    let kind = if o.has('s') {
                        "symbolic link"
                    } else {
                        "hard link"
                    };
                    ctx.fail(&format!("failed to create {kind} '{link}': File exists"));
                } else {
                    ctx.fail(&format!("{link}: File exists"));
                }
                status = 1;
                continue;
            }
        }
        let r = if o.has('s') {
            std::os::unix::fs::symlink(target, &place.host)
        } else {
            match vfs.place(target, true) {
                Ok(t) => std::fs::hard_link(&t.host, &place.host),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = r {
            ctx.fail(&format!("{link}: {}", errno(&e)));
            status = 1;
        } else {
            if o.has('s') {
                vfs.adopt(&place);
            }
            if o.has('v') {
                ctx.outs(&format!("'{link}' -> '{target}'\n"))?;
            }
        }
    }
    Ok(status)
}

// ----------------------------------------------------------------------
// rm, mkdir, rmdir, touch
// ----------------------------------------------------------------------

pub fn rm(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "rRfivd") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let recursive = o.has('r') || o.has('R');
    let force = o.has('f');
    if o.operands.is_empty() && !force {
        return ctx.missing_operand("missing operand", "rm [-irf] FILE...");
    }
    let cant = |ctx: &Ctx, p: &str, why: &str| {
        ctx.fail_as(
            &format!("cannot remove '{p}': {why}"),
            &format!("can't remove '{p}': {why}"),
        );
    };
    let mut status = 0;
    for p in &o.operands {
        let vfs = ctx.vfs();
        let place = match vfs.place(p, false) {
            Ok(pl) => pl,
            Err(e) => {
                if !force {
                    cant(ctx, p, &errno(&e));
                    status = 1;
                }
                continue;
            }
        };
        let Ok(meta) = std::fs::symlink_metadata(&place.host) else {
            if !force {
                cant(ctx, p, "No such file or directory");
                status = 1;
            }
            continue;
        };
        if let Err(e) = vfs.check_entry(&place) {
            cant(ctx, p, &errno(&e));
            status = 1;
            continue;
        }
        if meta.is_dir() {
            if !recursive && !o.has('d') {
                ctx.fail_as(
                    &format!("cannot remove '{p}': Is a directory"),
                    &format!("'{p}' is a directory"),
                );
                status = 1;
                continue;
            }
            if place.path == "/"
                || vfs.is_mount_point(&place.path)
                || has_mounts_below(ctx, &place.path)
            {
                // A mount point stays: its content goes.
                empty_dir(ctx, &place.path)?;
                cant(ctx, p, "Resource busy");
                status = 1;
                continue;
            }
            let r = if o.has('d') && !recursive {
                std::fs::remove_dir(&place.host)
            } else {
                remove_tree(ctx, &place.path, &place.host)
            };
            if let Err(e) = r {
                cant(ctx, p, &errno(&e));
                status = 1;
            } else if o.has('v') {
                ctx.outs(&format!("removed directory '{p}'\n"))?;
            }
        } else if let Err(e) = std::fs::remove_file(&place.host) {
            cant(ctx, p, &errno(&e));
            status = 1;
        } else if o.has('v') {
            ctx.outs(&format!("removed '{p}'\n"))?;
        }
    }
    Ok(status)
}

/// `rm -r` of a directory: the kernel checks each entry for a non-root
/// user (a directory it cannot read or write stops there); root's goes at
/// once.
fn remove_tree(ctx: &Ctx, path: &str, host: &std::path::Path) -> io::Result<()> {
    if ctx.sys.fs.identity().uid == 0 {
        return std::fs::remove_dir_all(host);
    }
    let vfs = ctx.vfs();
    for name in vfs.list_dir(path)? {
        let child = join(path, &name);
        let place = vfs.writable(&child, false)?;
        if std::fs::symlink_metadata(&place.host)?.is_dir() {
            remove_tree(ctx, &child, &place.host)?;
        } else {
            std::fs::remove_file(&place.host)?;
        }
    }
    std::fs::remove_dir(host)
}

fn has_mounts_below(ctx: &Ctx, path: &str) -> bool {
    let prefix = if path == "/" {
        "/".to_string()
    } else {
        format!("{path}/")
    };
    ctx.sys
        .fs
        .mounts()
        .iter()
        .any(|m| m.container_path.starts_with(&prefix))
}

/// Empties a directory that holds mounts (`rm -rf /data` where /data is a
/// volume): everything but the mount points goes; mount points are
/// emptied in turn unless read-only.
fn empty_dir(ctx: &Ctx, path: &str) -> Result<(), Abort> {
    let vfs = ctx.vfs();
    let Ok(names) = vfs.list_dir(path) else {
        return Ok(());
    };
    for n in names {
        ctx.check()?;
        let child = join(path, &n);
        if vfs.is_mount_point(&child) || has_mounts_below(ctx, &child) {
            if vfs.place(&child, false).is_ok_and(|p| !p.read_only) {
                empty_dir(ctx, &child)?;
            }
            continue;
        }
        if let Ok(p) = vfs.place(&child, false) {
            if p.read_only {
                continue;
            }
            let _ = if std::fs::symlink_metadata(&p.host).is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&p.host)
            } else {
                std::fs::remove_file(&p.host)
            };
        }
    }
    Ok(())
}

/// A chmod-style mode (`755`, `u+x,g-w`) applied to `old` (the shell's
/// `umask` reads its symbolic form with it too).
pub(crate) fn parse_mode(spec: &str, old: u32, is_dir: bool) -> Option<u32> {
    if let Ok(n) = u32::from_str_radix(spec, 8) {
        return Some(n & 0o7777);
    }
    let mut mode = old;
    for clause in spec.split(',') {
        let who_end = clause.find(['+', '-', '=']).unwrap_or(clause.len());
        let (who, rest) = clause.split_at(who_end);
        let mut mask = 0u32;
        for c in who.chars() {
            mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return None,
            };
        }
        if who.is_empty() {
            mask = 0o7777;
        }
        let mut chars = rest.chars().peekable();
        while let Some(op) = chars.next() {
            let mut bits = 0u32;
            while let Some(&c) = chars.peek() {
                if matches!(c, '+' | '-' | '=') {
                    break;
                }
                chars.next();
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || old & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return None,
                };
            }
            let bits = bits & mask;
            match op {
                '+' => mode |= bits,
                '-' => mode &= !bits,
                '=' => mode = (mode & !mask) | bits,
                _ => return None,
            }
        }
    }
    Some(mode & 0o7777)
}

pub fn mkdir(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "pm:v") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if o.operands.is_empty() {
        return ctx.missing_operand("missing operand", "mkdir [-m MODE] [-p] DIRECTORY...");
    }
    let mode = match o.value('m') {
        Some(m) => match parse_mode(m, 0o777, true) {
            Some(v) => Some(v),
            None => {
                ctx.fail(&format!("invalid mode '{m}'"));
                return Ok(1);
            }
        },
        None => None,
    };
    let mut status = 0;
    for p in &o.operands {
        let vfs = ctx.vfs();
        let r = vfs.place(p, true).and_then(|pl| {
            if vfs.is_mount_point(&pl.path) || pl.path == "/" {
                return if o.has('p') {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(17))
                };
            }
            if pl.read_only {
                return Err(erofs());
            }
            if o.has('p') {
                if pl.host.is_dir() {
                    return Ok(());
                }
                // Each missing parent, through the mount table.
                let mut cur = String::new();
                for comp in pl.path.split('/').filter(|c| !c.is_empty()) {
                    cur.push('/');
                    cur.push_str(comp);
                    let c = vfs.place(&cur, true)?;
                    if c.read_only {
                        return Err(erofs());
                    }
                    if !c.host.is_dir() {
                        vfs.check_entry(&c)?;
                        match std::fs::create_dir(&c.host) {
                            Ok(()) => vfs.adopt_mode(&c, 0o777),
                            Err(e)
                                if e.kind() == io::ErrorKind::AlreadyExists && c.host.is_dir() => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(())
            } else if pl.host.exists() {
                Err(io::Error::from_raw_os_error(17))
            } else {
                vfs.check_entry(&pl)?;
                std::fs::create_dir(&pl.host)?;
                vfs.adopt_mode(&pl, 0o777);
                Ok(())
            }
            .and_then(|()| {
                if let Some(m) = mode {
                    std::fs::set_permissions(&pl.host, std::fs::Permissions::from_mode(m))?;
                }
                Ok(())
            })
        });
        match r {
            Ok(()) => {
                if o.has('v') {
                    ctx.outs(&format!("mkdir: created directory '{p}'\n"))?;
                }
            }
            Err(e) => {
                ctx.fail_as(
                    &format!("cannot create directory '{p}': {}", errno(&e)),
                    &format!("can't create directory '{p}': {}", errno(&e)),
                );
                status = 1;
            }
        }
    }
    Ok(status)
}

pub fn rmdir(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "pv") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut status = 0;
    for p in &o.operands {
        let vfs = ctx.vfs();
        let r = vfs.place(p, false).and_then(|pl| {
            if vfs.is_mount_point(&pl.path) {
                return Err(io::Error::from_raw_os_error(16));
            }
            vfs.check_entry(&pl)?;
            std::fs::remove_dir(&pl.host)
        });
        if let Err(e) = r {
            ctx.fail_as(
                &format!("failed to remove '{p}': {}", errno(&e)),
                &format!("'{p}': {}", errno(&e)),
            );
            status = 1;
        }
    }
    Ok(status)
}

pub fn touch(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "cd:t:r:am") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if o.operands.is_empty() {
        return ctx.missing_operand(
            "missing file operand",
            "touch [-c] [-d DATE] [-t DATE] [-r FILE] FILE...",
        );
    }
    let when = match o.value('r') {
        Some(r) => ctx
            .vfs()
            .metadata(r)
            .ok()
            .map(|m| std::time::UNIX_EPOCH + Duration::from_secs(m.mtime.max(0) as u64)),
        None => None,
    }
    .or_else(|| {
        o.value('d')
            .and_then(parse_date)
            .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s.max(0) as u64))
    })
    .unwrap_or_else(std::time::SystemTime::now);
    let mut status = 0;
    for p in &o.operands {
        let vfs = ctx.vfs();
        let r = vfs.place(p, true).and_then(|pl| {
            if crate::shell::vfs::device(&pl.path).is_some() {
                return Ok(());
            }
            if pl.read_only {
                return Err(erofs());
            }
            let existing = vfs.metadata(p).ok();
            match &existing {
                // Times set to now need write access, other times the owner.
                Some(m) if !vfs.allowed(m, crate::shell::vfs::WRITE) => {
                    vfs.check_owner(m)
                        .map_err(|_| crate::shell::vfs::eacces())?;
                }
                Some(_) => {}
                None if o.has('c') => return Ok(()),
                None => vfs.check_entry(&pl)?,
            }
            if pl.host.is_dir() {
                return std::fs::File::open(&pl.host).and_then(|f| f.set_modified(when));
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&pl.host)?;
            if existing.is_none() {
                vfs.adopt_mode(&pl, 0o666);
            }
            f.set_modified(when)
        });
        if let Err(e) = r {
            ctx.fail_as(
                &format!("cannot touch '{p}': {}", errno(&e)),
                &format!("{p}: {}", errno(&e)),
            );
            status = 1;
        }
    }
    Ok(status)
}

/// `2024-01-31`, `2024-01-31 10:00[:00]`, `@1700000000`.
pub fn parse_date(s: &str) -> Option<i64> {
    if let Some(n) = s.strip_prefix('@') {
        return n.parse().ok();
    }
    let s = s.trim().replace('T', " ");
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"] {
        let text = s.clone();
        if let Ok(dt) = jiff::civil::DateTime::strptime(fmt, &text) {
            return dt
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()
                .map(|z| z.timestamp().as_second());
        }
        if let Ok(d) = jiff::civil::Date::strptime(fmt, &text) {
            return d
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()
                .map(|z| z.timestamp().as_second());
        }
    }
    None
}

// ----------------------------------------------------------------------
// stat, readlink, realpath, mktemp, chmod, chown
// ----------------------------------------------------------------------

fn file_type(m: &Meta) -> &'static str {
    match m.kind {
        Kind::File if m.len == 0 => "regular empty file",
        Kind::File => "regular file",
        Kind::Dir => "directory",
        Kind::Symlink => "symbolic link",
        Kind::CharDevice => "character special file",
        Kind::Fifo => "fifo",
        Kind::Other => "socket",
    }
}

fn stat_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000").to_string())
        .unwrap_or_default()
}

/// Expands one `%x` of `stat -c`.
fn stat_field(ctx: &Ctx, c: char, name: &str, m: &Meta) -> String {
    match c {
        'n' => name.to_string(),
        'N' => {
            if m.kind == Kind::Symlink {
                let t = ctx
                    .vfs()
                    .place(name, false)
                    .ok()
                    .and_then(|p| std::fs::read_link(p.host).ok())
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                format!("'{name}' -> '{t}'")
            } else {
                name.to_string()
            }
        }
        's' => m.len.to_string(),
        'b' => m.blocks.to_string(),
        'B' => "512".to_string(),
        'o' => "4096".to_string(),
        'a' => format!("{:o}", m.mode),
        'A' => m.mode_string(),
        'f' => format!("{:x}", m.mode | kind_bits(m)),
        'F' => file_type(m).to_string(),
        'h' => m.nlink.to_string(),
        'i' => m.ino.to_string(),
        'u' => m.uid.to_string(),
        'g' => m.gid.to_string(),
        'U' => ctx
            .user_name(m.uid)
            .unwrap_or_else(|| "UNKNOWN".to_string()),
        'G' => ctx
            .group_name(m.gid)
            .unwrap_or_else(|| "UNKNOWN".to_string()),
        'd' => m.dev.to_string(),
        'D' => format!("{:x}", m.dev),
        't' => format!("{:x}", m.rdev.0),
        'T' => format!("{:x}", m.rdev.1),
        'x' => stat_time(m.atime),
        'X' => m.atime.to_string(),
        'y' => stat_time(m.mtime),
        'Y' => m.mtime.to_string(),
        'z' => stat_time(m.ctime),
        'Z' => m.ctime.to_string(),
        'm' => "/".to_string(),
        '%' => "%".to_string(),
        other => format!("?{other}"),
    }
}

fn kind_bits(m: &Meta) -> u32 {
    match m.kind {
        Kind::Dir => 0o040000,
        Kind::Symlink => 0o120000,
        Kind::CharDevice => 0o020000,
        Kind::Fifo => 0o010000,
        _ => 0o100000,
    }
}

pub fn stat(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "c:fLt") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if o.operands.is_empty() {
        return ctx.missing_operand("missing operand", "stat [-lt] FILE...");
    }
    let mut status = 0;
    let mut out = String::new();
    for name in &o.operands {
        let vfs = ctx.vfs();
        let meta = if o.has('L') {
            vfs.metadata(name)
        } else {
            vfs.symlink_metadata(name)
        };
        let m = match meta {
            Ok(m) => m,
            Err(e) => {
                ctx.fail_as(
                    &format!("cannot statx '{name}': {}", errno(&e)),
                    &format!("can't stat '{name}': {}", errno(&e)),
                );
                status = 1;
                continue;
            }
        };
        if let Some(fmt) = o.value('c') {
            let mut chars = fmt.chars();
            while let Some(c) = chars.next() {
                if c == '%' {
                    if let Some(f) = chars.next() {
                        out.push_str(&stat_field(ctx, f, name, &m));
                    }
                } else {
                    out.push(c);
                }
            }
            out.push('\n');
            continue;
        }
        let f = |c| stat_field(ctx, c, name, &m);
        let file = f('N');
        out.push_str(&format!("  File: {file}\n"));
        out.push_str(&format!(
            "  Size: {:<10}\tBlocks: {:<10} IO Block: {:<6} {}\n",
            m.len,
            m.blocks,
            4096,
            file_type(&m)
        ));
        let dev = format!(
            "Device: {:x}h/{}d\tInode: {:<10}  Links: {}",
            m.dev, m.dev, m.ino, m.nlink
        );
        if m.kind == Kind::CharDevice {
            out.push_str(&format!(
                "{dev:<0} Device type: {:x},{:x}\n",
                m.rdev.0, m.rdev.1
            ));
        } else {
            out.push_str(&format!("{dev}\n"));
        }
        out.push_str(&format!(
            "Access: ({:04o}/{})  Uid: ({:>5}/{:>8})   Gid: ({:>5}/{:>8})\n",
            m.mode,
            m.mode_string(),
            m.uid,
            ctx.user_name(m.uid)
                .unwrap_or_else(|| "UNKNOWN".to_string()),
            m.gid,
            ctx.group_name(m.gid)
                .unwrap_or_else(|| "UNKNOWN".to_string())
        ));
        out.push_str(&format!(
            "Access: {}\nModify: {}\nChange: {}\n",
            f('x'),
            f('y'),
            f('z')
        ));
    }
    ctx.outs(&out)?;
    Ok(status)
}

pub fn readlink(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "fenqsv") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut status = 0;
    for p in &o.operands {
        let vfs = ctx.vfs();
        if o.has('f') || o.has('e') {
            match vfs.place(p, true) {
                Ok(pl) if !o.has('e') || pl.host.exists() || vfs.is_mount_point(&pl.path) => {
                    ctx.outs(&format!("{}\n", pl.path))?;
                }
                _ => status = 1,
            }
            continue;
        }
        match vfs
            .place(p, false)
            .and_then(|pl| std::fs::read_link(pl.host))
        {
            Ok(t) => ctx.outs(&format!("{}\n", t.display()))?,
            Err(_) => status = 1,
        }
    }
    Ok(status)
}

pub fn realpath(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut status = 0;
    for p in args.iter().filter(|a| !a.starts_with('-')) {
        match ctx.vfs().place(p, true) {
            Ok(pl) if pl.host.exists() || ctx.vfs().is_mount_point(&pl.path) => {
                ctx.outs(&format!("{}\n", pl.path))?;
            }
            _ => {
                ctx.fail(&format!("{p}: No such file or directory"));
                status = 1;
            }
        }
    }
    Ok(status)
}

pub fn mktemp(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "dqup:t") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let template = o
        .operands
        .first()
        .cloned()
        .unwrap_or_else(|| "tmp.XXXXXX".to_string());
    let dir = o.value('p').map(str::to_string).or_else(|| {
        (!template.contains('/') || o.has('t'))
            .then(|| ctx.getenv("TMPDIR").unwrap_or("/tmp").to_string())
    });
    let xs = template.chars().rev().take_while(|c| *c == 'X').count();
    if xs < 3 {
        ctx.fail(&format!("too few X's in template '{template}'"));
        return Ok(1);
    }
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for _ in 0..100 {
        let suffix: String = (0..xs)
            .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
            .collect();
        let name = format!("{}{suffix}", &template[..template.len() - xs]);
        let path = match &dir {
            Some(d) => join(d, &name),
            None => name,
        };
        let vfs = ctx.vfs();
        let Ok(pl) = vfs.place(&path, true) else {
            break;
        };
        if pl.host.exists() {
            continue;
        }
        let r = vfs.check_entry(&pl).and_then(|()| {
            if o.has('d') {
                std::fs::create_dir(&pl.host)
            } else {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&pl.host)
                    .map(|_| ())
            }
        });
        if r.is_ok() {
            vfs.adopt_mode(&pl, if o.has('d') { 0o700 } else { 0o600 });
        }
        return match r {
            Ok(()) => {
                ctx.outs(&format!("{path}\n"))?;
                Ok(0)
            }
            Err(e) => {
                ctx.fail(&format!("(null): {}", errno(&e)));
                Ok(1)
            }
        };
    }
    ctx.fail("(null): File exists");
    Ok(1)
}

pub fn chmod(ctx: &mut Ctx, args: &[String]) -> Ret {
    // A mode like `-x` looks like an option: take it as the mode.
    let mut recursive = false;
    let mut rest = Vec::new();
    for a in args {
        if a == "-R" {
            recursive = true;
        } else if a == "-v" || a == "-f" || a == "-c" {
        } else {
            rest.push(a.clone());
        }
    }
    let Some((mode, files)) = rest.split_first() else {
        ctx.usage("chmod [-Rcvf] MODE[,MODE]... FILE...");
        return Ok(1);
    };
    let mut status = 0;
    let mut stack: Vec<String> = files.to_vec();
    let mut visited = 0;
    while let Some(f) = stack.pop() {
        ctx.check()?;
        visited += 1;
        if visited > MAX_WALK {
            break;
        }
        let vfs = ctx.vfs();
        let r = vfs.place(&f, true).and_then(|pl| {
            let m = std::fs::metadata(&pl.host)?;
            if pl.read_only {
                return Err(erofs());
            }
            vfs.check_owner(&vfs.metadata(&f)?)?;
            let Some(new) = parse_mode(mode, m.permissions().mode() & 0o7777, m.is_dir()) else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            std::fs::set_permissions(&pl.host, std::fs::Permissions::from_mode(new))?;
            Ok(m.is_dir())
        });
        match r {
            Ok(is_dir) => {
                if recursive
                    && is_dir
                    && let Ok(names) = vfs.list_dir(&f)
                {
                    stack.extend(names.into_iter().map(|n| join(&f, &n)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                ctx.fail(&format!("invalid mode '{mode}'"));
                return Ok(1);
            }
            Err(e) => {
                ctx.fail_as(
                    &format!("cannot access '{f}': {}", errno(&e)),
                    &format!("{f}: {}", errno(&e)),
                );
                status = 1;
            }
        }
    }
    Ok(status)
}

/// `chown [-RhLHPcvf] USER[:[GRP]] FILE...` (and `chgrp GRP FILE...`):
/// owners are kept beside the files (see `hostfs::owners`); only root
/// gives a file away, an owner may only move it to one of its groups.
pub fn chown(ctx: &mut Ctx, args: &[String]) -> Ret {
    change_owner(ctx, args, false)
}

pub fn chgrp(ctx: &mut Ctx, args: &[String]) -> Ret {
    change_owner(ctx, args, true)
}

/// What `USER[:[GROUP]]` asks for (`None` keeps the current one), or
/// the error to die with.
fn parse_owner_spec(
    ctx: &Ctx,
    spec: &str,
    group_only: bool,
) -> Result<(Option<u32>, Option<u32>), String> {
    let unknown_user = |n: &str| {
        if ctx.gnu() {
            format!("invalid user: '{spec}'")
        } else {
            format!("unknown user {n}")
        }
    };
    let unknown_group = |n: &str| {
        if ctx.gnu() {
            format!("invalid group: '{spec}'")
        } else {
            format!("unknown group {n}")
        }
    };
    if group_only {
        return ctx
            .group_id(spec)
            .map(|g| (None, Some(g)))
            .ok_or_else(|| unknown_group(spec));
    }
    let Some((user, group)) = spec.split_once(':') else {
        return ctx
            .user_id(spec)
            .map(|u| (Some(u), None))
            .ok_or_else(|| unknown_user(spec));
    };
    if user.is_empty() {
        return ctx
            .group_id(group)
            .map(|g| (None, Some(g)))
            .ok_or_else(|| unknown_group(group));
    }
    let uid = ctx.user_id(user).ok_or_else(|| {
        if ctx.gnu() {
            unknown_user(user)
        } else {
            format!("unknown user/group {spec}")
        }
    })?;
    let gid = if group.is_empty() {
        // `user:` is the user's login group (its number when unnamed).
        login_group(ctx, user).unwrap_or(uid)
    } else {
        ctx.group_id(group).ok_or_else(|| {
            if ctx.gnu() {
                unknown_group(group)
            } else {
                format!("unknown user/group {spec}")
            }
        })?
    };
    Ok((Some(uid), Some(gid)))
}

/// The login group of a user (field 3 of its `/etc/passwd` line).
fn login_group(ctx: &Ctx, user: &str) -> Option<u32> {
    let (data, _charge) = ctx
        .vfs()
        .read_all("/etc/passwd", ctx.sys.procs.memory())
        .ok()?;
    let uid = ctx.user_id(user)?;
    String::from_utf8_lossy(&data).lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && (f[0] == user || f[2].parse::<u32>().ok() == Some(uid)))
            .then(|| f[3].parse().ok())
            .flatten()
    })
}

fn change_owner(ctx: &mut Ctx, args: &[String], group_only: bool) -> Ret {
    let (o, _) = match getopt(ctx, args, "RhLHPcvf") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some((spec, files)) = o.operands.split_first().filter(|(_, f)| !f.is_empty()) else {
        let gnu = match o.operands.first() {
            Some(op) => format!("missing operand after '{op}'"),
            None => "missing operand".to_string(),
        };
        let usage = if group_only {
            "chgrp [-RhLHPcvf]... GROUP FILE..."
        } else {
            "chown [-RhLHPcvf]... USER[:[GRP]] FILE..."
        };
        return ctx.missing_operand(&gnu, usage);
    };
    let (uid, gid) = match parse_owner_spec(ctx, spec, group_only) {
        Ok(v) => v,
        Err(why) => {
            ctx.fail(&why);
            return Ok(1);
        }
    };
    let who = ctx.sys.fs.identity().clone();
    let mut status = 0;
    let mut stack: Vec<(String, bool)> = files.iter().rev().map(|f| (f.clone(), true)).collect();
    let mut visited = 0;
    while let Some((f, top)) = stack.pop() {
        ctx.check()?;
        visited += 1;
        if visited > MAX_WALK {
            break;
        }
        let vfs = ctx.vfs();
        // -h, and -R without -H/-L, change links themselves.
        let follow = !o.has('h') && (!o.has('R') || o.has('L') || (top && o.has('H')));
        let r = vfs.place(&f, follow).and_then(|pl| {
            let meta = if follow {
                vfs.metadata(&f)
            } else {
                vfs.symlink_metadata(&f)
            }?;
            let new_uid = uid.unwrap_or(meta.uid);
            let new_gid = gid.unwrap_or(meta.gid);
            if who.uid != 0 {
                // An owner may only change the group, to one of its own.
                let in_group = new_gid == who.gid || who.groups.contains(&new_gid);
                if meta.uid != who.uid || new_uid != meta.uid || !in_group {
                    return Err(crate::shell::vfs::eperm());
                }
            }
            if pl.read_only {
                return Err(erofs());
            }
            crate::hostfs::owners::set(
                &pl.host,
                crate::hostfs::owners::Owner {
                    uid: new_uid,
                    gid: new_gid,
                },
            )?;
            Ok((meta, new_uid, new_gid))
        });
        match r {
            Ok((meta, u, g)) => {
                if o.has('v') || (o.has('c') && (meta.uid != u || meta.gid != g)) {
                    if ctx.gnu() {
                        let label = |u: u32, g: u32| {
                            let user = ctx.user_name(u).unwrap_or_else(|| u.to_string());
                            let group = ctx.group_name(g).unwrap_or_else(|| g.to_string());
                            format!("{user}:{group}")
                        };
                        let line = if (meta.uid, meta.gid) == (u, g) {
                            format!("ownership of '{f}' retained as {}\n", label(u, g))
                        } else {
                            format!(
                                "changed ownership of '{f}' from {} to {}\n",
                                label(meta.uid, meta.gid),
                                label(u, g)
                            )
                        };
                        ctx.outs(&line)?;
                    } else {
                        ctx.outs(&format!("changed ownership of '{f}' to {u}:{g}\n"))?;
                    }
                }
                if o.has('R')
                    && meta.is_dir()
                    && let Ok(names) = vfs.list_dir(&f)
                {
                    stack.extend(names.into_iter().rev().map(|n| (join(&f, &n), false)));
                }
            }
            Err(e) => {
                if !o.has('f') {
                    if ctx.gnu() {
                        if e.raw_os_error() == Some(2) {
                            ctx.fail(&format!("cannot access '{f}': {}", errno(&e)));
                        } else {
                            ctx.fail(&format!("changing ownership of '{f}': {}", errno(&e)));
                        }
                    } else {
                        ctx.fail(&format!("{f}: {}", errno(&e)));
                    }
                }
                status = 1;
            }
        }
    }
    Ok(status)
}

// ----------------------------------------------------------------------
// find
// ----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Expr {
    True,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Name(Pattern, bool),
    Path(Pattern),
    Type(char),
    Size(char, u64, u64),
    Empty,
    Mtime(char, i64),
    Mmin(char, i64),
    Newer(i64),
    Print,
    Print0,
    Delete,
    Exec(Vec<String>, bool),
    Prune,
}

struct FindParser<'a> {
    args: &'a [String],
    pos: usize,
    has_action: bool,
    maxdepth: Option<usize>,
    mindepth: usize,
    depth_first: bool,
}

impl FindParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.args.get(self.pos).map(String::as_str)
    }

    fn next_arg(&mut self, ctx: &Ctx, opt: &str) -> Result<String, String> {
        self.pos += 1;
        self.args.get(self.pos - 1).cloned().ok_or_else(|| {
            if ctx.gnu() {
                format!("missing argument to `{opt}'")
            } else {
                format!("{opt} requires an argument")
            }
        })
    }

    fn or(&mut self, ctx: &Ctx) -> Result<Expr, String> {
        let mut left = self.and(ctx)?;
        while matches!(self.peek(), Some("-o" | "-or")) {
            self.pos += 1;
            let right = self.and(ctx)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, ctx: &Ctx) -> Result<Expr, String> {
        let mut left = self.not(ctx)?;
        loop {
            match self.peek() {
                Some("-a" | "-and") => self.pos += 1,
                Some(")" | "-o" | "-or") | None => break,
                _ => {}
            }
            let right = self.not(ctx)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self, ctx: &Ctx) -> Result<Expr, String> {
        if matches!(self.peek(), Some("!" | "-not")) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not(ctx)?)));
        }
        self.primary(ctx)
    }

    fn primary(&mut self, ctx: &Ctx) -> Result<Expr, String> {
        let Some(a) = self.peek().map(str::to_string) else {
            return Ok(Expr::True);
        };
        self.pos += 1;
        Ok(match a.as_str() {
            "(" => {
                let e = self.or(ctx)?;
                if self.peek() == Some(")") {
                    self.pos += 1;
                }
                e
            }
            "-name" | "-iname" => {
                let p = self.next_arg(ctx, &a)?;
                let ci = a == "-iname";
                Expr::Name(
                    Pattern::unquoted(&if ci { p.to_lowercase() } else { p }),
                    ci,
                )
            }
            "-path" | "-wholename" => Expr::Path(Pattern::unquoted(&self.next_arg(ctx, &a)?)),
            "-type" => {
                let t = self.next_arg(ctx, &a)?;
                match t.chars().next() {
                    Some(c @ ('f' | 'd' | 'l' | 'c' | 'p' | 's' | 'b')) if t.len() == 1 => {
                        Expr::Type(c)
                    }
                    _ => return Err(format!("unknown argument to -type: {t}")),
                }
            }
            "-size" => {
                let s = self.next_arg(ctx, &a)?;
                let (cmp, rest) = match s.chars().next() {
                    Some(c @ ('+' | '-')) => (c, &s[1..]),
                    _ => ('=', s.as_str()),
                };
                let (num, unit) = match rest.chars().last() {
                    Some('c') => (&rest[..rest.len() - 1], 1),
                    Some('w') => (&rest[..rest.len() - 1], 2),
                    Some('k') => (&rest[..rest.len() - 1], 1024),
                    Some('M') => (&rest[..rest.len() - 1], 1024 * 1024),
                    Some('G') => (&rest[..rest.len() - 1], 1024 * 1024 * 1024),
                    Some('b') => (&rest[..rest.len() - 1], 512),
                    _ => (rest, 512),
                };
                let n: u64 = num
                    .parse()
                    .map_err(|_| format!("invalid argument '{s}' to -size"))?;
                Expr::Size(cmp, n, unit)
            }
            "-empty" => Expr::Empty,
            "-mtime" | "-mmin" => {
                let s = self.next_arg(ctx, &a)?;
                let (cmp, rest) = match s.chars().next() {
                    Some(c @ ('+' | '-')) => (c, &s[1..]),
                    _ => ('=', s.as_str()),
                };
                let n: i64 = rest
                    .parse()
                    .map_err(|_| format!("invalid argument '{s}' to {a}"))?;
                if a == "-mtime" {
                    Expr::Mtime(cmp, n)
                } else {
                    Expr::Mmin(cmp, n)
                }
            }
            "-newer" => {
                let f = self.next_arg(ctx, &a)?;
                let t = ctx
                    .vfs()
                    .metadata(&f)
                    .map_err(|e| format!("{f}: {}", errno(&e)))?
                    .mtime;
                Expr::Newer(t)
            }
            "-print" => {
                self.has_action = true;
                Expr::Print
            }
            "-print0" => {
                self.has_action = true;
                Expr::Print0
            }
            "-delete" => {
                self.has_action = true;
                self.depth_first = true;
                Expr::Delete
            }
            "-prune" => Expr::Prune,
            "-exec" | "-ok" => {
                self.has_action = true;
                let mut cmd = Vec::new();
                let mut plus = false;
                loop {
                    let Some(x) = self.peek().map(str::to_string) else {
                        return Err(if ctx.gnu() {
                            "missing argument to `-exec'".to_string()
                        } else {
                            "-exec CMD must end by ';' or '+'".to_string()
                        });
                    };
                    self.pos += 1;
                    if x == ";" {
                        break;
                    }
                    if x == "+" && cmd.last().is_some_and(|l| l == "{}") {
                        plus = true;
                        break;
                    }
                    cmd.push(x);
                }
                Expr::Exec(cmd, plus)
            }
            "-maxdepth" | "-mindepth" => {
                let n = self.next_arg(ctx, &a)?;
                let n: usize = n.parse().map_err(|_| format!("invalid number '{n}'"))?;
                if a == "-maxdepth" {
                    self.maxdepth = Some(n);
                } else {
                    self.mindepth = n;
                }
                Expr::True
            }
            "-depth" => {
                self.depth_first = true;
                Expr::True
            }
            "-xdev" | "-mount" | "-follow" => Expr::True,
            "-true" => Expr::True,
            "-false" => Expr::Not(Box::new(Expr::True)),
            other => {
                return Err(if ctx.gnu() {
                    format!("unknown predicate `{other}'")
                } else {
                    format!("unrecognized: {other}")
                });
            }
        })
    }
}

struct FindState {
    batch: Vec<(Vec<String>, Vec<String>)>,
    status: i32,
    out: Vec<u8>,
}

fn find_eval(
    ctx: &Ctx,
    e: &Expr,
    path: &str,
    m: &Meta,
    st: &mut FindState,
    prune: &mut bool,
) -> Result<bool, Abort> {
    let now = jiff::Timestamp::now().as_second();
    Ok(match e {
        Expr::True => true,
        Expr::Not(x) => !find_eval(ctx, x, path, m, st, prune)?,
        Expr::And(a, b) => {
            find_eval(ctx, a, path, m, st, prune)? && find_eval(ctx, b, path, m, st, prune)?
        }
        Expr::Or(a, b) => {
            find_eval(ctx, a, path, m, st, prune)? || find_eval(ctx, b, path, m, st, prune)?
        }
        Expr::Name(p, ci) => {
            let base = basename(path);
            if *ci {
                p.matches(&base.to_lowercase())
            } else {
                p.matches(base)
            }
        }
        Expr::Path(p) => p.matches(path),
        Expr::Type(t) => matches!(
            (t, m.kind),
            ('f', Kind::File)
                | ('d', Kind::Dir)
                | ('l', Kind::Symlink)
                | ('c', Kind::CharDevice)
                | ('p', Kind::Fifo)
        ),
        Expr::Size(cmp, n, unit) => {
            let size = m.len.div_ceil(*unit);
            match cmp {
                '+' => size > *n,
                '-' => size < *n,
                _ => size == *n,
            }
        }
        Expr::Empty => match m.kind {
            Kind::File => m.len == 0,
            Kind::Dir => ctx.vfs().list_dir(path).is_ok_and(|v| v.is_empty()),
            _ => false,
        },
        Expr::Mtime(cmp, n) => cmp_age((now - m.mtime) / 86400, *cmp, *n),
        Expr::Mmin(cmp, n) => cmp_age((now - m.mtime + 59) / 60, *cmp, *n),
        Expr::Newer(t) => m.mtime > *t,
        Expr::Print => {
            st.out.extend_from_slice(path.as_bytes());
            st.out.push(b'\n');
            true
        }
        Expr::Print0 => {
            st.out.extend_from_slice(path.as_bytes());
            st.out.push(0);
            true
        }
        Expr::Prune => {
            *prune = true;
            true
        }
        Expr::Delete => {
            let vfs = ctx.vfs();
            match vfs.writable(path, false) {
                Ok(p) => {
                    let r = if m.is_dir() {
                        std::fs::remove_dir(&p.host)
                    } else {
                        std::fs::remove_file(&p.host)
                    };
                    if let Err(e) = r {
                        ctx.fail(&format!("{path}: {}", errno(&e)));
                        st.status = 1;
                        false
                    } else {
                        true
                    }
                }
                Err(e) => {
                    ctx.fail(&format!("{path}: {}", errno(&e)));
                    st.status = 1;
                    false
                }
            }
        }
        Expr::Exec(cmd, plus) => {
            if *plus {
                match st.batch.iter_mut().find(|(c, _)| c == cmd) {
                    Some((_, paths)) => paths.push(path.to_string()),
                    None => st.batch.push((cmd.clone(), vec![path.to_string()])),
                }
                return Ok(true);
            }
            let argv: Vec<String> = cmd.iter().map(|a| a.replace("{}", path)).collect();
            ctx.out(&std::mem::take(&mut st.out))?;
            let status = ctx.run_child(&argv, None)?;
            status.code() == 0
        }
    })
}

fn cmp_age(v: i64, cmp: char, n: i64) -> bool {
    match cmp {
        '+' => v > n,
        '-' => v < n,
        _ => v == n,
    }
}

pub fn find(ctx: &mut Ctx, args: &[String]) -> Ret {
    let split = args
        .iter()
        .position(|a| a.starts_with('-') || a == "!" || a == "(")
        .unwrap_or(args.len());
    let mut roots: Vec<String> = args[..split].to_vec();
    if roots.is_empty() {
        roots.push(".".to_string());
    }
    let mut p = FindParser {
        args: &args[split..],
        pos: 0,
        has_action: false,
        maxdepth: None,
        mindepth: 0,
        depth_first: false,
    };
    let expr = match p.or(ctx) {
        Ok(e) => e,
        Err(msg) => {
            ctx.fail(&msg);
            return Ok(1);
        }
    };
    if p.pos < p.args.len() {
        ctx.fail(&format!("unrecognized: {}", p.args[p.pos]));
        return Ok(1);
    }
    let expr = if p.has_action {
        expr
    } else {
        Expr::And(Box::new(expr), Box::new(Expr::Print))
    };
    let mut st = FindState {
        batch: Vec::new(),
        status: 0,
        out: Vec::new(),
    };
    let mut visited = 0usize;
    for root in &roots {
        let vfs = ctx.vfs();
        let root_meta = match vfs.symlink_metadata(root) {
            Ok(m) => m,
            Err(e) => {
                ctx.fail_as(
                    &format!("'{root}': {}", errno(&e)),
                    &format!("{root}: {}", errno(&e)),
                );
                st.status = 1;
                continue;
            }
        };
        // (path, meta, depth, children visited)
        let mut stack: Vec<(String, Meta, usize, bool)> = vec![(root.clone(), root_meta, 0, false)];
        while let Some((path, meta, depth, expanded)) = stack.pop() {
            ctx.check()?;
            visited += 1;
            if visited > MAX_WALK {
                break;
            }
            let descend = meta.is_dir() && p.maxdepth.is_none_or(|m| depth < m);
            if p.depth_first && descend && !expanded {
                stack.push((path.clone(), meta, depth, true));
                push_children(ctx, &path, depth, &mut stack);
                continue;
            }
            let mut prune = false;
            if depth >= p.mindepth && p.maxdepth.is_none_or(|m| depth <= m) {
                find_eval(ctx, &expr, &path, &meta, &mut st, &mut prune)?;
            }
            if st.out.len() > 32 * 1024 {
                ctx.out(&std::mem::take(&mut st.out))?;
            }
            if !p.depth_first && descend && !prune {
                push_children(ctx, &path, depth, &mut stack);
            }
        }
    }
    ctx.out(&std::mem::take(&mut st.out))?;
    for (cmd, paths) in std::mem::take(&mut st.batch) {
        let mut argv = Vec::new();
        for a in &cmd {
            if a == "{}" {
                argv.extend(paths.iter().cloned());
            } else {
                argv.push(a.clone());
            }
        }
        let s = ctx.run_child(&argv, None)?;
        if s.code() != 0 {
            st.status = 1;
        }
    }
    Ok(st.status)
}

fn push_children(
    ctx: &Ctx,
    path: &str,
    depth: usize,
    stack: &mut Vec<(String, Meta, usize, bool)>,
) {
    let vfs = ctx.vfs();
    let Ok(names) = vfs.list_dir(path) else {
        ctx.fail(&format!("{path}: Permission denied"));
        return;
    };
    for n in names.into_iter().rev() {
        let child = join(path, &n);
        if let Ok(m) = vfs.symlink_metadata(&child) {
            stack.push((child, m, depth + 1, false));
        }
    }
}

// ----------------------------------------------------------------------
// du, df, mount
// ----------------------------------------------------------------------

/// Bytes used under a container path (allocated blocks), bounded.
fn usage(
    ctx: &Ctx,
    path: &str,
    each: &mut dyn FnMut(&str, u64, usize),
    depth: usize,
    budget: &mut usize,
) -> Result<u64, Abort> {
    ctx.check()?;
    if *budget == 0 {
        return Ok(0);
    }
    *budget -= 1;
    let vfs = ctx.vfs();
    let Ok(m) = vfs.symlink_metadata(path) else {
        return Ok(0);
    };
    let mut total = m.blocks * 512;
    if m.is_dir() {
        if let Ok(names) = vfs.list_dir(path) {
            for n in names {
                total += usage(ctx, &join(path, &n), each, depth + 1, budget)?;
            }
        }
        each(path, total, depth);
    } else {
        each(path, total, depth);
    }
    Ok(total)
}

pub fn du(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, long) = match getopt(ctx, args, "sahkmcd:xLl") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let max_depth = o
        .value('d')
        .and_then(|d| d.parse::<usize>().ok())
        .or_else(|| {
            long.iter()
                .find_map(|l| l.strip_prefix("max-depth="))
                .and_then(|d| d.parse().ok())
        });
    let summarize = o.has('s');
    let all = o.has('a');
    let gnu = ctx.gnu();
    let fmt = |bytes: u64| -> String {
        if o.has('h') {
            if gnu {
                gnu_human(bytes)
            } else {
                human_size(bytes)
            }
        } else if o.has('m') {
            bytes.div_ceil(1024 * 1024).to_string()
        } else {
            bytes.div_ceil(1024).to_string()
        }
    };
    let roots = if o.operands.is_empty() {
        vec![".".to_string()]
    } else {
        o.operands.clone()
    };
    let mut status = 0;
    let mut grand = 0;
    let mut out = String::new();
    for root in &roots {
        if let Err(e) = ctx.vfs().symlink_metadata(root) {
            ctx.fail_as(
                &format!("cannot access '{root}': {}", errno(&e)),
                &format!("{root}: {}", errno(&e)),
            );
            status = 1;
            continue;
        }
        let root_is_dir = ctx.vfs().metadata(root).is_ok_and(|m| m.is_dir());
        let mut lines: Vec<(String, u64)> = Vec::new();
        let mut budget = MAX_WALK;
        let total = usage(
            ctx,
            root,
            &mut |path, bytes, depth| {
                let is_root = depth == 0;
                let show = if summarize {
                    is_root
                } else if let Some(m) = max_depth {
                    depth <= m
                        && (all || is_root || ctx.vfs().metadata(path).is_ok_and(|m| m.is_dir()))
                } else {
                    all || is_root || ctx.vfs().metadata(path).is_ok_and(|m| m.is_dir())
                };
                if show && (is_root || root_is_dir) {
                    lines.push((path.to_string(), bytes));
                }
            },
            0,
            &mut budget,
        )?;
        grand += total;
        for (p, b) in lines {
            out.push_str(&format!("{}\t{p}\n", fmt(b)));
        }
    }
    if o.has('c') {
        out.push_str(&format!("{}\ttotal\n", fmt(grand)));
    }
    ctx.outs(&out)?;
    Ok(status)
}

/// One filesystem a container sees.
struct FsRow {
    device: String,
    target: String,
    fstype: &'static str,
    options: String,
    host: Option<std::path::PathBuf>,
    size: u64,
}

fn filesystems(ctx: &Ctx) -> Vec<FsRow> {
    let fs = &ctx.sys.fs;
    let mut list = vec![FsRow {
        device: "overlay".to_string(),
        target: "/".to_string(),
        fstype: "overlay",
        options: format!(
            "rw,relatime,lowerdir=/var/lib/kubetutor/images,upperdir={},workdir=/var/lib/kubetutor/work",
            fs.rootfs().display()
        ),
        host: Some(fs.rootfs().to_path_buf()),
        size: NODE_DISK_BYTES,
    }];
    list.push(FsRow {
        device: "tmpfs".into(),
        target: "/dev".into(),
        fstype: "tmpfs",
        options: "rw,nosuid,size=65536k,mode=755".into(),
        host: None,
        size: 64 * 1024 * 1024,
    });
    for m in fs.mounts() {
        let rw = if m.read_only { "ro" } else { "rw" };
        let (device, fstype, size) = match m.kind {
            MountKind::Tmpfs => (
                "tmpfs".to_string(),
                "tmpfs",
                m.capacity.unwrap_or(64 * 1024 * 1024),
            ),
            MountKind::EmptyDir | MountKind::HostPath | MountKind::Volume => (
                "/dev/vda1".to_string(),
                "ext4",
                m.capacity.unwrap_or(NODE_DISK_BYTES),
            ),
        };
        list.push(FsRow {
            device,
            target: m.container_path.clone(),
            fstype,
            options: format!("{rw},relatime"),
            host: Some(m.host_dir.clone()),
            size,
        });
    }
    list.push(FsRow {
        device: "shm".into(),
        target: "/dev/shm".into(),
        fstype: "tmpfs",
        options: "rw,nosuid,nodev,noexec,relatime,size=65536k".into(),
        host: None,
        size: 64 * 1024 * 1024,
    });
    list
}

fn host_usage(ctx: &Ctx, dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    let mut n = 0;
    let _ = ctx;
    while let Some(p) = stack.pop() {
        n += 1;
        if n > 100_000 {
            break;
        }
        let Ok(meta) = p.symlink_metadata() else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        total += meta.blocks() * 512;
        if meta.is_dir()
            && let Ok(rd) = std::fs::read_dir(&p)
        {
            stack.extend(rd.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    total
}

pub fn mount(ctx: &mut Ctx, args: &[String]) -> Ret {
    if args.iter().any(|a| !a.starts_with('-')) {
        ctx.fail("permission denied (are you root?)");
        return Ok(255);
    }
    let mut out = String::new();
    for fs in filesystems(ctx) {
        out.push_str(&format!(
            "{} on {} type {} ({})\n",
            fs.device, fs.target, fs.fstype, fs.options
        ));
    }
    out.push_str("proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)\n");
    ctx.outs(&out)?;
    Ok(0)
}

pub fn df(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "hkmPTaiB:") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let human = o.has('h');
    let all = filesystems(ctx);
    let mut shown: Vec<&FsRow> = Vec::new();
    let mut status = 0;
    for p in &o.operands {
        let vfs = ctx.vfs();
        let target = match vfs.place(p, true) {
            Ok(pl) if pl.host.exists() || vfs.is_mount_point(&pl.path) => pl.path,
            _ => {
                ctx.fail_as(
                    &format!("{p}: No such file or directory"),
                    &format!("{p}: can't find mount point"),
                );
                status = 1;
                continue;
            }
        };
        if let Some(fs) = all
            .iter()
            .filter(|fs| {
                fs.target == "/"
                    || target == fs.target
                    || target.starts_with(&format!("{}/", fs.target))
            })
            .max_by_key(|fs| fs.target.len())
        {
            shown.push(fs);
        }
    }
    if o.operands.is_empty() {
        shown = all.iter().collect();
    }
    let gnu = ctx.gnu();
    let mut out = String::new();
    let rows: Vec<(String, String, String, String, String, String)> = shown
        .iter()
        .map(|fs| {
            let used = fs
                .host
                .as_deref()
                .map(|d| host_usage(ctx, d))
                .unwrap_or(0)
                .min(fs.size);
            let avail = fs.size - used;
            let pct = if fs.size == 0 {
                0
            } else {
                (used * 100).div_ceil(fs.size)
            };
            let f = |b: u64| {
                if human {
                    if gnu { gnu_human(b) } else { human_size(b) }
                } else {
                    (b / 1024).to_string()
                }
            };
            (
                fs.device.clone(),
                f(fs.size),
                f(used),
                f(avail),
                format!("{pct}%"),
                fs.target.clone(),
            )
        })
        .collect();
    if gnu {
        let size_h = if human { "Size" } else { "1K-blocks" };
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(10);
        let w1 = rows
            .iter()
            .map(|r| r.1.len())
            .max()
            .unwrap_or(0)
            .max(size_h.len());
        let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(4);
        let w3 = rows
            .iter()
            .map(|r| r.3.len())
            .max()
            .unwrap_or(0)
            .max(if human { 5 } else { 9 });
        let avail_h = if human { "Avail" } else { "Available" };
        out.push_str(&format!(
            "{:<w0$} {:>w1$} {:>w2$} {:>w3$} Use% Mounted on\n",
            "Filesystem", size_h, "Used", avail_h
        ));
        for r in rows {
            out.push_str(&format!(
                "{:<w0$} {:>w1$} {:>w2$} {:>w3$} {:>4} {}\n",
                r.0, r.1, r.2, r.3, r.4, r.5
            ));
        }
    } else {
        if human {
            out.push_str("Filesystem                Size      Used Available Use% Mounted on\n");
        } else {
            out.push_str("Filesystem           1K-blocks      Used Available Use% Mounted on\n");
        }
        for r in rows {
            let mut device = r.0;
            if device.len() > 20 {
                out.push_str(&format!("{device}\n"));
                device.clear();
            }
            out.push_str(&format!(
                "{device:<20} {:>9} {:>9} {:>9} {:>4} {}\n",
                r.1, r.2, r.3, r.4, r.5
            ));
        }
    }
    ctx.outs(&out)?;
    Ok(status)
}

// ----------------------------------------------------------------------
// dd
// ----------------------------------------------------------------------

fn dd_number(s: &str) -> Option<u64> {
    let (num, mult) = match s.char_indices().last()? {
        (i, 'c') => (&s[..i], 1),
        (i, 'w') => (&s[..i], 2),
        (i, 'b') => (&s[..i], 512),
        (i, 'k' | 'K') => (&s[..i], 1024),
        (i, 'M') => (&s[..i], 1024 * 1024),
        (i, 'G') => (&s[..i], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    let (num, mult) = if let Some(n) = num.strip_suffix("kB") {
        (n, 1000)
    } else if let Some(n) = num.strip_suffix("MB") {
        (n, 1_000_000)
    } else {
        (num, mult)
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// busybox's `make_human_readable_str(v, 1, 0)`.
fn bb_human(val: u64) -> String {
    human_size(val)
}

// Long: dd's operands (if/of/bs/count/skip/seek/conv/status), then the
// copy loop and busybox's or GNU's summary.
pub fn dd(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut input: Option<String> = None;
    let mut output: Option<String> = None;
    let mut ibs: u64 = 512;
    let mut obs: u64 = 512;
    let mut count: Option<u64> = None;
    let mut skip = 0u64;
    let mut seek = 0u64;
    let mut notrunc = false;
    let mut status_none = false;
    let mut noxfer = false;
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            ctx.usage("dd [if=FILE] [of=FILE] [ibs=N obs=N/bs=N] [count=N] [skip=N] [seek=N]");
            return Ok(1);
        };
        let num = || -> Result<u64, Ret> {
            dd_number(v).ok_or_else(|| {
                ctx.fail(&format!("invalid number '{v}'"));
                Ok(1)
            })
        };
        match k {
            "if" => input = Some(v.to_string()),
            "of" => output = Some(v.to_string()),
            "bs" => match num() {
                Ok(n) => {
                    ibs = n;
                    obs = n;
                }
                Err(r) => return r,
            },
            "ibs" => match num() {
                Ok(n) => ibs = n,
                Err(r) => return r,
            },
            "obs" => match num() {
                Ok(n) => obs = n,
                Err(r) => return r,
            },
            "count" => match num() {
                Ok(n) => count = Some(n),
                Err(r) => return r,
            },
            "skip" => match num() {
                Ok(n) => skip = n,
                Err(r) => return r,
            },
            "seek" => match num() {
                Ok(n) => seek = n,
                Err(r) => return r,
            },
            "conv" => notrunc = v.split(',').any(|c| c == "notrunc"),
            "status" => {
                status_none = v == "none";
                noxfer = v == "noxfer";
            }
            "iflag" | "oflag" => {}
            _ => {
                ctx.fail(&format!("invalid argument '{a}'"));
                return Ok(1);
            }
        }
    }
    if ibs == 0 || obs == 0 {
        ctx.fail("invalid number '0'");
        return Ok(1);
    }
    // One block must fit in memory: bs=1G is charged like a real buffer.
    let _buf_charge = ctx.charge(ibs)?;
    let src = match &input {
        Some(p) => match ctx.open_input(p) {
            Ok(f) => f,
            Err(e) => {
                ctx.fail(&format!("can't open '{p}': {}", errno(&e)));
                return Ok(1);
            }
        },
        None => ctx.stdin(),
    };
    let dst = match &output {
        Some(p) => {
            let vfs = ctx.vfs();
            let r = if notrunc || seek > 0 {
                vfs.open_write(p, false, true)
            } else {
                vfs.open_write(p, false, false)
            };
            match r {
                Ok(f) => f,
                Err(e) => {
                    ctx.fail(&format!("can't open '{p}': {}", errno(&e)));
                    return Ok(1);
                }
            }
        }
        None => ctx.fds.get_or_null(1),
    };
    if seek > 0
        && let Fd::File(f) = &dst
        && let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(&f.host)
    {
        use std::io::Seek as _;
        let _ = file.seek(std::io::SeekFrom::Start(seek * obs));
        let _ = file.set_len(if notrunc {
            file.metadata()
                .map(|m| m.len())
                .unwrap_or(0)
                .max(seek * obs)
        } else {
            seek * obs
        });
    }
    let started = Instant::now();
    let mut buf = vec![0u8; usize::try_from(ibs).unwrap_or(usize::MAX).min(1 << 30)];
    let (mut in_full, mut in_part, mut out_full, mut out_part) = (0u64, 0u64, 0u64, 0u64);
    let mut total = 0u64;
    let mut skipped = 0;
    let mut status = 0;
    while skipped < skip {
        let n = ctx.read_fd(&src, &mut buf)?;
        if n == 0 {
            break;
        }
        skipped += 1;
    }
    // Appending after seek: write at the end of what was kept.
    let dst = if seek > 0 {
        match &output {
            Some(p) => ctx.vfs().open_write(p, true, false).unwrap_or(dst),
            None => dst,
        }
    } else {
        dst
    };
    loop {
        if count.is_some_and(|c| in_full + in_part >= c) {
            break;
        }
        ctx.check()?;
        // Fill one input block (pipes deliver it in pieces).
        let mut n = 0;
        while n < buf.len() {
            let got = ctx.read_fd(&src, &mut buf[n..])?;
            if got == 0 {
                break;
            }
            n += got;
            if !matches!(src, Fd::PipeIn(_)) {
                break;
            }
        }
        if n == 0 {
            break;
        }
        if n as u64 == ibs {
            in_full += 1;
        } else {
            in_part += 1;
        }
        match dst.write_all(&buf[..n], &|| ctx.proc.mailbox().any()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Err(Abort::Signal(crate::process::Signal::Pipe));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                ctx.check()?;
            }
            Err(e) => {
                let name = output.as_deref().unwrap_or("standard output");
                ctx.fail(&format!("error writing '{name}': {}", errno(&e)));
                status = 1;
                break;
            }
        }
        total += n as u64;
        if n as u64 == obs {
            out_full += 1;
        } else {
            out_part += (n as u64).div_ceil(obs).min(1);
            out_full += n as u64 / obs;
        }
    }
    if !status_none {
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        let mut text =
            format!("{in_full}+{in_part} records in\n{out_full}+{out_part} records out\n");
        if !noxfer {
            if ctx.gnu() {
                text.push_str(&format!(
                    "{total} bytes ({}) copied, {secs:.6} s, {}/s\n",
                    gnu_si(total),
                    gnu_si((total as f64 / secs) as u64)
                ));
            } else {
                text.push_str(&format!(
                    "{total} bytes ({}B) copied, {secs:.6} seconds, {}B/s\n",
                    bb_human(total),
                    bb_human((total as f64 / secs) as u64)
                ));
            }
        }
        ctx.errs(&text);
    }
    Ok(status)
}

/// GNU dd's `10 MB, 10 MiB` style (SI first).
fn gnu_si(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_sizes() {
        assert_eq!(parse_mode("755", 0, false), Some(0o755));
        assert_eq!(parse_mode("u+x", 0o644, false), Some(0o744));
        assert_eq!(parse_mode("go-w", 0o666, false), Some(0o644));
        assert_eq!(parse_mode("a=r", 0o777, false), Some(0o444));
        assert_eq!(parse_mode("+x", 0o644, false), Some(0o755));
        assert_eq!(parse_mode("z", 0o644, false), None);
        assert_eq!(gnu_human(4096), "4.0K");
        assert_eq!(gnu_human(12 * 1024 + 1), "13K");
        assert_eq!(dd_number("1M"), Some(1 << 20));
        assert_eq!(dd_number("4k"), Some(4096));
        assert_eq!(dd_number("x"), None);
    }
}
