//! Process and system applets: `ps`, `kill`, `sleep`, `yes`, `env`,
//! `printenv`, `id`, `whoami`, `hostname`, `date`, `uname`, `nproc`,
//! `uptime`, `free`, `timeout`, `pwd`.

use std::sync::Arc;
use std::time::Duration;

use super::{Abort, Ctx, Ret, getopt, parse_duration};
use crate::process::{ExitStatus, Signal};
use crate::shell::userland::ShellKind;

pub fn ps(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut fields: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "-o" {
            if let Some(f) = args.get(i + 1) {
                fields.extend(f.split(',').map(str::to_string));
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    let procs = ctx.sys.procs.list();
    let mut out = String::new();
    // Every process of the container runs as its user.
    let uid = identity(ctx).0;
    let user = ctx.user_name(uid).unwrap_or_else(|| uid.to_string());
    if fields.is_empty() {
        out.push_str("PID   USER     TIME  COMMAND\n");
        for p in &procs {
            let secs = 0;
            out.push_str(&format!(
                "{:>5} {:<8} {:>2}:{:02} {}\n",
                p.pid,
                user,
                secs / 60,
                secs % 60,
                p.cmdline
            ));
        }
    } else {
        let header: Vec<String> = fields
            .iter()
            .map(|f| match f.as_str() {
                "pid" => "  PID".to_string(),
                "ppid" => " PPID".to_string(),
                "user" => "USER    ".to_string(),
                "comm" => "COMMAND".to_string(),
                "args" => "COMMAND".to_string(),
                "time" => "TIME".to_string(),
                "etime" => "ELAPSED".to_string(),
                other => other.to_uppercase(),
            })
            .collect();
        out.push_str(header.join(" ").trim_end());
        out.push('\n');
        for p in &procs {
            let cols: Vec<String> = fields
                .iter()
                .map(|f| match f.as_str() {
                    "pid" => format!("{:>5}", p.pid),
                    "ppid" => format!("{:>5}", p.ppid),
                    "user" => format!("{:<8}", user),
                    "comm" => p
                        .cmdline
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string(),
                    "args" => p.cmdline.clone(),
                    "time" => " 0:00".to_string(),
                    "etime" => {
                        let s = p.running_for.as_secs();
                        format!("{:>2}:{:02}", s / 60, s % 60)
                    }
                    _ => String::new(),
                })
                .collect();
            out.push_str(cols.join(" ").trim_end());
            out.push('\n');
        }
    }
    ctx.outs(&out)?;
    Ok(0)
}

pub fn kill(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut sig = Signal::Term;
    let mut i = 0;
    let bash = ctx.dialect == Some(ShellKind::Bash);
    if let Some(first) = args.first() {
        if first == "-l" || first == "-L" {
            let mut out = String::new();
            if let Some(n) = args.get(1) {
                match n
                    .parse::<i32>()
                    .ok()
                    .map(|n| if n > 128 { n - 128 } else { n })
                    .and_then(Signal::from_number)
                {
                    Some(s) => out.push_str(&format!("{}\n", s.name())),
                    None => match Signal::parse(n) {
                        Some(s) => out.push_str(&format!("{}\n", s.number())),
                        None => {
                            ctx.fail(&format!("unknown signal '{n}'"));
                            return Ok(1);
                        }
                    },
                }
            } else {
                for s in Signal::ALL {
                    out.push_str(&format!("{:2}) {}\n", s.number(), s.name()));
                }
            }
            ctx.outs(&out)?;
            return Ok(0);
        }
        let spec = if first == "-s" || first == "-n" {
            i = 2;
            args.get(1).cloned()
        } else if let Some(s) = first
            .strip_prefix('-')
            .filter(|s| !s.is_empty() && !s.starts_with('-'))
        {
            i = 1;
            Some(s.to_string())
        } else {
            None
        };
        if let Some(spec) = spec {
            match Signal::parse(&spec).or(if spec == "0" {
                Some(Signal::Cont)
            } else {
                None
            }) {
                Some(s) => sig = s,
                None => {
                    if bash {
                        ctx.fail(&format!("{spec}: invalid signal specification"));
                    } else {
                        ctx.fail(&format!("bad signal name '{spec}'"));
                    }
                    return Ok(1);
                }
            }
        }
    }
    let pids = &args[i.min(args.len())..];
    if pids.is_empty() {
        if bash {
            ctx.errs("kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]\n");
            return Ok(2);
        }
        ctx.usage("kill [-l] [-SIG] PID...");
        return Ok(1);
    }
    let mut status = 0;
    for p in pids {
        let Ok(pid) = p.parse::<i64>() else {
            if bash {
                ctx.fail(&format!("{p}: arguments must be process or job IDs"));
            } else {
                ctx.fail(&format!("invalid number '{p}'"));
            }
            status = 1;
            continue;
        };
        let r = if pid == -1 || pid == 0 {
            ctx.sys.procs.signal_all(sig);
            Ok(())
        } else {
            u32::try_from(pid)
                .map_err(|_| crate::process::NoSuchProcess)
                .and_then(|pid| ctx.sys.procs.signal(pid, sig))
        };
        if r.is_err() {
            if bash {
                ctx.fail(&format!("({pid}) - No such process"));
            } else {
                ctx.fail(&format!("can't kill pid {pid}: No such process"));
            }
            status = 1;
        }
    }
    // A signal to ourselves takes effect now.
    ctx.check()?;
    Ok(status)
}

pub fn sleep(ctx: &mut Ctx, args: &[String]) -> Ret {
    if args.is_empty() {
        if ctx.gnu() {
            ctx.errs("sleep: missing operand\nTry 'sleep --help' for more information.\n");
        } else {
            ctx.usage("sleep [N]...");
        }
        return Ok(1);
    }
    let mut total = Some(Duration::ZERO);
    for a in args {
        match parse_duration(a) {
            Ok(Some(d)) => total = total.and_then(|t| t.checked_add(d)),
            Ok(None) => total = None,
            Err(()) => {
                if ctx.gnu() {
                    ctx.errs(&format!("sleep: invalid time interval '{a}'\nTry 'sleep --help' for more information.\n"));
                } else {
                    ctx.fail(&format!("invalid number '{a}'"));
                }
                return Ok(1);
            }
        }
    }
    match total {
        Some(d) => ctx.sleep(d)?,
        // `sleep infinity`: until a signal ends it.
        None => ctx.sleep_forever()?,
    }
    Ok(0)
}

pub fn yes(ctx: &mut Ctx, args: &[String]) -> Ret {
    let line = if args.is_empty() {
        "y".to_string()
    } else {
        args.join(" ")
    };
    let line = format!("{line}\n");
    let mut chunk = String::with_capacity(64 * 1024);
    while chunk.len() + line.len() <= 64 * 1024 {
        chunk.push_str(&line);
        if line.len() > 32 * 1024 {
            break;
        }
    }
    loop {
        ctx.check()?;
        ctx.outs(&chunk)?;
    }
}

pub fn env(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut env = ctx.env.clone();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "-i" || a == "-" {
            env.clear();
        } else if a == "-u" {
            i += 1;
            if let Some(name) = args.get(i) {
                env.retain(|(k, _)| k != name);
            }
        } else if let Some((k, v)) = a
            .split_once('=')
            .filter(|(k, _)| !k.is_empty() && !a.starts_with('-'))
        {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i.min(args.len())..];
    if rest.is_empty() {
        let mut out = String::new();
        for (k, v) in &env {
            out.push_str(&format!("{k}={v}\n"));
        }
        ctx.outs(&out)?;
        return Ok(0);
    }
    let saved = std::mem::replace(&mut ctx.env, env);
    let r = ctx.run_child(rest, None);
    ctx.env = saved;
    let st = r?;
    Ok(st.code())
}

pub fn printenv(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut out = String::new();
    if args.is_empty() {
        for (k, v) in &ctx.env {
            out.push_str(&format!("{k}={v}\n"));
        }
        ctx.outs(&out)?;
        return Ok(0);
    }
    let mut status = 0;
    for a in args {
        match ctx.getenv(a) {
            Some(v) => out.push_str(&format!("{v}\n")),
            None => status = 1,
        }
    }
    ctx.outs(&out)?;
    Ok(status)
}

/// The user the container's processes run as (its securityContext's
/// `runAsUser`, `runAsGroup`, `fsGroup` and `supplementalGroups`; root by
/// default): uid, gid, and every group, sorted.
fn identity(ctx: &Ctx) -> (u32, u32, Vec<u32>) {
    let who = ctx.sys.fs.identity();
    let mut groups: Vec<u32> = std::iter::once(who.gid)
        .chain(who.groups.iter().copied())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    (who.uid, who.gid, groups)
}

/// A user of the image's `/etc/passwd` (by name, else by number): its
/// uid, login group and every group `/etc/group` lists it in, sorted.
fn account(ctx: &Ctx, user: &str) -> Option<(u32, u32, Vec<u32>)> {
    let (data, _charge) = ctx
        .vfs()
        .read_all("/etc/passwd", ctx.sys.procs.memory())
        .ok()?;
    let text = String::from_utf8_lossy(&data);
    let entries: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split(':').collect::<Vec<&str>>())
        .filter(|f| f.len() > 3)
        .collect();
    let entry = entries
        .iter()
        .find(|f| f[0] == user)
        .or_else(|| entries.iter().find(|f| f[2] == user))?;
    let (uid, gid) = (entry[2].parse().ok()?, entry[3].parse().ok()?);
    let mut groups = vec![gid];
    if let Ok((data, _charge)) = ctx.vfs().read_all("/etc/group", ctx.sys.procs.memory()) {
        for l in String::from_utf8_lossy(&data).lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() > 3
                && f[3].split(',').any(|m| m == entry[0])
                && let Ok(g) = f[2].parse()
            {
                groups.push(g);
            }
        }
    }
    groups.sort_unstable();
    groups.dedup();
    Some((uid, gid, groups))
}

pub fn id(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "ugGnr") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (uid, gid, groups) = match o.operands.first() {
        None => identity(ctx),
        Some(user) => match account(ctx, user) {
            Some(found) => found,
            None => {
                ctx.fail_as(
                    &format!("'{user}': no such user"),
                    &format!("unknown user {user}"),
                );
                return Ok(1);
            }
        },
    };
    let user = |id: u32| ctx.user_name(id);
    let group = |id: u32| ctx.group_name(id);
    let named = |id: u32, name: Option<String>| match name {
        Some(n) => format!("{id}({n})"),
        None => id.to_string(),
    };
    let one = |id: u32, name: Option<String>| {
        if o.has('n') {
            name.unwrap_or_else(|| id.to_string())
        } else {
            id.to_string()
        }
    };
    let text = if o.has('u') {
        one(uid, user(uid))
    } else if o.has('g') {
        one(gid, group(gid))
    } else if o.has('G') {
        groups
            .iter()
            .map(|g| one(*g, group(*g)))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        format!(
            "uid={} gid={} groups={}",
            named(uid, user(uid)),
            named(gid, group(gid)),
            groups
                .iter()
                .map(|g| named(*g, group(*g)))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    ctx.outs(&format!("{text}\n"))?;
    Ok(0)
}

pub fn whoami(ctx: &mut Ctx, _: &[String]) -> Ret {
    let (uid, _, _) = identity(ctx);
    match ctx.user_name(uid) {
        Some(name) => {
            ctx.outs(&format!("{name}\n"))?;
            Ok(0)
        }
        None => {
            ctx.fail_as(
                &format!("cannot find name for user ID {uid}"),
                &format!("unknown uid {uid}"),
            );
            Ok(1)
        }
    }
}

pub fn hostname(ctx: &mut Ctx, args: &[String]) -> Ret {
    if args.iter().any(|a| !a.starts_with('-')) {
        ctx.fail("sethostname: Operation not permitted");
        return Ok(1);
    }
    let name = if args.iter().any(|a| a == "-s") {
        ctx.sys.hostname.split('.').next().unwrap_or("").to_string()
    } else {
        ctx.sys.hostname.clone()
    };
    ctx.outs(&format!("{name}\n"))?;
    Ok(0)
}

/// `date [-u] [-R] [-I] [-d DATE] [+FORMAT]`
pub fn date(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut format: Option<String> = None;
    let mut when: Option<i64> = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if let Some(f) = a.strip_prefix('+') {
            format = Some(f.to_string());
        } else if a == "-d" || a == "--date" {
            i += 1;
            let d = args.get(i).cloned().unwrap_or_default();
            match super::files::parse_date(&d) {
                Some(t) => when = Some(t),
                None => {
                    ctx.fail(&format!("invalid date '{d}'"));
                    return Ok(1);
                }
            }
        } else if a == "-R" {
            format = Some("%a, %d %b %Y %H:%M:%S +0000".to_string());
        } else if a == "-I" || a.starts_with("--iso") {
            format = Some("%Y-%m-%d".to_string());
        } else if a == "-u" || a == "--utc" {
        } else if a.starts_with('-') {
            return ctx.bad_option(a.trim_start_matches('-'));
        } else {
            ctx.fail("cannot set date: Operation not permitted");
            return Ok(1);
        }
        i += 1;
    }
    let ts = match when {
        Some(t) => jiff::Timestamp::from_second(t).unwrap_or_else(|_| jiff::Timestamp::now()),
        None => jiff::Timestamp::now(),
    };
    let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let fmt = format.unwrap_or_else(|| "%a %b %e %H:%M:%S %Z %Y".to_string());
    // %s, %N and %Z as the C library prints them.
    let fmt = fmt
        .replace("%s", &ts.as_second().to_string())
        .replace("%N", &format!("{:09}", ts.subsec_nanosecond()))
        .replace("%Z", "UTC")
        .replace("%P", if z.hour() < 12 { "am" } else { "pm" });
    let text = match jiff::fmt::strtime::format(fmt.as_str(), &z) {
        Ok(t) => t,
        Err(_) => fmt.clone(),
    };
    ctx.outs(&format!("{text}\n"))?;
    Ok(0)
}

pub fn uname(ctx: &mut Ctx, args: &[String]) -> Ret {
    let (o, _) = match getopt(ctx, args, "asnrvmpio") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let release = "6.8.0-kubetutor";
    let version = "#1 SMP PREEMPT_DYNAMIC";
    let arch = std::env::consts::ARCH;
    let os = "GNU/Linux";
    let parts: Vec<String> = if o.has('a') {
        vec![
            "Linux".into(),
            ctx.sys.hostname.clone(),
            release.into(),
            version.into(),
            arch.into(),
            os.into(),
        ]
    } else {
        let mut v = Vec::new();
        if o.has('s') || o.flags.is_empty() {
            v.push("Linux".to_string());
        }
        if o.has('n') {
            v.push(ctx.sys.hostname.clone());
        }
        if o.has('r') {
            v.push(release.into());
        }
        if o.has('v') {
            v.push(version.into());
        }
        if o.has('m') || o.has('p') || o.has('i') {
            v.push(arch.into());
        }
        if o.has('o') {
            v.push(os.into());
        }
        v
    };
    ctx.outs(&format!("{}\n", parts.join(" ")))?;
    Ok(0)
}

pub fn nproc(ctx: &mut Ctx, _: &[String]) -> Ret {
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    ctx.outs(&format!("{n}\n"))?;
    Ok(0)
}

pub fn uptime(ctx: &mut Ctx, _: &[String]) -> Ret {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let up = ctx
        .sys
        .procs
        .get(1)
        .map_or(Duration::ZERO, |p| p.started().elapsed())
        .as_secs();
    let text = format!(
        " {} up {}:{:02},  0 users,  load average: 0.00, 0.00, 0.00\n",
        now.strftime("%H:%M:%S"),
        up / 3600,
        (up / 60) % 60
    );
    ctx.outs(&text)?;
    Ok(0)
}

pub fn free(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mem = ctx.sys.procs.memory();
    let div = if args.iter().any(|a| a == "-m") {
        1024 * 1024
    } else if args.iter().any(|a| a == "-g") {
        1024 * 1024 * 1024
    } else {
        1024
    };
    let total = mem.limit() / div;
    let used = mem.used() / div;
    let free = total.saturating_sub(used);
    let text = format!(
        "              total        used        free      shared  buff/cache   available\nMem:   {total:>12}{used:>12}{free:>12}{:>12}{:>12}{free:>12}\nSwap:  {:>12}{:>12}{:>12}\n",
        0, 0, 0, 0, 0
    );
    ctx.outs(&text)?;
    Ok(0)
}

/// `timeout [-s SIG] [-k DUR] DURATION COMMAND...`
pub fn timeout(ctx: &mut Ctx, args: &[String]) -> Ret {
    let mut sig = Signal::Term;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "-s" {
            i += 1;
            match args.get(i).and_then(|s| Signal::parse(s)) {
                Some(s) => sig = s,
                None => {
                    ctx.fail(&format!(
                        "unknown signal '{}'",
                        args.get(i).cloned().unwrap_or_default()
                    ));
                    return Ok(125);
                }
            }
        } else if a == "-k" {
            i += 1;
        } else if a.starts_with('-') && a.len() > 1 && a != "--" {
        } else {
            break;
        }
        i += 1;
    }
    let Some(dur) = args.get(i) else {
        ctx.usage("timeout [-s SIG] [-k KILL_SECS] SECS PROG ARGS");
        return Ok(125);
    };
    let limit = match parse_duration(dur) {
        Ok(d) => d,
        Err(()) => {
            ctx.fail(&format!("invalid time interval '{dur}'"));
            return Ok(125);
        }
    };
    let cmd = &args[i + 1..];
    if cmd.is_empty() {
        return Ok(125);
    }
    let path = ctx
        .getenv("PATH")
        .unwrap_or(ctx.sys.userland.path)
        .to_string();
    let found = if cmd[0].contains('/') {
        ctx.sys
            .userland
            .by_path(&ctx.vfs().abs(&cmd[0]))
            .map(|k| (cmd[0].clone(), k))
    } else {
        ctx.sys.userland.lookup(&cmd[0], &path)
    };
    let Some((full, kind)) = found else {
        ctx.fail(&format!(
            "can't execute '{}': No such file or directory",
            cmd[0]
        ));
        return Ok(127);
    };
    let child = match ctx
        .sys
        .procs
        .register(ctx.proc.pid(), &cmd.join(" "), false)
    {
        Ok(p) => p,
        Err(e) => {
            ctx.fail(&format!("can't fork: {e}"));
            return Ok(125);
        }
    };
    let launch = crate::shell::Launch {
        sys: ctx.sys.clone(),
        proc: Arc::clone(&child),
        argv: cmd.to_vec(),
        path: full,
        env: ctx.env.clone(),
        cwd: ctx.cwd.clone(),
        fds: ctx.fds.clone(),
        kind,
        tty: ctx.tty.clone(),
        shell_depth: 1,
    };
    if crate::shell::interp::spawn_thread(&child, move || crate::shell::run_program(launch))
        .is_err()
    {
        child.finish(ExitStatus::Exited(125));
        return Ok(125);
    }
    let deadline = limit.map(|l| std::time::Instant::now() + ctx.sys.sleep_for(l));
    let mut timed_out = false;
    loop {
        if let Some(st) = child.status() {
            return Ok(if timed_out { 124 } else { st.code() });
        }
        if !timed_out && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            child.signal(sig);
            timed_out = true;
        }
        if let Err(e) = ctx.sleep(Duration::from_millis(20)) {
            child.signal(Signal::Kill);
            return Err(e);
        }
    }
}

pub fn pwd(ctx: &mut Ctx, _: &[String]) -> Ret {
    ctx.outs(&format!("{}\n", ctx.cwd))?;
    Ok(0)
}

#[allow(dead_code)]
fn _abort_is_used(_: Abort) {}
